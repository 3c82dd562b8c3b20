// Batching, seen from the entries the broker stores, and per-message options
// arriving on batched and unbatched messages.
#include <sys/time.h>

#include <map>

#include "harness.h"

namespace pulsarc_it {
namespace {

class Batching : public BrokerTest {};

// Sends n messages "<prefix><i>" with send_cb; returns the recorder.
std::unique_ptr<Completions> SendMany(pulsarc_producer_t *p, const std::string &prefix, int n,
                                      const pulsarc_msg_opts_t *opts = nullptr, size_t pad_to = 0) {
  auto done = std::make_unique<Completions>(n);
  for (int i = 0; i < n; i++) {
    std::string payload = prefix + std::to_string(i);
    if (payload.size() < pad_to)
      payload.resize(pad_to, '.');
    EXPECT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), opts, Completions::Cb,
                                       done->ctx(i)),
              PULSARC_OK);
  }
  return done;
}

void ExpectAllOk(Completions &done) {
  for (size_t i = 0; i < done.size(); i++) {
    EXPECT_EQ(done.at(i).calls.load(), 1) << "message " << i;
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << "message " << i;
  }
}

// 4a. Count limit: 35 messages with batch_max_messages=10 -> 10,10,10,5.
TEST_F(Batching, EntryBoundariesFollowMaxMessages) {
  ProducerConf c;
  c.Set("batch_max_messages", "10").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("batch-count", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendMany(p, "m", 35);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_EQ(done->Total(), 35u) << "flush returned before every message completed";
  ExpectAllOk(*done);
  Snapshot s(tb_, "batch-count");
  std::vector<int> sizes;
  for (size_t i = 0; i < s->num_entries; i++)
    sizes.push_back(s->entries[i].num_messages);
  EXPECT_EQ(sizes, (std::vector<int>{10, 10, 10, 5}));
  for (size_t i = 0; i < s->num_entries; i++) {
    EXPECT_TRUE(s->entries[i].is_batch) << "entry " << i;
    EXPECT_EQ(s->entries[i].num_listed, static_cast<size_t>(s->entries[i].num_messages));
    EXPECT_FALSE(s->entries[i].batch_malformed);
  }
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 35u);
  for (int i = 0; i < 35; i++) {
    EXPECT_EQ(msgs[i].payload, "m" + std::to_string(i));
    const pulsarc_msg_id_t &id = done->at(i).id;
    EXPECT_EQ(id.entry_id, msgs[i].entry_id) << i;
    EXPECT_EQ(id.ledger_id, msgs[i].ledger_id) << i;
    EXPECT_EQ(id.batch_index, i % 10) << i;
    EXPECT_EQ(id.partition, -1);
  }
  EXPECT_EQ(Stats().malformed_batches, 0u);
}

// 4b. Byte limit: batches never hold more payload bytes than batch_max_bytes.
TEST_F(Batching, EntriesRespectMaxBytes) {
  ProducerConf c;
  c.Set("batch_max_bytes", "1000").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("batch-bytes", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendMany(p, "b", 50, nullptr, 100); // 100-byte payloads
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ExpectAllOk(*done);
  Snapshot s(tb_, "batch-bytes");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 50u);
  EXPECT_GE(s->num_entries, 5u) << "5000 payload bytes cannot fit fewer than 5 batches of 1000";
  size_t multi = 0;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    size_t bytes = 0;
    for (size_t j = 0; j < e.num_listed; j++)
      bytes += e.messages[j].payload_len;
    EXPECT_LE(bytes, 1000u) << "entry " << i << " holds " << e.num_messages << " messages";
    if (e.num_messages > 1)
      multi++;
  }
  EXPECT_GT(multi, 0u) << "byte limit stopped batching altogether";
  for (int i = 0; i < 50; i++) {
    std::string want = "b" + std::to_string(i);
    want.resize(100, '.');
    EXPECT_EQ(msgs[i].payload, want) << i;
  }
}

// A message larger than batch_max_bytes still goes (alone).
TEST_F(Batching, MessageLargerThanMaxBytesSentAlone) {
  ProducerConf c;
  c.Set("batch_max_bytes", "100").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("batch-bytes-big", c.get());
  ASSERT_NE(p, nullptr);
  std::string big(500, 'B');
  Completions done(1);
  ASSERT_EQ(
      pulsarc_producer_send_cb(p, big.data(), big.size(), nullptr, Completions::Cb, done.ctx(0)),
      PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ExpectAllOk(done);
  Snapshot s(tb_, "batch-bytes-big");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, big);
}

// 4c. A partial batch leaves after batch_max_delay_ms without flush/close.
TEST_F(Batching, PartialBatchLeavesAfterDelay) {
  ProducerConf c;
  c.Set("batch_max_messages", "1000").Set("batch_max_delay_ms", "50");
  pulsarc_producer_t *p = Create("batch-delay", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendMany(p, "d", 3);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "batch-delay", 3, kWaitMs))
      << "a partial batch never left without flush";
  ASSERT_TRUE(done->WaitTotal(3));
  ExpectAllOk(*done);
  Snapshot s(tb_, "batch-delay");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 3u);
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(msgs[i].payload, "d" + std::to_string(i));
}

// 4d. batching=false: one entry per message, batch_index -1.
TEST_F(Batching, NoBatchingOneEntryPerMessage) {
  ProducerConf c;
  c.Set("batching", "false");
  pulsarc_producer_t *p = Create("batch-off", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendMany(p, "n", 20);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ExpectAllOk(*done);
  Snapshot s(tb_, "batch-off");
  ASSERT_EQ(s->num_entries, 20u);
  for (size_t i = 0; i < 20; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    EXPECT_FALSE(e.is_batch) << i;
    EXPECT_EQ(e.num_messages, 1) << i;
    ASSERT_EQ(e.num_listed, 1u);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(e.messages[0].payload),
                          e.messages[0].payload_len),
              "n" + std::to_string(i));
    const pulsarc_msg_id_t &id = done->at(i).id;
    EXPECT_EQ(id.batch_index, -1) << i;
    EXPECT_EQ(id.entry_id, e.entry_id) << i;
    EXPECT_EQ(id.ledger_id, e.ledger_id) << i;
  }
}

// ---------------------------------------------------------- message options

struct Meta {
  std::string partition_key;
  bool has_partition_key = false;
  std::string ordering_key;
  bool has_ordering_key = false;
  std::vector<std::pair<std::string, std::string>> props;
  uint64_t event_time = 0;
};

// The metadata that applies to a stored message: the batch member's own for
// a batch, the entry's otherwise.
Meta MetaOf(const StoredMsg &m) {
  Meta r;
  const char *pk;
  const pulsarc_tb_kv *kv;
  size_t nkv;
  if (m.entry->is_batch) {
    pk = m.msg->partition_key;
    r.has_ordering_key = m.msg->has_ordering_key;
    if (r.has_ordering_key)
      r.ordering_key.assign(reinterpret_cast<const char *>(m.msg->ordering_key),
                            m.msg->ordering_key_len);
    kv = m.msg->properties;
    nkv = m.msg->num_properties;
    r.event_time = m.msg->event_time;
  } else {
    pk = m.entry->partition_key;
    r.has_ordering_key = m.entry->has_ordering_key;
    if (r.has_ordering_key)
      r.ordering_key.assign(reinterpret_cast<const char *>(m.entry->ordering_key),
                            m.entry->ordering_key_len);
    kv = m.entry->properties;
    nkv = m.entry->num_properties;
    r.event_time = m.entry->event_time;
  }
  if (pk != nullptr) {
    r.has_partition_key = true;
    r.partition_key = pk;
  }
  for (size_t i = 0; i < nkv; i++)
    r.props.emplace_back(kv[i].key, kv[i].value);
  return r;
}

void CheckOptions(pulsarc_tb *tb, pulsarc_producer_t *p, const std::string &topic) {
  const std::string okey("ord\0key", 7); // binary ordering key
  pulsarc_msg_opts_t *o = pulsarc_msg_opts_new();
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o, "pk-1"), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_ordering_key(o, okey.data(), okey.size()), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_add_property(o, "color", "blue"), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_add_property(o, "empty", ""), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_event_time(o, INT64_C(1700000000123)), PULSARC_OK);
  Completions done(4);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "with-opts", 9, o, Completions::Cb, done.ctx(0)),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "plain", 5, nullptr, Completions::Cb, done.ctx(1)),
            PULSARC_OK);
  // The options object is reusable and read during the call only.
  pulsarc_msg_opts_clear(o);
  ASSERT_EQ(pulsarc_msg_opts_add_property(o, "n", "2"), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "prop-only", 9, o, Completions::Cb, done.ctx(2)),
            PULSARC_OK);
  pulsarc_msg_opts_destroy(o); // destroyed before the send completes
  o = pulsarc_msg_opts_new();
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o, "pk-2"), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "key-only", 8, o, Completions::Cb, done.ctx(3)),
            PULSARC_OK);
  pulsarc_msg_opts_destroy(o);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ExpectAllOk(done);

  Snapshot s(tb, topic);
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 4u);
  Meta m0 = MetaOf(msgs[0]);
  EXPECT_EQ(msgs[0].payload, "with-opts");
  EXPECT_TRUE(m0.has_partition_key);
  EXPECT_EQ(m0.partition_key, "pk-1");
  EXPECT_TRUE(m0.has_ordering_key);
  EXPECT_EQ(m0.ordering_key, okey);
  EXPECT_EQ(m0.props,
            (std::vector<std::pair<std::string, std::string>>{{"color", "blue"}, {"empty", ""}}));
  EXPECT_EQ(m0.event_time, 1700000000123ull);

  Meta m1 = MetaOf(msgs[1]);
  EXPECT_EQ(msgs[1].payload, "plain");
  EXPECT_FALSE(m1.has_partition_key) << m1.partition_key;
  EXPECT_FALSE(m1.has_ordering_key);
  EXPECT_TRUE(m1.props.empty());
  EXPECT_EQ(m1.event_time, 0u);

  Meta m2 = MetaOf(msgs[2]);
  EXPECT_EQ(msgs[2].payload, "prop-only");
  EXPECT_FALSE(m2.has_partition_key);
  EXPECT_EQ(m2.props, (std::vector<std::pair<std::string, std::string>>{{"n", "2"}}));

  Meta m3 = MetaOf(msgs[3]);
  EXPECT_EQ(msgs[3].payload, "key-only");
  EXPECT_EQ(m3.partition_key, "pk-2");
  EXPECT_TRUE(m3.props.empty());
}

// 5. Options arrive on batched messages...
TEST_F(Batching, MessageOptionsArriveBatched) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("opts-batched", c.get());
  ASSERT_NE(p, nullptr);
  CheckOptions(tb_, p, "opts-batched");
  Snapshot s(tb_, "opts-batched");
  ASSERT_GE(s->num_entries, 1u);
  EXPECT_TRUE(s->entries[0].is_batch);
}

// ...and on unbatched ones.
TEST_F(Batching, MessageOptionsArriveUnbatched) {
  ProducerConf c;
  c.Set("batching", "false");
  pulsarc_producer_t *p = Create("opts-unbatched", c.get());
  ASSERT_NE(p, nullptr);
  CheckOptions(tb_, p, "opts-unbatched");
  Snapshot s(tb_, "opts-unbatched");
  EXPECT_EQ(s->num_entries, 4u);
}

int64_t WallMs() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

// Delayed delivery: such messages go alone, with deliver_at_time set.
TEST_F(Batching, DeliverAtAndAfterSentAlone) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("deliver-at", c.get());
  ASSERT_NE(p, nullptr);
  const int64_t at = WallMs() + 3600 * 1000;
  pulsarc_msg_opts_t *o_at = pulsarc_msg_opts_new();
  ASSERT_EQ(pulsarc_msg_opts_set_deliver_at(o_at, at), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_add_property(o_at, "kind", "at"), PULSARC_OK);
  pulsarc_msg_opts_t *o_after = pulsarc_msg_opts_new();
  ASSERT_EQ(pulsarc_msg_opts_set_deliver_after(o_after, 60000), PULSARC_OK);

  Completions done(5);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "before", 6, nullptr, Completions::Cb, done.ctx(0)),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "at", 2, o_at, Completions::Cb, done.ctx(1)), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "between", 7, nullptr, Completions::Cb, done.ctx(2)),
            PULSARC_OK);
  const int64_t t0 = WallMs();
  ASSERT_EQ(pulsarc_producer_send_cb(p, "after", 5, o_after, Completions::Cb, done.ctx(3)),
            PULSARC_OK);
  const int64_t t1 = WallMs();
  ASSERT_EQ(pulsarc_producer_send_cb(p, "last", 4, nullptr, Completions::Cb, done.ctx(4)),
            PULSARC_OK);
  pulsarc_msg_opts_destroy(o_at);
  pulsarc_msg_opts_destroy(o_after);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ExpectAllOk(done);

  Snapshot s(tb_, "deliver-at");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 5u);
  std::map<std::string, const StoredMsg *> by;
  for (auto &m : msgs)
    by[m.payload] = &m;
  for (const char *name : {"at", "after"}) {
    ASSERT_TRUE(by.count(name)) << name;
    const pulsarc_tb_entry *e = by[name]->entry;
    EXPECT_FALSE(e->is_batch) << name << " was batched";
    EXPECT_EQ(e->num_messages, 1) << name;
    EXPECT_TRUE(e->has_deliver_at_time) << name;
  }
  EXPECT_EQ(by["at"]->entry->deliver_at_time, at);
  ASSERT_EQ(by["at"]->entry->num_properties, 1u);
  EXPECT_STREQ(by["at"]->entry->properties[0].key, "kind");
  EXPECT_GE(by["after"]->entry->deliver_at_time, t0 + 60000);
  EXPECT_LE(by["after"]->entry->deliver_at_time, t1 + 60000);
  EXPECT_EQ(done.at(1).id.batch_index, -1);
  EXPECT_EQ(done.at(3).id.batch_index, -1);
  for (const char *name : {"before", "between", "last"}) {
    ASSERT_TRUE(by.count(name)) << name;
    EXPECT_FALSE(by[name]->entry->has_deliver_at_time) << name;
  }
  // Order is kept around the lone messages.
  std::vector<std::string> order;
  for (auto &m : msgs)
    order.push_back(m.payload);
  EXPECT_EQ(order, (std::vector<std::string>{"before", "at", "between", "after", "last"}));
}

} // namespace
} // namespace pulsarc_it
