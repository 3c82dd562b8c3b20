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

} // namespace
