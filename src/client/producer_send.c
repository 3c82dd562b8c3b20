/* The producer's send path on its I/O thread: draining the rings, routing
 * to partitions, batching, sealing frames, the pending queue, receipts and
 * per-message deadlines. Every function here runs on the producer's loop. */
#include <stdlib.h>
#include <string.h>

#include "client/producer.h"
#include "client/testing.h"
#include "codec/frame.h"
#include "common/clock.h"
#include "common/futex.h"

#define MS (1000000ull)
#define DRAIN_BUDGET 4096
/* Stop sealing while the connection holds this much unwritten data: the
 * socket is the bottleneck and messages wait better unsealed (a sealed but
 * unwritten batch cannot take part in deadline decisions cheaply). */
#define CONN_HIGH_WATER (4u << 20)
#define HEADROOM 256

void pc_producer_close_flushed(pulsarc_producer_t *p);

/* ------------------------------------------------------------------ fifo */

static int fifo_grow(pc_msgfifo *f) {
  size_t cap = f->cap ? f->cap * 2 : 64;
  pc_msg *a = malloc(cap * sizeof *a);
  if (a == NULL)
    return -1;
  for (size_t i = 0; i < f->n; i++)
    a[i] = *pc_fifo_at(f, i);
  free(f->a);
  f->a = a;
  f->head = 0;
  f->cap = cap;
  return 0;
}

int pc_fifo_push(pc_msgfifo *f, const pc_msg *m) {
  if (f->n == f->cap && fifo_grow(f) != 0)
    return -1;
  f->a[(f->head + f->n) & (f->cap - 1)] = *m;
  f->n++;
  return 0;
}

int pc_fifo_push_front(pc_msgfifo *f, const pc_msg *m) {
  if (f->n == f->cap && fifo_grow(f) != 0)
    return -1;
  f->head = (f->head + f->cap - 1) & (f->cap - 1);
  f->a[f->head] = *m;
  f->n++;
  return 0;
}

void pc_fifo_free(pc_msgfifo *f) {
  free(f->a);
  memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------ completion */

/* Gives back in-flight slots and wakes senders blocked on a full queue. */
static void release_slots(pulsarc_producer_t *p, uint32_t n) {
  if (n == 0)
    return;
  atomic_fetch_sub_explicit(&p->inflight, n, memory_order_acq_rel);
  if (atomic_load_explicit(&p->space_waiters, memory_order_acquire) > 0) {
    atomic_fetch_add(&p->space_seq, 1);
    pc_futex_wake_all(&p->space_seq);
  }
}

static void release_payload(pc_msg *m) {
  if (m->data != NULL && m->free_fn != NULL)
    m->free_fn((void *)m->data, m->free_ctx);
  m->data = NULL;
}

void pc_msg_complete(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                     const pulsarc_msg_id_t *id) {
  if (m->flags & PC_MSG_COMPLETED)
    return;
  m->flags |= PC_MSG_COMPLETED;
  release_payload(m);
  free(m->ext);
  m->ext = NULL;
  if (m->done != NULL)
    m->done(err, id, m->done_ctx);
  release_slots(p, 1);
}

/* ------------------------------------------------------------- routing */

static void part_take(pc_part *part, pc_msg *m) {
  if (pc_fifo_push(&part->unsent, m) != 0) {
    pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
    return;
  }
  part->unsent_bytes += m->len;
  if (m->deadline_ns != 0 && m->deadline_ns < part->seal_by_ns)
    part->seal_by_ns = m->deadline_ns;
}

void pc_producer_accept(void *arg, pc_msg *m) {
  pulsarc_producer_t *p = arg;
  m->idx = p->drained++;
  m->arrival_ns = pc_loop_now(p->loop);
  int s = atomic_load_explicit(&p->app_state, memory_order_relaxed);
  if (p->destroyed || s == PC_APP_FAILED || (s == PC_APP_CLOSED && !p->closing)) {
    pc_msg_complete(p, m, s == PC_APP_FAILED ? (pulsarc_err_t)atomic_load(&p->fail_err)
                                             : PULSARC_ERR_CLOSED, NULL);
    return;
  }
  if (m->deadline_ns != 0 &&
      (!pc_timer_armed(&p->deadline_timer) || m->deadline_ns < p->deadline_timer.deadline_ns))
    pc_timer_start(p->loop, &p->deadline_timer,
                   m->deadline_ns > m->arrival_ns ? m->deadline_ns - m->arrival_ns : 0);
  if (p->nparts == 0) {
    if (pc_fifo_push(&p->unrouted, m) != 0)
      pc_msg_complete(p, m, PULSARC_ERR_NO_MEMORY, NULL);
    return;
  }
  uint32_t k = 0;
  if (p->nparts > 1) {
    if (m->ext != NULL && m->ext->partition_key != NULL) {
      /* One key, one partition: keeps per-key order. */
      k = (uint32_t)pc_java_string_hash(m->ext->partition_key, m->ext->partition_key_len) %
          (uint32_t)p->nparts;
    } else {
      /* Round robin that switches partition once per batch, so batches
       * stay full. */
      if (p->rr_left == 0) {
        p->rr_part = (p->rr_part + 1) % (uint32_t)p->nparts;
        p->rr_left = p->conf.batching ? p->conf.batch_max_messages : 1;
      }
      p->rr_left--;
      k = p->rr_part;
    }
  }
  part_take(p->parts[k], m);
}

/* ------------------------------------------------------------- entries */

static pc_entry *entry_get(pc_part *part, uint32_t count) {
  pc_entry *e = part->free_entries;
  if (e != NULL) {
    part->free_entries = e->next;
  } else if ((e = calloc(1, sizeof *e)) == NULL) {
    return NULL;
  }
  if (e->msgs_cap < count) {
    pc_msg *m = realloc(e->msgs, count * sizeof *m);
    if (m == NULL) {
      e->next = part->free_entries;
      part->free_entries = e;
      return NULL;
    }
    e->msgs = m;
    e->msgs_cap = count;
  }
  e->next = NULL;
  e->part = part;
  e->count = e->incomplete = count;
  e->ever_written = e->in_conn = e->dead = false;
  e->sent_round = part->resend_round;
  e->conn = NULL;
  pc_buf_reset(&e->frame);
  return e;
}

static void entry_free_now(pc_entry *e) {
  pc_buf_free(&e->frame);
  free(e->msgs);
  free(e);
}

void pc_entry_release(pc_part *part, pc_entry *e) {
  if (part->resend_blocker == e) {
    part->resend_blocker = NULL;
    part->resend_kick = true;
  }
  if (e->in_conn) {
    /* The connection still references the frame: free when it lets go. */
    e->dead = true;
    return;
  }
  if (part->p->destroyed) {
    entry_free_now(e);
    return;
  }
  /* Keep buffers for reuse, but do not hoard huge ones. */
  if (e->frame.cap > (8u << 20))
    pc_buf_free(&e->frame);
  e->next = part->free_entries;
  part->free_entries = e;
}

static void on_entry_written(pc_wref *w, bool written) {
  pc_entry *e = w->ctx;
  e->in_conn = false;
  e->conn = NULL;
  if (written)
    e->ever_written = true;
  if (e->dead) {
    entry_free_now(e);
    return;
  }
  if (e->part->resend_blocker == e) {
    /* The resend was waiting for this frame to leave its connection. Resume
     * from the poller, not from inside the connection's write path. */
    e->part->resend_blocker = NULL;
    e->part->resend_kick = true;
  }
}

/* Takes an entry's frame back from the connection it is queued on. */
static void entry_withdraw(pc_entry *e) {
  if (e->in_conn && e->conn != NULL)
    pc_conn_withdraw(e->conn, &e->wref);
}

static void entry_write(pc_part *part, pc_entry *e) {
  e->wref.data = e->frame.data + e->frame_start;
  e->wref.len = e->frame.len - e->frame_start;
  e->wref.written = 0;
  e->wref.done = on_entry_written;
  e->wref.ctx = e;
  if (part->conn != NULL && pc_conn_write_ref(part->conn, &e->wref) == 0) {
    e->in_conn = true;
    e->conn = part->conn;
  }
}

static void pending_push(pc_part *part, pc_entry *e) {
  if (part->pending_tail != NULL)
    part->pending_tail->next = e;
  else
    part->pending_head = e;
  part->pending_tail = e;
}

static pc_entry *pending_pop(pc_part *part) {
  pc_entry *e = part->pending_head;
  if (e != NULL) {
    part->pending_head = e->next;
    if (part->pending_head == NULL)
      part->pending_tail = NULL;
    e->next = NULL;
  }
  return e;
}

/* ------------------------------------------------------------- sealing */

static void set_kvs(Pulsarc__KeyValue **ptrs, Pulsarc__KeyValue *kvs, const pc_msg_ext *x) {
  for (size_t i = 0; i < x->nprops; i++) {
    pulsarc__key_value__init(&kvs[i]);
    kvs[i].key = (char *)x->prop_keys[i];
    kvs[i].value = (char *)x->prop_values[i];
    ptrs[i] = &kvs[i];
  }
}

/* Appends one message of a batch body. */
static int append_single(pc_buf *body, const pc_msg *m, uint64_t seq) {
  const pc_msg_ext *x = m->ext;
  if (x == NULL)
    return pc_batch_append_plain(body, seq, m->data, m->len);
  Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
  Pulsarc__KeyValue kvs[x->nprops ? x->nprops : 1];
  Pulsarc__KeyValue *ptrs[x->nprops ? x->nprops : 1];
  set_kvs(ptrs, kvs, x);
  smd.n_properties = x->nprops;
  smd.properties = ptrs;
  smd.partition_key = (char *)x->partition_key;
  if (x->ordering_key != NULL) {
    smd.has_ordering_key = true;
    smd.ordering_key.data = (uint8_t *)x->ordering_key;
    smd.ordering_key.len = x->ordering_key_len;
  }
  if (x->event_time_ms != 0) {
    smd.has_event_time = true;
    smd.event_time = x->event_time_ms;
  }
  smd.payload_size = (int32_t)m->len;
  smd.has_sequence_id = true;
  smd.sequence_id = seq;
  return pc_batch_append(body, &smd, m->data, m->len);
}

/* How many messages from the front of unsent go into the next frame. */
static uint32_t batch_size(pc_part *part, uint64_t *bytes_out) {
  pulsarc_producer_t *p = part->p;
  pc_msg *first = pc_fifo_at(&part->unsent, 0);
  *bytes_out = first->len;
  if (!p->conf.batching || (first->ext != NULL && first->ext->has_deliver_at))
    return 1;
  uint64_t limit = p->conf.batch_max_bytes;
  if (limit > part->max_message_size)
    limit = part->max_message_size;
  uint32_t n = 1;
  uint64_t bytes = first->len + 16 + pc_msg_ext_wire_size(first->ext);
  while (n < part->unsent.n && n < p->conf.batch_max_messages) {
    pc_msg *m = pc_fifo_at(&part->unsent, n);
    if (m->ext != NULL && m->ext->has_deliver_at)
      break; /* delayed messages travel alone */
    uint64_t add = m->len + 16 + pc_msg_ext_wire_size(m->ext);
    if (bytes + add > limit)
      break;
    bytes += add;
    n++;
  }
  *bytes_out = bytes;
  return n;
}

/* Encodes the next n unsent messages into one SEND frame, appends it to the
 * pending queue and writes it. Sequence ids are assigned here, on the I/O
 * thread, so they strictly increase on the wire. */
static void seal_one(pc_part *part, uint32_t n) {
  pulsarc_producer_t *p = part->p;
  pc_entry *e = entry_get(part, n);
  if (e == NULL) {
    for (uint32_t i = 0; i < n; i++) {
      pc_msg_complete(p, pc_fifo_at(&part->unsent, 0), PULSARC_ERR_NO_MEMORY, NULL);
      part->unsent_bytes -= pc_fifo_at(&part->unsent, 0)->len;
      pc_fifo_pop(&part->unsent);
    }
    return;
  }
  pc_msg *first = pc_fifo_at(&part->unsent, 0);
  bool batched = p->conf.batching && !(first->ext != NULL && first->ext->has_deliver_at);
  e->batched = batched;
  e->first_seq = part->next_seq;
  e->last_seq = part->next_seq + n - 1;
  uint64_t payload_guess = 0;
  for (uint32_t i = 0; i < n; i++)
    payload_guess += pc_fifo_at(&part->unsent, i)->len + 16;
  int rc = pc_buf_reserve(&e->frame, HEADROOM + payload_guess);
  e->frame.len = HEADROOM;
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    pc_msg *m = pc_fifo_at(&part->unsent, i);
    rc = batched ? append_single(&e->frame, m, e->first_seq + i)
                 : pc_buf_append(&e->frame, m->data, m->len);
  }

  const pc_msg_ext *x = first->ext;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = part->name;
  md.sequence_id = e->first_seq;
  md.publish_time = (uint64_t)pc_wall_ms();
  size_t nkv = (!batched && x != NULL) ? x->nprops : 0;
  Pulsarc__KeyValue kvs[nkv ? nkv : 1];
  Pulsarc__KeyValue *ptrs[nkv ? nkv : 1];
  if (x != NULL) {
    /* A batch carries its first message's key, as the official clients do:
     * the broker dispatches Key_Shared by it. */
    md.partition_key = (char *)x->partition_key;
    if (x->ordering_key != NULL) {
      md.has_ordering_key = true;
      md.ordering_key.data = (uint8_t *)x->ordering_key;
      md.ordering_key.len = x->ordering_key_len;
    }
    if (!batched) {
      set_kvs(ptrs, kvs, x);
      md.n_properties = nkv;
      md.properties = ptrs;
      if (x->event_time_ms != 0) {
        md.has_event_time = true;
        md.event_time = x->event_time_ms;
      }
      if (x->has_deliver_at) {
        md.has_deliver_at_time = true;
        md.deliver_at_time = x->deliver_at_ms;
      }
    }
  }
  if (part->schema_version != NULL) {
    md.has_schema_version = true;
    md.schema_version.data = part->schema_version;
    md.schema_version.len = part->schema_version_len;
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &send;
  send.producer_id = part->producer_id;
  send.sequence_id = e->first_seq;
  if (batched) {
    md.has_num_messages_in_batch = true;
    md.num_messages_in_batch = (int32_t)n;
    md.has_highest_sequence_id = true;
    md.highest_sequence_id = e->last_seq;
    send.has_num_messages = true;
    send.num_messages = (int32_t)n;
    send.has_highest_sequence_id = true;
    send.highest_sequence_id = e->last_seq;
  }
  if (rc == 0)
    rc = pc_frame_seal_payload(&e->frame, HEADROOM, &cmd, &md, &e->frame_start);

  /* The payloads now live in the frame: release the callers' buffers. */
  for (uint32_t i = 0; i < n; i++) {
    pc_msg *m = pc_fifo_at(&part->unsent, 0);
    part->unsent_bytes -= m->len;
    e->msgs[i] = *m;
    release_payload(&e->msgs[i]);
    pc_fifo_pop(&part->unsent);
  }
  if (rc != 0) {
    for (uint32_t i = 0; i < n; i++)
      pc_msg_complete(p, &e->msgs[i], PULSARC_ERR_NO_MEMORY, NULL);
    pc_entry_release(part, e);
    return;
  }
  part->next_seq += n;
  pending_push(part, e);
  entry_write(part, e);
}

void pc_part_seal(pc_part *part, bool force) {
  pulsarc_producer_t *p = part->p;
  while (part->state == PS_READY && !part->resend_blocked && part->unsent.n > 0) {
    if (part->conn != NULL && pc_conn_unwritten_bytes(part->conn) > CONN_HIGH_WATER) {
      part->throttled = true;
      return;
    }
    part->throttled = false;
    uint64_t bytes;
    uint32_t n = batch_size(part, &bytes);
    bool full = !p->conf.batching || n < part->unsent.n || n >= p->conf.batch_max_messages ||
                bytes >= p->conf.batch_max_bytes;
    uint64_t now = pc_loop_now(p->loop);
    uint64_t due = pc_fifo_at(&part->unsent, 0)->arrival_ns + p->conf.batch_max_delay_ms * MS;
    if (part->seal_by_ns < due)
      due = part->seal_by_ns;
    if (!force && !full && now < due) {
      if (!pc_timer_armed(&part->batch_timer) || part->batch_timer.deadline_ns > due)
        pc_timer_start(p->loop, &part->batch_timer, due - now);
      return;
    }
    seal_one(part, n);
  }
  if (part->unsent.n == 0) {
    part->seal_by_ns = UINT64_MAX;
    pc_timer_cancel(p->loop, &part->batch_timer);
  }
}

void pc_part_batch_timer(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pc_part *part = t->ctx;
  pc_part_seal(part, true);
}

/* Rewrites every pending entry, oldest first, on the current connection.
 * An entry whose frame is still queued in a connection (partly written
 * before the re-registration) must finish there first: writing later
 * entries ahead of it would let a deduplicating broker drop it as an old
 * sequence id. So the resend stops at it and resumes once it is out. */
static void resend_resume(pc_part *part) {
  part->resend_kick = false;
  part->resend_blocked = false;
  for (pc_entry *e = part->pending_head; e != NULL; e = e->next) {
    if (e->sent_round == part->resend_round)
      continue; /* already written on this connection */
    if (e->in_conn) {
      part->resend_blocked = true;
      part->resend_blocker = e;
      return;
    }
    entry_write(part, e);
    e->sent_round = part->resend_round;
  }
}

_Atomic unsigned pc_test_flags;

static void unseal_from(pc_part *part, pc_entry *from);

void pc_part_resend(pc_part *part) {
  part->resend_round++;
  part->resend_blocker = NULL;
  unsigned broken = atomic_load_explicit(&pc_test_flags, memory_order_relaxed);
  if (broken & PC_TEST_NO_RESEND)
    return;
  if ((broken & PC_TEST_RENUMBER_ON_RESEND) && part->pending_head != NULL) {
    /* Back to unsent: they are sealed again with fresh sequence ids. */
    unseal_from(part, part->pending_head);
    return;
  }
  resend_resume(part);
}

/* ------------------------------------------------------------ receipts */

static void complete_entry(pc_part *part, pc_entry *e, pulsarc_err_t err, int64_t ledger,
                           int64_t entry_id) {
  pulsarc_producer_t *p = part->p;
  pulsarc_msg_id_t id = {.ledger_id = ledger,
                         .entry_id = entry_id,
                         .partition = part->index,
                         .batch_index = -1,
                         .batch_size = e->batched ? (int32_t)e->count : 0,
                         .first_chunk_ledger_id = -1,
                         .first_chunk_entry_id = -1};
  for (uint32_t i = 0; i < e->count; i++) {
    if (e->batched)
      id.batch_index = (int32_t)i;
    pc_msg_complete(p, &e->msgs[i], err, err == PULSARC_OK ? &id : NULL);
  }
  pc_entry_release(part, e);
}

void pc_part_on_receipt(pc_part *part, const Pulsarc__CommandSendReceipt *r) {
  pc_entry *head = part->pending_head;
  if (head == NULL || r->sequence_id < head->first_seq) {
    /* A receipt for something already failed by its deadline. */
    PC_DEBUG(&part->p->client->conf.logger, "ignoring stale receipt %llu on %s",
             (unsigned long long)r->sequence_id, part->topic);
    return;
  }
  if (r->sequence_id > head->first_seq) {
    /* Out of step with the broker: reconnect and resend everything. */
    PC_WARN(&part->p->client->conf.logger,
            "receipt %llu on %s does not match the oldest pending %llu; reconnecting",
            (unsigned long long)r->sequence_id, part->topic,
            (unsigned long long)head->first_seq);
    if (part->conn != NULL)
      pc_conn_close(part->conn, PULSARC_ERR_PROTOCOL);
    return;
  }
  pending_pop(part);
  int64_t ledger = -1, entry = -1;
  if (r->message_id != NULL) {
    ledger = (int64_t)r->message_id->ledger_id;
    entry = (int64_t)r->message_id->entry_id;
  }
  complete_entry(part, head, PULSARC_OK, ledger, entry);
  if (part->p->flushes != NULL || part->p->closing)
    pc_producer_check_flushes(part->p);
}

void pc_part_on_send_error(pc_part *part, const Pulsarc__CommandSendError *se) {
  pulsarc_producer_t *p = part->p;
  pulsarc_err_t err = pc_server_error(se->error);
  PC_WARN(&p->client->conf.logger, "broker refused message %llu on %s: %s (%s)",
          (unsigned long long)se->sequence_id, part->topic, pulsarc_err_str(err),
          se->message ? se->message : "");
  pc_entry *head = part->pending_head;
  switch (err) {
  case PULSARC_ERR_BROKER_CHECKSUM:
  case PULSARC_ERR_BROKER_NOT_ALLOWED:
    /* Only that entry is refused. */
    if (head != NULL && se->sequence_id >= head->first_seq && se->sequence_id <= head->last_seq) {
      pending_pop(part);
      complete_entry(part, head, err, -1, -1);
      pc_producer_check_flushes(p);
    }
    return;
  case PULSARC_ERR_BROKER_TOPIC_TERMINATED:
  case PULSARC_ERR_BROKER_PRODUCER_FENCED:
    pc_producer_fail(p, err);
    return;
  default:
    /* Transient: reconnect, and resend what is pending. */
    if (part->conn != NULL)
      pc_conn_close(part->conn, PULSARC_ERR_DISCONNECTED);
    return;
  }
}

void pc_part_fail_all(pc_part *part, pulsarc_err_t err) {
  pc_entry *e;
  while ((e = pending_pop(part)) != NULL) {
    entry_withdraw(e);
    complete_entry(part, e, err, -1, -1);
  }
  for (size_t i = 0; i < part->unsent.n; i++)
    pc_msg_complete(part->p, pc_fifo_at(&part->unsent, i), err, NULL);
  part->unsent.n = 0;
  part->unsent_bytes = 0;
}

/* ------------------------------------------------------------ deadlines */

static void free_copy(void *data, void *ctx) {
  (void)ctx;
  free(data);
}

/* Takes every never-written entry from `from` to the tail out of the pending
 * queue and puts its messages back at the front of unsent, undoing their
 * sequence ids (none of them reached the wire). Used when a message in such
 * an entry passes its deadline: it must fail without ever being sent. */
static void unseal_from(pc_part *part, pc_entry *from) {
  pc_entry **link = &part->pending_head, *prev = NULL;
  while (*link != from) {
    prev = *link;
    link = &(*link)->next;
  }
  *link = NULL;
  part->pending_tail = prev;
  part->next_seq = from->first_seq;
  /* Collect the messages in order, then push them to the front reversed. */
  pc_msgfifo back = {0};
  for (pc_entry *e = from, *next; e != NULL; e = next) {
    next = e->next;
    entry_withdraw(e);
    const uint8_t *body = e->frame.data + e->frame.len;
    size_t body_len = 0, off = 0;
    if (e->batched) {
      /* The body follows the metadata: recover it from the frame layout. */
      const uint8_t *f = e->frame.data + e->frame_start;
      uint32_t cmd_size = pc_get_u32be(f + 4);
      const uint8_t *md = f + 8 + cmd_size + 6;
      uint32_t md_size = pc_get_u32be(md);
      body = md + 4 + md_size;
      body_len = (size_t)(e->frame.data + e->frame.len - body);
    }
    for (uint32_t i = 0; i < e->count; i++) {
      pc_msg m = e->msgs[i];
      const uint8_t *payload;
      size_t plen;
      if (e->batched) {
        const uint8_t *smd;
        size_t smd_len;
        if (pc_batch_next(body, body_len, &off, &smd, &smd_len, &payload, &plen) != 1)
          payload = NULL, plen = 0;
      } else {
        plen = m.len;
        payload = e->frame.data + e->frame.len - plen;
      }
      if (!(m.flags & PC_MSG_COMPLETED)) {
        uint8_t *copy = malloc(plen ? plen : 1);
        if (copy == NULL || (payload == NULL && plen > 0)) {
          free(copy);
          pc_msg_complete(part->p, &m, PULSARC_ERR_NO_MEMORY, NULL);
          continue;
        }
        memcpy(copy, payload, plen);
        m.data = copy;
        m.free_fn = free_copy;
        m.free_ctx = NULL;
        if (pc_fifo_push(&back, &m) != 0)
          pc_msg_complete(part->p, &m, PULSARC_ERR_NO_MEMORY, NULL);
      }
    }
    pc_entry_release(part, e);
  }
  for (size_t i = back.n; i-- > 0;) {
    pc_msg *m = pc_fifo_at(&back, i);
    if (pc_fifo_push_front(&part->unsent, m) != 0)
      pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
    else
      part->unsent_bytes += m->len;
  }
  pc_fifo_free(&back);
}

static bool entry_unwritten(const pc_entry *e) {
  return !e->ever_written && (!e->in_conn || e->wref.written == 0);
}

/* Fails expired messages of a fifo (never written: TIMEOUT) and compacts
 * it; returns the earliest deadline left. */
static uint64_t sweep_fifo(pulsarc_producer_t *p, pc_msgfifo *f, uint64_t *bytes, uint64_t now) {
  uint64_t next = UINT64_MAX;
  size_t w = 0;
  for (size_t i = 0; i < f->n; i++) {
    pc_msg *m = pc_fifo_at(f, i);
    if (m->deadline_ns != 0 && m->deadline_ns <= now) {
      if (bytes != NULL)
        *bytes -= m->len;
      pc_msg_complete(p, m, PULSARC_ERR_TIMEOUT, NULL);
      continue;
    }
    if (m->deadline_ns != 0 && m->deadline_ns < next)
      next = m->deadline_ns;
    if (w != i)
      *pc_fifo_at(f, w) = *m;
    w++;
  }
  f->n = w;
  return next;
}

void pc_producer_deadline_sweep(pc_loop *loop, pc_timer *t) {
  pulsarc_producer_t *p = t->ctx;
  uint64_t now = pc_loop_now(loop);
  uint64_t next = sweep_fifo(p, &p->unrouted, NULL, now);
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    /* First pull back never-written entries holding an expired message. */
    for (pc_entry *e = part->pending_head; e != NULL; e = e->next) {
      bool expired = false;
      for (uint32_t i = 0; i < e->count && !expired; i++)
        expired = !(e->msgs[i].flags & PC_MSG_COMPLETED) && e->msgs[i].deadline_ns != 0 &&
                  e->msgs[i].deadline_ns <= now;
      if (expired && entry_unwritten(e)) {
        unseal_from(part, e);
        break;
      }
    }
    /* Written entries: the broker may have stored them. */
    for (pc_entry *e = part->pending_head; e != NULL; e = e->next)
      for (uint32_t i = 0; i < e->count; i++) {
        pc_msg *m = &e->msgs[i];
        if (m->flags & PC_MSG_COMPLETED || m->deadline_ns == 0)
          continue;
        if (m->deadline_ns <= now) {
          pc_msg_complete(p, m, PULSARC_ERR_TIMEOUT_UNCONFIRMED, NULL);
          e->incomplete--;
        } else if (m->deadline_ns < next) {
          next = m->deadline_ns;
        }
      }
    uint64_t n2 = sweep_fifo(p, &part->unsent, &part->unsent_bytes, now);
    if (n2 < next)
      next = n2;
    part->seal_by_ns = n2;
    if (part->state == PS_READY)
      pc_part_seal(part, false);
  }
  if (next != UINT64_MAX)
    pc_timer_start(loop, t, next - now);
  pc_producer_check_flushes(p);
}

/* ---------------------------------------------------- flush bookkeeping */

/* The arrival index of the oldest message not yet completed. */
static uint64_t oldest_incomplete(pulsarc_producer_t *p) {
  uint64_t lo = p->drained;
  if (p->unrouted.n > 0 && pc_fifo_at(&p->unrouted, 0)->idx < lo)
    lo = pc_fifo_at(&p->unrouted, 0)->idx;
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    bool found = false;
    for (pc_entry *e = part->pending_head; e != NULL && !found; e = e->next)
      for (uint32_t i = 0; i < e->count; i++)
        if (!(e->msgs[i].flags & PC_MSG_COMPLETED)) {
          if (e->msgs[i].idx < lo)
            lo = e->msgs[i].idx;
          found = true;
          break;
        }
    if (!found && part->unsent.n > 0 && pc_fifo_at(&part->unsent, 0)->idx < lo)
      lo = pc_fifo_at(&part->unsent, 0)->idx;
  }
  return lo;
}

bool pc_producer_idle(pulsarc_producer_t *p) { return oldest_incomplete(p) == p->drained; }

void pc_producer_check_flushes(pulsarc_producer_t *p) {
  if (p->flushes == NULL && !p->closing)
    return;
  uint64_t lo = p->destroyed ? UINT64_MAX : oldest_incomplete(p);
  for (pc_flush_req **l = &p->flushes; *l != NULL;) {
    pc_flush_req *r = *l;
    if (lo >= r->target_idx) {
      *l = r->next;
      if (r->cb != NULL)
        r->cb(PULSARC_OK, r->ctx);
      free(r);
    } else {
      l = &r->next;
    }
  }
  if (p->closing && !p->destroyed && lo == p->drained)
    pc_producer_close_flushed(p);
}

/* ------------------------------------------------------------- poller */

bool pc_producer_poll(pc_loop *loop, pc_poller *poller) {
  (void)loop;
  pulsarc_producer_t *p = poller->ctx;
  bool room = false;
  size_t n = pc_sendq_drain(&p->q, DRAIN_BUDGET, pc_producer_accept, p, &room);
  if (room && atomic_load_explicit(&p->space_waiters, memory_order_acquire) > 0) {
    atomic_fetch_add(&p->space_seq, 1);
    pc_futex_wake_all(&p->space_seq);
  }
  bool did = n > 0;
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    if (part->resend_kick && part->state == PS_READY) {
      resend_resume(part);
      did = true;
    }
    if (part->unsent.n > 0 && part->state == PS_READY) {
      size_t before = part->unsent.n;
      pc_part_seal(part, false);
      did |= part->unsent.n != before;
    }
  }
  return did;
}

bool pc_producer_has_work(pc_poller *poller) {
  pulsarc_producer_t *p = poller->ctx;
  if (pc_sendq_has_work(&p->q))
    return true;
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    if (part->resend_kick)
      return true;
    if (part->throttled && part->unsent.n > 0 && part->conn != NULL &&
        pc_conn_unwritten_bytes(part->conn) <= CONN_HIGH_WATER / 2)
      return true;
  }
  return false;
}
