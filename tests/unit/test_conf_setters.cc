// Configuration setters (pulsarc_client_conf_set, pulsarc_producer_conf_set),
// message option setters, option conflicts at producer start, and the error
// strings. No broker traffic: the only client made points at a port nobody
// is asked to connect to.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "conf/conf.h"
}

namespace {

struct OptCase {
  const char *key;
  const char *valid;
  const char *invalid;
};

// Asserts the errbuf contract: a non-empty, NUL-terminated sentence that
// names the offending key.
void ExpectSentence(const char *errbuf, const char *key) {
  EXPECT_GT(std::strlen(errbuf), 10u) << "errbuf too short for a sentence: \"" << errbuf << "\"";
  EXPECT_NE(std::string(errbuf).find(key), std::string::npos)
      << "errbuf \"" << errbuf << "\" does not name " << key;
}

// ------------------------------------------------------------------ client

const OptCase kClientCases[] = {
    {"io_threads", "2", "0"},
    {"io_threads", "4", "abc"},
    {"io_threads", "1", "-1"},
    {"io_threads", "3", ""},
    {"io_busy_poll_us", "50", "-1"},
    {"io_busy_poll_us", "0", "2000000"},
    {"connect_timeout_ms", "5000", "soon"},
    {"connect_timeout_ms", "1", "-5"},
    {"operation_timeout_ms", "1000", "1s"},
    {"keepalive_interval_ms", "1000", "-1"},
    {"keepalive_interval_ms", "30000", "x"},
    {"max_lookup_redirects", "5", "many"},
    {"max_lookup_redirects", "0", "-2"},
    {"log_level", "debug", "verbose"},
    {"log_level", "off", "7"},
    {"log_level", "ERROR", ""},
    {"memory_limit_bytes", "0", "lots"},
    {"memory_limit_bytes", "1048576", "-1"},
    {"memory_limit_bytes", "67108864", "12MB"},
};

class ClientConfSet : public ::testing::TestWithParam<OptCase> {};

TEST_P(ClientConfSet, AcceptsValidRejectsInvalid) {
  const OptCase &c = GetParam();
  pulsarc_client_conf_t *conf = pulsarc_client_conf_new();
  ASSERT_NE(conf, nullptr);
  char err[256] = "";
  EXPECT_EQ(pulsarc_client_conf_set(conf, c.key, c.valid, err, sizeof err), PULSARC_OK)
      << c.key << "=" << c.valid << ": " << err;
  std::strcpy(err, "");
  EXPECT_EQ(pulsarc_client_conf_set(conf, c.key, c.invalid, err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT)
      << c.key << "=\"" << c.invalid << "\"";
  ExpectSentence(err, c.key);
  // No errbuf is fine too.
  EXPECT_EQ(pulsarc_client_conf_set(conf, c.key, c.invalid, nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_client_conf_destroy(conf);
}

INSTANTIATE_TEST_SUITE_P(ClientKeys, ClientConfSet, ::testing::ValuesIn(kClientCases));

TEST(ClientConf, DefaultsAsDocumented) {
  pulsarc_client_conf_t *c = pulsarc_client_conf_new();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->io_threads, 1);
  EXPECT_EQ(c->io_busy_poll_us, 0u);
  EXPECT_EQ(c->connect_timeout_ms, 10000u);
  EXPECT_EQ(c->operation_timeout_ms, 30000u);
  EXPECT_EQ(c->keepalive_interval_ms, 30000u);
  EXPECT_EQ(c->max_lookup_redirects, 20);
  EXPECT_EQ(c->memory_limit_bytes, 67108864u);
  pulsarc_client_conf_destroy(c);
}

TEST(ClientConf, ValidValuesTakeEffect) {
  pulsarc_client_conf_t *c = pulsarc_client_conf_new();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(pulsarc_client_conf_set(c, "io_threads", "3", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "io_busy_poll_us", "75", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "connect_timeout_ms", "1234", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "operation_timeout_ms", "2345", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "keepalive_interval_ms", "3456", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "max_lookup_redirects", "7", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "memory_limit_bytes", "0", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(c, "log_level", "info", nullptr, 0), PULSARC_OK);
  EXPECT_EQ(c->io_threads, 3);
  EXPECT_EQ(c->io_busy_poll_us, 75u);
  EXPECT_EQ(c->connect_timeout_ms, 1234u);
  EXPECT_EQ(c->operation_timeout_ms, 2345u);
  EXPECT_EQ(c->keepalive_interval_ms, 3456u);
  EXPECT_EQ(c->max_lookup_redirects, 7);
  EXPECT_EQ(c->memory_limit_bytes, 0u);
  EXPECT_EQ(c->logger.level, PULSARC_LOG_INFO);
  // A rejected value leaves the previous one in place.
  EXPECT_EQ(pulsarc_client_conf_set(c, "io_threads", "zero", nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c->io_threads, 3);
  pulsarc_client_conf_destroy(c);
}

TEST(ClientConf, UnknownKey) {
  pulsarc_client_conf_t *c = pulsarc_client_conf_new();
  char err[256] = "";
  EXPECT_EQ(pulsarc_client_conf_set(c, "no_such_option", "1", err, sizeof err),
            PULSARC_ERR_UNKNOWN_OPTION);
  ExpectSentence(err, "no_such_option");
  // Keys are exact: a producer key is unknown to the client.
  EXPECT_EQ(pulsarc_client_conf_set(c, "batching", "true", nullptr, 0), PULSARC_ERR_UNKNOWN_OPTION);
  pulsarc_client_conf_destroy(c);
}

TEST(ClientConf, NullArguments) {
  pulsarc_client_conf_t *c = pulsarc_client_conf_new();
  char err[64];
  EXPECT_EQ(pulsarc_client_conf_set(nullptr, "io_threads", "1", err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_conf_set(c, nullptr, "1", err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_conf_set(c, "io_threads", nullptr, err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_client_conf_destroy(c);
  pulsarc_client_conf_destroy(nullptr); // harmless
}

TEST(ClientConf, ErrbufTruncatedAndTerminated) {
  pulsarc_client_conf_t *c = pulsarc_client_conf_new();
  char err[8];
  std::memset(err, 'Z', sizeof err);
  EXPECT_EQ(pulsarc_client_conf_set(c, "io_threads", "bad", err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_LT(std::strlen(err), sizeof err);
  pulsarc_client_conf_destroy(c);
}

// ---------------------------------------------------------------- producer

const OptCase kProducerCases[] = {
    {"name", "my-producer", ""},
    {"access_mode", "shared", "bogus"},
    {"access_mode", "exclusive", "exclusively"},
    {"access_mode", "wait_for_exclusive", ""},
    {"access_mode", "exclusive_with_fencing", "fencing"},
    {"compression", "none", "gzip"},
    {"compression", "lz4", "lz5"},
    {"compression", "zlib", ""},
    {"compression", "zstd", "brotli"},
    {"compression", "snappy", "1"},
    {"compression_level", "22", "23"},
    {"compression_level", "0", "-1"},
    {"batching", "false", "maybe"},
    {"batching", "true", ""},
    {"batch_max_messages", "10", "ten"},
    {"batch_max_messages", "1000", "-1"},
    {"batch_max_bytes", "1000", "x"},
    {"batch_max_bytes", "131072", "-10"},
    {"batch_max_delay_ms", "50", "-1"},
    {"batch_max_delay_ms", "0", "fast"},
    {"chunking", "true", "sometimes"},
    {"max_message_size", "1048576", "big"},
    {"max_message_size", "5242880", "-1"},
    {"send_timeout_ms", "0", "-1"},
    {"send_timeout_ms", "30000", "30s"},
    {"max_pending_messages", "5", "five"},
    {"max_pending_messages", "1000", "-3"},
    {"block_if_queue_full", "false", "nah"},
    {"block_if_queue_full", "true", ""},
    {"initial_sequence_id", "100", "abc"},
    {"initial_sequence_id", "0", "-7"},
    {"startup_delay_ms", "0", "soon"},
    {"startup_jitter_ms", "10", "x"},
    {"close_timeout_ms", "1000", "forever"},
};

class ProducerConfSet : public ::testing::TestWithParam<OptCase> {};

TEST_P(ProducerConfSet, AcceptsValidRejectsInvalid) {
  const OptCase &c = GetParam();
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  ASSERT_NE(conf, nullptr);
  char err[256] = "";
  EXPECT_EQ(pulsarc_producer_conf_set(conf, c.key, c.valid, err, sizeof err), PULSARC_OK)
      << c.key << "=" << c.valid << ": " << err;
  std::strcpy(err, "");
  EXPECT_EQ(pulsarc_producer_conf_set(conf, c.key, c.invalid, err, sizeof err),
            PULSARC_ERR_INVALID_ARGUMENT)
      << c.key << "=\"" << c.invalid << "\"";
  ExpectSentence(err, c.key);
  EXPECT_EQ(pulsarc_producer_conf_set(conf, c.key, c.invalid, nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_producer_conf_destroy(conf);
}

INSTANTIATE_TEST_SUITE_P(ProducerKeys, ProducerConfSet, ::testing::ValuesIn(kProducerCases));

TEST(ProducerConf, DefaultsAsDocumented) {
  pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, nullptr);
  EXPECT_EQ(c->access_mode, PULSARC_ACCESS_SHARED);
  EXPECT_EQ(c->compression, PULSARC_COMPRESSION_NONE);
  EXPECT_EQ(c->compression_level, 0u);
  EXPECT_TRUE(c->batching);
  EXPECT_EQ(c->batch_max_messages, 1000u);
  EXPECT_EQ(c->batch_max_bytes, 131072u);
  EXPECT_EQ(c->batch_max_delay_ms, 10u);
  EXPECT_FALSE(c->chunking);
  EXPECT_EQ(c->max_message_size, 5242880u);
  EXPECT_EQ(c->send_timeout_ms, 30000u);
  EXPECT_EQ(c->max_pending_messages, 1000u);
  EXPECT_TRUE(c->block_if_queue_full);
  EXPECT_FALSE(c->has_initial_sequence_id);
  EXPECT_EQ(c->startup_delay_ms, 0u);
  EXPECT_EQ(c->startup_jitter_ms, 0u);
  EXPECT_EQ(c->close_timeout_ms, 30000u);
  pulsarc_producer_conf_destroy(c);
}

TEST(ProducerConf, ValidValuesTakeEffect) {
  pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
  ASSERT_NE(c, nullptr);
  struct {
    const char *k, *v;
  } sets[] = {{"name", "p-1"},
              {"access_mode", "exclusive_with_fencing"},
              {"compression", "zstd"},
              {"batching", "false"},
              {"batch_max_messages", "10"},
              {"batch_max_bytes", "2048"},
              {"batch_max_delay_ms", "50"},
              {"chunking", "true"},
              {"max_message_size", "1048576"},
              {"send_timeout_ms", "0"},
              {"max_pending_messages", "5"},
              {"block_if_queue_full", "false"},
              {"initial_sequence_id", "100"},
              {"startup_delay_ms", "20"},
              {"startup_jitter_ms", "30"},
              {"close_timeout_ms", "40"}};
  for (auto &s : sets)
    ASSERT_EQ(pulsarc_producer_conf_set(c, s.k, s.v, nullptr, 0), PULSARC_OK) << s.k;
  EXPECT_STREQ(c->name, "p-1");
  EXPECT_EQ(c->access_mode, PULSARC_ACCESS_EXCLUSIVE_WITH_FENCING);
  EXPECT_EQ(c->compression, PULSARC_COMPRESSION_ZSTD);
  EXPECT_FALSE(c->batching);
  EXPECT_EQ(c->batch_max_messages, 10u);
  EXPECT_EQ(c->batch_max_bytes, 2048u);
  EXPECT_EQ(c->batch_max_delay_ms, 50u);
  EXPECT_TRUE(c->chunking);
  EXPECT_EQ(c->max_message_size, 1048576u);
  EXPECT_EQ(c->send_timeout_ms, 0u);
  EXPECT_EQ(c->max_pending_messages, 5u);
  EXPECT_FALSE(c->block_if_queue_full);
  EXPECT_TRUE(c->has_initial_sequence_id);
  EXPECT_EQ(c->initial_sequence_id, 100);
  EXPECT_EQ(c->startup_delay_ms, 20u);
  EXPECT_EQ(c->startup_jitter_ms, 30u);
  EXPECT_EQ(c->close_timeout_ms, 40u);
  // A rejected value keeps the previous one.
  EXPECT_EQ(pulsarc_producer_conf_set(c, "batch_max_messages", "x", nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c->batch_max_messages, 10u);
  EXPECT_EQ(pulsarc_producer_conf_set(c, "name", "", nullptr, 0), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(c->name, "p-1");
  pulsarc_producer_conf_destroy(c);
}

TEST(ProducerConf, UnknownKey) {
  pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
  char err[256] = "";
  EXPECT_EQ(pulsarc_producer_conf_set(c, "batch_size", "10", err, sizeof err),
            PULSARC_ERR_UNKNOWN_OPTION);
  ExpectSentence(err, "batch_size");
  EXPECT_EQ(pulsarc_producer_conf_set(c, "io_threads", "2", nullptr, 0),
            PULSARC_ERR_UNKNOWN_OPTION);
  pulsarc_producer_conf_destroy(c);
}

TEST(ProducerConf, NullArguments) {
  pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
  EXPECT_EQ(pulsarc_producer_conf_set(nullptr, "batching", "true", nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_conf_set(c, nullptr, "true", nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_conf_set(c, "batching", nullptr, nullptr, 0),
            PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_producer_conf_destroy(c);
  pulsarc_producer_conf_destroy(nullptr);
}

// A client on a port nobody listens on: producer_create_cb must refuse bad
// option combinations before any traffic.
class ConfConflict : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(pulsarc_client_new("pulsar://127.0.0.1:1", nullptr, &client_), PULSARC_OK);
  }
  void TearDown() override { pulsarc_client_destroy(client_); }
  pulsarc_client_t *client_ = nullptr;
};

// compression_level is bounded per codec at creation (the option alone
// cannot know the codec, which may be set after it): zlib stops at 9, lz4
// at 12, zstd at 22; snappy ignores it.
TEST_F(ConfConflict, CompressionLevelOutOfRangeForTheCodec) {
  struct {
    const char *codec, *level;
    bool ok;
  } cases[] = {{"zlib", "9", true},  {"zlib", "10", false}, {"lz4", "12", true},
               {"lz4", "13", false}, {"zstd", "22", true},  {"snappy", "22", true},
               {"none", "5", true}};
  for (auto &k : cases) {
    pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
    ASSERT_EQ(pulsarc_producer_conf_set(c, "compression_level", k.level, nullptr, 0), PULSARC_OK);
    ASSERT_EQ(pulsarc_producer_conf_set(c, "compression", k.codec, nullptr, 0), PULSARC_OK);
    pulsarc_producer_t *p = nullptr;
    pulsarc_err_t e = pulsarc_producer_create_cb(client_, "t", c, nullptr, nullptr, &p);
    if (k.ok) {
      EXPECT_NE(e, PULSARC_ERR_CONFLICT) << k.codec << " " << k.level;
    } else {
      EXPECT_EQ(e, PULSARC_ERR_CONFLICT) << k.codec << " " << k.level;
      EXPECT_EQ(p, nullptr);
      EXPECT_NE(std::strstr(pulsarc_last_error_text(), "compression_level"), nullptr)
          << pulsarc_last_error_text();
    }
    if (p != nullptr)
      pulsarc_producer_destroy(p);
    pulsarc_producer_conf_destroy(c);
  }
}

TEST_F(ConfConflict, ChunkingWithBatchingIsConflictAtStart) {
  pulsarc_producer_conf_t *c = pulsarc_producer_conf_new();
  ASSERT_EQ(pulsarc_producer_conf_set(c, "chunking", "true", nullptr, 0), PULSARC_OK);
  // batching defaults to true
  pulsarc_producer_t *p = reinterpret_cast<pulsarc_producer_t *>(0x1);
  EXPECT_EQ(pulsarc_producer_create_cb(client_, "t", c, nullptr, nullptr, &p),
            PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);
  p = reinterpret_cast<pulsarc_producer_t *>(0x1);
  EXPECT_EQ(pulsarc_producer_create(client_, "t", c, &p), PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);

  // Explicit batching=true: same.
  ASSERT_EQ(pulsarc_producer_conf_set(c, "batching", "true", nullptr, 0), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_create_cb(client_, "t", c, nullptr, nullptr, &p),
            PULSARC_ERR_CONFLICT);

  // Without batching it is no conflict (it may be accepted or reported as
  // not supported yet, but never as a conflict).
  ASSERT_EQ(pulsarc_producer_conf_set(c, "batching", "false", nullptr, 0), PULSARC_OK);
  pulsarc_err_t e = pulsarc_producer_create_cb(client_, "t", c, nullptr, nullptr, &p);
  EXPECT_NE(e, PULSARC_ERR_CONFLICT);
  if (e == PULSARC_OK)
    pulsarc_producer_destroy(p);
  pulsarc_producer_conf_destroy(c);
}

// --------------------------------------------------------- message options

TEST(MsgOpts, SettersValidate) {
  pulsarc_msg_opts_t *o = pulsarc_msg_opts_new();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(pulsarc_msg_opts_set_partition_key(o, "k"), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_ordering_key(o, "\x00\x01", 2), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_add_property(o, "a", "1"), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_add_property(o, "b", ""), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_event_time(o, INT64_C(1700000000000)), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_deliver_at(o, 1700000000000ll), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_deliver_after(o, 1000), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_timeout(o, 200), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_timeout(o, 0), PULSARC_OK);

  EXPECT_EQ(pulsarc_msg_opts_add_property(o, nullptr, "1"), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_add_property(o, "a", nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_ordering_key(o, nullptr, 3), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_timeout(o, -1), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_deliver_after(o, -1), PULSARC_ERR_INVALID_ARGUMENT);
  // Times are int64_t ms like deliver_at; a negative event time is refused
  // (it was a uint64_t that took -1 as a date in 292 million years).
  EXPECT_EQ(pulsarc_msg_opts_set_event_time(o, -1), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_deliver_at(o, -1), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_null_value(o, true), PULSARC_OK);
  EXPECT_EQ(pulsarc_msg_opts_set_null_value(o, false), PULSARC_OK);

  EXPECT_EQ(pulsarc_msg_opts_set_partition_key(nullptr, "k"), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_event_time(nullptr, 1), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_opts_set_timeout(nullptr, 1), PULSARC_ERR_INVALID_ARGUMENT);

  pulsarc_msg_opts_clear(o);
  EXPECT_EQ(pulsarc_msg_opts_add_property(o, "again", "ok"), PULSARC_OK);
  pulsarc_msg_opts_destroy(o);
  pulsarc_msg_opts_destroy(nullptr);
  pulsarc_msg_opts_clear(nullptr);
}

TEST(MsgOpts, CopiedIntoExtension) {
  pulsarc_msg_opts_t *o = pulsarc_msg_opts_new();
  pulsarc_err_t err;
  EXPECT_EQ(pc_msg_ext_from_opts(o, &err), nullptr); // nothing set: fast path
  EXPECT_EQ(err, PULSARC_OK);
  std::string key = "pk";
  pulsarc_msg_opts_set_partition_key(o, key.c_str());
  pulsarc_msg_opts_add_property(o, "k1", "v1");
  pulsarc_msg_opts_set_event_time(o, 42);
  key = "XX"; // the options own their copy
  pc_msg_ext *x = pc_msg_ext_from_opts(o, &err);
  ASSERT_NE(x, nullptr);
  EXPECT_STREQ(x->partition_key, "pk");
  ASSERT_EQ(x->nprops, 1u);
  EXPECT_STREQ(x->prop_keys[0], "k1");
  EXPECT_STREQ(x->prop_values[0], "v1");
  EXPECT_EQ(x->event_time_ms, 42u);
  EXPECT_FALSE(x->has_deliver_at);
  std::free(x);
  pulsarc_msg_opts_destroy(o);
}

// ------------------------------------------------------------------ errors

// The settled numbering: values never move (stored values stay meaningful).
TEST(ErrCodes, ExplicitValuesInTwoRanges) {
  EXPECT_EQ(PULSARC_OK, 0);
  EXPECT_EQ(PULSARC_ERR_INVALID_ARGUMENT, 1);
  EXPECT_EQ(PULSARC_ERR_QUEUE_FULL, 12);
  EXPECT_EQ(PULSARC_ERR_TLS, 22);
  EXPECT_EQ(PULSARC_ERR_INTERNAL, 29);
  EXPECT_EQ(PULSARC_ERR_BROKER_BASE, 100);
  // Broker errors are the base plus the protocol's ServerError number.
  EXPECT_EQ(PULSARC_ERR_BROKER_AUTHENTICATION, 100 + 3);
  EXPECT_EQ(PULSARC_ERR_BROKER_TOPIC_TERMINATED, 100 + 15);
  EXPECT_EQ(PULSARC_ERR_BROKER_NOT_ALLOWED, 100 + 22);
  EXPECT_EQ(PULSARC_ERR_BROKER_PRODUCER_FENCED, 100 + 25);
}

TEST(ErrStr, NonNullAndDistinctForEveryCode) {
  std::set<std::string> seen_text, seen_name;
  std::vector<int> codes;
  for (int i = 0; i <= PULSARC_ERR_INTERNAL; i++)
    codes.push_back(i);
  for (int i = PULSARC_ERR_BROKER_BASE; i <= PULSARC_ERR_BROKER_PRODUCER_FENCED; i++)
    codes.push_back(i);
  for (int i : codes) {
    auto e = static_cast<pulsarc_err_t>(i);
    const char *s = pulsarc_err_str(e);
    const char *n = pulsarc_err_name(e);
    ASSERT_NE(s, nullptr) << "code " << i;
    ASSERT_NE(n, nullptr) << "code " << i;
    EXPECT_GT(std::strlen(s), 0u) << "code " << i;
    EXPECT_EQ(std::string(n).rfind("PULSARC_", 0), 0u) << n;
    EXPECT_TRUE(seen_text.insert(s).second) << "code " << i << " repeats \"" << s << "\"";
    EXPECT_TRUE(seen_name.insert(n).second) << "code " << i << " repeats " << n;
  }
  EXPECT_STREQ(pulsarc_err_name(PULSARC_ERR_QUEUE_FULL), "PULSARC_ERR_QUEUE_FULL");
  EXPECT_STREQ(pulsarc_err_name(PULSARC_ERR_BROKER_PRODUCER_FENCED),
               "PULSARC_ERR_BROKER_PRODUCER_FENCED");
  // Codes this version does not know still get an answer that says what they are.
  EXPECT_STREQ(pulsarc_err_name(static_cast<pulsarc_err_t>(150)), "PULSARC_ERR_BROKER_50");
  EXPECT_STREQ(pulsarc_err_str(static_cast<pulsarc_err_t>(150)), "broker: error 50");
  EXPECT_STREQ(pulsarc_err_name(static_cast<pulsarc_err_t>(-1)), "PULSARC_ERR_UNKNOWN_-1");
  EXPECT_STREQ(pulsarc_err_str(static_cast<pulsarc_err_t>(100000)), "unknown error code");
  EXPECT_STREQ(pulsarc_err_str(static_cast<pulsarc_err_t>(50)), "unknown error code");
}

TEST(ErrRetriable, TransientYesFinalNo) {
  for (auto e :
       {PULSARC_ERR_QUEUE_FULL, PULSARC_ERR_MEMORY_LIMIT, PULSARC_ERR_TIMEOUT, PULSARC_ERR_CONNECT,
        PULSARC_ERR_DISCONNECTED, PULSARC_ERR_CONNECT_TIMEOUT, PULSARC_ERR_LOOKUP_TIMEOUT,
        PULSARC_ERR_BROKER_SERVICE_NOT_READY, PULSARC_ERR_BROKER_TOO_MANY_REQUESTS})
    EXPECT_TRUE(pulsarc_err_is_retriable(e)) << pulsarc_err_name(e);
  for (auto e :
       {PULSARC_OK, PULSARC_ERR_INVALID_ARGUMENT, PULSARC_ERR_INVALID_TOPIC, PULSARC_ERR_TLS,
        PULSARC_ERR_AUTH_DATA, PULSARC_ERR_CLOSED, PULSARC_ERR_MESSAGE_TOO_BIG,
        PULSARC_ERR_INTERNAL, PULSARC_ERR_BROKER_AUTHENTICATION, PULSARC_ERR_BROKER_PRODUCER_FENCED,
        PULSARC_ERR_BROKER_TOPIC_TERMINATED, PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA})
    EXPECT_FALSE(pulsarc_err_is_retriable(e)) << pulsarc_err_name(e);
}

TEST(ErrDetail, PerThreadAndEmptyByDefault) {
  std::string other;
  std::thread t([&] { other = pulsarc_last_error_text(); });
  t.join();
  EXPECT_EQ(other, "");
}

TEST(MsgIdFormat, LedgerEntryPartitionBatch) {
  pulsarc_msg_id_t id{};
  id.ledger_id = 12;
  id.entry_id = 34;
  id.partition = -1;
  id.batch_index = 5;
  char buf[64];
  int n = pulsarc_msg_id_format(&id, buf, sizeof buf);
  EXPECT_STREQ(buf, "12:34:-1:5");
  EXPECT_EQ(n, 10);
  char small[4];
  n = pulsarc_msg_id_format(&id, small, sizeof small);
  EXPECT_EQ(n, 10);
  EXPECT_STREQ(small, "12:");
}

} // namespace
