// Ring sizes of the send queue: the k-th sending thread gets budget / k
// entries, rounded down to a power of two, within [512, 2048] for the first
// thread and [64, 2048] for the others (producer/sendq.h). Measured by
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

namespace {

// Rings are sized from the threads sending now, not from every thread the
// producer ever saw: after 40 threads came, sent and left (each ring drained
// and retired by the loop), a new thread next to two live ones is the third
// live ring and gets 1250 / 3 -> 256 entries, as it would have without the
// churn. Counting all rings ever made, it would get the floor of 64.
TEST(SendqSizing, NewThreadAfterChurnIsSizedFromLiveRings) {
  size_t keep[2] = {0, 0};
  size_t cap = 0;
  ASSERT_EQ(pc_test_sendq_churn(10000 / 8, 2, 40, keep, &cap), 0);
  EXPECT_EQ(keep[0], 1023u);
  EXPECT_EQ(keep[1], 511u);
  EXPECT_EQ(cap, 255u);
}

// With no live thread left, a new one is the only ring again and gets the
// first ring's share.
TEST(SendqSizing, NewThreadAfterAllLeftGetsTheFirstRingsSize) {
  size_t cap = 0;
  ASSERT_EQ(pc_test_sendq_churn(10000 / 8, 0, 40, nullptr, &cap), 0);
  EXPECT_EQ(cap, 1023u);
}

// Drain fairness: four rings wait (511 + 3 x 63 messages; a first drain of
// 100 took from the first), then eight busy threads register rings and
// refill them after every drain, 504 messages each time against a budget of
// 100. The waiting rings are ahead of the new ones in the round and a turn
// the budget cuts short resumes first, so their 600 messages go within
// ceil(600 / 100) + 1 = 7 more drains: all are emptied by drain 8. Draining
// new rings first, the waiting rings were never reached again. The busy
// rings are served too.
TEST(SendqFairness, WaitingRingsAreDrainedWhileBusyRingsRefill) {
  constexpr unsigned kWaiting = 4, kBusy = 8, kPasses = 64, kBound = 8;
  std::vector<unsigned> done(kWaiting, 0);
  std::vector<size_t> busy(kBusy, 0);
  ASSERT_EQ(pc_test_sendq_fairness(kWaiting, kBusy, 100, kPasses, done.data(), busy.data()), 0);
  for (unsigned k = 0; k < kWaiting; k++) {
    EXPECT_GT(done[k], 0u) << "waiting ring " << k << " was never emptied";
    EXPECT_LE(done[k], kBound) << "waiting ring " << k;
  }
  for (unsigned k = 0; k < kBusy; k++)
    EXPECT_GT(busy[k], 0u) << "busy ring " << k << " was never drained";
}

// A flush drains every ring to empty. A turn the poller's budget cut short
// is owed only what the ring held then; the flush's drain took just that
// much and left what the sender pushed after the cut, though it was pushed
// before the flush: flush returned with 156 of a million messages unsent
// (CI, StackLimitsBigFrames.LargestBatchOfOneByteMessages).
TEST(SendqFairness, DrainToEmptyTakesWhatWasPushedAfterACut) {
  size_t cut = 0, to_empty = 0, left = 0;
  ASSERT_EQ(pc_test_sendq_drain_after_cut(1000, 100, 500, &cut, &to_empty, &left), 0);
  EXPECT_EQ(cut, 100u);
  EXPECT_EQ(to_empty, 1400u) << "900 owed from the cut + 500 pushed after it";
  EXPECT_EQ(left, 0u);
}

// A thread's messages leave in the order it sent them, across its rings: a
// ring whose turn was cut short was owed only what it held then, and when
// its thread then filled it and moved to a bigger ring, the next drain took
// the owed messages, skipped the rest and took the new ring's: 289 messages
// of one thread stored after later ones (CI-like load,
// Chaos.EverySendExactlyOnceThroughDropsAndProducerCloses).
TEST(SendqFairness, AThreadsOldRingEmptiesBeforeItsNewOne) {
  size_t received = 0, disorder = 0;
  ASSERT_EQ(pc_test_sendq_owed_then_grow(&received, &disorder), 0);
  EXPECT_EQ(received, 20u);
  EXPECT_EQ(disorder, 0u);
}

// A drain gives slots back every 32 messages, not once per message (the
// head's cache line crossed cores for every message) and not only at the
// end of its turn (a sender whose ring is full would wait out the whole
// turn). The pushes made during the drain wait for the next one.
TEST(SendqFairness, AFullRingGetsRoomWithinThirtyTwoMessagesOfADrain) {
  size_t room_at = 0, taken = 0, later = 0;
  ASSERT_EQ(pc_test_sendq_room_during_drain(&room_at, &taken, &later), 0);
  EXPECT_GT(room_at, 0u) << "no slot came back during the drain";
  EXPECT_LE(room_at, 33u);
  EXPECT_EQ(taken, 2047u) << "the drain takes what the ring held when it started";
  EXPECT_EQ(later, 1u);
}

} // namespace
