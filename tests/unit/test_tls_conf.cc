// TLS and authentication options: setters, validation, and what
// pulsarc_client_new does with them (no network).
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "pulsarc/pulsarc.h"

namespace {

struct Lines {
  std::mutex mu;
  std::string all;
  static void Fn(pulsarc_log_level_t, const char *line, void *ctx) {
    Lines *l = static_cast<Lines *>(ctx);
    std::lock_guard<std::mutex> lk(l->mu);
    l->all += line;
    l->all += "\n";
  }
};

class TlsConf : public ::testing::Test {
protected:
  void SetUp() override {
    conf_ = pulsarc_client_conf_new();
    pulsarc_client_conf_set_logger(conf_, Lines::Fn, &lines_);
  }
  void TearDown() override {
    pulsarc_client_destroy(client_);
    pulsarc_client_conf_destroy(conf_);
  }
  pulsarc_err_t Set(const char *k, const char *v, std::string *why = nullptr) {
    char buf[256] = "";
    pulsarc_err_t e = pulsarc_client_conf_set(conf_, k, v, buf, sizeof buf);
    if (why)
      *why = buf;
    return e;
  }
  pulsarc_client_conf_t *conf_ = nullptr;
  pulsarc_client_t *client_ = nullptr;
  Lines lines_;
};

TEST_F(TlsConf, KeysAreKnown) {
  EXPECT_EQ(Set("tls_trust_certs_file", "/tmp/ca.pem"), PULSARC_OK);
  EXPECT_EQ(Set("tls_cert_file", "/tmp/c.pem"), PULSARC_OK);
  EXPECT_EQ(Set("tls_key_file", "/tmp/k.pem"), PULSARC_OK);
  EXPECT_EQ(Set("tls_allow_insecure", "true"), PULSARC_OK);
  EXPECT_EQ(Set("tls_validate_hostname", "false"), PULSARC_OK);
  EXPECT_EQ(Set("auth_token", "abc.def.ghi"), PULSARC_OK);
  EXPECT_EQ(Set("auth_token_file", "/tmp/token"), PULSARC_OK);
  // Replacing and clearing work (and leak nothing under ASan).
  EXPECT_EQ(Set("auth_token", "other"), PULSARC_OK);
  EXPECT_EQ(Set("auth_token", ""), PULSARC_OK);
  EXPECT_EQ(Set("tls_cert_file", ""), PULSARC_OK);
  EXPECT_EQ(Set("tls_key_file", ""), PULSARC_OK);
}

TEST_F(TlsConf, BadBooleansAreRefused) {
  EXPECT_EQ(Set("tls_allow_insecure", "perhaps"), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(Set("tls_validate_hostname", "2"), PULSARC_ERR_INVALID_ARGUMENT);
}

TEST_F(TlsConf, TokenNeverEchoedInErrors) {
  std::string why;
  EXPECT_EQ(Set("auth_token", "secret-part\nsecond-line", &why), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(why.find("secret-part"), std::string::npos) << why;
  EXPECT_NE(why.find("auth_token"), std::string::npos) << why;
}

TEST_F(TlsConf, TlsUrlIsAcceptedWithSystemTrustStore) {
  EXPECT_EQ(pulsarc_client_new("pulsar+ssl://127.0.0.1:6651", conf_, &client_), PULSARC_OK);
}

TEST_F(TlsConf, MissingTrustFileFailsAtClientCreation) {
  ASSERT_EQ(Set("tls_trust_certs_file", "/nonexistent/ca.pem"), PULSARC_OK);
  EXPECT_EQ(pulsarc_client_new("pulsar+ssl://127.0.0.1:6651", conf_, &client_), PULSARC_ERR_TLS);
  EXPECT_EQ(client_, nullptr);
  EXPECT_NE(lines_.all.find("/nonexistent/ca.pem"), std::string::npos) << lines_.all;
}

TEST_F(TlsConf, CertificateWithoutKeyIsRefused) {
  ASSERT_EQ(Set("tls_cert_file", "/tmp/whatever.pem"), PULSARC_OK);
  EXPECT_EQ(pulsarc_client_new("pulsar+ssl://127.0.0.1:6651", conf_, &client_), PULSARC_ERR_TLS);
  EXPECT_NE(lines_.all.find("go together"), std::string::npos) << lines_.all;
}

TEST_F(TlsConf, MissingClientCertificateFileIsNamed) {
  ASSERT_EQ(Set("tls_cert_file", "/nonexistent/client.pem"), PULSARC_OK);
  ASSERT_EQ(Set("tls_key_file", "/nonexistent/client.key"), PULSARC_OK);
  EXPECT_EQ(pulsarc_client_new("pulsar+ssl://127.0.0.1:6651", conf_, &client_), PULSARC_ERR_TLS);
  EXPECT_NE(lines_.all.find("/nonexistent/client.pem"), std::string::npos) << lines_.all;
}

TEST_F(TlsConf, PlainUrlIgnoresTlsFilesButSaysSo) {
  ASSERT_EQ(Set("tls_cert_file", "/nonexistent/client.pem"), PULSARC_OK);
  ASSERT_EQ(Set("log_level", "warn"), PULSARC_OK);
  EXPECT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", conf_, &client_), PULSARC_OK);
  EXPECT_NE(lines_.all.find("no TLS will be used"), std::string::npos) << lines_.all;
}

// The client keeps its own copy: the conf (and its token) may go right away.
TEST_F(TlsConf, ConfMayBeDestroyedAfterClientCreation) {
  ASSERT_EQ(Set("auth_token", "tok"), PULSARC_OK);
  ASSERT_EQ(Set("tls_trust_certs_file", ""), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", conf_, &client_), PULSARC_OK);
  pulsarc_client_conf_destroy(conf_);
  conf_ = pulsarc_client_conf_new();
  SUCCEED();
}

int Provider(char *buf, size_t len, void *) {
  const char t[] = "x";
  if (len >= 1)
    buf[0] = t[0];
  return 1;
}

TEST_F(TlsConf, TokenProviderCanBeSetAndRemoved) {
  pulsarc_client_conf_set_token_provider(conf_, Provider, nullptr);
  pulsarc_client_conf_set_token_provider(conf_, nullptr, nullptr);
  pulsarc_client_conf_set_token_provider(nullptr, Provider, nullptr); // no crash
  EXPECT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", conf_, &client_), PULSARC_OK);
}

} // namespace
