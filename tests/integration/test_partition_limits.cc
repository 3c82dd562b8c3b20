// Per-partition pending limits: a partition whose broker is gone holds at
// most its share (min(max_pending_messages,
// max_pending_messages_across_partitions / N)) and only sends routed to it
// wait or fail; the other partitions keep publishing past
// max_pending_messages. The dead partition is a test broker that refuses
// its PRODUCER (ServiceNotReady) after closing it, as a broker that lost
// the topic's bundle would, so it keeps retrying and never registers.
#include <thread>

#include "harness.h"

extern "C" {
#include "client/topic.h"
}

namespace pulsarc_it {
namespace {

constexpr int kParts = 4;
constexpr int kDead = 3;
// max_pending_messages 40, across 100: each partition's share is 25, the
// producer's limit 100.
constexpr size_t kShare = 25;

class PartitionLimits : public BrokerTest {
public:
  // The dead partition's broker takes it again.
  void Revive() { pulsarc_tb_refuse_producers(tb_, nullptr, PULSARC_TB_UNKNOWN_ERROR); }

protected:
  void SetUp() override {
    BrokerTest::SetUp();
    // A key per partition, hashed as the producer does (java_string_hash,
    // the default); the message ids confirm it.
    keys_.assign(kParts, "");
    for (int i = 0, found = 0; found < kParts; i++) {
      std::string k = "key" + std::to_string(i);
      uint32_t part = (uint32_t)pc_java_string_hash(k.data(), k.size()) % kParts;
      if (keys_[part].empty()) {
        keys_[part] = k;
        found++;
      }
    }
  }
  static void Conf(ProducerConf &c, bool block, bool batching) {
    c.Set("max_pending_messages", "40")
        .Set("batching", batching ? "true" : "false")
        .Set("max_pending_messages_across_partitions", "100")
        .Set("block_if_queue_full", block ? "true" : "false")
        .Set("send_timeout_ms", "0")
        .Set("batch_max_delay_ms", "1")
        .Set("backoff_initial_ms", "20")
        .Set("backoff_max_ms", "100");
  }
  // Creates the producer, registers every partition (one keyed send each)
  // and then cuts partition kDead off for good: closed, and its PRODUCER
  // refused until Revive().
  pulsarc_producer_t *CreateWithDeadPartition(const std::string &topic, bool block,
                                              bool batching = true) {
    pulsarc_tb_set_partitions(tb_, topic.c_str(), kParts);
    ProducerConf c;
    Conf(c, block, batching);
    pulsarc_producer_t *p = Create(topic, c.get());
    if (p == nullptr)
      return nullptr;
    for (int k = 0; k < kParts; k++) {
      pulsarc_msg_id_t id;
      EXPECT_EQ(Send(p, k, "hello", &id), PULSARC_OK) << pulsarc_last_error_text();
      EXPECT_EQ(id.partition, k);
    }
    dead_ = topic + "-partition-" + std::to_string(kDead);
    uint64_t lookups = Stats().lookups;
    pulsarc_tb_refuse_producers(tb_, dead_.c_str(), PULSARC_TB_SERVICE_NOT_READY);
    EXPECT_EQ(pulsarc_tb_close_producers(tb_, dead_.c_str()), 1);
    // The producer took the close in: it is looking the partition up again.
    EXPECT_TRUE(WaitUntil([&] { return Stats().lookups > lookups; }));
    return p;
  }
  pulsarc_err_t Send(pulsarc_producer_t *p, int part, const std::string &payload,
                     pulsarc_msg_id_t *id) {
    MsgOpts o;
    o.Timeout(kWaitMs);
    EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys_[part].c_str()), PULSARC_OK);
    return pulsarc_producer_send(p, payload.data(), payload.size(), o.get(), id);
  }
  pulsarc_err_t SendCb(pulsarc_producer_t *p, int part, const std::string &payload,
                       Completions &done, size_t i) {
    MsgOpts o;
    EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys_[part].c_str()), PULSARC_OK);
    return pulsarc_producer_send_cb(p, payload.data(), payload.size(), o.get(), Completions::Cb,
                                    done.ctx(i));
  }
  uint64_t PartPending(pulsarc_producer_t *p, int part) {
    pulsarc_producer_stats_t s;
    EXPECT_EQ(pulsarc_producer_partition_stats(p, part, &s, sizeof s), PULSARC_OK);
    return s.pending_msgs;
  }
  size_t StoredIn(const std::string &topic, int part) {
    Snapshot s(tb_, topic + "-partition-" + std::to_string(part));
    return StoredMessages(s.get()).size();
  }

  // Completions outlive the producer (the fixture destroys it): a test
  // that stops early leaves callbacks to run at destroy.
  Completions &Keep(size_t n) {
    kept_.push_back(std::make_unique<Completions>(n));
    return *kept_.back();
  }

  std::vector<std::string> keys_;
  std::string dead_;
  std::vector<std::unique_ptr<Completions>> kept_;
};

// block_if_queue_full=false: only the dead partition's keys get QUEUE_FULL,
// once it holds its share; the live partitions take three times
// max_pending_messages meanwhile. Back, the dead one's messages complete.
TEST_F(PartitionLimits, DeadPartitionFailsOnlyItsOwnKeys) {
  const std::string topic = "pl-nonblocking";
  pulsarc_producer_t *p = CreateWithDeadPartition(topic, false);
  ASSERT_NE(p, nullptr);
  // First max_pending_messages sends to the dead partition: it takes its
  // share, the rest is refused. Then rounds of 5 messages to each live
  // partition and one more to the dead one: 450 live sends in all, over ten
  // times max_pending_messages; a round's 15 fit their partitions' shares
  // (not max_pending_messages beside the dead partition's messages).
  constexpr size_t kFirst = 40, kRounds = 30, kBurst = 5;
  Completions &live = Keep(kRounds * kBurst * (kParts - 1)), &dead = Keep(kFirst + kRounds);
  size_t dead_ok = 0, dead_full = 0, dead_sent = 0, live_sent = 0;
  auto send_dead = [&] {
    std::string m = "dead" + std::to_string(dead_sent);
    pulsarc_err_t e = SendCb(p, kDead, m, dead, dead_sent++);
    if (e == PULSARC_OK) {
      dead_ok++;
      return;
    }
    EXPECT_EQ(e, PULSARC_ERR_QUEUE_FULL) << pulsarc_err_name(e);
    EXPECT_NE(std::string(pulsarc_last_error_text()).find("partition 3"), std::string::npos)
        << pulsarc_last_error_text();
    dead_full++;
  };
  for (size_t i = 0; i < kFirst; i++)
    send_dead();
  EXPECT_EQ(dead_ok, kShare);
  for (size_t r = 0; r < kRounds; r++) {
    for (int k = 0; k < kParts; k++) {
      if (k == kDead) {
        send_dead();
        continue;
      }
      for (size_t b = 0; b < kBurst; b++) {
        std::string m = "r" + std::to_string(r) + "p" + std::to_string(k) + "b" + std::to_string(b);
        ASSERT_EQ(SendCb(p, k, m, live, live_sent++), PULSARC_OK)
            << "round " << r << " partition " << k << ": " << pulsarc_last_error_text();
      }
    }
    // The live partitions' receipts come back while the dead one holds its
    // share: each round waits for them.
    ASSERT_TRUE(live.WaitTotal(live_sent)) << "round " << r;
  }
  EXPECT_EQ(dead_ok, kShare);
  EXPECT_EQ(dead_full, kFirst + kRounds - kShare);
  for (size_t i = 0; i < live_sent; i++) {
    ASSERT_EQ(live.at(i).err.load(), PULSARC_OK) << "live message " << i;
    EXPECT_NE(live.at(i).id.partition, kDead);
  }
  EXPECT_EQ(dead.Total(), 0u) << "the dead partition completed a message";
  // Its stats hold what it was given (routing is asynchronous: bounded wait).
  EXPECT_TRUE(WaitUntil([&] { return PartPending(p, kDead) == kShare; })) << PartPending(p, kDead);
  EXPECT_EQ(PartPending(p, 0), 0u);

  Revive();
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(dead.Total(), kShare);
  for (size_t i = 0; i < kShare; i++) {
    EXPECT_EQ(dead.at(i).err.load(), PULSARC_OK) << "dead message " << i;
    EXPECT_EQ(dead.at(i).id.partition, kDead);
  }
  EXPECT_EQ(PartPending(p, kDead), 0u);
  // None lost: the first message of each partition plus what was accepted.
  for (int k = 0; k < kParts; k++)
    EXPECT_EQ(StoredIn(topic, k), 1 + (k == kDead ? kShare : kRounds * kBurst))
        << "partition " << k;
}

// block_if_queue_full=true: the thread sending the dead partition's key
// blocks once it holds its share; the live partitions' senders go on past
// max_pending_messages. Back, the blocked thread finishes.
TEST_F(PartitionLimits, DeadPartitionBlocksOnlyItsOwnSenders) {
  const std::string topic = "pl-blocking";
  pulsarc_producer_t *p = CreateWithDeadPartition(topic, true);
  ASSERT_NE(p, nullptr);
  constexpr size_t kDeadSends = 60; // past max_pending_messages
  Completions &dead = Keep(kDeadSends);
  std::atomic<size_t> returned{0};
  std::atomic<int> dead_err{PULSARC_OK};
  // Whatever happens, the partition comes back and the sender finishes
  // (bounded: the watchdog) before the test's locals go.
  struct Joiner {
    PartitionLimits *t;
    std::thread th;
    ~Joiner() {
      t->Revive();
      if (th.joinable())
        th.join();
    }
  } blocked{this, {}};
  blocked.th = std::thread([&] {
    for (size_t i = 0; i < kDeadSends; i++) {
      // No deadline: only room lets this return.
      MsgOpts o;
      EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys_[kDead].c_str()), PULSARC_OK);
      std::string m = "d" + std::to_string(i);
      pulsarc_err_t e =
          pulsarc_producer_send_cb(p, m.data(), m.size(), o.get(), Completions::Cb, dead.ctx(i));
      if (e != PULSARC_OK)
        dead_err = e;
      returned++;
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return returned.load() >= kShare; }));
  // 150 synchronous sends to the live partitions, each bounded by its own
  // deadline: before the split they all waited behind the dead partition.
  for (int i = 0; i < 150; i++) {
    pulsarc_msg_id_t id;
    int k = i % (kParts - 1);
    ASSERT_EQ(Send(p, k, "live" + std::to_string(i), &id), PULSARC_OK)
        << "send " << i << ": " << pulsarc_last_error_text();
    EXPECT_EQ(id.partition, k);
  }
  EXPECT_EQ(returned.load(), kShare) << "the dead partition's sender did not block at its share";

  Revive();
  ASSERT_TRUE(WaitUntil([&] { return returned.load() == kDeadSends; }));
  blocked.th.join();
  EXPECT_EQ(dead_err.load(), PULSARC_OK) << pulsarc_err_name((pulsarc_err_t)dead_err.load());
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(dead.Total(), kDeadSends);
  for (size_t i = 0; i < kDeadSends; i++)
    EXPECT_EQ(dead.at(i).err.load(), PULSARC_OK) << "dead message " << i;
  EXPECT_EQ(StoredIn(topic, kDead), 1 + kDeadSends);
  EXPECT_EQ(StoredIn(topic, 0) + StoredIn(topic, 1) + StoredIn(topic, 2), 3 + 150u);
}

// Messages without a key: round robin passes over the partition that lost
// its broker (it would hold a quarter of them until it came back).
TEST_F(PartitionLimits, RoundRobinSkipsTheDeadPartition) {
  const std::string topic = "pl-round-robin";
  // Without batching round robin moves on at every message.
  pulsarc_producer_t *p = CreateWithDeadPartition(topic, false, false);
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 100; i++) {
    MsgOpts o;
    o.Timeout(kWaitMs);
    pulsarc_msg_id_t id;
    std::string m = "rr" + std::to_string(i);
    ASSERT_EQ(pulsarc_producer_send(p, m.data(), m.size(), o.get(), &id), PULSARC_OK)
        << "send " << i << ": " << pulsarc_last_error_text();
    EXPECT_NE(id.partition, kDead);
  }
  EXPECT_EQ(PartPending(p, kDead), 0u);
  Revive();
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
}

// The share follows the partition count: min(max_pending_messages,
// across / N) with N as it is now.
TEST_F(PartitionLimits, ShareShrinksWhenPartitionsAreAdded) {
  const std::string topic = "pl-grow";
  pulsarc_tb_set_partitions(tb_, topic.c_str(), 2);
  ProducerConf c;
  c.Set("max_pending_messages", "40")
      .Set("max_pending_messages_across_partitions", "40")
      .Set("block_if_queue_full", "false")
      .Set("send_timeout_ms", "0")
      .Set("partitions_update_interval_ms", "200");
  pulsarc_producer_t *p = Create(topic, c.get());
  ASSERT_NE(p, nullptr);
  // With receipts held, a key takes its partition's share and no more.
  auto fill = [&](const std::string &key, Completions &done) {
    size_t ok = 0;
    pulsarc_tb_hold_receipts(tb_, true);
    for (size_t i = 0; i < done.size(); i++) {
      MsgOpts o;
      EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), key.c_str()), PULSARC_OK);
      if (pulsarc_producer_send_cb(p, "x", 1, o.get(), Completions::Cb, done.ctx(i)) == PULSARC_OK)
        ok++;
    }
    pulsarc_tb_hold_receipts(tb_, false);
    EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << pulsarc_last_error_text();
    EXPECT_TRUE(done.WaitTotal(ok));
    return ok;
  };
  Completions &two = Keep(30), &four = Keep(30);
  EXPECT_EQ(fill(keys_[0], two), 20u); // 40 / 2
  pulsarc_tb_set_partitions(tb_, topic.c_str(), 4);
  ASSERT_TRUE(pulsarc_tb_wait_producers(tb_, (topic + "-partition-3").c_str(), 1, kWaitMs));
  EXPECT_EQ(fill(keys_[3], four), 10u); // 40 / 4
  for (size_t i = 0; i < 10; i++) {
    EXPECT_EQ(four.at(i).err.load(), PULSARC_OK);
    EXPECT_EQ(four.at(i).id.partition, 3);
  }
}

} // namespace
} // namespace pulsarc_it
