// Ring sizes of the send queue: the k-th sending thread gets budget / k
// entries, rounded down to a power of two, within [512, 2048] for the first
// thread and [64, 2048] for the others (client/sendq.h). Measured by
// filling real rings from new threads until a push reports full (a ring of
// size s holds s - 1).
#include <gtest/gtest.h>

#include <vector>

#include "client/testing.h"

namespace {

std::vector<size_t> fill(unsigned budget, unsigned threads, uint32_t len = 100) {
  std::vector<size_t> caps(threads);
  EXPECT_EQ(pc_test_sendq_fill(budget, threads, len, caps.data()), 0);
  return caps;
}

TEST(SendqSizing, KthThreadGetsBudgetOverKWithinBounds) {
  // The producer's rule at max_pending 10000: 1250 -> 1024; 625 -> 512;
  // 416 and 312 -> 256; 125 -> 64; 1250 / 30 -> the floor of 64.
  std::vector<size_t> got = fill(10000 / 8, 30);
  EXPECT_EQ(std::vector<size_t>(got.begin(), got.begin() + 4),
            (std::vector<size_t>{1023, 511, 255, 255}));
  EXPECT_EQ(got[9], 63u);
  EXPECT_EQ(got[29], 63u);
}

TEST(SendqSizing, LargeBudgetIsCappedAndSmallBudgetKeepsTheFloors) {
  EXPECT_EQ(fill(1000000, 2), (std::vector<size_t>{2047, 2047}));
  // Default max_pending 1000: the first ring keeps 512, later ones 64.
  EXPECT_EQ(fill(1000 / 8, 2), (std::vector<size_t>{511, 63}));
}

// Messages of 512 bytes and more stop at 511 in a bigger ring; smaller
// rings are unaffected.
TEST(SendqSizing, LargeMessagesUseAtMost511Entries) {
  EXPECT_EQ(fill(1000000, 1, 511), (std::vector<size_t>{2047}));
  EXPECT_EQ(fill(1000000, 1, 512), (std::vector<size_t>{511}));
  EXPECT_EQ(fill(1000000, 1, 16384), (std::vector<size_t>{511}));
  EXPECT_EQ(fill(10000 / 8, 3, 1024), (std::vector<size_t>{511, 511, 255}));
}

} // namespace
