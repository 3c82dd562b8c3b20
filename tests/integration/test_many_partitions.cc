// A partitioned topic of many partitions (issue #13 item 2). The poller
// looks only at the partitions on its active list (those with unsent
// messages or a resend to resume), so these tests are built so that a
// partition with work left off that list shows: its messages then wait for
// the batch delay (an hour here) or a flush, and the waits below, which
// never flush first, run out.
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::JavaStringHash;
using features::PartitionTopic;

constexpr int kParts = 256;

// Waits for n callbacks; if they do not all come, a flush (which seals every
// partition) completes the rest, so that no callback outlives `done`.
bool WaitAll(pulsarc_producer_t *p, Completions &done, size_t n) {
  if (done.WaitTotal(n))
    return true;
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  return false;
}

class ManyPartitions : public BrokerTest {
protected:
  int WatchdogSeconds() override { return 120; }

  pulsarc_producer_t *CreateOn(const std::string &topic, ProducerConf &c) {
    pulsarc_tb_set_partitions(tb_, topic.c_str(), kParts);
    c.Set("batch_max_delay_ms", "3600000").Set("send_timeout_ms", "20000");
    return Create(topic, c.get());
  }
  // Sends n keyless messages, then waits for their callbacks (no flush):
  // how many landed on each partition, by the ids the callbacks gave.
  std::vector<int> SendSpread(pulsarc_producer_t *p, size_t n) {
    Completions done(n);
    for (size_t i = 0; i < n; i++) {
      std::string m = "m" + std::to_string(i);
      EXPECT_EQ(
          pulsarc_producer_send_cb(p, m.data(), m.size(), nullptr, Completions::Cb, done.ctx(i)),
          PULSARC_OK);
    }
    EXPECT_TRUE(WaitAll(p, done, n)) << done.Total() << " of " << n << " completed";
    std::vector<int> per(kParts, 0);
    for (size_t i = 0; i < n && i < done.Total(); i++) {
      EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << "message " << i;
      int k = done.at(i).id.partition;
      if (k >= 0 && k < kParts)
        per[static_cast<size_t>(k)]++;
    }
    return per;
  }
  std::vector<uint64_t> Stored(const std::string &topic) {
    std::vector<uint64_t> v;
    for (int i = 0; i < kParts; i++)
      v.push_back(TopicStats(PartitionTopic(topic, i)).messages);
    return v;
  }
  // Keys whose JavaStringHash covers every partition, one key each.
  static std::vector<std::string> KeyPerPartition() {
    std::vector<std::string> keys(kParts);
    int found = 0;
    for (int i = 0; found < kParts; i++) {
      std::string k = "key-" + std::to_string(i);
      std::string &slot = keys[static_cast<size_t>(JavaStringHash(k) % kParts)];
      if (slot.empty()) {
        slot = k;
        found++;
      }
    }
    return keys;
  }
};

// Keyless round robin reaches every partition, one message per entry
// (batching off) and in full batches (batching on, switching partition once
// per batch of 2), and the callbacks come without a flush.
TEST_F(ManyPartitions, KeylessMessagesReachEveryPartitionWithoutAFlush) {
  for (int batching = 0; batching <= 1; batching++) {
    const std::string topic = batching ? "mp-rr-batched" : "mp-rr-single";
    ProducerConf c;
    c.Set("batching", batching ? "true" : "false").Set("batch_max_messages", "2");
    pulsarc_producer_t *p = CreateOn(topic, c);
    ASSERT_NE(p, nullptr);
    const int each = 4;
    std::vector<int> per = SendSpread(p, static_cast<size_t>(kParts * each));
    for (int k = 0; k < kParts; k++)
      EXPECT_EQ(per[static_cast<size_t>(k)], each) << topic << " partition " << k;
    std::vector<uint64_t> stored = Stored(topic);
    for (int k = 0; k < kParts; k++)
      EXPECT_EQ(stored[static_cast<size_t>(k)], static_cast<uint64_t>(each))
          << topic << " partition " << k;
    // One more round (a batch each), after every partition went idle and
    // left the list.
    per = SendSpread(p, static_cast<size_t>(kParts * 2));
    for (int k = 0; k < kParts; k++)
      EXPECT_EQ(per[static_cast<size_t>(k)], 2) << topic << " partition " << k << " (round 2)";
  }
}

// A key per partition: asynchronous sends (batching off) and blocking sends
// (batching on: group commit seals each one, the batch delay is an hour)
// land where the key hashes; then a flush and a close of messages left in
// open batches on every partition complete.
TEST_F(ManyPartitions, KeyedSendsFlushAndCloseCoverEveryPartition) {
  const std::vector<std::string> keys = KeyPerPartition();
  {
    ProducerConf c;
    c.Set("batching", "false");
    pulsarc_producer_t *p = CreateOn("mp-keyed-single", c);
    ASSERT_NE(p, nullptr);
    Completions done(keys.size());
    for (size_t i = 0; i < keys.size(); i++) {
      MsgOpts o;
      ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys[i].c_str()), PULSARC_OK);
      ASSERT_EQ(pulsarc_producer_send_cb(p, "k", 1, o.get(), Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    }
    ASSERT_TRUE(WaitAll(p, done, keys.size())) << done.Total() << " of " << keys.size();
    for (size_t i = 0; i < keys.size(); i++) {
      EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << keys[i];
      EXPECT_EQ(done.at(i).id.partition, static_cast<int>(i)) << keys[i];
    }
  }
  ProducerConf c;
  pulsarc_producer_t *p = CreateOn("mp-keyed-batched", c);
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < keys.size(); i++) {
    MsgOpts o;
    ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys[i].c_str()), PULSARC_OK);
    pulsarc_msg_id_t id{};
    ASSERT_EQ(pulsarc_producer_send(p, "b", 1, o.get(), &id), PULSARC_OK) << keys[i];
    EXPECT_EQ(id.partition, static_cast<int>(i)) << keys[i];
  }
  // Open batches on every partition: only the flush (or the hour) seals them.
  Completions open(keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    MsgOpts o;
    ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys[i].c_str()), PULSARC_OK);
    ASSERT_EQ(pulsarc_producer_send_cb(p, "f", 1, o.get(), Completions::Cb, open.ctx(i)),
              PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(open.Total(), keys.size());
  for (size_t i = 0; i < keys.size(); i++)
    EXPECT_EQ(open.at(i).id.partition, static_cast<int>(i)) << keys[i];
  Completions closing(keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    MsgOpts o;
    ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys[i].c_str()), PULSARC_OK);
    ASSERT_EQ(pulsarc_producer_send_cb(p, "c", 1, o.get(), Completions::Cb, closing.ctx(i)),
              PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_TRUE(closing.WaitTotal(keys.size()));
  for (size_t i = 0; i < keys.size(); i++)
    EXPECT_EQ(closing.at(i).err.load(), PULSARC_OK) << keys[i];
  std::vector<uint64_t> stored = Stored("mp-keyed-batched");
  for (int k = 0; k < kParts; k++)
    EXPECT_EQ(stored[static_cast<size_t>(k)], 3u) << "partition " << k;
}

// Entries pending on every partition when the connection drops are resent
// on the new one (the broker stored them before, holding the receipts, and
// counts the resent ones as duplicates), and the partitions then take new
// messages again without a flush.
TEST_F(ManyPartitions, ResendAfterReconnectReachesEveryPartition) {
  ProducerConf c;
  c.Set("batching", "false").Set("backoff_initial_ms", "20");
  pulsarc_producer_t *p = CreateOn("mp-resend", c);
  ASSERT_NE(p, nullptr);
  const size_t n = 2 * kParts;
  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(n);
  for (size_t i = 0; i < n; i++) {
    std::string m = "m" + std::to_string(i);
    ASSERT_EQ(
        pulsarc_producer_send_cb(p, m.data(), m.size(), nullptr, Completions::Cb, done.ctx(i)),
        PULSARC_OK);
  }
  const bool stored = WaitUntil([&] { return Stats().messages >= n; });
  EXPECT_TRUE(stored) << Stats().messages << " of " << n << " stored";
  if (!stored) {
    pulsarc_tb_hold_receipts(tb_, false);
    WaitAll(p, done, n); // no callback may outlive `done`
    return;
  }
  EXPECT_EQ(done.Total(), 0u);
  pulsarc_tb_drop_connections(tb_); // the held receipts are lost
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(WaitAll(p, done, n)) << done.Total() << " of " << n;
  for (size_t i = 0; i < n; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << "message " << i;
  for (int k = 0; k < kParts; k++) {
    pulsarc_tb_topic_stats s = TopicStats(PartitionTopic("mp-resend", k));
    EXPECT_EQ(s.messages, 2u) << "partition " << k;
    EXPECT_EQ(s.duplicates, 2u) << "partition " << k << ": not resent";
  }
  std::vector<int> per = SendSpread(p, kParts);
  for (int k = 0; k < kParts; k++)
    EXPECT_EQ(per[static_cast<size_t>(k)], 1) << "partition " << k << " after the reconnect";
}

} // namespace
} // namespace pulsarc_it
