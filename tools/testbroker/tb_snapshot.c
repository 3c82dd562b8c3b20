/* Test broker: inspection copies of a topic. The whole snapshot lives in one
 * arena so that a single free releases it. Built under tb->mu ([any]). */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "tb_internal.h"

typedef struct arena_blk {
  struct arena_blk *next;
  size_t used, cap;
  alignas(max_align_t) uint8_t data[];
} arena_blk;

typedef struct arena {
  arena_blk *head;
  bool failed;
} arena;

static void *arena_alloc(arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (!a->head || a->head->cap - a->head->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    arena_blk *b = malloc(sizeof(*b) + cap);
    if (!b) {
      a->failed = true;
      return NULL;
    }
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += n;
  memset(p, 0, n);
  return p;
}

static void *arena_dup(arena *a, const void *src, size_t n) {
  uint8_t *p = arena_alloc(a, n + 1); /* +1: strings get their NUL for free */
  if (p && n)
    memcpy(p, src, n);
  return p;
}

static const char *arena_str(arena *a, const char *s) {
  return s ? arena_dup(a, s, strlen(s)) : NULL;
}

static void arena_free(arena *a) {
  while (a->head) {
    arena_blk *b = a->head;
    a->head = b->next;
    free(b);
  }
}

static const pulsarc_tb_kv *copy_kvs(arena *a, Pulsarc__KeyValue **kv, size_t n) {
  if (!n)
    return NULL;
  pulsarc_tb_kv *out = arena_alloc(a, n * sizeof(*out));
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    out[i].key = arena_str(a, kv[i]->key);
    out[i].value = arena_str(a, kv[i]->value);
  }
  return out;
}

static void fill_single(arena *a, pulsarc_tb_message *m, const uint8_t *smd, size_t smd_len) {
  Pulsarc__SingleMessageMetadata *s = pulsarc__single_message_metadata__unpack(NULL, smd_len, smd);
  if (!s)
    return;
  m->has_metadata = true;
  m->partition_key = arena_str(a, s->partition_key);
  if (s->has_ordering_key) {
    m->has_ordering_key = true;
    m->ordering_key = arena_dup(a, s->ordering_key.data, s->ordering_key.len);
    m->ordering_key_len = s->ordering_key.len;
  }
  m->properties = copy_kvs(a, s->properties, s->n_properties);
  m->num_properties = m->properties ? s->n_properties : 0;
  m->event_time = s->has_event_time ? s->event_time : 0;
  m->has_sequence_id = s->has_sequence_id;
  m->sequence_id = s->sequence_id;
  m->null_value = s->has_null_value && s->null_value;
  pulsarc__single_message_metadata__free_unpacked(s, NULL);
}

/* Lists the messages of a retained (and decodable) body, which lives in the arena. */
static void list_messages(arena *a, pulsarc_tb_entry *out, const uint8_t *body, size_t len,
                          bool is_batch, int32_t expected) {
  if (!is_batch) {
    pulsarc_tb_message *m = arena_alloc(a, sizeof(*m));
    if (!m)
      return;
    m->retained = true;
    m->payload = body;
    m->payload_len = len;
    m->payload_crc32c = pc_crc32c(0, body, len);
    out->messages = m;
    out->num_listed = 1;
    return;
  }
  size_t cap = expected > 0 ? (size_t)expected : 1, n = 0;
  pulsarc_tb_message *ms = arena_alloc(a, cap * sizeof(*ms));
  size_t off = 0, smd_len, pl_len;
  const uint8_t *smd, *pl;
  while (ms && pc_batch_next(body, len, &off, &smd, &smd_len, &pl, &pl_len) == 1) {
    if (n == cap) { /* more than announced: grow (the entry is flagged malformed) */
      pulsarc_tb_message *nm = arena_alloc(a, cap * 2 * sizeof(*nm));
      if (!nm)
        break;
      memcpy(nm, ms, n * sizeof(*nm));
      ms = nm;
      cap *= 2;
    }
    pulsarc_tb_message *m = &ms[n++];
    m->retained = true;
    m->payload = pl;
    m->payload_len = pl_len;
    m->payload_crc32c = pc_crc32c(0, pl, pl_len);
    fill_single(a, m, smd, smd_len);
  }
  out->messages = ms;
  out->num_listed = ms ? n : 0;
}

static void fill_entry(arena *a, const tb_topic *t, const tb_entry *e, pulsarc_tb_entry *o) {
  o->ledger_id = t->ledger_id;
  o->entry_id = e->entry_id;
  o->producer_name = arena_str(a, e->producer_name);
  o->sequence_id = e->sequence_id;
  o->has_highest_sequence_id = (e->flags & TB_ENTRY_HAS_HIGHEST) != 0;
  o->highest_sequence_id = e->highest_sequence_id;
  o->is_batch = (e->flags & TB_ENTRY_BATCH) != 0;
  o->num_messages = e->num_messages;
  o->batch_malformed = (e->flags & TB_ENTRY_MALFORMED) != 0;
  o->is_chunk = (e->flags & TB_ENTRY_CHUNK) != 0;
  o->payload_len = e->payload_len;
  Pulsarc__MessageMetadata *md = pc_metadata_unpack(e->data, e->md_len);
  if (md) {
    o->publish_time = md->publish_time;
    o->partition_key = arena_str(a, md->partition_key);
    if (md->has_ordering_key) {
      o->has_ordering_key = true;
      o->ordering_key = arena_dup(a, md->ordering_key.data, md->ordering_key.len);
      o->ordering_key_len = md->ordering_key.len;
    }
    o->properties = copy_kvs(a, md->properties, md->n_properties);
    o->num_properties = o->properties ? md->n_properties : 0;
    o->event_time = md->has_event_time ? md->event_time : 0;
    o->has_deliver_at_time = md->has_deliver_at_time;
    o->deliver_at_time = md->deliver_at_time;
    o->compression = md->has_compression ? (int)md->compression : 0;
    o->uncompressed_size = md->has_uncompressed_size ? md->uncompressed_size : 0;
    o->chunk_uuid = arena_str(a, md->uuid);
    o->chunk_id = md->has_chunk_id ? md->chunk_id : 0;
    o->num_chunks = md->has_num_chunks_from_msg ? md->num_chunks_from_msg : 0;
    o->total_chunk_msg_size = md->has_total_chunk_msg_size ? md->total_chunk_msg_size : 0;
    if (md->has_schema_version) {
      o->has_schema_version = true;
      o->schema_version = arena_dup(a, md->schema_version.data, md->schema_version.len);
      o->schema_version_len = md->schema_version.len;
    }
    o->null_value = md->has_null_value && md->null_value;
    o->is_encrypted = md->n_encryption_keys > 0;
  }
  o->metadata = arena_dup(a, e->data, e->md_len);
  o->metadata_len = o->metadata ? e->md_len : 0;
  bool walkable = (e->flags & TB_ENTRY_WALKABLE) != 0;
  if (e->retained) {
    o->payload_retained = true;
    o->payload = arena_dup(a, e->data + e->md_len, e->payload_len);
    o->payload_crc32c = o->payload ? pc_crc32c(0, o->payload, e->payload_len) : 0;
    if (o->is_encrypted) {
      /* ciphertext: nothing to list */
    } else if (o->payload && o->compression == 0) {
      list_messages(a, o, o->payload, e->payload_len, o->is_batch, e->num_messages);
    } else if (o->payload && md) {
      pc_buf dec = {0};
      if (tb_decompress(o->compression, o->payload, e->payload_len, o->uncompressed_size, &dec) ==
          0) {
        const uint8_t *body = arena_dup(a, dec.data, dec.len);
        if (body)
          list_messages(a, o, body, dec.len, o->is_batch, e->num_messages);
      }
      pc_buf_free(&dec);
    }
  } else {
    o->payload_crc32c = e->payload_crc;
    const tb_sum *sums = e->n_sums == 1 ? &e->one : e->sums;
    if (walkable && e->n_sums) {
      pulsarc_tb_message *ms = arena_alloc(a, e->n_sums * sizeof(*ms));
      if (ms) {
        for (uint32_t i = 0; i < e->n_sums; i++) {
          ms[i].payload_crc32c = sums[i].crc;
          ms[i].payload_len = sums[i].len;
        }
        o->messages = ms;
        o->num_listed = e->n_sums;
      }
    }
  }
  if (md)
    pulsarc__message_metadata__free_unpacked(md, NULL);
}

pulsarc_tb_snapshot *tb_snapshot_build(pulsarc_tb *tb, const char *full_topic) {
  arena a = {0};
  pulsarc_tb_snapshot *s = arena_alloc(&a, sizeof(*s));
  arena *keep = s ? arena_alloc(&a, sizeof(*keep)) : NULL;
  if (!keep) {
    arena_free(&a);
    return NULL;
  }
  s->topic = arena_str(&a, full_topic);
  const tb_topic *t = tb_topic_get(tb, full_topic, false);
  if (t) {
    s->exists = true;
    s->entries_not_recorded = t->not_recorded;
    s->messages = t->messages;
    s->duplicates = t->duplicates;
    if (t->n_entries) {
      pulsarc_tb_entry *es = arena_alloc(&a, t->n_entries * sizeof(*es));
      if (es) {
        for (size_t i = 0; i < t->n_entries; i++)
          fill_entry(&a, t, &t->entries[i], &es[i]);
        s->entries = es;
        s->num_entries = t->n_entries;
      }
    }
  }
  if (a.failed) {
    arena_free(&a);
    return NULL;
  }
  *keep = a;
  s->priv_ = keep;
  return s;
}

void pulsarc_tb_snapshot_free(pulsarc_tb_snapshot *s) {
  if (!s)
    return;
  arena a = *(arena *)s->priv_; /* the arena holds s itself: copy first */
  arena_free(&a);
}
