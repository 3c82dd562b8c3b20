/* Test broker storage: topics, the per-producer-name dedup state, entry
 * records with bounded payload retention. Everything here runs under tb->mu. */
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"
#include "codec/crc32c.h"
#include "tb_internal.h"

/* ---------------------------------------------------------------- string map */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static size_t map_slot(const char **keys, size_t cap, const char *key) {
  size_t i = (size_t)hash_str(key) & (cap - 1);
  while (keys[i] && strcmp(keys[i], key) != 0)
    i = (i + 1) & (cap - 1);
  return i;
}

void *tb_map_get(const tb_map *m, const char *key) {
  if (!m->cap)
    return NULL;
  size_t i = map_slot(m->keys, m->cap, key);
  return m->keys[i] ? m->vals[i] : NULL;
}

int tb_map_put(tb_map *m, const char *key, void *val) {
  if ((m->len + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    const char **nk = calloc(ncap, sizeof(*nk));
    void **nv = calloc(ncap, sizeof(*nv));
    if (!nk || !nv) {
      free(nk);
      free(nv);
      return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->keys[i])
        continue;
      size_t j = map_slot(nk, ncap, m->keys[i]);
      nk[j] = m->keys[i];
      nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
  }
  size_t i = map_slot(m->keys, m->cap, key);
  if (!m->keys[i])
    m->len++;
  m->keys[i] = key;
  m->vals[i] = val;
  return 0;
}

void tb_map_free(tb_map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------- topics */

char *pulsarc_tb_full_topic(const char *topic) {
  if (!topic)
    return NULL;
  const char *prefix = "";
  if (!strstr(topic, "://"))
    prefix = strchr(topic, '/') ? "persistent://" : "persistent://public/default/";
  size_t n = strlen(prefix) + strlen(topic) + 1;
  char *s = malloc(n);
  if (s) {
    strcpy(s, prefix);
    strcat(s, topic);
  }
  return s;
}

int tb_set_partitions_locked(pulsarc_tb *tb, const char *topic, uint32_t n) {
  char *full = pulsarc_tb_full_topic(topic);
  if (!full)
    return -1;
  void *old = tb_map_get(&tb->partitions, full);
  if (old) {
    /* keep the existing key string; only the value changes */
    for (size_t i = 0; i < tb->partitions.cap; i++)
      if (tb->partitions.keys[i] && strcmp(tb->partitions.keys[i], full) == 0)
        tb->partitions.vals[i] = (void *)((uintptr_t)n + 1);
    free(full);
    return 0;
  }
  if (tb_map_put(&tb->partitions, full, (void *)((uintptr_t)n + 1)) != 0) {
    free(full);
    return -1;
  }
  return 0;
}

uint32_t tb_partitions_of(const pulsarc_tb *tb, const char *full_topic) {
  void *v = tb_map_get(&tb->partitions, full_topic);
  return v ? (uint32_t)((uintptr_t)v - 1) : 0;
}

tb_topic *tb_topic_get(pulsarc_tb *tb, const char *name, bool create) {
  tb_topic *t = tb_map_get(&tb->topics, name);
  if (t || !create)
    return t;
  t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->name = strdup(name);
  if (!t->name || tb_map_put(&tb->topics, t->name, t) != 0) {
    free(t->name);
    free(t);
    return NULL;
  }
  t->ledger_id = tb->next_ledger_id++;
  return t;
}

tb_seq *tb_topic_seq(tb_topic *t, const char *producer_name, bool create) {
  tb_seq *s = tb_map_get(&t->seqs, producer_name);
  if (s || !create)
    return s;
  size_t n = strlen(producer_name) + 1;
  s = malloc(sizeof(*s) + n);
  if (!s)
    return NULL;
  s->highest = -1;
  memcpy(s->name, producer_name, n);
  if (tb_map_put(&t->seqs, s->name, s) != 0) {
    free(s);
    return NULL;
  }
  return s;
}

void tb_topic_free(tb_topic *t) {
  if (!t)
    return;
  tb_topic_free_subs(t);
  for (size_t i = 0; i < t->n_entries; i++) {
    free(t->entries[i].data);
    if (t->entries[i].n_sums > 1)
      free(t->entries[i].sums);
  }
  free(t->entries);
  TB_MAP_FOREACH(&t->seqs, i) free(t->seqs.vals[i]);
  tb_map_free(&t->seqs);
  for (size_t i = 0; i < t->n_fenced; i++)
    free(t->fenced[i]);
  free(t->fenced);
  free(t->schemas);
  free(t->name);
  free(t);
}

/* ---------------------------------------------------------------- entries */

/* Same codecs and rules as a consumer: the decoded body must be exactly
 * uncompressed_size bytes, whatever the sender claims. */
int tb_decompress(int codec, const uint8_t *in, size_t len, uint32_t uncompressed_size,
                  pc_buf *out) {
  return pc_decompress(codec, in, len, uncompressed_size, out);
}

static int sums_push(tb_sum **sums, uint32_t *n, uint32_t *cap, uint32_t crc, uint32_t len) {
  if (*n == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 16;
    tb_sum *ns = realloc(*sums, nc * sizeof(*ns));
    if (!ns)
      return -1;
    *sums = ns;
    *cap = nc;
  }
  (*sums)[(*n)++] = (tb_sum){crc, len};
  return 0;
}

int64_t tb_store_entry(pulsarc_tb *tb, tb_topic *t, const char *producer_name,
                       const Pulsarc__CommandSend *send, const Pulsarc__MessageMetadata *md,
                       const pc_frame *f) {
  const uint8_t *payload = f->payload;
  size_t plen = f->payload_len;
  bool is_batch = md->has_num_messages_in_batch;
  /* An encrypted payload is opaque, as to a real broker: stored, not walked. */
  bool encrypted = md->n_encryption_keys > 0;
  bool compressed =
      !encrypted && md->has_compression && md->compression != PULSARC__COMPRESSION_TYPE__NONE;
  bool chunk = md->has_chunk_id || (send->has_is_chunk && send->is_chunk);
  bool last_chunk =
      !chunk || (md->has_num_chunks_from_msg && md->chunk_id == md->num_chunks_from_msg - 1);
  int32_t nmsg = is_batch ? md->num_messages_in_batch : 1;
  if (nmsg < 0)
    nmsg = 0;
  /* An entry costs one record per message (its checksum when not retained),
   * so that memory stays bounded whatever the batch sizes. */
  uint64_t cost = nmsg > 1 ? (uint64_t)nmsg : 1;
  bool record = tb->records + cost <= tb->max_entry_records;
  /* Payloads are kept as a prefix of the stream: once one does not fit,
   * none after it is kept either, so a snapshot never has holes. */
  bool retain = record && !tb->retention_full && tb->st.bytes_retained + plen <= tb->retain_bytes;
  if (!retain)
    tb->retention_full = true;

  pc_buf dec = {0};
  const uint8_t *body = payload;
  size_t blen = plen;
  bool walkable = !compressed && !encrypted;
  if (compressed) {
    if (tb_decompress(md->compression, payload, plen, md->uncompressed_size, &dec) == 0) {
      body = dec.data;
      blen = dec.len;
      walkable = true;
    } else {
      /* Kept raw (messages not listed); tests see the count. */
      tb->st.decompress_errors++;
    }
  }

  bool malformed = false;
  tb_sum *sums = NULL;
  uint32_t n_sums = 0, cap_sums = 0;
  tb_sum one = {0, 0};
  if (walkable && is_batch) {
    size_t off = 0, smd_len, pl_len;
    const uint8_t *smd, *pl;
    int32_t count = 0;
    int r;
    while ((r = pc_batch_next(body, blen, &off, &smd, &smd_len, &pl, &pl_len)) == 1) {
      if (retain) {
        /* Validate while the volume is test-sized; bench volumes only walk. */
        Pulsarc__SingleMessageMetadata *m =
            pulsarc__single_message_metadata__unpack(NULL, smd_len, smd);
        if (!m)
          malformed = true;
        else
          pulsarc__single_message_metadata__free_unpacked(m, NULL);
      } else if (record) {
        if (sums_push(&sums, &n_sums, &cap_sums, pc_crc32c(0, pl, pl_len), (uint32_t)pl_len)) {
          free(sums);
          pc_buf_free(&dec);
          return -1;
        }
      }
      count++;
    }
    if (r < 0 || count != nmsg)
      malformed = true;
  } else if (walkable && record && !retain) {
    one = (tb_sum){pc_crc32c(0, body, blen), (uint32_t)blen};
    n_sums = 1;
  }
  if (n_sums == 1 && sums) {
    one = sums[0];
    free(sums);
    sums = NULL;
  }
  pc_buf_free(&dec);

  if (record) {
    if (t->n_entries == t->cap_entries) {
      size_t nc = t->cap_entries ? t->cap_entries * 2 : 64;
      tb_entry *ne = realloc(t->entries, nc * sizeof(*ne));
      if (!ne) {
        free(sums);
        return -1;
      }
      t->entries = ne;
      t->cap_entries = nc;
    }
    tb_entry *e = &t->entries[t->n_entries];
    memset(e, 0, sizeof(*e));
    e->data = malloc(f->metadata_len + (retain ? plen : 0) + 1);
    if (!e->data) {
      free(sums);
      return -1;
    }
    memcpy(e->data, f->metadata, f->metadata_len);
    if (retain && plen)
      memcpy(e->data + f->metadata_len, payload, plen);
    e->md_len = (uint32_t)f->metadata_len;
    e->payload_len = (uint32_t)plen;
    e->retained = retain;
    if (!retain)
      e->payload_crc = pc_crc32c(0, payload, plen);
    e->n_sums = n_sums;
    if (n_sums == 1)
      e->one = one;
    else
      e->sums = sums;
    t->n_entries++;
    tb->records += cost;
    if (retain)
      tb->st.bytes_retained += plen;
    e->entry_id = t->next_entry_id;
    e->sequence_id = send->sequence_id;
    e->highest_sequence_id = send->highest_sequence_id;
    e->producer_name = producer_name;
    e->num_messages = nmsg;
    e->flags = (uint8_t)((send->has_highest_sequence_id ? TB_ENTRY_HAS_HIGHEST : 0) |
                         (malformed ? TB_ENTRY_MALFORMED : 0) | (is_batch ? TB_ENTRY_BATCH : 0) |
                         (chunk ? TB_ENTRY_CHUNK : 0) | (walkable ? TB_ENTRY_WALKABLE : 0));
  } else {
    free(sums);
    t->not_recorded++;
  }

  uint64_t counted = last_chunk ? (chunk ? 1 : (uint64_t)nmsg) : 0;
  t->messages += counted;
  tb->st.messages += counted;
  if (chunk) {
    t->chunks++;
    tb->st.chunks++;
  }
  if (malformed)
    tb->st.malformed_batches++;
  tb->st.entries++;
  tb->st.bytes_stored += plen;
  return t->next_entry_id++;
}
