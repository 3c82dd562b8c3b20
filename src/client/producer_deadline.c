/* Per-message deadlines and flush bookkeeping on the producer's I/O thread.
 * A message whose deadline passes fails exactly once: with TIMEOUT if none
 * of its bytes were ever written (and then it is never sent), else with
 * TIMEOUT_UNCONFIRMED. Every function here runs on the producer's loop. */
#include <stdlib.h>
#include <string.h>

#include "client/producer.h"
#include "codec/compress.h"
#include "codec/frame.h"

void pc_producer_close_flushed(pulsarc_producer_t *p);

static void free_copy(void *data, void *ctx) {
  (void)ctx;
  free(data);
}

/* Gives a message back its payload, copied out of a frame being unsealed. */
static int restore_payload(pc_msg *m, const uint8_t *payload, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return -1;
  memcpy(copy, payload, len);
  m->data = copy;
  m->len = (uint32_t)len;
  m->free_fn = free_copy;
  m->free_ctx = NULL;
  return 0;
}

/* Recovers the messages of one never-written entry into out (in order).
 * Rare path (a deadline passed while the socket was full or the connection
 * gone), so it may allocate. */
static void unseal_entry(pc_part *part, pc_entry *e, pc_msgfifo *out) {
  pc_buf plain = {0};
  const uint8_t *body = e->frame.data + e->payload_off;
  size_t body_len = e->frame.len - e->payload_off;
  bool ok = true;
  if (e->num_chunks > 0) {
    /* Only the last chunk holds the message, and it kept its payload. */
    for (uint32_t i = 0; i < e->count; i++)
      if (!(e->msgs[i].flags & PC_MSG_COMPLETED)) {
        pc_msg m = e->msgs[i];
        m.flags &= ~PC_MSG_CHUNKED;
        if (pc_fifo_push(out, &m) != 0)
          pc_msg_complete(part->p, &e->msgs[i], PULSARC_ERR_NO_MEMORY, NULL);
      }
    return;
  }
  if (e->nholes > 0) {
    /* Spliced: every message still holds its own payload. */
    for (uint32_t i = 0; i < e->count; i++) {
      pc_msg *m = &e->msgs[i];
      if (m->flags & PC_MSG_COMPLETED) {
        /* Timed out earlier; the frame will never be written now. */
        if (m->flags & PC_MSG_SPLICED) {
          m->flags &= ~PC_MSG_SPLICED;
          pc_msg_release_payload(m);
        }
        continue;
      }
      pc_msg back = *m;
      back.flags &= ~PC_MSG_SPLICED;
      if (pc_fifo_push(out, &back) != 0) {
        m->flags &= ~PC_MSG_SPLICED;
        pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
        continue;
      }
      m->flags &= ~PC_MSG_SPLICED; /* the copy in `out` owns it now */
      m->data = NULL;
    }
    return;
  }
  if (e->codec != 0) {
    ok = pc_decompress(e->codec, body, body_len, e->uncompressed_size, &plain) == 0;
    body = plain.data;
    body_len = plain.len;
  }
  size_t off = 0;
  for (uint32_t i = 0; i < e->count; i++) {
    pc_msg m = e->msgs[i];
    const uint8_t *payload = body;
    size_t plen = body_len;
    if (ok && e->batched) {
      const uint8_t *smd;
      size_t smd_len;
      ok = pc_batch_next(body, body_len, &off, &smd, &smd_len, &payload, &plen) == 1;
    }
    if (m.flags & PC_MSG_COMPLETED)
      continue;
    if (!ok || restore_payload(&m, payload, plen) != 0 || pc_fifo_push(out, &m) != 0) {
      if (m.free_fn == free_copy && m.data != NULL && m.data != e->msgs[i].data)
        free((void *)m.data);
      pc_msg_complete(part->p, &e->msgs[i], ok ? PULSARC_ERR_NO_MEMORY : PULSARC_ERR_PROTOCOL,
                      NULL);
    }
  }
  pc_buf_free(&plain);
}

/* Takes every never-written entry from `from` to the tail out of the pending
 * queue and puts its messages back at the front of unsent, undoing their
 * sequence ids (none of them reached the wire). */
void pc_part_unseal_from(pc_part *part, pc_entry *from) {
  pc_entry **link = &part->pending_head, *prev = NULL;
  while (*link != from) {
    prev = *link;
    link = &(*link)->next;
  }
  *link = NULL;
  part->pending_tail = prev;
  /* Counter-assigned ids restart where this entry's began. */
  if (from->first_seq < part->next_seq)
    part->next_seq = from->first_seq;
  pc_msgfifo back = {0};
  for (pc_entry *e = from, *next; e != NULL; e = next) {
    next = e->next;
    pc_entry_withdraw(e);
    unseal_entry(part, e, &back);
    e->count = 0;
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
    /* First pull back never-written entries holding an expired message. A
     * chunked message counts as written once its first chunk is. */
    pc_entry *group = NULL;
    for (pc_entry *e = part->pending_head; e != NULL; e = e->next) {
      if (e->num_chunks == 0 || e->chunk_id == 0)
        group = e;
      bool expired = false;
      for (uint32_t i = 0; i < e->count && !expired; i++)
        expired = !(e->msgs[i].flags & PC_MSG_COMPLETED) && e->msgs[i].deadline_ns != 0 &&
                  e->msgs[i].deadline_ns <= now;
      if (expired && group != NULL && entry_unwritten(group)) {
        pc_part_unseal_from(part, group);
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
