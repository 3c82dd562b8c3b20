/* Reading the latency histogram (common/histogram.h) on any thread. */
#include "common/histogram.h"

#include <string.h>

/* The public buckets are octaves, bucket i (1 <= i < 23) = [2^(i+5),
 * 2^(i+6)) us, and 2^k starts fine bucket 4 (k - 1), so each public bucket is
 * exactly 4 fine ones (bucket 0, below 64 us, is the first 20). */
static unsigned public_bucket(unsigned fine) {
  if (fine < 20)
    return 0;
  unsigned i = fine / 4 - 4;
  return i < PULSARC_LATENCY_BUCKETS - 1 ? i : PULSARC_LATENCY_BUCKETS - 1;
}

static uint64_t percentile(const uint64_t *b, uint64_t total, uint64_t max, double q) {
  if (total == 0)
    return 0;
  /* The smallest value with at least q of the values at or below it. */
  uint64_t rank = (uint64_t)(q * (double)total);
  if ((double)rank < q * (double)total)
    rank++;
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++) {
    seen += b[i];
    if (seen >= rank) {
      uint64_t mid = pc_hist_lower(i) + pc_hist_width(i) / 2;
      return mid < max ? mid : max;
    }
  }
  return max;
}

void pc_hist_read(const pc_hist *h, pulsarc_latency_stats_t *out) {
  memset(out, 0, sizeof *out);
  uint64_t b[PC_HIST_BUCKETS], total = 0;
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++) {
    b[i] = pc_stat_get(&h->b[i]);
    total += b[i];
    out->buckets[public_bucket(i)] += b[i];
  }
  out->count = pc_stat_get(&h->count);
  out->sum_us = pc_stat_get(&h->sum_us);
  out->max_us = pc_stat_get(&h->max_us);
  /* The buckets were read one by one while the writer went on: ranks come
   * from their own total, so the percentiles describe one consistent set. */
  out->p50_us = percentile(b, total, out->max_us, 0.50);
  out->p99_us = percentile(b, total, out->max_us, 0.99);
  out->p999_us = percentile(b, total, out->max_us, 0.999);
}
