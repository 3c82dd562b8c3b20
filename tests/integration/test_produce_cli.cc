// pulsarc-produce's flags against the in-process test broker: each test
// checks what the broker stored (entries, keys, partitions, schema versions,
// producers admitted), not only that the flag parses.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

extern char **environ;

using namespace pulsarc_it;

namespace {

#if defined(PULSARC_PRODUCE_PROGRAM)

struct CliRun {
  int status = -1; // exit status; -1: killed (hang) or not started
  std::string out, err;
  double seconds = 0;
};

// Runs pulsarc-produce with stdin from stdin_path (default /dev/null), in a
// session of its own, for at most 60 s; stdout and stderr apart.
CliRun Produce(const std::vector<std::string> &args, const std::string &stdin_path = "/dev/null") {
  CliRun r;
  int out[2], err[2];
  if (pipe(out) != 0)
    return r;
  if (pipe(err) != 0) {
    close(out[0]);
    close(out[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  for (int fd : {out[0], out[1], err[0], err[1]})
    posix_spawn_file_actions_addclose(&fa, fd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<char *> argv;
  argv.push_back(const_cast<char *>(PULSARC_PRODUCE_PROGRAM));
  for (const auto &a : args)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid;
  int rc = posix_spawn(&pid, PULSARC_PRODUCE_PROGRAM, &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return r;
  }
  auto deadline = t0 + std::chrono::seconds(60);
  bool hung = false;
  pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string *dst[2] = {&r.out, &r.err};
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0 || poll(p, 2, left) <= 0) {
      hung = true;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[4096];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
      } else {
        dst[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto &q : p)
    if (q.fd >= 0)
      close(q.fd);
  if (hung)
    kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.status = !hung && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::vector<std::string> Lines(const std::string &s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    v.push_back(l);
  return v;
}

// The partition hashes, written from their definitions (not the library):
// Java's String.hashCode over UTF-16 code units (the keys here are ASCII),
// and Murmur3-32 with seed 0; both masked to 31 bits, then mod N.
uint32_t JavaStringHash(const std::string &s) {
  uint32_t h = 0;
  for (unsigned char c : s)
    h = 31 * h + c;
  return h & 0x7fffffffu;
}

uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

uint32_t Murmur3Hash(const std::string &s) {
  const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  const auto *d = reinterpret_cast<const unsigned char *>(s.data());
  size_t n = s.size();
  uint32_t h = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    uint32_t k = d[i] | d[i + 1] << 8 | d[i + 2] << 16 | static_cast<uint32_t>(d[i + 3]) << 24;
    h ^= Rotl(k * c1, 15) * c2;
    h = Rotl(h, 13) * 5 + 0xe6546b64;
  }
  uint32_t k = 0;
  size_t t = n & ~static_cast<size_t>(3);
  switch (n & 3) {
  case 3:
    k ^= d[t + 2] << 16;
    [[fallthrough]];
  case 2:
    k ^= d[t + 1] << 8;
    [[fallthrough]];
  case 1:
    k ^= d[t];
    h ^= Rotl(k * c1, 15) * c2;
  }
  h ^= static_cast<uint32_t>(n);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h & 0x7fffffffu;
}

// The partition key of a stored message (its own in a batch, else the entry's).
std::string KeyOf(const StoredMsg &m) {
  const char *k = m.entry->is_batch ? m.msg->partition_key : m.entry->partition_key;
  return k ? k : "";
}

class ProduceCli : public ::testing::Test {
protected:
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(120);
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
    url_ = pulsarc_tb_service_url(tb_);
  }
  void TearDown() override {
    if (holder_)
      pulsarc_producer_destroy(holder_);
    if (client_) {
      pulsarc_client_close(client_);
      pulsarc_client_destroy(client_);
    }
    pulsarc_tb_free(tb_);
    for (const auto &f : files_)
      unlink(f.c_str());
    dog_.reset();
  }
  std::vector<std::string> Args(const std::string &topic, std::vector<std::string> more) {
    std::vector<std::string> a = {"--service-url", url_, "-t", topic};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::string WriteFile(const std::string &content) {
    char path[] = "/tmp/pulsarc-produce-cli-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    if (fd >= 0) {
      EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
      close(fd);
    }
    files_.push_back(path);
    return path;
  }
  uint64_t Connections() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s.connections;
  }
  // A library producer on topic with the given options; kept in holder_.
  pulsarc_err_t Hold(const std::string &topic, ProducerConf &pc) {
    if (!client_ && pulsarc_client_new(url_.c_str(), nullptr, &client_) != PULSARC_OK)
      return PULSARC_ERR_INTERNAL;
    return pulsarc_producer_create(client_, topic.c_str(), pc.get(), &holder_);
  }
  std::vector<StoredMsg> Stored(const Snapshot &s) { return StoredMessages(s.get()); }

  std::unique_ptr<Watchdog> dog_;
  pulsarc_tb *tb_ = nullptr;
  std::string url_;
  pulsarc_client_t *client_ = nullptr;
  pulsarc_producer_t *holder_ = nullptr;
  std::vector<std::string> files_;
};

TEST_F(ProduceCli, HelpListsEveryFlag) {
  CliRun r = Produce({"--help"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char *flag : {"--max-message-size", "--access-mode", "--schema-type", "--schema-file",
                           "--routing", "--hashing", "--key-based-batching", "--partition-key",
                           "--key-separator", "--conf", "--lines", "--rate", "--json"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

// A message over --max-message-size is refused and nothing is stored; a
// limit above it lets it through.
TEST_F(ProduceCli, MaxMessageSizeRefusesLargerMessages) {
  std::string big(2000, 'x');
  CliRun r = Produce(Args("cli-max", {"-m", big, "--max-message-size", "1024"}));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("PULSARC_ERR_MESSAGE_TOO_BIG"), std::string::npos) << r.err;
  CliRun j = Produce(Args("cli-max", {"-m", big, "--max-message-size", "1024", "--json"}));
  EXPECT_EQ(j.status, 1) << j.err;
  EXPECT_EQ(j.out.rfind("{\"index\":0,\"error\":\"PULSARC_ERR_MESSAGE_TOO_BIG\",", 0), 0u) << j.out;
  Snapshot none(tb_, "cli-max");
  EXPECT_EQ(none->messages, 0u);
  CliRun ok = Produce(Args("cli-max", {"-m", big, "--max-message-size", "4096"}));
  EXPECT_EQ(ok.status, 0) << ok.err;
  Snapshot one(tb_, "cli-max");
  auto msgs = Stored(one);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, big);
}

// Exclusive against an exclusive holder: busy. Fencing takes the topic
// over (the message is stored); the holder is fenced.
TEST_F(ProduceCli, AccessModeExclusiveAndFencing) {
  ProducerConf pc;
  pc.Set("access_mode", "exclusive").Set("send_timeout_ms", "5000");
  ASSERT_EQ(Hold("cli-excl", pc), PULSARC_OK);
  CliRun busy = Produce(Args("cli-excl", {"-m", "a", "--access-mode", "exclusive"}));
  EXPECT_EQ(busy.status, 1) << busy.err;
  EXPECT_NE(busy.err.find("PULSARC_ERR_BROKER_PRODUCER_BUSY"), std::string::npos) << busy.err;
  CliRun shared = Produce(Args("cli-excl", {"-m", "a"}));
  EXPECT_EQ(shared.status, 1) << "a shared producer got past an exclusive one: " << shared.err;
  {
    Snapshot s(tb_, "cli-excl");
    EXPECT_EQ(s->messages, 0u);
  }
  CliRun fence =
      Produce(Args("cli-excl", {"-m", "fenced-in", "--access-mode", "Exclusive-With-Fencing"}));
  EXPECT_EQ(fence.status, 0) << fence.err;
  Snapshot s(tb_, "cli-excl");
  auto msgs = Stored(s);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "fenced-in");
  pulsarc_msg_id_t id;
  EXPECT_NE(pulsarc_producer_send(holder_, "late", 4, nullptr, &id), PULSARC_OK)
      << "the holder was not fenced";
}

// wait_for_exclusive queues behind the holder and publishes once it leaves.
TEST_F(ProduceCli, AccessModeWaitForExclusiveWaitsForTheHolder) {
  ProducerConf pc;
  pc.Set("access_mode", "exclusive");
  ASSERT_EQ(Hold("cli-wait", pc), PULSARC_OK);
  CliRun r;
  std::thread cli([&] {
    r = Produce(Args("cli-wait", {"-m", "after-holder", "--access-mode", "wait_for_exclusive"}));
  });
  pulsarc_tb_topic_stats ts{};
  bool queued = WaitUntil(
      [&] {
        pulsarc_tb_get_topic_stats(tb_, "cli-wait", &ts);
        return ts.producers_waiting == 1;
      },
      30000);
  EXPECT_TRUE(queued) << "the CLI did not queue as wait_for_exclusive";
  EXPECT_EQ(ts.messages, 0u);
  EXPECT_EQ(pulsarc_producer_close(holder_), PULSARC_OK);
  cli.join();
  EXPECT_EQ(r.status, 0) << r.err;
  Snapshot s(tb_, "cli-wait");
  auto msgs = Stored(s);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "after-holder");
}

// --schema-type json --schema-file F registers exactly (json, F): a library
// producer with the same pair gets the same schema version, one with the
// same text as Avro gets another; a CLI run without schema stamps none.
TEST_F(ProduceCli, SchemaTypeAndFileRegisterThatSchema) {
  const std::string def = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                          "\"type\":\"int\"}]}";
  std::string f = WriteFile(def);
  CliRun plain = Produce(Args("cli-schema-none", {"-m", "{}"}));
  ASSERT_EQ(plain.status, 0) << plain.err;
  CliRun r = Produce(Args("cli-schema", {"-m", "{\"a\":1}", "--schema-type", "json",
                                         "--schema-file", f, "--schema-name", "R"}));
  ASSERT_EQ(r.status, 0) << r.err;
  auto version_of = [&](const std::string &topic, size_t i) {
    Snapshot s(tb_, topic);
    EXPECT_GT(s->num_entries, i);
    if (s->num_entries <= i || !s->entries[i].has_schema_version)
      return std::string("none");
    const pulsarc_tb_entry &e = s->entries[i];
    return std::string(reinterpret_cast<const char *>(e.schema_version), e.schema_version_len);
  };
  EXPECT_EQ(version_of("cli-schema-none", 0), "none");
  std::string cli_version = version_of("cli-schema", 0);
  ASSERT_NE(cli_version, "none") << "the CLI's producer registered no schema";

  ProducerConf same;
  same.Set("schema_type", "json").Set("schema_definition", def);
  ASSERT_EQ(Hold("cli-schema", same), PULSARC_OK);
  pulsarc_msg_id_t id;
  ASSERT_EQ(pulsarc_producer_send(holder_, "{\"a\":2}", 7, nullptr, &id), PULSARC_OK);
  pulsarc_producer_destroy(holder_);
  holder_ = nullptr;
  EXPECT_EQ(version_of("cli-schema", 1), cli_version) << "the broker holds another schema";

  ProducerConf avro;
  avro.Set("schema_type", "avro").Set("schema_definition", def);
  ASSERT_EQ(Hold("cli-schema", avro), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send(holder_, "x", 1, nullptr, &id), PULSARC_OK);
  EXPECT_NE(version_of("cli-schema", 2), cli_version) << "the schema's type did not count";
}

// Keyed lines land on hash(key) mod 4 by the chosen hash; a line without a
// key gets --partition-key's.
TEST_F(ProduceCli, HashingPlacesKeysByTheDocumentedHash) {
  const uint32_t n = 4;
  std::string input;
  int differ = 0;
  for (int i = 0; i < 40; i++) {
    std::string k = "key-" + std::to_string(i);
    input += k + "\tvalue-" + std::to_string(i) + "\n";
    differ += JavaStringHash(k) % n != Murmur3Hash(k) % n;
  }
  input += "no-key-line\n";
  ASSERT_GT(differ, 0) << "these keys cannot tell the hashes apart";
  std::string f = WriteFile(input);
  for (const std::string h : {"java-string", "murmur3"}) {
    std::string topic = "cli-hash-" + h;
    pulsarc_tb_set_partitions(tb_, topic.c_str(), n);
    CliRun r = Produce(Args(topic, {"--lines", "-f", f, "--key-separator", "\t", "--hashing", h,
                                    "--partition-key", "fallback"}));
    ASSERT_EQ(r.status, 0) << r.err;
    size_t total = 0;
    for (uint32_t p = 0; p < n; p++) {
      Snapshot s(tb_, FullTopic(topic) + "-partition-" + std::to_string(p));
      for (const StoredMsg &m : Stored(s)) {
        std::string key = KeyOf(m);
        uint32_t want = (h == "murmur3" ? Murmur3Hash(key) : JavaStringHash(key)) % n;
        EXPECT_EQ(p, want) << h << " key " << key;
        if (m.payload == "no-key-line")
          EXPECT_EQ(key, "fallback");
        else
          EXPECT_EQ("value-" + key.substr(4), m.payload);
        total++;
      }
    }
    EXPECT_EQ(total, 41u) << h;
  }
}

// Without keys: single_partition keeps every message on one partition,
// round_robin (no batching: one switch per message) spreads them evenly.
TEST_F(ProduceCli, RoutingSinglePartitionAndRoundRobin) {
  const uint32_t n = 4;
  std::vector<std::string> msgs = {"-n", "20", "-m", "m", "--no-batching"};
  for (const std::string mode : {"single_partition", "round-robin"}) {
    std::string topic = "cli-route-" + mode;
    pulsarc_tb_set_partitions(tb_, topic.c_str(), n);
    std::vector<std::string> a = msgs;
    a.push_back("--routing");
    a.push_back(mode);
    CliRun r = Produce(Args(topic, a));
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<uint64_t> per;
    for (uint32_t p = 0; p < n; p++) {
      Snapshot s(tb_, FullTopic(topic) + "-partition-" + std::to_string(p));
      per.push_back(s->messages);
    }
    if (mode == "single_partition")
      EXPECT_EQ(std::count(per.begin(), per.end(), 20u), 1) << mode;
    else
      EXPECT_EQ(std::count(per.begin(), per.end(), 5u), 4) << mode;
  }
}

// --key-based-batching: every batch holds one key; without it, the same
// input (keys interleaved) mixes keys in a batch.
TEST_F(ProduceCli, KeyBasedBatchingKeepsOneKeyPerBatch) {
  std::string input;
  for (int i = 0; i < 30; i++)
    input += std::string(1, static_cast<char>('a' + i % 3)) + "|v" + std::to_string(i) + "\n";
  std::string f = WriteFile(input);
  for (bool kbb : {true, false}) {
    std::string topic = kbb ? "cli-kbb" : "cli-kbb-off";
    std::vector<std::string> a = {
        "--lines", "-f", f, "--key-separator", "|", "--batch-max-delay-ms", "1000"};
    if (kbb)
      a.push_back("--key-based-batching");
    CliRun r = Produce(Args(topic, a));
    ASSERT_EQ(r.status, 0) << r.err;
    Snapshot s(tb_, topic);
    auto stored = Stored(s);
    ASSERT_EQ(stored.size(), 30u);
    std::map<size_t, std::set<std::string>> keys_by_entry;
    size_t largest = 0;
    for (const StoredMsg &m : stored) {
      keys_by_entry[m.entry_pos].insert(KeyOf(m));
      largest = std::max(largest, static_cast<size_t>(m.entry->num_messages));
    }
    size_t mixed = 0;
    for (const auto &kv : keys_by_entry)
      mixed += kv.second.size() > 1;
    if (kbb) {
      EXPECT_EQ(mixed, 0u);
      EXPECT_GT(largest, 1u) << "nothing was batched";
    } else {
      EXPECT_GT(mixed, 0u) << "the control run batched no two keys together";
    }
  }
}

// --lines: one message per line, from a file and from stdin; CR dropped,
// empty lines skipped, a last line without newline kept.
TEST_F(ProduceCli, LinesSendsOneMessagePerLine) {
  std::string f = WriteFile("one\r\ntwo\n\nthree");
  CliRun a = Produce(Args("cli-lines", {"--lines", "-f", f}));
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(Lines(a.out).size(), 3u) << a.out;
  CliRun b = Produce(Args("cli-lines", {"--lines"}), f);
  ASSERT_EQ(b.status, 0) << b.err;
  // -n re-reads a file; stdin cannot be read twice.
  CliRun c = Produce(Args("cli-lines", {"--lines", "-f", f, "-n", "2"}));
  ASSERT_EQ(c.status, 0) << c.err;
  CliRun d = Produce(Args("cli-lines", {"--lines", "-n", "2"}), f);
  EXPECT_EQ(d.status, 2) << d.err;
  EXPECT_NE(d.err.find("cannot read stdin twice"), std::string::npos) << d.err;
  Snapshot s(tb_, "cli-lines");
  std::vector<std::string> got;
  for (const StoredMsg &m : Stored(s))
    got.push_back(m.payload);
  std::vector<std::string> want;
  for (int i = 0; i < 4; i++)
    want.insert(want.end(), {"one", "two", "three"});
  EXPECT_EQ(got, want);
}

// --lines streams stdin: a line is sent, and its id printed, while stdin
// is still open (as `tail -f log | pulsarc-produce --lines` needs).
TEST_F(ProduceCli, LinesStreamsStdin) {
  signal(SIGPIPE, SIG_IGN); // a dead child fails the writes, not the suite
  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  for (int fd : {in[0], in[1], out[0], out[1]})
    posix_spawn_file_actions_addclose(&fa, fd);
  std::vector<std::string> args = Args("cli-stream", {"--lines"});
  std::vector<char *> argv = {const_cast<char *>(PULSARC_PRODUCE_PROGRAM)};
  for (auto &a : args)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, PULSARC_PRODUCE_PROGRAM, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  ASSERT_EQ(write(in[1], "first\n", 6), 6);
  std::string got;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
    pollfd p = {out[0], POLLIN, 0};
    if (poll(&p, 1, 100) == 1) {
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0)
        break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  EXPECT_NE(got.find('\n'), std::string::npos) << "no id while stdin was open";
  {
    Snapshot s(tb_, "cli-stream");
    EXPECT_EQ(s->messages, 1u);
  }
  ASSERT_EQ(write(in[1], "second\n", 7), 7);
  close(in[1]);
  for (;;) {
    pollfd p = {out[0], POLLIN, 0};
    char buf[256];
    ssize_t n = poll(&p, 1, 30000) == 1 ? read(out[0], buf, sizeof buf) : -1;
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int st = 0;
  if (!WaitUntil([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 30000)) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    FAIL() << "pulsarc-produce did not end after stdin closed";
  }
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(Lines(got).size(), 2u) << got;
  Snapshot s(tb_, "cli-stream");
  EXPECT_EQ(s->messages, 2u);
}

// --rate 50 with 100 messages takes about 2 s: at least 1 s (generous),
// within the run's bound.
TEST_F(ProduceCli, RateSpacesTheMessages) {
  CliRun r = Produce(Args("cli-rate", {"-m", "r", "-n", "100", "--rate", "50"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(r.seconds, 1.0);
  Snapshot s(tb_, "cli-rate");
  EXPECT_EQ(s->messages, 100u);
}

// --json: every line parses with Python's json module, and each object's id
// is where the broker stored that message (by index); keys come out
// escaped, a byte that is not UTF-8 as U+FFFD.
TEST_F(ProduceCli, JsonLinesMatchTheStoredIds) {
  if (system("python3 -c 'import json' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 not available";
  const std::string topic = "cli-json";
  pulsarc_tb_set_partitions(tb_, topic.c_str(), 2);
  std::vector<std::string> keys = {"plain", "q\"uo\\te", std::string("bad\xff") + "byte",
                                   "caf\xc3\xa9"};
  std::string input;
  for (size_t i = 0; i < 12; i++)
    input += keys[i % keys.size()] + "|payload-" + std::to_string(i) + "\n";
  std::string f = WriteFile(input);
  CliRun r = Produce(Args(topic, {"--lines", "-f", f, "--key-separator", "|", "--json"}));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string json = WriteFile(r.out);
  std::string outp = WriteFile("");
  // One line per object: index partition ledger entry batch_index topic key(hex of UTF-8).
  std::string cmd = "python3 -c 'import json,sys\n"
                    "for line in open(sys.argv[1], encoding=\"utf-8\"):\n"
                    "  o = json.loads(line)\n"
                    "  print(o[\"index\"], o[\"partition\"], o[\"ledger\"], o[\"entry\"],\n"
                    "        o[\"batch_index\"], o[\"topic\"], o[\"key\"].encode().hex())\n"
                    "' " +
                    json + " > " + outp;
  ASSERT_EQ(system(cmd.c_str()), 0) << r.out;
  std::ifstream in(outp);
  std::map<int, std::vector<StoredMsg>> parts;
  std::vector<std::unique_ptr<Snapshot>> snaps;
  for (int p = 0; p < 2; p++) {
    snaps.push_back(
        std::make_unique<Snapshot>(tb_, FullTopic(topic) + "-partition-" + std::to_string(p)));
    parts[p] = Stored(*snaps.back());
  }
  auto hex = [](const std::string &s) {
    std::string h;
    char b[3];
    for (unsigned char c : s) {
      snprintf(b, sizeof b, "%02x", c);
      h += b;
    }
    return h;
  };
  size_t n = 0;
  size_t index;
  int partition, batch_index;
  int64_t ledger, entry;
  std::string t, key_hex;
  while (in >> index >> partition >> ledger >> entry >> batch_index >> t >> key_hex) {
    ASSERT_LT(index, 12u);
    EXPECT_EQ(index, n) << "objects out of input order";
    EXPECT_EQ(t, FullTopic(topic));
    std::string key = keys[index % keys.size()];
    std::string want_key = key == keys[2] ? std::string("bad\xef\xbf\xbd") + "byte" : key;
    EXPECT_EQ(key_hex, hex(want_key)) << index;
    ASSERT_TRUE(partition == 0 || partition == 1) << partition;
    bool found = false;
    for (const StoredMsg &m : parts[partition])
      if (m.ledger_id == ledger && m.entry_id == entry && m.batch_index == batch_index) {
        EXPECT_EQ(m.payload, "payload-" + std::to_string(index));
        EXPECT_EQ(KeyOf(m), key);
        found = true;
      }
    EXPECT_TRUE(found) << "no stored message at the id of index " << index;
    n++;
  }
  EXPECT_EQ(n, 12u) << r.out;
}

// --conf sets producer options (overriding the flags) and, with "client.",
// client options: here the token a broker demands.
TEST_F(ProduceCli, ConfReachesProducerAndClientOptions) {
  CliRun r =
      Produce(Args("cli-conf", {"-m", "c", "-n", "6", "--batch-max-messages", "5",
                                "--batch-max-delay-ms", "1000", "--conf", "batch_max_messages=2"}));
  ASSERT_EQ(r.status, 0) << r.err;
  {
    Snapshot s(tb_, "cli-conf");
    EXPECT_EQ(s->messages, 6u);
    for (size_t i = 0; i < s->num_entries; i++)
      EXPECT_LE(s->entries[i].num_messages, 2);
    EXPECT_GE(s->num_entries, 3u);
  }
  pulsarc_tb_set_required_token(tb_, "sesame");
  CliRun denied = Produce(Args("cli-conf-auth", {"-m", "x"}));
  EXPECT_EQ(denied.status, 1) << denied.err;
  CliRun allowed =
      Produce(Args("cli-conf-auth", {"-m", "x", "--conf", "client.auth_token=sesame"}));
  EXPECT_EQ(allowed.status, 0) << allowed.err;
  EXPECT_EQ(allowed.err.find("sesame"), std::string::npos) << "the token was echoed";
  Snapshot s(tb_, "cli-conf-auth");
  EXPECT_EQ(s->messages, 1u);
}

// Bad values: exit 2, a message naming the flag or option, no connection.
TEST_F(ProduceCli, BadValuesAreUsageErrors) {
  std::string schema = WriteFile("{}");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  } cases[] = {
      {{"--max-message-size", "10"}, "invalid --max-message-size '10'"},
      {{"--max-message-size", "lots"}, "--max-message-size"},
      {{"--access-mode", "solo"}, "--access-mode"},
      {{"--routing", "custom"}, "router function"},
      {{"--routing", "random"}, "--routing"},
      {{"--hashing", "sha1"}, "--hashing"},
      {{"--schema-type", "json"}, "needs --schema-file"},
      {{"--schema-type", "yaml", "--schema-file", schema}, "--schema-type"},
      {{"--rate", "-1"}, "--rate"},
      {{"--rate", "fast"}, "--rate"},
      {{"--key-separator", "|"}, "needs --lines"},
      {{"--lines", "--key-separator", ""}, "--key-separator is empty"},
      {{"--conf", "nosuch=1"}, "--conf nosuch=1"},
      {{"--conf", "novalue"}, "KEY=VALUE"},
      {{"--conf", "client.io_threads=0"}, "io_threads"},
      {{"--key-based-batching", "--conf", "key_based_batching=maybe"}, "key_based_batching"},
  };
  for (const Case &c : cases) {
    std::vector<std::string> a = {"-m", "x"};
    a.insert(a.end(), c.args.begin(), c.args.end());
    CliRun r = Produce(Args("cli-bad", a));
    std::string all;
    for (const auto &s : c.args)
      all += s + " ";
    EXPECT_EQ(r.status, 2) << all << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << all << r.err;
  }
  EXPECT_EQ(Connections(), 0u) << "a usage error cost a connection";
}

#endif

} // namespace
