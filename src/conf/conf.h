/* Configuration objects and per-message options, as the library sees them
 * after validation. Plain data: the creating thread owns them; the client
 * and producers keep private copies. The keys that set them are in the
 * option table (conf/options.h). */
#ifndef PULSARC_CONF_CONF_H
#define PULSARC_CONF_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "pulsarc/pulsarc.h"

typedef struct pc_kv {
  char *key;
  char *value;
} pc_kv;

struct pulsarc_client_conf {
  int io_threads;
  uint64_t io_busy_poll_us;
  int compression_threads; /* 0 = compress on the I/O thread */
  uint64_t connect_timeout_ms;
  uint64_t operation_timeout_ms;
  uint64_t keepalive_interval_ms;
  int max_lookup_redirects;
  uint64_t memory_limit_bytes;     /* 0 = none */
  uint64_t stats_interval_seconds; /* 0 = no periodic stats log */
  pc_logger logger;
  /* TLS (pulsar+ssl://) and authentication. Strings belong to the conf;
   * pc_client_conf_copy duplicates them. */
  char *tls_trust_certs_file; /* NULL: system trust store */
  char *tls_cert_file;        /* client certificate (mutual TLS) */
  char *tls_key_file;
  char *tls_key_password;     /* secret: never logged, wiped on release */
  bool tls_allow_insecure;    /* default false */
  bool tls_validate_hostname; /* default true */
  char *auth_token;           /* secret: never logged */
  char *auth_token_file;      /* re-read on every connect and challenge */
  pulsarc_token_provider_fn token_provider;
  void *token_provider_ctx;
  /* OAuth2 client credentials (client/oauth2.c); the token it fetches is
   * sent as auth method "token", as the official clients do. */
  char *oauth2_issuer_url;       /* NULL: from the credentials file */
  char *oauth2_credentials_file; /* JSON: client_id, client_secret[, issuer_url] */
  char *oauth2_audience;
  char *oauth2_scope;
  char *oauth2_params;             /* secret: the official auth-params JSON */
  bool oauth2_allow_http;          /* default false: https only */
  uint64_t transaction_timeout_ms; /* pulsarc_txn_begin's default timeout */
};

typedef struct pc_kv_list {
  struct pc_kv *items;
  size_t n, cap;
} pc_kv_list;

struct pulsarc_producer_conf {
  char *name; /* NULL: broker assigns */
  pulsarc_access_mode_t access_mode;
  pulsarc_compression_t compression;
  uint32_t compression_level; /* 0 = the codec's default */
  bool batching;
  uint32_t batch_max_messages;
  uint64_t batch_max_bytes;
  uint64_t batch_max_delay_ms;
  bool chunking;
  uint64_t max_message_size;
  uint64_t send_timeout_ms; /* 0 = none */
  uint32_t max_pending_messages;
  uint32_t max_pending_across_partitions; /* split over a partitioned topic's partitions */
  bool block_if_queue_full;
  bool has_initial_sequence_id;
  int64_t initial_sequence_id;
  uint64_t startup_delay_ms;
  uint64_t startup_jitter_ms;
  uint64_t close_timeout_ms;
  uint64_t backoff_initial_ms;
  uint64_t backoff_max_ms;
  /* Schema: type -1 = plain bytes (no schema sent), else Schema.Type. */
  int schema_type;
  char *schema_name;
  uint8_t *schema_definition;
  size_t schema_definition_len;
  pc_kv_list schema_properties;
  bool key_based_batching;
  int routing_mode; /* PC_ROUTE_* */
  pulsarc_router_fn router;
  void *router_ctx;
  pulsarc_producer_state_cb state_cb;
  void *state_ctx;
  int hashing; /* PC_HASH_* */
  bool lazy_start_partitions;
  uint64_t partitions_update_interval_ms; /* 0 = never */
  /* End-to-end encryption (src/crypto/): on when encryption_keys names a key. */
  char *encryption_keys;            /* "name1,name2" */
  char *encryption_public_key_file; /* the file reader's PEM, without a key reader */
  uint64_t encryption_key_rotation_seconds;
  int crypto_failure_action; /* PC_CRYPTO_FAIL_* */
  pulsarc_key_reader_fn key_reader;
  void *key_reader_ctx;
};

enum { PC_CRYPTO_FAIL_FAIL = 0, PC_CRYPTO_FAIL_SEND = 1 };

enum { PC_ROUTE_ROUND_ROBIN = 0, PC_ROUTE_SINGLE = 1, PC_ROUTE_CUSTOM = 2 };
enum { PC_HASH_JAVA_STRING = 0, PC_HASH_MURMUR3_32 = 1 };

void pc_client_conf_defaults(struct pulsarc_client_conf *c);
/* Deep copy (strings duplicated). 0 or -1 (no memory; dst then holds nothing to release). */
int pc_client_conf_copy(struct pulsarc_client_conf *dst, const struct pulsarc_client_conf *src);
/* Frees the strings (the token and the key password wiped first). */
void pc_client_conf_release(struct pulsarc_client_conf *c);
/* Wipes and drops the key password (needed only while the key is loaded). */
void pc_client_conf_forget_key_password(struct pulsarc_client_conf *c);
void pc_producer_conf_defaults(struct pulsarc_producer_conf *c);
/* Deep copy (name duplicated). 0 or -1. */
int pc_producer_conf_copy(struct pulsarc_producer_conf *dst,
                          const struct pulsarc_producer_conf *src);
void pc_producer_conf_release(struct pulsarc_producer_conf *c);
/* Checks option combinations at producer creation. */
pulsarc_err_t pc_producer_conf_check(const struct pulsarc_producer_conf *c, char *why, size_t len);

/* ---- values.c ---- */
/* Wipes a secret string, then frees it (NULL is fine). */
void pc_free_secret(char *s);
/* Appends a copy of key (klen bytes) and value. 0 or -1 (no memory). */
int pc_kv_list_add(pc_kv_list *l, const char *key, size_t klen, const char *value);
void pc_kv_list_free(pc_kv_list *l);

struct pulsarc_msg_opts {
  char *partition_key;
  uint8_t *ordering_key;
  size_t ordering_key_len;
  pc_kv *props;
  size_t nprops, props_cap;
  int64_t event_time_ms; /* 0 = unset; never negative */
  bool has_deliver_at, has_deliver_after, has_timeout;
  int64_t deliver_at_ms;
  int64_t deliver_after_ms;
  int64_t timeout_ms;
  char **replicate_to;
  size_t n_replicate_to;
  bool null_value;
  bool has_sequence_id;
  int64_t sequence_id;
  struct pulsarc_txn *txn; /* borrowed: the sender holds its own reference */
};

/* The options a queued message carries: one allocation holding copies of
 * every string (made on the sending thread, freed by the I/O thread). */
typedef struct pc_msg_ext {
  const char *partition_key; /* NULL if none */
  size_t partition_key_len;
  const uint8_t *ordering_key; /* NULL if none */
  size_t ordering_key_len;
  size_t nprops;
  const char **prop_keys;
  const char **prop_values;
  uint64_t event_time_ms; /* 0 = unset */
  bool has_deliver_at;
  int64_t deliver_at_ms; /* absolute; deliver_after resolved at send time */
  size_t n_replicate_to;
  const char **replicate_to;
  bool null_value;
  bool has_sequence_id;
  uint64_t sequence_id;
  /* The transaction, referenced from the send until the completion
   * (producer/enqueue.c, complete.c); NULL: none. */
  struct pulsarc_txn *txn;
} pc_msg_ext;

/* [any] NULL when opts carry nothing the wire needs (the fast path), else a
 * malloc'ed ext (*err = NO_MEMORY on failure). */
pc_msg_ext *pc_msg_ext_from_opts(const struct pulsarc_msg_opts *opts, pulsarc_err_t *err);
/* Bytes the options add to a message (for size checks and memory limits). */
size_t pc_msg_ext_wire_size(const pc_msg_ext *ext);

#endif
