// The payload slab cache is process-wide (client/arena.c says why); what
// keeps it from growing with every burst is its bound: once the copies are
// released and their threads gone, at most 16 slabs stay for reuse, however
// many were live at the peak.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
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

// The carving thread's hold on its slab is not counted per copy (arena.c):
// freeing every copy made so far must not free the slab while its thread
// still carves from it. Slabs are reused last in, first out, so another
// thread's next slab would be this one if it had been let go.
TEST(ArenaBound, FreeingEveryCopyKeepsTheSlabOfAThreadStillCarving) {
  std::atomic<int> step{0};
  void *carver_slab = nullptr, *later_slab = nullptr, *first_data = nullptr;
  char later_byte = 0;
  auto wait_for = [&](int s) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (step < s && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    return step >= s;
  };
  std::thread carver([&] {
    char payload[100] = {'a'};
    std::vector<Copy> copies;
    for (int i = 0; i < 50; i++) {
      Copy c{};
      c.data = pc_arena_copy(payload, sizeof payload, &c.free_fn, &c.free_ctx);
      copies.push_back(c);
    }
    carver_slab = copies[0].free_ctx;
    first_data = copies[0].data;
    for (Copy &c : copies) // as the I/O thread frees them once framed
      c.free_fn(c.data, c.free_ctx);
    step = 1;
    if (!wait_for(2))
      return;
    char later[100] = {'z'};
    Copy c{};
    c.data = pc_arena_copy(later, sizeof later, &c.free_fn, &c.free_ctx);
    later_slab = c.free_ctx;
    step = 3;
    if (!wait_for(4))
      return;
    later_byte = static_cast<char *>(c.data)[0];
    c.free_fn(c.data, c.free_ctx);
  });
  ASSERT_TRUE(wait_for(1));
  std::thread other([&] {
    char payload[100] = {'b'};
    Copy c{};
    c.data = pc_arena_copy(payload, sizeof payload, &c.free_fn, &c.free_ctx);
    EXPECT_NE(c.free_ctx, carver_slab) << "the carver's slab was handed to another thread";
    step = 2;
    if (wait_for(3)) // the carver copied again: this thread overwrites nothing of it
      memset(c.data, 'b', 100);
    c.free_fn(c.data, c.free_ctx);
    step = 4;
  });
  other.join();
  carver.join();
  EXPECT_EQ(later_slab, carver_slab);
  EXPECT_NE(first_data, nullptr);
  EXPECT_EQ(later_byte, 'z');
}

} // namespace
