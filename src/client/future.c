/* Futures and waiters; see future.h. */
#include "client/future.h"

#include <stdbool.h>
#include <stdlib.h>

#include "client/testing.h"
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
  f->bit = 0;
  return f;
}

static bool is_done(pulsarc_future_t *f) {
  return atomic_load_explicit(&f->state, memory_order_acquire) == PC_W_DONE;
}

void pc_future_unref(pulsarc_future_t *f) {
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
    free(f);
}

/* The shared wake word: a blocked sender sleeps on it under its thread's
 * bit, so that the I/O thread wakes all the senders of an entry with one
 * FUTEX_WAKE_BITSET. Every wake bumps it first: a sleeper that read it
 * before a completion does not sleep through that completion. Bits are
 * handed out round-robin; past 32 threads two share a bit, which costs
 * only spurious wakes (each sleeper re-checks its own state). */
static _Atomic uint32_t shared_word;
static _Atomic uint32_t next_bit;
static _Thread_local uint32_t tl_bit;      /* this thread's bit, 0 until its first */
static _Thread_local uint32_t tl_deferred; /* bits this I/O thread owes a wake */

void pc_waiter_init_shared(pc_waiter *w) {
  if (tl_bit == 0)
    tl_bit = 1u << (atomic_fetch_add_explicit(&next_bit, 1, memory_order_relaxed) % 32);
  w->bit = tl_bit;
}

#ifdef PULSARC_TEST_HOOKS
static _Atomic uint64_t test_wakes;
uint64_t pc_test_waiter_wakes(void) { return atomic_load(&test_wakes); }
#define COUNT_WAKE() atomic_fetch_add_explicit(&test_wakes, 1, memory_order_relaxed)
#else
#define COUNT_WAKE() ((void)0)
#endif

static void wake_shared(uint32_t bits) {
  COUNT_WAKE();
  atomic_fetch_add_explicit(&shared_word, 1, memory_order_seq_cst);
  pc_futex_wake_bits(&shared_word, bits);
}

/* Records the result and marks w done. Returns the bit owed a wake on the
 * shared word (0: none); a waiter asleep on its own word is woken here.
 * After the exchange w may be gone (a stack waiter that saw DONE). */
static uint32_t finish(pc_waiter *w, pulsarc_err_t err, const pulsarc_msg_id_t *id) {
  uint32_t bit = w->bit;
  w->err = err;
  if (id != NULL)
    w->id = *id;
  uint32_t was = atomic_exchange_explicit(&w->state, PC_W_DONE, memory_order_seq_cst);
  if (was == PC_W_SLEEPING) {
    COUNT_WAKE();
    pc_futex_wake_all(&w->state); /* a dead stack address wakes nobody */
    return 0;
  }
  return was == PC_W_SLEEPING_SHARED ? bit : 0; /* not asleep: no syscall */
}

void pc_waiter_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  uint32_t bit = finish(ctx, err, id);
  if (bit != 0)
    wake_shared(bit);
}

void pc_waiter_complete_deferred(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  tl_deferred |= finish(ctx, err, id);
}

void pc_waiters_wake_deferred(void) {
  uint32_t bits = tl_deferred;
  if (bits != 0) {
    tl_deferred = 0;
    wake_shared(bits);
  }
}

void pc_future_complete(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  pulsarc_future_t *f = ctx;
  pc_waiter_complete(err, id, f);
  pc_future_unref(f);
}

/* A waiter with a bit: only its own thread waits, with no timeout. The
 * shared word is read before the state, and a completion writes them in
 * the other order (finish, then wake_shared), so either this sees DONE or
 * the word has moved on from what this sleeps on. */
static void wait_shared(pc_waiter *w) {
  uint32_t s = PC_W_PENDING;
  if (!atomic_compare_exchange_strong_explicit(&w->state, &s, PC_W_SLEEPING_SHARED,
                                               memory_order_seq_cst, memory_order_acquire))
    return; /* already done */
  for (;;) {
    uint32_t seen = atomic_load_explicit(&shared_word, memory_order_seq_cst);
    if (atomic_load_explicit(&w->state, memory_order_seq_cst) == PC_W_DONE)
      return;
    pc_futex_wait_bits(&shared_word, seen, w->bit);
  }
}

pulsarc_err_t pc_waiter_wait(pc_waiter *w, int64_t timeout_ms, pulsarc_msg_id_t *id) {
  uint64_t deadline = timeout_ms < 0 ? 0 : pc_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
  uint32_t s = atomic_load_explicit(&w->state, memory_order_acquire);
  if (w->bit != 0 && s != PC_W_DONE) {
    wait_shared(w);
    s = PC_W_DONE;
  }
  while (s != PC_W_DONE) {
    int64_t left = -1;
    if (timeout_ms >= 0) {
      uint64_t now = pc_mono_ns();
      /* Left SLEEPING: the completion then makes one needless wake. */
      if (now >= deadline)
        return PULSARC_ERR_WAIT_TIMEOUT;
      left = (int64_t)(deadline - now);
    }
    if (s == PC_W_PENDING &&
        !atomic_compare_exchange_strong_explicit(&w->state, &s, PC_W_SLEEPING, memory_order_acq_rel,
                                                 memory_order_acquire))
      continue; /* s is what it became */
    pc_futex_wait(&w->state, PC_W_SLEEPING, left);
    s = atomic_load_explicit(&w->state, memory_order_acquire);
  }
  if (id != NULL && w->err == PULSARC_OK)
    *id = w->id;
  return w->err;
}

pulsarc_err_t pulsarc_future_wait(pulsarc_future_t *f, int64_t timeout_ms, pulsarc_msg_id_t *id) {
  if (f == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (timeout_ms != 0 && pc_on_library_thread() && !is_done(f))
    return PULSARC_ERR_WRONG_THREAD;
  /* Someone waits now: the loop seals the message at once (group commit).
   * waited is set before the kick, which the loop reads with acquire. */
  if (timeout_ms != 0 && f->loop != NULL && !is_done(f) &&
      atomic_exchange_explicit(&f->waited, 1, memory_order_acq_rel) == 0)
    pc_loop_kick(f->loop);
  return pc_waiter_wait(f, timeout_ms, id);
}

void pulsarc_future_destroy(pulsarc_future_t *f) {
  if (f != NULL)
    pc_future_unref(f);
}
