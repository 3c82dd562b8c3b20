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

static inline int64_t pc_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
