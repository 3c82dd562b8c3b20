// OAuth2 client credentials against a local token endpoint
// (oauth2_server.h) and the in-process test broker (which checks the exact
// token in CONNECT and AUTH_RESPONSE): the token fetched at client creation
// and sent in CONNECT, a refresh before expiry answered on the same
// connection when the broker challenges, a bad secret failing fast with the
// endpoint asked once, https only by default and verified, the official
// auth-params JSON, and the secret in no log line or error text.
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"
#include "oauth2_server.h"
#include "test_tls_certs.h"

using namespace pulsarc_it;
using pulsarc_oauth2_test::FormField;
using pulsarc_oauth2_test::TokenServer;

namespace {

class OAuth2 : public ::testing::Test {
protected:
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(60);
    conf_ = pulsarc_client_conf_new();
    pulsarc_client_conf_set_logger(conf_, LogSink::Fn, &log_);
    Set("log_level", "debug"); // every line the library can write is checked for the secret
    Set("operation_timeout_ms", "4000");
    char tmpl[] = "/tmp/pulsarc-oauth2-XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "/tmp";
  }
  void TearDown() override {
    for (pulsarc_producer_t *p : producers_)
      pulsarc_producer_destroy(p);
    if (client_)
      pulsarc_client_destroy(client_);
    pulsarc_client_conf_destroy(conf_);
    pulsarc_tb_free(tb_);
    for (const std::string &f : files_)
      unlink(f.c_str());
    rmdir(dir_.c_str());
    dog_.reset();
  }
  void Set(const char *k, const std::string &v) {
    char err[256] = "";
    ASSERT_EQ(pulsarc_client_conf_set(conf_, k, v.c_str(), err, sizeof err), PULSARC_OK) << err;
  }
  std::string WriteFile(const std::string &name, const std::string &text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  std::string CredsJson(const std::string &id, const std::string &secret,
                        const std::string &issuer = "") {
    std::string j = "{\"type\":\"client_credentials\",\"client_id\":\"" + id +
                    "\",\"client_secret\":\"" + secret + "\"";
    if (!issuer.empty())
      j += ",\"issuer_url\":\"" + issuer + "\"";
    return j + "}";
  }
  // Plain-http issuer (the test option) with the given credentials file.
  void UseServer(const TokenServer &ts, const std::string &secret) {
    Set("oauth2_issuer_url", ts.Issuer());
    Set("oauth2_credentials_file",
        WriteFile("creds.json", CredsJson("pulsarc-test-client", secret)));
    Set("oauth2_allow_http", "true");
  }
  void StartBroker(const std::string &token) {
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    o.require_token = token.c_str(); // copied by the broker
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
    url_ = pulsarc_tb_service_url(tb_);
  }
  pulsarc_err_t NewClient() {
    return pulsarc_client_new(url_.empty() ? "pulsar://127.0.0.1:1" : url_.c_str(), conf_,
                              &client_);
  }
  pulsarc_err_t Create(const std::string &topic) {
    pulsarc_producer_t *p = nullptr;
    pulsarc_err_t e = pulsarc_producer_create(client_, topic.c_str(), nullptr, &p);
    if (p)
      producers_.push_back(p);
    return e;
  }
  pulsarc_tb_auth_stats Auth() {
    pulsarc_tb_auth_stats s;
    pulsarc_tb_get_auth_stats(tb_, &s);
    return s;
  }
  pulsarc_tb_stats Stats() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s;
  }

  std::unique_ptr<Watchdog> dog_;
  LogSink log_;
  std::string dir_;
  std::vector<std::string> files_;
  pulsarc_client_conf_t *conf_ = nullptr;
  pulsarc_tb *tb_ = nullptr;
  std::string url_;
  pulsarc_client_t *client_ = nullptr;
  std::vector<pulsarc_producer_t *> producers_;
};

const char *const kSecret = "S3cr3t-0f-the-t3st-client";

TEST_F(OAuth2, TokenFetchedAndSentInConnect) {
  TokenServer ts({});
  StartBroker(ts.TokenFor(1));
  UseServer(ts, kSecret);
  Set("oauth2_audience", "urn:pulsar:test cluster");
  Set("oauth2_scope", "produce consume");
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text() << "\n" << log_.All();
  ASSERT_EQ(Create("oauth2-basic"), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(pulsarc_producer_send(producers_[0], "x", 1, nullptr, nullptr), PULSARC_OK);
  pulsarc_tb_auth_stats a = Auth();
  EXPECT_EQ(a.connects_ok, 1u);
  EXPECT_EQ(a.connects_rejected, 0u);
  EXPECT_STREQ(a.last_method, "token");
  EXPECT_EQ(ts.DiscoveryHits(), 1);
  EXPECT_EQ(ts.TokenHits(), 1);
  std::vector<std::string> bodies = ts.TokenBodies();
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(FormField(bodies[0], "grant_type"), "client_credentials");
  EXPECT_EQ(FormField(bodies[0], "client_id"), "pulsarc-test-client");
  EXPECT_EQ(FormField(bodies[0], "audience"), "urn:pulsar:test cluster");
  EXPECT_EQ(FormField(bodies[0], "scope"), "produce consume");
  EXPECT_FALSE(log_.Contains(kSecret)) << log_.All();
  EXPECT_FALSE(log_.Contains(ts.TokenFor(1)));
  EXPECT_TRUE(log_.Contains("oauth2_allow_http is on")) << log_.All();
}

// The first token lives 2 s: the refresher fetches the second before it
// expires while messages flow; the broker then wants the new token and
// challenges, and the answer (the cached new token) keeps the connection.
// The challenge waits for the refresher's "refreshed" line, not for the
// endpoint's second hit: the hit is counted before the reply is written,
// and a challenge in between was rightly answered with the first token,
// still valid, which the broker now refuses (seen on a loaded machine; the
// server's reply delay makes that window wide on every run).
TEST_F(OAuth2, ExpiryRefreshAnsweredOnSameConnection) {
  TokenServer::Opts so;
  so.lifetimes = {2, 3600};
  so.token_reply_delay_ms = 300;
  TokenServer ts(so);
  StartBroker(ts.TokenFor(1));
  UseServer(ts, kSecret);
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(Create("oauth2-refresh"), PULSARC_OK) << pulsarc_last_error_text();
  const int kN = 400;
  Completions done(kN);
  int sent = 0;
  auto send_one = [&] {
    std::string m = "r-" + std::to_string(sent);
    ASSERT_EQ(pulsarc_producer_send_cb(producers_[0], m.data(), m.size(), nullptr, Completions::Cb,
                                       done.ctx((size_t)sent)),
              PULSARC_OK);
    sent++;
  };
  // Sends keep flowing while the token ages (bounded: refresh is due at 1 s).
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (ts.TokenHits() < 2 && std::chrono::steady_clock::now() < until && sent < kN / 2) {
    send_one();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(WaitUntil([&] { return log_.Contains("oauth2: access token refreshed"); }, 15000))
      << log_.All();
  pulsarc_tb_set_required_token(tb_, ts.TokenFor(2).c_str());
  EXPECT_EQ(pulsarc_tb_auth_challenge(tb_), 1);
  while (sent < kN)
    send_one();
  ASSERT_EQ(pulsarc_producer_flush(producers_[0], kWaitMs), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal((size_t)kN));
  for (int i = 0; i < kN; i++)
    ASSERT_EQ(done.at((size_t)i).err.load(), PULSARC_OK) << i;
  ASSERT_TRUE(WaitUntil([&] { return Auth().responses_ok + Auth().responses_rejected >= 1; }));
  pulsarc_tb_auth_stats a = Auth();
  EXPECT_EQ(a.challenges_sent, 1u);
  EXPECT_EQ(a.responses_ok, 1u) << "the challenge must be answered with the refreshed token";
  EXPECT_EQ(a.responses_rejected, 0u);
  EXPECT_EQ(Stats().connections, 1u) << "the refresh must not cost the connection";
  EXPECT_EQ(ts.TokenHits(), 2);
  Snapshot s(tb_, "oauth2-refresh");
  EXPECT_EQ(StoredMessages(s.get()).size(), static_cast<size_t>(kN));
  EXPECT_FALSE(log_.Contains(kSecret)) << log_.All();
}

// The secret is revoked after the first token: refreshes fail (retried on
// the refresher thread), and once the token has expired the broker's
// challenge is not answered with it: the connection fails at once with
// AUTH_DATA naming the refresh error (no HTTP inside the loop).
TEST_F(OAuth2, ExpiredTokenWithFailingRefreshIsNotSent) {
  TokenServer::Opts so;
  so.lifetimes = {2};
  TokenServer ts(so);
  StartBroker(ts.TokenFor(1));
  UseServer(ts, kSecret);
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
  ts.SetSecret("revoked-now");
  ASSERT_EQ(Create("oauth2-expired"), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_TRUE(WaitUntil([&] { return ts.TokenHits() >= 2; }, 15000)); // refresh refused
  // Past the 2 s lifetime (the first refresh ran at 1 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(pulsarc_tb_auth_challenge(tb_), 1);
  ASSERT_TRUE(WaitUntil([&] { return log_.Contains("expired and no refresh succeeded"); }))
      << log_.All();
  // The refresher logs its refusal after the endpoint's hit: waited for.
  EXPECT_TRUE(WaitUntil([&] { return log_.Contains("refused client_id"); })) << log_.All();
  EXPECT_EQ(Auth().responses_ok + Auth().responses_rejected, 0u) << "the expired token was sent";
  EXPECT_FALSE(log_.Contains(kSecret)) << log_.All();
  EXPECT_FALSE(log_.Contains("revoked-now")) << log_.All();
}

// Creating an OAuth2 client waits for HTTP: refused inside a callback,
// which runs on an I/O thread, before any request.
TEST_F(OAuth2, ClientCreationRefusedOnAnIoThread) {
  TokenServer ts({});
  StartBroker(ts.TokenFor(1));
  UseServer(ts, kSecret);
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(Create("oauth2-cb"), PULSARC_OK) << pulsarc_last_error_text();
  struct Ctx {
    pulsarc_client_conf_t *conf;
    std::string url;
    std::atomic<int> err{-1};
  } ctx{conf_, url_};
  auto cb = [](pulsarc_err_t, const pulsarc_msg_id_t *, void *p) {
    Ctx *c = static_cast<Ctx *>(p);
    pulsarc_client_t *inner = nullptr;
    c->err = pulsarc_client_new(c->url.c_str(), c->conf, &inner);
    if (inner)
      pulsarc_client_destroy(inner);
  };
  ASSERT_EQ(pulsarc_producer_send_cb(producers_[0], "x", 1, nullptr, cb, &ctx), PULSARC_OK);
  ASSERT_TRUE(WaitUntil([&] { return ctx.err.load() != -1; }));
  EXPECT_EQ(ctx.err.load(), PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(ts.TokenHits(), 1) << "only the outer client asked for a token";
}

TEST_F(OAuth2, BadSecretFailsFastEndpointAskedOnce) {
  TokenServer ts({});
  UseServer(ts, "not-the-secret-at-all");
  auto t0 = std::chrono::steady_clock::now();
  pulsarc_err_t e = NewClient();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(e, PULSARC_ERR_BROKER_AUTHENTICATION) << pulsarc_err_name(e);
  EXPECT_FALSE(pulsarc_err_is_retriable(e));
  std::string why = pulsarc_last_error_text();
  EXPECT_NE(why.find("refused client_id \"pulsarc-test-client\""), std::string::npos) << why;
  EXPECT_NE(why.find("HTTP 401: invalid_client (client authentication failed)"), std::string::npos)
      << why;
  EXPECT_EQ(why.find("not-the-secret-at-all"), std::string::npos) << why;
  EXPECT_EQ(ts.TokenHits(), 1) << "a refusal is not retried";
  EXPECT_LT(secs, 5.0) << "no retry loop, no timeout waited out";
  EXPECT_FALSE(log_.Contains("not-the-secret-at-all")) << log_.All();
  EXPECT_TRUE(log_.Contains("refused client_id")) << log_.All();
}

// https is the default: a plain-http issuer is refused before any request.
TEST_F(OAuth2, PlainHttpIssuerRefusedWithoutTestOption) {
  TokenServer ts({});
  Set("oauth2_issuer_url", ts.Issuer());
  Set("oauth2_credentials_file",
      WriteFile("creds.json", CredsJson("pulsarc-test-client", kSecret)));
  EXPECT_EQ(NewClient(), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("is not https://"), std::string::npos)
      << pulsarc_last_error_text();
  EXPECT_EQ(ts.DiscoveryHits() + ts.TokenHits(), 0);
}

// The HTTPS endpoint's certificate is verified: trusted through
// tls_trust_certs_file it works; with the system store alone it is refused
// before the secret leaves.
TEST_F(OAuth2, HttpsEndpointVerifiedAgainstTrustStore) {
  pulsarc_tls_test::Certs certs;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_use_certificate_chain_file(ctx, certs.server.cert_file.c_str()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx, certs.server.key_file.c_str(), SSL_FILETYPE_PEM), 1);
  {
    TokenServer::Opts so;
    so.tls = ctx;
    TokenServer ts(so);
    Set("oauth2_credentials_file",
        WriteFile("creds.json", CredsJson("pulsarc-test-client", kSecret, ts.Issuer())));
    EXPECT_EQ(NewClient(), PULSARC_ERR_AUTH_DATA);
    std::string why = pulsarc_last_error_text();
    EXPECT_NE(why.find("OpenID discovery at https://127.0.0.1:"), std::string::npos) << why;
    EXPECT_NE(why.find("certificate"), std::string::npos) << why;
    EXPECT_EQ(ts.DiscoveryHits() + ts.TokenHits(), 0);

    Set("tls_trust_certs_file", certs.ca.cert_file);
    ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
    EXPECT_EQ(ts.DiscoveryHits(), 1);
    EXPECT_EQ(ts.TokenHits(), 1);
    pulsarc_client_destroy(client_);
    client_ = nullptr;
  }
  SSL_CTX_free(ctx);
}

std::string Base64(const std::string &in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(&out[0]),
                          reinterpret_cast<const unsigned char *>(in.data()), (int)in.size());
  out.resize((size_t)n);
  return out;
}

// The official clients' auth-params JSON: issuerUrl (Java's spelling) with
// a data: URL, then issuer_url with a file:// URL; audience from the params.
TEST_F(OAuth2, OfficialAuthParamsJson) {
  TokenServer ts({});
  StartBroker(ts.TokenFor(1));
  std::string creds = CredsJson("pulsarc-test-client", kSecret);
  Set("oauth2_params", "{\"type\":\"client_credentials\",\"issuerUrl\":\"" + ts.Issuer() +
                           "\",\"privateKey\":\"data:application/json;base64," + Base64(creds) +
                           "\",\"audience\":\"aud-1\"}");
  Set("oauth2_allow_http", "true");
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(Create("oauth2-params"), PULSARC_OK) << pulsarc_last_error_text();
  EXPECT_EQ(Auth().connects_ok, 1u);
  ASSERT_EQ(ts.TokenBodies().size(), 1u);
  EXPECT_EQ(FormField(ts.TokenBodies()[0], "audience"), "aud-1");
  for (pulsarc_producer_t *p : producers_)
    pulsarc_producer_destroy(p);
  producers_.clear();
  pulsarc_client_destroy(client_);
  client_ = nullptr;

  std::string path = WriteFile("key.json", creds);
  Set("oauth2_params", "{\"issuer_url\":\"" + ts.Issuer() + "\",\"private_key\":\"file://" + path +
                           "\",\"scope\":\"s-2\"}");
  ASSERT_EQ(NewClient(), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(ts.TokenBodies().size(), 2u);
  EXPECT_EQ(FormField(ts.TokenBodies()[1], "scope"), "s-2");
  EXPECT_EQ(FormField(ts.TokenBodies()[1], "audience"), "");
  EXPECT_FALSE(log_.Contains(kSecret)) << log_.All();
}

TEST_F(OAuth2, ConfigurationMistakesFailClientCreation) {
  TokenServer ts({});
  UseServer(ts, kSecret);
  Set("auth_token", "abc");
  EXPECT_EQ(NewClient(), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("choose one"), std::string::npos);
  Set("auth_token", "");

  Set("oauth2_credentials_file", WriteFile("bad.json", "{\"client_id\":\"x\"}"));
  EXPECT_EQ(NewClient(), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("client_secret"), std::string::npos);

  Set("oauth2_credentials_file", dir_ + "/missing.json");
  EXPECT_EQ(NewClient(), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("cannot open"), std::string::npos);

  Set("oauth2_credentials_file", "");
  EXPECT_EQ(NewClient(), PULSARC_ERR_INVALID_ARGUMENT); // an issuer alone
  EXPECT_EQ(ts.DiscoveryHits() + ts.TokenHits(), 0);
}

// An issuer nobody listens on: creation fails with AUTH_DATA, not a hang.
TEST_F(OAuth2, UnreachableIssuerFailsCreation) {
  int port;
  {
    TokenServer ts({});
    port = ts.port();
  }
  Set("oauth2_issuer_url", "http://127.0.0.1:" + std::to_string(port) + "/issuer");
  Set("oauth2_credentials_file",
      WriteFile("creds.json", CredsJson("pulsarc-test-client", kSecret)));
  Set("oauth2_allow_http", "true");
  EXPECT_EQ(NewClient(), PULSARC_ERR_AUTH_DATA);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("OpenID discovery"), std::string::npos)
      << pulsarc_last_error_text();
}

} // namespace
