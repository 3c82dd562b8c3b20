// The largest configuration the options allow runs on the library's
// threads, whose stacks are set explicitly (PC_THREAD_STACK_SIZE, 1 MiB) so
// the outcome does not depend on `ulimit -s`: one batch of the most 1-byte
// messages batch_max_messages allows, one message with as many properties
// as max_message_size leaves room for (batched and not), and a schema
// definition near max_message_size with many properties. Each once crashed
// an I/O thread through a stack array sized by that number.
#include <pthread.h>

#include "harness.h"

namespace pulsarc_it {
namespace {

struct Tally {
  std::atomic<uint64_t> ok{0}, failed{0};
  std::atomic<int> last_err{PULSARC_OK};
  static void Cb(pulsarc_err_t err, const pulsarc_msg_id_t *, void *ctx) {
    Tally *t = static_cast<Tally *>(ctx);
    if (err == PULSARC_OK) {
      t->ok.fetch_add(1);
    } else {
      t->last_err.store(static_cast<int>(err));
      t->failed.fetch_add(1);
    }
  }
};

class StackLimits : public BrokerTest {
protected:
  int WatchdogSeconds() override { return 120; }
};

// A batch of a million messages needs frames over the 5 MiB default.
class StackLimitsBigFrames : public StackLimits {
protected:
  void BrokerOptions(pulsarc_tb_opts *o) override { o->max_message_size = 32u << 20; }
};

constexpr uint32_t kMaxBatchMessages = 1000000; // the bound in pulsarc_producer_conf_set

TEST_F(StackLimitsBigFrames, LargestBatchOfOneByteMessages) {
  const std::string topic = "stack-batch";
  ProducerConf c;
  c.Set("batch_max_messages", std::to_string(kMaxBatchMessages))
      .Set("batch_max_bytes", std::to_string(64u << 20)) // the bound
      .Set("max_message_size", std::to_string(32u << 20))
      .Set("max_pending_messages", std::to_string(kMaxBatchMessages))
      .Set("batch_max_delay_ms", "3600000") // sealed by count (or flush), never by time
      .Set("block_if_queue_full", "true")
      .Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create(topic, c.get());
  ASSERT_NE(p, nullptr);
  Tally t;
  for (uint32_t i = 0; i < kMaxBatchMessages; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, "x", 1, nullptr, Tally::Cb, &t), PULSARC_OK) << i;
  ASSERT_EQ(pulsarc_producer_flush(p, 60000), PULSARC_OK);
  EXPECT_EQ(t.ok.load(), kMaxBatchMessages);
  EXPECT_EQ(t.failed.load(), 0u) << pulsarc_err_str(static_cast<pulsarc_err_t>(t.last_err.load()));

  pulsarc_tb_topic_stats ts = TopicStats(topic);
  EXPECT_EQ(ts.messages, kMaxBatchMessages);
  EXPECT_EQ(ts.entries, 1u) << "the million messages should travel as one batch";
  EXPECT_EQ(Stats().malformed_batches, 0u);
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, topic.c_str(), pulsarc_producer_name(p)),
            static_cast<int64_t>(kMaxBatchMessages) - 1);
}

// Callbacks run on an I/O thread: its stack is the documented 1 MiB,
// whatever `ulimit -s` says.
TEST_F(StackLimits, IoThreadStackIsTheDocumentedSize) {
  pulsarc_producer_t *p = Create("stack-size");
  ASSERT_NE(p, nullptr);
  struct Seen {
    std::atomic<size_t> stack{0};
    std::atomic<bool> done{false};
  } seen;
  auto cb = [](pulsarc_err_t, const pulsarc_msg_id_t *, void *ctx) {
    Seen *s = static_cast<Seen *>(ctx);
    pthread_attr_t a;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
      pthread_attr_getstacksize(&a, &size);
      pthread_attr_destroy(&a);
    }
    s->stack.store(size);
    s->done.store(true);
  };
  ASSERT_EQ(pulsarc_producer_send_cb(p, "x", 1, nullptr, cb, &seen), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_TRUE(seen.done.load());
  EXPECT_EQ(seen.stack.load(), 1024u * 1024u);
}

// Keys "p000000".."p299999" with value "v": the send path's size estimate
// counts key + value + 8 bytes a property, so 300,000 of them fit the
// default 5 MiB max_message_size with a 1-byte payload and 330,000 do not.
constexpr size_t kManyProps = 300000;

void AddProps(pulsarc_msg_opts_t *o, size_t n) {
  char key[32];
  for (size_t i = 0; i < n; i++) {
    std::snprintf(key, sizeof key, "p%06zu", i);
    ASSERT_EQ(pulsarc_msg_opts_add_property(o, key, "v"), PULSARC_OK);
  }
}

void ExpectProps(const pulsarc_tb_kv *kv, size_t n) {
  ASSERT_EQ(n, kManyProps);
  char key[32];
  for (size_t i = 0; i < n; i += 997) { // a sample; the count is exact
    std::snprintf(key, sizeof key, "p%06zu", i);
    EXPECT_STREQ(kv[i].key, key);
    EXPECT_STREQ(kv[i].value, "v");
  }
  EXPECT_STREQ(kv[n - 1].key, "p299999");
}

void SendWithProps(pulsarc_producer_t *p) {
  MsgOpts o;
  AddProps(o.get(), kManyProps);
  Tally t;
  ASSERT_EQ(pulsarc_producer_send_cb(p, "x", 1, o.get(), Tally::Cb, &t), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, 60000), PULSARC_OK);
  EXPECT_EQ(t.ok.load(), 1u);
  EXPECT_EQ(t.failed.load(), 0u) << pulsarc_err_str(static_cast<pulsarc_err_t>(t.last_err.load()));
}

TEST_F(StackLimits, MostPropertiesOnOneMessageNotBatched) {
  const std::string topic = "stack-props-single";
  ProducerConf c;
  c.Set("batching", "false");
  pulsarc_producer_t *p = Create(topic, c.get());
  ASSERT_NE(p, nullptr);
  SendWithProps(p);
  Snapshot s(tb_, topic);
  ASSERT_EQ(s->num_entries, 1u);
  EXPECT_FALSE(s->entries[0].is_batch);
  ExpectProps(s->entries[0].properties, s->entries[0].num_properties);
}

TEST_F(StackLimits, MostPropertiesOnOneMessageBatched) {
  const std::string topic = "stack-props-batched";
  pulsarc_producer_t *p = Create(topic);
  ASSERT_NE(p, nullptr);
  SendWithProps(p);
  Snapshot s(tb_, topic);
  ASSERT_EQ(s->num_entries, 1u);
  ASSERT_TRUE(s->entries[0].is_batch);
  ASSERT_EQ(s->entries[0].num_listed, 1u);
  ExpectProps(s->entries[0].messages[0].properties, s->entries[0].messages[0].num_properties);
}

// The bound on properties is max_message_size: past it the send is refused
// at once, before anything reaches the I/O thread.
TEST_F(StackLimits, PropertiesPastMaxMessageSizeAreRefused) {
  pulsarc_producer_t *p = Create("stack-props-over");
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  AddProps(o.get(), 330000);
  Tally t;
  EXPECT_EQ(pulsarc_producer_send_cb(p, "x", 1, o.get(), Tally::Cb, &t),
            PULSARC_ERR_MESSAGE_TOO_BIG);
}

// A JSON schema whose definition, with 50,000 properties of about 16 bytes
// each, comes within 64 KiB of the default 5 MiB max_message_size.
constexpr size_t kSchemaProps = 50000;
constexpr size_t kMaxMessageSize = 5u << 20;

std::string BigDefinition(size_t len) {
  std::string def = "{\"type\":\"string\",\"doc\":\"";
  def.append(len - def.size() - 2, 'd');
  def += "\"}";
  return def;
}

TEST_F(StackLimits, LargestSchemaWithManyProperties) {
  const std::string topic = "stack-schema";
  ProducerConf c;
  c.Set("schema_type", "json").Set("schema_name", "big");
  char kv[32];
  for (size_t i = 0; i < kSchemaProps; i++) {
    std::snprintf(kv, sizeof kv, "k%06zu=v", i);
    c.Set("schema_property", kv);
  }
  size_t props_cost = kSchemaProps * (7 + 1 + 8);
  c.Set("schema_definition", BigDefinition(kMaxMessageSize - props_cost - (64u << 10)));
  pulsarc_producer_t *p = Create(topic, c.get());
  ASSERT_NE(p, nullptr);
  Tally t;
  ASSERT_EQ(pulsarc_producer_send_cb(p, "{}", 2, nullptr, Tally::Cb, &t), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, 60000), PULSARC_OK);
  EXPECT_EQ(t.ok.load(), 1u);
  Snapshot s(tb_, topic);
  ASSERT_EQ(s->num_entries, 1u);
  // The broker answered the registration with a schema version, which the
  // message carries.
  EXPECT_TRUE(s->entries[0].has_schema_version);
}

// Past max_message_size the schema could never register (a broker closes
// the connection on such a frame): creation fails at once, naming it.
TEST_F(StackLimits, SchemaPastMaxMessageSizeIsRefused) {
  ProducerConf c;
  c.Set("schema_type", "json").Set("schema_definition", BigDefinition(kMaxMessageSize + 1));
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "stack-schema-over", c.get(), &p),
            PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(TopicStats("stack-schema-over").exists, false);
}

} // namespace
} // namespace pulsarc_it
