/* Client, producer and message options: defaults, generic setters and
 * validation. Called on application threads. */
#include "conf/conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"

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
  if (s == NULL)
    return -1;
  if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
    *out = true;
  else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
           !strcasecmp(s, "off"))
    *out = false;
  else
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ client */

void pc_client_conf_defaults(struct pulsarc_client_conf *c) {
  memset(c, 0, sizeof *c);
  c->io_threads = 1;
  c->connect_timeout_ms = 10000;
  c->operation_timeout_ms = 30000;
  c->keepalive_interval_ms = 30000;
  c->max_lookup_redirects = 20;
  c->memory_limit_bytes = 64ull << 20;
  c->tls_validate_hostname = true;
  pc_logger_init(&c->logger);
}

static void free_secret(char *s) {
  if (s != NULL) {
    volatile char *p = s; /* not optimised away before free */
    while (*p)
      *p++ = '\0';
    free(s);
  }
}

void pc_client_conf_release(struct pulsarc_client_conf *c) {
  free(c->tls_trust_certs_file);
  free(c->tls_cert_file);
  free(c->tls_key_file);
  free_secret(c->tls_key_password);
  free_secret(c->auth_token);
  free(c->auth_token_file);
  c->tls_trust_certs_file = c->tls_cert_file = c->tls_key_file = c->tls_key_password = NULL;
  c->auth_token = c->auth_token_file = NULL;
}

void pc_client_conf_forget_key_password(struct pulsarc_client_conf *c) {
  free_secret(c->tls_key_password);
  c->tls_key_password = NULL;
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

int pc_client_conf_copy(struct pulsarc_client_conf *dst, const struct pulsarc_client_conf *src) {
  *dst = *src;
  /* None of src's strings may stay in dst: a failure below releases dst. */
  dst->tls_trust_certs_file = dst->tls_cert_file = dst->tls_key_file = NULL;
  dst->tls_key_password = dst->auth_token = dst->auth_token_file = NULL;
  if (dup_opt(&dst->tls_trust_certs_file, src->tls_trust_certs_file) ||
      dup_opt(&dst->tls_cert_file, src->tls_cert_file) ||
      dup_opt(&dst->tls_key_file, src->tls_key_file) ||
      dup_opt(&dst->tls_key_password, src->tls_key_password) ||
      dup_opt(&dst->auth_token, src->auth_token) ||
      dup_opt(&dst->auth_token_file, src->auth_token_file)) {
    pc_client_conf_release(dst);
    return -1;
  }
  return 0;
}

/* Replaces a string option; "" clears it. */
static int set_str(char **slot, const char *value, bool secret) {
  char *v = NULL;
  if (*value != '\0' && (v = strdup(value)) == NULL)
    return -1;
  if (secret)
    free_secret(*slot);
  else
    free(*slot);
  *slot = v;
  return 0;
}

void pulsarc_client_conf_set_token_provider(pulsarc_client_conf_t *conf,
                                            pulsarc_token_provider_fn fn, void *ctx) {
  if (conf == NULL)
    return;
  conf->token_provider = fn;
  conf->token_provider_ctx = fn ? ctx : NULL;
}

pulsarc_client_conf_t *pulsarc_client_conf_new(void) {
  pulsarc_client_conf_t *c = malloc(sizeof *c);
  if (c != NULL)
    pc_client_conf_defaults(c);
  return c;
}

void pulsarc_client_conf_destroy(pulsarc_client_conf_t *conf) {
  if (conf == NULL)
    return;
  pc_client_conf_release(conf);
  free(conf);
}

void pulsarc_client_conf_set_logger(pulsarc_client_conf_t *conf, pulsarc_log_fn fn, void *ctx) {
  if (conf == NULL)
    return;
  if (fn == NULL) {
    pulsarc_log_level_t keep = conf->logger.level;
    pc_logger_init(&conf->logger);
    conf->logger.level = keep;
    return;
  }
  conf->logger.fn = fn;
  conf->logger.ctx = ctx;
}

pulsarc_err_t pulsarc_client_conf_set(pulsarc_client_conf_t *c, const char *key, const char *value,
                                      char *errbuf, size_t errlen) {
  if (c == NULL || key == NULL || value == NULL)
    return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "%s%s", "NULL argument", "");
  uint64_t v;
  if (!strcmp(key, "io_threads")) {
    if (parse_u64(value, 64, &v) || v == 0)
      goto bad;
    c->io_threads = (int)v;
  } else if (!strcmp(key, "io_busy_poll_us")) {
    if (parse_u64(value, 1000000, &v))
      goto bad;
    c->io_busy_poll_us = v;
  } else if (!strcmp(key, "connect_timeout_ms")) {
    if (parse_u64(value, UINT32_MAX, &v) || v == 0)
      goto bad;
    c->connect_timeout_ms = v;
  } else if (!strcmp(key, "operation_timeout_ms")) {
    if (parse_u64(value, UINT32_MAX, &v) || v == 0)
      goto bad;
    c->operation_timeout_ms = v;
  } else if (!strcmp(key, "keepalive_interval_ms")) {
    if (parse_u64(value, UINT32_MAX, &v))
      goto bad;
    c->keepalive_interval_ms = v;
  } else if (!strcmp(key, "max_lookup_redirects")) {
    if (parse_u64(value, 1000, &v))
      goto bad;
    c->max_lookup_redirects = (int)v;
  } else if (!strcmp(key, "memory_limit_bytes")) {
    if (parse_u64(value, UINT64_MAX / 2, &v))
      goto bad;
    c->memory_limit_bytes = v;
  } else if (!strcmp(key, "log_level")) {
    if (pc_log_level_parse(value, &c->logger.level))
      goto bad;
  } else if (!strcmp(key, "tls_trust_certs_file")) {
    if (set_str(&c->tls_trust_certs_file, value, false))
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "tls_cert_file")) {
    if (set_str(&c->tls_cert_file, value, false))
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "tls_key_file")) {
    if (set_str(&c->tls_key_file, value, false))
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "tls_key_password")) {
    if (set_str(&c->tls_key_password, value, true)) /* a secret: never echoed */
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "tls_allow_insecure")) {
    if (parse_bool(value, &c->tls_allow_insecure))
      goto bad;
  } else if (!strcmp(key, "tls_validate_hostname")) {
    if (parse_bool(value, &c->tls_validate_hostname))
      goto bad;
  } else if (!strcmp(key, "auth_token")) {
    /* Never echo the value into errbuf: it is a secret. */
    if (strpbrk(value, "\r\n") != NULL)
      return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "invalid value for %s%s", key,
                  " (line break)");
    if (set_str(&c->auth_token, value, true))
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "auth_token_file")) {
    if (set_str(&c->auth_token_file, value, false))
      return PULSARC_ERR_NO_MEMORY;
  } else {
    return fail(errbuf, errlen, PULSARC_ERR_UNKNOWN_OPTION, "unknown client option \"%s\"%s", key,
                "");
  }
  return PULSARC_OK;
bad:
  return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "invalid value \"%s\" for %s", value,
              key);
}

/* ---------------------------------------------------------------- producer */

void pc_producer_conf_defaults(struct pulsarc_producer_conf *c) {
  memset(c, 0, sizeof *c);
  c->access_mode = PULSARC_ACCESS_SHARED;
  c->compression = PULSARC_COMPRESSION_NONE;
  c->batching = true;
  c->batch_max_messages = 1000;
  c->batch_max_bytes = 128 * 1024;
  c->batch_max_delay_ms = 10;
  c->max_message_size = 5 * 1024 * 1024;
  c->send_timeout_ms = 30000;
  c->max_pending_messages = 1000;
  c->block_if_queue_full = true;
  c->close_timeout_ms = 30000;
  c->backoff_initial_ms = 100;
  c->backoff_max_ms = 60000;
  c->schema_type = -1;
  c->partitions_update_interval_ms = 60000;
}

static void kv_list_free(pc_kv_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->items[i].key);
    free(l->items[i].value);
  }
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int kv_list_add(pc_kv_list *l, const char *k, size_t klen, const char *v) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    pc_kv *p = realloc(l->items, cap * sizeof *p);
    if (p == NULL)
      return -1;
    l->items = p;
    l->cap = cap;
  }
  char *kk = strndup(k, klen), *vv = strdup(v);
  if (kk == NULL || vv == NULL) {
    free(kk);
    free(vv);
    return -1;
  }
  l->items[l->n].key = kk;
  l->items[l->n].value = vv;
  l->n++;
  return 0;
}

pulsarc_producer_conf_t *pulsarc_producer_conf_new(void) {
  pulsarc_producer_conf_t *c = malloc(sizeof *c);
  if (c != NULL)
    pc_producer_conf_defaults(c);
  return c;
}

void pc_producer_conf_release(struct pulsarc_producer_conf *c) {
  free(c->name);
  c->name = NULL;
  free(c->schema_name);
  c->schema_name = NULL;
  free(c->schema_definition);
  c->schema_definition = NULL;
  kv_list_free(&c->schema_properties);
}

void pulsarc_producer_conf_destroy(pulsarc_producer_conf_t *conf) {
  if (conf == NULL)
    return;
  pc_producer_conf_release(conf);
  free(conf);
}

int pc_producer_conf_copy(struct pulsarc_producer_conf *dst,
                          const struct pulsarc_producer_conf *src) {
  *dst = *src;
  dst->name = dst->schema_name = NULL;
  dst->schema_definition = NULL;
  memset(&dst->schema_properties, 0, sizeof dst->schema_properties);
  if (src->name != NULL && (dst->name = strdup(src->name)) == NULL)
    goto fail;
  if (src->schema_name != NULL && (dst->schema_name = strdup(src->schema_name)) == NULL)
    goto fail;
  if (src->schema_definition != NULL) {
    if ((dst->schema_definition = malloc(src->schema_definition_len + 1)) == NULL)
      goto fail;
    memcpy(dst->schema_definition, src->schema_definition, src->schema_definition_len + 1);
  }
  for (size_t i = 0; i < src->schema_properties.n; i++)
    if (kv_list_add(&dst->schema_properties, src->schema_properties.items[i].key,
                    strlen(src->schema_properties.items[i].key),
                    src->schema_properties.items[i].value) != 0)
      goto fail;
  return 0;
fail:
  pc_producer_conf_release(dst);
  return -1;
}

pulsarc_err_t pulsarc_producer_conf_set_router(pulsarc_producer_conf_t *c, pulsarc_router_fn fn,
                                               void *ctx) {
  if (c == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  c->router = fn;
  c->router_ctx = ctx;
  if (fn != NULL)
    c->routing_mode = PC_ROUTE_CUSTOM;
  return PULSARC_OK;
}

/* Schema.Type wire values by name; "bytes" means no schema at all. */
static const struct {
  const char *name;
  int type;
} schema_types[] = {
    {"bytes", -1},
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
};

static int parse_enum(const char *s, const char *const *names, int n, int *out) {
  for (int i = 0; i < n; i++)
    if (!strcasecmp(s, names[i])) {
      *out = i;
      return 0;
    }
  return -1;
}

pulsarc_err_t pulsarc_producer_conf_set(pulsarc_producer_conf_t *c, const char *key,
                                        const char *value, char *errbuf, size_t errlen) {
  static const char *const modes[] = {"shared", "exclusive", "wait_for_exclusive",
                                      "exclusive_with_fencing"};
  static const char *const codecs[] = {"none", "lz4", "zlib", "zstd", "snappy"};
  if (c == NULL || key == NULL || value == NULL)
    return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "%s%s", "NULL argument", "");
  uint64_t v;
  int e;
  if (!strcmp(key, "name")) {
    if (*value == '\0')
      goto bad;
    char *dup = strdup(value);
    if (dup == NULL)
      return PULSARC_ERR_NO_MEMORY;
    free(c->name);
    c->name = dup;
  } else if (!strcmp(key, "access_mode")) {
    if (parse_enum(value, modes, 4, &e))
      goto bad;
    c->access_mode = (pulsarc_access_mode_t)e;
  } else if (!strcmp(key, "compression")) {
    if (parse_enum(value, codecs, 5, &e))
      goto bad;
    c->compression = (pulsarc_compression_t)e;
  } else if (!strcmp(key, "batching")) {
    if (parse_bool(value, &c->batching))
      goto bad;
  } else if (!strcmp(key, "batch_max_messages")) {
    if (parse_u64(value, 1000000, &v) || v == 0)
      goto bad;
    c->batch_max_messages = (uint32_t)v;
  } else if (!strcmp(key, "batch_max_bytes")) {
    if (parse_u64(value, 64ull << 20, &v) || v == 0)
      goto bad;
    c->batch_max_bytes = v;
  } else if (!strcmp(key, "batch_max_delay_ms")) {
    if (parse_u64(value, 3600000, &v))
      goto bad;
    c->batch_max_delay_ms = v;
  } else if (!strcmp(key, "chunking")) {
    if (parse_bool(value, &c->chunking))
      goto bad;
  } else if (!strcmp(key, "max_message_size")) {
    if (parse_u64(value, 1ull << 30, &v) || v < 1024)
      goto bad;
    c->max_message_size = v;
  } else if (!strcmp(key, "send_timeout_ms")) {
    if (parse_u64(value, 1ull << 40, &v))
      goto bad;
    c->send_timeout_ms = v;
  } else if (!strcmp(key, "max_pending_messages")) {
    if (parse_u64(value, 10000000, &v) || v == 0)
      goto bad;
    c->max_pending_messages = (uint32_t)v;
  } else if (!strcmp(key, "block_if_queue_full")) {
    if (parse_bool(value, &c->block_if_queue_full))
      goto bad;
  } else if (!strcmp(key, "initial_sequence_id")) {
    if (parse_u64(value, INT64_MAX, &v))
      goto bad;
    c->has_initial_sequence_id = true;
    c->initial_sequence_id = (int64_t)v;
  } else if (!strcmp(key, "startup_delay_ms")) {
    if (parse_u64(value, 3600000, &v))
      goto bad;
    c->startup_delay_ms = v;
  } else if (!strcmp(key, "startup_jitter_ms")) {
    if (parse_u64(value, 3600000, &v))
      goto bad;
    c->startup_jitter_ms = v;
  } else if (!strcmp(key, "backoff_initial_ms")) {
    if (parse_u64(value, 3600000, &v) || v == 0)
      goto bad;
    c->backoff_initial_ms = v;
  } else if (!strcmp(key, "backoff_max_ms")) {
    if (parse_u64(value, 3600000, &v) || v == 0)
      goto bad;
    c->backoff_max_ms = v;
  } else if (!strcmp(key, "schema_type")) {
    size_t i;
    for (i = 0; i < sizeof schema_types / sizeof schema_types[0]; i++)
      if (!strcasecmp(value, schema_types[i].name))
        break;
    if (i == sizeof schema_types / sizeof schema_types[0])
      goto bad;
    c->schema_type = schema_types[i].type;
  } else if (!strcmp(key, "schema_name")) {
    char *dup = strdup(value);
    if (dup == NULL)
      return PULSARC_ERR_NO_MEMORY;
    free(c->schema_name);
    c->schema_name = dup;
  } else if (!strcmp(key, "schema_definition")) {
    char *dup = strdup(value);
    if (dup == NULL)
      return PULSARC_ERR_NO_MEMORY;
    free(c->schema_definition);
    c->schema_definition = (uint8_t *)dup;
    c->schema_definition_len = strlen(value);
  } else if (!strcmp(key, "schema_property")) {
    const char *eq = strchr(value, '=');
    if (eq == NULL || eq == value)
      goto bad;
    if (kv_list_add(&c->schema_properties, value, (size_t)(eq - value), eq + 1) != 0)
      return PULSARC_ERR_NO_MEMORY;
  } else if (!strcmp(key, "key_based_batching")) {
    if (parse_bool(value, &c->key_based_batching))
      goto bad;
  } else if (!strcmp(key, "routing_mode")) {
    static const char *const modes[] = {"round_robin", "single_partition", "custom"};
    if (parse_enum(value, modes, 3, &e))
      goto bad;
    c->routing_mode = e;
  } else if (!strcmp(key, "hashing")) {
    static const char *const hashes[] = {"java_string", "murmur3_32"};
    if (parse_enum(value, hashes, 2, &e))
      goto bad;
    c->hashing = e;
  } else if (!strcmp(key, "lazy_start_partitions")) {
    if (parse_bool(value, &c->lazy_start_partitions))
      goto bad;
  } else if (!strcmp(key, "partitions_update_interval_ms")) {
    if (parse_u64(value, 1ull << 40, &v))
      goto bad;
    c->partitions_update_interval_ms = v;
  } else if (!strcmp(key, "close_timeout_ms")) {
    if (parse_u64(value, 1ull << 40, &v))
      goto bad;
    c->close_timeout_ms = v;
  } else {
    return fail(errbuf, errlen, PULSARC_ERR_UNKNOWN_OPTION, "unknown producer option \"%s\"%s", key,
                "");
  }
  return PULSARC_OK;
bad:
  return fail(errbuf, errlen, PULSARC_ERR_INVALID_ARGUMENT, "invalid value \"%s\" for %s", value,
              key);
}

pulsarc_err_t pc_producer_conf_check(const struct pulsarc_producer_conf *c, char *why, size_t len) {
  if (c->backoff_initial_ms > c->backoff_max_ms) {
    snprintf(why, len, "backoff_initial_ms is larger than backoff_max_ms");
    return PULSARC_ERR_CONFLICT;
  }
  if (c->chunking && c->batching) {
    snprintf(why, len, "chunking cannot be combined with batching (set batching=false)");
    return PULSARC_ERR_CONFLICT;
  }
  if (c->routing_mode == PC_ROUTE_CUSTOM && c->router == NULL) {
    snprintf(why, len, "routing_mode=custom needs pulsarc_producer_conf_set_router");
    return PULSARC_ERR_CONFLICT;
  }
  if (c->schema_type != -1 && c->schema_type != 15 && c->schema_type >= 2 && c->schema_type <= 4 &&
      c->schema_definition == NULL) {
    snprintf(why, len, "schema types json, avro and protobuf need schema_definition");
    return PULSARC_ERR_CONFLICT;
  }
  /* The schema travels in the PRODUCER command, and a broker closes the
   * connection on a frame over its max message size plus 10 KiB (the room
   * it leaves for the command around a message): refuse here what could
   * never register. Each property counts its key, value and 8 bytes. */
  if (c->schema_type >= 0) {
    uint64_t bytes = c->schema_definition_len + (c->schema_name ? strlen(c->schema_name) : 0);
    for (size_t i = 0; i < c->schema_properties.n; i++)
      bytes += strlen(c->schema_properties.items[i].key) +
               strlen(c->schema_properties.items[i].value) + 8;
    if (bytes > c->max_message_size) {
      snprintf(why, len,
               "schema_definition, schema_name and schema_property take %llu bytes, more than "
               "max_message_size (%llu)",
               (unsigned long long)bytes, (unsigned long long)c->max_message_size);
      return PULSARC_ERR_CONFLICT;
    }
  }
  return PULSARC_OK;
}

/* ------------------------------------------------------------ message opts */

pulsarc_msg_opts_t *pulsarc_msg_opts_new(void) { return calloc(1, sizeof(pulsarc_msg_opts_t)); }

void pulsarc_msg_opts_clear(pulsarc_msg_opts_t *o) {
  if (o == NULL)
    return;
  free(o->partition_key);
  free(o->ordering_key);
  for (size_t i = 0; i < o->nprops; i++) {
    free(o->props[i].key);
    free(o->props[i].value);
  }
  free(o->props);
  for (size_t i = 0; i < o->n_replicate_to; i++)
    free(o->replicate_to[i]);
  free(o->replicate_to);
  memset(o, 0, sizeof *o);
}

pulsarc_err_t pulsarc_msg_opts_set_replication_clusters(pulsarc_msg_opts_t *o,
                                                        const char *const *clusters, size_t n) {
  if (o == NULL || (clusters == NULL && n > 0))
    return PULSARC_ERR_INVALID_ARGUMENT;
  char **list = calloc(n ? n : 1, sizeof *list);
  if (list == NULL)
    return PULSARC_ERR_NO_MEMORY;
  for (size_t i = 0; i < n; i++) {
    if (clusters[i] == NULL || (list[i] = strdup(clusters[i])) == NULL) {
      for (size_t k = 0; k < i; k++)
        free(list[k]);
      free(list);
      return clusters[i] == NULL ? PULSARC_ERR_INVALID_ARGUMENT : PULSARC_ERR_NO_MEMORY;
    }
  }
  for (size_t i = 0; i < o->n_replicate_to; i++)
    free(o->replicate_to[i]);
  free(o->replicate_to);
  o->replicate_to = list;
  o->n_replicate_to = n;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_disable_replication(pulsarc_msg_opts_t *o) {
  /* The brokers' convention: replicate only to the local cluster. */
  static const char *const local[] = {"__local__"};
  return pulsarc_msg_opts_set_replication_clusters(o, local, 1);
}

pulsarc_err_t pulsarc_msg_opts_set_null_value(pulsarc_msg_opts_t *o, bool null_value) {
  if (o == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->null_value = null_value;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_sequence_id(pulsarc_msg_opts_t *o, int64_t sequence_id) {
  if (o == NULL || sequence_id < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->has_sequence_id = true;
  o->sequence_id = sequence_id;
  return PULSARC_OK;
}

void pulsarc_msg_opts_destroy(pulsarc_msg_opts_t *o) {
  pulsarc_msg_opts_clear(o);
  free(o);
}

pulsarc_err_t pulsarc_msg_opts_set_partition_key(pulsarc_msg_opts_t *o, const char *key) {
  if (o == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  char *dup = NULL;
  if (key != NULL && (dup = strdup(key)) == NULL)
    return PULSARC_ERR_NO_MEMORY;
  free(o->partition_key);
  o->partition_key = dup;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_ordering_key(pulsarc_msg_opts_t *o, const void *key,
                                                size_t len) {
  if (o == NULL || (key == NULL && len > 0))
    return PULSARC_ERR_INVALID_ARGUMENT;
  uint8_t *dup = NULL;
  if (key != NULL) {
    if ((dup = malloc(len ? len : 1)) == NULL)
      return PULSARC_ERR_NO_MEMORY;
    memcpy(dup, key, len);
  }
  free(o->ordering_key);
  o->ordering_key = dup;
  o->ordering_key_len = key ? len : 0;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_add_property(pulsarc_msg_opts_t *o, const char *key,
                                            const char *value) {
  if (o == NULL || key == NULL || value == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (o->nprops == o->props_cap) {
    size_t cap = o->props_cap ? o->props_cap * 2 : 4;
    pc_kv *p = realloc(o->props, cap * sizeof *p);
    if (p == NULL)
      return PULSARC_ERR_NO_MEMORY;
    o->props = p;
    o->props_cap = cap;
  }
  char *k = strdup(key), *v = strdup(value);
  if (k == NULL || v == NULL) {
    free(k);
    free(v);
    return PULSARC_ERR_NO_MEMORY;
  }
  o->props[o->nprops].key = k;
  o->props[o->nprops].value = v;
  o->nprops++;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_event_time(pulsarc_msg_opts_t *o, int64_t ms) {
  if (o == NULL || ms < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->event_time_ms = ms;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_deliver_at(pulsarc_msg_opts_t *o, int64_t at_ms) {
  if (o == NULL || at_ms < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->has_deliver_at = true;
  o->has_deliver_after = false;
  o->deliver_at_ms = at_ms;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_deliver_after(pulsarc_msg_opts_t *o, int64_t delay_ms) {
  if (o == NULL || delay_ms < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->has_deliver_after = true;
  o->has_deliver_at = false;
  o->deliver_after_ms = delay_ms;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_msg_opts_set_timeout(pulsarc_msg_opts_t *o, int64_t timeout_ms) {
  if (o == NULL || timeout_ms < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->has_timeout = true;
  o->timeout_ms = timeout_ms;
  return PULSARC_OK;
}

pc_msg_ext *pc_msg_ext_from_opts(const struct pulsarc_msg_opts *o, pulsarc_err_t *err) {
  *err = PULSARC_OK;
  if (o == NULL || (o->partition_key == NULL && o->ordering_key == NULL && o->nprops == 0 &&
                    o->event_time_ms == 0 && !o->has_deliver_at && !o->has_deliver_after &&
                    o->n_replicate_to == 0 && !o->null_value && !o->has_sequence_id))
    return NULL;
  size_t pk = o->partition_key ? strlen(o->partition_key) + 1 : 0;
  size_t strings = pk + o->ordering_key_len;
  for (size_t i = 0; i < o->nprops; i++)
    strings += strlen(o->props[i].key) + strlen(o->props[i].value) + 2;
  for (size_t i = 0; i < o->n_replicate_to; i++)
    strings += strlen(o->replicate_to[i]) + 1;
  size_t arrays = (2 * o->nprops + o->n_replicate_to) * sizeof(char *);
  pc_msg_ext *x = malloc(sizeof *x + arrays + strings);
  if (x == NULL) {
    *err = PULSARC_ERR_NO_MEMORY;
    return NULL;
  }
  memset(x, 0, sizeof *x);
  const char **ptrs = (const char **)(x + 1);
  /* Pointer arrays first (properties, then replication clusters), strings
   * after all of them. */
  char *s = (char *)(ptrs + 2 * o->nprops + o->n_replicate_to);
  if (o->partition_key) {
    memcpy(s, o->partition_key, pk);
    x->partition_key = s;
    x->partition_key_len = pk - 1;
    s += pk;
  }
  if (o->ordering_key) {
    memcpy(s, o->ordering_key, o->ordering_key_len);
    x->ordering_key = (const uint8_t *)s;
    x->ordering_key_len = o->ordering_key_len;
    s += o->ordering_key_len;
  }
  x->nprops = o->nprops;
  x->prop_keys = ptrs;
  x->prop_values = ptrs + o->nprops;
  for (size_t i = 0; i < o->nprops; i++) {
    size_t kl = strlen(o->props[i].key) + 1, vl = strlen(o->props[i].value) + 1;
    memcpy(s, o->props[i].key, kl);
    ptrs[i] = s;
    s += kl;
    memcpy(s, o->props[i].value, vl);
    ptrs[o->nprops + i] = s;
    s += vl;
  }
  x->n_replicate_to = o->n_replicate_to;
  x->replicate_to = ptrs + 2 * o->nprops;
  for (size_t i = 0; i < o->n_replicate_to; i++) {
    size_t l = strlen(o->replicate_to[i]) + 1;
    memcpy(s, o->replicate_to[i], l);
    x->replicate_to[i] = s;
    s += l;
  }
  x->null_value = o->null_value;
  x->has_sequence_id = o->has_sequence_id;
  x->sequence_id = (uint64_t)o->sequence_id;
  x->event_time_ms = (uint64_t)o->event_time_ms;
  if (o->has_deliver_at) {
    x->has_deliver_at = true;
    x->deliver_at_ms = o->deliver_at_ms;
  } else if (o->has_deliver_after) {
    x->has_deliver_at = true;
    x->deliver_at_ms = pc_wall_ms() + o->deliver_after_ms;
  }
  return x;
}

size_t pc_msg_ext_wire_size(const pc_msg_ext *x) {
  if (x == NULL)
    return 0;
  size_t n = x->partition_key_len + x->ordering_key_len + 32;
  for (size_t i = 0; i < x->nprops; i++)
    n += strlen(x->prop_keys[i]) + strlen(x->prop_values[i]) + 8;
  for (size_t i = 0; i < x->n_replicate_to; i++)
    n += strlen(x->replicate_to[i]) + 4;
  return n;
}
