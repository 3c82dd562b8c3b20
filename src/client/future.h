/* Completion objects: heap futures for pulsarc_producer_send_async, stack
 * waiters for blocking calls. Completed exactly once on an I/O thread;
 * waited on by application threads with a futex. */
#ifndef PULSARC_CLIENT_FUTURE_H
#define PULSARC_CLIENT_FUTURE_H

#include <stdatomic.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

struct pulsarc_future {
  _Atomic uint32_t state; /* 0 pending, 1 complete: the futex word */
  _Atomic int refs;       /* heap futures: the caller's + the completion's */
  pulsarc_err_t err;
  pulsarc_msg_id_t id;
  /* A send's future: the loop of its producer, told when a thread starts
   * waiting so that the message is sent without the batch delay. */
  struct pc_loop *loop;
  _Atomic uint32_t waited;
};

/* [any] A heap future with two references. NULL if out of memory. */
pulsarc_future_t *pc_future_new(void);
/* [loop] pulsarc_send_cb for heap futures: records, wakes, drops a ref. */
void pc_future_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *future);
/* [any] Drops one reference. */
void pc_future_unref(pulsarc_future_t *f);

/* A waiter lives on the blocked caller's stack (no reference counting). */
typedef struct pulsarc_future pc_waiter;
static inline void pc_waiter_init(pc_waiter *w) {
  atomic_init(&w->state, 0);
  atomic_init(&w->refs, 1);
  w->err = PULSARC_ERR_PENDING;
  w->loop = NULL;
  atomic_init(&w->waited, 0);
}
/* [loop] pulsarc_send_cb for waiters. */
void pc_waiter_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *waiter);
/* [app thread] Waits up to timeout_ms (-1 forever). Returns the result or
 * PULSARC_ERR_WAIT_TIMEOUT. */
pulsarc_err_t pc_waiter_wait(pc_waiter *w, int64_t timeout_ms, pulsarc_msg_id_t *id);

#endif
