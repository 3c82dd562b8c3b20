// The stats API (pulsarc_producer_stats, pulsarc_producer_partition_stats,
// pulsarc_client_stats) against the test broker: counters checked against
// what the broker stored and what the send calls returned, exactly.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "harness.h"

using namespace pulsarc_it;

namespace {

pulsarc_producer_stats_t PStats(pulsarc_producer_t *p) {
  pulsarc_producer_stats_t s;
  std::memset(&s, 0xab, sizeof s);
  EXPECT_EQ(pulsarc_producer_stats(p, &s, sizeof s), PULSARC_OK);
  return s;
}

pulsarc_client_stats_t CStats(pulsarc_client_t *c) {
  pulsarc_client_stats_t s;
  std::memset(&s, 0xab, sizeof s);
  EXPECT_EQ(pulsarc_client_stats(c, &s, sizeof s), PULSARC_OK);
  return s;
}

// Payload bytes and entries the broker stored for topic, from a snapshot.
struct Stored {
  uint64_t entries = 0, raw = 0, uncompressed = 0;
};
Stored StoredOf(pulsarc_tb *tb, const std::string &topic) {
  Snapshot s(tb, topic);
  Stored r;
  for (size_t i = 0; i < s->num_entries; i++) {
    r.entries++;
    r.raw += s->entries[i].payload_len;
    r.uncompressed += s->entries[i].compression != 0 ? s->entries[i].uncompressed_size
                                                     : s->entries[i].payload_len;
  }
  return r;
}

class StatsTest : public BrokerTest {
protected:
  // Sends n payloads of len bytes with callbacks and waits for all of them.
  void SendAll(pulsarc_producer_t *p, Completions &done, size_t n, size_t len, char fill = 'x') {
    std::string payload(len, fill);
    for (size_t i = 0; i < n; i++)
      ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr,
                                         Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    ASSERT_TRUE(done.WaitTotal(n));
  }
};

TEST_F(StatsTest, CountsMatchWhatTheBrokerStored) {
  ProducerConf pc;
  pc.Set("batch_max_delay_ms", "5");
  pulsarc_producer_t *p = Create("stats-basic", pc.get());
  ASSERT_NE(p, nullptr);
  const size_t n = 500, len = 100;
  Completions done(n);
  SendAll(p, done, n, len);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(done.at(i).err.load(), PULSARC_OK);

  // A slot and its memory go back right after the callback returns.
  EXPECT_TRUE(WaitUntil([&] { return PStats(p).pending_msgs == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return CStats(client_).memory_used == 0; }));
  pulsarc_producer_stats_t s = PStats(p);
  Stored st = StoredOf(tb_, FullTopic("stats-basic"));
  EXPECT_EQ(s.msgs_accepted, n);
  EXPECT_EQ(s.bytes_accepted, n * len);
  EXPECT_EQ(s.msgs_sent, n);
  EXPECT_EQ(s.bytes_sent, n * len);
  EXPECT_EQ(s.msgs_acked, n);
  EXPECT_EQ(s.bytes_acked, n * len);
  EXPECT_EQ(s.msgs_failed, 0u);
  EXPECT_EQ(s.msgs_timed_out, 0u);
  EXPECT_EQ(s.pending_msgs, 0u);
  EXPECT_EQ(s.pending_bytes, 0u);
  EXPECT_EQ(s.batches_sent, st.entries);
  EXPECT_GT(s.batches_sent, 0u);
  EXPECT_DOUBLE_EQ(s.mean_batch_msgs, double(n) / double(st.entries));
  EXPECT_EQ(s.uncompressed_bytes, st.raw);
  EXPECT_EQ(s.compressed_bytes, st.raw);
  EXPECT_EQ(s.reconnects, 0u);
  EXPECT_EQ(s.resent_batches, 0u);
  EXPECT_EQ(s.blocked_pending_limit + s.blocked_memory_limit + s.rejected_pending_limit +
                s.rejected_memory_limit,
            0u);
  EXPECT_EQ(s.latency.count, n);
  EXPECT_LE(s.latency.p50_us, s.latency.p99_us);
  EXPECT_LE(s.latency.p99_us, s.latency.p999_us);
  EXPECT_LE(s.latency.p999_us, s.latency.max_us);
  EXPECT_GE(s.latency.sum_us, s.latency.max_us);
  uint64_t in_buckets = 0;
  for (uint64_t b : s.latency.buckets)
    in_buckets += b;
  EXPECT_EQ(in_buckets, n);
  for (uint64_t f : s.failed_by_error)
    EXPECT_EQ(f, 0u);
  EXPECT_EQ(pulsarc_producer_num_partitions(p), 0);
  pulsarc_producer_stats_t ps;
  EXPECT_EQ(pulsarc_producer_partition_stats(p, 0, &ps, sizeof ps), PULSARC_ERR_INVALID_ARGUMENT);

  pulsarc_client_stats_t c = CStats(client_);
  EXPECT_EQ(c.producers, 1u);
  EXPECT_EQ(c.connections, 1u);
  EXPECT_EQ(c.connections_opened, 1u);
  EXPECT_EQ(c.connections_failed, 0u);
  EXPECT_EQ(c.connections_closed, 0u);
  EXPECT_GT(c.bytes_out, n * len);
  EXPECT_GT(c.bytes_in, 0u);
  // At least CONNECT, lookup, partition metadata, PRODUCER and every SEND.
  EXPECT_GE(c.frames_out, st.entries + 4);
  EXPECT_GE(c.frames_in, st.entries + 4);
  EXPECT_EQ(c.lookups, 1u);
  EXPECT_EQ(c.lookups_failed, 0u);
  EXPECT_EQ(c.partition_metadata, 1u);
  EXPECT_EQ(c.memory_used, 0u);
  EXPECT_EQ(c.memory_limit, 64u << 20);
}

TEST_F(StatsTest, CompressedBytesAreWhatWentOnTheWire) {
  ProducerConf pc;
  pc.Set("compression", "lz4").Set("batch_max_delay_ms", "5");
  pulsarc_producer_t *p = Create("stats-lz4", pc.get());
  ASSERT_NE(p, nullptr);
  const size_t n = 300;
  Completions done(n);
  SendAll(p, done, n, 200, 'a');
  pulsarc_producer_stats_t s = PStats(p);
  Stored st = StoredOf(tb_, FullTopic("stats-lz4"));
  EXPECT_EQ(s.msgs_acked, n);
  EXPECT_EQ(s.compressed_bytes, st.raw);
  EXPECT_EQ(s.uncompressed_bytes, st.uncompressed);
  EXPECT_LT(s.compressed_bytes, s.uncompressed_bytes);
  EXPECT_EQ(s.batches_sent, st.entries);
}

TEST_F(StatsTest, ReconnectAndResendAreCounted) {
  ProducerConf pc;
  pc.Set("batch_max_delay_ms", "1").Set("backoff_initial_ms", "50");
  pulsarc_producer_t *p = Create("stats-reconnect", pc.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  const size_t n = 50;
  Completions done(n);
  std::string payload(64, 'r');
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_OK);
  // Every entry is on the broker (written) and waits for its receipt.
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, FullTopic("stats-reconnect").c_str(), n, kWaitMs));
  // The broker can read a frame before the writing I/O thread, back from
  // writev, counts it as sent: wait for that count (bounded).
  ASSERT_TRUE(WaitUntil([&] { return PStats(p).msgs_sent == n; })) << PStats(p).msgs_sent;
  pulsarc_producer_stats_t before = PStats(p);
  EXPECT_EQ(before.msgs_acked, 0u);
  EXPECT_EQ(before.pending_msgs, n);
  EXPECT_EQ(before.pending_bytes, n * 64);
  EXPECT_EQ(before.msgs_sent, n);
  pulsarc_tb_drop_connections(tb_);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(done.WaitTotal(n));
  pulsarc_producer_stats_t s = PStats(p);
  EXPECT_EQ(s.msgs_acked, n);
  EXPECT_EQ(s.reconnects, 1u);
  // Each entry pending at the drop was written once more; sent counts once.
  EXPECT_EQ(s.resent_batches, before.batches_sent);
  EXPECT_EQ(s.batches_sent, before.batches_sent);
  EXPECT_EQ(s.msgs_sent, n);
  pulsarc_client_stats_t c = CStats(client_);
  EXPECT_EQ(c.connections_closed, 1u);
  EXPECT_EQ(c.connections_opened, 2u);
  EXPECT_EQ(c.connections, 1u);
  EXPECT_GE(c.lookups, 2u);
}

TEST_F(StatsTest, FailuresAreCountedByError) {
  ProducerConf pc;
  pc.Set("send_timeout_ms", "300").Set("batch_max_delay_ms", "1");
  pulsarc_producer_t *p = Create("stats-timeout", pc.get());
  ASSERT_NE(p, nullptr);
  // Two refused by the broker, then the rest never answered: timeouts.
  pulsarc_tb_fail_sends(tb_, 1, PULSARC_TB_CHECKSUM_ERROR);
  {
    Completions first(1);
    SendAll(p, first, 1, 10);
    EXPECT_EQ(first.at(0).err.load(), PULSARC_ERR_BROKER_CHECKSUM);
  }
  pulsarc_tb_hold_receipts(tb_, true);
  const size_t n = 20;
  Completions done(n);
  SendAll(p, done, n, 10);
  pulsarc_tb_hold_receipts(tb_, false);
  uint64_t by_err[PULSARC_STATS_ERRORS] = {0};
  by_err[PULSARC_ERR_BROKER_CHECKSUM] = 1;
  for (size_t i = 0; i < n; i++)
    by_err[done.at(i).err.load()]++;
  pulsarc_producer_stats_t s = PStats(p);
  EXPECT_EQ(s.msgs_failed, n + 1);
  EXPECT_EQ(s.msgs_timed_out,
            by_err[PULSARC_ERR_TIMEOUT] + by_err[PULSARC_ERR_TIMEOUT_UNCONFIRMED]);
  EXPECT_EQ(s.msgs_timed_out, n);
  for (int e = 1; e < PULSARC_STATS_ERRORS; e++)
    EXPECT_EQ(s.failed_by_error[e], by_err[e]) << pulsarc_err_name(pulsarc_err_t(e));
  EXPECT_EQ(s.failed_by_error[PULSARC_OK], 0u);
  EXPECT_EQ(s.msgs_acked, 0u);
  EXPECT_EQ(s.latency.count, n + 1);
}

TEST_F(StatsTest, BlockedOnThePendingLimit) {
  ProducerConf pc;
  pc.Set("max_pending_messages", "2").Set("batch_max_delay_ms", "1");
  pulsarc_producer_t *p = Create("stats-blocked", pc.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(2);
  std::string payload(10, 'b');
  for (size_t i = 0; i < 2; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_OK);
  // No room until a receipt comes, and none comes: this send waits for its
  // deadline.
  MsgOpts o;
  o.Timeout(200);
  EXPECT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), o.get(), nullptr, nullptr),
            PULSARC_ERR_TIMEOUT);
  pulsarc_producer_stats_t s = PStats(p);
  EXPECT_EQ(s.blocked_pending_limit, 1u);
  EXPECT_GE(s.blocked_ns, 100000000u); // it waited for (most of) its 200 ms
  EXPECT_EQ(s.rejected_pending_limit, 0u);
  EXPECT_EQ(s.pending_msgs, 2u);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(done.WaitTotal(2));
  s = PStats(p);
  EXPECT_EQ(s.msgs_acked, 2u);
  EXPECT_EQ(s.msgs_accepted, 2u);
}

TEST_F(StatsTest, RejectedByThePendingLimit) {
  ProducerConf pc;
  pc.Set("max_pending_messages", "5").Set("block_if_queue_full", "false");
  pulsarc_producer_t *p = Create("stats-rejected", pc.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(40);
  std::string payload(10, 'q');
  size_t ok = 0, full = 0;
  for (size_t i = 0; i < 40; i++) {
    pulsarc_err_t e = pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr,
                                               Completions::Cb, done.ctx(ok));
    ASSERT_TRUE(e == PULSARC_OK || e == PULSARC_ERR_QUEUE_FULL) << pulsarc_err_name(e);
    (e == PULSARC_OK ? ok : full)++;
  }
  EXPECT_GE(full, 35u);
  pulsarc_producer_stats_t s = PStats(p);
  EXPECT_EQ(s.rejected_pending_limit, full);
  EXPECT_EQ(s.blocked_pending_limit, 0u);
  EXPECT_EQ(s.blocked_ns, 0u);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(done.WaitTotal(ok));
  s = PStats(p);
  EXPECT_EQ(s.msgs_acked, ok);
  EXPECT_EQ(s.msgs_accepted, ok);
}

// A client of its own with a small memory limit.
class StatsMemoryTest : public StatsTest {
protected:
  pulsarc_client_t *SmallClient(const char *limit) {
    pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
    EXPECT_EQ(pulsarc_client_conf_set(cc, "memory_limit_bytes", limit, nullptr, 0), PULSARC_OK);
    pulsarc_client_t *c = nullptr;
    EXPECT_EQ(pulsarc_client_new(url_.c_str(), cc, &c), PULSARC_OK);
    pulsarc_client_conf_destroy(cc);
    return c;
  }
};

TEST_F(StatsMemoryTest, RejectedAndBlockedByTheMemoryLimit) {
  pulsarc_client_t *c = SmallClient("1000");
  ASSERT_NE(c, nullptr);
  pulsarc_producer_t *nb = nullptr, *bl = nullptr;
  {
    ProducerConf pc;
    pc.Set("block_if_queue_full", "false").Set("batch_max_delay_ms", "1");
    ASSERT_EQ(pulsarc_producer_create(c, "stats-mem", pc.get(), &nb), PULSARC_OK);
    ProducerConf pb;
    pb.Set("batch_max_delay_ms", "1");
    ASSERT_EQ(pulsarc_producer_create(c, "stats-mem", pb.get(), &bl), PULSARC_OK);
  }
  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(20);
  std::string payload(200, 'm');
  size_t ok = 0, refused = 0;
  for (size_t i = 0; i < 20; i++) {
    pulsarc_err_t e = pulsarc_producer_send_cb(nb, payload.data(), payload.size(), nullptr,
                                               Completions::Cb, done.ctx(ok));
    ASSERT_TRUE(e == PULSARC_OK || e == PULSARC_ERR_MEMORY_LIMIT) << pulsarc_err_name(e);
    (e == PULSARC_OK ? ok : refused)++;
  }
  EXPECT_EQ(ok, 5u);
  pulsarc_producer_stats_t s;
  ASSERT_EQ(pulsarc_producer_stats(nb, &s, sizeof s), PULSARC_OK);
  EXPECT_EQ(s.rejected_memory_limit, refused);
  EXPECT_EQ(s.rejected_pending_limit, 0u);
  pulsarc_client_stats_t cs;
  ASSERT_EQ(pulsarc_client_stats(c, &cs, sizeof cs), PULSARC_OK);
  EXPECT_EQ(cs.memory_limit, 1000u);
  EXPECT_EQ(cs.memory_used, 1000u);
  EXPECT_EQ(cs.producers, 2u);
  // The blocking producer waits for room until its message's deadline.
  MsgOpts o;
  o.Timeout(200);
  EXPECT_EQ(pulsarc_producer_send_cb(bl, payload.data(), payload.size(), o.get(), nullptr, nullptr),
            PULSARC_ERR_MEMORY_LIMIT);
  ASSERT_EQ(pulsarc_producer_stats(bl, &s, sizeof s), PULSARC_OK);
  EXPECT_EQ(s.blocked_memory_limit, 1u);
  EXPECT_EQ(s.rejected_memory_limit, 1u);
  EXPECT_GE(s.blocked_ns, 100000000u);
  pulsarc_tb_hold_receipts(tb_, false);
  EXPECT_TRUE(done.WaitTotal(ok));
  pulsarc_producer_destroy(nb);
  pulsarc_producer_destroy(bl);
  ASSERT_EQ(pulsarc_client_stats(c, &cs, sizeof cs), PULSARC_OK);
  EXPECT_EQ(cs.producers, 0u);
  EXPECT_EQ(cs.memory_used, 0u);
  pulsarc_client_destroy(c);
}

TEST_F(StatsTest, PartitionsSumToTheProducer) {
  pulsarc_tb_set_partitions(tb_, FullTopic("stats-parts").c_str(), 4);
  ProducerConf pc;
  pc.Set("batch_max_delay_ms", "2").Set("batch_max_messages", "7");
  pulsarc_producer_t *p = Create("stats-parts", pc.get());
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(pulsarc_producer_num_partitions(p), 4);
  const size_t n = 400;
  Completions done(n);
  SendAll(p, done, n, 30);
  pulsarc_producer_stats_t s = PStats(p);
  EXPECT_EQ(s.msgs_acked, n);
  pulsarc_producer_stats_t sum;
  std::memset(&sum, 0, sizeof sum);
  for (int i = 0; i < 4; i++) {
    pulsarc_producer_stats_t ps;
    ASSERT_EQ(pulsarc_producer_partition_stats(p, i, &ps, sizeof ps), PULSARC_OK);
    std::string part = FullTopic("stats-parts") + "-partition-" + std::to_string(i);
    Stored st = StoredOf(tb_, part);
    EXPECT_EQ(ps.batches_sent, st.entries) << i;
    EXPECT_EQ(ps.msgs_acked, TopicStats(part).messages) << i;
    EXPECT_GT(ps.msgs_acked, 0u) << i;
    EXPECT_EQ(ps.latency.count, 0u); // one histogram per producer
    EXPECT_EQ(ps.msgs_failed, 0u);
    sum.msgs_accepted += ps.msgs_accepted;
    sum.bytes_accepted += ps.bytes_accepted;
    sum.msgs_sent += ps.msgs_sent;
    sum.bytes_sent += ps.bytes_sent;
    sum.msgs_acked += ps.msgs_acked;
    sum.bytes_acked += ps.bytes_acked;
    sum.batches_sent += ps.batches_sent;
    sum.uncompressed_bytes += ps.uncompressed_bytes;
    sum.compressed_bytes += ps.compressed_bytes;
  }
  EXPECT_EQ(sum.msgs_accepted, s.msgs_accepted);
  EXPECT_EQ(sum.bytes_accepted, s.bytes_accepted);
  EXPECT_EQ(sum.msgs_sent, s.msgs_sent);
  EXPECT_EQ(sum.bytes_sent, s.bytes_sent);
  EXPECT_EQ(sum.msgs_acked, s.msgs_acked);
  EXPECT_EQ(sum.bytes_acked, s.bytes_acked);
  EXPECT_EQ(sum.batches_sent, s.batches_sent);
  EXPECT_EQ(sum.uncompressed_bytes, s.uncompressed_bytes);
  EXPECT_EQ(sum.compressed_bytes, s.compressed_bytes);
  pulsarc_producer_stats_t ps;
  EXPECT_EQ(pulsarc_producer_partition_stats(p, 4, &ps, sizeof ps), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_partition_stats(p, -1, &ps, sizeof ps), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(CStats(client_).lookups, 4u);
}

// An older caller's smaller struct: nothing past its size is written.
TEST_F(StatsTest, SmallerStructIsHonoured) {
  pulsarc_producer_t *p = Create("stats-size");
  ASSERT_NE(p, nullptr);
  Completions done(3);
  SendAll(p, done, 3, 10);
  struct {
    pulsarc_producer_stats_t s;
    uint64_t canary;
  } buf;
  std::memset(&buf, 0x5a, sizeof buf);
  const size_t small = offsetof(pulsarc_producer_stats_t, latency);
  ASSERT_EQ(pulsarc_producer_stats(p, &buf.s, small), PULSARC_OK);
  EXPECT_EQ(buf.s.msgs_acked, 3u);
  const unsigned char *past = reinterpret_cast<const unsigned char *>(&buf.s) + small;
  for (size_t i = 0; i < sizeof buf - small; i++)
    ASSERT_EQ(past[i], 0x5a) << i;
  ASSERT_EQ(pulsarc_producer_stats(p, &buf.s, sizeof buf.s), PULSARC_OK);
  EXPECT_EQ(buf.s.latency.count, 3u);
  EXPECT_EQ(buf.canary, 0x5a5a5a5a5a5a5a5aull);
  EXPECT_EQ(pulsarc_producer_stats(p, &buf.s, small - 1), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_stats(nullptr, &buf.s, sizeof buf.s), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_stats(p, nullptr, sizeof buf.s), PULSARC_ERR_INVALID_ARGUMENT);

  struct {
    pulsarc_client_stats_t s;
    uint64_t canary;
  } cb;
  std::memset(&cb, 0x5a, sizeof cb);
  const size_t two = 2 * sizeof(uint64_t); // producers and connections only
  ASSERT_EQ(pulsarc_client_stats(client_, &cb.s, two), PULSARC_OK);
  EXPECT_EQ(cb.s.producers, 1u);
  EXPECT_EQ(cb.s.connections, 1u);
  EXPECT_EQ(cb.s.connections_opened, 0x5a5a5a5a5a5a5a5aull);
  ASSERT_EQ(pulsarc_client_stats(client_, &cb.s, sizeof cb.s), PULSARC_OK);
  EXPECT_EQ(cb.canary, 0x5a5a5a5a5a5a5a5aull);
  EXPECT_EQ(pulsarc_client_stats(client_, &cb.s, 0), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_stats(nullptr, &cb.s, sizeof cb.s), PULSARC_ERR_INVALID_ARGUMENT);
}

} // namespace

#ifdef PULSARC_PERF_PROGRAM
namespace {

// The number after "key": in json at or after from (NaN if absent).
double JsonNum(const std::string &json, const std::string &key, size_t from = 0) {
  size_t at = json.find("\"" + key + "\":", from);
  if (at == std::string::npos)
    return std::nan("");
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// pulsarc-perf prints the library's stats beside its own figures, and
// they agree with what the embedded broker stored.
TEST(StatsPerf, PerfJsonCarriesTheLibraryStats) {
  std::string cmd = std::string("timeout 120 ") + PULSARC_PERF_PROGRAM +
                    " --messages 20000 --compression lz4 --json --quiet 2>/dev/null";
  FILE *f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    out.append(buf, n);
  ASSERT_EQ(pclose(f), 0) << out;
  size_t lib = out.find("\"lib\":{");
  ASSERT_NE(lib, std::string::npos) << out;
  double messages = JsonNum(out, "messages");
  double entries = JsonNum(out, "entries");
  EXPECT_EQ(messages, 20000);
  EXPECT_EQ(JsonNum(out, "msgs_acked", lib), messages);
  EXPECT_EQ(JsonNum(out, "msgs_sent", lib), messages);
  EXPECT_EQ(JsonNum(out, "msgs_failed", lib), 0);
  EXPECT_EQ(JsonNum(out, "batches", lib), entries);
  EXPECT_GT(JsonNum(out, "batches", lib), 0);
  EXPECT_GT(JsonNum(out, "mean_batch", lib), 1);
  EXPECT_NEAR(JsonNum(out, "mean_batch", lib), JsonNum(out, "mean_batch"), 0.01);
  double unc = JsonNum(out, "uncompressed_bytes", lib),
         comp = JsonNum(out, "compressed_bytes", lib);
  EXPECT_GT(comp, 0);
  EXPECT_LT(comp, unc);
  EXPECT_NEAR(JsonNum(out, "compression_ratio", lib), comp / unc, 0.0001);
  EXPECT_EQ(JsonNum(out, "reconnects", lib), 0);
  EXPECT_EQ(JsonNum(out, "resent_batches", lib), 0);
  size_t lat = out.find("\"latency_us\":{", lib);
  ASSERT_NE(lat, std::string::npos);
  EXPECT_EQ(JsonNum(out, "count", lat), messages);
  EXPECT_LE(JsonNum(out, "p50", lat), JsonNum(out, "p99", lat));
  EXPECT_LE(JsonNum(out, "p99", lat), JsonNum(out, "p999", lat));
  EXPECT_LE(JsonNum(out, "p999", lat), JsonNum(out, "max", lat));
  EXPECT_GT(JsonNum(out, "max", lat), 0);
}

} // namespace
#endif
