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

/* Gives back in-flight slots. Blocked senders are woken by the poller, at
 * most once per loop iteration: waking them per message would cost a
 * syscall per message and stampede every waiting thread each time. */
static void release_slots(pulsarc_producer_t *p, uint32_t n) {
  if (n == 0)
    return;
  atomic_fetch_sub_explicit(&p->inflight, n, memory_order_acq_rel);
  p->wake_senders = true;
}

/* [loop] Wakes senders waiting for queue or memory room, if any. */
void pc_producer_wake_senders(pulsarc_producer_t *p) {
  p->wake_senders = false;
  if (atomic_load_explicit(&p->space_waiters, memory_order_acquire) > 0) {
    atomic_fetch_add(&p->space_seq, 1);
    pc_futex_wake_all(&p->space_seq);
  }
  pc_client_wake_memory_waiters(p->client);
}

void pc_msg_release_payload(pc_msg *m) {
  if (m->data != NULL && m->free_fn != NULL)
    m->free_fn((void *)m->data, m->free_ctx);
  m->data = NULL;
}

void pc_client_wake_memory_waiters(pulsarc_client_t *c) {
  if (atomic_load_explicit(&c->mem_waiters, memory_order_acquire) > 0) {
    atomic_fetch_add(&c->mem_seq, 1);
    pc_futex_wake_all(&c->mem_seq);
  }
}

/* Runs a message's completion; returns whether it had not run before (the
 * caller then owes its slot and its bytes). */
static bool complete_once(pc_msg *m, pulsarc_err_t err, const pulsarc_msg_id_t *id) {
  if (m->flags & PC_MSG_COMPLETED)
    return false;
  m->flags |= PC_MSG_COMPLETED;
  if (!(m->flags & PC_MSG_SPLICED))
    pc_msg_release_payload(m);
  free(m->ext);
  m->ext = NULL;
  if (m->done != NULL)
    m->done(err, id, m->done_ctx);
  return true;
}

void pc_msg_complete(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                     const pulsarc_msg_id_t *id) {
  if (!complete_once(m, err, id))
    return;
  release_slots(p, 1);
  pc_producer_release_memory(p, m->len);
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
    pc_msg_complete(
        p, m, s == PC_APP_FAILED ? (pulsarc_err_t)atomic_load(&p->fail_err) : PULSARC_ERR_CLOSED,
        NULL);
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
  pc_producer_route(p, m);
}

void pc_producer_route(pulsarc_producer_t *p, pc_msg *m) {
  uint32_t k = 0;
  if (p->nparts > 1) {
    const char *key = m->ext != NULL ? m->ext->partition_key : NULL;
    size_t key_len = key != NULL ? m->ext->partition_key_len : 0;
    if (p->conf.routing_mode == PC_ROUTE_CUSTOM) {
      int r = p->conf.router(key, key_len, p->nparts, p->conf.router_ctx);
      if (r < 0 || r >= p->nparts) {
        PC_WARN(&p->client->conf.logger, "custom router returned partition %d of %d", r, p->nparts);
        pc_msg_complete(p, m, PULSARC_ERR_INVALID_ARGUMENT, NULL);
        return;
      }
      k = (uint32_t)r;
    } else if (key != NULL) {
      /* One key, one partition: keeps per-key order. */
      int32_t h = p->conf.hashing == PC_HASH_MURMUR3_32 ? pc_murmur3_32_hash(key, key_len)
                                                        : pc_java_string_hash(key, key_len);
      k = (uint32_t)h % (uint32_t)p->nparts;
    } else if (p->conf.routing_mode == PC_ROUTE_SINGLE) {
      k = p->single_part;
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
  pc_part *part = p->parts[k];
  part_take(part, m);
  if (part->state == PS_INIT)
    pc_part_start_lazy(part);
}

/* ------------------------------------------------------------- entries */

/* Adds spare entries to the pool, as many as exist already (at least one):
 * growing geometrically means a producer allocates entries only about
 * log2(peak batches in flight) times in its life, not at every new peak.
 * Spares get buffers as large as the largest frame and batch seen, so
 * taking one later allocates nothing. */
static void grow_entry_pool(pc_part *part) {
  uint32_t n = part->entries_made ? part->entries_made : 1;
  for (uint32_t i = 0; i < n; i++) {
    pc_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
      return;
    if ((part->frame_cap_hint && pc_buf_reserve(&e->frame, part->frame_cap_hint) != 0) ||
        (part->msgs_cap_hint &&
         (e->msgs = malloc(part->msgs_cap_hint * sizeof *e->msgs)) == NULL)) {
      pc_buf_free(&e->frame);
      free(e);
      return;
    }
    e->msgs_cap = e->msgs ? part->msgs_cap_hint : 0;
    e->next = part->free_entries;
    part->free_entries = e;
    part->entries_made++;
  }
}

pc_entry *pc_entry_get(pc_part *part, uint32_t count) {
  if (part->free_entries == NULL)
    grow_entry_pool(part);
  pc_entry *e = part->free_entries;
  if (e == NULL)
    return NULL;
  part->free_entries = e->next;
  if (count > part->msgs_cap_hint)
    part->msgs_cap_hint = count;
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
  e->codec = 0;
  e->uncompressed_size = 0;
  e->chunk_id = e->num_chunks = 0;
  e->payload_off = 0;
  e->nholes = 0;
  e->iovcnt = 0;
  e->conn = NULL;
  pc_buf_reset(&e->frame);
  return e;
}

/* The frame no longer needs the payloads it was written from. */
static void drop_spliced(pc_entry *e) {
  if (e->nholes == 0)
    return;
  for (uint32_t i = 0; i < e->count; i++)
    if (e->msgs[i].flags & PC_MSG_SPLICED) {
      e->msgs[i].flags &= ~PC_MSG_SPLICED;
      pc_msg_release_payload(&e->msgs[i]);
    }
  e->nholes = 0;
  e->iovcnt = 0;
}

void pc_entry_free(pc_entry *e) {
  drop_spliced(e);
  pc_buf_free(&e->frame);
  free(e->msgs);
  free(e->holes);
  free(e->iov);
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
    pc_entry_free(e);
    return;
  }
  drop_spliced(e);
  /* Keep buffers for reuse, but do not hoard huge ones. */
  if (e->frame.cap > (8u << 20))
    pc_buf_free(&e->frame);
  else if (e->frame.cap > part->frame_cap_hint)
    part->frame_cap_hint = e->frame.cap;
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
    pc_entry_free(e);
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
void pc_entry_withdraw(pc_entry *e) {
  if (e->in_conn && e->conn != NULL)
    pc_conn_withdraw(e->conn, &e->wref);
}

void pc_entry_write(pc_part *part, pc_entry *e) {
  e->wref.data = e->frame.data + e->frame_start;
  e->wref.len = e->frame.len - e->frame_start;
  e->wref.iov = NULL;
  e->wref.iovcnt = 0;
  if (e->nholes > 0) {
    e->wref.data = NULL;
    e->wref.len = e->wire_len;
    e->wref.iov = e->iov;
    e->wref.iovcnt = e->iovcnt;
  }
  e->wref.written = 0;
  e->wref.done = on_entry_written;
  e->wref.ctx = e;
  if (part->conn != NULL && pc_conn_write_ref(part->conn, &e->wref) == 0) {
    e->in_conn = true;
    e->conn = part->conn;
  }
}

void pc_pending_push(pc_part *part, pc_entry *e) {
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

/* ------------------------------------------------------------ receipts */

static void complete_entry(pc_part *part, pc_entry *e, pulsarc_err_t err, int64_t ledger,
                           int64_t entry_id) {
  pulsarc_producer_t *p = part->p;
  pulsarc_msg_id_t id = {.ledger_id = ledger,
                         .entry_id = entry_id,
                         .partition = part->index,
                         .batch_index = -1,
                         .batch_size = e->batched ? (int32_t)e->count : 0,
                         .first_chunk_ledger_id = e->num_chunks ? part->first_chunk_ledger : -1,
                         .first_chunk_entry_id = e->num_chunks ? part->first_chunk_entry : -1};
  /* The counters senders contend on are given back once per entry, not
   * per message: each update moves their cache line between cores. */
  uint32_t slots = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < e->count; i++) {
    if (e->batched)
      id.batch_index = (int32_t)i;
    if (complete_once(&e->msgs[i], err, err == PULSARC_OK ? &id : NULL)) {
      slots++;
      bytes += e->msgs[i].len;
    }
  }
  release_slots(p, slots);
  pc_producer_release_memory(p, bytes);
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
            (unsigned long long)r->sequence_id, part->topic, (unsigned long long)head->first_seq);
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
  if (head->num_chunks > 0 && head->chunk_id == 0) {
    part->first_chunk_ledger = ledger;
    part->first_chunk_entry = entry;
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
    /* Transient (persistence, metadata, service not ready ...): re-create
     * this producer and resend what is pending. Only this producer: the
     * connection carries others (current Java behaviour; C++ and Go close
     * the whole connection). */
    pc_part_reconnect(part, err);
    return;
  }
}

void pc_part_fail_all(pc_part *part, pulsarc_err_t err) {
  pc_entry *e;
  while ((e = pending_pop(part)) != NULL) {
    pc_entry_withdraw(e);
    complete_entry(part, e, err, -1, -1);
  }
  for (size_t i = 0; i < part->unsent.n; i++)
    pc_msg_complete(part->p, pc_fifo_at(&part->unsent, i), err, NULL);
  part->unsent.n = 0;
  part->unsent_bytes = 0;
}

/* ------------------------------------------------------------- poller */

bool pc_producer_poll(pc_loop *loop, pc_poller *poller) {
  (void)loop;
  pulsarc_producer_t *p = poller->ctx;
  bool room = false;
  size_t n = pc_sendq_drain(&p->q, DRAIN_BUDGET, pc_producer_accept, p, &room);
  if (room || p->wake_senders)
    pc_producer_wake_senders(p);
  bool did = n > 0;
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    if (part->resend_kick && part->state == PS_READY) {
      pc_part_resend_resume(part);
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
  if (p->wake_senders || pc_sendq_has_work(&p->q))
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
