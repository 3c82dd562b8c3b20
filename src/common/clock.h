/* Clocks. Any thread. */
#ifndef PULSARC_COMMON_CLOCK_H
#define PULSARC_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t pc_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The monotonic clock at tick resolution (a few ms), at a fraction of the
 * precise clock's cost; plus one tick, so that a deadline computed from it
 * is never early, at most a tick late. For per-message send deadlines. */
static inline uint64_t pc_mono_coarse_late_ns(void) {
  struct timespec ts, res;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  static _Thread_local uint64_t tick_ns;
  if (tick_ns == 0) {
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    tick_ns = (uint64_t)res.tv_sec * 1000000000ull + (uint64_t)res.tv_nsec + 1;
  }
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + tick_ns;
}

static inline int64_t pc_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
