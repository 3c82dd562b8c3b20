/* Completion objects: heap futures for pulsarc_producer_send_async, stack
 * waiters for blocking calls. Completed exactly once on an I/O thread;
 * waited on by application threads with a futex. */
#ifndef PULSARC_CLIENT_FUTURE_H
#define PULSARC_CLIENT_FUTURE_H

#include <stdatomic.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

/* The state word's values. A waiter announces its sleep, so that a
 * completion makes no wake syscall for a waiter that is not asleep, and
 * says where it sleeps: on state itself, or on the process's shared wake
 * word (a waiter with a bit, see pc_waiter_init_shared). */
enum { PC_W_PENDING = 0, PC_W_DONE = 1, PC_W_SLEEPING = 2, PC_W_SLEEPING_SHARED = 3 };

struct pulsarc_future {
  _Atomic uint32_t state; /* PC_W_*; the futex word of a waiter without a bit */
  _Atomic int refs;       /* heap futures: the caller's + the completion's */
  pulsarc_err_t err;
  pulsarc_msg_id_t id;
  /* A send's future: the loop of its producer, told when a thread starts
   * waiting so that the message is sent without the batch delay. */
  struct pc_loop *loop;
  _Atomic uint32_t waited;
  uint32_t bit; /* the waiting thread's bit on the shared word, or 0 */
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
  w->bit = 0;
}
/* [app thread] Makes w a waiter that only this thread waits on, with no
 * timeout, sleeping on the shared wake word under this thread's bit. Call
 * before w is handed to the completing thread (it reads the bit). */
void pc_waiter_init_shared(pc_waiter *w);
/* [loop] pulsarc_send_cb for waiters. */
void pc_waiter_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *waiter);
/* [loop] pulsarc_send_cb for waiters whose wake may wait a little: the
 * wake is left to pc_waiters_wake_deferred, which the same thread must call
 * before it does anything that may take long (after the entry or the
 * message it is completing). The blocked senders of one entry are then
 * woken by one syscall instead of one each. */
void pc_waiter_complete_deferred(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *waiter);
/* [loop] Wakes the waiters this thread completed with
 * pc_waiter_complete_deferred. */
void pc_waiters_wake_deferred(void);
/* [app thread] Waits up to timeout_ms (-1 forever; always -1 for a waiter
 * with a bit). Returns the result or PULSARC_ERR_WAIT_TIMEOUT. */
pulsarc_err_t pc_waiter_wait(pc_waiter *w, int64_t timeout_ms, pulsarc_msg_id_t *id);

#endif
