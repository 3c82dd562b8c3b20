// tools/common (pulsarc_cli): the number parsing and security-flag helpers
// pulsarc-perf and pulsarc-produce share.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

extern "C" {
#include "cli.h"
}

namespace {

TEST(ToolsCli, U64WithinBounds) {
  uint64_t v = 7;
  EXPECT_EQ(pc_cli_parse_u64("0", 0, 10, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(pc_cli_parse_u64("10", 0, 10, &v), 0);
  EXPECT_EQ(v, 10u);
  EXPECT_EQ(pc_cli_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
  EXPECT_EQ(v, UINT64_MAX);
  v = 7;
  for (const char *bad : {"", "-1", "-0", "11", "1x", "x", "1 ", "18446744073709551616"})
    EXPECT_EQ(pc_cli_parse_u64(bad, 0, 10, &v), -1) << "'" << bad << "'";
  EXPECT_EQ(pc_cli_parse_u64("0", 1, 10, &v), -1) << "below the lower bound";
  EXPECT_EQ(pc_cli_parse_u64(nullptr, 0, 10, &v), -1);
  EXPECT_EQ(v, 7u) << "a refused value is not stored";
}

TEST(ToolsCli, I64WithinBounds) {
  int64_t v = 0;
  EXPECT_EQ(pc_cli_parse_i64("-5", -10, 10, &v), 0);
  EXPECT_EQ(v, -5);
  EXPECT_EQ(pc_cli_parse_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
  EXPECT_EQ(v, INT64_MAX);
  for (const char *bad : {"", "-1", "11", "3.0", "9223372036854775808"})
    EXPECT_EQ(pc_cli_parse_i64(bad, 0, 10, &v), -1) << "'" << bad << "'";
}

TEST(ToolsCli, Seconds) {
  double v = -1;
  EXPECT_EQ(pc_cli_parse_secs("0", &v), 0);
  EXPECT_EQ(v, 0.0);
  EXPECT_EQ(pc_cli_parse_secs("2.5", &v), 0);
  EXPECT_EQ(v, 2.5);
  for (const char *bad : {"", "-1", "nan", "inf", "1e8", "2s"})
    EXPECT_EQ(pc_cli_parse_secs(bad, &v), -1) << "'" << bad << "'";
}

TEST(ToolsCli, SecurityFlagValues) {
  EXPECT_STREQ(pc_cli_sec_value(PC_CLI_TLS_INSECURE, nullptr), "true");
  EXPECT_STREQ(pc_cli_sec_value(PC_CLI_TLS_NOHOST, nullptr), "false");
  EXPECT_STREQ(pc_cli_sec_value(PC_CLI_TOKEN, "abc"), "abc");
  EXPECT_STREQ(pc_cli_sec_keys[PC_CLI_TLS_NOHOST], "tls_validate_hostname");
  EXPECT_STREQ(pc_cli_sec_keys[PC_CLI_TOKEN_FILE], "auth_token_file");
  EXPECT_TRUE(pc_cli_sec_empty_token(PC_CLI_TOKEN, ""));
  EXPECT_TRUE(pc_cli_sec_empty_token(PC_CLI_TOKEN_FILE, ""));
  EXPECT_FALSE(pc_cli_sec_empty_token(PC_CLI_TOKEN, nullptr));
  EXPECT_FALSE(pc_cli_sec_empty_token(PC_CLI_TOKEN, "t"));
  EXPECT_FALSE(pc_cli_sec_empty_token(PC_CLI_TLS_CERT, ""));
  EXPECT_TRUE(pc_cli_url_is_tls("pulsar+ssl://h:6651"));
  EXPECT_FALSE(pc_cli_url_is_tls("pulsar://h:6650"));
  EXPECT_FALSE(pc_cli_url_is_tls(nullptr));
}

std::string Usage(int indent, int desc) {
  char *text = nullptr;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  pc_cli_sec_usage(f, indent, desc);
  fclose(f);
  std::string s(text, len);
  free(text);
  return s;
}

// Every flag line starts at indent, every description (and continuation)
// at desc; a flag too long for the gap gets its description on the next line.
TEST(ToolsCli, SecurityUsageColumns) {
  for (auto [indent, desc] : {std::pair{2, 27}, std::pair{6, 28}}) {
    std::string s = Usage(indent, desc);
    size_t flags = 0, pos = 0;
    while (pos < s.size()) {
      size_t nl = s.find('\n', pos);
      ASSERT_NE(nl, std::string::npos);
      std::string line = s.substr(pos, nl - pos);
      pos = nl + 1;
      size_t first = line.find_first_not_of(' ');
      ASSERT_NE(first, std::string::npos) << "blank line";
      if (line[first] == '-') {
        EXPECT_EQ(first, static_cast<size_t>(indent)) << line;
        flags++;
        // A description on the flag's own line starts exactly at desc (a
        // long flag has none there: "--oauth2-credentials-file FILE" may
        // have its own blank at desc).
        size_t gap = line.find("  ", first);
        if (gap != std::string::npos) {
          EXPECT_EQ(line.find_first_not_of(' ', gap), static_cast<size_t>(desc)) << line;
        }
      } else {
        EXPECT_EQ(first, static_cast<size_t>(desc)) << line;
      }
    }
    EXPECT_EQ(flags, static_cast<size_t>(PC_CLI_NSEC));
  }
  EXPECT_NE(Usage(6, 28).find("      --tls-no-hostname-check\n"), std::string::npos);
  EXPECT_NE(Usage(2, 27).find("  --tls-no-hostname-check  accept a broker"), std::string::npos);
}

class ToolsCliSecretFile : public ::testing::Test {
protected:
  std::string path_;
  void SetUp() override {
    char tmpl[] = "/tmp/pulsarc-cli-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Write(const std::string &s) {
    FILE *f = fopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(s.data(), 1, s.size(), f);
    fclose(f);
  }
};

TEST_F(ToolsCliSecretFile, OneTrailingNewlineDropped) {
  char buf[64];
  Write("secret\r\n");
  ASSERT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), 0);
  EXPECT_STREQ(buf, "secret");
  Write("two\n\n");
  ASSERT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), 0);
  EXPECT_STREQ(buf, "two\n");
}

TEST_F(ToolsCliSecretFile, EmptyNulOrTooLongRefused) {
  char buf[8];
  Write("\n");
  EXPECT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), -1);
  Write(std::string("a\0b", 3));
  EXPECT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), -1);
  Write("12345678");
  EXPECT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), -1);
  Write("1234567");
  EXPECT_EQ(pc_cli_read_secret_file("t", path_.c_str(), buf, sizeof buf), 0);
  EXPECT_EQ(pc_cli_read_secret_file("t", "/nonexistent/dir/f", buf, sizeof buf), -1);
}

} // namespace
