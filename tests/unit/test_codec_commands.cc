// The codec's command builders (codec/commands.h): every command the
// client sends, built through its builder, framed, decoded back and
// checked field by field; SEND frames byte-identical to the ones the
// producer built by hand before the builders existed.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "codec_roundtrip.h"

namespace {

using Bytes = std::vector<uint8_t>;

class CodecCommands : public CodecRoundTrip {};

// What src/client/producer_seal.c built by hand before pc_cmd_send (kept
// verbatim in shape: the reference the builder must match byte for byte).
struct OldSend {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  // seal_one: one message or a batch.
  OldSend(uint64_t producer_id, uint64_t first_seq, uint64_t last_seq, bool batched, int32_t n) {
    cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    send.producer_id = producer_id;
    send.sequence_id = first_seq;
    if (batched) {
      send.has_num_messages = true;
      send.num_messages = n;
      send.has_highest_sequence_id = true;
      send.highest_sequence_id = last_seq;
    }
  }
  // seal_chunks: one chunk.
  OldSend(uint64_t producer_id, uint64_t seq) {
    cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    send.producer_id = producer_id;
    send.sequence_id = seq;
    send.has_is_chunk = true;
    send.is_chunk = true;
  }
};

// Seals payload behind headroom with cmd and a metadata like the
// producer's; returns the frame.
Bytes Seal(const Pulsarc__BaseCommand *cmd, uint64_t seq, int32_t n, const std::string &payload) {
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>("standalone-0-7");
  md.sequence_id = seq;
  md.publish_time = 1700000000123ULL;
  if (n > 0) {
    md.has_num_messages_in_batch = true;
    md.num_messages_in_batch = n;
  }
  const size_t headroom = 128;
  pc_buf b = {};
  EXPECT_EQ(pc_buf_reserve(&b, headroom + payload.size()), 0);
  b.len = headroom;
  EXPECT_EQ(pc_buf_append(&b, payload.data(), payload.size()), 0);
  size_t start = 0;
  EXPECT_EQ(pc_frame_seal_payload(&b, headroom, cmd, &md, &start), 0);
  Bytes out(b.data + start, b.data + b.len);
  pc_buf_free(&b);
  return out;
}

TEST(CodecCommandsSend, FrameIsByteIdenticalToTheHandBuiltOne) {
  struct Case {
    uint64_t producer_id, first, last;
    bool batched;
    int32_t n;
  } cases[] = {
      {0, 0, 0, false, 1},                                // first message of the first producer
      {1, 41, 41, false, 1},                              // one message
      {7, 100, 199, true, 100},                           // a batch
      {3, 5, 5, true, 1},                                 // a batch of one
      {UINT64_MAX, UINT64_MAX - 9, UINT64_MAX, true, 10}, // largest varints
      {1ull << 40, 1ull << 35, (1ull << 35) + 999, true, 1000},
  };
  const std::string payload = "payload bytes: the SEND command is all that differs";
  for (const Case &k : cases) {
    SCOPED_TRACE(testing::Message()
                 << "producer " << k.producer_id << " seq " << k.first << " batched " << k.batched);
    OldSend old(k.producer_id, k.first, k.last, k.batched, k.n);
    pc_cmd c;
    memset(&c, 0x5A, sizeof c); // builders must not rely on zeroed storage
    Pulsarc__BaseCommand *now =
        pc_cmd_send(&c, k.producer_id, k.first, k.batched ? k.n : 0, k.last, false);
    EXPECT_EQ(Seal(now, k.first, k.batched ? k.n : 0, payload),
              Seal(&old.cmd, k.first, k.batched ? k.n : 0, payload));
  }
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{300}, UINT64_MAX}) {
    OldSend old(9, seq);
    pc_cmd c;
    memset(&c, 0xA5, sizeof c);
    EXPECT_EQ(Seal(pc_cmd_send(&c, 9, seq, 0, 0, true), seq, 0, payload),
              Seal(&old.cmd, seq, 0, payload))
        << "chunk seq " << seq;
  }
}

TEST_F(CodecCommands, SendDecodesBack) {
  pc_cmd c;
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_send(&c, 4, 10, 3, 12, false));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__SEND);
  ASSERT_NE(m->send, nullptr);
  EXPECT_EQ(m->send->producer_id, 4u);
  EXPECT_EQ(m->send->sequence_id, 10u);
  EXPECT_TRUE(m->send->has_num_messages);
  EXPECT_EQ(m->send->num_messages, 3);
  EXPECT_TRUE(m->send->has_highest_sequence_id);
  EXPECT_EQ(m->send->highest_sequence_id, 12u);
  EXPECT_FALSE(m->send->has_is_chunk);

  m = RoundTrip(pc_cmd_send(&c, 4, 13, 0, 0, false));
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->send->has_num_messages);
  EXPECT_FALSE(m->send->has_highest_sequence_id);
  EXPECT_FALSE(m->send->has_is_chunk);

  m = RoundTrip(pc_cmd_send(&c, 4, 14, 0, 0, true));
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->send->has_is_chunk);
  EXPECT_TRUE(m->send->is_chunk);
  EXPECT_FALSE(m->send->has_num_messages);
}

TEST_F(CodecCommands, CloseProducerDecodesBack) {
  pc_cmd c;
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_close_producer(&c, 77, 1234567890123ull));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER);
  ASSERT_NE(m->close_producer, nullptr);
  EXPECT_EQ(m->close_producer->producer_id, 77u);
  EXPECT_EQ(m->close_producer->request_id, 1234567890123ull);
}

TEST_F(CodecCommands, PingAndPongDecodeBack) {
  pc_cmd c;
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_ping(&c));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__PING);
  EXPECT_NE(m->ping, nullptr);
  m = RoundTrip(pc_cmd_pong(&c));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__PONG);
  EXPECT_NE(m->pong, nullptr);
  EXPECT_EQ(m->ping, nullptr);
}

TEST_F(CodecCommands, LookupAndPartitionedMetadataDecodeBack) {
  pc_cmd c;
  const Pulsarc__BaseCommand *m =
      RoundTrip(pc_cmd_lookup(&c, "persistent://public/default/t", 5, true));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__LOOKUP);
  ASSERT_NE(m->lookup_topic, nullptr);
  EXPECT_STREQ(m->lookup_topic->topic, "persistent://public/default/t");
  EXPECT_EQ(m->lookup_topic->request_id, 5u);
  EXPECT_TRUE(m->lookup_topic->has_authoritative);
  EXPECT_TRUE(m->lookup_topic->authoritative);
  // false is sent too, not left out.
  m = RoundTrip(pc_cmd_lookup(&c, "t2", 6, false));
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->lookup_topic->has_authoritative);
  EXPECT_FALSE(m->lookup_topic->authoritative);

  m = RoundTrip(pc_cmd_partitioned_metadata(&c, "persistent://public/default/p", 8));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA);
  ASSERT_NE(m->partition_metadata, nullptr);
  EXPECT_EQ(m->lookup_topic, nullptr);
  EXPECT_STREQ(m->partition_metadata->topic, "persistent://public/default/p");
  EXPECT_EQ(m->partition_metadata->request_id, 8u);
}

TEST_F(CodecCommands, ConnectDecodesBack) {
  pc_cmd c;
  const uint8_t token[] = {'t', 'o', 'k', 0, 'n'};
  pc_cmd_connect_args a = {"pulsarc-test 9",        19, "token", true, token, sizeof token,
                           "pulsar://broker-2:6650"};
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_connect(&c, &a));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__CONNECT);
  const Pulsarc__CommandConnect *cc = m->connect;
  ASSERT_NE(cc, nullptr);
  EXPECT_STREQ(cc->client_version, "pulsarc-test 9");
  EXPECT_TRUE(cc->has_protocol_version);
  EXPECT_EQ(cc->protocol_version, 19);
  EXPECT_STREQ(cc->auth_method_name, "token");
  ASSERT_TRUE(cc->has_auth_data);
  EXPECT_EQ(Bytes(cc->auth_data.data, cc->auth_data.data + cc->auth_data.len),
            Bytes(token, token + sizeof token));
  EXPECT_STREQ(cc->proxy_to_broker_url, "pulsar://broker-2:6650");
  ASSERT_NE(cc->feature_flags, nullptr);
  EXPECT_TRUE(cc->feature_flags->has_supports_auth_refresh);
  EXPECT_TRUE(cc->feature_flags->supports_auth_refresh);

  // No authentication, no proxy: the fields are absent.
  pc_cmd_connect_args plain = {"v", 19, nullptr, false, nullptr, 0, nullptr};
  m = RoundTrip(pc_cmd_connect(&c, &plain));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->connect->auth_method_name, nullptr);
  EXPECT_FALSE(m->connect->has_auth_data);
  EXPECT_EQ(m->connect->proxy_to_broker_url, nullptr);
  EXPECT_TRUE(m->connect->feature_flags->supports_auth_refresh);

  // An empty credential that was asked for is still sent.
  pc_cmd_connect_args empty = {"v", 19, "custom", true, nullptr, 0, nullptr};
  m = RoundTrip(pc_cmd_connect(&c, &empty));
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->connect->has_auth_data);
  EXPECT_EQ(m->connect->auth_data.len, 0u);
}

TEST_F(CodecCommands, AuthResponseDecodesBack) {
  pc_cmd c;
  const uint8_t data[] = "fresh-token";
  const Pulsarc__BaseCommand *m =
      RoundTrip(pc_cmd_auth_response(&c, "pulsarc-test 9", 19, "token", data, sizeof data - 1));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__AUTH_RESPONSE);
  const Pulsarc__CommandAuthResponse *ar = m->auth_response;
  ASSERT_NE(ar, nullptr);
  EXPECT_STREQ(ar->client_version, "pulsarc-test 9");
  EXPECT_TRUE(ar->has_protocol_version);
  EXPECT_EQ(ar->protocol_version, 19);
  ASSERT_NE(ar->response, nullptr);
  EXPECT_STREQ(ar->response->auth_method_name, "token");
  ASSERT_TRUE(ar->response->has_auth_data);
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(ar->response->auth_data.data),
                        ar->response->auth_data.len),
            "fresh-token");
}

TEST_F(CodecCommands, ProducerDecodesBack) {
  pc_cmd c;
  Pulsarc__Schema schema = PULSARC__SCHEMA__INIT;
  Pulsarc__KeyValue kv = PULSARC__KEY_VALUE__INIT;
  Pulsarc__KeyValue *kvs[] = {&kv};
  kv.key = const_cast<char *>("k");
  kv.value = const_cast<char *>("v");
  schema.name = const_cast<char *>("s");
  schema.type = PULSARC__SCHEMA__TYPE__Json;
  schema.schema_data.data = (uint8_t *)"{}";
  schema.schema_data.len = 2;
  schema.n_properties = 1;
  schema.properties = kvs;
  pc_cmd_producer_args a = {};
  a.topic = "persistent://public/default/t-partition-1";
  a.producer_id = 3;
  a.request_id = 99;
  a.name = "mine";
  a.user_named = true;
  a.epoch = 2;
  a.access_mode = PULSARC__PRODUCER_ACCESS_MODE__WaitForExclusive;
  a.has_topic_epoch = true;
  a.topic_epoch = 6;
  a.schema = &schema;
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_producer(&c, &a));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER);
  const Pulsarc__CommandProducer *pr = m->producer;
  ASSERT_NE(pr, nullptr);
  EXPECT_STREQ(pr->topic, "persistent://public/default/t-partition-1");
  EXPECT_EQ(pr->producer_id, 3u);
  EXPECT_EQ(pr->request_id, 99u);
  EXPECT_STREQ(pr->producer_name, "mine");
  EXPECT_TRUE(pr->has_user_provided_producer_name);
  EXPECT_TRUE(pr->user_provided_producer_name);
  EXPECT_TRUE(pr->has_epoch);
  EXPECT_EQ(pr->epoch, 2u);
  EXPECT_TRUE(pr->has_producer_access_mode);
  EXPECT_EQ(pr->producer_access_mode, PULSARC__PRODUCER_ACCESS_MODE__WaitForExclusive);
  EXPECT_TRUE(pr->has_topic_epoch);
  EXPECT_EQ(pr->topic_epoch, 6u);
  ASSERT_NE(pr->schema, nullptr);
  EXPECT_STREQ(pr->schema->name, "s");
  EXPECT_EQ(pr->schema->type, PULSARC__SCHEMA__TYPE__Json);
  ASSERT_EQ(pr->schema->n_properties, 1u);
  EXPECT_STREQ(pr->schema->properties[0]->value, "v");

  // Broker-named, first registration, no schema: those fields are absent.
  pc_cmd_producer_args b = {};
  b.topic = "t";
  b.producer_id = 0;
  b.request_id = 1;
  b.access_mode = PULSARC__PRODUCER_ACCESS_MODE__Shared;
  m = RoundTrip(pc_cmd_producer(&c, &b));
  ASSERT_NE(m, nullptr);
  pr = m->producer;
  EXPECT_EQ(pr->producer_name, nullptr);
  EXPECT_FALSE(pr->has_user_provided_producer_name);
  EXPECT_TRUE(pr->has_epoch);
  EXPECT_EQ(pr->epoch, 0u);
  EXPECT_TRUE(pr->has_producer_access_mode);
  EXPECT_EQ(pr->producer_access_mode, PULSARC__PRODUCER_ACCESS_MODE__Shared);
  EXPECT_FALSE(pr->has_topic_epoch);
  EXPECT_EQ(pr->schema, nullptr);
}

} // namespace

// Property lists laid out by pc_key_values_init in caller memory (the
// producer's thread scratch): every record reachable, initialised, and
// encoded in order.
TEST_F(CodecCommands, KeyValuesLaidOutInCallerMemoryDecodeBack) {
  const char *keys[] = {"a", "bb", "ccc"};
  const char *values[] = {"1", "22", "333"};
  std::vector<unsigned char> mem(pc_key_values_size(3));
  ASSERT_EQ(mem.size(), 3 * (sizeof(Pulsarc__KeyValue *) + sizeof(Pulsarc__KeyValue)));
  Pulsarc__KeyValue **kvs = pc_key_values_init(mem.data(), 3);
  for (int i = 0; i < 3; i++) {
    ASSERT_NE(kvs[i], nullptr);
    EXPECT_EQ(kvs[i]->key, nullptr); // initialised, not left as garbage
    kvs[i]->key = const_cast<char *>(keys[i]);
    kvs[i]->value = const_cast<char *>(values[i]);
  }
  Pulsarc__Schema schema = PULSARC__SCHEMA__INIT;
  schema.name = const_cast<char *>("s");
  schema.type = PULSARC__SCHEMA__TYPE__Json;
  schema.n_properties = 3;
  schema.properties = kvs;
  pc_cmd_producer_args a = {};
  a.topic = "t";
  a.request_id = 1;
  a.schema = &schema;
  pc_cmd c;
  const Pulsarc__BaseCommand *m = RoundTrip(pc_cmd_producer(&c, &a));
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m->producer, nullptr);
  ASSERT_NE(m->producer->schema, nullptr);
  ASSERT_EQ(m->producer->schema->n_properties, 3u);
  for (int i = 0; i < 3; i++) {
    EXPECT_STREQ(m->producer->schema->properties[i]->key, keys[i]);
    EXPECT_STREQ(m->producer->schema->properties[i]->value, values[i]);
  }
}
