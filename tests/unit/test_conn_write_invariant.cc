// A write reference whose segments do not sum to its length (an owner's
// bug) stops the connection with PULSARC_ERR_INTERNAL on both write paths
// (plain sendmsg and TLS staging) instead of spinning the I/O thread or
// sending the next frame's bytes in its name; every queued frame goes back
// to its owner with done(w, false), which is what the producer's
// reconnect-and-resend path expects (see wref_broken in conn_write.c).
//
// Before the fix, a broken reference alone in the queue spun the plain
// path forever on the loop thread (the watchdog turns that into a failed,
// aborted test; ctest's TIMEOUT bounds it again); with a frame behind it,
// the plain path sent that frame's bytes in its name (the broker saw
// garbage); the TLS path closed with NO_MEMORY.
#include "../integration/harness.h"
#include "../integration/test_tls_certs.h"
#include "test_conn_harness.h"

using namespace conn_test;

namespace {

pulsarc_tls_test::Certs *g_certs = nullptr;

struct Ref {
  pc_wref w{};
  std::vector<uint8_t> bytes;
  std::vector<iovec> segs;
  ConnTest *t;
  std::vector<bool> done; // each done() call's `written`
  static void Done(pc_wref *w, bool written) {
    Ref *r = static_cast<Ref *>(w->ctx);
    std::lock_guard<std::mutex> g(r->t->mu_);
    r->done.push_back(written);
    r->t->cv_.notify_all();
  }
  // len bytes of data, lent as segments of the given sizes (summing to
  // anything: that is the point); no segments = one flat buffer.
  Ref(ConnTest *t_, size_t len, std::vector<size_t> seg_sizes) : bytes(4096, 0xab), t(t_) {
    size_t off = 0;
    for (size_t s : seg_sizes) {
      segs.push_back(iovec{bytes.data() + off, s});
      off += s;
    }
    w.len = len;
    if (segs.empty()) {
      w.data = bytes.data();
    } else {
      w.iov = segs.data();
      w.iovcnt = static_cast<int>(segs.size());
    }
    w.done = Done;
    w.ctx = this;
  }
};

enum class Shape { kShort, kNoSegments, kLong };
struct Case {
  bool tls;
  Shape shape;
  bool behind; // a good frame queued behind the broken one
};

class ConnWriteInvariant : public ConnTest, public ::testing::WithParamInterface<Case> {
protected:
  static void SetUpTestSuite() { g_certs = new pulsarc_tls_test::Certs(); }
  static void TearDownTestSuite() {
    delete g_certs;
    g_certs = nullptr;
  }
  void SetUp() override {
    dog_ = std::make_unique<pulsarc_it::Watchdog>(90);
    ConnTest::SetUp();
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    if (GetParam().tls) {
      o.tls_cert_file = g_certs->server.cert_file.c_str();
      o.tls_key_file = g_certs->server.key_file.c_str();
    }
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
  }
  void TearDown() override {
    ConnTest::TearDown();
    pc_tls_ctx_free(tls_);
    pulsarc_tb_free(tb_);
    dog_.reset();
  }
  void OpenToBroker() {
    pc_conn_opts o{};
    o.host = "127.0.0.1";
    o.port = pulsarc_tb_port(tb_);
    o.connect_timeout_ms = 10000;
    if (GetParam().tls) {
      pc_tls_opts to{};
      to.trust_certs_file = g_certs->ca.cert_file.c_str();
      to.validate_hostname = true;
      char why[512] = "";
      tls_ = pc_tls_ctx_new(&to, why, sizeof why);
      ASSERT_NE(tls_, nullptr) << why;
      o.tls = tls_;
    }
    pc_conn_events ev{OnReady, OnClosed, this};
    OnLoop([&] { c_ = pc_conn_open(loop_, &o, &ev, &log_); });
    ASSERT_NE(c_, nullptr);
  }

  std::unique_ptr<pulsarc_it::Watchdog> dog_;
  pulsarc_tb *tb_ = nullptr;
  pc_tls_ctx *tls_ = nullptr;
};

TEST_P(ConnWriteInvariant, BrokenWriteRefClosesWithInternalInsteadOfSpinning) {
  OpenToBroker();
  ASSERT_TRUE(WaitReady());
  std::unique_ptr<Ref> bad;
  switch (GetParam().shape) {
  case Shape::kShort: // 48 of 100 bytes: the plain path used to spin here
    bad = std::make_unique<Ref>(this, 100, std::vector<size_t>{16, 32});
    break;
  case Shape::kNoSegments: // an iov array with nothing in it
    bad = std::make_unique<Ref>(this, 100, std::vector<size_t>{0, 0});
    break;
  case Shape::kLong: // 200 bytes claimed as 100: would send 100 stray bytes
    bad = std::make_unique<Ref>(this, 100, std::vector<size_t>{150, 50});
    break;
  }
  Ref good(this, 64, {});
  OnLoop([&] {
    ASSERT_EQ(pc_conn_write_ref(c_, &bad->w), 0);
    if (GetParam().behind) {
      ASSERT_EQ(pc_conn_write_ref(c_, &good.w), 0);
    }
  });
  ASSERT_TRUE(WaitClosed()) << "the connection kept running with a broken write reference";
  {
    std::lock_guard<std::mutex> g(mu_);
    EXPECT_EQ(close_err_, PULSARC_ERR_INTERNAL) << pulsarc_err_name(close_err_);
    EXPECT_EQ(bad->done, std::vector<bool>{false});
    if (GetParam().behind) {
      EXPECT_EQ(good.done, std::vector<bool>{false})
          << "the frame behind must go back to its owner";
    }
  }
  EXPECT_TRUE(LogHas("segments sum to len"));
}

std::vector<Case> AllCases() {
  std::vector<Case> v;
  for (bool tls : {false, true})
    for (Shape shape : {Shape::kShort, Shape::kNoSegments, Shape::kLong})
      for (bool behind : {false, true})
        v.push_back(Case{tls, shape, behind});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Paths, ConnWriteInvariant, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case> &i) {
                           const char *s = i.param.shape == Shape::kShort        ? "Short"
                                           : i.param.shape == Shape::kNoSegments ? "NoSegments"
                                                                                 : "Long";
                           return std::string(i.param.tls ? "Tls" : "Plain") + s +
                                  (i.param.behind ? "ThenGood" : "Alone");
                         });

} // namespace
