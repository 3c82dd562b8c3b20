/* The library's own pseudo-random numbers, for jitter and choices that only
 * need to differ between processes and producers (reconnect backoff, start
 * delay, the single_partition pick). Never for anything secret.
 *
 * Why not random(): its state belongs to the application, which may have
 * seeded it (srandom) to replay a run; every call we made moved its
 * sequence, and glibc takes a process-wide lock on each call.
 *
 * The state is one word per client (pulsarc_client.prng), splitmix64 over
 * an atomic counter: each draw is one relaxed fetch-add plus a mix, so the
 * client's I/O threads share it without a lock and no two draws return the
 * same step. Seeded once at client creation from getrandom(), or the clock
 * and the client's address if that fails. Not on the per-message path. */
#ifndef PULSARC_COMMON_PRNG_H
#define PULSARC_COMMON_PRNG_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#define PC_PRNG_GAMMA 0x9E3779B97F4A7C15ull

/* [any] A seed for pc_prng_next; one getrandom() call (client creation). */
static inline uint64_t pc_prng_seed(const void *salt) {
  uint64_t s;
  if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
    return s;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
         ((uint64_t)(uintptr_t)salt * PC_PRNG_GAMMA);
}

/* [any] The next 64 pseudo-random bits of state s. */
static inline uint64_t pc_prng_next(_Atomic uint64_t *s) {
  uint64_t z = atomic_fetch_add_explicit(s, PC_PRNG_GAMMA, memory_order_relaxed) + PC_PRNG_GAMMA;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* [any] Uniform enough in [0, n) for jitter (bias below n / 2^64); n > 0. */
static inline uint64_t pc_prng_below(_Atomic uint64_t *s, uint64_t n) {
  return pc_prng_next(s) % n;
}

#endif
