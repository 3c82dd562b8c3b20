// Shared helpers for the integration tests: an in-process test broker per
// fixture, a client pointed at it, RAII wrappers for configuration and
// snapshots, and completion recorders for callbacks.
//
// Waits are bounded (so a library bug shows up as a failed expectation and
// never as a hung suite) but no test asserts how long anything took.
#ifndef PULSARC_TESTS_INTEGRATION_HARNESS_H
#define PULSARC_TESTS_INTEGRATION_HARNESS_H

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pulsarc/pulsarc.h"
#include "testbroker.h"

namespace pulsarc_it {

// Upper bound for any single wait in these tests. Only a guard against
// hangs: tests never assert that something was fast.
constexpr int kWaitMs = 8000;

// Polls pred until it holds or timeout_ms passed; returns whether it held.
// For state that has no callback or wait call of its own; callers assert
// on the result (or on the state itself) afterwards.
template <class Pred> bool WaitUntil(Pred pred, int timeout_ms = kWaitMs) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until)
      return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Aborts the process (that is, the one test ctest runs in it) if a test
// hangs, naming the test, so "never hangs" contracts fail loudly.
class Watchdog {
public:
  explicit Watchdog(int seconds) {
    const ::testing::TestInfo *ti = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = ti ? std::string(ti->test_suite_name()) + "." + ti->name() : "?";
    th_ = std::thread([this, seconds] {
      std::unique_lock<std::mutex> lk(mu_);
      if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return done_; })) {
        std::fprintf(stderr, "WATCHDOG: %s still running after %d s: aborting (hang)\n",
                     name_.c_str(), seconds);
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    th_.join();
  }

private:
  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread th_;
};

// Collects the library's log lines (a client's logger) for assertions.
struct LogSink {
  std::mutex mu;
  std::vector<std::string> lines;
  static void Fn(pulsarc_log_level_t, const char *line, void *ctx) {
    LogSink *s = static_cast<LogSink *>(ctx);
    std::lock_guard<std::mutex> lk(s->mu);
    s->lines.emplace_back(line);
  }
  bool Contains(const std::string &needle) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto &l : lines)
      if (l.find(needle) != std::string::npos)
        return true;
    return false;
  }
  std::string All() {
    std::lock_guard<std::mutex> lk(mu);
    std::string r;
    for (const auto &l : lines)
      r += l + "\n";
    return r;
  }
};

// A TCP port on 127.0.0.1 with nobody listening (bound, then closed).
inline uint16_t ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
      port = ntohs(a.sin_port);
  }
  if (fd >= 0)
    close(fd);
  return port;
}

inline std::string FullTopic(const std::string &t) {
  char *s = pulsarc_tb_full_topic(t.c_str());
  std::string r = s ? s : "";
  std::free(s);
  return r;
}

// Producer configuration built from key/value pairs; every set must succeed.
class ProducerConf {
public:
  ProducerConf() : c_(pulsarc_producer_conf_new()) {}
  ~ProducerConf() { pulsarc_producer_conf_destroy(c_); }
  ProducerConf(const ProducerConf &) = delete;
  ProducerConf &operator=(const ProducerConf &) = delete;
  ProducerConf &Set(const char *k, const std::string &v) {
    char err[256] = "";
    pulsarc_err_t e = pulsarc_producer_conf_set(c_, k, v.c_str(), err, sizeof err);
    EXPECT_EQ(e, PULSARC_OK) << k << "=" << v << ": " << err;
    return *this;
  }
  pulsarc_producer_conf_t *get() const { return c_; }

private:
  pulsarc_producer_conf_t *c_;
};

class MsgOpts {
public:
  MsgOpts() : o_(pulsarc_msg_opts_new()) {}
  ~MsgOpts() { pulsarc_msg_opts_destroy(o_); }
  MsgOpts(const MsgOpts &) = delete;
  MsgOpts &operator=(const MsgOpts &) = delete;
  pulsarc_msg_opts_t *get() const { return o_; }
  MsgOpts &Timeout(int64_t ms) {
    EXPECT_EQ(pulsarc_msg_opts_set_timeout(o_, ms), PULSARC_OK);
    return *this;
  }

private:
  pulsarc_msg_opts_t *o_;
};

// Snapshot of one topic on a test broker, released on scope exit.
class Snapshot {
public:
  Snapshot(pulsarc_tb *tb, const std::string &topic)
      : s_(pulsarc_tb_snapshot_topic(tb, topic.c_str())) {}
  ~Snapshot() { pulsarc_tb_snapshot_free(s_); }
  Snapshot(const Snapshot &) = delete;
  Snapshot &operator=(const Snapshot &) = delete;
  const pulsarc_tb_snapshot *operator->() const { return s_; }
  const pulsarc_tb_snapshot *get() const { return s_; }

private:
  pulsarc_tb_snapshot *s_;
};

// One stored message with where the broker put it.
struct StoredMsg {
  std::string payload;
  int64_t ledger_id;
  int64_t entry_id;
  int32_t batch_index;  // -1 when the entry is not a batch
  size_t entry_pos;     // index into the snapshot's entries
  uint64_t sequence_id; // the message's own sequence id
  const pulsarc_tb_entry *entry;
  const pulsarc_tb_message *msg;
};

// Walks entries and their messages in stored order. The pointers stay valid
// while the snapshot lives.
inline std::vector<StoredMsg> StoredMessages(const pulsarc_tb_snapshot *s) {
  std::vector<StoredMsg> out;
  if (s == nullptr)
    return out;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    for (size_t j = 0; j < e.num_listed; j++) {
      const pulsarc_tb_message &m = e.messages[j];
      StoredMsg r;
      r.payload = m.payload ? std::string(reinterpret_cast<const char *>(m.payload), m.payload_len)
                            : std::string();
      r.ledger_id = e.ledger_id;
      r.entry_id = e.entry_id;
      r.batch_index = e.is_batch ? static_cast<int32_t>(j) : -1;
      r.entry_pos = i;
      r.sequence_id = (e.is_batch && m.has_sequence_id) ? m.sequence_id : e.sequence_id + j;
      r.entry = &e;
      r.msg = &m;
      out.push_back(r);
    }
  }
  return out;
}

// Records completions of send callbacks: how often each ran, with what.
struct Completion {
  std::atomic<int> calls{0};
  std::atomic<int> err{-1};
  pulsarc_msg_id_t id{};
  std::atomic<bool> on_app_thread{false};
};

class Completions {
public:
  explicit Completions(size_t n) : slots_(n) {}
  // Waits out a callback still inside its critical section.
  ~Completions() { std::lock_guard<std::mutex> lk(mu_); }
  Completions(const Completions &) = delete;
  Completions &operator=(const Completions &) = delete;
  static void Cb(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx);
  struct Ctx {
    Completions *owner;
    size_t index;
  };
  // Context for message i; stable for the object's life.
  void *ctx(size_t i) {
    std::lock_guard<std::mutex> lk(mu_);
    ctxs_.push_back(std::make_unique<Ctx>(Ctx{this, i}));
    return ctxs_.back().get();
  }
  Completion &at(size_t i) { return slots_[i]; }
  size_t size() const { return slots_.size(); }
  // Waits until at least n callbacks ran in total.
  bool WaitTotal(size_t n, int timeout_ms = kWaitMs) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return total_ >= n; });
  }
  size_t Total() {
    std::lock_guard<std::mutex> lk(mu_);
    return total_;
  }

private:
  std::vector<Completion> slots_;
  std::vector<std::unique_ptr<Ctx>> ctxs_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t total_ = 0;
};

inline void Completions::Cb(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  Ctx *c = static_cast<Ctx *>(ctx);
  Completions *o = c->owner;
  // Everything under the lock, notify included: once a waiter sees the
  // count, this callback no longer touches the object (it may be freed).
  std::lock_guard<std::mutex> lk(o->mu_);
  Completion &s = o->slots_[c->index];
  if (id != nullptr)
    s.id = *id;
  s.err.store(static_cast<int>(err));
  s.calls.fetch_add(1);
  o->total_++;
  o->cv_.notify_all();
}

// Fixture: one broker and one client per test. Subclasses adjust the broker
// options in BrokerOptions() before it starts.
class BrokerTest : public ::testing::Test {
protected:
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(WatchdogSeconds());
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    BrokerOptions(&o);
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
    url_ = pulsarc_tb_service_url(tb_);
    ASSERT_EQ(pulsarc_client_new(url_.c_str(), nullptr, &client_), PULSARC_OK);
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    for (pulsarc_producer_t *p : producers_)
      pulsarc_producer_destroy(p);
    producers_.clear();
    if (client_ != nullptr)
      pulsarc_client_destroy(client_);
    client_ = nullptr;
    pulsarc_tb_free(tb_);
    tb_ = nullptr;
    dog_.reset();
  }
  virtual void BrokerOptions(pulsarc_tb_opts *) {}
  virtual int WatchdogSeconds() { return 30; }

  // Blocking create; the fixture destroys the producer at the end unless
  // the test calls Forget() (after destroying it itself).
  pulsarc_producer_t *Create(const std::string &topic,
                             const pulsarc_producer_conf_t *conf = nullptr) {
    pulsarc_producer_t *p = nullptr;
    pulsarc_err_t e = pulsarc_producer_create(client_, topic.c_str(), conf, &p);
    EXPECT_EQ(e, PULSARC_OK) << pulsarc_err_str(e);
    if (p != nullptr)
      producers_.push_back(p);
    return p;
  }
  void Forget(pulsarc_producer_t *p) {
    for (auto it = producers_.begin(); it != producers_.end(); ++it)
      if (*it == p) {
        producers_.erase(it);
        return;
      }
  }
  pulsarc_tb_stats Stats() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s;
  }
  pulsarc_tb_topic_stats TopicStats(const std::string &t) {
    pulsarc_tb_topic_stats s;
    pulsarc_tb_get_topic_stats(tb_, t.c_str(), &s);
    return s;
  }

  pulsarc_tb *tb_ = nullptr;
  std::string url_;
  pulsarc_client_t *client_ = nullptr;
  std::vector<pulsarc_producer_t *> producers_;
  std::unique_ptr<Watchdog> dog_;
};

// Waits for a future with a bound; WAIT_TIMEOUT if it did not complete.
inline pulsarc_err_t WaitFuture(pulsarc_future_t *f, pulsarc_msg_id_t *id,
                                int timeout_ms = kWaitMs) {
  return pulsarc_future_wait(f, timeout_ms, id);
}

inline std::string IdStr(const pulsarc_msg_id_t &id) {
  char b[128];
  pulsarc_msg_id_format(&id, b, sizeof b);
  return b;
}

} // namespace pulsarc_it

#endif
