// The I/O loop: timer ordering, cancel/re-arm from callbacks, posted tasks
// in order from many threads, stop semantics, coalesced wake-ups and the
// pollers' has_work() check before sleeping. Outcomes and counts only; the
// waits below are deadlines against hangs, never measurements.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <sys/epoll.h>
#include <unistd.h>

extern "C" {
#include "loop/loop.h"
}

namespace {

constexpr auto kDeadline = std::chrono::seconds(20);
constexpr uint64_t kMs = 1000000ull;

struct Fn {
  std::function<void()> f;
};

void run_fn(pc_loop *, void *arg) {
  Fn *fn = static_cast<Fn *>(arg);
  fn->f();
  delete fn;
}

// Runs f on the loop thread and waits for it. The task co-owns the promise:
// set_value may still be running on the loop thread when the waiter wakes
// and returns, so the waiter must not be the one destroying it.
void on_loop(pc_loop *loop, std::function<void()> f) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  ASSERT_EQ(pc_loop_post(loop, run_fn, new Fn{[&f, done] {
                           f();
                           done->set_value();
                         }}),
            0);
  ASSERT_EQ(fut.wait_for(kDeadline), std::future_status::ready);
}

class LoopTest : public ::testing::Test {
protected:
  void SetUp() override {
    pc_logger_init(&log_);
    loop_ = pc_loop_new(7, &log_);
    ASSERT_NE(loop_, nullptr);
    ASSERT_EQ(pc_loop_start(loop_), 0);
  }
  void TearDown() override {
    if (loop_) {
      pc_loop_stop(loop_);
      pc_loop_free(loop_);
    }
  }
  pc_logger log_;
  pc_loop *loop_ = nullptr;
};

// ------------------------------------------------------------------ timers

struct Rec {
  std::vector<int> order;
  std::promise<void> done;
  int expected = 0;
};

struct TimerBox {
  pc_timer t;
  int id;
  Rec *rec;
};

void record_fire(pc_loop *, pc_timer *t) {
  TimerBox *b = static_cast<TimerBox *>(t->ctx);
  b->rec->order.push_back(b->id);
  if ((int)b->rec->order.size() == b->rec->expected)
    b->rec->done.set_value();
}

TEST_F(LoopTest, TimersFireInDeadlineOrder) {
  Rec rec;
  rec.expected = 5;
  const int delays[5] = {50, 10, 30, 20, 40};
  TimerBox boxes[5];
  on_loop(loop_, [&] {
    for (int i = 0; i < 5; i++) {
      boxes[i].id = delays[i];
      boxes[i].rec = &rec;
      pc_timer_init(&boxes[i].t, record_fire, &boxes[i]);
      EXPECT_FALSE(pc_timer_armed(&boxes[i].t));
      pc_timer_start(loop_, &boxes[i].t, (uint64_t)delays[i] * kMs);
      EXPECT_TRUE(pc_timer_armed(&boxes[i].t));
    }
  });
  ASSERT_EQ(rec.done.get_future().wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(rec.order, (std::vector<int>{10, 20, 30, 40, 50}));
  on_loop(loop_, [&] {
    for (auto &b : boxes)
      EXPECT_FALSE(pc_timer_armed(&b.t));
  });
}

struct Juggler {
  pc_timer a, b, c;
  int a_fired = 0, b_fired = 0;
  std::promise<void> done;
};

void juggle_b(pc_loop *, pc_timer *t) { static_cast<Juggler *>(t->ctx)->b_fired++; }
void juggle_c(pc_loop *, pc_timer *t) { static_cast<Juggler *>(t->ctx)->done.set_value(); }
void juggle_a(pc_loop *loop, pc_timer *t) {
  Juggler *j = static_cast<Juggler *>(t->ctx);
  j->a_fired++;
  pc_timer_cancel(loop, &j->b); // b was due after a: it must never fire
  pc_timer_cancel(loop, &j->b); // cancelling twice is harmless
  if (j->a_fired < 3) {
    pc_timer_start(loop, &j->b, 5 * kMs); // re-armed, then cancelled again next time
    pc_timer_start(loop, t, 1 * kMs);     // re-arm self
  } else {
    pc_timer_start(loop, &j->c, 0);
  }
}

TEST_F(LoopTest, TimerCallbackCancelsAndRearms) {
  Juggler j;
  on_loop(loop_, [&] {
    pc_timer_init(&j.a, juggle_a, &j);
    pc_timer_init(&j.b, juggle_b, &j);
    pc_timer_init(&j.c, juggle_c, &j);
    pc_timer_start(loop_, &j.a, 1 * kMs);
    pc_timer_start(loop_, &j.b, 1000 * kMs);
    pc_timer_start(loop_, &j.a, 2 * kMs); // re-arming an armed timer moves it
  });
  ASSERT_EQ(j.done.get_future().wait_for(kDeadline), std::future_status::ready);
  on_loop(loop_, [] {}); // the callback that signalled has returned
  EXPECT_EQ(j.a_fired, 3);
  EXPECT_EQ(j.b_fired, 0);
}

struct Spinner {
  pc_timer t;
  int count = 0;
  bool stop = false; // set by a posted task
  std::promise<int> done;
};

void spin_fire(pc_loop *loop, pc_timer *t) {
  Spinner *s = static_cast<Spinner *>(t->ctx);
  ++s->count;
  if (s->stop)
    s->done.set_value(s->count);
  else
    pc_timer_start(loop, t, 0);
}

// A timer re-armed with delay 0 from its own callback runs once per pass,
// so posted tasks still get their turn: the task that stops it does run.
TEST_F(LoopTest, ZeroDelayRearmDoesNotStarveTasks) {
  Spinner s;
  auto fut = s.done.get_future();
  on_loop(loop_, [&] {
    pc_timer_init(&s.t, spin_fire, &s);
    pc_timer_start(loop_, &s.t, 0);
  });
  on_loop(loop_, [&] { s.stop = true; });
  ASSERT_EQ(fut.wait_for(kDeadline), std::future_status::ready);
  on_loop(loop_, [] {}); // the callback that signalled has returned
  EXPECT_GE(fut.get(), 1);
}

struct Fired {
  pc_timer t;
  uint64_t deadline;
  std::vector<uint64_t> *out;
  bool cancelled = false;
};

void fired_fn(pc_loop *, pc_timer *t) {
  Fired *f = static_cast<Fired *>(t->ctx);
  f->out->push_back(f->deadline);
}

void stop_after(pc_loop *, pc_timer *t) { static_cast<std::promise<void> *>(t->ctx)->set_value(); }

TEST_F(LoopTest, ManyRandomTimersFireSortedAndCancelledOnesNever) {
  std::vector<uint64_t> out;
  std::vector<Fired> timers(2000);
  std::mt19937 rng(42);
  std::promise<void> done;
  pc_timer last;
  size_t expected = 0;
  on_loop(loop_, [&] {
    for (auto &f : timers) {
      f.out = &out;
      pc_timer_init(&f.t, fired_fn, &f);
      pc_timer_start(loop_, &f.t, (rng() % 40) * kMs);
      f.deadline = f.t.deadline_ns;
    }
    for (auto &f : timers)
      if (rng() % 3 == 0) {
        pc_timer_cancel(loop_, &f.t);
        f.cancelled = true;
      } else {
        expected++;
      }
    pc_timer_init(&last, stop_after, &done);
    pc_timer_start(loop_, &last, 60 * kMs);
  });
  ASSERT_EQ(done.get_future().wait_for(kDeadline), std::future_status::ready);
  on_loop(loop_, [&] {
    EXPECT_EQ(out.size(), expected);
    EXPECT_TRUE(std::is_sorted(out.begin(), out.end()));
  });
}

// ------------------------------------------------------------------- tasks

struct Seq {
  std::vector<int> last; // per thread, last sequence seen
  std::atomic<int> ran{0};
  std::atomic<int> bad{0};
  pc_loop *loop;
};

struct SeqTask {
  Seq *s;
  int thread, seq;
};

void seq_task(pc_loop *loop, void *arg) {
  SeqTask *t = static_cast<SeqTask *>(arg);
  if (pc_loop_current() != loop || !pc_on_library_thread())
    t->s->bad++;
  if (t->s->last[t->thread] + 1 != t->seq)
    t->s->bad++;
  t->s->last[t->thread] = t->seq;
  t->s->ran++;
  delete t;
}

TEST_F(LoopTest, PostedTasksRunInPostOrderFromManyThreads) {
  constexpr int kThreads = 8, kPerThread = 5000;
  Seq s;
  s.last.assign(kThreads, -1);
  s.loop = loop_;
  EXPECT_EQ(pc_loop_current(), nullptr);
  EXPECT_FALSE(pc_on_library_thread());
  std::vector<std::thread> ths;
  for (int t = 0; t < kThreads; t++)
    ths.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++)
        ASSERT_EQ(pc_loop_post(loop_, seq_task, new SeqTask{&s, t, i}), 0);
    });
  for (auto &th : ths)
    th.join();
  on_loop(loop_, [] {}); // everything posted before this has run
  EXPECT_EQ(s.ran.load(), kThreads * kPerThread);
  EXPECT_EQ(s.bad.load(), 0);
  on_loop(loop_, [&] {
    EXPECT_EQ(pc_loop_index(loop_), 7);
    EXPECT_EQ(pc_loop_logger(loop_), &log_);
    EXPECT_GT(pc_loop_now(loop_), 0u);
  });
}

void count_task(pc_loop *, void *arg) { (*static_cast<int *>(arg))++; }

TEST_F(LoopTest, StopRunsTasksPostedBeforeIt) {
  int n = 0;
  for (int i = 0; i < 1000; i++)
    ASSERT_EQ(pc_loop_post(loop_, count_task, &n), 0);
  pc_loop_stop(loop_);
  EXPECT_EQ(n, 1000);
  pc_loop_stop(loop_); // idempotent
  pc_loop_free(loop_);
  loop_ = nullptr;
}

TEST(LoopLifecycle, FreeWithoutStartAndTasksNeverRun) {
  pc_logger log;
  pc_logger_init(&log);
  log.level = PULSARC_LOG_OFF;
  pc_loop *loop = pc_loop_new(0, &log);
  ASSERT_NE(loop, nullptr);
  int n = 0;
  ASSERT_EQ(pc_loop_post(loop, count_task, &n), 0); // freed, not run
  pc_loop_stop(loop);
  pc_loop_free(loop);
  EXPECT_EQ(n, 0);
}

// ----------------------------------------------------------------- wake-ups

struct Feed {
  pc_poller p;
  std::atomic<uint64_t> produced{0};
  uint64_t consumed = 0; // loop thread only
  std::atomic<uint64_t> consumed_pub{0};
  std::atomic<bool> hold{false}; // poll() blocks while set
  std::atomic<bool> holding{false};
};

bool feed_has_work(pc_poller *p) {
  Feed *f = static_cast<Feed *>(p->ctx);
  return f->produced.load() != f->consumed;
}

bool feed_poll(pc_loop *, pc_poller *p) {
  Feed *f = static_cast<Feed *>(p->ctx);
  uint64_t n = f->produced.load();
  if (n == f->consumed)
    return false;
  while (f->hold.load()) {
    f->holding = true;
    std::this_thread::yield();
  }
  f->consumed = f->produced.load();
  f->consumed_pub = f->consumed;
  return true;
}

// Yields until pred holds; false once kDeadline passed without it (the
// caller fails the test and still cleans up: a Feed must leave the loop).
template <class P> bool SpinUntil(P pred) {
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until)
      return pred();
    std::this_thread::yield();
  }
  return true;
}

void init_feed(Feed &f) {
  f.p.poll = feed_poll;
  f.p.has_work = feed_has_work;
  f.p.ctx = &f;
}

// While the loop is busy (inside a poller), senders see it awake and do not
// write the eventfd: N wakes cost at most one write.
TEST_F(LoopTest, WakesWhileBusyAreCoalesced) {
  Feed f;
  init_feed(f);
  on_loop(loop_, [&] { pc_poller_add(loop_, &f.p); });
  constexpr uint64_t kN = 100000;
  f.hold = true;
  uint64_t before = pc_loop_wake_count(loop_);
  f.produced++;
  pc_loop_wake(loop_);
  // Then the loop is busy in poll().
  EXPECT_TRUE(SpinUntil([&] { return f.holding.load(); })) << "the poller never ran";
  uint64_t after_first = pc_loop_wake_count(loop_);
  for (uint64_t i = 1; i < kN; i++) {
    f.produced++;
    pc_loop_wake(loop_);
  }
  uint64_t after_burst = pc_loop_wake_count(loop_);
  f.hold = false;
  EXPECT_TRUE(SpinUntil([&] { return f.consumed_pub.load() == kN; }))
      << f.consumed_pub.load() << " of " << kN << " items taken";
  EXPECT_LE(after_first - before, 1u);
  EXPECT_EQ(after_burst, after_first); // not a single write while busy
  on_loop(loop_, [&] { pc_poller_del(loop_, &f.p); });
}

// One item at a time, waiting for each: no wake-up is ever lost (the loop
// has no timer, so a lost one would hang here), and repeated wakes for the
// same item never cost more than one write each.
TEST_F(LoopTest, NoLostWakeups) {
  Feed f;
  init_feed(f);
  on_loop(loop_, [&] { pc_poller_add(loop_, &f.p); });
  constexpr uint64_t kN = 2000;
  uint64_t before = pc_loop_wake_count(loop_);
  for (uint64_t i = 1; i <= kN; i++) {
    f.produced++;
    pc_loop_wake(loop_);
    if (!SpinUntil([&] { return f.consumed_pub.load() == i; })) {
      ADD_FAILURE() << "item " << i << " never taken: a lost wake-up";
      break;
    }
  }
  EXPECT_LE(pc_loop_wake_count(loop_) - before, kN);
  on_loop(loop_, [&] { pc_poller_del(loop_, &f.p); });
}

// With busy polling the loop does not sleep for the window after its last
// work: items that appear with no wake-up at all are still taken, and no
// eventfd write is made.
TEST(LoopBusyPoll, WorkWithinTheWindowIsFoundWithoutAWake) {
  pc_logger log;
  pc_logger_init(&log);
  pc_loop *loop = pc_loop_new(3, &log);
  ASSERT_NE(loop, nullptr);
  pc_loop_set_busy_poll(loop, 30ull * 1000 * 1000 * 1000); // 30 s: longer than the test
  ASSERT_EQ(pc_loop_start(loop), 0);
  Feed f;
  init_feed(f);
  on_loop(loop, [&] { pc_poller_add(loop, &f.p); });
  uint64_t before = pc_loop_wake_count(loop);
  for (uint64_t i = 1; i <= 200; i++) {
    f.produced++; // and no pc_loop_wake
    if (!SpinUntil([&] { return f.consumed_pub.load() == i; })) {
      ADD_FAILURE() << "item " << i << " not taken without a wake";
      break;
    }
  }
  EXPECT_EQ(pc_loop_wake_count(loop), before);
  on_loop(loop, [&] { pc_poller_del(loop, &f.p); });
  pc_loop_stop(loop);
  pc_loop_free(loop);
}

TEST_F(LoopTest, ForcedWakeAlwaysWrites) {
  uint64_t before = pc_loop_wake_count(loop_);
  for (int i = 0; i < 10; i++)
    pc_loop_wake_force(loop_);
  EXPECT_EQ(pc_loop_wake_count(loop_) - before, 10u);
  on_loop(loop_, [] {}); // and the loop is still alive
}

// Work that appears without a wake-up (the sender saw the loop awake) must
// be found by has_work() after the loop advertised sleep; otherwise the loop
// would block in epoll_wait forever (no timers armed).
struct Sneaky {
  pc_poller p;
  int polls = 0;
  bool pending = false;
  uint64_t wakes_at_sneak = 0;
  pc_loop *loop;
  std::promise<uint64_t> done;
};

bool sneaky_has_work(pc_poller *p) { return static_cast<Sneaky *>(p->ctx)->pending; }

bool sneaky_poll(pc_loop *loop, pc_poller *p) {
  Sneaky *s = static_cast<Sneaky *>(p->ctx);
  s->polls++;
  if (s->polls == 2) { // an idle iteration: nothing else is keeping the loop up
    s->pending = true;
    s->wakes_at_sneak = pc_loop_wake_count(loop);
    return false;
  }
  if (s->pending && s->polls > 2) {
    s->pending = false;
    pc_poller_del(loop, p); // removing itself from inside poll() is allowed
    s->done.set_value(pc_loop_wake_count(loop) - s->wakes_at_sneak);
    return true;
  }
  return false;
}

TEST_F(LoopTest, HasWorkPreventsSleeping) {
  Sneaky s;
  s.loop = loop_;
  s.p.poll = sneaky_poll;
  s.p.has_work = sneaky_has_work;
  s.p.ctx = &s;
  auto fut = s.done.get_future();
  on_loop(loop_, [&] { pc_poller_add(loop_, &s.p); });
  ASSERT_EQ(fut.wait_for(kDeadline), std::future_status::ready);
  on_loop(loop_, [] {});    // the callback that signalled has returned
  EXPECT_EQ(fut.get(), 0u); // found without any eventfd write
}

// ---------------------------------------------------------------- fd events

TEST_F(LoopTest, IoCallbackMayDeleteAnotherReadyIo) {
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  struct Pair {
    pc_io io[2];
    int calls = 0;
    std::promise<void> done;
  } pr;
  auto cb = [](pc_loop *loop, pc_io *io, uint32_t) {
    Pair *p = static_cast<Pair *>(io->ctx);
    p->calls++;
    pc_io_del(loop, &p->io[0]); // whichever ran first deletes both
    pc_io_del(loop, &p->io[1]);
    pc_timer *t = new pc_timer;
    pc_timer_init(
        t,
        [](pc_loop *, pc_timer *t) {
          static_cast<Pair *>(t->ctx)->done.set_value();
          delete t;
        },
        p);
    pc_timer_start(loop, t, 5 * kMs);
  };
  on_loop(loop_, [&] {
    for (int i = 0; i < 2; i++) {
      pr.io[i].fd = i == 0 ? a[0] : b[0];
      pr.io[i].fn = cb;
      pr.io[i].ctx = &pr;
      EXPECT_EQ(pc_io_add(loop_, &pr.io[i], EPOLLIN), 0);
    }
    // Both readable before the loop next waits: one epoll batch holds both.
    EXPECT_EQ(write(a[1], "x", 1), 1);
    EXPECT_EQ(write(b[1], "y", 1), 1);
  });
  ASSERT_EQ(pr.done.get_future().wait_for(kDeadline), std::future_status::ready);
  on_loop(loop_, [] {}); // the callback that signalled has returned
  EXPECT_EQ(pr.calls, 1);
  for (int fd : {a[0], a[1], b[0], b[1]})
    close(fd);
}

} // namespace
