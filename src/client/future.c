/* Futures and waiters; see future.h. */
#include "client/future.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/futex.h"
#include "loop/loop.h"

pulsarc_future_t *pc_future_new(void) {
  pulsarc_future_t *f = malloc(sizeof *f);
  if (f == NULL)
    return NULL;
  atomic_init(&f->state, 0);
  atomic_init(&f->refs, 2);
  f->err = PULSARC_ERR_PENDING;
  f->loop = NULL;
  atomic_init(&f->waited, 0);
  return f;
}

void pc_future_unref(pulsarc_future_t *f) {
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
    free(f);
}

void pc_waiter_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  pc_waiter *w = ctx;
  w->err = err;
  if (id != NULL)
    w->id = *id;
  atomic_store_explicit(&w->state, 1, memory_order_release);
  pc_futex_wake_all(&w->state);
}

void pc_future_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  pulsarc_future_t *f = ctx;
  pc_waiter_complete(err, id, f);
  pc_future_unref(f);
}

pulsarc_err_t pc_waiter_wait(pc_waiter *w, int64_t timeout_ms, pulsarc_msg_id_t *id) {
  uint64_t deadline = timeout_ms < 0 ? 0 : pc_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
  while (atomic_load_explicit(&w->state, memory_order_acquire) == 0) {
    int64_t left = -1;
    if (timeout_ms >= 0) {
      uint64_t now = pc_mono_ns();
      if (now >= deadline)
        return PULSARC_ERR_WAIT_TIMEOUT;
      left = (int64_t)(deadline - now);
    }
    pc_futex_wait(&w->state, 0, left);
  }
  if (id != NULL && w->err == PULSARC_OK)
    *id = w->id;
  return w->err;
}

pulsarc_err_t pulsarc_future_wait(pulsarc_future_t *f, int64_t timeout_ms, pulsarc_msg_id_t *id) {
  if (f == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (timeout_ms != 0 && pc_on_library_thread() &&
      atomic_load_explicit(&f->state, memory_order_acquire) == 0)
    return PULSARC_ERR_WRONG_THREAD;
  /* Someone waits now: the loop seals the message at once (group commit).
   * waited is set before the kick, which the loop reads with acquire. */
  if (timeout_ms != 0 && f->loop != NULL &&
      atomic_load_explicit(&f->state, memory_order_acquire) == 0 &&
      atomic_exchange_explicit(&f->waited, 1, memory_order_acq_rel) == 0)
    pc_loop_kick(f->loop);
  return pc_waiter_wait(f, timeout_ms, id);
}

void pulsarc_future_destroy(pulsarc_future_t *f) {
  if (f != NULL)
    pc_future_unref(f);
}
