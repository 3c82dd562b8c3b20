// Thread churn: 10,000 short-lived application threads each send a few
// messages through one producer and exit. Nothing may be lost, and what the
// threads leave behind (their send rings) must be freed: the process-wide
// live ring count returns to where it started, and a second round of
// threads does not grow the resident set beyond a bound.
#include <cinttypes>

#include "harness.h"

// src/client/sendq.h is C11 (stdatomic, Concurrency Kit) and cannot be
// included from C++; this is its one function the test needs.
extern "C" {
#include "client/testing.h"
}

namespace pulsarc_it {
namespace {

constexpr int kRounds = 2;
constexpr int kThreadsPerRound = 5000;
constexpr int kConcurrent = 16; // threads alive at once
constexpr int kPerThread = 3;
// Growth allowed between the end of round 1 and the end of round 2: the
// allocator keeps some freed memory and the payload-slab cache holds up to
// 4 MiB (src/client/arena.c); a leaked ring per thread (~45 KiB) would show
// as ~220 MiB and a leaked slab per thread (256 KiB) as over 1 GiB.
constexpr long kRssBoundBytes = 32L << 20;

long RssBytes() {
  std::FILE *f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr)
    return -1;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

struct Counts {
  std::atomic<uint64_t> ok{0}, failed{0};
};

void OnSent(pulsarc_err_t err, const pulsarc_msg_id_t *, void *ctx) {
  Counts *c = static_cast<Counts *>(ctx);
  if (err == PULSARC_OK)
    c->ok.fetch_add(1);
  else
    c->failed.fetch_add(1);
}

class ThreadsChurn : public BrokerTest {
protected:
  int WatchdogSeconds() override { return 300; }

  // Runs one round; returns how many sends were refused.
  int Round(pulsarc_producer_t *p, int round, Counts *counts) {
    std::atomic<int> refused{0};
    for (int base = 0; base < kThreadsPerRound; base += kConcurrent) {
      std::vector<std::thread> wave;
      for (int k = 0; k < kConcurrent && base + k < kThreadsPerRound; k++) {
        int id = round * kThreadsPerRound + base + k;
        wave.emplace_back([p, id, counts, &refused] {
          for (int i = 0; i < kPerThread; i++) {
            std::string m = "th" + std::to_string(id) + "-" + std::to_string(i);
            if (pulsarc_producer_send_cb(p, m.data(), m.size(), nullptr, OnSent, counts) !=
                PULSARC_OK)
              refused++;
          }
        });
      }
      for (auto &t : wave)
        t.join();
    }
    return refused.load();
  }

  // Waits (bounded) until the rings of exited threads are freed. A flush
  // gives the I/O thread a reason to poll; it creates no ring itself.
  bool WaitRings(pulsarc_producer_t *p, long want) {
    for (int i = 0; i < 400; i++) {
      if (pc_sendq_live_rings() == want)
        return true;
      pulsarc_producer_flush(p, 1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return pc_sendq_live_rings() == want;
  }
};

TEST_F(ThreadsChurn, TenThousandShortLivedThreadsLoseNothingAndLeakNoRings) {
  const std::string topic = "threads-churn";
  const long rings_at_start = pc_sendq_live_rings();
  ProducerConf pc;
  pc.Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create(topic, pc.get());
  ASSERT_NE(p, nullptr);
  Counts counts;
  long rss_after[kRounds] = {0};
  for (int r = 0; r < kRounds; r++) {
    EXPECT_EQ(Round(p, r, &counts), 0);
    ASSERT_EQ(pulsarc_producer_flush(p, 30000), PULSARC_OK);
    const uint64_t sent = static_cast<uint64_t>(r + 1) * kThreadsPerRound * kPerThread;
    EXPECT_EQ(counts.ok.load(), sent);
    EXPECT_EQ(counts.failed.load(), 0u);
    EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, topic.c_str(), sent, kWaitMs));
    EXPECT_TRUE(WaitRings(p, rings_at_start)) << "round " << r << ": " << pc_sendq_live_rings()
                                              << " rings live, " << rings_at_start << " at start";
    rss_after[r] = RssBytes();
    std::fprintf(stderr, "threads-churn: round %d: %d threads, rss %ld KiB, live rings %ld\n", r,
                 (r + 1) * kThreadsPerRound, rss_after[r] / 1024, pc_sendq_live_rings());
  }
  ASSERT_GT(rss_after[0], 0);
  EXPECT_LT(rss_after[kRounds - 1] - rss_after[0], kRssBoundBytes)
      << "resident set grew from " << rss_after[0] / 1024 << " KiB to "
      << rss_after[kRounds - 1] / 1024 << " KiB over the second round";

  const uint64_t total = static_cast<uint64_t>(kRounds) * kThreadsPerRound * kPerThread;
  pulsarc_tb_topic_stats ts = TopicStats(topic);
  EXPECT_EQ(ts.messages, total);
  EXPECT_EQ(ts.duplicates, 0u);
  // Each thread's messages are stored, once, in its own order.
  Snapshot snap(tb_, topic);
  std::vector<int> next(kRounds * kThreadsPerRound, 0);
  int bad = 0;
  for (const StoredMsg &m : StoredMessages(snap.get())) {
    int id = -1, i = -1;
    if (std::sscanf(m.payload.c_str(), "th%d-%d", &id, &i) != 2 || id < 0 ||
        id >= kRounds * kThreadsPerRound || i != next[id]) {
      if (bad++ < 5)
        ADD_FAILURE() << "unexpected stored message " << m.payload;
      continue;
    }
    next[id]++;
  }
  EXPECT_EQ(bad, 0);
  for (size_t id = 0; id < next.size(); id++)
    if (next[id] != kPerThread) {
      ADD_FAILURE() << "thread " << id << ": " << next[id] << " messages stored";
      break;
    }

  // Destroying the producer releases every ring, including the queue's own.
  pulsarc_producer_destroy(p);
  Forget(p);
  EXPECT_EQ(pc_sendq_live_rings(), rings_at_start);
}

} // namespace
} // namespace pulsarc_it
