// What an application can watch of a producer: the state callback (per
// partition, with the reason), pulsarc_producer_is_connected and
// pulsarc_producer_last_sequence_id.
#include <mutex>

#include "harness.h"

namespace pulsarc_it {
namespace {

struct Event {
  int partition;
  pulsarc_producer_state_t state;
  pulsarc_err_t reason;
};

class StateLog {
public:
  static void Cb(pulsarc_producer_t *, int partition, pulsarc_producer_state_t state,
                 pulsarc_err_t reason, void *ctx) {
    auto *l = static_cast<StateLog *>(ctx);
    std::lock_guard<std::mutex> g(l->mu_);
    l->events_.push_back({partition, state, reason});
  }
  std::vector<Event> Events() {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  // The states of one partition, in order.
  std::vector<pulsarc_producer_state_t> States(int partition) {
    std::vector<pulsarc_producer_state_t> out;
    for (const Event &e : Events())
      if (e.partition == partition)
        out.push_back(e.state);
    return out;
  }
  bool Saw(pulsarc_producer_state_t s, int partition = -1) {
    for (const Event &e : Events())
      if (e.state == s && e.partition == partition)
        return true;
    return false;
  }

private:
  std::mutex mu_;
  std::vector<Event> events_;
};

class ProducerState : public BrokerTest {
protected:
  void BrokerOptions(pulsarc_tb_opts *o) override {
    static const pulsarc_tb_partitions parts[] = {{"state-parts", 3}};
    o->partitions = parts;
    o->num_partitions = 1;
  }
};

TEST_F(ProducerState, ConnectingReadyDisconnectedReconnectingReadyClosed) {
  StateLog log;
  ProducerConf c;
  c.Set("backoff_initial_ms", "20");
  ASSERT_EQ(pulsarc_producer_conf_set_state_cb(c.get(), StateLog::Cb, &log), PULSARC_OK);
  pulsarc_producer_t *p = Create("state-cycle", c.get());
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(pulsarc_producer_is_connected(p));
  EXPECT_EQ(log.States(-1), (std::vector<pulsarc_producer_state_t>{PULSARC_PRODUCER_CONNECTING,
                                                                   PULSARC_PRODUCER_READY}));

  pulsarc_tb_drop_connections(tb_);
  EXPECT_TRUE(WaitUntil([&] { return log.States(-1).size() >= 5; }));
  EXPECT_EQ(log.States(-1),
            (std::vector<pulsarc_producer_state_t>{
                PULSARC_PRODUCER_CONNECTING, PULSARC_PRODUCER_READY, PULSARC_PRODUCER_DISCONNECTED,
                PULSARC_PRODUCER_RECONNECTING, PULSARC_PRODUCER_READY}));
  std::vector<Event> ev = log.Events();
  ASSERT_GE(ev.size(), 3u);
  EXPECT_NE(ev[2].reason, PULSARC_OK) << "a disconnect says why";
  EXPECT_EQ(ev[1].reason, PULSARC_OK);
  EXPECT_TRUE(WaitUntil([&] { return pulsarc_producer_is_connected(p); }));

  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  EXPECT_FALSE(pulsarc_producer_is_connected(p));
  EXPECT_EQ(log.States(-1).back(), PULSARC_PRODUCER_CLOSED);
  size_t n = log.Events().size();
  pulsarc_producer_destroy(p);
  Forget(p);
  EXPECT_EQ(log.Events().size(), n) << "no callback after destroy";
}

TEST_F(ProducerState, FencedSaysFencedWithItsReason) {
  StateLog log;
  ProducerConf c;
  ASSERT_EQ(pulsarc_producer_conf_set_state_cb(c.get(), StateLog::Cb, &log), PULSARC_OK);
  pulsarc_producer_t *p = Create("state-fenced", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_fail_sends(tb_, 1, PULSARC_TB_PRODUCER_FENCED);
  pulsarc_msg_id_t id;
  EXPECT_EQ(pulsarc_producer_send(p, "x", 1, nullptr, &id), PULSARC_ERR_BROKER_PRODUCER_FENCED);
  ASSERT_TRUE(WaitUntil([&] { return log.Saw(PULSARC_PRODUCER_FENCED); }));
  EXPECT_EQ(log.Events().back().reason, PULSARC_ERR_BROKER_PRODUCER_FENCED);
  EXPECT_FALSE(pulsarc_producer_is_connected(p));
}

TEST_F(ProducerState, EveryPartitionTellsItsOwnState) {
  StateLog log;
  ProducerConf c;
  ASSERT_EQ(pulsarc_producer_conf_set_state_cb(c.get(), StateLog::Cb, &log), PULSARC_OK);
  pulsarc_producer_t *p = Create("state-parts", c.get());
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(pulsarc_producer_is_connected(p));
  for (int k = 0; k < 3; k++)
    EXPECT_EQ(log.States(k), (std::vector<pulsarc_producer_state_t>{PULSARC_PRODUCER_CONNECTING,
                                                                    PULSARC_PRODUCER_READY}))
        << "partition " << k;
  EXPECT_TRUE(log.States(-1).empty());
}

TEST_F(ProducerState, LastSequenceIdFollowsReceipts) {
  pulsarc_producer_t *p = Create("state-seq");
  ASSERT_NE(p, nullptr);
  // A new topic: the broker reports no sequence id yet.
  EXPECT_EQ(pulsarc_producer_last_sequence_id(p), -1);
  pulsarc_msg_id_t id;
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(pulsarc_producer_send(p, "x", 1, nullptr, &id), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_last_sequence_id(p), 2);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_sequence_id(o.get(), 100), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send(p, "y", 1, o.get(), &id), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_last_sequence_id(p), 100);
}

TEST_F(ProducerState, LastSequenceIdStartsAtTheInitialOne) {
  ProducerConf c;
  c.Set("initial_sequence_id", "41");
  pulsarc_producer_t *p = Create("state-seq-initial", c.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pulsarc_producer_last_sequence_id(p), 41);
  pulsarc_msg_id_t id;
  ASSERT_EQ(pulsarc_producer_send(p, "x", 1, nullptr, &id), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_last_sequence_id(p), 42);
  EXPECT_EQ(pulsarc_producer_last_sequence_id(nullptr), -1);
  EXPECT_FALSE(pulsarc_producer_is_connected(nullptr));
  EXPECT_STREQ(pulsarc_producer_state_name(PULSARC_PRODUCER_FENCED), "fenced");
  EXPECT_STREQ(pulsarc_producer_state_name(static_cast<pulsarc_producer_state_t>(99)), "unknown");
}

} // namespace
} // namespace pulsarc_it
