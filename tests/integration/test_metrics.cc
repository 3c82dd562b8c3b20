// pulsarc_client_metrics against the test broker (counts in the text equal
// the stats API's and what the broker stored; promtool and the Python
// parser accept the text), and the periodic stats log
// (stats_interval_seconds).
#include "harness.h"
#include "metrics/metrics_tools.h"

namespace pulsarc_it {
namespace {

void Append(const char *text, size_t len, void *ctx) {
  static_cast<std::string *>(ctx)->append(text, len);
}

std::string MetricsText(pulsarc_client_t *c) {
  std::string t;
  EXPECT_EQ(pulsarc_client_metrics(c, Append, &t), PULSARC_OK);
  return t;
}

// The value of the one sample line starting with prefix ("name{labels} "),
// or -1 when there is none (or more than one).
double Sample(const std::string &text, const std::string &prefix) {
  size_t at = ("\n" + text).find("\n" + prefix);
  if (at == std::string::npos)
    return -1;
  if (("\n" + text).find("\n" + prefix, at + 1) != std::string::npos)
    return -1;
  return std::strtod(text.c_str() + at + prefix.size(), nullptr);
}

void SendN(pulsarc_producer_t *p, int n, const char *key_prefix = nullptr) {
  for (int i = 0; i < n; i++) {
    MsgOpts o;
    o.Timeout(kWaitMs);
    std::string key = key_prefix ? key_prefix + std::to_string(i) : "";
    if (key_prefix) {
      ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), key.c_str()), PULSARC_OK);
    }
    std::string payload = "payload-" + std::to_string(i);
    pulsarc_msg_id_t id;
    ASSERT_EQ(pulsarc_producer_send(p, payload.data(), payload.size(), o.get(), &id), PULSARC_OK);
  }
}

class Metrics : public BrokerTest {};

TEST_F(Metrics, CountsEqualTheApiAndTheBrokerAndParsersAcceptTheText) {
  const int kPlain = 23, kParts = 3, kKeyed = 40;
  pulsarc_producer_t *plain = Create("metrics-plain");
  ASSERT_NE(plain, nullptr);
  pulsarc_tb_set_partitions(tb_, "metrics-parts", kParts);
  ProducerConf pc;
  pc.Set("name", "keyed \"one\"");
  pulsarc_producer_t *parts = Create("metrics-parts", pc.get());
  ASSERT_NE(parts, nullptr);
  SendN(plain, kPlain);
  SendN(parts, kKeyed, "k");
  ASSERT_EQ(pulsarc_producer_num_partitions(parts), kParts);

  std::string t = MetricsText(client_);
  const std::string plain_l = "{topic=\"" + FullTopic("metrics-plain") + "\",producer=\"" +
                              pulsarc_producer_name(plain) + "\"}";
  pulsarc_producer_stats_t ps;
  ASSERT_EQ(pulsarc_producer_stats(plain, &ps, sizeof ps), PULSARC_OK);
  EXPECT_EQ(ps.msgs_acked, (uint64_t)kPlain);
  EXPECT_EQ(Sample(t, "pulsarc_producer_messages_acked_total" + plain_l + " "), kPlain) << t;
  EXPECT_EQ(Sample(t, "pulsarc_producer_messages_sent_total" + plain_l + " "), ps.msgs_sent);
  EXPECT_EQ(Sample(t, "pulsarc_producer_acked_bytes_total" + plain_l + " "), ps.bytes_acked);
  EXPECT_EQ(Sample(t, "pulsarc_producer_pending_messages" + plain_l + " "), 0);
  EXPECT_EQ(Sample(t, "pulsarc_producer_send_latency_seconds_count" + plain_l + " "), kPlain);
  {
    Snapshot s(tb_, "metrics-plain");
    EXPECT_EQ(StoredMessages(s.get()).size(), (size_t)kPlain);
  }
  // Per partition, no total beside them: the samples add up to what was
  // sent, each equal to the partition's API stats and its stored messages.
  double sum = 0;
  for (int i = 0; i < kParts; i++) {
    const std::string l = "{topic=\"" + FullTopic("metrics-parts") +
                          "\",producer=\"keyed \\\"one\\\"\",partition=\"" + std::to_string(i) +
                          "\"}";
    pulsarc_producer_stats_t st;
    ASSERT_EQ(pulsarc_producer_partition_stats(parts, i, &st, sizeof st), PULSARC_OK);
    double v = Sample(t, "pulsarc_producer_messages_acked_total" + l + " ");
    EXPECT_EQ(v, st.msgs_acked) << l << "\n" << t;
    Snapshot s(tb_, FullTopic("metrics-parts") + "-partition-" + std::to_string(i));
    EXPECT_EQ(v, StoredMessages(s.get()).size()) << l;
    sum += v;
  }
  EXPECT_EQ(sum, kKeyed);
  // Latency is kept per producer: one histogram for the partitioned one,
  // without a partition label, that saw every send.
  EXPECT_EQ(Sample(t, "pulsarc_producer_send_latency_seconds_count{topic=\"" +
                          FullTopic("metrics-parts") + "\",producer=\"keyed \\\"one\\\"\"} "),
            kKeyed)
      << t;
  EXPECT_EQ(t.find("pulsarc_producer_messages_acked_total{topic=\"" + FullTopic("metrics-parts") +
                   "\",producer=\"keyed \\\"one\\\"\"} "),
            std::string::npos)
      << "a partitioned producer's total would be counted twice by sum()";
  pulsarc_client_stats_t cs;
  ASSERT_EQ(pulsarc_client_stats(client_, &cs, sizeof cs), PULSARC_OK);
  EXPECT_EQ(Sample(t, "pulsarc_client_producers "), 2);
  EXPECT_EQ(Sample(t, "pulsarc_client_lookups_total "), cs.lookups);
  EXPECT_EQ(Sample(t, "pulsarc_client_memory_limit_bytes "), cs.memory_limit);
  EXPECT_GT(Sample(t, "pulsarc_client_wire_sent_bytes_total "), 0);

  pulsarc_metrics_test::TempFile f(t);
  std::string out;
  EXPECT_EQ(pulsarc_metrics_test::promtool_check(f.path, &out), 0) << out;
  EXPECT_EQ(out, "") << out;
  std::vector<std::string> args = {
      "--family",
      "pulsarc_producer_messages_acked=counter",
      "--family",
      "pulsarc_producer_send_latency_seconds=histogram",
      "--family",
      "pulsarc_client_connections=gauge",
      "--sample",
      "pulsarc_producer_messages_acked_total{topic=" + FullTopic("metrics-plain") +
          ",producer=" + pulsarc_producer_name(plain) + "}=" + std::to_string(kPlain),
      "--sample",
      "pulsarc_client_producers=2"};
  EXPECT_EQ(pulsarc_metrics_test::python_check(f.path, args, &out), 0) << out;
}

// The application's function runs with no library lock held: calling the
// library (here pulsarc_client_metrics itself, which takes the client's
// member lock) from inside it must not deadlock (the watchdog would abort).
void Nested(const char *text, size_t len, void *ctx) {
  auto *st = static_cast<std::pair<pulsarc_client_t *, std::string> *>(ctx);
  if (st->second.empty()) {
    std::string inner;
    EXPECT_EQ(pulsarc_client_metrics(st->first, Append, &inner), PULSARC_OK);
    EXPECT_NE(inner.find("pulsarc_producer_messages_sent_total"), std::string::npos);
  }
  st->second.append(text, len);
}

// The client's registry of producers is what the metrics and the stats
// walk: destroying producers in any order (the newest, the oldest, one in
// the middle) leaves exactly the others in it, counted and listed.
TEST_F(Metrics, ProducersDestroyedInAnyOrderLeaveExactlyTheOthers) {
  constexpr int kN = 5;
  pulsarc_producer_t *p[kN];
  for (int i = 0; i < kN; i++)
    ASSERT_NE(p[i] = Create("leave-" + std::to_string(i)), nullptr);
  auto listed = [&](int i) {
    return MetricsText(client_).find("topic=\"persistent://public/default/leave-" +
                                     std::to_string(i) + "\"") != std::string::npos;
  };
  for (int i : {2, 0, 4}) { // the middle, the oldest, the newest
    Forget(p[i]);
    pulsarc_producer_destroy(p[i]);
  }
  pulsarc_client_stats_t cs;
  ASSERT_EQ(pulsarc_client_stats(client_, &cs, sizeof cs), PULSARC_OK);
  EXPECT_EQ(cs.producers, 2u);
  for (int i = 0; i < kN; i++)
    EXPECT_EQ(listed(i), i == 1 || i == 3) << "leave-" << i;
  for (int i : {3, 1}) {
    Forget(p[i]);
    pulsarc_producer_destroy(p[i]);
  }
  ASSERT_EQ(pulsarc_client_stats(client_, &cs, sizeof cs), PULSARC_OK);
  EXPECT_EQ(cs.producers, 0u);
  EXPECT_EQ(MetricsText(client_).find("leave-"), std::string::npos);
}

TEST_F(Metrics, CallbackMayCallTheLibrary) {
  ASSERT_NE(Create("metrics-nested"), nullptr);
  std::pair<pulsarc_client_t *, std::string> st(client_, "");
  ASSERT_EQ(pulsarc_client_metrics(client_, Nested, &st), PULSARC_OK);
  EXPECT_NE(st.second.find("pulsarc_producer_messages_sent_total"), std::string::npos);
}

TEST_F(Metrics, RejectsNullArguments) {
  std::string t;
  EXPECT_EQ(pulsarc_client_metrics(nullptr, Append, &t), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_metrics(client_, nullptr, &t), PULSARC_ERR_INVALID_ARGUMENT);
}

TEST(StatsLogOption, DefaultsTo600AndZeroIsAccepted) {
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  char v[32] = "";
  size_t n = sizeof v;
  ASSERT_EQ(pulsarc_client_conf_get(cc, "stats_interval_seconds", v, &n), PULSARC_OK);
  EXPECT_STREQ(v, "600");
  EXPECT_EQ(pulsarc_client_conf_set(cc, "stats_interval_seconds", "0", nullptr, 0), PULSARC_OK);
  EXPECT_NE(pulsarc_client_conf_set(cc, "stats_interval_seconds", "-1", nullptr, 0), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);
}

// The periodic stats log: a client of its own with the interval set and a
// logger that keeps the lines.
class StatsLog : public BrokerTest {
protected:
  pulsarc_client_t *LogClient(const char *interval) {
    pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
    pulsarc_client_conf_set_logger(cc, LogSink::Fn, &log_);
    EXPECT_EQ(pulsarc_client_conf_set(cc, "log_level", "info", nullptr, 0), PULSARC_OK);
    EXPECT_EQ(pulsarc_client_conf_set(cc, "stats_interval_seconds", interval, nullptr, 0),
              PULSARC_OK);
    pulsarc_client_t *c = nullptr;
    EXPECT_EQ(pulsarc_client_new(url_.c_str(), cc, &c), PULSARC_OK);
    pulsarc_client_conf_destroy(cc);
    return c;
  }
  size_t LinesWith(const std::string &a, const std::string &b) {
    std::lock_guard<std::mutex> lk(log_.mu);
    size_t n = 0;
    for (const auto &l : log_.lines)
      n += l.find(a) != std::string::npos && l.find(b) != std::string::npos;
    return n;
  }
  LogSink log_;
};

TEST_F(StatsLog, OneLinePerProducerPerIntervalWithTheAckedCount) {
  pulsarc_client_t *c = LogClient("1");
  ASSERT_NE(c, nullptr);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(c, "stats-log", nullptr, &p), PULSARC_OK);
  SendN(p, 37);
  const std::string who = "topic " + FullTopic("stats-log") + " ";
  // Two lines after the sends completed: the timer goes on firing.
  EXPECT_TRUE(WaitUntil([&] { return LinesWith(who, " acked=37 ") >= 2; }, 15000)) << log_.All();
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(c);
}

TEST_F(StatsLog, ZeroMeansNoLine) {
  pulsarc_client_t *c = LogClient("0");
  ASSERT_NE(c, nullptr);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(c, "stats-log-off", nullptr, &p), PULSARC_OK);
  SendN(p, 5);
  // Long enough for two ticks of a 1 s interval (the other test's lines).
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(LinesWith("stats: ", "stats-log-off"), 0u) << log_.All();
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(c);
}

} // namespace
} // namespace pulsarc_it
