// Failure paths release everything once (issue 17, item 6): when a producer
// fails, a partition still waiting for a pool connection lets go of it, and
// never registers once that connection comes up.
#include <functional>

#include "client/testing.h"
#include "harness.h"

namespace pulsarc_it {
namespace {

// Key "0" goes to partition 0, anything else to partition 1.
int RouteByKey(const char *key, size_t key_len, int, void *) {
  return key != nullptr && key_len == 1 && key[0] == '0' ? 0 : 1;
}

std::string PartitionTopic(const std::string &t, int i) {
  return FullTopic(t) + "-partition-" + std::to_string(i);
}

bool WaitFor(const std::function<bool()> &cond, int timeout_ms = kWaitMs) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Partition 0 registered on broker A, partition 1 waiting for a connection
// to broker B (which accepted but does not read); then A fences the
// producer. Once B reads again, the failed producer must not register
// partition 1 there, and partition 0 says goodbye to A.
//
// Placement: lookups go to the service host picked by how many producers
// the client started (see lookup.c), so with service hosts "A,B" the first
// producer's lookups go to B and, after a second producer was started, to
// A. Each broker answers lookups with the other's URL (advertised_url), so
// partition 0 lands on A and partition 1 is sent to B. The test checks the
// placement before relying on it.
TEST(DetachEdgeTest, FailedProducerNeverReregistersAndSaysGoodbye) {
  Watchdog dog(60);
  const std::string topic = "edge-detach";
  pulsarc_tb_partitions table[] = {{topic.c_str(), 2}};

  // B first on any port, to learn its URL; A advertises B; then B again on
  // the same port, advertising A.
  pulsarc_tb_opts ob = pulsarc_tb_opts_default();
  ob.partitions = table;
  ob.num_partitions = 1;
  pulsarc_tb *b = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&ob, &b), 0);
  const std::string url_b = pulsarc_tb_service_url(b);
  uint16_t port_b = pulsarc_tb_port(b);
  pulsarc_tb_free(b);
  b = nullptr;

  pulsarc_tb_opts oa = pulsarc_tb_opts_default();
  oa.partitions = table;
  oa.num_partitions = 1;
  oa.advertised_url = url_b.c_str();
  pulsarc_tb *a = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&oa, &a), 0);
  const std::string url_a = pulsarc_tb_service_url(a);

  ob.port = port_b;
  ob.advertised_url = url_a.c_str();
  ASSERT_EQ(pulsarc_tb_start(&ob, &b), 0);

  std::string hosts = url_a + "," + url_b.substr(url_b.find("//") + 2);
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(hosts.c_str(), nullptr, &client), PULSARC_OK);

  ProducerConf pc;
  pc.Set("lazy_start_partitions", "true")
      .Set("partitions_update_interval_ms", "0")
      .Set("batching", "false");
  ASSERT_EQ(pulsarc_producer_conf_set_router(pc.get(), RouteByKey, nullptr), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, topic.c_str(), pc.get(), &p), PULSARC_OK);

  MsgOpts to0, to1;
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(to0.get(), "0"), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_partition_key(to1.get(), "1"), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send(p, "first", 5, to0.get(), nullptr), PULSARC_OK);
  pulsarc_tb_topic_stats ts;
  pulsarc_tb_get_topic_stats(a, PartitionTopic(topic, 0).c_str(), &ts);
  ASSERT_EQ(ts.producers_open, 1u) << "partition 0 is not on broker A: placement assumption broken";

  // Steer the next lookups to A (a second producer start), then stall B.
  pulsarc_producer_t *q = nullptr;
  ASSERT_EQ(pulsarc_producer_create(client, "edge-detach-steer", nullptr, &q), PULSARC_OK);
  pulsarc_producer_destroy(q);
  pulsarc_tb_stop_reading(b, true);
  pulsarc_tb_drop_connections(b);
  pulsarc_tb_stats sb;
  pulsarc_tb_get_stats(b, &sb);
  const uint64_t conns_before = sb.connections;

  // Partition 1 starts: A answers its lookup with B, and the connection to
  // B hangs in the handshake. Once B accepted it, the partition is waiting
  // on its pool request.
  Completions c1(1);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "second", 6, to1.get(), Completions::Cb, c1.ctx(0)),
            PULSARC_OK);
  ASSERT_TRUE(WaitFor([&] {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(b, &s);
    return s.connections > conns_before;
  })) << "no connection to broker B: placement assumption broken";

  // A fences the producer: it fails as a whole.
  pulsarc_tb_fail_sends(a, 1, PULSARC_TB_PRODUCER_FENCED);
  Completions c0(1);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "third", 5, to0.get(), Completions::Cb, c0.ctx(0)),
            PULSARC_OK);
  ASSERT_TRUE(c0.WaitTotal(1));
  EXPECT_EQ(c0.at(0).err.load(), PULSARC_ERR_BROKER_PRODUCER_FENCED);
  ASSERT_TRUE(c1.WaitTotal(1)) << "partition 1's message was not failed with the producer";
  EXPECT_EQ(c1.at(0).err.load(), PULSARC_ERR_BROKER_PRODUCER_FENCED);
  EXPECT_EQ(pulsarc_producer_send(p, "x", 1, to1.get(), nullptr),
            PULSARC_ERR_BROKER_PRODUCER_FENCED);

  // B reads again: it answers the pending CONNECT, the connection becomes
  // ready, and nobody may register partition 1 on it.
  pulsarc_tb_stop_reading(b, false);
  ASSERT_TRUE(WaitFor([&] {
    pulsarc_tb_auth_stats as;
    pulsarc_tb_get_auth_stats(b, &as);
    return as.connects_ok >= 1;
  })) << "broker B never saw the CONNECT";
  // A PRODUCER would follow CONNECTED within milliseconds; allow a second.
  EXPECT_FALSE(pulsarc_tb_wait_producers(b, PartitionTopic(topic, 1).c_str(), 1, 1000))
      << "the failed producer registered partition 1 on broker B";
  pulsarc_tb_get_topic_stats(b, PartitionTopic(topic, 1).c_str(), &ts);
  EXPECT_FALSE(ts.exists);

  // Partition 0 left broker A (CLOSE_PRODUCER on failure).
  EXPECT_TRUE(WaitFor([&] {
    pulsarc_tb_topic_stats t;
    pulsarc_tb_get_topic_stats(a, PartitionTopic(topic, 0).c_str(), &t);
    return t.producers_open == 0;
  })) << "partition 0 is still registered on broker A";

  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
  pulsarc_tb_free(a);
  pulsarc_tb_free(b);
}

// A failing producer cancels the pool requests of its other partitions from
// inside the callback of one of them. When they wait for the same
// connection, the cancelled ones are in the list being answered: they must
// not run (their owners may be freed by then).
TEST(DetachEdgeTest, PoolRequestCancelledDuringDeliveryDoesNotRun) {
  Watchdog dog(30);
  uint16_t port = ClosedPort();
  ASSERT_NE(port, 0);
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(
      pulsarc_client_new(("pulsar://127.0.0.1:" + std::to_string(port)).c_str(), nullptr, &client),
      PULSARC_OK);
  int runs = -1;
  ASSERT_EQ(pc_test_pool_cancel_in_delivery(client, "127.0.0.1", port, &runs), 0);
  EXPECT_EQ(runs, 0) << "a cancelled pool request's callback ran";
  pulsarc_client_destroy(client);
}

} // namespace
} // namespace pulsarc_it
