// Flush keeps its word (issue 17, item 1): a flush completes only once every
// message accepted before it was called has completed, however many of them
// are still in the senders' rings when the flush task runs.
#include "harness.h"

namespace pulsarc_it {
namespace {

class FlushEdgeTest : public BrokerTest {};

// Holds the I/O thread inside a send callback until released.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool open = false;
};

void HoldLoop(pulsarc_err_t, const pulsarc_msg_id_t *, void *ctx) {
  Gate *g = static_cast<Gate *>(ctx);
  std::unique_lock<std::mutex> lk(g->mu);
  g->entered = true;
  g->cv.notify_all();
  // Bounded: a broken test must not hang the I/O thread for good.
  g->cv.wait_for(lk, std::chrono::milliseconds(kWaitMs), [g] { return g->open; });
}

void CountDone(pulsarc_err_t err, const pulsarc_msg_id_t *, void *ctx) {
  auto *c = static_cast<std::atomic<int> *>(ctx);
  if (err == PULSARC_OK)
    c->fetch_add(1);
}

struct FlushResult {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  pulsarc_err_t err = PULSARC_ERR_PENDING;
  int completed_then = -1;
  std::atomic<int> *completed = nullptr;
};

void FlushDone(pulsarc_err_t err, void *ctx) {
  FlushResult *r = static_cast<FlushResult *>(ctx);
  // Read on the I/O thread at the instant the flush completes: no later
  // completion can slip in before the count is taken.
  int now = r->completed->load();
  std::lock_guard<std::mutex> lk(r->mu);
  r->err = err;
  r->completed_then = now;
  r->done = true;
  r->cv.notify_all();
}

// 8 threads x 1000 sends accepted while the I/O thread is held in a
// callback: the rings then hold more than one drain budget (4096) when the
// flush task runs first. Flush must still cover all 8000.
TEST_F(FlushEdgeTest, FlushCoversEverythingAcceptedWhileLoopHeld) {
  constexpr int kThreads = 8, kPerThread = 1000;
  ProducerConf pc;
  // Rings big enough that no sender blocks while the loop is held.
  pc.Set("max_pending_messages", "100000");
  pulsarc_producer_t *p = Create("flush-held-loop", pc.get());
  ASSERT_NE(p, nullptr);

  Gate gate;
  ASSERT_EQ(pulsarc_producer_send_cb(p, "hold", 4, nullptr, HoldLoop, &gate), PULSARC_OK);
  {
    std::unique_lock<std::mutex> lk(gate.mu);
    ASSERT_TRUE(
        gate.cv.wait_for(lk, std::chrono::milliseconds(kWaitMs), [&] { return gate.entered; }));
  }

  std::atomic<int> completed{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; t++)
    senders.emplace_back([&] {
      for (int i = 0; i < kPerThread; i++)
        if (pulsarc_producer_send_cb(p, "0123456789abcdef", 16, nullptr, CountDone, &completed) ==
            PULSARC_OK)
          accepted.fetch_add(1);
    });
  for (auto &t : senders)
    t.join();
  ASSERT_EQ(accepted.load(), kThreads * kPerThread);

  FlushResult fr;
  fr.completed = &completed;
  ASSERT_EQ(pulsarc_producer_flush_cb(p, FlushDone, &fr), PULSARC_OK);
  {
    std::lock_guard<std::mutex> lk(gate.mu);
    gate.open = true;
  }
  gate.cv.notify_all();

  std::unique_lock<std::mutex> lk(fr.mu);
  ASSERT_TRUE(fr.cv.wait_for(lk, std::chrono::milliseconds(2 * kWaitMs), [&] { return fr.done; }))
      << "flush did not complete";
  EXPECT_EQ(fr.err, PULSARC_OK) << pulsarc_err_str(fr.err);
  EXPECT_EQ(fr.completed_then, accepted.load())
      << "flush completed before every accepted message had";
}

} // namespace
} // namespace pulsarc_it
