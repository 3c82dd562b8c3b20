// Retiring idle send rings (pc_sendq_retire_idle) while their thread keeps
// pushing: the loop frees a ring only when no push is under way (the
// sender's in_push flag, read after membarrier()), and a sender that finds
// its ring retired moves to a new one. Nothing may be lost, duplicated or
// reordered, and rings must actually be retired along the way. (The window
// the in_push flag guards is a few instructions wide: this exercises the
// retire-and-move path under a live sender, it does not prove the flag.)
#include <gtest/gtest.h>

#include "client/testing.h"

namespace {

TEST(SendqRetire, RetiringRingsUnderASenderLosesAndReordersNothing) {
  constexpr unsigned kPushes = 20000;
  const long live_before = pc_sendq_live_rings();
  size_t retired = 0, received = 0, disorder = 0;
  ASSERT_EQ(pc_test_sendq_retire_race(kPushes, &retired, &received, &disorder), 0);
  EXPECT_EQ(received, kPushes);
  EXPECT_EQ(disorder, 0u);
  EXPECT_GT(retired, 0u) << "the rings never ran empty: the race was not exercised";
  std::printf("sendq retire race: %zu rings retired over %u pushes\n", retired, kPushes);
  // The sender thread has exited and the queue is destroyed: no ring left.
  EXPECT_EQ(pc_sendq_live_rings(), live_before);
}

// Producers that go idle together retire their rings in one batch: one
// membarrier() for all of them (one per producer before), every idle ring
// freed, and the thread that sent to them gets new rings on its next
// message, none lost.
TEST(SendqRetire, ABatchOfIdleQueuesSharesOneFenceAndFreesEveryRing) {
  constexpr unsigned kQueues = 64, kRounds = 300;
  const long live_before = pc_sendq_live_rings();
  pc_test_retire_batch r;
  ASSERT_EQ(pc_test_sendq_retire_batch(kQueues, kRounds, &r), 0);
  EXPECT_EQ(r.first_defers, 1u) << "only the first deferred queue starts a batch";
  EXPECT_EQ(r.step_fences, 1u);
  EXPECT_EQ(r.step_freed, kQueues);
  EXPECT_EQ(r.step_rings_given_back, static_cast<long>(kQueues));
  EXPECT_EQ(r.step_received, 2u * kQueues) << "a message sent after the batch was lost";
  // Free running: nothing lost or reordered, rings retired along the way,
  // never more than one fence per batch.
  EXPECT_EQ(r.race_received, static_cast<size_t>(kQueues) * kRounds);
  EXPECT_EQ(r.race_disorder, 0u);
  EXPECT_GT(r.race_freed, 0u) << "no ring ran empty: the race was not exercised";
  EXPECT_LE(r.race_fences, r.race_batches);
  std::printf("sendq retire batch: %zu rings freed in %zu batches, %lu fences\n", r.race_freed,
              r.race_batches, r.race_fences);
  EXPECT_EQ(pc_sendq_live_rings(), live_before);
}

} // namespace
