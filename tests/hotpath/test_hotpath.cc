// Hot-path proof (issue #6): in a steady run, sending messages makes zero
// heap allocations on the sending thread, and the I/O thread's allocations
// do not grow with the number of messages.
//
// malloc and friends are interposed for the whole process (the executable's
// definitions win over libc's for every shared library too), and counted
// per thread: the sending thread (flagged below) and the library's I/O
// thread (pc_loop_current() != NULL). The in-process test broker's thread
// is neither and is not counted: it is the peer, not the client.
//
// Only what no scheduling can change is asserted. The sending thread copies
// into its ring (or waits on a futex when the ring or the pending limit is
// full): zero, exactly. The I/O thread keeps a pool of pending entries
// (entry, frame buffer, message array) that grows when more batches are in
// flight, or bigger ones, than ever before on this producer, and when that
// happens is up to the scheduler (a loaded machine once showed 24
// allocations in a window after a warm-up that looked steady). The pool is
// bounded by the pending limit, though: every entry in use holds at least
// one pending message, so at most kMaxPending + 1 are in use at once and
// the pool (which doubles when empty) never exceeds twice that; each entry
// is allocated once and its buffers grown by doubling, capped by the batch
// limits, a bounded number of times over the whole run. That bound does
// not depend on how many messages go through, so the measured window
// (defined by messages sent, never by time) is made much longer than it:
// an allocation per message (kWindow of them) cannot fit under it, pool
// growth always does. Seen to fail with a malloc per message added on
// either thread. The wake ratio and any speed figure are bench/ material
// (pulsarc-wakes, printed by bench/run.py).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <unistd.h>

extern "C" {
#include "client/testing.h"
#include "pulsarc/pulsarc.h"
#include "testbroker.h"
/* From loop.h, which C++ cannot include (C11 atomics). */
struct pc_loop *pc_loop_current(void);
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> app_allocs{0}, io_allocs{0};
thread_local bool is_sender = false;

inline void count() {
  if (!counting.load(std::memory_order_relaxed))
    return;
  if (is_sender)
    app_allocs.fetch_add(1, std::memory_order_relaxed);
  else if (pc_loop_current() != nullptr)
    io_allocs.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

extern "C" {
void *malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  count();
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void *memalign(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n) {
  count();
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;
}
void *aligned_alloc(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
void free(void *p) { __libc_free(p); }
}

namespace {
std::atomic<long> completed{0}, failed{0};

void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *, void *) {
  if (err != PULSARC_OK)
    failed.fetch_add(1, std::memory_order_relaxed);
  completed.fetch_add(1, std::memory_order_relaxed);
}

void send_and_wait(pulsarc_producer_t *p, long n) {
  char payload[100];
  std::memset(payload, 'x', sizeof payload);
  long target = completed.load() + n;
  for (long i = 0; i < n; i++) {
    std::memcpy(payload, &i, sizeof i);
    ASSERT_EQ(pulsarc_producer_send_cb(p, payload, sizeof payload, nullptr, on_sent, nullptr),
              PULSARC_OK);
  }
  // Waiting with usleep allocates nothing (a flush call would). Bounded: a
  // lost completion fails here instead of hanging the suite.
  for (int ms = 0; completed.load() < target; ms++) {
    ASSERT_LT(ms, 60000) << completed.load() - (target - n) << " of " << n << " sends completed";
    usleep(1000);
  }
}

constexpr long kMaxPending = 1000; // the default; bounds the entry pool
constexpr long kWindow = 200000;   // messages in the measured window
// Pool growth, worst case: 2 * (kMaxPending + 1) entries, each calloc'ed
// once with its message array and frame buffer, those grown by doubling up
// to the batch limits (1000 messages; 128 KiB from 256 bytes): < 20
// allocations per entry; the message FIFO doubles up to kMaxPending too.
constexpr long kPoolBound = (kMaxPending + 1) * 40;
static_assert(kPoolBound * 4 < kWindow, "a per-message allocation must not fit under the bound");

TEST(HotPath, SteadySendsAllocateNothingOnTheSenderAndBoundedOnTheIoThread) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 0;
  o.max_entry_records = 0;
  pulsarc_tb *tb = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&o, &tb), 0);
  pulsarc_client_t *c = nullptr;
  ASSERT_EQ(pulsarc_client_new(pulsarc_tb_service_url(tb), nullptr, &c), PULSARC_OK);
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  ASSERT_EQ(pulsarc_producer_conf_set(conf, "max_pending_messages",
                                      std::to_string(kMaxPending).c_str(), nullptr, 0),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_conf_set(conf, "block_if_queue_full", "true", nullptr, 0), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(c, "hotpath", conf, &p), PULSARC_OK);
  pulsarc_producer_conf_destroy(conf);

  is_sender = true;
  // Warm-up: the sender's ring and slabs, the connection's buffers, and
  // most of the entry pool.
  send_and_wait(p, 100000);
  app_allocs = 0;
  io_allocs = 0;
  uint64_t wakes_before = pc_test_client_wakes(c);
  counting = true;
  send_and_wait(p, kWindow);
  counting = false;
  uint64_t wakes = pc_test_client_wakes(c) - wakes_before;
  is_sender = false;

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(app_allocs.load(), 0) << "allocations on the sending thread";
  EXPECT_LE(io_allocs.load(), kPoolBound)
      << "allocations on the I/O thread for " << kWindow
      << " messages: more than the entry pool can ever take, so something allocates per message";
  // Informational only (bench/ owns the figures).
  std::printf("hot path: %ld messages, %ld + %ld allocations (sender + I/O), %llu eventfd writes\n",
              kWindow, app_allocs.load(), io_allocs.load(), static_cast<unsigned long long>(wakes));

  pulsarc_producer_close(p);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(c);
  pulsarc_tb_free(tb);
}
} // namespace
