// Configuration errors fail fast and say what to fix: token files checked
// at client creation, auth-data failures at connect time not retried,
// encrypted client keys (never a terminal prompt), and error details that
// name the side that refused a certificate or the TLS a plain URL met.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
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
const char kToken[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2VjcmV0LXNpZ25hdHVyZQ";
const char kKeyPassword[] = "correct horse battery staple";

// The client certificate's key, encrypted with kKeyPassword.
std::string EncryptedClientKey() {
  std::string path = g_certs->dir + "/client-encrypted.key.pem";
  EXPECT_TRUE(pulsarc_tls_test::WriteEncryptedKey(path, g_certs->client.key, kKeyPassword));
  return path;
}

struct LogSink {
  std::mutex mu;
  std::string all;
  static void Fn(pulsarc_log_level_t, const char *line, void *ctx) {
    LogSink *s = static_cast<LogSink *>(ctx);
    std::lock_guard<std::mutex> lk(s->mu);
    s->all += line;
    s->all += "\n";
  }
  std::string All() {
    std::lock_guard<std::mutex> lk(mu);
    return all;
  }
};

// The outcome of a producer start, with the detail the ready callback saw.
struct Ready {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  pulsarc_err_t err = PULSARC_OK;
  std::string detail;
  static void Cb(pulsarc_producer_t *, pulsarc_err_t err, void *ctx) {
    Ready *r = static_cast<Ready *>(ctx);
    std::lock_guard<std::mutex> lk(r->mu);
    r->err = err;
    r->detail = pulsarc_last_error_text();
    r->done = true;
    r->cv.notify_all();
  }
  bool Wait(int ms) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::milliseconds(ms), [this] { return done; });
  }
};

class ConfigErrors : public ::testing::Test {
protected:
  static void SetUpTestSuite() { g_certs = new Certs(); }
  static void TearDownTestSuite() {
    unlink((g_certs->dir + "/client-encrypted.key.pem").c_str()); // so the directory goes too
    delete g_certs;
    g_certs = nullptr;
  }
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(60);
    conf_ = pulsarc_client_conf_new();
    pulsarc_client_conf_set_logger(conf_, LogSink::Fn, &log_);
    Set("log_level", "info");
  }
  void TearDown() override {
    if (producer_)
      pulsarc_producer_destroy(producer_);
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
  void StartBroker(const pulsarc_tls_test::KeyCert *server = nullptr, const char *ca = nullptr,
                   const char *token = nullptr) {
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    if (server) {
      o.tls_cert_file = server->cert_file.c_str();
      o.tls_key_file = server->key_file.c_str();
    }
    o.tls_ca_file = ca;
    o.require_token = token;
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
  }
  std::string Port() { return std::to_string(pulsarc_tb_port(tb_)); }
  std::string TlsUrl() { return "pulsar+ssl://127.0.0.1:" + Port(); }
  std::string PlainUrl() { return "pulsar://127.0.0.1:" + Port(); }
  uint64_t Connections() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s.connections;
  }
  // Client on url, then an asynchronous start whose ready callback keeps
  // the detail. Returns false if the outcome did not come within the bound.
  bool StartProducer(const std::string &url, Ready *r) {
    EXPECT_EQ(pulsarc_client_new(url.c_str(), conf_, &client_), PULSARC_OK)
        << pulsarc_last_error_text();
    if (client_ == nullptr)
      return false;
    EXPECT_EQ(pulsarc_producer_create_cb(client_, "cfg-topic", nullptr, Ready::Cb, r, &producer_),
              PULSARC_OK);
    return r->Wait(kWaitMs);
  }

  std::unique_ptr<Watchdog> dog_;
  LogSink log_;
  pulsarc_client_conf_t *conf_ = nullptr;
  pulsarc_tb *tb_ = nullptr;
  pulsarc_client_t *client_ = nullptr;
  pulsarc_producer_t *producer_ = nullptr;
};

// ------------------------------------------------------------ token files

TEST_F(ConfigErrors, MissingTokenFileFailsClientNew) {
  std::string path = g_certs->dir + "/no-such-token";
  Set("auth_token_file", path);
  EXPECT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", conf_, &client_), PULSARC_ERR_AUTH_DATA);
  EXPECT_EQ(client_, nullptr);
  std::string d = pulsarc_last_error_text();
  EXPECT_NE(d.find("cannot open token file " + path), std::string::npos) << d;
}

TEST_F(ConfigErrors, EmptyTokenFileFailsClientNew) {
  std::string path = g_certs->dir + "/empty-token";
  std::ofstream(path) << " \n\n";
  Set("auth_token_file", path);
  EXPECT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", conf_, &client_), PULSARC_ERR_AUTH_DATA);
  EXPECT_EQ(client_, nullptr);
  std::string d = pulsarc_last_error_text();
  EXPECT_NE(d.find("is empty"), std::string::npos) << d;
  unlink(path.c_str());
}

// The file vanishes after the client was created: the first connection
// cannot build CONNECT. That is not a connection failure to retry: the
// producer fails at once with AUTH_DATA, after one connection at most.
TEST_F(ConfigErrors, TokenFileRemovedLaterFailsProducerAtOnce) {
  StartBroker(nullptr, nullptr, kToken);
  std::string path = g_certs->dir + "/vanishing-token";
  std::ofstream(path) << kToken << "\n";
  Set("auth_token_file", path);
  Set("operation_timeout_ms", "30000");
  ASSERT_EQ(pulsarc_client_new(PlainUrl().c_str(), conf_, &client_), PULSARC_OK);
  ASSERT_EQ(unlink(path.c_str()), 0);
  Ready r;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(pulsarc_producer_create_cb(client_, "cfg-topic", nullptr, Ready::Cb, &r, &producer_),
            PULSARC_OK);
  ASSERT_TRUE(r.Wait(kWaitMs)) << "not failed within 8 s of a 30 s operation timeout";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("token file removed: producer failed after %.3f s\n", secs);
  EXPECT_EQ(r.err, PULSARC_ERR_AUTH_DATA) << pulsarc_err_name(r.err) << "\n" << log_.All();
  EXPECT_NE(r.detail.find("cannot open token file"), std::string::npos) << r.detail;
  EXPECT_LE(Connections(), 1u);
  EXPECT_EQ(log_.All().find(kToken), std::string::npos) << "the token leaked into the log";
}

// Blocking create gives the same code (the detail is the ready callback's
// above; copying it to the caller is the blocking create's business).
TEST_F(ConfigErrors, FailingTokenProviderFailsProducerAtOnce) {
  StartBroker(nullptr, nullptr, kToken);
  int calls = 0;
  pulsarc_client_conf_set_token_provider(
      conf_,
      [](char *, size_t, void *ctx) -> int {
        ++*static_cast<int *>(ctx);
        return -1;
      },
      &calls);
  Set("operation_timeout_ms", "30000");
  ASSERT_EQ(pulsarc_client_new(PlainUrl().c_str(), conf_, &client_), PULSARC_OK);
  auto t0 = std::chrono::steady_clock::now();
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "cfg-topic", nullptr, &p), PULSARC_ERR_AUTH_DATA)
      << log_.All();
  EXPECT_EQ(p, nullptr);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("token provider failing: producer failed after %.3f s\n", secs);
  EXPECT_LT(secs, 10.0) << "not well under the 30 s operation timeout";
  EXPECT_LE(Connections(), 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_NE(log_.All().find("token provider failed"), std::string::npos) << log_.All();
}

// ------------------------------------------------------- encrypted keys

// client_new in a child without a controlling terminal and with stdin on
// /dev/null, bounded: OpenSSL's default would prompt on /dev/tty and block.
// The child writes "<err> <detail>" to a pipe.
std::string ClientNewInChild(const std::vector<std::pair<std::string, std::string>> &opts) {
  int fds[2];
  if (pipe(fds) != 0)
    return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    setsid();
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    pulsarc_client_conf_t *c = pulsarc_client_conf_new();
    pulsarc_client_conf_set(c, "log_level", "off", nullptr, 0);
    for (const auto &kv : opts)
      pulsarc_client_conf_set(c, kv.first.c_str(), kv.second.c_str(), nullptr, 0);
    pulsarc_client_t *cl = nullptr;
    pulsarc_err_t e = pulsarc_client_new("pulsar+ssl://127.0.0.1:6651", c, &cl);
    std::string out = std::to_string(static_cast<int>(e)) + " " + pulsarc_last_error_text();
    if (write(fds[1], out.data(), out.size()) < 0)
      _exit(3);
    _exit(0); // no destroy: the child only reports
  }
  close(fds[1]);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    pollfd p = {fds[0], POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      out = "HUNG";
      break;
    }
    char buf[1024];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (out == "HUNG")
    kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return out;
}

TEST_F(ConfigErrors, EncryptedKeyWithoutPasswordFailsClientNewAtOnce) {
  std::string key = EncryptedClientKey();
  std::string out = ClientNewInChild({{"tls_trust_certs_file", g_certs->ca.cert_file},
                                      {"tls_cert_file", g_certs->client.cert_file},
                                      {"tls_key_file", key}});
  ASSERT_NE(out, "HUNG") << "pulsarc_client_new blocked on an encrypted key";
  EXPECT_EQ(out.rfind(std::to_string(PULSARC_ERR_TLS) + " ", 0), 0u) << out;
  EXPECT_NE(out.find("is encrypted and no tls_key_password is set"), std::string::npos) << out;
}

TEST_F(ConfigErrors, EncryptedKeyWithWrongPasswordFailsClientNew) {
  std::string key = EncryptedClientKey();
  std::string out = ClientNewInChild({{"tls_trust_certs_file", g_certs->ca.cert_file},
                                      {"tls_cert_file", g_certs->client.cert_file},
                                      {"tls_key_file", key},
                                      {"tls_key_password", "not the password"}});
  ASSERT_NE(out, "HUNG");
  EXPECT_EQ(out.rfind(std::to_string(PULSARC_ERR_TLS) + " ", 0), 0u) << out;
  EXPECT_NE(out.find("cannot decrypt client key"), std::string::npos) << out;
  EXPECT_EQ(out.find("not the password"), std::string::npos) << "the password leaked";
}

TEST_F(ConfigErrors, EncryptedKeyWithPasswordDoesMutualTls) {
  StartBroker(&g_certs->server, g_certs->ca.cert_file.c_str());
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("tls_cert_file", g_certs->client.cert_file);
  Set("tls_key_file", EncryptedClientKey());
  Set("tls_key_password", kKeyPassword);
  ASSERT_EQ(pulsarc_client_new(TlsUrl().c_str(), conf_, &client_), PULSARC_OK)
      << pulsarc_last_error_text();
  ASSERT_EQ(pulsarc_producer_create(client_, "cfg-mtls", nullptr, &producer_), PULSARC_OK)
      << log_.All();
  ASSERT_EQ(pulsarc_producer_send(producer_, "x", 1, nullptr, nullptr), PULSARC_OK);
  pulsarc_tb_auth_stats a;
  pulsarc_tb_get_auth_stats(tb_, &a);
  EXPECT_GE(a.client_certs, 1u);
  EXPECT_STREQ(a.last_method, "tls");
  EXPECT_EQ(log_.All().find(kKeyPassword), std::string::npos) << "the password leaked";
}

// --------------------------------------------------------- error details

TEST_F(ConfigErrors, PlainUrlToTlsBrokerSaysTlsMayBeRequired) {
  StartBroker(&g_certs->server);
  Set("operation_timeout_ms", "1500");
  Ready r;
  ASSERT_TRUE(StartProducer(PlainUrl(), &r));
  EXPECT_NE(r.err, PULSARC_OK);
  EXPECT_NE(r.detail.find("TLS may be required"), std::string::npos)
      << pulsarc_err_name(r.err) << ": " << r.detail << "\n"
      << log_.All();
  EXPECT_NE(r.detail.find("pulsar+ssl://"), std::string::npos) << r.detail;
}

struct Rejection {
  const char *name;
  int server;        // 0 server, 1 foreign CA, 2 expired, 3 wrong host
  int client;        // 0 none, 1 ours, 2 foreign client certificate
  bool require_cert; // the broker requires client certificates
  std::vector<const char *> any_of;
};

void PrintTo(const Rejection &r, std::ostream *os) { *os << r.name; }

class CertRejection : public ConfigErrors, public ::testing::WithParamInterface<Rejection> {};

TEST_P(CertRejection, DetailNamesTheSide) {
  const Rejection &rj = GetParam();
  const pulsarc_tls_test::KeyCert *servers[] = {&g_certs->server, &g_certs->foreign,
                                                &g_certs->expired, &g_certs->wrong_host};
  StartBroker(servers[rj.server], rj.require_cert ? g_certs->ca.cert_file.c_str() : nullptr);
  Set("tls_trust_certs_file", g_certs->ca.cert_file);
  Set("operation_timeout_ms", "3000");
  if (rj.client != 0) {
    const pulsarc_tls_test::KeyCert &kc =
        rj.client == 1 ? g_certs->client : g_certs->foreign_client;
    Set("tls_cert_file", kc.cert_file);
    Set("tls_key_file", kc.key_file);
  }
  Ready r;
  ASSERT_TRUE(StartProducer(TlsUrl(), &r));
  EXPECT_EQ(r.err, PULSARC_ERR_TLS) << pulsarc_err_name(r.err) << "\n" << log_.All();
  bool found = false;
  for (const char *s : rj.any_of)
    found = found || r.detail.find(s) != std::string::npos;
  EXPECT_TRUE(found) << r.detail << "\n" << log_.All();
}

INSTANTIATE_TEST_SUITE_P(
    Sides, CertRejection,
    ::testing::Values(
        Rejection{"UnknownCa", 1, 0, false, {"we rejected the broker's certificate: unknown CA"}},
        Rejection{"Expired", 2, 0, false, {"we rejected the broker's certificate: expired"}},
        Rejection{
            "WrongHost", 3, 0, false, {"we rejected the broker's certificate: host name mismatch"}},
        Rejection{"ForeignClientCert", 0, 2, true, {"rejected our client certificate"}},
        Rejection{"NoClientCert",
                  0,
                  0,
                  true,
                  {"the broker requires a client certificate",
                   "it most likely requires a client certificate"}}),
    [](const ::testing::TestParamInfo<Rejection> &i) { return std::string(i.param.name); });

} // namespace
