// TLS and authentication against the in-process test broker: certificate
// checks (chain, host name, expiry, foreign CA, allow-insecure), mutual
// TLS, token authentication (string, file, provider), token refresh by
// AUTH_CHALLENGE in the middle of a stream, and drops during TLS writes.
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"
#include "test_tls_certs.h"

using namespace pulsarc_it;
using pulsarc_tls_test::Certs;

namespace {

Certs *g_certs = nullptr;

// Collects every log line of one client (any level).

class Tls : public ::testing::Test {
protected:
  static void SetUpTestSuite() { g_certs = new Certs(); }
  static void TearDownTestSuite() {
    delete g_certs;
    g_certs = nullptr;
  }
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(60);
    conf_ = pulsarc_client_conf_new();
    pulsarc_client_conf_set_logger(conf_, LogSink::Fn, &log_);
    Set("log_level", "info");
    Set("operation_timeout_ms", "4000");
  }
  void TearDown() override {
    for (pulsarc_producer_t *p : producers_)
      pulsarc_producer_destroy(p);
    if (client_)
      pulsarc_client_destroy(client_);
    pulsarc_client_conf_destroy(conf_);
    pulsarc_tb_free(tb_);
    dog_.reset();
  }
  void Set(const char *k, const std::string &v) {
    char err[256] = "";
    ASSERT_EQ(pulsarc_client_conf_set(conf_, k, v.c_str(), err, sizeof err), PULSARC_OK) << err;
  }
  void StartBroker(const pulsarc_tb_opts &o) {
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
    url_ = pulsarc_tb_service_url(tb_);
  }
  // TLS broker with the given server certificate.
  void StartTlsBroker(const pulsarc_tls_test::KeyCert &kc, const char *ca = nullptr,
                      const char *token = nullptr) {
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    o.tls_cert_file = kc.cert_file.c_str();
    o.tls_key_file = kc.key_file.c_str();
    o.tls_ca_file = ca;
    o.require_token = token;
    StartBroker(o);
  }
  // Client on url (default: the broker's), then a blocking producer create.
  pulsarc_err_t TryCreate(const std::string &topic, std::string url = "") {
    if (url.empty())
      url = url_;
    pulsarc_err_t e = pulsarc_client_new(url.c_str(), conf_, &client_);
    if (e != PULSARC_OK)
      return e;
    pulsarc_producer_t *p = nullptr;
    e = pulsarc_producer_create(client_, topic.c_str(), nullptr, &p);
    if (p)
      producers_.push_back(p);
    return e;
  }
  void SendSome(int n) {
    ASSERT_FALSE(producers_.empty());
    for (int i = 0; i < n; i++) {
      std::string m = "m-" + std::to_string(i);
      ASSERT_EQ(pulsarc_producer_send(producers_[0], m.data(), m.size(), nullptr, nullptr),
                PULSARC_OK);
    }
  }
  pulsarc_tb_auth_stats Auth() {
    pulsarc_tb_auth_stats s;
    pulsarc_tb_get_auth_stats(tb_, &s);
    return s;
  }
  std::string Port() { return std::to_string(pulsarc_tb_port(tb_)); }
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

  std::unique_ptr<Watchdog> dog_;
  LogSink log_;
  pulsarc_client_conf_t *conf_ = nullptr;
  pulsarc_tb *tb_ = nullptr;
  std::string url_;
  pulsarc_client_t *client_ = nullptr;
  std::vector<pulsarc_producer_t *> producers_;
};

TEST_F(Tls, BrokerAdvertisesTlsUrl) {
  StartTlsBroker(g_certs->server);
  EXPECT_EQ(url_.rfind("pulsar+ssl://127.0.0.1:", 0), 0u) << url_;
}

TEST_F(Tls, ValidChainAndIpAddress) {
  StartTlsBroker(g_certs->server);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  ASSERT_EQ(TryCreate("tls-ok"), PULSARC_OK) << log_.All();
  SendSome(50);
  EXPECT_EQ(TopicStats("tls-ok").messages, 50u);
  EXPECT_GE(Auth().tls_handshakes, 1u);
  EXPECT_STREQ(Auth().last_method, "none");
}

TEST_F(Tls, ValidChainAndHostName) {
  StartTlsBroker(g_certs->server);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  // The service host is a DNS name (checked against DNS:localhost); the
  // lookup then points at 127.0.0.1 (checked against IP:127.0.0.1).
  ASSERT_EQ(TryCreate("tls-host", "pulsar+ssl://localhost:" + Port()), PULSARC_OK) << log_.All();
  SendSome(5);
  EXPECT_EQ(TopicStats("tls-host").messages, 5u);
}

TEST_F(Tls, WrongHostNameIsRefused) {
  StartTlsBroker(g_certs->wrong_host);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("tls-wrong-host"), PULSARC_ERR_TLS);
  EXPECT_TRUE(log_.Contains("certificate verify failed: IP address mismatch")) << log_.All();
}

TEST_F(Tls, WrongDnsNameIsRefused) {
  StartTlsBroker(g_certs->wrong_host);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("tls-wrong-dns", "pulsar+ssl://localhost:" + Port()), PULSARC_ERR_TLS);
  EXPECT_TRUE(log_.Contains("certificate verify failed: hostname mismatch")) << log_.All();
}

TEST_F(Tls, HostNameCheckCanBeTurnedOff) {
  StartTlsBroker(g_certs->wrong_host);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("tls_validate_hostname", "false");
  ASSERT_EQ(TryCreate("tls-nohost"), PULSARC_OK) << log_.All();
  SendSome(3);
}

TEST_F(Tls, UntrustedCaIsRefused) {
  StartTlsBroker(g_certs->foreign);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("tls-foreign"), PULSARC_ERR_TLS);
  EXPECT_TRUE(log_.Contains("certificate verify failed: unable to get local issuer certificate"))
      << log_.All();
}

TEST_F(Tls, ExpiredCertificateIsRefused) {
  StartTlsBroker(g_certs->expired);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("tls-expired"), PULSARC_ERR_TLS);
  EXPECT_TRUE(log_.Contains("certificate verify failed: certificate has expired")) << log_.All();
}

TEST_F(Tls, NoTrustFileMeansSystemStoreWhichDoesNotKnowOurCa) {
  StartTlsBroker(g_certs->server);
  EXPECT_EQ(TryCreate("tls-system"), PULSARC_ERR_TLS);
  EXPECT_TRUE(log_.Contains("certificate verify failed")) << log_.All();
}

class TlsInsecure : public Tls, public ::testing::WithParamInterface<int> {};

TEST_P(TlsInsecure, AllowInsecureAcceptsBadCertificates) {
  const pulsarc_tls_test::KeyCert *kc[] = {&g_certs->wrong_host, &g_certs->foreign,
                                           &g_certs->expired};
  StartTlsBroker(*kc[GetParam()]);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("tls_allow_insecure", "true");
  ASSERT_EQ(TryCreate("tls-insecure"), PULSARC_OK) << log_.All();
  SendSome(3);
  EXPECT_EQ(TopicStats("tls-insecure").messages, 3u);
  EXPECT_TRUE(log_.Contains("NOT verified"));
}
INSTANTIATE_TEST_SUITE_P(BadCerts, TlsInsecure, ::testing::Values(0, 1, 2));

TEST_F(Tls, PlainClientAgainstTlsBrokerDoesNotConnect) {
  StartTlsBroker(g_certs->server);
  Set("operation_timeout_ms", "1000");
  std::string plain = "pulsar://127.0.0.1:" + Port();
  pulsarc_err_t e = TryCreate("tls-plain", plain);
  EXPECT_NE(e, PULSARC_OK);
  EXPECT_EQ(TopicStats("tls-plain").messages, 0u);
}

// ------------------------------------------------------------ mutual TLS

TEST_F(Tls, MutualTlsWithClientCertificate) {
  StartTlsBroker(g_certs->server, g_certs->ca.cert_file.c_str());
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("tls_cert_file", g_certs->client.cert_file);
  Set("tls_key_file", g_certs->client.key_file);
  ASSERT_EQ(TryCreate("mtls-ok"), PULSARC_OK) << log_.All();
  SendSome(10);
  EXPECT_EQ(TopicStats("mtls-ok").messages, 10u);
  EXPECT_GE(Auth().client_certs, 1u);
  EXPECT_STREQ(Auth().last_method, "tls");
}

TEST_F(Tls, MutualTlsWithoutClientCertificateIsRefused) {
  StartTlsBroker(g_certs->server, g_certs->ca.cert_file.c_str());
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("mtls-none"), PULSARC_ERR_TLS) << log_.All();
  // The alert names the reason; when a reset overtakes it, the log says what
  // a refusal after our side of the TLS 1.3 handshake most likely means.
  EXPECT_TRUE(log_.Contains("certificate required") ||
              log_.Contains("requires a client certificate"))
      << log_.All();
  EXPECT_EQ(TopicStats("mtls-none").messages, 0u);
}

TEST_F(Tls, MutualTlsWithForeignClientCertificateIsRefused) {
  StartTlsBroker(g_certs->server, g_certs->ca.cert_file.c_str());
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("tls_cert_file", g_certs->foreign_client.cert_file);
  Set("tls_key_file", g_certs->foreign_client.key_file);
  EXPECT_EQ(TryCreate("mtls-foreign"), PULSARC_ERR_TLS) << log_.All();
  EXPECT_GE(Auth().tls_failures, 1u);
}

// ------------------------------------------------------------ tokens

const char kGood[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2VjcmV0LXNpZ25hdHVyZQ";
const char kBad[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldmlsIn0.d3Jvbmctc2lnbmF0dXJl";

TEST_F(Tls, TokenOverTls) {
  StartTlsBroker(g_certs->server, nullptr, kGood);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("auth_token", kGood);
  ASSERT_EQ(TryCreate("tok-ok"), PULSARC_OK) << log_.All();
  SendSome(10);
  EXPECT_EQ(TopicStats("tok-ok").messages, 10u);
  EXPECT_STREQ(Auth().last_method, "token");
  EXPECT_GE(Auth().connects_ok, 1u);
  EXPECT_FALSE(log_.Contains(kGood)) << "the token leaked into the log";
}

TEST_F(Tls, BadTokenFailsWithAuthenticationError) {
  StartTlsBroker(g_certs->server, nullptr, kGood);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("auth_token", kBad);
  EXPECT_EQ(TryCreate("tok-bad"), PULSARC_ERR_BROKER_AUTHENTICATION);
  EXPECT_GE(Auth().connects_rejected, 1u);
  EXPECT_TRUE(log_.Contains("broker refused our credentials")) << log_.All();
  EXPECT_FALSE(log_.Contains(kBad)) << "the token leaked into the log";
  EXPECT_FALSE(log_.Contains(kGood));
}

TEST_F(Tls, MissingTokenFailsWithAuthenticationError) {
  StartTlsBroker(g_certs->server, nullptr, kGood);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  EXPECT_EQ(TryCreate("tok-missing"), PULSARC_ERR_BROKER_AUTHENTICATION);
  EXPECT_STREQ(Auth().last_method, "none");
}

TEST_F(Tls, TokenOnPlainTcp) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.require_token = kGood;
  StartBroker(o);
  Set("auth_token", kGood);
  ASSERT_EQ(TryCreate("tok-plain"), PULSARC_OK) << log_.All();
  SendSome(3);
}

TEST_F(Tls, TokenFileIsReadAgainOnReconnect) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.require_token = kGood;
  StartBroker(o);
  std::string path = g_certs->dir + "/token";
  std::ofstream(path) << kGood << "\n"; // trailing newline is ignored
  Set("auth_token_file", path);
  ASSERT_EQ(TryCreate("tok-file"), PULSARC_OK) << log_.All();
  SendSome(3);
  // Rotate: the broker now wants the other token, the file holds it.
  pulsarc_tb_set_required_token(tb_, kBad);
  std::ofstream(path) << kBad;
  pulsarc_tb_drop_connections(tb_);
  SendSome(3); // reconnects with the file's new content
  EXPECT_EQ(TopicStats("tok-file").messages, 6u);
  EXPECT_GE(Auth().connects_ok, 2u);
  EXPECT_EQ(Auth().connects_rejected, 0u);
  unlink(path.c_str());
}

TEST_F(Tls, UnreadableTokenFileIsNamedInTheLog) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.require_token = kGood;
  StartBroker(o);
  Set("auth_token_file", g_certs->dir + "/no-such-token");
  Set("operation_timeout_ms", "1000");
  EXPECT_NE(TryCreate("tok-nofile"), PULSARC_OK);
  EXPECT_TRUE(log_.Contains("cannot open token file")) << log_.All();
}

// Provider whose token the test switches; counts calls.
struct Provider {
  std::mutex mu;
  std::string token;
  int calls = 0;
  static int Fn(char *buf, size_t len, void *ctx) {
    Provider *p = static_cast<Provider *>(ctx);
    std::lock_guard<std::mutex> lk(p->mu);
    p->calls++;
    if (p->token.size() <= len)
      std::memcpy(buf, p->token.data(), p->token.size());
    return static_cast<int>(p->token.size());
  }
  void Set(const std::string &t) {
    std::lock_guard<std::mutex> lk(mu);
    token = t;
  }
  int Calls() {
    std::lock_guard<std::mutex> lk(mu);
    return calls;
  }
};

TEST_F(Tls, ProviderWithLargeTokenGetsABiggerBuffer) {
  std::string big(20000, 'x');
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.require_token = big.c_str();
  StartBroker(o);
  Provider prov;
  prov.Set(big);
  pulsarc_client_conf_set_token_provider(conf_, Provider::Fn, &prov);
  ASSERT_EQ(TryCreate("tok-big"), PULSARC_OK) << log_.All();
  EXPECT_EQ(prov.Calls(), 2); // 16 KiB was too small once
}

// A token refresh in the middle of a stream: the broker challenges, the
// client answers with the provider's new token on the same connection, and
// every message is stored exactly once, in order.
TEST_F(Tls, ChallengeMidStreamRefreshesTokenWithoutLoss) {
  StartTlsBroker(g_certs->server, nullptr, kGood);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Provider prov;
  prov.Set(kGood);
  pulsarc_client_conf_set_token_provider(conf_, Provider::Fn, &prov);
  ASSERT_EQ(TryCreate("tok-refresh"), PULSARC_OK) << log_.All();
  const int kN = 4000;
  Completions done(kN);
  for (int i = 0; i < kN; i++) {
    if (i == kN / 2) {
      prov.Set(kBad); // "kBad" is simply the next valid token now
      pulsarc_tb_set_required_token(tb_, kBad);
      EXPECT_EQ(pulsarc_tb_auth_challenge(tb_), 1);
    }
    std::string m = "r-" + std::to_string(i);
    ASSERT_EQ(pulsarc_producer_send_cb(producers_[0], m.data(), m.size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_flush(producers_[0], kWaitMs), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(kN));
  for (int i = 0; i < kN; i++)
    ASSERT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  pulsarc_tb_auth_stats a = Auth();
  EXPECT_EQ(a.challenges_sent, 1u);
  EXPECT_EQ(a.responses_ok, 1u);
  EXPECT_EQ(a.responses_rejected, 0u);
  EXPECT_EQ(Stats().connections, 1u) << "the challenge must not cost the connection";
  Snapshot s(tb_, "tok-refresh");
  std::vector<StoredMsg> got = StoredMessages(s.get());
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; i++)
    ASSERT_EQ(got[i].payload, "r-" + std::to_string(i));
  EXPECT_EQ(prov.Calls(), 2); // CONNECT, then the challenge
  EXPECT_FALSE(log_.Contains(kGood));
  EXPECT_FALSE(log_.Contains(kBad));
}

// ------------------------------------------------------------ drops

// The broker drops TLS connections while large frames are in flight: each
// reconnect makes a fresh TLS session and resends, and every message
// arrives. (The deterministic no-SIGPIPE check, a TLS write to a vanished
// peer, is TlsSession.WriteToVanishedPeerFailsWithoutSigpipe.)
TEST_F(Tls, DropsDuringLargeTlsWritesLoseNothing) {
  StartTlsBroker(g_certs->server);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  ASSERT_EQ(TryCreate("tls-pipe"), PULSARC_OK) << log_.All();
  const int kN = 60;
  std::string payload(256 * 1024, 'p');
  Completions done(kN);
  for (int i = 0; i < kN; i++) {
    ASSERT_EQ(pulsarc_producer_send_cb(producers_[0], payload.data(), payload.size(), nullptr,
                                       Completions::Cb, done.ctx(i)),
              PULSARC_OK);
    if (i % 15 == 7)
      pulsarc_tb_drop_connections(tb_);
  }
  ASSERT_TRUE(done.WaitTotal(kN, 30000));
  for (int i = 0; i < kN; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  EXPECT_GE(Stats().connections, 2u);
}

} // namespace
