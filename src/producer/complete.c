/* Completing messages on the producer's I/O thread: each message's
 * callback runs exactly once (receipt, error, deadline or close), its
 * payload and options are released, and its in-flight slot and memory go
 * back (before the callback runs), waking blocked senders at most once per
 * loop pass. [loop] */
#include <stdlib.h>

#include "client/future.h"
#include "common/futex.h"
#include "producer/pipeline.h"

/* Gives back in-flight slots. Blocked senders are woken by the poller, at
 * most once per loop iteration: waking them per message would cost a
 * syscall per message and stampede every waiting thread each time. */
void pc_producer_give_back(pulsarc_producer_t *p, uint32_t slots, uint64_t bytes) {
  if (slots > 0) {
    atomic_fetch_sub_explicit(&p->inflight, slots, memory_order_acq_rel);
    if (!p->wake_senders) {
      p->wake_senders = true;
      pc_poller_unpark(p->loop, &p->poller); /* the poller does the waking */
    }
  }
  pc_producer_release_memory(p, bytes);
}

bool pc_producer_senders_wait(pulsarc_producer_t *p) {
  /* A read-modify-write of the count the sender increments, not a fence:
   * the two are ordered on that one variable, and ThreadSanitizer (which
   * gcc refuses fences under) sees it. */
  return atomic_fetch_add_explicit(&p->space_waiters, 0, memory_order_seq_cst) > 0;
}

void pc_producer_wake_senders(pulsarc_producer_t *p) {
  p->wake_senders = false;
  pc_waiters_wake_deferred(); /* none held here unless a path forgot to */
  if (pc_producer_senders_wait(p)) {
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

/* The completion's counters: its partition's (a message completed before
 * routing counts as accepted and failed in xstats) and the latency since
 * the loop took the message in. */
static void count_completion(pulsarc_producer_t *p, const pc_msg *m, pulsarc_err_t err) {
  bool routed = m->route != 0 && !(m->flags & PC_MSG_PRE_ROUTED);
  pc_part_stats *s = routed ? &p->parts[m->route - 1]->stats : &p->xstats;
  if (!routed) {
    pc_stat_add(&s->accepted, 1);
    pc_stat_add(&s->bytes_accepted, m->len);
  }
  if (err == PULSARC_OK) {
    pc_stat_add(&s->acked, 1);
    pc_stat_add(&s->bytes_acked, m->len);
  } else {
    pc_stat_add(&s->failed, 1);
    pc_stat_add(&s->bytes_failed, m->len);
    if ((unsigned)err < PULSARC_STATS_ERRORS)
      pc_stat_add(&p->failed_by[err], 1);
    if (err == PULSARC_ERR_TIMEOUT || err == PULSARC_ERR_TIMEOUT_UNCONFIRMED)
      pc_stat_add(&s->timed_out, 1);
  }
  uint64_t now = pc_loop_now(p->loop);
  pc_hist_record(&p->latency, now > m->arrival_ns ? (now - m->arrival_ns) / 1000 : 0);
}

bool pc_msg_complete_once(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                          const pulsarc_msg_id_t *id) {
  if (m->flags & PC_MSG_COMPLETED)
    return false;
  m->flags |= PC_MSG_COMPLETED;
  count_completion(p, m, err);
  if (!(m->flags & PC_MSG_SPLICED))
    pc_msg_release_payload(m);
  if (m->ext != NULL && m->ext->txn != NULL)
    pc_txn_leave(m->ext->txn, err, true);
  free(m->ext);
  m->ext = NULL;
  if (m->done != NULL)
    m->done(err, id, m->done_ctx);
  return true;
}

void pc_msg_complete(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                     const pulsarc_msg_id_t *id) {
  if (m->flags & PC_MSG_COMPLETED)
    return;
  /* Room first, then the callback: a sender it wakes finds the slot free. */
  pc_part_slots_release(p, m->route, 1);
  pc_producer_give_back(p, 1, m->len);
  pc_msg_complete_once(p, m, err, id);
  pc_waiters_wake_deferred(); /* a blocking send's waiter (future.h) */
}

/* Only the producer's loop writes it, so a plain compare and store keeps
 * it the maximum. */
void pc_producer_note_acked(pulsarc_producer_t *p, int64_t seq) {
  if (seq > atomic_load_explicit(&p->last_seq_id, memory_order_relaxed))
    atomic_store_explicit(&p->last_seq_id, seq, memory_order_release);
}
