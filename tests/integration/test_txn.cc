// Transactions against the test broker's coordinator: begin/commit/abort,
// the txn id on every SEND and in the metadata, ADD_PARTITION_TO_TXN before
// a partition's first transactional SEND, batches that never mix
// transactions, Java's send-timeout rule, commit aborting after a failed
// send, the timeout, and coordinator requests retried after a lost
// connection or a coordinator not ready.
#include <chrono>

#include "harness.h"

extern "C" {
#include "pulsarc.pb-c.h"
}

namespace pulsarc_it {
namespace {

const char *kTcTopic = "persistent://pulsar/system/transaction_coordinator_assign";

class Txn : public BrokerTest {
protected:
  void SetUp() override {
    BrokerTest::SetUp();
    pulsarc_tb_set_partitions(tb_, kTcTopic, 2);
  }
  pulsarc_tb_txn_stats TxnStats() {
    pulsarc_tb_txn_stats s;
    pulsarc_tb_get_txn_stats(tb_, &s);
    return s;
  }
  // A producer transactional sends may use: no send timeout.
  pulsarc_producer_t *TxnProducer(const std::string &topic, const char *batch_delay = "1") {
    ProducerConf c;
    c.Set("send_timeout_ms", "0").Set("batch_max_delay_ms", batch_delay);
    return Create(topic, c.get());
  }
  static std::pair<uint64_t, uint64_t> Id(pulsarc_txn_t *t) {
    uint64_t m = 0, l = 0;
    EXPECT_EQ(pulsarc_txn_id(t, &m, &l), PULSARC_OK);
    return {m, l};
  }
  // The txn id of each stored entry (from its MessageMetadata and SEND),
  // {UINT64_MAX, UINT64_MAX} for none.
  std::vector<std::pair<uint64_t, uint64_t>> EntryTxns(const std::string &topic) {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    Snapshot s(tb_, topic);
    for (size_t i = 0; s.get() != nullptr && i < s->num_entries; i++) {
      const pulsarc_tb_entry &e = s->entries[i];
      Pulsarc__MessageMetadata *md =
          pulsarc__message_metadata__unpack(nullptr, e.metadata_len, e.metadata);
      EXPECT_NE(md, nullptr);
      if (md == nullptr)
        continue;
      if (md->has_txnid_most_bits)
        out.emplace_back(md->txnid_most_bits, md->txnid_least_bits);
      else
        out.emplace_back(UINT64_MAX, UINT64_MAX);
      pulsarc__message_metadata__free_unpacked(md, nullptr);
    }
    return out;
  }
};

TEST_F(Txn, CommitCarriesTheIdAndAddsThePartitionFirst) {
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK) << pulsarc_last_error_text();
  auto id = Id(t);
  EXPECT_LT(id.first, 2u); // a coordinator of the two
  pulsarc_tb_txn_stats s = TxnStats();
  EXPECT_EQ(s.new_txns, 1u);
  EXPECT_EQ(s.last_ttl_ms, 60000u); // the client's default, in milliseconds
  EXPECT_GE(s.tc_connects, 1u);     // protocol 19: TC_CLIENT_CONNECT first

  pulsarc_producer_t *p = TxnProducer("txn-basic");
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_txn(o.get(), t), PULSARC_OK);
  Completions done(5);
  for (int i = 0; i < 5; i++) {
    std::string m = "t" + std::to_string(i);
    ASSERT_EQ(
        pulsarc_producer_send_cb(p, m.data(), m.size(), o.get(), Completions::Cb, done.ctx(i)),
        PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_txn_commit(t), PULSARC_OK) << pulsarc_last_error_text();
  // Commit waited for every send.
  EXPECT_EQ(done.Total(), 5u);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK);
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, id.first, id.second), PULSARC_TB_TXN_COMMITTED);
  s = TxnStats();
  EXPECT_EQ(s.commits, 1u);
  EXPECT_EQ(s.partitions_added, 1u);
  EXPECT_GE(s.txn_sends, 1u);
  EXPECT_EQ(s.unadded_sends, 0u);
  for (auto &e : EntryTxns(FullTopic("txn-basic")))
    EXPECT_EQ(e, id);
  // Committed: no more sends, no second commit.
  EXPECT_EQ(pulsarc_producer_send(p, "x", 1, o.get(), nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_txn_destroy(t);
}

TEST_F(Txn, BatchesNeverMixTransactions) {
  pulsarc_txn_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &a), PULSARC_OK);
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &b), PULSARC_OK);
  pulsarc_producer_t *p = TxnProducer("txn-mix", "200");
  ASSERT_NE(p, nullptr);
  MsgOpts oa, ob, none;
  ASSERT_EQ(pulsarc_msg_opts_set_txn(oa.get(), a), PULSARC_OK);
  ASSERT_EQ(pulsarc_msg_opts_set_txn(ob.get(), b), PULSARC_OK);
  const pulsarc_msg_opts_t *seq[] = {oa.get(), oa.get(), ob.get(),   none.get(), oa.get(),
                                     ob.get(), ob.get(), none.get(), none.get()};
  Completions done(9);
  for (int i = 0; i < 9; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, "m", 1, seq[i], Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  auto ida = Id(a), idb = Id(b);
  std::pair<uint64_t, uint64_t> nil{UINT64_MAX, UINT64_MAX};
  std::vector<std::pair<uint64_t, uint64_t>> want = {ida, idb, nil, ida, idb, nil};
  // Each run of one transaction (or none) is an entry of its own; the
  // flush sealed them in order.
  EXPECT_EQ(EntryTxns(FullTopic("txn-mix")), want);
  Snapshot s(tb_, FullTopic("txn-mix"));
  ASSERT_NE(s.get(), nullptr);
  EXPECT_EQ(s->messages, 9u);
  EXPECT_EQ(TxnStats().unadded_sends, 0u);
  EXPECT_EQ(pulsarc_txn_commit(a), PULSARC_OK);
  EXPECT_EQ(pulsarc_txn_abort(b), PULSARC_OK);
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, ida.first, ida.second), PULSARC_TB_TXN_COMMITTED);
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, idb.first, idb.second), PULSARC_TB_TXN_ABORTED);
  pulsarc_txn_destroy(a);
  pulsarc_txn_destroy(b);
}

TEST_F(Txn, EachPartitionIsAddedOnceBeforeItsFirstSend) {
  pulsarc_tb_set_partitions(tb_, "txn-parts", 3);
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK);
  ProducerConf c;
  c.Set("send_timeout_ms", "0").Set("batching", "false");
  pulsarc_producer_t *p = Create("txn-parts", c.get());
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_txn(o.get(), t), PULSARC_OK);
  for (int i = 0; i < 9; i++)
    ASSERT_EQ(pulsarc_producer_send(p, "m", 1, o.get(), nullptr), PULSARC_OK);
  ASSERT_EQ(pulsarc_txn_commit(t), PULSARC_OK);
  pulsarc_tb_txn_stats s = TxnStats();
  EXPECT_EQ(s.partitions_added, 3u);
  EXPECT_EQ(s.txn_sends, 9u);
  EXPECT_EQ(s.unadded_sends, 0u);
  pulsarc_txn_destroy(t);
}

TEST_F(Txn, SendsWithADeadlineAreRefused) {
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK);
  pulsarc_producer_t *p = Create("txn-deadline"); // default send_timeout_ms
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_txn(o.get(), t), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_send(p, "m", 1, o.get(), nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("send_timeout_ms=0"), std::string::npos)
      << pulsarc_last_error_text();
  // A per-message timeout of 0 lifts the producer's.
  o.Timeout(0);
  EXPECT_EQ(pulsarc_producer_send(p, "m", 1, o.get(), nullptr), PULSARC_OK);
  // The refused send did not count: the commit goes through.
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_OK);
  pulsarc_txn_destroy(t);
}

TEST_F(Txn, CommitAfterAFailedSendAborts) {
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK);
  auto id = Id(t);
  pulsarc_producer_t *p = TxnProducer("txn-failed");
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  ASSERT_EQ(pulsarc_msg_opts_set_txn(o.get(), t), PULSARC_OK);
  pulsarc_tb_fail_sends(tb_, 1, PULSARC_TB_NOT_ALLOWED); // refuses that entry only
  Completions done(2);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "a", 1, o.get(), Completions::Cb, done.ctx(0)), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(1));
  ASSERT_EQ(pulsarc_producer_send_cb(p, "b", 1, o.get(), Completions::Cb, done.ctx(1)), PULSARC_OK);
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_ERR_TXN_SEND_FAILED);
  EXPECT_EQ(done.Total(), 2u);
  EXPECT_EQ(done.at(0).err.load(), PULSARC_ERR_BROKER_NOT_ALLOWED);
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, id.first, id.second), PULSARC_TB_TXN_ABORTED);
  EXPECT_EQ(TxnStats().commits, 0u);
  pulsarc_txn_destroy(t);
}

TEST_F(Txn, TimedOutTransactionFailsToCommit) {
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 300, &t), PULSARC_OK);
  auto id = Id(t);
  EXPECT_EQ(TxnStats().last_ttl_ms, 300u);
  ASSERT_TRUE(WaitUntil(
      [&] { return pulsarc_tb_txn_state_of(tb_, id.first, id.second) == PULSARC_TB_TXN_ABORTED; }));
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_ERR_BROKER_INVALID_TXN_STATUS);
  EXPECT_EQ(TxnStats().commits, 0u);
  pulsarc_txn_destroy(t);
}

TEST_F(Txn, NoCoordinatorIsANamedError) {
  pulsarc_tb_set_partitions(tb_, kTcTopic, 0);
  pulsarc_txn_t *t = nullptr;
  EXPECT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND);
  EXPECT_EQ(t, nullptr);
}

TEST_F(Txn, CoordinatorRequestsAreRetried) {
  // The first request's connection is dropped without an answer, the
  // second is answered "coordinator not found" (still loading): both are
  // sent again, on a new connection.
  pulsarc_tb_fail_txn_requests(tb_, 1, -1);
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK) << pulsarc_last_error_text();
  pulsarc_tb_fail_txn_requests(tb_, 1, 20 /* TransactionCoordinatorNotFound */);
  pulsarc_tb_drop_connections(tb_);
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_OK) << pulsarc_last_error_text();
  auto id = Id(t);
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, id.first, id.second), PULSARC_TB_TXN_COMMITTED);
  pulsarc_txn_destroy(t);
}

// A coordinator request written and never answered, on a connection that
// stays up: the call fails with PULSARC_ERR_TIMEOUT after the client's
// operation timeout, and is not sent again (it may have been applied: a
// commit that timed out leaves the transaction as the coordinator has it,
// here still open). The client stays usable.
TEST_F(Txn, UnansweredCoordinatorRequestTimesOut) {
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  ASSERT_EQ(pulsarc_client_conf_set(cc, "operation_timeout_ms", "1000", nullptr, 0), PULSARC_OK);
  pulsarc_client_t *c = nullptr;
  ASSERT_EQ(pulsarc_client_new(url_.c_str(), cc, &c), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);

  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(c, 0, &t), PULSARC_OK) << pulsarc_last_error_text();
  auto id = Id(t);
  uint64_t new_before = TxnStats().new_txns;
  pulsarc_tb_fail_txn_requests(tb_, 1, PULSARC_TB_TXN_UNANSWERED);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_ERR_TIMEOUT) << pulsarc_last_error_text();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.9);  // waited for the answer, did not give up early
  EXPECT_LT(took, 15.0); // and did not retry until some larger bound
  EXPECT_EQ(pulsarc_tb_txn_state_of(tb_, id.first, id.second), PULSARC_TB_TXN_OPEN);
  EXPECT_EQ(TxnStats().commits, 0u);
  pulsarc_txn_destroy(t);

  // The same client opens and commits the next transaction.
  pulsarc_txn_t *t2 = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(c, 0, &t2), PULSARC_OK) << pulsarc_last_error_text();
  EXPECT_EQ(TxnStats().new_txns, new_before + 1);
  EXPECT_EQ(pulsarc_txn_commit(t2), PULSARC_OK) << pulsarc_last_error_text();
  pulsarc_txn_destroy(t2);
  pulsarc_client_destroy(c);
}

TEST_F(Txn, AsyncFormsComplete) {
  pulsarc_txn_t *t = nullptr;
  pulsarc_future_t *f = nullptr;
  ASSERT_EQ(pulsarc_txn_begin_async(client_, 0, &t, &f), PULSARC_OK);
  ASSERT_EQ(WaitFuture(f, nullptr), PULSARC_OK);
  pulsarc_future_destroy(f);
  ASSERT_EQ(pulsarc_txn_abort_async(t, &f), PULSARC_OK);
  ASSERT_EQ(WaitFuture(f, nullptr), PULSARC_OK);
  pulsarc_future_destroy(f);
  EXPECT_EQ(TxnStats().aborts, 1u);
  pulsarc_txn_destroy(t);
}

// A broker speaking protocol 18 gets no TC_CLIENT_CONNECT (the official
// clients send it from 19 on).
class TxnProtocol18 : public Txn {
protected:
  void BrokerOptions(pulsarc_tb_opts *o) override { o->max_protocol_version = 18; }
};

TEST_F(TxnProtocol18, NoTcClientConnect) {
  pulsarc_txn_t *t = nullptr;
  ASSERT_EQ(pulsarc_txn_begin(client_, 0, &t), PULSARC_OK);
  EXPECT_EQ(pulsarc_txn_commit(t), PULSARC_OK);
  pulsarc_tb_txn_stats s = TxnStats();
  EXPECT_EQ(s.tc_connects, 0u);
  EXPECT_EQ(s.commits, 1u);
  pulsarc_txn_destroy(t);
}

} // namespace
} // namespace pulsarc_it
