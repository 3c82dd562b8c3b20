/* The option table and the generic set, get and dump it drives. Edit an
 * option here only: README.md's option tables and docs/options.md are
 * generated from this table (tools/gen-options-doc.py; CI fails when they
 * differ). Called on application threads. */
#include "conf/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err_detail.h"
#include "conf/conf.h"

typedef struct pulsarc_client_conf CC;
typedef struct pulsarc_producer_conf PC;

/* Field position and width, for the entries below. */
#define CF(f) .offset = offsetof(CC, f), .size = sizeof(((CC *)0)->f)
#define PF(f) .offset = offsetof(PC, f), .size = sizeof(((PC *)0)->f)

_Static_assert(sizeof(pulsarc_access_mode_t) == sizeof(int), "enum options are int-sized");
_Static_assert(sizeof(pulsarc_compression_t) == sizeof(int), "enum options are int-sized");
_Static_assert(sizeof(pulsarc_log_level_t) == sizeof(int), "enum options are int-sized");

static const pc_opt_name log_levels[] = {{"debug", PULSARC_LOG_DEBUG}, {"info", PULSARC_LOG_INFO},
                                         {"warn", PULSARC_LOG_WARN},   {"error", PULSARC_LOG_ERROR},
                                         {"off", PULSARC_LOG_OFF},     {NULL, 0}};

static const pc_opt client_opts[] = {
    {.key = "io_threads",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(io_threads),
     .min = 1,
     .max = 64,
     .def = "1",
     .doc = "I/O threads; each producer is pinned to one"},
    {.key = "io_busy_poll_us",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(io_busy_poll_us),
     .max = 1000000,
     .def = "0",
     .doc = "after its last piece of work an I/O thread keeps polling this long before it sleeps. "
            "Spends up to a core per I/O thread while traffic lasts to save the wake-up of the "
            "next send or receipt (on an idle VM a wake-up costs tens of µs); for latency-bound, "
            "one-at-a-time sending. 0 = sleep at once"},
    {.key = "connect_timeout_ms",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(connect_timeout_ms),
     .min = 1,
     .max = UINT32_MAX,
     .def = "10000",
     .doc = "resolve + TCP connect + CONNECT/CONNECTED"},
    {.key = "operation_timeout_ms",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(operation_timeout_ms),
     .min = 1,
     .max = UINT32_MAX,
     .def = "30000",
     .doc = "PARTITIONED_METADATA, LOOKUP, PRODUCER; also bounds the first creation"},
    {.key = "keepalive_interval_ms",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(keepalive_interval_ms),
     .max = UINT32_MAX,
     .def = "30000",
     .doc = "PING when idle; no PONG by the next tick closes the connection"},
    {.key = "max_lookup_redirects",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(max_lookup_redirects),
     .max = 1000,
     .def = "20",
     .doc = "LOOKUP answers that redirect to another broker, before the lookup fails"},
    {.key = "transaction_timeout_ms",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(transaction_timeout_ms),
     .min = 1,
     .max = UINT32_MAX,
     .def = "60000",
     .doc = "a transaction's timeout (pulsarc_txn_begin with 0): the coordinator aborts a "
            "transaction still open after it, as the official clients' default of one minute"},
    {.key = "memory_limit_bytes",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(memory_limit_bytes),
     .max = UINT64_MAX / 2,
     .def = "67108864",
     .doc = "client-wide limit on queued payload bytes; 0 = none. When reached, sends block (or "
            "fail with `PULSARC_ERR_MEMORY_LIMIT` if `block_if_queue_full=false`). It bounds "
            "bursts; when large messages are sent flat out, a smaller limit is faster (queued "
            "copies stay in cache: 16 KiB messages went 7-14% faster at 4 MiB in the bench)"},
    {.key = "stats_interval_seconds",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(stats_interval_seconds),
     .max = 86400 * 365,
     .def = "600",
     .doc = "every this many seconds, one INFO log line per producer: its counters, the ack "
            "rate since the previous line, latency p50/p99 (as the official clients' "
            "`statsIntervalSeconds`); 0 = off. The log level must let INFO through"},
    {.key = "compression_threads",
     .section = "client",
     .type = PC_OPT_UINT,
     CF(compression_threads),
     .max = 64,
     .def = "0",
     .doc = "threads that compress sealed batches off the I/O threads (sequence ids, framing "
            "and writes stay on the I/O thread, in order). 0 = compress on the I/O thread. "
            "Off by default: on a 2-core machine, where the sending thread and the I/O thread "
            "already share both cores, one worker gave lz4/zstd text no more messages per "
            "second and cost 15-20% more CPU per message; it pays with cores to spare"},
    {.key = "log_level",
     .section = "client",
     .type = PC_OPT_ENUM,
     .flags = PC_OPT_ENV,
     CF(logger.level),
     .names = log_levels,
     .def = "warn",
     .doc = "debug, info, warn, error, off (also env `PULSARC_LOG_LEVEL`); replace the logger "
            "with `pulsarc_client_conf_set_logger`"},
    {.key = "tls_trust_certs_file",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     CF(tls_trust_certs_file),
     .def_doc = "system store",
     .doc = "PEM file of the CAs that may sign broker certificates"},
    {.key = "tls_validate_hostname",
     .section = "tls",
     .type = PC_OPT_BOOL,
     CF(tls_validate_hostname),
     .def = "true",
     .doc = "the certificate must name the host dialled (DNS name, or IP address SAN for "
            "`127.0.0.1`-style hosts); SNI is sent for names"},
    {.key = "tls_allow_insecure",
     .section = "tls",
     .type = PC_OPT_BOOL,
     CF(tls_allow_insecure),
     .def = "false",
     .doc = "accept any certificate (tests only; logged as a warning)"},
    {.key = "tls_cert_file",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     CF(tls_cert_file),
     .def_doc = "none",
     .doc = "client certificate (PEM) for mutual TLS; with no token this is auth method `tls`"},
    {.key = "tls_key_file",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     CF(tls_key_file),
     .def_doc = "none",
     .doc = "private key (PEM) of `tls_cert_file`"},
    {.key = "tls_key_password",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_SECRET,
     CF(tls_key_password),
     .def_doc = "none",
     .doc = "passphrase of an encrypted `tls_key_file`; never prompted for, logged or kept after "
            "the key is loaded"},
    {.key = "auth_token",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_SECRET | PC_OPT_ONE_LINE,
     CF(auth_token),
     .def_doc = "none",
     .doc = "token authentication (`auth_method_name` `token`); never written to logs or error "
            "strings"},
    {.key = "auth_token_file",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     CF(auth_token_file),
     .def_doc = "none",
     .doc = "file holding the token (surrounding whitespace ignored), read again on every "
            "connect and every refresh"},
    {.key = "oauth2_issuer_url",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_ONE_LINE,
     CF(oauth2_issuer_url),
     .def_doc = "from the credentials file",
     .doc = "OAuth2 client credentials: the issuer whose `/.well-known/openid-configuration` "
            "names the token endpoint (https only unless `oauth2_allow_http`)"},
    {.key = "oauth2_credentials_file",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     CF(oauth2_credentials_file),
     .def_doc = "none",
     .doc = "JSON file with `client_id`, `client_secret` and optionally `issuer_url`; setting it "
            "turns OAuth2 on (auth method `token` with the fetched access token)"},
    {.key = "oauth2_audience",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_ONE_LINE,
     CF(oauth2_audience),
     .def_doc = "none",
     .doc = "`audience` sent with the client-credentials grant"},
    {.key = "oauth2_scope",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_ONE_LINE,
     CF(oauth2_scope),
     .def_doc = "none",
     .doc = "`scope` sent with the client-credentials grant"},
    {.key = "oauth2_params",
     .section = "tls",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_SECRET,
     CF(oauth2_params),
     .def_doc = "none",
     .doc = "the official clients' OAuth2 auth-params JSON (`issuer_url` or `issuerUrl`, "
            "`private_key` as a `file://` or `data:` URL of the credentials, `audience`, "
            "`scope`); the options above override its fields"},
    {.key = "oauth2_allow_http",
     .section = "tls",
     .type = PC_OPT_BOOL,
     CF(oauth2_allow_http),
     .def = "false",
     .doc = "let the issuer and token endpoint be plain `http://` (tests only; logged as a "
            "warning). Otherwise https, verified against `tls_trust_certs_file` or the system "
            "store"},
};

static const pc_opt_name access_modes[] = {
    {"shared", PULSARC_ACCESS_SHARED},
    {"exclusive", PULSARC_ACCESS_EXCLUSIVE},
    {"wait_for_exclusive", PULSARC_ACCESS_WAIT_FOR_EXCLUSIVE},
    {"exclusive_with_fencing", PULSARC_ACCESS_EXCLUSIVE_WITH_FENCING},
    {NULL, 0}};
static const pc_opt_name codecs[] = {
    {"none", PULSARC_COMPRESSION_NONE},     {"lz4", PULSARC_COMPRESSION_LZ4},
    {"zlib", PULSARC_COMPRESSION_ZLIB},     {"zstd", PULSARC_COMPRESSION_ZSTD},
    {"snappy", PULSARC_COMPRESSION_SNAPPY}, {NULL, 0}};
/* Schema.Type wire values; "bytes" (or "none") means no schema at all. */
static const pc_opt_name schema_types[] = {{"bytes", -1},
                                           {"none", -1},
                                           {"string", 1},
                                           {"json", 2},
                                           {"protobuf", 3},
                                           {"avro", 4},
                                           {"boolean", 5},
                                           {"int8", 6},
                                           {"int16", 7},
                                           {"int32", 8},
                                           {"int64", 9},
                                           {"float", 10},
                                           {"double", 11},
                                           {"date", 12},
                                           {"time", 13},
                                           {"timestamp", 14},
                                           {"key_value", 15},
                                           {"instant", 16},
                                           {"local_date", 17},
                                           {"local_time", 18},
                                           {"local_date_time", 19},
                                           {"protobuf_native", 20},
                                           {NULL, 0}};
static const pc_opt_name routing_modes[] = {{"round_robin", PC_ROUTE_ROUND_ROBIN},
                                            {"single_partition", PC_ROUTE_SINGLE},
                                            {"custom", PC_ROUTE_CUSTOM},
                                            {NULL, 0}};
static const pc_opt_name hashings[] = {
    {"java_string", PC_HASH_JAVA_STRING}, {"murmur3_32", PC_HASH_MURMUR3_32}, {NULL, 0}};
static const pc_opt_name crypto_actions[] = {
    {"fail", PC_CRYPTO_FAIL_FAIL}, {"send", PC_CRYPTO_FAIL_SEND}, {NULL, 0}};

static const pc_opt producer_opts[] = {
    {.key = "name",
     .section = "producer",
     .type = PC_OPT_STR,
     .flags = PC_OPT_NONEMPTY,
     PF(name),
     .def_doc = "broker assigns",
     .doc = "producer name, kept across reconnects"},
    {.key = "access_mode",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(access_mode),
     .names = access_modes,
     .def = "shared",
     .doc = "shared, exclusive, wait_for_exclusive, exclusive_with_fencing"},
    {.key = "batching",
     .section = "producer",
     .type = PC_OPT_BOOL,
     PF(batching),
     .def = "true",
     .doc = "group messages into batches"},
    {.key = "batch_max_messages",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(batch_max_messages),
     .min = 1,
     .max = 1000000,
     .def = "1000",
     .doc = "messages per batch at most"},
    {.key = "batch_max_bytes",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(batch_max_bytes),
     .min = 1,
     .max = 64ull << 20,
     .def = "131072",
     .doc = "payload bytes per batch at most; also capped by the broker's max message size"},
    {.key = "batch_max_delay_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(batch_max_delay_ms),
     .max = 3600000,
     .def = "10",
     .doc = "a partial batch is sent this long after its first message arrived, unless a sender "
            "waits for one of its messages (group commit: then at once)"},
    {.key = "send_timeout_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(send_timeout_ms),
     .max = 1ull << 40,
     .def = "30000",
     .doc = "per-message deadline for every send, blocking ones included (a message's own "
            "`pulsarc_msg_opts_set_timeout` overrides it); 0 = none. The deadline is taken from "
            "the kernel's coarse clock plus one tick, so it is within a few ms of the value: "
            "normally a tick late at most; a blocking send was once measured 2 ms early on an "
            "idle tickless VM"},
    {.key = "max_pending_messages",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(max_pending_messages),
     .min = 1,
     .max = 10000000,
     .def = "1000",
     .doc = "accepted but not yet acknowledged"},
    {.key = "max_pending_messages_across_partitions",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(max_pending_across_partitions),
     .min = 1,
     .max = 100000000,
     .def = "50000",
     .doc = "on a partitioned topic of N partitions each partition may hold "
            "min(`max_pending_messages`, this / N) pending messages (at least 1), and the "
            "producer the sum: a partition whose broker is gone holds at most its share, and "
            "only sends routed to it wait or fail with `PULSARC_ERR_QUEUE_FULL`"},
    {.key = "block_if_queue_full",
     .section = "producer",
     .type = PC_OPT_BOOL,
     PF(block_if_queue_full),
     .def = "true",
     .doc = "false: sends fail at once with `PULSARC_ERR_QUEUE_FULL`"},
    {.key = "max_message_size",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(max_message_size),
     .min = 1024,
     .max = 1ull << 30,
     .def = "5242880",
     .doc = "the smaller of this and the broker's value applies; larger sends fail with "
            "`PULSARC_ERR_MESSAGE_TOO_BIG`"},
    {.key = "initial_sequence_id",
     .section = "producer",
     .type = PC_OPT_UINT,
     .flags = PC_OPT_HAS_FLAG,
     PF(initial_sequence_id),
     .aux_offset = offsetof(PC, has_initial_sequence_id),
     .max = INT64_MAX,
     .def_doc = "broker's last stored id",
     .doc = "the first message gets this + 1, as in the official clients"},
    {.key = "startup_delay_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(startup_delay_ms),
     .max = 3600000,
     .def = "0",
     .doc = "fixed delay before the first lookup (spreads restart storms)"},
    {.key = "startup_jitter_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(startup_jitter_ms),
     .max = 3600000,
     .def = "0",
     .doc = "plus a random 0..jitter ms"},
    {.key = "backoff_initial_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(backoff_initial_ms),
     .min = 1,
     .max = 3600000,
     .def = "100",
     .doc = "reconnect backoff, doubling per attempt (±10 % jitter)"},
    {.key = "backoff_max_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(backoff_max_ms),
     .min = 1,
     .max = 3600000,
     .def = "60000",
     .doc = "the reconnect backoff stops doubling here; at least `backoff_initial_ms`"},
    {.key = "close_timeout_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(close_timeout_ms),
     .max = 1ull << 40,
     .def = "30000",
     .doc = "how long close flushes before failing what is left with `PULSARC_ERR_CLOSED`; 0 = "
            "do not flush"},
    {.key = "compression",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(compression),
     .names = codecs,
     .def = "none",
     .doc = "lz4 (raw block), zlib, zstd, snappy (levels: `compression_level`); applied to the "
            "whole batch or single payload"},
    {.key = "compression_level",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(compression_level),
     .max = 22,
     .def = "0",
     .doc = "0 = the codec's default, as the official clients use it (zstd 3, zlib 6, plain "
            "lz4); zstd 1..22, zlib 1..9, lz4 1..12 = LZ4 HC at that level (the same raw block "
            "on the wire, slower to write, as fast to read); snappy ignores it. A level out of "
            "the codec's range fails producer creation with `PULSARC_ERR_CONFLICT`"},
    {.key = "chunking",
     .section = "producer",
     .type = PC_OPT_BOOL,
     PF(chunking),
     .def = "false",
     .doc = "split messages larger than the max message size into chunks (needs "
            "`batching=false`: with batching it is a conflict)"},
    {.key = "schema_type",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(schema_type),
     .names = schema_types,
     .def = "bytes",
     .doc = "bytes (no schema), string, json, avro, protobuf, protobuf_native, key_value, "
            "boolean, int8..int64, float, double, date, time, timestamp, instant, local_date, "
            "local_time, local_date_time"},
    {.key = "schema_definition",
     .section = "producer",
     .type = PC_OPT_BYTES,
     PF(schema_definition),
     .aux_offset = offsetof(PC, schema_definition_len),
     .def_doc = "\"\"",
     .doc = "schema text (required for json, avro, protobuf); definition, name and properties "
            "together must fit `max_message_size`, else creation fails with "
            "`PULSARC_ERR_CONFLICT`"},
    {.key = "schema_name",
     .section = "producer",
     .type = PC_OPT_STR,
     PF(schema_name),
     .def_doc = "\"\"",
     .doc = "the schema's name, sent with it"},
    {.key = "schema_property",
     .section = "producer",
     .type = PC_OPT_KV,
     PF(schema_properties),
     .def_doc = "-",
     .doc = "`key=value`, one per call; get and dump show them joined by commas"},
    {.key = "key_based_batching",
     .section = "producer",
     .type = PC_OPT_BOOL,
     PF(key_based_batching),
     .def = "false",
     .doc = "one batch per partition key (for Key_Shared consumers)"},
    {.key = "routing_mode",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(routing_mode),
     .names = routing_modes,
     .def = "round_robin",
     .doc = "round_robin (switches partition once per batch), single_partition, custom "
            "(`pulsarc_producer_conf_set_router`)"},
    {.key = "hashing",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(hashing),
     .names = hashings,
     .def = "java_string",
     .doc = "java_string (Java's String.hashCode, as the Java and Go clients) or murmur3_32; a "
            "message with a key goes to hash(key) mod N in every mode but custom"},
    {.key = "lazy_start_partitions",
     .section = "producer",
     .type = PC_OPT_BOOL,
     PF(lazy_start_partitions),
     .def = "false",
     .doc = "register a partition's producer on its first message"},
    {.key = "partitions_update_interval_ms",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(partitions_update_interval_ms),
     .max = 1ull << 40,
     .def = "60000",
     .doc = "how often the partition count is re-read (grow only); 0 = never"},
    {.key = "encryption_keys",
     .section = "producer",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS | PC_OPT_ONE_LINE,
     PF(encryption_keys),
     .def_doc = "none",
     .doc = "comma-separated public key names: encrypt every message end to end (AES-256-GCM, "
            "data key wrapped for each name: RSA-OAEP, or ECIES for an EC key; "
            "docs/encryption.md)"},
    {.key = "encryption_public_key_file",
     .section = "producer",
     .type = PC_OPT_STR,
     .flags = PC_OPT_EMPTY_CLEARS,
     PF(encryption_public_key_file),
     .def_doc = "none",
     .doc = "PEM public key for every name of `encryption_keys`, read at each rotation (unless "
            "`pulsarc_producer_conf_set_key_reader` gives a key reader)"},
    {.key = "encryption_key_rotation_seconds",
     .section = "producer",
     .type = PC_OPT_UINT,
     PF(encryption_key_rotation_seconds),
     .min = 1,
     .max = 1ull << 32,
     .def = "14400",
     .doc = "a new data key (wrapped again) this often, as the official clients (4 hours)"},
    {.key = "crypto_failure_action",
     .section = "producer",
     .type = PC_OPT_ENUM,
     PF(crypto_failure_action),
     .names = crypto_actions,
     .def = "fail",
     .doc = "when a key cannot be read or used: fail (the sends fail with `PULSARC_ERR_CRYPTO`) "
            "or send (unencrypted), as the official `ProducerCryptoFailureAction`"},
};

const pc_opt *pc_conf_options(bool producer, size_t *n) {
  *n = producer ? sizeof producer_opts / sizeof producer_opts[0]
                : sizeof client_opts / sizeof client_opts[0];
  return producer ? producer_opts : client_opts;
}

static const pc_opt *find(bool producer, const char *key) {
  size_t n;
  const pc_opt *t = pc_conf_options(producer, &n);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].key, key))
      return &t[i];
  return NULL;
}

/* ------------------------------------------------------------------- set */

static pulsarc_err_t fail(char *errbuf, size_t len, pulsarc_err_t err, const char *fmt,
                          const char *a, const char *b) {
  if (errbuf != NULL && len > 0)
    snprintf(errbuf, len, fmt, a, b);
  return err;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, bool *out) {
  if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
    *out = true;
  else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
           !strcasecmp(s, "off"))
    *out = false;
  else
    return -1;
  return 0;
}

static void store_uint(void *field, size_t size, uint64_t v) {
  if (size == sizeof(uint32_t)) {
    uint32_t w = (uint32_t)v;
    memcpy(field, &w, sizeof w);
  } else {
    memcpy(field, &v, sizeof v);
  }
}

static uint64_t load_uint(const void *field, size_t size) {
  if (size == sizeof(uint32_t)) {
    uint32_t w;
    memcpy(&w, field, sizeof w);
    return w;
  }
  uint64_t v;
  memcpy(&v, field, sizeof v);
  return v;
}

static pulsarc_err_t opt_set(const pc_opt *o, void *conf, const char *value, char *errbuf,
                             size_t errlen) {
  char *base = conf;
  void *field = base + o->offset;
  switch (o->type) {
  case PC_OPT_UINT: {
    uint64_t v;
    if (parse_u64(value, o->max, &v) || v < o->min)
      goto bad;
    store_uint(field, o->size, v);
    if (o->flags & PC_OPT_HAS_FLAG)
      *(bool *)(base + o->aux_offset) = true;
    return PULSARC_OK;
  }
  case PC_OPT_BOOL:
    if (parse_bool(value, (bool *)field))
      goto bad;
    return PULSARC_OK;
  case PC_OPT_ENUM:
    for (const pc_opt_name *n = o->names; n->name != NULL; n++)
      if (!strcasecmp(value, n->name)) {
        memcpy(field, &n->value, sizeof n->value);
        return PULSARC_OK;
      }
    goto bad;
  case PC_OPT_STR: {
    if ((o->flags & PC_OPT_NONEMPTY) && *value == '\0')
      goto bad;
    /* Never echo a secret into errbuf. */
    if ((o->flags & PC_OPT_ONE_LINE) && strpbrk(value, "\r\n") != NULL)
      return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "invalid value for %s%s", o->key,
                  " (line break)");
    char *v = NULL;
    if (!(*value == '\0' && (o->flags & PC_OPT_EMPTY_CLEARS)) && (v = strdup(value)) == NULL)
      return PULSARC_ERR_NO_MEMORY;
    char **slot = field;
    if (o->flags & PC_OPT_SECRET)
      pc_free_secret(*slot);
    else
      free(*slot);
    *slot = v;
    return PULSARC_OK;
  }
  case PC_OPT_BYTES: {
    char *v = strdup(value);
    if (v == NULL)
      return PULSARC_ERR_NO_MEMORY;
    uint8_t **slot = field;
    free(*slot);
    *slot = (uint8_t *)v;
    *(size_t *)(base + o->aux_offset) = strlen(value);
    return PULSARC_OK;
  }
  case PC_OPT_KV: {
    const char *eq = strchr(value, '=');
    if (eq == NULL || eq == value)
      goto bad;
    if (pc_kv_list_add(field, value, (size_t)(eq - value), eq + 1) != 0)
      return PULSARC_ERR_NO_MEMORY;
    return PULSARC_OK;
  }
  }
bad:
  return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "invalid value \"%s\" for %s", value,
              o->key);
}

void pc_conf_apply_defaults(bool producer, void *conf) {
  size_t n;
  const pc_opt *t = pc_conf_options(producer, &n);
  for (size_t i = 0; i < n; i++)
    if (t[i].def != NULL)
      (void)opt_set(&t[i], conf, t[i].def, NULL, 0); /* numbers and names: cannot fail */
}

static pulsarc_err_t conf_set(bool producer, void *conf, const char *key, const char *value,
                              char *errbuf, size_t errlen) {
  if (conf == NULL || key == NULL || value == NULL)
    return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "%s%s", "NULL argument", "");
  const pc_opt *o = find(producer, key);
  if (o == NULL)
    return fail(errbuf, errlen, PULSARC_ERR_UNKNOWN_OPTION,
                producer ? "unknown producer option \"%s\"%s" : "unknown client option \"%s\"%s",
                key, "");
  return opt_set(o, conf, value, errbuf, errlen);
}

pulsarc_err_t pulsarc_client_conf_set(pulsarc_client_conf_t *c, const char *key, const char *value,
                                      char *errbuf, size_t errlen) {
  return conf_set(false, c, key, value, errbuf, errlen);
}

pulsarc_err_t pulsarc_producer_conf_set(pulsarc_producer_conf_t *c, const char *key,
                                        const char *value, char *errbuf, size_t errlen) {
  return conf_set(true, c, key, value, errbuf, errlen);
}

/* -------------------------------------------------------------- get, dump */

/* Collects a value into a buffer of cap bytes, counting what it needs. */
typedef struct out {
  char *buf;
  size_t cap, n;
} out;

static void put(out *w, const char *s, size_t len) {
  if (w->n + 1 < w->cap) {
    size_t room = w->cap - 1 - w->n;
    memcpy(w->buf + w->n, s, len < room ? len : room);
  }
  w->n += len;
}

static void puts_(out *w, const char *s) { put(w, s, strlen(s)); }

/* Writes o's value as get reports it into buf (NUL-terminated, cut short
 * when cap is too small); returns its length without the NUL. */
static size_t opt_format(const pc_opt *o, const void *conf, char *buf, size_t cap) {
  const char *base = conf;
  const void *field = base + o->offset;
  out w = {buf, cap, 0};
  char num[24];
  switch (o->type) {
  case PC_OPT_UINT:
    if ((o->flags & PC_OPT_HAS_FLAG) && !*(const bool *)(base + o->aux_offset))
      break;
    snprintf(num, sizeof num, "%llu", (unsigned long long)load_uint(field, o->size));
    puts_(&w, num);
    break;
  case PC_OPT_BOOL:
    puts_(&w, *(const bool *)field ? "true" : "false");
    break;
  case PC_OPT_ENUM: {
    int v;
    memcpy(&v, field, sizeof v);
    const pc_opt_name *n = o->names;
    while (n->name != NULL && n->value != v)
      n++;
    if (n->name != NULL) {
      puts_(&w, n->name);
    } else {
      snprintf(num, sizeof num, "%d", v);
      puts_(&w, num);
    }
    break;
  }
  case PC_OPT_STR: {
    const char *s = *(char *const *)field;
    if (s != NULL)
      puts_(&w, (o->flags & PC_OPT_SECRET) ? "***" : s);
    break;
  }
  case PC_OPT_BYTES: {
    const uint8_t *s = *(uint8_t *const *)field;
    if (s != NULL)
      put(&w, (const char *)s, *(const size_t *)(base + o->aux_offset));
    break;
  }
  case PC_OPT_KV: {
    const pc_kv_list *l = field;
    for (size_t i = 0; i < l->n; i++) {
      if (i > 0)
        puts_(&w, ",");
      puts_(&w, l->items[i].key);
      puts_(&w, "=");
      puts_(&w, l->items[i].value);
    }
    break;
  }
  }
  if (cap > 0)
    buf[w.n < cap ? w.n : cap - 1] = '\0';
  return w.n;
}

static pulsarc_err_t conf_get(bool producer, const void *conf, const char *key, char *buf,
                              size_t *len) {
  if (conf == NULL || key == NULL || len == NULL) {
    pc_err_detail_set("conf, key and len must not be NULL");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  const pc_opt *o = find(producer, key);
  if (o == NULL) {
    pc_err_detail_set("unknown %s option \"%s\"", producer ? "producer" : "client", key);
    return PULSARC_ERR_UNKNOWN_OPTION;
  }
  size_t cap = buf != NULL ? *len : 0;
  size_t need = opt_format(o, conf, buf, cap) + 1;
  *len = need;
  if (buf != NULL && need > cap) {
    pc_err_detail_set("%s needs a buffer of %zu bytes, got %zu", key, need, cap);
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_client_conf_get(const pulsarc_client_conf_t *c, const char *key, char *buf,
                                      size_t *len) {
  return conf_get(false, c, key, buf, len);
}

pulsarc_err_t pulsarc_producer_conf_get(const pulsarc_producer_conf_t *c, const char *key,
                                        char *buf, size_t *len) {
  return conf_get(true, c, key, buf, len);
}

static pulsarc_err_t conf_dump(bool producer, const void *conf, pulsarc_conf_dump_fn fn,
                               void *ctx) {
  if (conf == NULL || fn == NULL) {
    pc_err_detail_set("conf and fn must not be NULL");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  size_t n;
  const pc_opt *t = pc_conf_options(producer, &n);
  for (size_t i = 0; i < n; i++) {
    char small[256];
    size_t need = opt_format(&t[i], conf, small, sizeof small) + 1;
    if (need <= sizeof small) {
      fn(t[i].key, small, ctx);
      continue;
    }
    char *big = malloc(need); /* schema definitions and long paths only */
    if (big == NULL)
      return PULSARC_ERR_NO_MEMORY;
    opt_format(&t[i], conf, big, need);
    fn(t[i].key, big, ctx);
    free(big);
  }
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_client_conf_dump(const pulsarc_client_conf_t *c, pulsarc_conf_dump_fn fn,
                                       void *ctx) {
  return conf_dump(false, c, fn, ctx);
}

pulsarc_err_t pulsarc_producer_conf_dump(const pulsarc_producer_conf_t *c, pulsarc_conf_dump_fn fn,
                                         void *ctx) {
  return conf_dump(true, c, fn, ctx);
}
