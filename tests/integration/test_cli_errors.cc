// pulsarc-produce and pulsarc-perf against the in-process test broker: the
// final error line carries the reason, configuration mistakes are caught
// before any connection, plaintext with credentials is warned about, and
// --tls-no-hostname-check relaxes only the host name.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "harness.h"
#include "oauth2_server.h"
#include "test_tls_certs.h"

extern char **environ;

using namespace pulsarc_it;
using pulsarc_tls_test::Certs;

namespace {

#if defined(PULSARC_PRODUCE_PROGRAM) && defined(PULSARC_PERF_PROGRAM)

Certs *g_certs = nullptr;
const char kKeyPassword[] = "correct horse battery staple";

struct ToolRun {
  int status = -1; // exit status; -1: killed (hang) or not started
  std::string out; // stdout and stderr together
  std::string LastLine() const {
    std::string s = out;
    while (!s.empty() && s.back() == '\n')
      s.pop_back();
    size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }
};

// Runs a CLI in a session of its own (no controlling terminal) with stdin
// on /dev/null, for at most 30 s, with this process's environment plus
// `extra_env` ("NAME=value" entries, which win).
ToolRun RunTool(const char *program, const std::vector<std::string> &args,
                const std::vector<std::string> &extra_env = {}) {
  ToolRun r;
  int fds[2];
  if (pipe(fds) != 0)
    return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<char *> argv;
  argv.push_back(const_cast<char *>(program));
  for (const auto &a : args)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char *> envp;
  for (const auto &e : extra_env)
    envp.push_back(const_cast<char *>(e.c_str()));
  for (char **e = environ; *e != nullptr; e++) {
    bool overridden = false;
    for (const auto &x : extra_env)
      overridden |= strncmp(*e, x.c_str(), x.find('=') + 1) == 0;
    if (!overridden)
      envp.push_back(*e);
  }
  envp.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, program, &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool hung = false;
  for (;;) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    pollfd p = {fds[0], POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      hung = true;
      break;
    }
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (hung)
    kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = !hung && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

ToolRun Produce(const std::vector<std::string> &args,
                const std::vector<std::string> &extra_env = {}) {
  return RunTool(PULSARC_PRODUCE_PROGRAM, args, extra_env);
}
ToolRun Perf(const std::vector<std::string> &args) { return RunTool(PULSARC_PERF_PROGRAM, args); }

class CliErrors : public ::testing::Test {
protected:
  static void SetUpTestSuite() { g_certs = new Certs(); }
  static void TearDownTestSuite() {
    delete g_certs;
    g_certs = nullptr;
  }
  void SetUp() override { dog_ = std::make_unique<Watchdog>(90); }
  void TearDown() override {
    pulsarc_tb_free(tb_);
    dog_.reset();
  }
  void StartBroker(const pulsarc_tls_test::KeyCert *server = nullptr, const char *ca = nullptr) {
    pulsarc_tb_opts o = pulsarc_tb_opts_default();
    if (server) {
      o.tls_cert_file = server->cert_file.c_str();
      o.tls_key_file = server->key_file.c_str();
    }
    o.tls_ca_file = ca;
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
  }
  std::string Port() { return std::to_string(pulsarc_tb_port(tb_)); }
  uint64_t Connections() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s.connections;
  }
  std::string WriteFile(const std::string &name, const std::string &content) {
    std::string path = g_certs->dir + "/" + name;
    std::ofstream(path) << content;
    files_.push_back(path);
    return path;
  }
  std::string EncryptedClientKey() {
    std::string path = g_certs->dir + "/cli-client-encrypted.key.pem";
    EXPECT_TRUE(pulsarc_tls_test::WriteEncryptedKey(path, g_certs->client.key, kKeyPassword));
    files_.push_back(path);
    return path;
  }
  ~CliErrors() override {
    for (const auto &f : files_)
      unlink(f.c_str());
  }

  std::unique_ptr<Watchdog> dog_;
  pulsarc_tb *tb_ = nullptr;
  std::vector<std::string> files_;
};

// The last line names the error and the reason (here: which file).
TEST_F(CliErrors, ProduceFinalLineCarriesTheReason) {
  StartBroker();
  std::string missing = g_certs->dir + "/no-such-token";
  ToolRun r = Produce({"--service-url", "pulsar://127.0.0.1:" + Port(), "-t", "cli-t", "-m", "x",
                       "--token-file", missing});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.LastLine().find("authentication data could not be obtained"), std::string::npos)
      << r.out;
  EXPECT_NE(r.LastLine().find("cannot open token file " + missing), std::string::npos) << r.out;
  EXPECT_EQ(Connections(), 0u) << "a configuration error cost a connection";
}

TEST_F(CliErrors, PerfFinalLineCarriesTheReason) {
  std::string empty = WriteFile("perf-empty-token", "\n");
  ToolRun r = Perf({"--messages", "10", "--quiet", "--token-file", empty});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.LastLine().find("authentication data could not be obtained"), std::string::npos)
      << r.out;
  EXPECT_NE(r.LastLine().find("is empty"), std::string::npos) << r.out;
}

TEST_F(CliErrors, EmptyTokenIsAUsageError) {
  ToolRun p = Produce({"-t", "cli-t", "-m", "x", "--token", ""});
  EXPECT_EQ(p.status, 2) << p.out;
  EXPECT_NE(p.out.find("--token is empty"), std::string::npos) << p.out;
  ToolRun q = Perf({"--messages", "10", "--quiet", "--token", ""});
  EXPECT_EQ(q.status, 2) << q.out;
  EXPECT_NE(q.out.find("--token (empty)"), std::string::npos) << q.out;
}

// The official clients accept a token over plain TCP; so do we, but never
// silently.
TEST_F(CliErrors, TokenOrTrustCertOverPlaintextIsWarnedAbout) {
  StartBroker();
  std::string url = "pulsar://127.0.0.1:" + Port();
  ToolRun a = Produce({"--service-url", url, "-t", "cli-t", "-m", "x", "--token", "abc"});
  EXPECT_EQ(a.status, 0) << a.out;
  EXPECT_NE(a.out.find("warning: " + url + " is plaintext: the token is sent unencrypted"),
            std::string::npos)
      << a.out;
  EXPECT_EQ(a.out.find("abc"), std::string::npos) << "the token was echoed";
  ToolRun b = Produce(
      {"--service-url", url, "-t", "cli-t", "-m", "x", "--tls-trust-cert", g_certs->ca.cert_file});
  EXPECT_EQ(b.status, 0) << b.out;
  EXPECT_NE(b.out.find("is plaintext: the TLS options are not used"), std::string::npos) << b.out;
  ToolRun c = Perf({"--service-url", url, "--messages", "10", "--quiet", "--token", "abc"});
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("is plaintext: the token is sent unencrypted"), std::string::npos) << c.out;
}

TEST_F(CliErrors, KeyPasswordFileUnlocksAnEncryptedKey) {
  StartBroker(&g_certs->server, g_certs->ca.cert_file.c_str());
  std::string key = EncryptedClientKey();
  std::vector<std::string> base = {"--service-url",    "pulsar+ssl://127.0.0.1:" + Port(),
                                   "--tls-trust-cert", g_certs->ca.cert_file,
                                   "--tls-cert",       g_certs->client.cert_file,
                                   "--tls-key",        key};
  std::vector<std::string> produce = base;
  for (const char *a : {"-t", "cli-mtls", "-m", "x"})
    produce.push_back(a);
  ToolRun without = Produce(produce);
  EXPECT_EQ(without.status, 1) << without.out;
  EXPECT_NE(without.LastLine().find("no tls_key_password is set"), std::string::npos)
      << without.out;
  std::vector<std::string> with = produce;
  with.push_back("--tls-key-password-file");
  with.push_back(WriteFile("key-password", std::string(kKeyPassword) + "\n"));
  ToolRun ok = Produce(with);
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(ok.out.find(kKeyPassword), std::string::npos) << "the password was echoed";
  std::vector<std::string> perf = base;
  for (const char *a : {"--messages", "10", "--quiet", "--tls-key-password-file"})
    perf.push_back(a);
  perf.push_back(g_certs->dir + "/key-password");
  ToolRun p = Perf(perf);
  EXPECT_EQ(p.status, 0) << p.out;
}

// Host name check off: a trusted chain naming another host is accepted; an
// untrusted chain still is not.
TEST_F(CliErrors, NoHostnameCheckStillVerifiesTheChain) {
  StartBroker(&g_certs->wrong_host);
  std::vector<std::string> args = {"--service-url",
                                   "pulsar+ssl://127.0.0.1:" + Port(),
                                   "--tls-trust-cert",
                                   g_certs->ca.cert_file,
                                   "-t",
                                   "cli-host",
                                   "-m",
                                   "x"};
  ToolRun strict = Produce(args);
  EXPECT_EQ(strict.status, 1) << strict.out;
  EXPECT_NE(strict.out.find("we rejected the broker's certificate: host name mismatch"),
            std::string::npos)
      << strict.out;
  args.push_back("--tls-no-hostname-check");
  ToolRun relaxed = Produce(args);
  EXPECT_EQ(relaxed.status, 0) << relaxed.out;
  std::vector<std::string> perf = {"--service-url",    "pulsar+ssl://127.0.0.1:" + Port(),
                                   "--tls-trust-cert", g_certs->ca.cert_file,
                                   "--messages",       "10",
                                   "--quiet",          "--tls-no-hostname-check"};
  ToolRun p = Perf(perf);
  EXPECT_EQ(p.status, 0) << p.out;
  pulsarc_tb_free(tb_);
  tb_ = nullptr;

  StartBroker(&g_certs->foreign);
  args[1] = "pulsar+ssl://127.0.0.1:" + Port();
  ToolRun untrusted = Produce(args);
  EXPECT_EQ(untrusted.status, 1) << untrusted.out;
  EXPECT_NE(untrusted.out.find("we rejected the broker's certificate: unknown CA"),
            std::string::npos)
      << untrusted.out;
  perf[1] = args[1];
  ToolRun pu = Perf(perf);
  EXPECT_EQ(pu.status, 1) << pu.out;
}

// Each --oauth2-* flag reaches its option in both tools: the HTTPS token
// endpoint (verified through --tls-trust-cert) sees the audience and scope,
// and the broker accepts the token it issued.
TEST_F(CliErrors, OAuth2FlagsReachTheirOptions) {
  StartBroker();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_use_certificate_chain_file(ctx, g_certs->server.cert_file.c_str()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx, g_certs->server.key_file.c_str(), SSL_FILETYPE_PEM),
            1);
  {
    pulsarc_oauth2_test::TokenServer::Opts so;
    so.tls = ctx;
    pulsarc_oauth2_test::TokenServer ts(so);
    std::string creds =
        WriteFile("cli-oauth2.json", "{\"client_id\":\"" + so.client_id +
                                         "\",\"client_secret\":\"" + so.client_secret + "\"}");
    std::vector<std::string> flags = {"--oauth2-issuer-url",
                                      ts.Issuer(),
                                      "--oauth2-credentials-file",
                                      creds,
                                      "--oauth2-audience",
                                      "aud-cli",
                                      "--oauth2-scope",
                                      "scope-cli",
                                      "--tls-trust-cert",
                                      g_certs->ca.cert_file};
    std::string url = "pulsar://127.0.0.1:" + Port();
    pulsarc_tb_set_required_token(tb_, ts.TokenFor(1).c_str());
    std::vector<std::string> a = {"--service-url", url, "-t", "cli-oauth2", "-m", "x"};
    a.insert(a.end(), flags.begin(), flags.end());
    ToolRun p = Produce(a);
    EXPECT_EQ(p.status, 0) << p.out;
    pulsarc_tb_set_required_token(tb_, ts.TokenFor(2).c_str());
    a = {"--service-url", url, "--messages", "10", "--quiet"};
    a.insert(a.end(), flags.begin(), flags.end());
    ToolRun q = Perf(a);
    EXPECT_EQ(q.status, 0) << q.out;
    std::vector<std::string> bodies = ts.TokenBodies();
    ASSERT_EQ(bodies.size(), 2u);
    for (const std::string &b : bodies) {
      EXPECT_EQ(pulsarc_oauth2_test::FormField(b, "audience"), "aud-cli");
      EXPECT_EQ(pulsarc_oauth2_test::FormField(b, "scope"), "scope-cli");
    }
    EXPECT_EQ(p.out.find(so.client_secret), std::string::npos) << p.out;
    EXPECT_EQ(q.out.find(so.client_secret), std::string::npos) << q.out;
  }
  SSL_CTX_free(ctx);
}

// OAuth2 loads libcurl when first used; a libcurl.so.4 that lacks its API
// (a stub first on LD_LIBRARY_PATH) fails the client's creation at once with
// PULSARC_ERR_AUTH_DATA and the missing function's name, instead of a
// connection retried until the operation timeout. The issuer is never
// contacted, so any URL will do.
#ifdef PULSARC_STUB_CURL_DIR
TEST_F(CliErrors, OAuth2WithoutUsableLibcurlSaysWhy) {
  StartBroker();
  std::string creds =
      WriteFile("cli-oauth2-nocurl.json", "{\"client_id\":\"c\",\"client_secret\":\"s\"}");
  auto t0 = std::chrono::steady_clock::now();
  ToolRun r =
      Produce({"--service-url", "pulsar://127.0.0.1:" + Port(), "-t", "cli-nocurl", "-m", "x",
               "--oauth2-issuer-url", "https://127.0.0.1:9/", "--oauth2-credentials-file", creds},
              {std::string("LD_LIBRARY_PATH=") + PULSARC_STUB_CURL_DIR});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.LastLine().find("lacks curl_global_init"), std::string::npos) << r.out;
  EXPECT_NE(r.LastLine().find("PULSARC_ERR_AUTH_DATA"), std::string::npos) << r.out;
  EXPECT_EQ(Connections(), 0u) << "the broker was dialled: " << r.out;
  // Not a retry loop: far below the 30 s operation timeout it would run to.
  EXPECT_LT(took, 20.0) << r.out;
}
#endif

#endif

} // namespace
