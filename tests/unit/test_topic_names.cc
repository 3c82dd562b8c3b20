// Topic name completion/validation, service URL parsing and the Java string
// hash used for key routing (src/client/topic.h). Pure functions: no network.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

extern "C" {
#include "client/topic.h"
}

namespace {

struct TopicCase {
  const char *in;
  const char *want; // nullptr: must be rejected with INVALID_TOPIC
};

class TopicComplete : public ::testing::TestWithParam<TopicCase> {};

TEST_P(TopicComplete, CompletesOrRejects) {
  const TopicCase &c = GetParam();
  char out[PC_TOPIC_MAX];
  std::memset(out, 'X', sizeof out);
  pulsarc_err_t e = pc_topic_complete(c.in, out, sizeof out);
  if (c.want != nullptr) {
    ASSERT_EQ(e, PULSARC_OK) << "input \"" << c.in << "\"";
    EXPECT_STREQ(out, c.want);
  } else {
    EXPECT_EQ(e, PULSARC_ERR_INVALID_TOPIC) << "input \"" << c.in << "\" gave " << out;
  }
}

const TopicCase kTopicCases[] = {
    // Accepted forms.
    {"t", "persistent://public/default/t"},
    {"my-topic.v1_x=y:z", "persistent://public/default/my-topic.v1_x=y:z"},
    {"my-tenant/my-ns/my-topic", "persistent://my-tenant/my-ns/my-topic"},
    {"persistent://a/b/t", "persistent://a/b/t"},
    {"non-persistent://a/b/t", "non-persistent://a/b/t"},
    {"persistent://a/cluster/b/t", "persistent://a/cluster/b/t"},         // legacy 4-part
    {"non-persistent://a/cluster/b/t", "non-persistent://a/cluster/b/t"}, // legacy 4-part
    {"persistent://public/default/t-partition-3", "persistent://public/default/t-partition-3"},
    // Rejected.
    {"", nullptr},
    {"a/b", nullptr},          // two parts: neither short form
    {"a/b/c/d", nullptr},      // four parts without a domain
    {"http://x/y/z", nullptr}, // unknown domain
    {"persistent:/a/b/t", nullptr},
    {"://a/b/t", nullptr},
    {"persistent://a/b", nullptr},       // missing local name
    {"persistent://a/b/c/d/e", nullptr}, // too many parts
    {"persistent://a//t", nullptr},      // empty namespace
    {"persistent:///b/t", nullptr},      // empty tenant
    {"persistent://a/b/", nullptr},      // empty local name
    {"a//t", nullptr},
    {"/b/t", nullptr},
    {"a/b/", nullptr},
    {"t t", nullptr}, // space
    {" t", nullptr},
    {"t\t", nullptr},
    {"a/b/t t", nullptr},
    {"persistent://a/b/t x", nullptr},
    {"persistent://te nant/ns/t", nullptr},
    {"t\n", nullptr}, // control characters
    {"t\x01", nullptr},
    {"t\x7f", nullptr},
    {"persistent://a/b/t\x1b", nullptr},
    {"te$nant/ns/t", nullptr}, // tenant character outside the allowed set
    {"tenant/n$/t", nullptr},  // namespace likewise
};

INSTANTIATE_TEST_SUITE_P(Topics, TopicComplete, ::testing::ValuesIn(kTopicCases));

TEST(TopicCompleteLimits, OverLongRejected) {
  char out[PC_TOPIC_MAX];
  std::string huge(5000, 'x');
  EXPECT_EQ(pc_topic_complete(huge.c_str(), out, sizeof out), PULSARC_ERR_INVALID_TOPIC);
  std::string full = "persistent://a/b/" + huge;
  EXPECT_EQ(pc_topic_complete(full.c_str(), out, sizeof out), PULSARC_ERR_INVALID_TOPIC);
}

TEST(TopicCompleteLimits, LongestThatFitsAcceptedOneMoreRejected) {
  const std::string prefix = "persistent://public/default/";
  char out[PC_TOPIC_MAX];
  // The completed name plus its NUL fills the buffer exactly.
  std::string local(PC_TOPIC_MAX - 1 - prefix.size(), 'k');
  ASSERT_EQ(pc_topic_complete(local.c_str(), out, sizeof out), PULSARC_OK);
  EXPECT_EQ(std::string(out), prefix + local);
  local += "k";
  EXPECT_EQ(pc_topic_complete(local.c_str(), out, sizeof out), PULSARC_ERR_INVALID_TOPIC);
}

TEST(TopicCompleteLimits, NullArgumentsRejected) {
  char out[PC_TOPIC_MAX];
  EXPECT_NE(pc_topic_complete(nullptr, out, sizeof out), PULSARC_OK);
  EXPECT_NE(pc_topic_complete("t", nullptr, 0), PULSARC_OK);
}

TEST(TopicPartitionName, AppendsPartitionSuffix) {
  char out[PC_TOPIC_MAX];
  ASSERT_EQ(pc_topic_partition_name("persistent://a/b/t", 2, out, sizeof out), 0);
  EXPECT_STREQ(out, "persistent://a/b/t-partition-2");
  char small[8];
  EXPECT_NE(pc_topic_partition_name("persistent://a/b/t", 2, small, sizeof small), 0);
}

// ---------------------------------------------------------------- service URL

TEST(ServiceUrl, OneHostWithPort) {
  pc_service_url u;
  ASSERT_EQ(pc_service_url_parse("pulsar://localhost:6650", &u), PULSARC_OK);
  EXPECT_FALSE(u.tls);
  ASSERT_EQ(u.count, 1);
  EXPECT_STREQ(u.hosts[0].host, "localhost");
  EXPECT_EQ(u.hosts[0].port, 6650);
}

TEST(ServiceUrl, DefaultPorts) {
  pc_service_url u;
  ASSERT_EQ(pc_service_url_parse("pulsar://broker.example", &u), PULSARC_OK);
  EXPECT_FALSE(u.tls);
  ASSERT_EQ(u.count, 1);
  EXPECT_STREQ(u.hosts[0].host, "broker.example");
  EXPECT_EQ(u.hosts[0].port, 6650);

  ASSERT_EQ(pc_service_url_parse("pulsar+ssl://broker.example", &u), PULSARC_OK);
  EXPECT_TRUE(u.tls);
  ASSERT_EQ(u.count, 1);
  EXPECT_EQ(u.hosts[0].port, 6651);

  ASSERT_EQ(pc_service_url_parse("pulsar+ssl://h:7000", &u), PULSARC_OK);
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.hosts[0].port, 7000);
}

TEST(ServiceUrl, SeveralHosts) {
  pc_service_url u;
  ASSERT_EQ(pc_service_url_parse("pulsar://h1:1,h2:2,h3", &u), PULSARC_OK);
  ASSERT_EQ(u.count, 3);
  EXPECT_STREQ(u.hosts[0].host, "h1");
  EXPECT_EQ(u.hosts[0].port, 1);
  EXPECT_STREQ(u.hosts[1].host, "h2");
  EXPECT_EQ(u.hosts[1].port, 2);
  EXPECT_STREQ(u.hosts[2].host, "h3");
  EXPECT_EQ(u.hosts[2].port, 6650);

  ASSERT_EQ(pc_service_url_parse("pulsar+ssl://a,b:9", &u), PULSARC_OK);
  ASSERT_EQ(u.count, 2);
  EXPECT_EQ(u.hosts[0].port, 6651);
  EXPECT_EQ(u.hosts[1].port, 9);
}

TEST(ServiceUrl, Ipv6Literals) {
  pc_service_url u;
  ASSERT_EQ(pc_service_url_parse("pulsar://[::1]:6650", &u), PULSARC_OK);
  ASSERT_EQ(u.count, 1);
  EXPECT_STREQ(u.hosts[0].host, "::1");
  EXPECT_EQ(u.hosts[0].port, 6650);

  ASSERT_EQ(pc_service_url_parse("pulsar://[::1]", &u), PULSARC_OK);
  EXPECT_STREQ(u.hosts[0].host, "::1");
  EXPECT_EQ(u.hosts[0].port, 6650);

  ASSERT_EQ(pc_service_url_parse("pulsar://[fe80::1]:7001,127.0.0.1:7002", &u), PULSARC_OK);
  ASSERT_EQ(u.count, 2);
  EXPECT_STREQ(u.hosts[0].host, "fe80::1");
  EXPECT_EQ(u.hosts[0].port, 7001);
  EXPECT_STREQ(u.hosts[1].host, "127.0.0.1");
  EXPECT_EQ(u.hosts[1].port, 7002);
}

TEST(ServiceUrl, TrailingSlashAccepted) {
  pc_service_url u;
  ASSERT_EQ(pc_service_url_parse("pulsar://h:6650/", &u), PULSARC_OK);
  ASSERT_EQ(u.count, 1);
  EXPECT_STREQ(u.hosts[0].host, "h");
  EXPECT_EQ(u.hosts[0].port, 6650);
}

class ServiceUrlInvalid : public ::testing::TestWithParam<const char *> {};

TEST_P(ServiceUrlInvalid, Rejected) {
  pc_service_url u;
  EXPECT_EQ(pc_service_url_parse(GetParam(), &u), PULSARC_ERR_INVALID_URL) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Urls, ServiceUrlInvalid,
                         ::testing::Values("", "localhost:6650", "http://h:6650", "pulsar:/h:6650",
                                           "pulsars://h", "PULSAR+tls://h", "pulsar://",
                                           "pulsar://:6650", "pulsar://h:", "pulsar://h:0",
                                           "pulsar://h:65536", "pulsar://h:99999", "pulsar://h:-1",
                                           "pulsar://h:abc", "pulsar://h:66a",
                                           "pulsar://h1:1,,h2:2", "pulsar://h1:1,", "pulsar://[::1",
                                           "pulsar://[::1]x", "pulsar://h 1:6650",
                                           "pulsar://h1:1,pulsar://h2:2"));

TEST(ServiceUrl, NullRejected) {
  pc_service_url u;
  EXPECT_NE(pc_service_url_parse(nullptr, &u), PULSARC_OK);
}

TEST(HostPort, LookupAnswerForms) {
  pc_host_port hp;
  ASSERT_EQ(pc_host_port_parse("pulsar://broker-1:6650", 6650, &hp), PULSARC_OK);
  EXPECT_STREQ(hp.host, "broker-1");
  EXPECT_EQ(hp.port, 6650);
  ASSERT_EQ(pc_host_port_parse("host:1234", 6650, &hp), PULSARC_OK);
  EXPECT_STREQ(hp.host, "host");
  EXPECT_EQ(hp.port, 1234);
  ASSERT_EQ(pc_host_port_parse("host", 6651, &hp), PULSARC_OK);
  EXPECT_STREQ(hp.host, "host");
  EXPECT_EQ(hp.port, 6651);
  ASSERT_EQ(pc_host_port_parse("pulsar+ssl://[fe80::1]:7000", 6651, &hp), PULSARC_OK);
  EXPECT_STREQ(hp.host, "fe80::1");
  EXPECT_EQ(hp.port, 7000);
  EXPECT_EQ(pc_host_port_parse("host:70000", 6650, &hp), PULSARC_ERR_INVALID_URL);
  EXPECT_EQ(pc_host_port_parse("", 6650, &hp), PULSARC_ERR_INVALID_URL);
  EXPECT_EQ(pc_host_port_parse("pulsar://", 6650, &hp), PULSARC_ERR_INVALID_URL);
}

// ----------------------------------------------------------- Java String hash

int32_t Hash(const std::string &s) { return pc_java_string_hash(s.data(), s.size()); }

// Expected values are Java's String.hashCode() & 0x7fffffff, worked out by
// hand from h = 31*h + c over UTF-16 code units.
TEST(JavaStringHash, Ascii) {
  EXPECT_EQ(Hash(""), 0);
  EXPECT_EQ(Hash("a"), 97);
  EXPECT_EQ(Hash("ab"), 97 * 31 + 98);
  EXPECT_EQ(Hash("abc"), 96354);
  EXPECT_EQ(Hash("hello"), 99162322);
  // "Hello World".hashCode() == -862545276; masked: 1284938372.
  EXPECT_EQ(Hash("Hello World"), 1284938372);
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE; masked: 0.
  EXPECT_EQ(Hash("polygenelubricants"), 0);
  EXPECT_EQ(Hash("The quick brown fox jumps over the lazy dog"), 1538055507);
}

TEST(JavaStringHash, NonAsciiBmp) {
  EXPECT_EQ(Hash("\xc3\xa4"), 0xe4);       // "ä" U+00E4: one UTF-16 unit
  EXPECT_EQ(Hash("\xe2\x82\xac"), 0x20ac); // "€" U+20AC
  EXPECT_EQ(Hash("a\xc3\xa4"), 97 * 31 + 0xe4);
}

TEST(JavaStringHash, SurrogatePair) {
  // U+1F600 is the UTF-16 pair D83D DE00: 0xD83D * 31 + 0xDE00.
  EXPECT_EQ(Hash("\xf0\x9f\x98\x80"), 0xD83D * 31 + 0xDE00);
  EXPECT_EQ(Hash("\xf0\x9f\x98\x80"), 1772899);
  // Mixed: "aä😀z".
  EXPECT_EQ(Hash("a\xc3\xa4\xf0\x9f\x98\x80z"), 151333876);
}

TEST(JavaStringHash, LengthNotNulTerminated) {
  const char buf[] = {'h', 'e', 'l', 'l', 'o', 'X', 'Y'};
  EXPECT_EQ(pc_java_string_hash(buf, 5), 99162322);
}

TEST(JavaStringHash, NeverNegative) {
  std::string s;
  for (int i = 0; i < 2000; i++) {
    s.push_back(static_cast<char>('!' + i % 90));
    ASSERT_GE(Hash(s), 0);
  }
}

} // namespace
