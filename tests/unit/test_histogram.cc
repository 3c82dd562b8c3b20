// The latency histogram (src/common/histogram.h): bucket boundaries, the
// public octave buckets, and percentiles of known distributions against the
// exact values, within the documented error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/histogram.h"

namespace {

// A fresh histogram (zeroed like the producer's calloc'ed struct).
struct Hist {
  Hist() { std::memset(static_cast<void *>(&h), 0, sizeof h); }
  pc_hist h;
  pulsarc_latency_stats_t Read() {
    pulsarc_latency_stats_t s;
    pc_hist_read(&h, &s);
    return s;
  }
};

uint64_t Exact(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(q * static_cast<double>(v.size()));
  if (static_cast<double>(rank) < q * static_cast<double>(v.size()))
    rank++;
  if (rank == 0)
    rank = 1;
  return v[rank - 1];
}

TEST(Histogram, EveryValueFallsInsideItsBucket) {
  // Bucket index is monotonic and each value lies in [lower, lower + width).
  unsigned prev = 0;
  for (uint64_t v = 0; v < (1u << 20); v += 1 + v / 64) {
    unsigned i = pc_hist_index(v);
    ASSERT_GE(i, prev) << v;
    prev = i;
    ASSERT_GE(v, pc_hist_lower(i)) << v;
    ASSERT_LT(v, pc_hist_lower(i) + pc_hist_width(i)) << v;
    // 4 buckets per octave: a bucket is at most a quarter of its lower bound.
    if (i >= 4) {
      ASSERT_LE(pc_hist_width(i) * 4, pc_hist_lower(i)) << v;
    }
  }
  for (int k = 2; k < PC_HIST_OCTAVES; k++) {
    uint64_t v = 1ull << k;
    EXPECT_EQ(pc_hist_index(v), 4u * (k - 1)) << k;
    EXPECT_EQ(pc_hist_index(v - 1) + 1, pc_hist_index(v)) << k;
  }
  EXPECT_EQ(pc_hist_index(UINT64_MAX), static_cast<unsigned>(PC_HIST_BUCKETS - 1));
  EXPECT_EQ(pc_hist_index(1ull << PC_HIST_OCTAVES), static_cast<unsigned>(PC_HIST_BUCKETS - 1));
}

TEST(Histogram, PublicBucketsAreExactOctaves) {
  Hist h;
  // Just below and at every public boundary 2^(i+6).
  for (int i = 0; i < PULSARC_LATENCY_BUCKETS - 1; i++) {
    pc_hist_record(&h.h, (1ull << (i + 6)) - 1);
    pc_hist_record(&h.h, 1ull << (i + 6));
  }
  pulsarc_latency_stats_t s = h.Read();
  // Bucket 0 got 63; bucket i (1..22) got 2^(i+5) and 2^(i+6)-1; the last
  // got 2^28 only.
  EXPECT_EQ(s.buckets[0], 1u);
  for (int i = 1; i < PULSARC_LATENCY_BUCKETS - 1; i++)
    EXPECT_EQ(s.buckets[i], 2u) << i;
  EXPECT_EQ(s.buckets[PULSARC_LATENCY_BUCKETS - 1], 1u);
  uint64_t total = 0;
  for (uint64_t b : s.buckets)
    total += b;
  EXPECT_EQ(total, s.count);
  EXPECT_EQ(s.count, 2u * (PULSARC_LATENCY_BUCKETS - 1));
  EXPECT_EQ(s.max_us, 1ull << 28);
}

TEST(Histogram, EmptyReadsZero) {
  Hist h;
  pulsarc_latency_stats_t s = h.Read();
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p50_us, 0u);
  EXPECT_EQ(s.p999_us, 0u);
  EXPECT_EQ(s.max_us, 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Hist h;
  for (int i = 0; i < 50; i++)
    pc_hist_record(&h.h, 2);
  for (int i = 0; i < 50; i++)
    pc_hist_record(&h.h, 3);
  pulsarc_latency_stats_t s = h.Read();
  EXPECT_EQ(s.p50_us, 2u);
  EXPECT_EQ(s.p99_us, 3u);
  EXPECT_EQ(s.max_us, 3u);
  EXPECT_EQ(s.sum_us, 250u);
}

// Percentiles of several distributions within 12.5% (midpoint of a quarter
// octave) of the exact ones, never above the exact max, and ordered.
TEST(Histogram, PercentilesOfKnownDistributions) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> uni(100, 100000);
  std::lognormal_distribution<double> logn(7.0, 1.5);
  std::exponential_distribution<double> expo(1.0 / 3000);
  for (int d = 0; d < 3; d++) {
    Hist h;
    std::vector<uint64_t> v;
    for (int i = 0; i < 200000; i++) {
      uint64_t x = d == 0   ? uni(rng)
                   : d == 1 ? static_cast<uint64_t>(logn(rng))
                            : static_cast<uint64_t>(expo(rng));
      v.push_back(x);
      pc_hist_record(&h.h, x);
    }
    pulsarc_latency_stats_t s = h.Read();
    uint64_t sum = 0;
    for (uint64_t x : v)
      sum += x;
    EXPECT_EQ(s.count, v.size());
    EXPECT_EQ(s.sum_us, sum);
    EXPECT_EQ(s.max_us, *std::max_element(v.begin(), v.end()));
    const double qs[] = {0.5, 0.99, 0.999};
    const uint64_t got[] = {s.p50_us, s.p99_us, s.p999_us};
    for (int k = 0; k < 3; k++) {
      double exact = static_cast<double>(Exact(v, qs[k]));
      EXPECT_NEAR(static_cast<double>(got[k]), exact, exact * 0.125 + 1)
          << "distribution " << d << " q " << qs[k];
    }
    EXPECT_LE(s.p50_us, s.p99_us);
    EXPECT_LE(s.p99_us, s.p999_us);
    EXPECT_LE(s.p999_us, s.max_us);
  }
}

// One outlier: p99.9 of 1000 values is the 999th, the max is exact.
TEST(Histogram, OutlierShowsInMaxNotInP999) {
  Hist h;
  for (int i = 0; i < 999; i++)
    pc_hist_record(&h.h, 1000);
  pc_hist_record(&h.h, 5000000);
  pulsarc_latency_stats_t s = h.Read();
  EXPECT_NEAR(static_cast<double>(s.p999_us), 1000.0, 125.0);
  EXPECT_EQ(s.max_us, 5000000u);
  EXPECT_EQ(s.buckets[23], 0u);
  // 5 s = 5e6 us lies in [2^22, 2^23): public bucket 17.
  EXPECT_EQ(s.buckets[17], 1u);
}

} // namespace
