// Message options of the official clients (replication clusters, disable
// replication, null value, explicit sequence ids), the client memory limit,
// and the startup delay before the first lookup.
//
// The memory test reads the client's own accounting through the test probe
// in src/client/testing.h (an atomic load; there is no public getter).
extern "C" {
#include "client/testing.h"
}

extern "C" {
#include "tb_internal.h"
}
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::HttpGet;
using features::HttpReply;
using features::ReadyFlag;
using features::SendWait;

int64_t MemoryUsed(pulsarc_client_t *c) { return pc_test_client_memory_used(c); }

class MessageOptions : public BrokerTest {
protected:
  void SetUp() override {
    BrokerTest::SetUp();
    ASSERT_EQ(tb_http_start(tb_, "127.0.0.1", 0, &http_, &http_port_), 0);
  }
  void TearDown() override {
    if (http_ != nullptr)
      tb_http_stop(http_);
    http_ = nullptr;
    BrokerTest::TearDown();
  }
  HttpReply Entry(const std::string &topic, const pulsarc_tb_entry &e) {
    return HttpGet(http_port_, "/admin/v2/persistent/public/default/" + topic + "/ledger/" +
                                   std::to_string(e.ledger_id) + "/entry/" +
                                   std::to_string(e.entry_id));
  }
  tb_http *http_ = nullptr;
  uint16_t http_port_ = 0;
};

TEST_F(MessageOptions, ReplicationClustersAndDisableReplicationLandInMetadata) {
  const std::string topic = "opt-repl";
  ProducerConf c;
  c.Set("batching", "false");
  pulsarc_producer_t *p = Create(topic, c.get());
  ASSERT_NE(p, nullptr);
  MsgOpts to;
  const char *const clusters[] = {"us-east", "eu-west"};
  ASSERT_EQ(pulsarc_msg_opts_set_replication_clusters(to.get(), clusters, 2), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "two clusters", to.get()), PULSARC_OK);
  MsgOpts off;
  ASSERT_EQ(pulsarc_msg_opts_disable_replication(off.get()), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "local only", off.get()), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "default"), PULSARC_OK);

  Snapshot s(tb_, topic);
  ASSERT_EQ(s->num_entries, 3u);
  HttpReply e0 = Entry(topic, s->entries[0]);
  ASSERT_EQ(e0.status, 200);
  EXPECT_EQ(e0.body, "two clusters");
  EXPECT_EQ(e0.All("x-pulsar-replicated-to"), (std::vector<std::string>{"us-east", "eu-west"}));
  HttpReply e1 = Entry(topic, s->entries[1]);
  ASSERT_EQ(e1.status, 200);
  EXPECT_EQ(e1.All("x-pulsar-replicated-to"), (std::vector<std::string>{"__local__"}));
  HttpReply e2 = Entry(topic, s->entries[2]);
  ASSERT_EQ(e2.status, 200);
  EXPECT_TRUE(e2.All("x-pulsar-replicated-to").empty());
}

TEST_F(MessageOptions, NullValueWithEmptyPayload) {
  ProducerConf single;
  single.Set("batching", "false");
  pulsarc_producer_t *p = Create("opt-null", single.get());
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), "gone"), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_null_value(o.get(), true), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "", o.get()), PULSARC_OK);
  EXPECT_EQ(SendWait(p, "not empty", o.get()), PULSARC_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(SendWait(p, "plain"), PULSARC_OK);
  Snapshot s(tb_, "opt-null");
  ASSERT_EQ(s->num_entries, 2u);
  EXPECT_TRUE(s->entries[0].null_value);
  EXPECT_EQ(s->entries[0].payload_len, 0u);
  ASSERT_NE(s->entries[0].partition_key, nullptr);
  EXPECT_EQ(std::string(s->entries[0].partition_key), "gone");
  EXPECT_FALSE(s->entries[1].null_value);

  // Inside a batch the flag is per message.
  ProducerConf batched;
  batched.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *b = Create("opt-null-batch", batched.get());
  ASSERT_NE(b, nullptr);
  Completions done(2);
  ASSERT_EQ(pulsarc_producer_send_cb(b, "", 0, o.get(), Completions::Cb, done.ctx(0)), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(b, "v", 1, nullptr, Completions::Cb, done.ctx(1)), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(b, kWaitMs), PULSARC_OK);
  Snapshot sb(tb_, "opt-null-batch");
  ASSERT_EQ(sb->num_entries, 1u);
  ASSERT_EQ(sb->entries[0].num_listed, 2u);
  EXPECT_TRUE(sb->entries[0].messages[0].null_value);
  EXPECT_EQ(sb->entries[0].messages[0].payload_len, 0u);
  EXPECT_FALSE(sb->entries[0].messages[1].null_value);
}

TEST_F(MessageOptions, ExplicitSequenceIdsAreUsedAndLeaveTheCounterAlone) {
  ProducerConf single;
  single.Set("batching", "false");
  pulsarc_producer_t *p = Create("opt-seq", single.get());
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(SendWait(p, "auto0"), PULSARC_OK);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_sequence_id(o.get(), 100), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "explicit100", o.get()), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_sequence_id(o.get(), 200), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "explicit200", o.get()), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_sequence_id(o.get(), -1), PULSARC_ERR_INVALID_ARGUMENT);
  Snapshot s(tb_, "opt-seq");
  ASSERT_EQ(s->num_entries, 3u);
  const uint64_t first = s->entries[0].sequence_id;
  EXPECT_EQ(s->entries[1].sequence_id, 100u);
  EXPECT_EQ(s->entries[2].sequence_id, 200u);
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, "opt-seq", pulsarc_producer_name(p)), 200);

  // The counter did not move: with deduplication off, the next automatic
  // id follows the first one.
  pulsarc_tb_set_dedup(tb_, false);
  ASSERT_EQ(SendWait(p, "auto1"), PULSARC_OK);
  Snapshot s2(tb_, "opt-seq");
  ASSERT_EQ(s2->num_entries, 4u);
  EXPECT_EQ(s2->entries[3].sequence_id, first + 1);

  // In a batch: each message keeps its own id; the entry's highest is the max.
  ProducerConf batched;
  batched.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *b = Create("opt-seq-batch", batched.get());
  ASSERT_NE(b, nullptr);
  Completions done(3);
  for (size_t i = 0; i < 3; i++) {
    MsgOpts oi;
    ASSERT_EQ(pulsarc_msg_opts_set_sequence_id(oi.get(), static_cast<int64_t>(10 + i)), PULSARC_OK);
    ASSERT_EQ(pulsarc_producer_send_cb(b, "b", 1, oi.get(), Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_flush(b, kWaitMs), PULSARC_OK);
  Snapshot sb(tb_, "opt-seq-batch");
  ASSERT_EQ(sb->num_entries, 1u);
  ASSERT_EQ(sb->entries[0].num_listed, 3u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_TRUE(sb->entries[0].messages[i].has_sequence_id);
    EXPECT_EQ(sb->entries[0].messages[i].sequence_id, 10 + i);
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK);
  }
  EXPECT_EQ(sb->entries[0].sequence_id, 10u);
  EXPECT_TRUE(sb->entries[0].has_highest_sequence_id);
  EXPECT_EQ(sb->entries[0].highest_sequence_id, 12u);
}

// ------------------------------------------------------------ memory limit

class MemoryLimit : public BrokerTest {
protected:
  void TearDown() override {
    if (tb_ != nullptr) {
      pulsarc_tb_stop_reading(tb_, false);
      pulsarc_tb_hold_receipts(tb_, false);
    }
    for (pulsarc_producer_t *p : producers_)
      pulsarc_producer_destroy(p);
    producers_.clear();
    if (limited_ != nullptr)
      pulsarc_client_destroy(limited_);
    limited_ = nullptr;
    BrokerTest::TearDown();
  }
  pulsarc_client_t *Limited(const char *limit) {
    pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
    char err[128];
    EXPECT_EQ(pulsarc_client_conf_set(cc, "memory_limit_bytes", limit, err, sizeof err),
              PULSARC_OK);
    EXPECT_EQ(pulsarc_client_new(url_.c_str(), cc, &limited_), PULSARC_OK);
    pulsarc_client_conf_destroy(cc);
    return limited_;
  }
  pulsarc_client_t *limited_ = nullptr;
};

TEST_F(MemoryLimit, NonBlockingSendGetsMemoryLimitAndAccountingStaysUnder) {
  constexpr int64_t kLimit = 10000;
  constexpr size_t kMsg = 1000;
  pulsarc_client_t *c = Limited("10000");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(MemoryUsed(c), 0);
  ProducerConf pc;
  pc.Set("batching", "false").Set("block_if_queue_full", "false");
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(c, "mem-limit", pc.get(), &p), PULSARC_OK);
  producers_.push_back(p);

  pulsarc_tb_hold_receipts(tb_, true);
  const std::string payload(kMsg, 'm');
  Completions done(40);
  size_t accepted = 0;
  int64_t peak = 0;
  pulsarc_err_t refused = PULSARC_OK;
  for (size_t i = 0; i < 20; i++) {
    pulsarc_err_t e = pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr,
                                               Completions::Cb, done.ctx(i));
    int64_t used = MemoryUsed(c);
    peak = std::max(peak, used);
    if (e == PULSARC_OK) {
      accepted++;
      if (accepted == 1) {
        EXPECT_EQ(used, static_cast<int64_t>(kMsg)) << "accounting does not count the payload";
      }
    } else {
      refused = e;
    }
  }
  EXPECT_EQ(refused, PULSARC_ERR_MEMORY_LIMIT);
  EXPECT_EQ(accepted, static_cast<size_t>(kLimit) / kMsg);
  EXPECT_LE(peak, kLimit);

  // The broker stops reading altogether: still refused, still under.
  pulsarc_tb_stop_reading(tb_, true);
  for (size_t i = 20; i < 30; i++) {
    EXPECT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_ERR_MEMORY_LIMIT);
    EXPECT_LE(MemoryUsed(c), kLimit);
  }
  // A blocking sender with a deadline waits, then gets MEMORY_LIMIT.
  ProducerConf bc;
  bc.Set("batching", "false");
  pulsarc_producer_t *pb = nullptr;
  pulsarc_tb_stop_reading(tb_, false);
  ASSERT_EQ(pulsarc_producer_create(c, "mem-limit-block", bc.get(), &pb), PULSARC_OK);
  producers_.push_back(pb);
  MsgOpts o;
  o.Timeout(200);
  EXPECT_EQ(pulsarc_producer_send_cb(pb, payload.data(), payload.size(), o.get(), Completions::Cb,
                                     done.ctx(30)),
            PULSARC_ERR_MEMORY_LIMIT);
  EXPECT_LE(MemoryUsed(c), kLimit);

  // Receipts released: everything completes and the accounting returns to 0.
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(done.WaitTotal(accepted));
  for (size_t i = 0; i < accepted; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  WaitUntil([&] { return MemoryUsed(c) == 0; });
  EXPECT_EQ(MemoryUsed(c), 0);
  EXPECT_EQ(SendWait(p, payload), PULSARC_OK);
}

// Limits of 16 MiB and more are granted to producers in chunks of limit/256
// (src/client/memory.c): the accounting still never exceeds the limit, at
// most two chunks per busy producer are held back from other producers, a
// sender of one producer waiting for memory wakes when another producer's
// messages complete, and everything returns to 0 when producers go idle.
TEST_F(MemoryLimit, ChunkedGrantsStayUnderTheLimitAndComeBack) {
  constexpr int64_t kLimit = 16 << 20, kChunk = kLimit / 256;
  constexpr size_t kMsg = 32 << 10;
  pulsarc_client_t *c = Limited("16777216");
  ASSERT_NE(c, nullptr);
  ProducerConf pc;
  pc.Set("batching", "false").Set("block_if_queue_full", "false");
  pc.Set("max_pending_messages", "100000");
  pulsarc_producer_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(pulsarc_producer_create(c, "mem-chunks-a", pc.get(), &a), PULSARC_OK);
  producers_.push_back(a);
  ProducerConf bc;
  bc.Set("batching", "false");
  ASSERT_EQ(pulsarc_producer_create(c, "mem-chunks-b", bc.get(), &b), PULSARC_OK);
  producers_.push_back(b);
  EXPECT_EQ(SendWait(b, std::string(kMsg, 'b')), PULSARC_OK); // b is idle again

  pulsarc_tb_hold_receipts(tb_, true);
  const std::string payload(kMsg, 'a');
  Completions done(1000);
  size_t accepted = 0;
  int64_t peak = 0;
  for (size_t i = 0; i < 560; i++) {
    pulsarc_err_t e;
    // A full send ring (the I/O thread is behind) is QUEUE_FULL for a
    // non-blocking send: not what this test is about, so try again (for a
    // bounded time: a ring that never drains fails the test).
    void *ctx = done.ctx(i);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while ((e = pulsarc_producer_send_cb(a, payload.data(), payload.size(), nullptr,
                                         Completions::Cb, ctx)) == PULSARC_ERR_QUEUE_FULL &&
           std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    peak = std::max(peak, MemoryUsed(c));
    if (e == PULSARC_OK)
      accepted++;
    else
      ASSERT_EQ(e, PULSARC_ERR_MEMORY_LIMIT) << i;
  }
  EXPECT_LE(peak, kLimit);
  EXPECT_LE(accepted * kMsg, static_cast<size_t>(kLimit));
  EXPECT_GE(accepted * kMsg, static_cast<size_t>(kLimit - 2 * kChunk - kMsg)) << accepted;

  // b waits for memory (blocking, 10 s deadline) and gets it when a's
  // messages complete.
  std::atomic<int> b_result{-1};
  std::thread waiter([&] {
    MsgOpts o;
    o.Timeout(10000);
    std::string pb(kMsg, 'b');
    b_result =
        pulsarc_producer_send_cb(b, pb.data(), pb.size(), o.get(), Completions::Cb, done.ctx(900));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(b_result.load(), -1) << "b should be waiting for memory";
  pulsarc_tb_hold_receipts(tb_, false);
  waiter.join();
  EXPECT_EQ(b_result.load(), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(accepted + 1));
  WaitUntil([&] { return MemoryUsed(c) == 0; });
  EXPECT_EQ(MemoryUsed(c), 0) << "idle producers keep no grant";
}

// ----------------------------------------------------------- startup delay

// Only lower bounds, which a loaded machine cannot break: a lookup made
// at time a >= t0 + delay is seen, if at all, at some later time, so a
// sample read while the clock still shows less than t0 + delay must show
// no lookup, and the first sight of one must come after t0 + delay. How
// much later is up to the scheduler and is never asserted. kSlack covers
// the loop's clock, read once per turn (a turn already under way at t0
// arms its timers from a slightly earlier "now").
class StartupDelay : public BrokerTest {
protected:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kDelay = std::chrono::milliseconds(300);
  static constexpr auto kSlack = std::chrono::milliseconds(50);

  // Samples the broker until t0 + kDelay - kSlack: none of the samples may
  // show more lookups than `before` (nor more connections, if asked).
  // Returns how many samples fell inside the window (0 on a machine too
  // loaded to look in time: then this part checks nothing, the lower
  // bounds still do).
  int ExpectQuietUntil(Clock::time_point t0, const pulsarc_tb_stats &before, bool connections) {
    int samples = 0;
    for (;;) {
      pulsarc_tb_stats s = Stats();
      if (Clock::now() >= t0 + kDelay - kSlack)
        break; // the sample may postdate the delay: not evidence either way
      samples++;
      bool quiet = s.lookups == before.lookups && s.partition_lookups == before.partition_lookups &&
                   (!connections || s.connections == before.connections);
      if (!quiet) {
        ADD_FAILURE() << "looked up or connected before the startup delay: lookups "
                      << before.lookups << " -> " << s.lookups << ", partition lookups "
                      << before.partition_lookups << " -> " << s.partition_lookups
                      << ", connections " << before.connections << " -> " << s.connections;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return samples;
  }
};

TEST_F(StartupDelay, NoLookupBeforeTheDelay) {
  ProducerConf c;
  c.Set("startup_delay_ms", std::to_string(kDelay.count()));
  ReadyFlag ready;
  pulsarc_producer_t *p = nullptr;
  const pulsarc_tb_stats before = Stats();
  const Clock::time_point t0 = Clock::now(); // the delay starts later than this
  ASSERT_EQ(
      pulsarc_producer_create_cb(client_, "startup-delay", c.get(), ReadyFlag::Cb, &ready, &p),
      PULSARC_OK);
  producers_.push_back(p);
  EXPECT_EQ(before.connections, 0u);
  int quiet = ExpectQuietUntil(t0, before, true);
  ASSERT_TRUE(WaitUntil([&] { return Stats().lookups >= 1; }));
  EXPECT_GE(Clock::now() - t0, kDelay - kSlack) << "looked up before the startup delay";
  ASSERT_TRUE(WaitUntil([&] { return ready.done.load(); }));
  EXPECT_EQ(ready.err.load(), PULSARC_OK);
  EXPECT_EQ(SendWait(p, "after delay"), PULSARC_OK);

  // Reconnects wait for the delay too (on top of the backoff, 100 ms by
  // default: shorter than the delay, so this can fail).
  const pulsarc_tb_stats connected = Stats();
  const Clock::time_point t1 = Clock::now();
  pulsarc_tb_drop_connections(tb_);
  quiet += ExpectQuietUntil(t1, connected, false);
  ASSERT_TRUE(WaitUntil([&] { return Stats().lookups > connected.lookups; }));
  EXPECT_GE(Clock::now() - t1, kDelay - kSlack) << "reconnect lookup before the startup delay";
  EXPECT_EQ(SendWait(p, "after reconnect"), PULSARC_OK);
  std::printf("startup delay: %d samples inside the quiet windows\n", quiet);
}

TEST_F(StartupDelay, JitterStillStarts) {
  ProducerConf c;
  c.Set("startup_delay_ms", "10").Set("startup_jitter_ms", "50");
  pulsarc_producer_t *p = Create("startup-jitter", c.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(SendWait(p, "x"), PULSARC_OK);
}

} // namespace
} // namespace pulsarc_it
