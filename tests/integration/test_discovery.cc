// Service discovery (lookup redirects, several service hosts), partitioned
// topics and key routing, deduplication across producer instances, and the
// stand-alone test broker program.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <map>
#include <regex>
#include <set>

#include "harness.h"

namespace pulsarc_it {
namespace {

// Java's String.hashCode & 0x7fffffff for ASCII keys, written out here so
// the routing check does not depend on the library's own hash.
int32_t RefHash(const std::string &s) {
  uint32_t h = 0;
  for (unsigned char c : s)
    h = 31 * h + c;
  return static_cast<int32_t>(h & 0x7fffffff);
}

// 10. Lookup redirect: A redirects every lookup to B; messages land on B.
TEST(Discovery, LookupRedirectPublishesToTarget) {
  Watchdog dog(30);
  pulsarc_tb_opts ob = pulsarc_tb_opts_default();
  pulsarc_tb *b = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&ob, &b), 0);
  pulsarc_tb_opts oa = pulsarc_tb_opts_default();
  oa.redirect_to = pulsarc_tb_service_url(b);
  pulsarc_tb *a = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&oa, &a), 0);

  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(pulsarc_tb_service_url(a), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, "redirected", nullptr, &p), PULSARC_OK);
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  o.Timeout(5000);
  for (int i = 0; i < 5; i++) {
    std::string s = "r" + std::to_string(i);
    EXPECT_EQ(pulsarc_producer_send(p, s.data(), s.size(), o.get(), nullptr), PULSARC_OK);
  }
  pulsarc_tb_topic_stats tsb, tsa;
  pulsarc_tb_get_topic_stats(b, "redirected", &tsb);
  pulsarc_tb_get_topic_stats(a, "redirected", &tsa);
  EXPECT_EQ(tsb.messages, 5u);
  EXPECT_EQ(tsb.producers_open, 1u);
  EXPECT_FALSE(tsa.exists) << "the redirecting broker got the producer";
  pulsarc_tb_stats sa, sb;
  pulsarc_tb_get_stats(a, &sa);
  pulsarc_tb_get_stats(b, &sb);
  EXPECT_GE(sa.lookups, 1u);
  EXPECT_EQ(sa.producers_created, 0u);
  EXPECT_EQ(sb.producers_created, 1u);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
  pulsarc_tb_free(a);
  pulsarc_tb_free(b);
}

// A broker that redirects to itself: creation terminates either way.
TEST(Discovery, SelfRedirectTerminates) {
  Watchdog dog(30);
  // A redirects to itself: start it once to learn a port, then restart it on
  // that port with the redirect.
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  pulsarc_tb *probe = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&o, &probe), 0);
  uint16_t port = pulsarc_tb_port(probe);
  std::string url = pulsarc_tb_service_url(probe);
  pulsarc_tb_free(probe);
  o.port = port;
  o.redirect_to = url.c_str();
  pulsarc_tb *a = nullptr;
  if (pulsarc_tb_start(&o, &a) != 0)
    GTEST_SKIP() << "port " << port << " taken meanwhile";
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  ASSERT_EQ(pulsarc_client_conf_set(cc, "max_lookup_redirects", "3", nullptr, 0), PULSARC_OK);
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url.c_str(), cc, &client), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);
  pulsarc_producer_t *p = reinterpret_cast<pulsarc_producer_t *>(0x1);
  // Redirects carry authoritative=true, and the test broker answers those
  // with Connect: so a self-redirect resolves after one hop. What matters
  // here is that it terminates.
  pulsarc_err_t e = pulsarc_producer_create(client, "loop", nullptr, &p);
  if (e == PULSARC_OK) {
    pulsarc_producer_destroy(p);
  } else {
    EXPECT_EQ(p, nullptr);
  }
  pulsarc_client_destroy(client);
  pulsarc_tb_free(a);
}

class MultiHost : public BrokerTest {};

// The first service host refuses connections; the second one is used.
TEST_F(MultiHost, FirstHostClosedStillWorks) {
  uint16_t closed = ClosedPort();
  ASSERT_NE(closed, 0);
  std::string url = "pulsar://127.0.0.1:" + std::to_string(closed) +
                    ",127.0.0.1:" + std::to_string(pulsarc_tb_port(tb_));
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url.c_str(), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, "multi-host", nullptr, &p), PULSARC_OK);
  MsgOpts o;
  o.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, "m", 1, o.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(TopicStats("multi-host").messages, 1u);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
}

// 13. Partitioned topic.
// A topic transfer names the new owner in CLOSE_PRODUCER. Behind a proxy
// (the lookup said proxy_through_service_url) the new owner is reached
// through the proxy, with the owner as the logical address, never dialled
// directly: here "proxy" A names B as the new owner, and B must see no
// connection while A sees a second proxied CONNECT.
TEST(Discovery, AssignedOwnerIsReachedThroughTheProxy) {
  Watchdog dog(30);
  pulsarc_tb_opts ob = pulsarc_tb_opts_default();
  pulsarc_tb *b = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&ob, &b), 0);
  pulsarc_tb_opts oa = pulsarc_tb_opts_default();
  oa.proxy_through = true;
  oa.assign_to = pulsarc_tb_service_url(b);
  pulsarc_tb *a = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&oa, &a), 0);

  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(pulsarc_tb_service_url(a), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, "transferred", nullptr, &p), PULSARC_OK);
  MsgOpts o;
  o.Timeout(10000);
  EXPECT_EQ(pulsarc_producer_send(p, "before", 6, o.get(), nullptr), PULSARC_OK);
  pulsarc_tb_stats sa;
  pulsarc_tb_get_stats(a, &sa);
  EXPECT_EQ(sa.proxied_connects, 1u);
  ASSERT_EQ(pulsarc_tb_close_producers(a, "transferred"), 1);
  EXPECT_EQ(pulsarc_producer_send(p, "after", 5, o.get(), nullptr), PULSARC_OK);

  pulsarc_tb_stats sb;
  pulsarc_tb_get_stats(a, &sa);
  pulsarc_tb_get_stats(b, &sb);
  EXPECT_EQ(sb.connections, 0u) << "the assigned owner was dialled directly, bypassing the proxy";
  EXPECT_EQ(sa.proxied_connects, 2u);
  EXPECT_EQ(sa.lookups, 1u) << "the assigned owner needs no lookup";
  pulsarc_tb_topic_stats ts;
  pulsarc_tb_get_topic_stats(a, "transferred", &ts);
  EXPECT_EQ(ts.messages, 2u);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
  pulsarc_tb_free(a);
  pulsarc_tb_free(b);
}

// An assigned owner that cannot be reached is tried once; then the producer
// backs off and looks the topic up again (before, it redialled the dead
// owner at once, forever, and never came back).
TEST(Discovery, UnreachableAssignedOwnerFallsBackToLookup) {
  Watchdog dog(30);
  uint16_t closed = ClosedPort();
  ASSERT_NE(closed, 0);
  std::string dead = "pulsar://127.0.0.1:" + std::to_string(closed);
  pulsarc_tb_opts oa = pulsarc_tb_opts_default();
  oa.assign_to = dead.c_str();
  pulsarc_tb *a = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&oa, &a), 0);

  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(pulsarc_tb_service_url(a), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, "dead-owner", nullptr, &p), PULSARC_OK);
  MsgOpts o;
  o.Timeout(10000);
  EXPECT_EQ(pulsarc_producer_send(p, "before", 6, o.get(), nullptr), PULSARC_OK);
  ASSERT_EQ(pulsarc_tb_close_producers(a, "dead-owner"), 1);
  EXPECT_EQ(pulsarc_producer_send(p, "after", 5, o.get(), nullptr), PULSARC_OK);
  pulsarc_tb_stats sa;
  pulsarc_tb_get_stats(a, &sa);
  EXPECT_EQ(sa.lookups, 2u);
  EXPECT_EQ(sa.producers_created, 2u);
  pulsarc_tb_topic_stats ts;
  pulsarc_tb_get_topic_stats(a, "dead-owner", &ts);
  EXPECT_EQ(ts.messages, 2u);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
  pulsarc_tb_free(a);
}

class Partitioned : public BrokerTest {
protected:
  void BrokerOptions(pulsarc_tb_opts *o) override {
    static const pulsarc_tb_partitions parts[] = {{"pt", 3}, {"pt-nokey", 3}};
    o->partitions = parts;
    o->num_partitions = 2;
  }
  static std::string PartTopic(const std::string &base, int i) {
    return "persistent://public/default/" + base + "-partition-" + std::to_string(i);
  }
};

TEST_F(Partitioned, KeysRouteByJavaStringHash) {
  pulsarc_producer_t *p = Create("pt");
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(pulsarc_producer_topic(p), "persistent://public/default/pt");
  const int kKeys = 30;
  std::vector<pulsarc_msg_id_t> ids(kKeys);
  std::vector<pulsarc_future_t *> futs(kKeys);
  for (int i = 0; i < kKeys; i++) {
    std::string key = "key-" + std::to_string(i);
    pulsarc_msg_opts_t *o = pulsarc_msg_opts_new();
    pulsarc_msg_opts_set_partition_key(o, key.c_str());
    std::string payload = "v-" + key;
    ASSERT_EQ(pulsarc_producer_send_async(p, payload.data(), payload.size(), o, &futs[i]),
              PULSARC_OK);
    pulsarc_msg_opts_destroy(o);
  }
  for (int i = 0; i < kKeys; i++) {
    EXPECT_EQ(WaitFuture(futs[i], &ids[i]), PULSARC_OK) << i;
    pulsarc_future_destroy(futs[i]);
  }
  std::map<std::string, int> stored_in; // payload -> partition
  for (int part = 0; part < 3; part++) {
    Snapshot s(tb_, PartTopic("pt", part));
    for (auto &m : StoredMessages(s.get())) {
      EXPECT_TRUE(stored_in.emplace(m.payload, part).second) << m.payload << " stored twice";
    }
  }
  EXPECT_FALSE(TopicStats("pt").exists) << "producer created on the partitioned topic's base name";
  std::set<int> used;
  for (int i = 0; i < kKeys; i++) {
    std::string key = "key-" + std::to_string(i);
    int want = RefHash(key) % 3;
    used.insert(want);
    EXPECT_EQ(ids[i].partition, want) << key;
    auto it = stored_in.find("v-" + key);
    ASSERT_NE(it, stored_in.end()) << key << " not stored on any partition";
    EXPECT_EQ(it->second, want) << key;
  }
  EXPECT_EQ(used.size(), 3u); // the key set exercises every partition
}

TEST_F(Partitioned, WithoutKeysEveryPartitionGetsMessages) {
  ProducerConf c;
  c.Set("batching", "false");
  pulsarc_producer_t *p = Create("pt-nokey", c.get());
  ASSERT_NE(p, nullptr);
  const int kN = 300;
  Completions done(kN);
  for (int i = 0; i < kN; i++) {
    std::string s = "n" + std::to_string(i);
    ASSERT_EQ(
        pulsarc_producer_send_cb(p, s.data(), s.size(), nullptr, Completions::Cb, done.ctx(i)),
        PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  uint64_t total = 0;
  std::map<int, int> by_part_ids;
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK);
    by_part_ids[done.at(i).id.partition]++;
  }
  for (int part = 0; part < 3; part++) {
    pulsarc_tb_topic_stats ts = TopicStats(PartTopic("pt-nokey", part));
    EXPECT_GT(ts.messages, 0u) << "partition " << part << " got nothing";
    EXPECT_EQ(static_cast<uint64_t>(by_part_ids[part]), ts.messages) << "partition " << part;
    total += ts.messages;
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kN));
}

// 11. Deduplication through the library: a second producer with the same
// name continues the sequence after the broker's last stored id.
class Dedup : public BrokerTest {};

TEST_F(Dedup, SameNameContinuesSequenceIds) {
  const std::string topic = "dedup";
  {
    ProducerConf c;
    c.Set("name", "dedup-producer").Set("batching", "false");
    pulsarc_producer_t *p = Create(topic, c.get());
    ASSERT_NE(p, nullptr);
    MsgOpts o;
    o.Timeout(5000);
    for (int i = 0; i < 10; i++) {
      std::string s = "first-" + std::to_string(i);
      ASSERT_EQ(pulsarc_producer_send(p, s.data(), s.size(), o.get(), nullptr), PULSARC_OK);
    }
    Forget(p);
    pulsarc_producer_destroy(p);
  }
  const int64_t last = pulsarc_tb_last_sequence_id(tb_, topic.c_str(), "dedup-producer");
  EXPECT_EQ(last, 9);
  {
    ProducerConf c;
    c.Set("name", "dedup-producer"); // batching on this time
    pulsarc_producer_t *p = Create(topic, c.get());
    ASSERT_NE(p, nullptr);
    auto done = std::make_unique<Completions>(10);
    for (int i = 0; i < 10; i++) {
      std::string s = "second-" + std::to_string(i);
      ASSERT_EQ(
          pulsarc_producer_send_cb(p, s.data(), s.size(), nullptr, Completions::Cb, done->ctx(i)),
          PULSARC_OK);
    }
    ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
    for (int i = 0; i < 10; i++) {
      EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
      EXPECT_GE(done->at(i).id.entry_id, 0) << "acknowledged as a duplicate: " << i;
    }
  }
  Snapshot s(tb_, topic);
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 20u) << "messages lost to deduplication";
  EXPECT_EQ(s->duplicates, 0u);
  for (int i = 0; i < 20; i++) {
    std::string want = (i < 10 ? "first-" : "second-") + std::to_string(i % 10);
    EXPECT_EQ(msgs[i].payload, want);
    // First producer: 0..9 (nothing stored before); second: last + 1 on.
    EXPECT_EQ(msgs[i].sequence_id, static_cast<uint64_t>(i)) << "message " << i;
  }
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, topic.c_str(), "dedup-producer"), 19);
}

// initial_sequence_id set by the user wins over the broker's value.
TEST_F(Dedup, InitialSequenceIdIsUsed) {
  ProducerConf c;
  c.Set("name", "seeded").Set("batching", "false").Set("initial_sequence_id", "100");
  pulsarc_producer_t *p = Create("dedup-seeded", c.get());
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  o.Timeout(5000);
  ASSERT_EQ(pulsarc_producer_send(p, "a", 1, o.get(), nullptr), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send(p, "b", 1, o.get(), nullptr), PULSARC_OK);
  Snapshot s(tb_, "dedup-seeded");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 2u);
  // The header documents the default as "last stored + 1": the option is
  // the first sequence id used.
  EXPECT_EQ(msgs[0].sequence_id, 101u);
  EXPECT_EQ(msgs[1].sequence_id, 102u);
}

// The stand-alone program prints exactly one ready line and serves clients.
TEST(TestBrokerProgram, PrintsSingleReadyLineAndServes) {
  Watchdog dog(30);
  const char *path = pulsarc_tb_program_path();
  ASSERT_NE(path, nullptr);
  ASSERT_EQ(access(path, X_OK), 0) << path;
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Dies with the test process even if the test crashes before its kill.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl(path, path, "--partitions", "prog-pt=2", static_cast<char *>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  ASSERT_NE(f, nullptr);
  char line[256] = "";
  ASSERT_NE(fgets(line, sizeof line, f), nullptr) << "no ready line";
  std::string ready(line);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(ready, m, std::regex("ready (pulsar://127\\.0\\.0\\.1:([0-9]+))\n")))
      << "got: " << ready;
  std::string url = m[1];

  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url.c_str(), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client, "prog-pt", nullptr, &p), PULSARC_OK);
  if (p != nullptr) {
    MsgOpts o;
    o.Timeout(5000);
    pulsarc_msg_id_t id{};
    EXPECT_EQ(pulsarc_producer_send(p, "x", 1, o.get(), &id), PULSARC_OK);
    EXPECT_GE(id.partition, 0);
    EXPECT_LT(id.partition, 2);
    pulsarc_producer_destroy(p);
  }
  pulsarc_client_destroy(client);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  // Nothing else on stdout: the ready line was the only one.
  std::string rest;
  while (fgets(line, sizeof line, f) != nullptr)
    rest += line;
  fclose(f);
  EXPECT_EQ(rest, "");
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
} // namespace pulsarc_it
