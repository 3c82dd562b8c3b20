// Schemas (sent in CommandProducer, the returned version stamped on every
// message, IncompatibleSchema named and fatal) and producer access modes
// (Exclusive, WaitForExclusive, ExclusiveWithFencing) between two producers.
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::SendWait;

// The test broker's versions: 8 bytes, big-endian, numbered per topic in
// order of first appearance of a (type, definition) pair.
std::string Version(int64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; i++)
    s[7 - i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return s;
}

std::string VersionOf(const pulsarc_tb_entry &e) {
  return e.has_schema_version
             ? std::string(reinterpret_cast<const char *>(e.schema_version), e.schema_version_len)
             : std::string("<none>");
}

const char kAvro[] =
    R"({"type":"record","name":"Point","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]})";

class Schemas : public BrokerTest {};

TEST_F(Schemas, VersionFromTheBrokerIsStampedOnEveryMessage) {
  const std::string topic = "schema-stamp";
  ProducerConf s1;
  s1.Set("schema_type", "string").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *a = Create(topic, s1.get());
  ASSERT_NE(a, nullptr);
  ProducerConf s2;
  s2.Set("schema_type", "avro")
      .Set("schema_definition", kAvro)
      .Set("schema_name", "Point")
      .Set("schema_property", "owner=tests")
      .Set("batching", "false");
  pulsarc_producer_t *b = Create(topic, s2.get());
  ASSERT_NE(b, nullptr);
  pulsarc_producer_t *c = Create(topic); // plain bytes: no schema, no version

  Completions done(12);
  for (size_t i = 0; i < 5; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(a, "s", 1, nullptr, Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  for (size_t i = 5; i < 10; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(b, "avro", 4, nullptr, Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  for (size_t i = 10; i < 12; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(c, "raw", 3, nullptr, Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(a, kWaitMs), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(b, kWaitMs), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(c, kWaitMs), PULSARC_OK);
  for (size_t i = 0; i < 12; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;

  const std::string na = pulsarc_producer_name(a), nb = pulsarc_producer_name(b),
                    nc = pulsarc_producer_name(c);
  Snapshot s(tb_, topic);
  size_t seen_a = 0, seen_b = 0, seen_c = 0;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    if (na == e.producer_name) {
      seen_a += static_cast<size_t>(e.num_messages);
      EXPECT_EQ(VersionOf(e), Version(0)) << "string producer, entry " << i;
    } else if (nb == e.producer_name) {
      seen_b += static_cast<size_t>(e.num_messages);
      EXPECT_EQ(VersionOf(e), Version(1)) << "avro producer, entry " << i;
    } else if (nc == e.producer_name) {
      seen_c += static_cast<size_t>(e.num_messages);
      EXPECT_FALSE(e.has_schema_version) << "bytes producer, entry " << i;
    }
  }
  EXPECT_EQ(seen_a, 5u);
  EXPECT_EQ(seen_b, 5u);
  EXPECT_EQ(seen_c, 2u);

  // The same schema again gets the same version: the broker recognised the
  // (type, definition) the library sent.
  ProducerConf s3;
  s3.Set("schema_type", "avro").Set("schema_definition", kAvro).Set("batching", "false");
  pulsarc_producer_t *d = Create(topic, s3.get());
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(SendWait(d, "again"), PULSARC_OK);
  Snapshot s4(tb_, topic);
  EXPECT_EQ(VersionOf(s4->entries[s4->num_entries - 1]), Version(1));
}

TEST_F(Schemas, JsonWithoutDefinitionIsAConflict) {
  ProducerConf c;
  c.Set("schema_type", "json");
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "schema-nodef", c.get(), &p), PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);
  char err[128];
  EXPECT_EQ(pulsarc_producer_conf_set(c.get(), "schema_type", "no-such-type", err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT);
}

TEST_F(Schemas, IncompatibleSchemaIsNamedAndFatal) {
  ProducerConf c;
  c.Set("schema_type", "json").Set("schema_definition", "{\"type\":\"record\"}");
  // One refusal only: a producer that retried would succeed the second time.
  pulsarc_tb_fail_producers(tb_, 1, PULSARC_TB_INCOMPATIBLE_SCHEMA);
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "schema-bad", c.get(), &p),
            PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(Stats().producers_created, 0u);
  EXPECT_NE(std::string(pulsarc_err_str(PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA)), "");

  // Asynchronous form: sends queued meanwhile fail with the same error, and
  // later sends are refused with it.
  pulsarc_tb_fail_producers(tb_, 1, PULSARC_TB_INCOMPATIBLE_SCHEMA);
  struct Ready {
    std::atomic<int> calls{0}, err{-1};
  } ready;
  auto cb = [](pulsarc_producer_t *, pulsarc_err_t err, void *ctx) {
    Ready *r = static_cast<Ready *>(ctx);
    r->err = err;
    r->calls++;
  };
  pulsarc_producer_t *q = nullptr;
  ASSERT_EQ(pulsarc_producer_create_cb(client_, "schema-bad-async", c.get(), cb, &ready, &q),
            PULSARC_OK);
  producers_.push_back(q);
  Completions done(1);
  // The broker may refuse the producer before or after this send: either the
  // send is refused at once, or it is queued and fails with the same error.
  pulsarc_err_t sent = pulsarc_producer_send_cb(q, "x", 1, nullptr, Completions::Cb, done.ctx(0));
  if (sent == PULSARC_OK) {
    ASSERT_TRUE(done.WaitTotal(1));
    EXPECT_EQ(done.at(0).err.load(), PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA);
  } else {
    EXPECT_EQ(sent, PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA);
  }
  WaitUntil([&] { return ready.calls.load() != 0; });
  EXPECT_EQ(ready.calls.load(), 1);
  EXPECT_EQ(ready.err.load(), PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA);
  EXPECT_EQ(SendWait(q, "y"), PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA);
  EXPECT_EQ(Stats().entries, 0u);
  EXPECT_EQ(Stats().producers_created, 0u);
}

// ------------------------------------------------------------ access modes

class AccessModes : public BrokerTest {};

TEST_F(AccessModes, ExclusiveRefusesASecondProducer) {
  ProducerConf ex;
  ex.Set("access_mode", "exclusive");
  pulsarc_producer_t *a = Create("am-exclusive", ex.get());
  ASSERT_NE(a, nullptr);
  pulsarc_producer_t *b = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "am-exclusive", ex.get(), &b),
            PULSARC_ERR_BROKER_PRODUCER_BUSY);
  EXPECT_EQ(b, nullptr);
  EXPECT_EQ(pulsarc_producer_create(client_, "am-exclusive", nullptr, &b),
            PULSARC_ERR_BROKER_PRODUCER_BUSY)
      << "a shared producer next to an exclusive one";
  EXPECT_EQ(b, nullptr);
  EXPECT_EQ(SendWait(a, "still mine"), PULSARC_OK);
  // And the other way round: exclusive next to a shared producer.
  pulsarc_producer_t *sh = Create("am-shared-first");
  ASSERT_NE(sh, nullptr);
  EXPECT_EQ(pulsarc_producer_create(client_, "am-shared-first", ex.get(), &b),
            PULSARC_ERR_BROKER_PRODUCER_BUSY);
  EXPECT_EQ(TopicStats("am-exclusive").producers_open, 1u);
}

struct ReadyRecorder {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  pulsarc_err_t err = PULSARC_OK;
  static void Cb(pulsarc_producer_t *, pulsarc_err_t err, void *ctx) {
    ReadyRecorder *r = static_cast<ReadyRecorder *>(ctx);
    std::lock_guard<std::mutex> lk(r->mu);
    r->err = err;
    r->calls++;
    r->cv.notify_all();
  }
  bool Wait(int ms = kWaitMs) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return calls > 0; });
  }
  int Calls() {
    std::lock_guard<std::mutex> lk(mu);
    return calls;
  }
};

TEST_F(AccessModes, WaitForExclusiveQueuesUntilTheFirstCloses) {
  const std::string topic = "am-wait";
  ProducerConf ex;
  ex.Set("access_mode", "exclusive");
  pulsarc_producer_t *a = Create(topic, ex.get());
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(SendWait(a, "from a"), PULSARC_OK);

  ProducerConf wc;
  wc.Set("access_mode", "wait_for_exclusive").Set("batching", "false");
  ReadyRecorder ready;
  pulsarc_producer_t *b = nullptr;
  ASSERT_EQ(
      pulsarc_producer_create_cb(client_, topic.c_str(), wc.get(), ReadyRecorder::Cb, &ready, &b),
      PULSARC_OK);
  producers_.push_back(b);
  Completions done(3);
  for (size_t i = 0; i < 3; i++) {
    std::string m = "from b " + std::to_string(i);
    ASSERT_EQ(
        pulsarc_producer_send_cb(b, m.data(), m.size(), nullptr, Completions::Cb, done.ctx(i)),
        PULSARC_OK);
  }
  // b is queued by the broker; nothing of it is ready or sent.
  bool queued = WaitUntil([&] { return TopicStats(topic).producers_waiting == 1; });
  ASSERT_TRUE(queued) << "second producer never queued at the broker";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ready.Calls(), 0) << "ready reported while another producer holds the topic";
  EXPECT_EQ(done.Total(), 0u) << "queued sends completed before the producer was ready";
  EXPECT_EQ(TopicStats(topic).messages, 1u);

  ASSERT_EQ(pulsarc_producer_close(a), PULSARC_OK);
  pulsarc_producer_destroy(a);
  Forget(a);
  ASSERT_TRUE(ready.Wait());
  EXPECT_EQ(ready.Calls(), 1);
  EXPECT_EQ(ready.err, PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(3));
  for (size_t i = 0; i < 3; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;

  Snapshot s(tb_, topic);
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].payload, "from a");
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(msgs[i + 1].payload, "from b " + std::to_string(i));
    EXPECT_EQ(std::string(msgs[i + 1].entry->producer_name), pulsarc_producer_name(b));
  }
  EXPECT_EQ(TopicStats(topic).producers_waiting, 0u);
}

TEST_F(AccessModes, ExclusiveWithFencingFencesTheFirst) {
  const std::string topic = "am-fence";
  ProducerConf ex;
  ex.Set("access_mode", "exclusive").Set("batching", "false");
  pulsarc_producer_t *a = Create(topic, ex.get());
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(SendWait(a, "a before"), PULSARC_OK);
  const uint64_t epoch_before = TopicStats(topic).topic_epoch;

  ProducerConf fc;
  fc.Set("access_mode", "exclusive_with_fencing").Set("batching", "false");
  pulsarc_producer_t *b = Create(topic, fc.get());
  ASSERT_NE(b, nullptr);
  EXPECT_GT(TopicStats(topic).topic_epoch, epoch_before);
  EXPECT_EQ(SendWait(b, "b"), PULSARC_OK);

  // a learns it was fenced when it tries to come back: its sends fail with
  // the named error, and keep failing with it.
  EXPECT_EQ(SendWait(a, "a after"), PULSARC_ERR_BROKER_PRODUCER_FENCED);
  EXPECT_EQ(SendWait(a, "a again"), PULSARC_ERR_BROKER_PRODUCER_FENCED);
  EXPECT_EQ(SendWait(b, "b again"), PULSARC_OK);

  Snapshot s(tb_, topic);
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  std::vector<std::string> got;
  for (const StoredMsg &m : msgs)
    got.push_back(m.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"a before", "b", "b again"}));
}

} // namespace
} // namespace pulsarc_it
