// The Prometheus text formatter (src/metrics/prom_format.c) on synthetic
// stats: exact samples, escaping, one HELP/TYPE per family with its samples
// together, a real histogram, pieces in order; and the text accepted by the
// real parsers: promtool (Debian prometheus, with its lint) and the Python
// prometheus_client parser (tests/metrics/check_prom_text.py). A missing
// tool fails the test: tools/install-deps.sh installs both.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" {
#include "metrics/prom_format.h"
}

#include "metrics/metrics_tools.h"

namespace {

struct Pieces {
  std::string text;
  std::vector<size_t> sizes;
};

void collect(const char *text, size_t len, void *ctx) {
  auto *p = static_cast<Pieces *>(ctx);
  p->text.append(text, len);
  p->sizes.push_back(len);
}

pulsarc_producer_stats_t sample_stats(uint64_t k) {
  pulsarc_producer_stats_t s;
  memset(&s, 0, sizeof s);
  s.msgs_accepted = 100 * k;
  s.bytes_accepted = 1000 * k;
  s.msgs_sent = 90 * k;
  s.bytes_sent = 900 * k;
  s.msgs_acked = 80 * k;
  s.bytes_acked = 800 * k;
  s.msgs_failed = 7 * k;
  s.msgs_timed_out = 5 * k;
  s.failed_by_error[PULSARC_ERR_TIMEOUT] = 5 * k;
  s.failed_by_error[PULSARC_ERR_BROKER_BASE + 1] = 2 * k; // a broker error
  s.pending_msgs = 13 * k;
  s.pending_bytes = 130 * k;
  s.batches_sent = 9 * k;
  s.uncompressed_bytes = 900 * k;
  s.compressed_bytes = 450 * k;
  s.reconnects = k;
  s.resent_batches = 2 * k;
  s.blocked_pending_limit = 3 * k;
  s.blocked_memory_limit = 4 * k;
  s.blocked_ns = 1500000001ull * k; // 1.500000001 s
  s.rejected_pending_limit = 6 * k;
  s.rejected_memory_limit = 8 * k;
  s.latency.count = 87 * k;
  s.latency.sum_us = 1500000 * k; // 1.5 s
  s.latency.buckets[0] = 10 * k;  // < 64 us
  s.latency.buckets[3] = 70 * k;  // < 512 us
  s.latency.buckets[PULSARC_LATENCY_BUCKETS - 1] = 7 * k;
  return s;
}

pulsarc_client_stats_t sample_client() {
  pulsarc_client_stats_t c;
  memset(&c, 0, sizeof c);
  c.producers = 2;
  c.connections = 1;
  c.connections_opened = 3;
  c.connections_failed = 4;
  c.connections_closed = 2;
  c.bytes_out = 123456;
  c.bytes_in = 6543;
  c.frames_out = 77;
  c.frames_in = 66;
  c.memory_used = 4096;
  c.memory_limit = 67108864;
  c.lookups = 5;
  c.lookups_failed = 1;
  c.partition_metadata = 2;
  return c;
}

std::string format(const pulsarc_client_stats_t *c, const std::vector<pc_prom_series> &s,
                   Pieces *p = nullptr) {
  Pieces local;
  Pieces *out = p ? p : &local;
  pc_prom_format(c, s.data(), s.size(), collect, out);
  return out->text;
}

bool has_line(const std::string &text, const std::string &line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsFormat, ExactSamplesOfAProducerAndTheClient) {
  pulsarc_producer_stats_t st = sample_stats(1);
  pulsarc_client_stats_t cs = sample_client();
  std::vector<pc_prom_series> s = {
      {"persistent://public/default/t", "p-1", -1, PC_PROM_WHOLE, &st}};
  std::string t = format(&cs, s);
  const std::string L = "{topic=\"persistent://public/default/t\",producer=\"p-1\"";
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_sent_total" + L + "} 90")) << t;
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_acked_total" + L + "} 80"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_pending_messages" + L + "} 13"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_compressed_bytes_total" + L + "} 450"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_failed_total" + L +
                              ",error=\"PULSARC_ERR_TIMEOUT\"} 5"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_failed_total" + L + ",error=\"" +
                              pulsarc_err_name((pulsarc_err_t)(PULSARC_ERR_BROKER_BASE + 1)) +
                              "\"} 2"));
  // Only the non-zero codes.
  size_t failed_lines = 0;
  for (size_t at = 0;
       (at = t.find("\npulsarc_producer_messages_failed_total{", at)) != std::string::npos; at++)
    failed_lines++;
  EXPECT_EQ(failed_lines, 2u);
  EXPECT_TRUE(
      has_line(t, "pulsarc_producer_sends_blocked_total" + L + ",limit=\"pending_messages\"} 3"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_sends_rejected_total" + L + ",limit=\"memory\"} 8"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_blocked_seconds_total" + L + "} 1.500000001"));
  // The histogram: cumulative buckets in seconds, +Inf equal to _count.
  const std::string H = "pulsarc_producer_send_latency_seconds";
  EXPECT_TRUE(has_line(t, "# TYPE " + H + " histogram"));
  EXPECT_TRUE(has_line(t, H + "_bucket" + L + ",le=\"0.000064\"} 10"));
  EXPECT_TRUE(has_line(t, H + "_bucket" + L + ",le=\"0.000256\"} 10"));
  EXPECT_TRUE(has_line(t, H + "_bucket" + L + ",le=\"0.000512\"} 80"));
  EXPECT_TRUE(has_line(t, H + "_bucket" + L + ",le=\"134.217728\"} 80"));
  EXPECT_TRUE(has_line(t, H + "_bucket" + L + ",le=\"+Inf\"} 87"));
  EXPECT_TRUE(has_line(t, H + "_sum" + L + "} 1.500000"));
  EXPECT_TRUE(has_line(t, H + "_count" + L + "} 87"));
  // The client's families carry no label.
  EXPECT_TRUE(has_line(t, "pulsarc_client_connections 1"));
  EXPECT_TRUE(has_line(t, "# TYPE pulsarc_client_connections gauge"));
  EXPECT_TRUE(has_line(t, "pulsarc_client_wire_sent_bytes_total 123456"));
  EXPECT_TRUE(has_line(t, "pulsarc_client_memory_used_bytes 4096"));
  EXPECT_TRUE(has_line(t, "pulsarc_client_memory_limit_bytes 67108864"));
  EXPECT_TRUE(has_line(t, "pulsarc_client_lookups_total 5"));
  EXPECT_TRUE(has_line(t, "# TYPE pulsarc_client_lookups_total counter"));
}

TEST(MetricsFormat, LabelValuesAreEscaped) {
  pulsarc_producer_stats_t st = sample_stats(1);
  std::vector<pc_prom_series> s = {{"a\\b\"c\nd", "q\"", 3, PC_PROM_PARTITION, &st}};
  std::string t = format(nullptr, s);
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_sent_total{topic=\"a\\\\b\\\"c\\nd\","
                          "producer=\"q\\\"\",partition=\"3\"} 90"))
      << t;
  // No raw newline inside a sample: every line is a comment or a sample.
  size_t start = 0;
  while (start < t.size()) {
    size_t end = t.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    std::string line = t.substr(start, end - start);
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("pulsarc_", 0) == 0) << line;
    start = end + 1;
  }
  EXPECT_EQ(t.find("pulsarc_client_"), std::string::npos); // no client given
}

// Each family: one HELP and one TYPE, before its samples, which all follow
// together (the format forbids a family's samples in two places).
TEST(MetricsFormat, EveryFamilyOnceWithItsSamplesTogether) {
  pulsarc_producer_stats_t a = sample_stats(1), b = sample_stats(2);
  pulsarc_client_stats_t cs = sample_client();
  std::vector<pc_prom_series> s = {{"t1", "p1", -1, PC_PROM_WHOLE, &a},
                                   {"t2", "p2", 0, PC_PROM_PARTITION, &b},
                                   {"t2", "p2", 1, PC_PROM_PARTITION, &a}};
  std::string t = format(&cs, s);
  std::map<std::string, int> help, type;
  std::set<std::string> closed;
  std::string current;
  size_t start = 0;
  while (start < t.size()) {
    size_t end = t.find('\n', start);
    std::string line = t.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      help[name]++;
      if (!current.empty())
        closed.insert(current);
      current = name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      type[name]++;
      EXPECT_EQ(name, current) << "TYPE not right after its HELP";
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name.rfind(current, 0), 0u) << line << " outside family " << current;
    EXPECT_EQ(closed.count(name), 0u) << line;
  }
  for (auto &h : help) {
    EXPECT_EQ(h.second, 1) << h.first;
    EXPECT_EQ(type[h.first], 1) << h.first;
  }
  EXPECT_EQ(help.size(), type.size());
  // 14 client families, 14 plain producer ones, failed, blocked, rejected,
  // blocked seconds, the histogram.
  EXPECT_EQ(help.size(), 14u + 14u + 5u);
}

TEST(MetricsFormat, PiecesArriveInOrderAndBounded) {
  std::vector<pulsarc_producer_stats_t> st(300);
  std::vector<std::string> names(300);
  std::vector<pc_prom_series> s;
  for (size_t i = 0; i < st.size(); i++) {
    st[i] = sample_stats(i + 1);
    names[i] = "producer-" + std::to_string(i);
    s.push_back({"persistent://public/default/many", names[i].c_str(), -1, PC_PROM_WHOLE, &st[i]});
  }
  Pieces p;
  std::string t = format(nullptr, s, &p);
  ASSERT_GT(p.sizes.size(), 10u);
  for (size_t n : p.sizes) {
    EXPECT_GT(n, 0u);
    EXPECT_LE(n, 4096u);
  }
  // The last series' +Inf bucket, computed independently: 87 * 300.
  EXPECT_TRUE(has_line(t, "pulsarc_producer_send_latency_seconds_bucket{topic=\"persistent://"
                          "public/default/many\",producer=\"producer-299\",le=\"+Inf\"} "
                          "26100"));
  EXPECT_EQ(t.back(), '\n');
}

// A partitioned producer: the per-partition families have one series per
// partition and none for the producer; latency, failures by error, blocked
// and refused sends (counted per producer) have the producer's series only. No family holds
// a total beside its parts.
TEST(MetricsFormat, PartitionedProducerHasNoTotalBesideItsParts) {
  pulsarc_producer_stats_t p0 = sample_stats(1), p1 = sample_stats(2), whole = sample_stats(5);
  std::vector<pc_prom_series> s = {{"t", "p", -1, PC_PROM_PRODUCER, &whole},
                                   {"t", "p", 0, PC_PROM_PARTITION, &p0},
                                   {"t", "p", 1, PC_PROM_PARTITION, &p1}};
  std::string t = format(nullptr, s);
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_sent_total{topic=\"t\",producer=\"p\","
                          "partition=\"0\"} 90"))
      << t;
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_sent_total{topic=\"t\",producer=\"p\","
                          "partition=\"1\"} 180"));
  EXPECT_EQ(t.find("pulsarc_producer_messages_sent_total{topic=\"t\",producer=\"p\"} "),
            std::string::npos);
  EXPECT_TRUE(has_line(t, "pulsarc_producer_messages_failed_total{topic=\"t\",producer=\"p\","
                          "error=\"PULSARC_ERR_TIMEOUT\"} 25"));
  EXPECT_EQ(t.find("pulsarc_producer_messages_failed_total{topic=\"t\",producer=\"p\","
                   "partition"),
            std::string::npos);
  EXPECT_TRUE(has_line(t, "pulsarc_producer_send_latency_seconds_count{topic=\"t\","
                          "producer=\"p\"} 435"));
  EXPECT_TRUE(has_line(t, "pulsarc_producer_sends_blocked_total{topic=\"t\",producer=\"p\","
                          "limit=\"memory\"} 20"));
  EXPECT_EQ(t.find("pulsarc_producer_send_latency_seconds_count{topic=\"t\",producer=\"p\","
                   "partition"),
            std::string::npos);
  EXPECT_EQ(t.find("pulsarc_producer_sends_blocked_total{topic=\"t\",producer=\"p\",partition"),
            std::string::npos);
}

TEST(MetricsFormat, PromtoolAcceptsTheText) {
  pulsarc_producer_stats_t a = sample_stats(1), b = sample_stats(3), z;
  memset(&z, 0, sizeof z);
  pulsarc_client_stats_t cs = sample_client();
  std::vector<pc_prom_series> s = {
      {"persistent://public/default/t", "p-1", -1, PC_PROM_WHOLE, &a},
      {"persistent://public/default/p", "p-2", 0, PC_PROM_PARTITION, &b},
      {"persistent://public/default/p", "p-2", 1, PC_PROM_PARTITION, &z},
      {"odd \"topic\"\\\n", nullptr, -1, PC_PROM_WHOLE, &b}};
  std::string t = format(&cs, s);
  pulsarc_metrics_test::TempFile f(t);
  std::string out;
  int rc = pulsarc_metrics_test::promtool_check(f.path, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool reported problems:\n" << out;
}

TEST(MetricsFormat, PythonParserReadsFamiliesTypesAndValues) {
  pulsarc_producer_stats_t a = sample_stats(1), b = sample_stats(3);
  pulsarc_client_stats_t cs = sample_client();
  std::vector<pc_prom_series> s = {
      {"persistent://public/default/t", "p-1", -1, PC_PROM_WHOLE, &a},
      {"persistent://public/default/p", "p\"2", 4, PC_PROM_PARTITION, &b}};
  std::string t = format(&cs, s);
  pulsarc_metrics_test::TempFile f(t);
  std::vector<std::string> args = {
      "--family",
      "pulsarc_producer_messages_sent=counter",
      "--family",
      "pulsarc_producer_send_latency_seconds=histogram",
      "--family",
      "pulsarc_producer_pending_messages=gauge",
      "--family",
      "pulsarc_producer_messages_failed=counter",
      "--family",
      "pulsarc_client_connections=gauge",
      "--family",
      "pulsarc_client_wire_sent_bytes=counter",
      "--sample",
      "pulsarc_producer_messages_sent_total{topic=persistent://public/default/t,"
      "producer=p-1}=90",
      "--sample",
      "pulsarc_producer_messages_acked_total{topic=persistent://public/default/p,"
      "producer=p\"2,partition=4}=240",
      "--sample",
      "pulsarc_producer_messages_failed_total{topic=persistent://public/default/t,"
      "producer=p-1,error=PULSARC_ERR_TIMEOUT}=5",
      "--sample",
      "pulsarc_producer_send_latency_seconds_sum{topic=persistent://public/default/"
      "t,producer=p-1}=1.5",
      "--sample",
      "pulsarc_producer_send_latency_seconds_bucket{topic=persistent://public/"
      "default/t,producer=p-1,le=0.000512}=80",
      "--sample",
      "pulsarc_producer_blocked_seconds_total{topic=persistent://public/default/t,"
      "producer=p-1}=1.500000001",
      "--sample",
      "pulsarc_client_memory_limit_bytes=67108864",
      "--sample",
      "pulsarc_client_lookups_failed_total=1"};
  std::string out;
  int rc = pulsarc_metrics_test::python_check(f.path, args, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
  // The checker is not a rubber stamp: a wrong value is reported.
  std::vector<std::string> wrong = {"--sample", "pulsarc_client_lookups_failed_total=2"};
  rc = pulsarc_metrics_test::python_check(f.path, wrong, &out);
  EXPECT_EQ(rc, 1) << out;
}

} // namespace
