/* Futex wait/wake on a 32-bit atomic word: the sleeping half of blocking
 * calls (future waits, a full queue). Never on the per-message fast path. */
#ifndef PULSARC_COMMON_FUTEX_H
#define PULSARC_COMMON_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* [any] Sleeps while *addr == expected, at most timeout_ns (-1 = forever).
 * Spurious returns are possible: callers re-check their condition. */
static inline void pc_futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    tsp = &ts;
  }
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
}

/* [any] Wakes every thread sleeping on addr. */
static inline void pc_futex_wake_all(_Atomic uint32_t *addr) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* [any] Like pc_futex_wait, and woken only by a wake whose bitset shares a
 * bit with `bits` (many sleepers on one word, each woken on its own). */
static inline void pc_futex_wait_bits(_Atomic uint32_t *addr, uint32_t expected, uint32_t bits) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET_PRIVATE, expected, NULL, NULL, bits);
}

/* [any] Wakes every thread sleeping on addr with a bit in `bits`. */
static inline void pc_futex_wake_bits(_Atomic uint32_t *addr, uint32_t bits) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_BITSET_PRIVATE, INT32_MAX, NULL, NULL, bits);
}

#endif
