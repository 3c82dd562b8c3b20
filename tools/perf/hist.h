/* Log-linear latency histogram for pulsarc-perf (HDR style).
 *
 * Values below 2^PC_HIST_SUB_BITS are exact; above, each power of two is cut
 * into 2^(PC_HIST_SUB_BITS-1) equal buckets, so any recorded value is known
 * to within 1/128 (0.8 %) whatever its magnitude, with a fixed, small table
 * (no allocation, no resizing: recording is a shift and an increment).
 * Values at or above 2^PC_HIST_MAX_BITS (about 18 minutes in ns) land in
 * the last bucket; min/max keep the exact extremes.
 *
 * Header-only on purpose: the tool and the C++ unit tests both include it
 * and nothing needs to link the tool's objects. Not thread-safe: one writer
 * per histogram; pulsarc-perf keeps one per callback thread and merges. */
#ifndef PULSARC_TOOLS_PERF_HIST_H
#define PULSARC_TOOLS_PERF_HIST_H

#include <stdint.h>
#include <string.h>

#define PC_HIST_SUB_BITS 8
#define PC_HIST_MAX_BITS 40
#define PC_HIST_LINEAR (1u << PC_HIST_SUB_BITS)     /* exact values 0..255 */
#define PC_HIST_HALF (1u << (PC_HIST_SUB_BITS - 1)) /* buckets per octave */
#define PC_HIST_BUCKETS (PC_HIST_LINEAR + (PC_HIST_MAX_BITS - PC_HIST_SUB_BITS) * PC_HIST_HALF)

typedef struct pc_hist {
  uint64_t count;
  uint64_t sum; /* for the mean; wraps only after ~584 years of ns */
  uint64_t min; /* UINT64_MAX when empty */
  uint64_t max;
  uint64_t b[PC_HIST_BUCKETS];
} pc_hist;

static inline unsigned pc_hist_index(uint64_t v) {
  if (v < PC_HIST_LINEAR)
    return (unsigned)v;
  unsigned k = 63u - (unsigned)__builtin_clzll(v); /* octave: 2^k <= v */
  if (k >= PC_HIST_MAX_BITS)
    return PC_HIST_BUCKETS - 1;
  /* The top PC_HIST_SUB_BITS bits of v, minus the leading 1. */
  unsigned sub = (unsigned)(v >> (k - (PC_HIST_SUB_BITS - 1))) - PC_HIST_HALF;
  return PC_HIST_LINEAR + (k - PC_HIST_SUB_BITS) * PC_HIST_HALF + sub;
}

/* Smallest value that maps to bucket i. */
static inline uint64_t pc_hist_low(unsigned i) {
  if (i < PC_HIST_LINEAR)
    return i;
  unsigned k = (i - PC_HIST_LINEAR) / PC_HIST_HALF + PC_HIST_SUB_BITS;
  uint64_t sub = (i - PC_HIST_LINEAR) % PC_HIST_HALF + PC_HIST_HALF;
  return sub << (k - (PC_HIST_SUB_BITS - 1));
}

/* Largest value that maps to bucket i (the last bucket is open-ended). */
static inline uint64_t pc_hist_high(unsigned i) {
  if (i + 1 >= PC_HIST_BUCKETS)
    return UINT64_MAX;
  return pc_hist_low(i + 1) - 1;
}

static inline void pc_hist_reset(pc_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

static inline void pc_hist_record(pc_hist *h, uint64_t v) {
  h->b[pc_hist_index(v)]++;
  h->count++;
  h->sum += v;
  if (v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
}

static inline void pc_hist_merge(pc_hist *dst, const pc_hist *src) {
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++)
    dst->b[i] += src->b[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

/* dst = a - b, bucket by bucket, where b is an earlier snapshot of the same
 * cumulative histogram (used for "the last interval"). The exact extremes
 * of the difference are unknown, so min/max become the bounds of the lowest
 * and highest non-empty buckets. */
static inline void pc_hist_diff(pc_hist *dst, const pc_hist *a, const pc_hist *b) {
  pc_hist_reset(dst);
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++) {
    uint64_t n = a->b[i] >= b->b[i] ? a->b[i] - b->b[i] : 0;
    dst->b[i] = n;
    if (n == 0)
      continue;
    dst->count += n;
    if (dst->min == UINT64_MAX)
      dst->min = pc_hist_low(i);
    dst->max = pc_hist_high(i) == UINT64_MAX ? a->max : pc_hist_high(i);
  }
  dst->sum = a->sum >= b->sum ? a->sum - b->sum : 0;
  if (dst->max > a->max)
    dst->max = a->max;
  if (dst->count && dst->min < a->min)
    dst->min = a->min;
}

/* Value at percentile p (0..100]: the highest value equivalent to the
 * bucket holding the ceil(p% * count)-th smallest sample, capped by the
 * exact max, as HdrHistogram reports it. 0 when empty. */
static inline uint64_t pc_hist_percentile(const pc_hist *h, double p) {
  if (h->count == 0)
    return 0;
  if (p <= 0)
    return h->min;
  double r = p / 100.0 * (double)h->count;
  uint64_t rank = (uint64_t)r;
  if ((double)rank < r)
    rank++;
  if (rank < 1)
    rank = 1;
  if (rank > h->count)
    rank = h->count;
  uint64_t seen = 0;
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      uint64_t v = pc_hist_high(i);
      if (v > h->max)
        v = h->max;
      if (v < h->min)
        v = h->min;
      return v;
    }
  }
  return h->max;
}

static inline double pc_hist_mean(const pc_hist *h) {
  return h->count ? (double)h->sum / (double)h->count : 0.0;
}

#endif /* PULSARC_TOOLS_PERF_HIST_H */
