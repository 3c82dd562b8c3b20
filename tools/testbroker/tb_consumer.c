/* Test broker, consumer side: subscriptions, permits, MESSAGE dispatch of
 * stored entries, acks, redelivery, delayed delivery, and the small requests
 * a consumer makes (last message id, stats, schema, seek, unsubscribe).
 * Everything runs on the broker thread with tb->mu held.
 *
 * What can be dispatched: entries whose record and payload were retained
 * (retain_bytes, max_entry_records). An entry past retention has no payload
 * left to send: subscriptions skip it (it counts as acknowledged). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/crc32c.h"
#include "common/clock.h"
#include "tb_internal.h"

#define BC(t) PULSARC__BASE_COMMAND__TYPE__##t
#define SE(e) PULSARC__SERVER_ERROR__##e
#define ST(t) PULSARC__COMMAND_SUBSCRIBE__SUB_TYPE__##t

/* ------------------------------------------------------------------ replies */

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ lookups */

const tb_entry *tb_topic_find_entry(const tb_topic *t, int64_t entry_id) {
  size_t lo = 0, hi = t->n_entries;
  while (lo < hi) { /* records are in entry id order, possibly with holes */
    size_t mid = lo + (hi - lo) / 2;
    if (t->entries[mid].entry_id < entry_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < t->n_entries && t->entries[lo].entry_id == entry_id ? &t->entries[lo] : NULL;
}

static tb_consumer *conn_consumer(tb_conn *c, uint64_t id) {
  for (tb_consumer *k = c->consumers; k; k = k->next_conn)
    if (k->consumer_id == id)
      return k;
  return NULL;
}

static tb_sub *topic_sub(tb_topic *t, const char *name) {
  for (tb_sub *s = t->subs; s; s = s->next)
    if (!s->gone && strcmp(s->name, name) == 0)
      return s;
  return NULL;
}

/* The state slot of entry id, growing the table; NULL when out of memory or
 * below base (already trimmed: acknowledged). */
static tb_sub_ent *sub_ent(tb_sub *s, int64_t id) {
  if (id < s->base)
    return NULL;
  size_t i = (size_t)(id - s->base);
  if (i >= s->cap) {
    size_t nc = s->cap ? s->cap : 64;
    while (nc <= i)
      nc *= 2;
    tb_sub_ent *ne = realloc(s->ents, nc * sizeof(*ne));
    if (!ne)
      return NULL;
    memset(ne + s->cap, 0, (nc - s->cap) * sizeof(*ne));
    s->ents = ne;
    s->cap = nc;
  }
  return &s->ents[i];
}

/* Drops the acknowledged prefix so the table stays as long as the backlog. */
static void sub_trim(tb_sub *s) {
  size_t n = (size_t)(s->cursor - s->base), k = 0;
  while (k < n && (s->ents[k].state == TB_SE_ACKED || s->ents[k].state == TB_SE_SKIP))
    k++;
  if (k == 0 || (k < 1024 && k < n))
    return;
  memmove(s->ents, s->ents + k, (s->cap - k) * sizeof(*s->ents));
  memset(s->ents + (s->cap - k), 0, k * sizeof(*s->ents));
  s->base += (int64_t)k;
}

static int64_t mark_delete(const tb_sub *s) {
  int64_t id = s->base;
  size_t n = (size_t)(s->cursor - s->base);
  for (size_t k = 0; k < n; k++, id++)
    if (s->ents[k].state != TB_SE_ACKED && s->ents[k].state != TB_SE_SKIP)
      break;
  return id - 1;
}

static uint64_t sub_backlog(const tb_sub *s) {
  uint64_t n = 0;
  for (int64_t id = s->base; id < s->topic->next_entry_id; id++) {
    size_t k = (size_t)(id - s->base);
    uint8_t st = k < s->cap ? s->ents[k].state : TB_SE_NEW;
    if (st != TB_SE_ACKED && st != TB_SE_SKIP)
      n++;
  }
  return n;
}

/* ----------------------------------------------------------------- dispatch */

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void learn_meta(tb_sub_ent *se, const tb_entry *e) {
  se->meta_known = true;
  Pulsarc__MessageMetadata *md = pc_metadata_unpack(e->data, e->md_len);
  if (!md)
    return;
  if (md->has_deliver_at_time)
    se->deliver_at = md->deliver_at_time;
  if (md->has_ordering_key)
    se->key_hash = hash_bytes(md->ordering_key.data, md->ordering_key.len);
  else if (md->partition_key)
    se->key_hash = hash_bytes((const uint8_t *)md->partition_key, strlen(md->partition_key));
  pulsarc__message_metadata__free_unpacked(md, NULL);
}

/* The real broker holds back deliver_at_time only on its multi-consumer
 * dispatchers; Exclusive and Failover deliver at once. */
static bool sub_delays(const tb_sub *s) {
  return s->type == ST(Shared) || s->type == ST(Key_Shared);
}

/* Appends MESSAGE for entry e: the stored section re-framed with a fresh
 * checksum over [md size][metadata][payload], which is what the consumer
 * verifies. */
static int send_message(pulsarc_tb *tb, tb_consumer *k, const tb_entry *e, uint32_t redeliveries) {
  tb_conn *c = k->conn;
  if (c->closed)
    return -1;
  Pulsarc__MessageIdData id = PULSARC__MESSAGE_ID_DATA__INIT;
  id.ledger_id = (uint64_t)k->sub->topic->ledger_id;
  id.entry_id = (uint64_t)e->entry_id;
  Pulsarc__CommandMessage m = PULSARC__COMMAND_MESSAGE__INIT;
  m.consumer_id = k->consumer_id;
  m.message_id = &id;
  m.has_redelivery_count = 1;
  m.redelivery_count = redeliveries;
  if (k->has_epoch) {
    m.has_consumer_epoch = 1;
    m.consumer_epoch = k->epoch;
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(MESSAGE);
  cmd.message = &m;
  size_t cl = pulsarc__base_command__get_packed_size(&cmd);
  size_t total = 4 + cl + 2 + 4 + 4 + e->md_len + e->payload_len;
  if (c->out.len - c->out_off > TB_MAX_OUT_BYTES) {
    tb_conn_close(tb, c, false);
    return -1;
  }
  if (c->out_off > 0 && c->out_off == c->out.len) {
    c->out.len = 0;
    c->out_off = 0;
  }
  if (pc_buf_reserve(&c->out, 4 + total) != 0) {
    tb_conn_close(tb, c, false);
    return -1;
  }
  uint8_t *p = c->out.data + c->out.len;
  pc_put_u32be(p, (uint32_t)total);
  pc_put_u32be(p + 4, (uint32_t)cl);
  pulsarc__base_command__pack(&cmd, p + 8);
  uint8_t *q = p + 8 + cl;
  q[0] = (uint8_t)(PC_FRAME_MAGIC_CRC >> 8);
  q[1] = (uint8_t)PC_FRAME_MAGIC_CRC;
  uint8_t *mds = q + 6;
  pc_put_u32be(mds, e->md_len);
  memcpy(mds + 4, e->data, (size_t)e->md_len + e->payload_len);
  pc_put_u32be(q + 2, pc_crc32c(0, mds, 4 + (size_t)e->md_len + e->payload_len));
  c->out.len += 4 + total;
  tb_fault_on_frame_out(tb, p, 4 + total);
  tb->st.frames_out++;
  return 0;
}

static tb_consumer *pick_consumer(tb_sub *s, const tb_sub_ent *se) {
  size_t n = 0;
  for (tb_consumer *k = s->consumers; k; k = k->next_sub)
    n++;
  if (n == 0)
    return NULL;
  if (s->type == ST(Exclusive) || s->type == ST(Failover))
    return s->consumers->permits > 0 ? s->consumers : NULL;
  if (s->type == ST(Key_Shared)) {
    /* Sticky by key hash: a key whose consumer has no permits waits. */
    tb_consumer *k = s->consumers;
    for (size_t i = se->key_hash % n; i > 0; i--)
      k = k->next_sub;
    return k->permits > 0 ? k : NULL;
  }
  for (size_t i = 0; i < n; i++) {
    size_t at = (size_t)((s->rr + i) % n);
    tb_consumer *k = s->consumers;
    while (at--)
      k = k->next_sub;
    if (k->permits > 0) {
      s->rr = s->rr + i + 1;
      return k;
    }
  }
  return NULL;
}

/* Sends what permits allow: redeliveries and due delayed entries first
 * (lowest id first), then new entries in order. */
static void sub_dispatch(pulsarc_tb *tb, tb_sub *s) {
  tb_topic *t = s->topic;
  int64_t now = wall_ms();
  bool delays = sub_delays(s);
  for (;;) {
    if (!s->consumers || s->gone)
      return;
    int64_t id = -1;
    tb_sub_ent *se = NULL;
    if (s->n_ready) {
      size_t n = (size_t)(s->cursor - s->base);
      for (size_t k = 0; k < n; k++) {
        tb_sub_ent *x = &s->ents[k];
        if (x->state == TB_SE_READY && (!delays || x->deliver_at <= now)) {
          id = s->base + (int64_t)k;
          se = x;
          break;
        }
      }
    }
    while (!se && s->cursor < t->next_entry_id) {
      tb_sub_ent *x = sub_ent(s, s->cursor);
      if (!x)
        return;
      const tb_entry *e = tb_topic_find_entry(t, s->cursor);
      if (!e || !e->retained) {
        x->state = TB_SE_SKIP;
        s->cursor++;
        continue;
      }
      if (!x->meta_known)
        learn_meta(x, e);
      if (delays && x->deliver_at > now) {
        x->state = TB_SE_READY;
        s->n_ready++;
        s->cursor++;
        continue;
      }
      id = s->cursor;
      se = x;
    }
    if (!se)
      return;
    tb_consumer *k = pick_consumer(s, se);
    if (!k)
      return;
    const tb_entry *e = tb_topic_find_entry(t, id);
    if (!e || send_message(tb, k, e, se->redeliveries) != 0)
      return; /* e vanished: cannot happen; a closed connection stops here */
    if (se->state == TB_SE_READY)
      s->n_ready--;
    else
      s->cursor++;
    se->state = TB_SE_OUT;
    se->owner = k;
    k->unacked++;
    k->permits -= e->num_messages > 0 ? e->num_messages : 1;
  }
}

void tb_topic_dispatch(pulsarc_tb *tb, tb_topic *t) {
  for (tb_sub *s = t->subs; s; s = s->next)
    sub_dispatch(tb, s);
}

uint64_t tb_consumers_tick(pulsarc_tb *tb, uint64_t now_ns) {
  if (tb->consumers == 0)
    return UINT64_MAX; /* a scan of every topic on every iteration, for nothing */
  int64_t now = wall_ms(), next = INT64_MAX;
  TB_MAP_FOREACH(&tb->topics, i) {
    tb_topic *t = tb->topics.vals[i];
    for (tb_sub *s = t->subs; s; s = s->next) {
      if (!s->n_ready || !s->consumers)
        continue;
      sub_dispatch(tb, s);
      if (!sub_delays(s))
        continue;
      size_t n = (size_t)(s->cursor - s->base);
      for (size_t k = 0; k < n; k++)
        if (s->ents[k].state == TB_SE_READY && s->ents[k].deliver_at > now &&
            s->ents[k].deliver_at < next)
          next = s->ents[k].deliver_at;
    }
  }
  if (next == INT64_MAX)
    return UINT64_MAX;
  return now_ns + (uint64_t)(next - now) * 1000000ull;
}

/* Puts k's unacknowledged entries (all, or the listed ones) back for
 * dispatch; bump: count it as a redelivery. */
static void give_back(tb_consumer *k, const Pulsarc__MessageIdData *const *ids, size_t n_ids,
                      bool bump) {
  tb_sub *s = k->sub;
  size_t n = (size_t)(s->cursor - s->base);
  for (size_t j = 0; j < (n_ids ? n_ids : n); j++) {
    tb_sub_ent *x;
    if (n_ids) {
      x = sub_ent(s, (int64_t)ids[j]->entry_id);
      if (!x || (int64_t)ids[j]->entry_id >= s->cursor)
        continue;
    } else {
      x = &s->ents[j];
    }
    if (x->state != TB_SE_OUT || x->owner != k)
      continue;
    x->state = TB_SE_READY;
    x->owner = NULL;
    if (bump)
      x->redeliveries++;
    s->n_ready++;
    k->unacked--;
  }
}

/* ---------------------------------------------------------------- lifecycle */

static void sub_free(tb_sub *s) {
  free(s->ents);
  free(s->name);
  free(s);
}

/* Unlinks and frees k; its entries go back to the subscription. */
static void consumer_remove(pulsarc_tb *tb, tb_consumer *k, bool dispatch) {
  tb_sub *s = k->sub;
  give_back(k, NULL, 0, false);
  for (tb_consumer **pp = &s->consumers; *pp; pp = &(*pp)->next_sub)
    if (*pp == k) {
      *pp = k->next_sub;
      break;
    }
  for (tb_consumer **pp = &k->conn->consumers; *pp; pp = &(*pp)->next_conn)
    if (*pp == k) {
      *pp = k->next_conn;
      break;
    }
  free(k->name);
  free(k);
  tb->consumers--;
  if (!s->durable && !s->consumers) {
    /* Kept as a husk until the topic goes: callers may still hold s. */
    s->gone = true;
    free(s->ents);
    s->ents = NULL;
    s->cap = 0;
    s->n_ready = 0;
    s->base = s->cursor;
  } else if (dispatch) {
    sub_dispatch(tb, s);
  }
}

void tb_conn_forget_consumers(pulsarc_tb *tb, tb_conn *c) {
  while (c->consumers)
    consumer_remove(tb, c->consumers, true);
}

void tb_topic_free_subs(tb_topic *t) {
  while (t->subs) {
    tb_sub *s = t->subs;
    t->subs = s->next;
    sub_free(s);
  }
}

/* Start position of a new subscription: Latest = after the last entry,
 * Earliest = the first entry, or a reader's start message id. */
static int64_t start_position(const tb_topic *t, const Pulsarc__CommandSubscribe *sc) {
  if (sc->start_message_id) {
    int64_t e = (int64_t)sc->start_message_id->entry_id;
    if ((int64_t)sc->start_message_id->ledger_id < 0 || e < 0)
      return 0; /* MessageId.earliest is -1:-1 */
    if ((int64_t)sc->start_message_id->ledger_id > t->ledger_id)
      return t->next_entry_id; /* latest */
    return e < t->next_entry_id ? e : t->next_entry_id;
  }
  bool earliest = sc->has_initial_position &&
                  sc->initial_position == PULSARC__COMMAND_SUBSCRIBE__INITIAL_POSITION__Earliest;
  return earliest ? 0 : t->next_entry_id;
}

static void handle_subscribe(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandSubscribe *sc) {
  tb_consumer *dup = conn_consumer(c, sc->consumer_id);
  if (dup) { /* a retry of a subscribe that already succeeded */
    tb_send_success(tb, c, sc->request_id);
    return;
  }
  if (!sc->topic || !*sc->topic || !sc->subscription || !*sc->subscription) {
    tb_send_error(tb, c, sc->request_id, SE(InvalidTopicName), "empty topic or subscription name");
    return;
  }
  char *full = pulsarc_tb_full_topic(sc->topic);
  tb_topic *t = full ? tb_topic_get(tb, full, true) : NULL;
  free(full);
  if (!t) {
    tb_send_error(tb, c, sc->request_id, SE(ServiceNotReady), "test broker out of memory");
    return;
  }
  tb_sub *s = topic_sub(t, sc->subscription);
  if (s && s->consumers) {
    if (s->type != (int)sc->sub_type) {
      tb_send_error(tb, c, sc->request_id, SE(ConsumerBusy), "Subscription is of different type");
      return;
    }
    if (s->type == ST(Exclusive)) {
      tb_send_error(tb, c, sc->request_id, SE(ConsumerBusy),
                    "Exclusive consumer is already connected");
      return;
    }
  }
  tb_consumer *k = calloc(1, sizeof(*k));
  if (k && sc->consumer_name && !(k->name = strdup(sc->consumer_name))) {
    free(k);
    k = NULL;
  }
  if (k && !s) {
    s = calloc(1, sizeof(*s));
    if (s && !(s->name = strdup(sc->subscription))) {
      free(s);
      s = NULL;
    }
    if (s) {
      s->topic = t;
      s->durable = !sc->has_durable || sc->durable;
      s->base = s->cursor = start_position(t, sc);
      s->next = t->subs;
      t->subs = s;
    }
  }
  if (!k || !s) {
    if (k)
      free(k->name);
    free(k);
    tb_send_error(tb, c, sc->request_id, SE(ServiceNotReady), "test broker out of memory");
    return;
  }
  s->type = (int)sc->sub_type; /* a sub without consumers may change type */
  k->conn = c;
  k->sub = s;
  k->consumer_id = sc->consumer_id;
  k->has_epoch = sc->has_consumer_epoch;
  k->epoch = sc->consumer_epoch;
  tb_consumer **pp = &s->consumers;
  while (*pp)
    pp = &(*pp)->next_sub;
  *pp = k;
  k->next_conn = c->consumers;
  c->consumers = k;
  tb->consumers++;
  tb_send_success(tb, c, sc->request_id);
}

/* -------------------------------------------------------------------- acks */

static void ack_one(tb_sub *s, int64_t id) {
  tb_sub_ent *x = sub_ent(s, id);
  if (!x || id >= s->topic->next_entry_id)
    return;
  if (x->state == TB_SE_OUT && x->owner)
    x->owner->unacked--;
  if (x->state == TB_SE_READY)
    s->n_ready--;
  x->state = TB_SE_ACKED;
  x->owner = NULL;
}

/* An ack whose ack_set still has bits set covers part of a batch: the entry
 * stays until a later ack covers all of it. */
static bool partial(const Pulsarc__MessageIdData *m) {
  for (size_t i = 0; i < m->n_ack_set; i++)
    if (m->ack_set[i] != 0)
      return true;
  return false;
}

static void handle_ack(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandAck *a) {
  tb_consumer *k = conn_consumer(c, a->consumer_id);
  if (k) {
    tb_sub *s = k->sub;
    for (size_t i = 0; i < a->n_message_id; i++) {
      const Pulsarc__MessageIdData *m = a->message_id[i];
      int64_t id = (int64_t)m->entry_id;
      bool whole = !partial(m);
      if (a->ack_type == PULSARC__COMMAND_ACK__ACK_TYPE__Cumulative) {
        int64_t last = whole ? id : id - 1;
        for (int64_t j = s->base; j <= last && j < s->cursor; j++)
          ack_one(s, j);
      } else if (whole && id < s->cursor) {
        ack_one(s, id);
      }
    }
    sub_trim(s);
  }
  if (a->has_request_id) {
    Pulsarc__CommandAckResponse r = PULSARC__COMMAND_ACK_RESPONSE__INIT;
    r.consumer_id = a->consumer_id;
    r.has_request_id = 1;
    r.request_id = a->request_id;
    if (a->has_txnid_least_bits || a->has_txnid_most_bits) {
      r.has_txnid_least_bits = a->has_txnid_least_bits;
      r.txnid_least_bits = a->txnid_least_bits;
      r.has_txnid_most_bits = a->has_txnid_most_bits;
      r.txnid_most_bits = a->txnid_most_bits;
    }
    if (!k) {
      r.has_error = 1;
      r.error = SE(ConsumerNotFound);
      r.message = "Consumer not found";
    }
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(ACK_RESPONSE);
    cmd.ack_response = &r;
    tb_conn_send_cmd(tb, c, &cmd);
  }
}

/* ------------------------------------------------------------- small ones */

static void handle_last_id(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandGetLastMessageId *g) {
  tb_consumer *k = conn_consumer(c, g->consumer_id);
  if (!k) {
    tb_send_error(tb, c, g->request_id, SE(ConsumerNotFound), "Consumer not found");
    return;
  }
  tb_topic *t = k->sub->topic;
  Pulsarc__MessageIdData last = PULSARC__MESSAGE_ID_DATA__INIT, md = PULSARC__MESSAGE_ID_DATA__INIT;
  last.ledger_id = (uint64_t)t->ledger_id;
  last.entry_id = (uint64_t)(t->next_entry_id - 1); /* -1 on the wire when empty */
  const tb_entry *e = tb_topic_find_entry(t, t->next_entry_id - 1);
  if (e && (e->flags & TB_ENTRY_BATCH)) { /* the broker names the batch's last message */
    last.has_batch_index = 1;
    last.batch_index = e->num_messages - 1;
  }
  md.ledger_id = (uint64_t)t->ledger_id;
  md.entry_id = (uint64_t)mark_delete(k->sub);
  Pulsarc__CommandGetLastMessageIdResponse r = PULSARC__COMMAND_GET_LAST_MESSAGE_ID_RESPONSE__INIT;
  r.last_message_id = &last;
  r.request_id = g->request_id;
  r.consumer_mark_delete_position = &md;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(GET_LAST_MESSAGE_ID_RESPONSE);
  cmd.get_last_message_id_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

static const char *sub_type_name(int type) {
  switch (type) {
  case ST(Exclusive):
    return "Exclusive";
  case ST(Shared):
    return "Shared";
  case ST(Failover):
    return "Failover";
  default:
    return "Key_Shared";
  }
}

static void handle_stats(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandConsumerStats *q) {
  tb_consumer *k = conn_consumer(c, q->consumer_id);
  Pulsarc__CommandConsumerStatsResponse r = PULSARC__COMMAND_CONSUMER_STATS_RESPONSE__INIT;
  r.request_id = q->request_id;
  if (!k) {
    r.has_error_code = 1;
    r.error_code = SE(ConsumerNotFound);
    r.error_message = "Consumer not found";
  } else {
    r.consumer_name = k->name ? k->name : "";
    r.has_available_permits = 1;
    r.available_permits = k->permits > 0 ? (uint64_t)k->permits : 0;
    r.has_unacked_messages = 1;
    r.unacked_messages = k->unacked;
    r.has_msg_backlog = 1;
    r.msg_backlog = sub_backlog(k->sub);
    r.type = (char *)sub_type_name(k->sub->type);
    r.has_blocked_consumer_on_unacked_msgs = 1;
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(CONSUMER_STATS_RESPONSE);
  cmd.consumer_stats_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

/* The test broker keeps schema versions, not schema bodies: a topic with
 * schemas answers with the error a registry gives for an unknown version. */
static void handle_get_schema(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandGetSchema *g) {
  char *full = g->topic ? pulsarc_tb_full_topic(g->topic) : NULL;
  tb_topic *t = full ? tb_topic_get(tb, full, false) : NULL;
  free(full);
  Pulsarc__CommandGetSchemaResponse r = PULSARC__COMMAND_GET_SCHEMA_RESPONSE__INIT;
  r.request_id = g->request_id;
  r.has_error_code = 1;
  r.error_code = SE(TopicNotFound); /* what the Java broker answers for both */
  r.error_message = t ? "Topic not found or no-schema" : "Topic not found";
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(GET_SCHEMA_RESPONSE);
  cmd.get_schema_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

/* Seek as the real broker does it: move the cursor, then disconnect the
 * subscription's consumers, which come back and read from there. */
static void handle_seek(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandSeek *sk) {
  tb_consumer *k = conn_consumer(c, sk->consumer_id);
  if (!k) {
    tb_send_error(tb, c, sk->request_id, SE(ConsumerNotFound), "Consumer not found");
    return;
  }
  tb_sub *s = k->sub;
  tb_topic *t = s->topic;
  int64_t to = t->next_entry_id;
  if (sk->message_id) {
    to = (int64_t)sk->message_id->entry_id;
    if (to < 0 || (int64_t)sk->message_id->ledger_id < 0)
      to = 0;
    if (to > t->next_entry_id)
      to = t->next_entry_id;
  } else if (sk->has_message_publish_time) {
    for (size_t i = 0; i < t->n_entries; i++) {
      Pulsarc__MessageMetadata *md = pc_metadata_unpack(t->entries[i].data, t->entries[i].md_len);
      bool hit = md && md->publish_time >= sk->message_publish_time;
      if (md)
        pulsarc__message_metadata__free_unpacked(md, NULL);
      if (hit) {
        to = t->entries[i].entry_id;
        break;
      }
    }
  }
  for (tb_consumer *x = s->consumers; x; x = x->next_sub)
    x->unacked = 0;
  free(s->ents);
  s->ents = NULL;
  s->cap = 0;
  s->n_ready = 0;
  s->base = s->cursor = to;
  tb_send_success(tb, c, sk->request_id);
  while (s->consumers) {
    tb_consumer *x = s->consumers;
    Pulsarc__CommandCloseConsumer cc = PULSARC__COMMAND_CLOSE_CONSUMER__INIT;
    cc.consumer_id = x->consumer_id;
    cc.request_id = tb->next_request_id++;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(CLOSE_CONSUMER);
    cmd.close_consumer = &cc;
    tb_conn_send_cmd(tb, x->conn, &cmd);
    consumer_remove(tb, x, false);
  }
}

static void handle_unsubscribe(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandUnsubscribe *u) {
  tb_consumer *k = conn_consumer(c, u->consumer_id);
  if (!k) {
    tb_send_error(tb, c, u->request_id, SE(ConsumerNotFound), "Consumer not found");
    return;
  }
  tb_sub *s = k->sub;
  bool force = u->has_force && u->force;
  if (!force && (s->consumers != k || k->next_sub)) {
    tb_send_error(tb, c, u->request_id, SE(MetadataError),
                  "Unconnected or shared consumer attempting to unsubscribe");
    return;
  }
  s->durable = false; /* goes away with its last consumer */
  while (s->consumers)
    consumer_remove(tb, s->consumers, false);
  tb_send_success(tb, c, u->request_id);
}

/* ----------------------------------------------------------------- routing */

#define NEED(field)                                                                                \
  do {                                                                                             \
    if (!cmd->field) {                                                                             \
      tb_conn_close(tb, c, true);                                                                  \
      return true;                                                                                 \
    }                                                                                              \
  } while (0)

bool tb_consumer_handle(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  const Pulsarc__BaseCommand *cmd = f->cmd;
  switch (cmd->type) {
  case BC(SUBSCRIBE):
    NEED(subscribe);
    handle_subscribe(tb, c, cmd->subscribe);
    return true;
  case BC(FLOW): {
    NEED(flow);
    tb_consumer *k = conn_consumer(c, cmd->flow->consumer_id);
    if (k) {
      k->permits += cmd->flow->message_permits;
      sub_dispatch(tb, k->sub);
    }
    return true;
  }
  case BC(ACK):
    NEED(ack);
    handle_ack(tb, c, cmd->ack);
    return true;
  case BC(REDELIVER_UNACKNOWLEDGED_MESSAGES): {
    NEED(redeliver_unacknowledged_messages);
    const Pulsarc__CommandRedeliverUnacknowledgedMessages *r =
        cmd->redeliver_unacknowledged_messages;
    tb_consumer *k = conn_consumer(c, r->consumer_id);
    if (k) {
      if (r->has_consumer_epoch) {
        k->has_epoch = true;
        k->epoch = r->consumer_epoch;
      }
      give_back(k, (const Pulsarc__MessageIdData *const *)r->message_ids, r->n_message_ids, true);
      sub_dispatch(tb, k->sub);
    }
    return true;
  }
  case BC(CLOSE_CONSUMER): {
    NEED(close_consumer);
    tb_consumer *k = conn_consumer(c, cmd->close_consumer->consumer_id);
    if (k)
      consumer_remove(tb, k, true);
    tb_send_success(tb, c, cmd->close_consumer->request_id);
    return true;
  }
  case BC(UNSUBSCRIBE):
    NEED(unsubscribe);
    handle_unsubscribe(tb, c, cmd->unsubscribe);
    return true;
  case BC(SEEK):
    NEED(seek);
    handle_seek(tb, c, cmd->seek);
    return true;
  case BC(GET_LAST_MESSAGE_ID):
    NEED(get_last_message_id);
    handle_last_id(tb, c, cmd->get_last_message_id);
    return true;
  case BC(CONSUMER_STATS):
    NEED(consumer_stats);
    handle_stats(tb, c, cmd->consumer_stats);
    return true;
  case BC(GET_SCHEMA):
    NEED(get_schema);
    handle_get_schema(tb, c, cmd->get_schema);
    return true;
  default:
    return false;
  }
}
