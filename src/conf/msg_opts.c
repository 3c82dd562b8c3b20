/* Per-message options (pulsarc_msg_opts_*) and their copy into the
 * extension a queued message carries. Called on application threads. */
#include "conf/conf.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

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

pulsarc_err_t pulsarc_msg_opts_set_txn(pulsarc_msg_opts_t *o, pulsarc_txn_t *txn) {
  if (o == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  o->txn = txn;
  return PULSARC_OK;
}

pc_msg_ext *pc_msg_ext_from_opts(const struct pulsarc_msg_opts *o, pulsarc_err_t *err) {
  *err = PULSARC_OK;
  if (o == NULL ||
      (o->partition_key == NULL && o->ordering_key == NULL && o->nprops == 0 &&
       o->event_time_ms == 0 && !o->has_deliver_at && !o->has_deliver_after &&
       o->n_replicate_to == 0 && !o->null_value && !o->has_sequence_id && o->txn == NULL))
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
  x->txn = o->txn;
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
