/* Counters and a latency histogram with one writer (a producer's I/O
 * thread) and readers on any thread. The writer updates with a relaxed load
 * and store, never a read-modify-write: no lock prefix, no cache-line
 * contention, and TSan sees atomics, not a race. Readers take relaxed loads,
 * so two counters read one after the other may be a few events apart. */
#ifndef PULSARC_COMMON_HISTOGRAM_H
#define PULSARC_COMMON_HISTOGRAM_H

#include <stdint.h>

#include "pulsarc/pulsarc.h"

#if defined(__cplusplus) && !defined(__clang__)
/* For the C++ tests under g++, which has no _Atomic: the same layout as
 * C11's _Atomic uint64_t. clang++ takes _Atomic as an extension, and its
 * <stdatomic.h> (included first by other headers) defines the C names as
 * macros, so it uses the C definitions below. */
#include <atomic>
typedef std::atomic<uint64_t> pc_stat;
using std::atomic_load_explicit;
using std::atomic_store_explicit;
using std::memory_order_relaxed;
#else
#include <stdatomic.h>
typedef _Atomic(uint64_t) pc_stat;
#endif

/* [single writer] c += n. */
static inline void pc_stat_add(pc_stat *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t pc_stat_get(const pc_stat *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

/* 4 buckets per power of two of microseconds: values 0..3 have a bucket
 * each, then [2^o, 2^(o+1)) is split in 4 equal parts for o = 2..39. Values
 * of 2^40 us (12 days) and more share the last bucket. */
#define PC_HIST_OCTAVES 40
#define PC_HIST_BUCKETS (4 * (PC_HIST_OCTAVES - 1))

typedef struct pc_hist {
  pc_stat count, sum_us, max_us;
  pc_stat b[PC_HIST_BUCKETS];
} pc_hist;

/* The bucket of a value: the position of its top bit gives the octave, the
 * two bits below it the quarter. No loop, no table. */
static inline unsigned pc_hist_index(uint64_t us) {
  if (us < 4)
    return (unsigned)us;
  unsigned o = 63u - (unsigned)__builtin_clzll(us);
  if (o >= PC_HIST_OCTAVES)
    return PC_HIST_BUCKETS - 1;
  return 4u * (o - 1u) + (unsigned)((us >> (o - 2u)) & 3u);
}

/* The lowest value of bucket i and its width. */
static inline uint64_t pc_hist_lower(unsigned i) {
  if (i < 4)
    return i;
  unsigned o = i / 4 + 1;
  return (uint64_t)(4 + i % 4) << (o - 2);
}
static inline uint64_t pc_hist_width(unsigned i) { return i < 4 ? 1 : 1ull << (i / 4 - 1); }

/* [single writer] Records one latency. */
static inline void pc_hist_record(pc_hist *h, uint64_t us) {
  pc_stat_add(&h->b[pc_hist_index(us)], 1);
  pc_stat_add(&h->count, 1);
  pc_stat_add(&h->sum_us, us);
  if (us > atomic_load_explicit(&h->max_us, memory_order_relaxed))
    atomic_store_explicit(&h->max_us, us, memory_order_relaxed);
}

#ifdef __cplusplus
extern "C" {
#endif
/* [any] Fills out from h: count, sum, exact max, the 24 public buckets and
 * the percentiles (each the midpoint of the bucket holding that rank, at
 * most 12.5% from any value in the bucket, and never above max). */
void pc_hist_read(const pc_hist *h, pulsarc_latency_stats_t *out);
#ifdef __cplusplus
}
#endif

#endif
