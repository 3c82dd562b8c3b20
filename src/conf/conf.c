/* Client and producer configuration objects: creation, defaults (from the
 * option table), copies, release and the checks made at producer creation.
 * The keys themselves live in options.c. Called on application threads. */
#include "conf/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/options.h"

/* ------------------------------------------------------------------ client */

void pc_client_conf_defaults(struct pulsarc_client_conf *c) {
  memset(c, 0, sizeof *c);
  pc_conf_apply_defaults(false, c);
  /* After the table: the level may come from PULSARC_LOG_LEVEL. */
  pc_logger_init(&c->logger);
}

void pc_client_conf_release(struct pulsarc_client_conf *c) {
  free(c->tls_trust_certs_file);
  free(c->tls_cert_file);
  free(c->tls_key_file);
  pc_free_secret(c->tls_key_password);
  pc_free_secret(c->auth_token);
  free(c->auth_token_file);
  free(c->oauth2_issuer_url);
  free(c->oauth2_credentials_file);
  free(c->oauth2_audience);
  free(c->oauth2_scope);
  pc_free_secret(c->oauth2_params);
  c->tls_trust_certs_file = c->tls_cert_file = c->tls_key_file = c->tls_key_password = NULL;
  c->auth_token = c->auth_token_file = NULL;
  c->oauth2_issuer_url = c->oauth2_credentials_file = c->oauth2_audience = NULL;
  c->oauth2_scope = c->oauth2_params = NULL;
}

void pc_client_conf_forget_key_password(struct pulsarc_client_conf *c) {
  pc_free_secret(c->tls_key_password);
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
  dst->oauth2_issuer_url = dst->oauth2_credentials_file = dst->oauth2_audience = NULL;
  dst->oauth2_scope = dst->oauth2_params = NULL;
  if (dup_opt(&dst->tls_trust_certs_file, src->tls_trust_certs_file) ||
      dup_opt(&dst->tls_cert_file, src->tls_cert_file) ||
      dup_opt(&dst->tls_key_file, src->tls_key_file) ||
      dup_opt(&dst->tls_key_password, src->tls_key_password) ||
      dup_opt(&dst->auth_token, src->auth_token) ||
      dup_opt(&dst->auth_token_file, src->auth_token_file) ||
      dup_opt(&dst->oauth2_issuer_url, src->oauth2_issuer_url) ||
      dup_opt(&dst->oauth2_credentials_file, src->oauth2_credentials_file) ||
      dup_opt(&dst->oauth2_audience, src->oauth2_audience) ||
      dup_opt(&dst->oauth2_scope, src->oauth2_scope) ||
      dup_opt(&dst->oauth2_params, src->oauth2_params)) {
    pc_client_conf_release(dst);
    return -1;
  }
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

/* ---------------------------------------------------------------- producer */

void pc_producer_conf_defaults(struct pulsarc_producer_conf *c) {
  memset(c, 0, sizeof *c);
  pc_conf_apply_defaults(true, c);
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
  pc_kv_list_free(&c->schema_properties);
  free(c->encryption_keys);
  c->encryption_keys = NULL;
  free(c->encryption_public_key_file);
  c->encryption_public_key_file = NULL;
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
  dst->encryption_keys = dst->encryption_public_key_file = NULL;
  if (src->encryption_keys != NULL && (dst->encryption_keys = strdup(src->encryption_keys)) == NULL)
    goto fail;
  if (src->encryption_public_key_file != NULL &&
      (dst->encryption_public_key_file = strdup(src->encryption_public_key_file)) == NULL)
    goto fail;
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
    if (pc_kv_list_add(&dst->schema_properties, src->schema_properties.items[i].key,
                       strlen(src->schema_properties.items[i].key),
                       src->schema_properties.items[i].value) != 0)
      goto fail;
  return 0;
fail:
  pc_producer_conf_release(dst);
  return -1;
}

pulsarc_err_t pulsarc_producer_conf_set_state_cb(pulsarc_producer_conf_t *c,
                                                 pulsarc_producer_state_cb cb, void *ctx) {
  if (c == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  c->state_cb = cb;
  c->state_ctx = ctx;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_producer_conf_set_key_reader(pulsarc_producer_conf_t *c,
                                                   pulsarc_key_reader_fn fn, void *ctx) {
  if (c == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  c->key_reader = fn;
  c->key_reader_ctx = ctx;
  return PULSARC_OK;
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

pulsarc_err_t pc_producer_conf_check(const struct pulsarc_producer_conf *c, char *why, size_t len) {
  if (c->backoff_initial_ms > c->backoff_max_ms) {
    snprintf(why, len, "backoff_initial_ms is larger than backoff_max_ms");
    return PULSARC_ERR_CONFLICT;
  }
  /* The table bounds the level by zstd's maximum; the other codecs stop lower. */
  uint32_t level_max = c->compression == PULSARC_COMPRESSION_ZLIB  ? 9
                       : c->compression == PULSARC_COMPRESSION_LZ4 ? 12
                                                                   : 22;
  if (c->compression_level > level_max) {
    snprintf(why, len, "compression_level %u is out of range for compression=%s (at most %u)",
             (unsigned)c->compression_level,
             c->compression == PULSARC_COMPRESSION_ZLIB ? "zlib" : "lz4", (unsigned)level_max);
    return PULSARC_ERR_CONFLICT;
  }
  if (c->chunking && c->batching) {
    snprintf(why, len, "chunking cannot be combined with batching (set batching=false)");
    return PULSARC_ERR_CONFLICT;
  }
  if (c->encryption_keys != NULL && c->key_reader == NULL &&
      c->encryption_public_key_file == NULL) {
    snprintf(why, len,
             "encryption_keys needs encryption_public_key_file or "
             "pulsarc_producer_conf_set_key_reader");
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
