// Every blocking operation is bounded by its documented timeout (issue 17,
// item 3): producer creation against a peer that never lets it finish fails
// once the operation timeout has passed (not before, and at most a second
// later), with an error naming the step that did not finish and a sentence
// in pulsarc_last_error_text().
#include <arpa/inet.h>

#include "harness.h"

namespace pulsarc_it {
namespace {

constexpr int kOpTimeoutMs = 1500;
// The loop's timers have millisecond resolution: a tick of slack below.
constexpr int kTickMs = 10;
// Generous: a loaded 2-core machine may run the loop late.
constexpr int kSlackMs = 1000;

// A TCP listener on 127.0.0.1 that never accepts: the kernel completes the
// handshake, takes what the client writes, and nothing ever answers.
class SilentListener {
public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
        listen(fd_, 16) == 0 && getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0)
      close(fd_);
  }
  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class TimeoutEdgeTest : public ::testing::Test {
protected:
  void SetUp() override { dog_ = std::make_unique<Watchdog>(30); }
  void TearDown() override {
    if (client_ != nullptr)
      pulsarc_client_destroy(client_);
    dog_.reset();
  }
  void NewClient(const std::string &url, bool tls = false) {
    pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
    ASSERT_EQ(pulsarc_client_conf_set(cc, "operation_timeout_ms",
                                      std::to_string(kOpTimeoutMs).c_str(), nullptr, 0),
              PULSARC_OK);
    if (tls) {
      ASSERT_EQ(pulsarc_client_conf_set(cc, "tls_allow_insecure", "true", nullptr, 0), PULSARC_OK);
    }
    pulsarc_err_t e = pulsarc_client_new(url.c_str(), cc, &client_);
    pulsarc_client_conf_destroy(cc);
    ASSERT_EQ(e, PULSARC_OK) << pulsarc_err_str(e);
  }
  // Blocking create that must fail: returns the error, the elapsed time and
  // the calling thread's detail.
  pulsarc_err_t CreateFails(long long *ms, std::string *detail) {
    pulsarc_producer_t *p = nullptr;
    auto t0 = std::chrono::steady_clock::now();
    pulsarc_err_t e = pulsarc_producer_create(client_, "edge-timeout", nullptr, &p);
    auto t1 = std::chrono::steady_clock::now();
    *detail = pulsarc_last_error_text();
    *ms = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count();
    EXPECT_EQ(p, nullptr);
    if (p != nullptr)
      pulsarc_producer_destroy(p);
    return e;
  }
  static void ExpectWithinTimeout(long long ms) {
    EXPECT_GE(ms, kOpTimeoutMs - kTickMs) << "gave up before the operation timeout";
    EXPECT_LE(ms, kOpTimeoutMs + kSlackMs) << "not bounded by the operation timeout";
  }

  pulsarc_client_t *client_ = nullptr;
  std::unique_ptr<Watchdog> dog_;
};

// Nothing listens: every connect is refused at once and retried with
// backoff; the last backoff must not carry creation past its deadline.
TEST_F(TimeoutEdgeTest, ClosedPortFailsWithConnectTimeout) {
  uint16_t port = ClosedPort();
  ASSERT_NE(port, 0);
  NewClient("pulsar://127.0.0.1:" + std::to_string(port));
  long long ms;
  std::string detail;
  pulsarc_err_t e = CreateFails(&ms, &detail);
  std::printf("time-to-fail closed port: %lld ms (operation timeout %d ms)\n", ms, kOpTimeoutMs);
  EXPECT_EQ(e, PULSARC_ERR_CONNECT_TIMEOUT) << pulsarc_err_name(e);
  ExpectWithinTimeout(ms);
  EXPECT_NE(detail.find("connect timed out"), std::string::npos) << detail;
  EXPECT_NE(detail.find("edge-timeout"), std::string::npos) << detail;
}

struct ReadyResult {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  pulsarc_err_t err = PULSARC_ERR_PENDING;
  std::string detail;
  std::chrono::steady_clock::time_point at;
};

void OnReady(pulsarc_producer_t *, pulsarc_err_t err, void *ctx) {
  ReadyResult *r = static_cast<ReadyResult *>(ctx);
  std::string d = pulsarc_last_error_text(); // the I/O thread's detail, set for us
  std::lock_guard<std::mutex> lk(r->mu);
  r->err = err;
  r->detail = d;
  r->at = std::chrono::steady_clock::now();
  r->done = true;
  r->cv.notify_all();
}

// TCP connects, CONNECT is written, CONNECTED never comes (the connect
// timeout, 10 s by default, is longer than the operation timeout). Started
// asynchronously: the detail must be readable inside the ready callback.
TEST_F(TimeoutEdgeTest, SilentPeerFailsWithConnectTimeout) {
  SilentListener peer;
  ASSERT_NE(peer.port(), 0);
  NewClient("pulsar://127.0.0.1:" + std::to_string(peer.port()));
  ReadyResult r;
  pulsarc_producer_t *p = nullptr;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(pulsarc_producer_create_cb(client_, "edge-timeout", nullptr, OnReady, &r, &p),
            PULSARC_OK);
  {
    std::unique_lock<std::mutex> lk(r.mu);
    ASSERT_TRUE(r.cv.wait_for(lk, std::chrono::milliseconds(kOpTimeoutMs + 4 * kSlackMs),
                              [&] { return r.done; }));
  }
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.at - t0).count();
  std::printf("time-to-fail silent peer: %lld ms (operation timeout %d ms)\n", ms, kOpTimeoutMs);
  EXPECT_EQ(r.err, PULSARC_ERR_CONNECT_TIMEOUT) << pulsarc_err_name(r.err);
  ExpectWithinTimeout(ms);
  EXPECT_NE(r.detail.find("connect timed out"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find(std::to_string(peer.port())), std::string::npos)
      << "the detail should name the peer: " << r.detail;
  pulsarc_producer_destroy(p);
}

// TCP connects, the ClientHello is written, no ServerHello ever comes.
TEST_F(TimeoutEdgeTest, StalledTlsHandshakeFailsWithTlsHandshakeTimeout) {
  SilentListener peer;
  ASSERT_NE(peer.port(), 0);
  NewClient("pulsar+ssl://127.0.0.1:" + std::to_string(peer.port()), true);
  long long ms;
  std::string detail;
  pulsarc_err_t e = CreateFails(&ms, &detail);
  std::printf("time-to-fail stalled TLS handshake: %lld ms (operation timeout %d ms)\n", ms,
              kOpTimeoutMs);
  EXPECT_EQ(e, PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT) << pulsarc_err_name(e);
  ExpectWithinTimeout(ms);
  EXPECT_NE(detail.find("TLS handshake timed out"), std::string::npos) << detail;
}

// The connection is up (a first producer uses it), then the broker stops
// reading: the next producer's partitioned-metadata request is written and
// never answered.
TEST_F(TimeoutEdgeTest, UnansweredLookupFailsWithLookupTimeout) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  pulsarc_tb *tb = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&o, &tb), 0);
  NewClient(pulsarc_tb_service_url(tb));
  pulsarc_producer_t *first = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client_, "edge-first", nullptr, &first), PULSARC_OK);
  pulsarc_tb_stop_reading(tb, true);
  long long ms;
  std::string detail;
  pulsarc_err_t e = CreateFails(&ms, &detail);
  std::printf("time-to-fail unanswered lookup: %lld ms (operation timeout %d ms)\n", ms,
              kOpTimeoutMs);
  EXPECT_EQ(e, PULSARC_ERR_LOOKUP_TIMEOUT) << pulsarc_err_name(e);
  ExpectWithinTimeout(ms);
  EXPECT_NE(detail.find("lookup timed out"), std::string::npos) << detail;
  pulsarc_tb_stop_reading(tb, false);
  pulsarc_producer_destroy(first);
  pulsarc_client_destroy(client_);
  client_ = nullptr;
  pulsarc_tb_free(tb);
}

} // namespace
} // namespace pulsarc_it
