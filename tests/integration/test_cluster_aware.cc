// What a cluster does to a producer, reproduced with test brokers: broker
// addresses that change under a host name (resolved again on every
// reconnect, never cached), and a broker that no longer owns the topic
// when the producer comes back (retried, no send fails).
#include "harness.h"

extern "C" {
#include "loop/resolver.h"
}

namespace pulsarc_it {
namespace {

constexpr const char *kHost = "owner.pulsarc.test";

// Two brokers on the same port of two loopback addresses, both advertising
// kHost in their LOOKUP answers, so that where kHost points decides which
// one the producer talks to after a lookup.
class MovingBroker : public ::testing::Test {
protected:
  void SetUp() override {
    dog_ = std::make_unique<Watchdog>(60);
    uint16_t port = ClosedPort();
    ASSERT_NE(port, 0);
    advertised_ = std::string("pulsar://") + kHost + ":" + std::to_string(port);
    for (int i = 0; i < 2; i++) {
      pulsarc_tb_opts o = pulsarc_tb_opts_default();
      o.listen_host = i == 0 ? "127.0.0.1" : "127.0.0.2";
      o.port = port;
      o.advertised_url = advertised_.c_str();
      ASSERT_EQ(pulsarc_tb_start(&o, &tb_[i]), 0) << "broker " << i;
    }
    pc_resolver_set_alias(kHost, "127.0.0.1");
    // The service URL is the first broker's address: lookups go there.
    ASSERT_EQ(pulsarc_client_new(pulsarc_tb_service_url(tb_[0]), nullptr, &client_), PULSARC_OK);
  }
  void TearDown() override {
    if (p_ != nullptr)
      pulsarc_producer_destroy(p_);
    pulsarc_client_destroy(client_);
    for (pulsarc_tb *tb : tb_)
      pulsarc_tb_free(tb);
    pc_resolver_set_alias(kHost, nullptr);
    dog_.reset();
  }
  size_t Stored(int broker, const char *topic) {
    Snapshot s(tb_[broker], topic);
    return StoredMessages(s.get()).size();
  }

  std::unique_ptr<Watchdog> dog_;
  std::string advertised_;
  pulsarc_tb *tb_[2] = {nullptr, nullptr};
  pulsarc_client_t *client_ = nullptr;
  pulsarc_producer_t *p_ = nullptr;
};

TEST_F(MovingBroker, BrokerHostNameIsResolvedAgainOnReconnect) {
  ProducerConf c;
  c.Set("send_timeout_ms", "0").Set("backoff_initial_ms", "20");
  ASSERT_EQ(pulsarc_producer_create(client_, "moving", c.get(), &p_), PULSARC_OK);
  pulsarc_msg_id_t id;
  ASSERT_EQ(pulsarc_producer_send(p_, "before", 6, nullptr, &id), PULSARC_OK);
  EXPECT_EQ(Stored(0, "moving"), 1u);
  EXPECT_EQ(Stored(1, "moving"), 0u);

  // The owner's name now points at the other broker; the producer loses its
  // connection and must look the name up again, not reuse the old address.
  pc_resolver_set_alias(kHost, "127.0.0.2");
  pulsarc_tb_drop_connections(tb_[0]);
  ASSERT_EQ(pulsarc_producer_send(p_, "after", 5, nullptr, &id), PULSARC_OK)
      << pulsarc_last_error_text();
  EXPECT_EQ(Stored(1, "moving"), 1u) << "the reconnect went to the old address";
  EXPECT_EQ(Stored(0, "moving"), 1u);
}

class OwnershipMoves : public BrokerTest {};

// After a reconnect the broker answers PRODUCER with ServiceNotReady, as a
// real broker does for a topic whose bundle it no longer owns: the producer
// looks up and tries again, and nothing pending fails.
TEST_F(OwnershipMoves, NotOwnedAnswerIsRetriedWithoutFailingSends) {
  ProducerConf c;
  c.Set("send_timeout_ms", "0").Set("backoff_initial_ms", "20").Set("batch_max_delay_ms", "1");
  pulsarc_producer_t *p = Create("not-owned", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(50);
  for (int i = 0; i < 50; i++) {
    std::string m = "m" + std::to_string(i);
    ASSERT_EQ(
        pulsarc_producer_send_cb(p, m.data(), m.size(), nullptr, Completions::Cb, done.ctx(i)),
        PULSARC_OK);
  }
  EXPECT_TRUE(WaitUntil([&] { return Stats().entries > 0; }));
  uint64_t lookups_before = Stats().lookups;
  pulsarc_tb_fail_producers(tb_, 3, PULSARC_TB_SERVICE_NOT_READY);
  pulsarc_tb_drop_connections(tb_); // the held receipts are lost
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << pulsarc_last_error_text();
  ASSERT_EQ(done.Total(), 50u);
  for (size_t i = 0; i < 50; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << "message " << i;
  // Each refused registration sent the producer back to a lookup.
  EXPECT_GE(Stats().lookups, lookups_before + 4);
  Snapshot s(tb_, "not-owned");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  EXPECT_EQ(msgs.size(), 50u); // the resent entries deduplicated
}

} // namespace
} // namespace pulsarc_it
