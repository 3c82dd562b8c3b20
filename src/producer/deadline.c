/* Per-message deadlines on the producer's I/O thread. A message whose
 * deadline passes fails exactly once: with TIMEOUT if none of its bytes were
 * ever written (and then it is never sent: its entry is unsealed), else with
 * TIMEOUT_UNCONFIRMED (the broker may have stored it). [loop] */
#include <stdint.h>

#include "producer/pipeline.h"

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

/* Whether e holds an incomplete message whose deadline has passed; lowers
 * *next to the deadlines still ahead that it looked at. */
static bool holds_expired(const pc_entry *e, uint64_t now, uint64_t *next) {
  for (uint32_t i = 0; i < e->count; i++) {
    const pc_msg *m = &e->msgs[i];
    if (m->flags & PC_MSG_COMPLETED || m->deadline_ns == 0)
      continue;
    if (m->deadline_ns <= now)
      return true;
    if (m->deadline_ns < *next)
      *next = m->deadline_ns;
  }
  return false;
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
      if (holds_expired(e, now, &next) && group != NULL && entry_unwritten(group)) {
        pc_part_unseal_from(part, group);
        break;
      }
    }
    /* Entries still compressing were never written: same as above. No
     * other walk sees their deadlines, so this one keeps the timer for
     * them. */
    for (pc_entry *e = part->zq_head; e != NULL; e = e->next)
      if (holds_expired(e, now, &next)) {
        pc_part_unseal_from(part, e);
        break;
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
