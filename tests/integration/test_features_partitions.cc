// Partitioned topics: routing modes (round robin, single partition, custom
// router), key hashing (JavaStringHash by default, Murmur3_32 as option,
// computed here independently), key-based batching, lazy start of
// partition producers and discovery of added partitions.
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::JavaStringHash;
using features::Murmur3;
using features::PartitionTopic;
using features::RoutingKeys;
using features::SendWait;

class Partitions : public BrokerTest {
protected:
  // Messages stored per partition of topic (n partitions).
  std::vector<uint64_t> PerPartition(const std::string &topic, int n) {
    std::vector<uint64_t> v;
    for (int i = 0; i < n; i++)
      v.push_back(TopicStats(PartitionTopic(topic, i)).messages);
    return v;
  }
  // payload -> partition, from the snapshots of n partitions.
  std::map<std::string, int> WhereStored(const std::string &topic, int n) {
    std::map<std::string, int> where;
    for (int i = 0; i < n; i++) {
      Snapshot s(tb_, PartitionTopic(topic, i));
      for (const StoredMsg &m : StoredMessages(s.get()))
        where[m.payload] = i;
    }
    return where;
  }
  // Sends payload i with key keys[i] (if any) and waits for all.
  std::unique_ptr<Completions> SendKeyed(pulsarc_producer_t *p,
                                         const std::vector<std::string> &keys) {
    auto done = std::make_unique<Completions>(keys.size());
    for (size_t i = 0; i < keys.size(); i++) {
      MsgOpts o;
      EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), keys[i].c_str()), PULSARC_OK);
      std::string payload = "m" + std::to_string(i);
      EXPECT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), o.get(),
                                         Completions::Cb, done->ctx(i)),
                PULSARC_OK);
    }
    EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
    return done;
  }
  void ExpectKeysRouted(const std::string &topic, int n, const std::vector<std::string> &keys,
                        Completions &done, bool murmur) {
    std::map<std::string, int> where = WhereStored(topic, n);
    ASSERT_EQ(where.size(), keys.size());
    for (size_t i = 0; i < keys.size(); i++) {
      int want = (murmur ? Murmur3(keys[i]) : JavaStringHash(keys[i])) % n;
      EXPECT_EQ(where["m" + std::to_string(i)], want) << "key " << keys[i];
      EXPECT_EQ(done.at(i).id.partition, want) << "key " << keys[i];
    }
  }
};

TEST_F(Partitions, KeysGoToJavaStringHashByDefault) {
  const int n = 7;
  pulsarc_tb_set_partitions(tb_, "route-java", n);
  pulsarc_producer_t *p = Create("route-java");
  ASSERT_NE(p, nullptr);
  std::vector<std::string> keys = RoutingKeys(300);
  auto done = SendKeyed(p, keys);
  ExpectKeysRouted("route-java", n, keys, *done, false);
  // Spot values of Java's "".hashCode() family, as a check of the helper.
  EXPECT_EQ(JavaStringHash("a"), 97);
  EXPECT_EQ(JavaStringHash("ab"), 97 * 31 + 98);
}

TEST_F(Partitions, KeysGoToMurmur3WhenChosen) {
  const int n = 5;
  pulsarc_tb_set_partitions(tb_, "route-murmur", n);
  ProducerConf c;
  c.Set("hashing", "murmur3_32");
  pulsarc_producer_t *p = Create("route-murmur", c.get());
  ASSERT_NE(p, nullptr);
  std::vector<std::string> keys = RoutingKeys(300);
  auto done = SendKeyed(p, keys);
  ExpectKeysRouted("route-murmur", n, keys, *done, true);
  // Known vectors of Murmur3 x86_32 seed 0.
  EXPECT_EQ(Murmur3(""), 0);
  EXPECT_EQ(static_cast<uint32_t>(Murmur3("hello")), 0x248bfa47u & 0x7fffffffu);
}

TEST_F(Partitions, SinglePartitionModeUsesOnePartitionButKeysStillHash) {
  const int n = 4;
  pulsarc_tb_set_partitions(tb_, "route-single", n);
  ProducerConf c;
  c.Set("routing_mode", "single_partition").Set("batch_max_messages", "5");
  pulsarc_producer_t *p = Create("route-single", c.get());
  ASSERT_NE(p, nullptr);
  Completions done(50);
  for (size_t i = 0; i < 50; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, "x", 1, nullptr, Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  std::vector<uint64_t> per = PerPartition("route-single", n);
  int used = 0, which = -1;
  for (int i = 0; i < n; i++)
    if (per[static_cast<size_t>(i)] > 0) {
      used++;
      which = i;
    }
  EXPECT_EQ(used, 1) << "keyless messages spread over several partitions";
  for (size_t i = 0; i < 50; i++)
    EXPECT_EQ(done.at(i).id.partition, which);
  // A keyed message still goes where its key hashes.
  std::vector<std::string> keys = RoutingKeys(20);
  auto kd = SendKeyed(p, keys);
  for (size_t i = 0; i < keys.size(); i++)
    EXPECT_EQ(kd->at(i).id.partition, JavaStringHash(keys[i]) % n) << keys[i];
}

struct RouterCtx {
  std::atomic<int> calls{0};
};

int TestRouter(const char *key, size_t key_len, int num_partitions, void *ctx) {
  static_cast<RouterCtx *>(ctx)->calls++;
  if (key == nullptr)
    return num_partitions - 1;
  if (key_len == 3 && std::memcmp(key, "bad", 3) == 0)
    return num_partitions; // out of range
  return key[key_len - 1] - '0';
}

TEST_F(Partitions, CustomRouterIsHonoured) {
  const int n = 4;
  pulsarc_tb_set_partitions(tb_, "route-custom", n);
  RouterCtx rc;
  ProducerConf c;
  c.Set("batching", "false");
  ASSERT_EQ(pulsarc_producer_conf_set_router(c.get(), TestRouter, &rc), PULSARC_OK);
  c.Set("routing_mode", "custom");
  pulsarc_producer_t *p = Create("route-custom", c.get());
  ASSERT_NE(p, nullptr);
  std::vector<std::string> keys = {"k0", "k1", "k2", "k3", "x2", "y0"};
  auto done = SendKeyed(p, keys);
  std::map<std::string, int> where = WhereStored("route-custom", n);
  for (size_t i = 0; i < keys.size(); i++) {
    int want = keys[i].back() - '0';
    EXPECT_EQ(where["m" + std::to_string(i)], want) << keys[i];
    EXPECT_EQ(done->at(i).id.partition, want) << keys[i];
  }
  pulsarc_msg_id_t id{};
  ASSERT_EQ(SendWait(p, "keyless", nullptr, &id), PULSARC_OK);
  EXPECT_EQ(id.partition, n - 1);
  MsgOpts bad;
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(bad.get(), "bad"), PULSARC_OK);
  EXPECT_EQ(SendWait(p, "nowhere", bad.get()), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_GE(rc.calls.load(), 8);

  ProducerConf nofn;
  nofn.Set("routing_mode", "custom");
  pulsarc_producer_t *q = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "route-custom", nofn.get(), &q), PULSARC_ERR_CONFLICT);
}

// Issue #3: keyless messages spread evenly, switching partition per batch
// (not per message): every partition is within one batch of even.
TEST_F(Partitions, RoundRobinSpreadsKeylessMessagesEvenly) {
  const int n = 4;
  const size_t total = 10000;
  for (int batching = 1; batching >= 0; batching--) {
    const std::string topic = batching ? "route-rr-batched" : "route-rr-single";
    pulsarc_tb_set_partitions(tb_, topic.c_str(), n);
    ProducerConf c;
    c.Set("batching", batching ? "true" : "false").Set("max_pending_messages", "20000");
    pulsarc_producer_t *p = Create(topic, c.get());
    ASSERT_NE(p, nullptr);
    Completions done(total);
    for (size_t i = 0; i < total; i++)
      ASSERT_EQ(pulsarc_producer_send_cb(p, "rr", 2, nullptr, Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    ASSERT_EQ(pulsarc_producer_flush(p, 20000), PULSARC_OK);
    std::vector<uint64_t> per = PerPartition(topic, n);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
      sum += per[static_cast<size_t>(i)];
      const uint64_t slack = batching ? 1000 : 0; /* batch_max_messages */
      EXPECT_GE(per[static_cast<size_t>(i)] + slack, total / n)
          << topic << " partition " << i << " (batching " << batching << ")";
      EXPECT_LE(per[static_cast<size_t>(i)], total / n + slack)
          << topic << " partition " << i << " (batching " << batching << ")";
    }
    EXPECT_EQ(sum, total);
  }
}

TEST_F(Partitions, KeyBasedBatchingPutsOneKeyPerEntry) {
  ProducerConf c;
  c.Set("key_based_batching", "true").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("kbb", c.get());
  ASSERT_NE(p, nullptr);
  std::vector<std::string> keys;
  for (int i = 0; i < 40; i++)
    keys.push_back("key" + std::to_string(i % 4));
  auto done = SendKeyed(p, keys);
  for (size_t i = 0; i < keys.size(); i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK);
  Snapshot s(tb_, "kbb");
  EXPECT_GE(s->num_entries, 4u);
  std::map<std::string, std::vector<int>> order;
  size_t count = 0;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    ASSERT_NE(e.partition_key, nullptr) << "entry " << i;
    const std::string ek = e.partition_key;
    for (size_t j = 0; j < e.num_listed; j++) {
      const pulsarc_tb_message &m = e.messages[j];
      ASSERT_NE(m.partition_key, nullptr);
      EXPECT_EQ(std::string(m.partition_key), ek) << "entry " << i << " mixes keys";
      std::string payload(reinterpret_cast<const char *>(m.payload), m.payload_len);
      order[ek].push_back(std::atoi(payload.c_str() + 1));
      count++;
    }
  }
  EXPECT_EQ(count, keys.size());
  for (auto &kv : order) // per-key order kept
    EXPECT_TRUE(std::is_sorted(kv.second.begin(), kv.second.end())) << kv.first;
}

TEST_F(Partitions, LazyStartRegistersAPartitionOnItsFirstMessage) {
  const int n = 4;
  pulsarc_tb_set_partitions(tb_, "lazy", n);
  RouterCtx rc;
  ProducerConf c;
  c.Set("lazy_start_partitions", "true").Set("batching", "false");
  ASSERT_EQ(pulsarc_producer_conf_set_router(c.get(), TestRouter, &rc), PULSARC_OK);
  pulsarc_producer_t *p = Create("lazy", c.get());
  ASSERT_NE(p, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Stats().producers_created, 0u) << "a partition registered before any message";
  EXPECT_EQ(Stats().lookups, 0u);

  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), "k2"), PULSARC_OK);
  pulsarc_msg_id_t id{};
  ASSERT_EQ(SendWait(p, "to 2", o.get(), &id), PULSARC_OK);
  EXPECT_EQ(id.partition, 2);
  EXPECT_EQ(Stats().producers_created, 1u);
  for (int i = 0; i < n; i++)
    EXPECT_EQ(TopicStats(PartitionTopic("lazy", i)).producers_open, i == 2 ? 1u : 0u) << i;
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), "k0"), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "to 0", o.get(), &id), PULSARC_OK);
  EXPECT_EQ(id.partition, 0);
  EXPECT_EQ(Stats().producers_created, 2u);
}

TEST_F(Partitions, AddedPartitionsAreDiscoveredAndNeverDropped) {
  pulsarc_tb_set_partitions(tb_, "grow", 2);
  ProducerConf c;
  c.Set("partitions_update_interval_ms", "200").Set("batching", "false");
  pulsarc_producer_t *p = Create("grow", c.get());
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(SendWait(p, "before"), PULSARC_OK);
  pulsarc_tb_set_partitions(tb_, "grow", 4);
  ASSERT_TRUE(pulsarc_tb_wait_producers(tb_, PartitionTopic("grow", 2).c_str(), 1, kWaitMs));
  ASSERT_TRUE(pulsarc_tb_wait_producers(tb_, PartitionTopic("grow", 3).c_str(), 1, kWaitMs));
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(SendWait(p, "after"), PULSARC_OK);
  std::vector<uint64_t> per = PerPartition("grow", 4);
  EXPECT_GT(per[2], 0u);
  EXPECT_GT(per[3], 0u);

  // Shrinking is ignored (grow only): after two more updates, all four
  // partitions are still used.
  pulsarc_tb_set_partitions(tb_, "grow", 1);
  const uint64_t reads = Stats().partition_lookups;
  WaitUntil([&] { return Stats().partition_lookups >= reads + 2; });
  ASSERT_GE(Stats().partition_lookups, reads + 2);
  std::vector<uint64_t> mid = PerPartition("grow", 4);
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(SendWait(p, "shrunk"), PULSARC_OK);
  std::vector<uint64_t> end = PerPartition("grow", 4);
  for (size_t i = 0; i < 4; i++)
    EXPECT_EQ(end[i], mid[i] + 2) << "partition " << i;
}

} // namespace
} // namespace pulsarc_it
