// Shared by the test_conn_*.cc files: a scripted TCP peer (a thread that
// accepts one connection on loopback and plays hand-built frames) and a
// fixture running a pc_conn on a real loop. Header-only on purpose: the
// test binary globs *.cc, so this stays out of the file list.
#ifndef PULSARC_TESTS_UNIT_TEST_CONN_HARNESS_H
#define PULSARC_TESTS_UNIT_TEST_CONN_HARNESS_H

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "codec/frame.h"
#include "loop/conn.h"
#include "loop/resolver.h"
}

namespace conn_test {

constexpr auto kDeadline = std::chrono::seconds(20);
constexpr int kPeerWaitMs = 20000;
using Type = Pulsarc__BaseCommand__Type;

// ------------------------------------------------------------------ the peer

class Peer {
public:
  explicit Peer(const char *ip = "127.0.0.1") {
    lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    EXPECT_EQ(bind(lfd_, (sockaddr *)&a, sizeof a), 0);
    EXPECT_EQ(listen(lfd_, 4), 0);
    socklen_t len = sizeof a;
    getsockname(lfd_, (sockaddr *)&a, &len);
    port_ = ntohs(a.sin_port);
    pc_decoder_init(&dec_, 64u << 20);
  }
  ~Peer() {
    // A script still waiting for EOF ends now instead of at its deadline.
    int fd = fd_.load();
    if (fd >= 0)
      shutdown(fd, SHUT_RDWR);
    if (th_.joinable())
      th_.join();
    if (fd_ >= 0)
      close(fd_);
    close(lfd_);
    pc_decoder_free(&dec_);
  }
  uint16_t port() const { return port_; }

  void Run(std::function<void(Peer &)> script) {
    th_ = std::thread([this, script] {
      pollfd p{lfd_, POLLIN, 0};
      if (poll(&p, 1, kPeerWaitMs) != 1) {
        ADD_FAILURE() << "peer: nobody connected";
        return;
      }
      fd_ = accept(lfd_, nullptr, nullptr);
      script(*this);
    });
  }
  void Join() {
    if (th_.joinable())
      th_.join();
  }

  // Next frame, or false on EOF / error / deadline. f valid until next call.
  bool Read(pc_frame *f) {
    for (;;) {
      int r = pc_decoder_next(&dec_, f);
      if (r == 1)
        return true;
      if (r < 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, kPeerWaitMs) != 1)
        return false;
      size_t avail;
      uint8_t *sp = pc_decoder_space(&dec_, 65536, &avail);
      ssize_t n = recv(fd_, sp, avail, 0);
      if (n <= 0)
        return false;
      pc_decoder_commit(&dec_, (size_t)n);
    }
  }
  // Reads frames until one of type t (false if the stream ends first).
  bool Expect(Type t, pc_frame *f) {
    while (Read(f))
      if (f->cmd->type == t)
        return true;
    return false;
  }
  bool WaitEof() {
    pc_frame f;
    while (Read(&f)) {
    }
    return true;
  }
  void SendRaw(const void *p, size_t n) {
    const uint8_t *b = static_cast<const uint8_t *>(p);
    while (n > 0) {
      ssize_t w = send(fd_, b, n, MSG_NOSIGNAL);
      if (w <= 0)
        return;
      b += w;
      n -= (size_t)w;
    }
  }
  void Send(const Pulsarc__BaseCommand &cmd) {
    pc_buf b = {};
    ASSERT_EQ(pc_frame_append_command(&b, &cmd), 0);
    SendRaw(b.data, b.len);
    pc_buf_free(&b);
  }
  void SendConnected(int32_t max_message_size = 0) {
    Pulsarc__CommandConnected cd = PULSARC__COMMAND_CONNECTED__INIT;
    cd.server_version = (char *)"scripted-peer";
    cd.has_protocol_version = 1;
    cd.protocol_version = 15;
    if (max_message_size) {
      cd.has_max_message_size = 1;
      cd.max_message_size = max_message_size;
    }
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__CONNECTED;
    bc.connected = &cd;
    Send(bc);
  }
  // Reads CONNECT, answers CONNECTED.
  bool Handshake(int32_t max_message_size = 0) {
    pc_frame f;
    if (!Read(&f) || f.cmd->type != PULSARC__BASE_COMMAND__TYPE__CONNECT)
      return false;
    SendConnected(max_message_size);
    return true;
  }
  void SendSimple(Type t) {
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    Pulsarc__CommandPing ping = PULSARC__COMMAND_PING__INIT;
    Pulsarc__CommandPong pong = PULSARC__COMMAND_PONG__INIT;
    bc.type = t;
    bc.ping = t == PULSARC__BASE_COMMAND__TYPE__PING ? &ping : nullptr;
    bc.pong = t == PULSARC__BASE_COMMAND__TYPE__PONG ? &pong : nullptr;
    Send(bc);
  }
  void SendLookupResponse(uint64_t request_id, const char *url) {
    Pulsarc__CommandLookupTopicResponse r = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__INIT;
    r.request_id = request_id;
    r.broker_service_url = (char *)url;
    r.has_response = 1;
    r.response = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect;
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__LOOKUP_RESPONSE;
    bc.lookup_topic_response = &r;
    Send(bc);
  }
  void CloseSocket() { shutdown(fd_, SHUT_RDWR); }

private:
  int lfd_ = -1;
  std::atomic<int> fd_{-1};
  uint16_t port_ = 0;
  std::thread th_;
  pc_decoder dec_;
};

// ---------------------------------------------------------- the conn harness

struct Fn {
  std::function<void()> f;
};
inline void run_fn(pc_loop *, void *arg) {
  Fn *fn = static_cast<Fn *>(arg);
  fn->f();
  delete fn;
}

class ConnTest : public ::testing::Test {
public: // the tests' helper structs record into the fixture
  void SetUp() override {
    pc_logger_init(&log_);
    log_.fn = &ConnTest::LogLine;
    log_.ctx = this;
    log_.level = PULSARC_LOG_DEBUG;
    loop_ = pc_loop_new(1, &log_);
    ASSERT_NE(loop_, nullptr);
    ASSERT_EQ(pc_loop_start(loop_), 0);
  }
  void TearDown() override {
    // closed_ is written on the loop thread: read it there.
    if (c_)
      OnLoop([&] {
        if (!closed_)
          pc_conn_close(c_, PULSARC_OK);
      });
    pc_loop_stop(loop_);
    pc_loop_free(loop_);
  }

  static void LogLine(pulsarc_log_level_t, const char *line, void *ctx) {
    ConnTest *t = static_cast<ConnTest *>(ctx);
    std::lock_guard<std::mutex> g(t->mu_);
    t->logs_.push_back(line);
  }
  bool LogHas(const std::string &s) {
    std::lock_guard<std::mutex> g(mu_);
    for (auto &l : logs_)
      if (l.find(s) != std::string::npos)
        return true;
    return false;
  }

  // Runs f on the loop thread and waits. The task co-owns the promise, so
  // returning here never frees it under a set_value still in progress.
  void OnLoop(std::function<void()> f) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    ASSERT_EQ(pc_loop_post(loop_, run_fn, new Fn{[&f, done] {
                             f();
                             done->set_value();
                           }}),
              0);
    ASSERT_EQ(fut.wait_for(kDeadline), std::future_status::ready);
  }

  static void OnReady(pc_conn *c, void *ctx) {
    ConnTest *t = static_cast<ConnTest *>(ctx);
    std::lock_guard<std::mutex> g(t->mu_);
    t->ready_ = true;
    t->mms_ = pc_conn_max_message_size(c);
    t->pv_ = pc_conn_protocol_version(c);
    t->Note("ready");
    t->cv_.notify_all();
  }
  static void OnClosed(pc_conn *, pulsarc_err_t err, void *ctx) {
    ConnTest *t = static_cast<ConnTest *>(ctx);
    std::lock_guard<std::mutex> g(t->mu_);
    t->closed_ = true;
    t->close_err_ = err;
    t->Note("conn-closed");
    t->cv_.notify_all();
  }
  void Note(const std::string &s) { order_.push_back(s); } // mu_ held
  void NoteLocked(const std::string &s) {
    std::lock_guard<std::mutex> g(mu_);
    order_.push_back(s);
  }

  void Open(const char *host, uint16_t port, uint64_t keepalive_ms = 0,
            uint64_t connect_timeout_ms = 10000) {
    pc_conn_opts o{};
    o.host = host;
    o.port = port;
    o.connect_timeout_ms = connect_timeout_ms;
    o.keepalive_interval_ms = keepalive_ms;
    pc_conn_events ev{OnReady, OnClosed, this};
    OnLoop([&] { c_ = pc_conn_open(loop_, &o, &ev, &log_); });
    ASSERT_NE(c_, nullptr);
  }
  bool WaitReady() {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, kDeadline, [&] { return ready_ || closed_; }) && ready_ && !closed_;
  }
  bool WaitClosed() {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, kDeadline, [&] { return closed_; });
  }
  template <class P> bool WaitFor(P pred) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, kDeadline, pred);
  }
  void Notify() {
    std::lock_guard<std::mutex> g(mu_);
    cv_.notify_all();
  }

  pc_logger log_;
  pc_loop *loop_ = nullptr;
  pc_conn *c_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> logs_, order_;
  bool ready_ = false, closed_ = false;
  pulsarc_err_t close_err_ = PULSARC_OK;
  uint32_t mms_ = 0;
  int32_t pv_ = -1;
};

inline uint16_t unused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (sockaddr *)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr *)&a, &len);
  close(fd); // nobody listens there now
  return ntohs(a.sin_port);
}

} // namespace conn_test

#endif
