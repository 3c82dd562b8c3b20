// pc_tls sessions over a socketpair with an in-test OpenSSL server: the
// non-blocking handshake, data both ways, certificate checks, and a write
// to a peer that went away: an error, never SIGPIPE (the default action,
// death, is in force during the test).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "../integration/test_tls_certs.h"

extern "C" {
#include "loop/tls.h"
}

namespace {

using pulsarc_tls_test::Certs;
using pulsarc_tls_test::KeyCert;

Certs *g_certs = nullptr;

class TlsSession : public ::testing::Test {
protected:
  static void SetUpTestSuite() { g_certs = new Certs(); }
  static void TearDownTestSuite() {
    delete g_certs;
    g_certs = nullptr;
  }
  void TearDown() override {
    pc_tls_free(cl_);
    pc_tls_ctx_free(ctx_);
    SSL_free(srv_);
    SSL_CTX_free(sctx_);
    for (int fd : sv_)
      if (fd >= 0)
        close(fd);
  }
  // Client context from o, server with kc, connected socketpair.
  void Prepare(const pc_tls_opts &o, const KeyCert &kc, const char *host) {
    char why[512] = "";
    ctx_ = pc_tls_ctx_new(&o, why, sizeof why);
    ASSERT_NE(ctx_, nullptr) << why;
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv_), 0);
    cl_ = pc_tls_new(ctx_, sv_[0], host);
    ASSERT_NE(cl_, nullptr);
    sctx_ = SSL_CTX_new(TLS_server_method());
    ASSERT_EQ(SSL_CTX_use_certificate_chain_file(sctx_, kc.cert_file.c_str()), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey_file(sctx_, kc.key_file.c_str(), SSL_FILETYPE_PEM), 1);
    srv_ = SSL_new(sctx_);
    SSL_set_fd(srv_, sv_[1]);
    SSL_set_accept_state(srv_);
  }
  // Drives both sides; returns the client's final status.
  pc_tls_status Handshake(std::string *why_out = nullptr) {
    char why[512] = "";
    pc_tls_status st = PC_TLS_WANT_READ;
    bool srv_done = false;
    for (int i = 0; i < 1000; i++) {
      if (st == PC_TLS_WANT_READ || st == PC_TLS_WANT_WRITE)
        st = pc_tls_handshake(cl_, why, sizeof why);
      if (!srv_done) {
        int r = SSL_do_handshake(srv_);
        srv_done = r == 1;
        if (r <= 0) {
          int e = SSL_get_error(srv_, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            srv_done = true; // the server gave up (alert sent)
        }
      }
      if ((st == PC_TLS_OK && srv_done) || st == PC_TLS_ERROR || st == PC_TLS_SYSCALL)
        break;
    }
    ERR_clear_error();
    if (why_out)
      *why_out = why;
    return st;
  }
  pc_tls_opts Trusting() {
    pc_tls_opts o{};
    o.trust_certs_file = g_certs->ca.cert_file.c_str();
    o.validate_hostname = true;
    return o;
  }

  pc_tls_ctx *ctx_ = nullptr;
  pc_tls *cl_ = nullptr;
  SSL_CTX *sctx_ = nullptr;
  SSL *srv_ = nullptr;
  int sv_[2] = {-1, -1};
};

TEST_F(TlsSession, HandshakeAndDataBothWays) {
  Prepare(Trusting(), g_certs->server, "localhost");
  ASSERT_EQ(Handshake(), PC_TLS_OK);
  char why[256];
  size_t n = 0;
  ASSERT_EQ(pc_tls_write(cl_, "hello", 5, &n, why, sizeof why), PC_TLS_OK);
  EXPECT_EQ(n, 5u);
  char buf[64];
  int r = SSL_read(srv_, buf, sizeof buf);
  ASSERT_EQ(r, 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_EQ(SSL_write(srv_, "world!", 6), 6);
  ASSERT_EQ(pc_tls_read(cl_, buf, sizeof buf, &n, why, sizeof why), PC_TLS_OK);
  EXPECT_EQ(std::string(buf, n), "world!");
  EXPECT_EQ(pc_tls_read(cl_, buf, sizeof buf, &n, why, sizeof why), PC_TLS_WANT_READ);
  char desc[128];
  pc_tls_describe(cl_, desc, sizeof desc);
  EXPECT_EQ(std::string(desc).rfind("TLSv1.", 0), 0u) << desc;
}

TEST_F(TlsSession, ExpiredCertificateIsNamed) {
  Prepare(Trusting(), g_certs->expired, "localhost");
  std::string why;
  EXPECT_EQ(Handshake(&why), PC_TLS_ERROR);
  EXPECT_NE(why.find("certificate has expired"), std::string::npos) << why;
}

TEST_F(TlsSession, HostNameMismatchIsNamed) {
  Prepare(Trusting(), g_certs->wrong_host, "localhost");
  std::string why;
  EXPECT_EQ(Handshake(&why), PC_TLS_ERROR);
  EXPECT_NE(why.find("hostname mismatch"), std::string::npos) << why;
}

TEST_F(TlsSession, Tls11IsRefused) {
  Prepare(Trusting(), g_certs->server, "localhost");
  SSL_set_max_proto_version(srv_, TLS1_1_VERSION);
  SSL_set_min_proto_version(srv_, TLS1_VERSION);
  std::string why;
  EXPECT_EQ(Handshake(&why), PC_TLS_ERROR) << why;
}

TEST_F(TlsSession, WriteToVanishedPeerFailsWithoutSigpipe) {
  struct sigaction dfl {
  }, old{};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &old); // a SIGPIPE now would kill the test
  Prepare(Trusting(), g_certs->server, "localhost");
  ASSERT_EQ(Handshake(), PC_TLS_OK);
  SSL_free(srv_);
  srv_ = nullptr;
  close(sv_[1]);
  sv_[1] = -1;
  std::string big(64 * 1024, 'x');
  char why[256] = "";
  pc_tls_status st = PC_TLS_OK;
  for (int i = 0; i < 8 && st == PC_TLS_OK; i++) {
    size_t n = 0;
    st = pc_tls_write(cl_, big.data(), big.size(), &n, why, sizeof why);
  }
  EXPECT_EQ(st, PC_TLS_SYSCALL);
  EXPECT_NE(std::string(why).find("Broken pipe"), std::string::npos) << why;
  sigaction(SIGPIPE, &old, nullptr);
}

} // namespace
