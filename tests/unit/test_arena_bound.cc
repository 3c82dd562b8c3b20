// The payload slab cache is process-wide (client/arena.c says why); what
// keeps it from growing with every burst is its bound: once the copies are
// released and their threads gone, at most 16 slabs stay for reuse, however
// many were live at the peak.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

extern "C" {
#include "producer/arena.h"
}

namespace {

constexpr long kMaxFreeSlabs = 16; // MAX_FREE_SLABS in client/arena.c
constexpr int kThreads = 8;
constexpr int kCopiesPerThread = 3 * 256; // 1 KiB each: three 256 KiB slabs

struct Copy {
  void *data;
  pulsarc_free_fn free_fn;
  void *free_ctx;
};

TEST(ArenaBound, ReleasedSlabsBeyondTheFreeListBoundAreFreed) {
  const long before = pc_arena_live_slabs();
  std::atomic<int> copied{0};
  std::atomic<bool> release{false};
  std::atomic<long> peak{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      std::vector<Copy> copies;
      char payload[1024] = {1};
      for (int i = 0; i < kCopiesPerThread; i++) {
        Copy c{};
        c.data = pc_arena_copy(payload, sizeof payload, &c.free_fn, &c.free_ctx);
        if (c.data == nullptr)
          break;
        copies.push_back(c);
      }
      copied++;
      // Every thread holds its copies until all have copied (bounded wait).
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!release && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      for (Copy &c : copies)
        c.free_fn(c.data, c.free_ctx);
    });
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (copied < kThreads && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool all_copied = copied == kThreads;
  peak = pc_arena_live_slabs();
  release = true;
  for (std::thread &t : ts)
    t.join();
  ASSERT_TRUE(all_copied);
  // 8 threads x 768 KiB in use at once: at least 24 slabs existed.
  EXPECT_GE(peak.load(), 24);
  EXPECT_LE(pc_arena_live_slabs() - before, kMaxFreeSlabs);
}

} // namespace
