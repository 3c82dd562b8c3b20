/* Completing messages on the producer's I/O thread: each message's
 * callback runs exactly once (receipt, error, deadline or close), its
 * payload and options are released, and its in-flight slot and memory go
 * back, waking blocked senders at most once per loop pass. [loop] */
#include <stdlib.h>

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

bool pc_msg_complete_once(pc_msg *m, pulsarc_err_t err, const pulsarc_msg_id_t *id) {
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
  if (pc_msg_complete_once(m, err, id))
    pc_producer_give_back(p, 1, m->len);
}

/* Only the producer's loop writes it, so a plain compare and store keeps
 * it the maximum. */
void pc_producer_note_acked(pulsarc_producer_t *p, int64_t seq) {
  if (seq > atomic_load_explicit(&p->last_seq_id, memory_order_relaxed))
    atomic_store_explicit(&p->last_seq_id, seq, memory_order_release);
}
