// Unit tests for pulsarc-perf's log-linear latency histogram (header-only).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "../../tools/perf/hist.h"

namespace {

std::unique_ptr<pc_hist> fresh() {
  std::unique_ptr<pc_hist> h(new pc_hist);
  pc_hist_reset(h.get());
  return h;
}

TEST(ToolsHist, SmallValuesAreExact) {
  for (uint64_t v = 0; v < PC_HIST_LINEAR; v++) {
    unsigned i = pc_hist_index(v);
    EXPECT_EQ(pc_hist_low(i), v);
    EXPECT_EQ(pc_hist_high(i), v);
  }
}

TEST(ToolsHist, EveryValueFallsInsideItsBucket) {
  std::mt19937_64 rng(42);
  for (int n = 0; n < 200000; n++) {
    uint64_t v = rng() >> (rng() % 64);
    unsigned i = pc_hist_index(v);
    ASSERT_LT(i, (unsigned)PC_HIST_BUCKETS);
    EXPECT_LE(pc_hist_low(i), v);
    EXPECT_GE(pc_hist_high(i), v);
  }
}

TEST(ToolsHist, BucketsAreContiguousAndNarrow) {
  for (unsigned i = 0; i + 1 < PC_HIST_BUCKETS; i++) {
    ASSERT_EQ(pc_hist_high(i) + 1, pc_hist_low(i + 1)) << "bucket " << i;
    ASSERT_EQ(pc_hist_index(pc_hist_low(i)), i);
    ASSERT_EQ(pc_hist_index(pc_hist_high(i)), i);
    // Relative width stays within 1/128 of the bucket's lowest value.
    uint64_t width = pc_hist_high(i) - pc_hist_low(i) + 1;
    if (i >= PC_HIST_LINEAR) { // below that, width 1: exact
      EXPECT_LE(width * 128, pc_hist_low(i)) << "bucket " << i;
    }
  }
  EXPECT_EQ(pc_hist_high(PC_HIST_BUCKETS - 1), UINT64_MAX);
  EXPECT_EQ(pc_hist_index(UINT64_MAX), (unsigned)PC_HIST_BUCKETS - 1);
  EXPECT_EQ(pc_hist_index(uint64_t{1} << PC_HIST_MAX_BITS), (unsigned)PC_HIST_BUCKETS - 1);
}

TEST(ToolsHist, EmptyHistogramReportsZero) {
  auto h = fresh();
  EXPECT_EQ(h->count, 0u);
  EXPECT_EQ(pc_hist_percentile(h.get(), 50), 0u);
  EXPECT_EQ(pc_hist_percentile(h.get(), 99.9), 0u);
  EXPECT_EQ(pc_hist_mean(h.get()), 0.0);
}

TEST(ToolsHist, PercentilesOfUniformValuesAreWithinPrecision) {
  auto h = fresh();
  for (uint64_t v = 1; v <= 1000000; v++)
    pc_hist_record(h.get(), v * 1000); // 1 us .. 1 s
  EXPECT_EQ(h->count, 1000000u);
  EXPECT_EQ(h->min, 1000u);
  EXPECT_EQ(h->max, 1000000000u);
  struct {
    double p;
    double expect;
  } cases[] = {{50, 500e6}, {90, 900e6}, {99, 990e6}, {99.9, 999e6}, {100, 1000e6}};
  for (auto &c : cases) {
    double got = (double)pc_hist_percentile(h.get(), c.p);
    EXPECT_GE(got, c.expect) << "p" << c.p; // highest equivalent value
    EXPECT_LE(got, c.expect * (1 + 1.0 / 128)) << "p" << c.p;
  }
  EXPECT_NEAR(pc_hist_mean(h.get()), 500000500.0, 1.0);
}

TEST(ToolsHist, PercentileMatchesSortedSamples) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(13.0, 1.5); // ~0.4 ms median, long tail
  auto h = fresh();
  std::vector<uint64_t> v;
  for (int i = 0; i < 100000; i++) {
    uint64_t x = (uint64_t)dist(rng);
    v.push_back(x);
    pc_hist_record(h.get(), x);
  }
  std::sort(v.begin(), v.end());
  for (double p : {1.0, 25.0, 50.0, 75.0, 99.0, 99.9, 99.99}) {
    size_t rank = (size_t)std::ceil(p / 100 * v.size());
    uint64_t exact = v[rank - 1];
    uint64_t got = pc_hist_percentile(h.get(), p);
    // Same bucket as the exact order statistic.
    EXPECT_EQ(pc_hist_index(got), pc_hist_index(exact)) << "p" << p;
  }
  EXPECT_EQ(pc_hist_percentile(h.get(), 100), v.back());
  EXPECT_EQ(pc_hist_percentile(h.get(), 0), v.front());
}

TEST(ToolsHist, SingleValueIsReportedExactly) {
  auto h = fresh();
  pc_hist_record(h.get(), 123456789);
  EXPECT_EQ(pc_hist_percentile(h.get(), 50), 123456789u); // capped by min/max
  EXPECT_EQ(pc_hist_percentile(h.get(), 99.9), 123456789u);
}

TEST(ToolsHist, MergeEqualsRecordingEverythingInOne) {
  auto a = fresh(), b = fresh(), all = fresh();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50000; i++) {
    uint64_t x = rng() % 50000000;
    pc_hist_record(i % 3 ? a.get() : b.get(), x);
    pc_hist_record(all.get(), x);
  }
  pc_hist_merge(a.get(), b.get());
  EXPECT_EQ(a->count, all->count);
  EXPECT_EQ(a->sum, all->sum);
  EXPECT_EQ(a->min, all->min);
  EXPECT_EQ(a->max, all->max);
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++)
    ASSERT_EQ(a->b[i], all->b[i]) << i;
  auto empty = fresh();
  pc_hist_merge(a.get(), empty.get()); // merging an empty one changes nothing
  EXPECT_EQ(a->min, all->min);
  EXPECT_EQ(a->count, all->count);
}

TEST(ToolsHist, DiffGivesTheLastInterval) {
  auto before = fresh(), after = fresh(), iv = fresh();
  for (int i = 0; i < 1000; i++)
    pc_hist_record(before.get(), 1000); // 1 us
  *after = *before;
  for (int i = 0; i < 100; i++)
    pc_hist_record(after.get(), 5000000); // 5 ms
  pc_hist_diff(iv.get(), after.get(), before.get());
  EXPECT_EQ(iv->count, 100u);
  EXPECT_EQ(iv->sum, 100u * 5000000u);
  uint64_t p50 = pc_hist_percentile(iv.get(), 50);
  EXPECT_EQ(pc_hist_index(p50), pc_hist_index(5000000));
  EXPECT_LE(iv->max, after->max);
  // No new samples: an empty interval.
  pc_hist_diff(iv.get(), after.get(), after.get());
  EXPECT_EQ(iv->count, 0u);
  EXPECT_EQ(pc_hist_percentile(iv.get(), 99), 0u);
}

} // namespace
