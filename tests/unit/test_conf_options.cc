// The option table (src/conf/options.c) and what it drives: every entry
// round-trips set -> get, get on a new conf gives the table's default, dump
// lists every key once with get's value, get's buffer contract, secrets
// read back masked. The docs generated from the table are checked by the
// ctest tools_options_docs_match_table / tools_options_check_self_test.
#include <gtest/gtest.h>

#include <strings.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "conf/conf.h"
#include "conf/options.h"
}

namespace {

// One kind of conf (client or producer) behind a uniform face.
struct Kind {
  bool producer;
  void *conf;
  explicit Kind(bool p) : producer(p) {
    conf = p ? static_cast<void *>(pulsarc_producer_conf_new())
             : static_cast<void *>(pulsarc_client_conf_new());
  }
  ~Kind() {
    if (producer)
      pulsarc_producer_conf_destroy(static_cast<pulsarc_producer_conf_t *>(conf));
    else
      pulsarc_client_conf_destroy(static_cast<pulsarc_client_conf_t *>(conf));
  }
  Kind(const Kind &) = delete;
  Kind &operator=(const Kind &) = delete;
  std::vector<const pc_opt *> table() const {
    size_t n;
    const pc_opt *t = pc_conf_options(producer, &n);
    std::vector<const pc_opt *> v;
    for (size_t i = 0; i < n; i++)
      v.push_back(&t[i]);
    return v;
  }
  pulsarc_err_t set(const char *key, const char *value, char *err = nullptr, size_t len = 0) {
    return producer ? pulsarc_producer_conf_set(static_cast<pulsarc_producer_conf_t *>(conf), key,
                                                value, err, len)
                    : pulsarc_client_conf_set(static_cast<pulsarc_client_conf_t *>(conf), key,
                                              value, err, len);
  }
  pulsarc_err_t get_raw(const char *key, char *buf, size_t *len) const {
    return producer
               ? pulsarc_producer_conf_get(static_cast<pulsarc_producer_conf_t *>(conf), key, buf,
                                           len)
               : pulsarc_client_conf_get(static_cast<pulsarc_client_conf_t *>(conf), key, buf, len);
  }
  // The value through the size query, then a buffer of exactly that size.
  std::string get(const char *key) const {
    size_t need = 0;
    EXPECT_EQ(get_raw(key, nullptr, &need), PULSARC_OK) << key;
    EXPECT_GE(need, 1u) << key;
    std::string s(need, 'x');
    size_t len = need;
    EXPECT_EQ(get_raw(key, &s[0], &len), PULSARC_OK) << key;
    EXPECT_EQ(len, need) << key;
    EXPECT_EQ(s[need - 1], '\0') << key;
    s.resize(need - 1);
    return s;
  }
  std::vector<std::pair<std::string, std::string>> dump() const {
    std::vector<std::pair<std::string, std::string>> out;
    auto fn = [](const char *k, const char *v, void *ctx) {
      static_cast<std::vector<std::pair<std::string, std::string>> *>(ctx)->emplace_back(k, v);
    };
    pulsarc_err_t e =
        producer
            ? pulsarc_producer_conf_dump(static_cast<pulsarc_producer_conf_t *>(conf), fn, &out)
            : pulsarc_client_conf_dump(static_cast<pulsarc_client_conf_t *>(conf), fn, &out);
    EXPECT_EQ(e, PULSARC_OK);
    return out;
  }
};

// The name get spells for the value name stands for: the first with it.
std::string Canonical(const pc_opt *o, const char *name) {
  int v = 0;
  for (const pc_opt_name *n = o->names; n->name; n++)
    if (!strcasecmp(n->name, name)) {
      v = n->value;
      break;
    }
  for (const pc_opt_name *n = o->names; n->name; n++)
    if (n->value == v)
      return n->name;
  return "?";
}

// (value to set, what get must then give) for every kind of entry; more
// than one for enums and bounds.
std::vector<std::pair<std::string, std::string>> Samples(const pc_opt *o) {
  std::vector<std::pair<std::string, std::string>> s;
  switch (o->type) {
  case PC_OPT_UINT:
    s.emplace_back(std::to_string(o->min), std::to_string(o->min));
    s.emplace_back(std::to_string(o->max), std::to_string(o->max));
    if (o->max > o->min + 1)
      s.emplace_back(std::to_string(o->min + 1), std::to_string(o->min + 1));
    break;
  case PC_OPT_BOOL:
    s.emplace_back("true", "true");
    s.emplace_back("off", "false");
    s.emplace_back("YES", "true");
    s.emplace_back("0", "false");
    break;
  case PC_OPT_ENUM:
    for (const pc_opt_name *n = o->names; n->name; n++) {
      s.emplace_back(n->name, Canonical(o, n->name));
      std::string upper(n->name);
      for (char &c : upper)
        c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      s.emplace_back(upper, Canonical(o, n->name));
    }
    break;
  case PC_OPT_STR: {
    std::string v = std::string("/etc/pulsarc/") + o->key + ".pem";
    s.emplace_back(v, (o->flags & PC_OPT_SECRET) ? "***" : v);
    break;
  }
  case PC_OPT_BYTES:
    s.emplace_back("{\"type\":\"record\",\"name\":\"R\"}", "{\"type\":\"record\",\"name\":\"R\"}");
    break;
  case PC_OPT_KV:
    break; // appends: see KvAppendsAndReadsBackJoined
  }
  return s;
}

class ConfTable : public ::testing::TestWithParam<bool> {};

TEST_P(ConfTable, EveryEntryRoundTripsSetThenGet) {
  Kind k(GetParam());
  for (const pc_opt *o : k.table()) {
    auto samples = Samples(o);
    if (o->type != PC_OPT_KV) {
      EXPECT_FALSE(samples.empty()) << o->key;
    }
    for (auto &sv : samples) {
      char err[128] = "";
      ASSERT_EQ(k.set(o->key, sv.first.c_str(), err, sizeof err), PULSARC_OK)
          << o->key << "=" << sv.first << ": " << err;
      EXPECT_EQ(k.get(o->key), sv.second) << o->key << "=" << sv.first;
      // What get gives is accepted by set and reads back the same (secrets
      // excepted: "***" is not the secret).
      if (!(o->flags & PC_OPT_SECRET)) {
        std::string again = k.get(o->key);
        ASSERT_EQ(k.set(o->key, again.c_str()), PULSARC_OK) << o->key << "=" << again;
        EXPECT_EQ(k.get(o->key), again) << o->key;
      }
    }
  }
}

TEST_P(ConfTable, BoundsRefusedAndValueKept) {
  Kind k(GetParam());
  for (const pc_opt *o : k.table()) {
    if (o->type != PC_OPT_UINT)
      continue;
    std::string before = k.get(o->key);
    std::string over = std::to_string(o->max) + "0"; // max * 10 (+ digit), over the bound
    EXPECT_EQ(k.set(o->key, over.c_str()), PULSARC_ERR_INVALID_ARGUMENT) << o->key;
    if (o->min > 0) {
      EXPECT_EQ(k.set(o->key, std::to_string(o->min - 1).c_str()), PULSARC_ERR_INVALID_ARGUMENT)
          << o->key;
    }
    EXPECT_EQ(k.get(o->key), before) << o->key;
  }
}

TEST_P(ConfTable, GetOnNewConfGivesTheTableDefault) {
  Kind k(GetParam());
  for (const pc_opt *o : k.table()) {
    if ((o->flags & PC_OPT_ENV) && std::getenv("PULSARC_LOG_LEVEL") != nullptr)
      continue; // the environment chose this default
    EXPECT_EQ(k.get(o->key), o->def ? o->def : "") << o->key;
  }
}

TEST_P(ConfTable, DumpListsEveryKeyOnceWithGetsValue) {
  Kind k(GetParam());
  // Something set in every entry that has samples, so values are not all defaults.
  for (const pc_opt *o : k.table()) {
    auto samples = Samples(o);
    if (!samples.empty()) {
      ASSERT_EQ(k.set(o->key, samples.back().first.c_str()), PULSARC_OK) << o->key;
    }
  }
  auto d = k.dump();
  auto table = k.table();
  ASSERT_EQ(d.size(), table.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < d.size(); i++) {
    EXPECT_EQ(d[i].first, table[i]->key) << "dump follows the table's order";
    EXPECT_TRUE(seen.insert(d[i].first).second) << d[i].first << " dumped twice";
    EXPECT_EQ(d[i].second, k.get(d[i].first.c_str())) << d[i].first;
  }
}

TEST_P(ConfTable, EntriesAreWellFormed) {
  Kind k(GetParam());
  std::set<std::string> keys;
  for (const pc_opt *o : k.table()) {
    EXPECT_TRUE(keys.insert(o->key).second) << o->key << " twice";
    ASSERT_NE(o->doc, nullptr) << o->key;
    EXPECT_GT(std::strlen(o->doc), 10u) << o->key;
    EXPECT_EQ(std::strchr(o->doc, '\n'), nullptr) << o->key << ": one line";
    std::string sec = o->section;
    EXPECT_TRUE(GetParam() ? sec == "producer" : (sec == "client" || sec == "tls")) << o->key;
    EXPECT_TRUE(o->def != nullptr || o->def_doc != nullptr) << o->key << " documents no default";
    if (o->type == PC_OPT_UINT) {
      EXPECT_LE(o->min, o->max) << o->key;
      EXPECT_TRUE(o->size == 4 || o->size == 8) << o->key;
      if (o->size == 4) {
        EXPECT_LE(o->max, UINT32_MAX) << o->key;
      }
    }
    if (o->type == PC_OPT_ENUM) {
      EXPECT_NE(o->names, nullptr) << o->key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ClientAndProducer, ConfTable, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool> &i) {
                           return i.param ? "producer" : "client";
                         });

// The keys documented before the table existed: none may disappear.
TEST(ConfTable, EveryKnownKeyIsInTheTable) {
  const char *client[] = {"io_threads",
                          "io_busy_poll_us",
                          "connect_timeout_ms",
                          "operation_timeout_ms",
                          "keepalive_interval_ms",
                          "max_lookup_redirects",
                          "transaction_timeout_ms",
                          "memory_limit_bytes",
                          "stats_interval_seconds",
                          "compression_threads",
                          "log_level",
                          "tls_trust_certs_file",
                          "tls_cert_file",
                          "tls_key_file",
                          "tls_key_password",
                          "tls_allow_insecure",
                          "tls_validate_hostname",
                          "auth_token",
                          "auth_token_file",
                          "oauth2_issuer_url",
                          "oauth2_credentials_file",
                          "oauth2_audience",
                          "oauth2_scope",
                          "oauth2_params",
                          "oauth2_allow_http"};
  const char *producer[] = {"name",
                            "access_mode",
                            "compression",
                            "compression_level",
                            "batching",
                            "batch_max_messages",
                            "batch_max_bytes",
                            "batch_max_delay_ms",
                            "chunking",
                            "max_message_size",
                            "send_timeout_ms",
                            "max_pending_messages",
                            "max_pending_messages_across_partitions",
                            "block_if_queue_full",
                            "initial_sequence_id",
                            "startup_delay_ms",
                            "startup_jitter_ms",
                            "close_timeout_ms",
                            "backoff_initial_ms",
                            "backoff_max_ms",
                            "schema_type",
                            "schema_definition",
                            "schema_name",
                            "schema_property",
                            "key_based_batching",
                            "routing_mode",
                            "hashing",
                            "lazy_start_partitions",
                            "partitions_update_interval_ms",
                            "encryption_keys",
                            "encryption_public_key_file",
                            "encryption_key_rotation_seconds",
                            "crypto_failure_action"};
  for (bool p : {false, true}) {
    Kind k(p);
    std::set<std::string> keys;
    for (const pc_opt *o : k.table())
      keys.insert(o->key);
    const char **list = p ? producer : client;
    size_t n = p ? sizeof producer / sizeof *producer : sizeof client / sizeof *client;
    EXPECT_EQ(keys.size(), n);
    for (size_t i = 0; i < n; i++)
      EXPECT_TRUE(keys.count(list[i])) << list[i];
  }
}

TEST(ConfGet, BufferContract) {
  Kind k(false);
  ASSERT_EQ(k.set("connect_timeout_ms", "123456"), PULSARC_OK);
  size_t len = 0;
  ASSERT_EQ(k.get_raw("connect_timeout_ms", nullptr, &len), PULSARC_OK);
  EXPECT_EQ(len, 7u); // 6 digits + NUL
  char buf[16];
  std::memset(buf, 'z', sizeof buf);
  len = 4;
  EXPECT_EQ(k.get_raw("connect_timeout_ms", buf, &len), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(len, 7u);
  EXPECT_STREQ(buf, "123"); // cut short, terminated, nothing written past the 4 bytes
  EXPECT_EQ(buf[4], 'z');
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("connect_timeout_ms"), std::string::npos);
  len = 7;
  EXPECT_EQ(k.get_raw("connect_timeout_ms", buf, &len), PULSARC_OK);
  EXPECT_STREQ(buf, "123456");
  len = 0;
  EXPECT_EQ(k.get_raw("connect_timeout_ms", buf, &len), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(len, 7u);
  len = sizeof buf;
  EXPECT_EQ(k.get_raw("no_such_key", buf, &len), PULSARC_ERR_UNKNOWN_OPTION);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("no_such_key"), std::string::npos);
  EXPECT_EQ(k.get_raw(nullptr, buf, &len), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(k.get_raw("io_threads", buf, nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_conf_get(nullptr, "io_threads", buf, &len),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_conf_get(nullptr, "name", buf, &len), PULSARC_ERR_INVALID_ARGUMENT);
  // A producer key is not a client key, and the other way round.
  EXPECT_EQ(k.get_raw("batching", buf, &len), PULSARC_ERR_UNKNOWN_OPTION);
  Kind p(true);
  len = sizeof buf;
  EXPECT_EQ(p.get_raw("io_threads", buf, &len), PULSARC_ERR_UNKNOWN_OPTION);
}

TEST(ConfGet, SecretsReadBackMasked) {
  Kind k(false);
  EXPECT_EQ(k.get("auth_token"), "");
  EXPECT_EQ(k.get("tls_key_password"), "");
  ASSERT_EQ(k.set("auth_token", "eyJhbGciOiJub25lIn0.secret"), PULSARC_OK);
  ASSERT_EQ(k.set("tls_key_password", "hunter2"), PULSARC_OK);
  EXPECT_EQ(k.get("auth_token"), "***");
  EXPECT_EQ(k.get("tls_key_password"), "***");
  for (auto &kv : k.dump()) {
    EXPECT_EQ(kv.second.find("secret"), std::string::npos) << kv.first;
    EXPECT_EQ(kv.second.find("hunter2"), std::string::npos) << kv.first;
  }
  // "" clears a secret like any client string.
  ASSERT_EQ(k.set("auth_token", ""), PULSARC_OK);
  EXPECT_EQ(k.get("auth_token"), "");
}

TEST(ConfGet, UnsetValuesReadEmpty) {
  Kind p(true);
  EXPECT_EQ(p.get("initial_sequence_id"), "");
  EXPECT_EQ(p.get("name"), "");
  ASSERT_EQ(p.set("initial_sequence_id", "0"), PULSARC_OK);
  EXPECT_EQ(p.get("initial_sequence_id"), "0"); // set to 0 is not unset
  Kind c(false);
  ASSERT_EQ(c.set("tls_cert_file", "/a.pem"), PULSARC_OK);
  ASSERT_EQ(c.set("tls_cert_file", ""), PULSARC_OK);
  EXPECT_EQ(c.get("tls_cert_file"), "");
}

TEST(ConfGet, KvAppendsAndReadsBackJoined) {
  Kind p(true);
  EXPECT_EQ(p.get("schema_property"), "");
  ASSERT_EQ(p.set("schema_property", "a=1"), PULSARC_OK);
  EXPECT_EQ(p.get("schema_property"), "a=1");
  ASSERT_EQ(p.set("schema_property", "b="), PULSARC_OK);
  EXPECT_EQ(p.get("schema_property"), "a=1,b=");
  EXPECT_EQ(p.set("schema_property", "=x"), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(p.get("schema_property"), "a=1,b=");
}

TEST(ConfDump, LongValueComesWhole) {
  Kind p(true);
  std::string def(5000, 'd');
  def[0] = '{';
  ASSERT_EQ(p.set("schema_definition", def.c_str()), PULSARC_OK);
  std::map<std::string, std::string> m;
  for (auto &kv : p.dump())
    m[kv.first] = kv.second;
  EXPECT_EQ(m["schema_definition"], def);
  EXPECT_EQ(p.get("schema_definition"), def);
  EXPECT_EQ(
      pulsarc_producer_conf_dump(static_cast<pulsarc_producer_conf_t *>(p.conf), nullptr, nullptr),
      PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_conf_dump(
                nullptr, [](const char *, const char *, void *) {}, nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
}

} // namespace
