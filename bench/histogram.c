/* pulsarc-histogram: what the producer's latency histogram costs per
 * record (src/common/histogram.h), the one thing the stats add per message
 * on the I/O thread besides a handful of counter updates of the same kind.
 *
 * Records N latencies spread over the whole range (a fixed pseudo-random
 * sequence, so the bucket index is not predictable), and separately the
 * same loop without the record (the sequence generation alone), both
 * R times; prints the median ns per record of each and their difference.
 * Also times one pc_stat_add, the counter update every stats field uses.
 *
 *   pulsarc-histogram [--n N] [--reps R]     (defaults 20000000, 5) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/histogram.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift: a latency between 1 us and ~1 s, log-spread. */
static inline uint64_t next_value(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (*s & 0xfffff) >> (*s >> 60);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static volatile uint64_t sink;

int main(int argc, char **argv) {
  uint64_t n = 20000000;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--n") == 0)
      n = strtoull(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--reps") == 0)
      reps = atoi(argv[i + 1]);
  }
  if (reps < 1 || reps > 99 || n == 0) {
    fprintf(stderr, "usage: pulsarc-histogram [--n N] [--reps R]\n");
    return 2;
  }
  pc_hist *h = calloc(1, sizeof *h);
  pc_stat *counter = calloc(1, sizeof *counter);
  if (h == NULL || counter == NULL)
    return 1;
  double rec[99], base[99], add[99];
  for (int r = 0; r < reps; r++) {
    uint64_t s = 88172645463325252ull, acc = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
      acc += next_value(&s);
    uint64_t t1 = now_ns();
    sink = acc;
    s = 88172645463325252ull;
    for (uint64_t i = 0; i < n; i++)
      pc_hist_record(h, next_value(&s));
    uint64_t t2 = now_ns();
    for (uint64_t i = 0; i < n; i++)
      pc_stat_add(counter, i);
    uint64_t t3 = now_ns();
    base[r] = (double)(t1 - t0) / (double)n;
    rec[r] = (double)(t2 - t1) / (double)n;
    add[r] = (double)(t3 - t2) / (double)n;
    fprintf(stderr, "run %d: loop alone %.2f ns, loop + record %.2f ns, pc_stat_add %.2f ns\n",
            r + 1, base[r], rec[r], add[r]);
  }
  qsort(base, (size_t)reps, sizeof base[0], cmp_double);
  qsort(rec, (size_t)reps, sizeof rec[0], cmp_double);
  qsort(add, (size_t)reps, sizeof add[0], cmp_double);
  pulsarc_latency_stats_t st;
  pc_hist_read(h, &st);
  printf("pc_hist_record: %.2f ns per record (median of %d runs of %llu; loop + record %.2f ns, "
         "loop alone %.2f ns); pc_stat_add: %.2f ns; sizeof(pc_hist) = %zu bytes; "
         "recorded %llu, p50 %llu us\n",
         rec[reps / 2] - base[reps / 2], reps, (unsigned long long)n, rec[reps / 2], base[reps / 2],
         add[reps / 2], sizeof *h, (unsigned long long)st.count, (unsigned long long)st.p50_us);
  free(h);
  free(counter);
  return 0;
}
