// Waking blocked senders: the senders whose messages share an entry are
// woken together when it completes, by one wake syscall of the I/O thread
// (client/future.c: they sleep on one futex word, each under its thread's
// bit), and each of them exactly once, whether the entry is confirmed,
// refused by the broker, timed out or failed by close. The batch delay is
// an hour, so 15 senders pile up behind the first one's entry, which the
// broker holds the answer to, and go out in one entry when it is released.
#include <map>

#include "client/testing.h"
#include "harness.h"

namespace pulsarc_it {
namespace {

constexpr int kSenders = 16;

class BlockingWakes : public BrokerTest {
protected:
  pulsarc_producer_t *Producer(const std::string &topic, const char *send_timeout_ms = "0") {
    ProducerConf c;
    c.Set("batch_max_delay_ms", "3600000").Set("send_timeout_ms", send_timeout_ms);
    return Create(topic, c.get());
  }

  // Starts senders [from, to), each making one blocking send; results_[t]
  // is what sender t's send returned.
  void StartSenders(pulsarc_producer_t *p, int from = 0, int to = kSenders) {
    for (int t = from; t < to; t++)
      threads_.emplace_back([this, p, t] {
        std::string m = "s" + std::to_string(t);
        results_[t] = pulsarc_producer_send(p, m.data(), m.size(), nullptr, nullptr);
      });
  }

  // The I/O thread has taken in n messages.
  bool Accepted(pulsarc_producer_t *p, int n) {
    return WaitUntil([&] {
      pulsarc_producer_stats_t s;
      return pulsarc_producer_stats(p, &s, sizeof s) == PULSARC_OK &&
             s.msgs_accepted == static_cast<uint64_t>(n);
    });
  }

  // One sender's entry goes out and its answer is held; the other 15 then
  // wait behind it, taken in by the I/O thread, for the next entry.
  void FifteenBehindOne(pulsarc_producer_t *p) {
    pulsarc_tb_hold_receipts(tb_, true);
    StartSenders(p, 0, 1);
    EXPECT_TRUE(Accepted(p, 1));
    EXPECT_TRUE(WaitUntil([&] {
      pulsarc_producer_stats_t s;
      return pulsarc_producer_stats(p, &s, sizeof s) == PULSARC_OK && s.msgs_sent == 1;
    }));
    StartSenders(p, 1, kSenders);
    EXPECT_TRUE(Accepted(p, kSenders));
  }

  // Joins the senders (each returns: else the watchdog aborts the test)
  // and counts their results.
  std::map<pulsarc_err_t, int> JoinSenders() {
    for (auto &t : threads_)
      t.join();
    threads_.clear();
    std::map<pulsarc_err_t, int> n;
    for (pulsarc_err_t e : results_)
      n[e]++;
    return n;
  }

  std::vector<std::thread> threads_;
  std::vector<pulsarc_err_t> results_ = std::vector<pulsarc_err_t>(kSenders, PULSARC_ERR_PENDING);
};

TEST_F(BlockingWakes, SendersOfOneEntryWakeTogetherOnItsReceipt) {
  pulsarc_producer_t *p = Producer("bw-receipt");
  ASSERT_NE(p, nullptr);
  uint64_t wakes0 = pc_test_waiter_wakes();
  FifteenBehindOne(p);
  pulsarc_tb_hold_receipts(tb_, false);
  std::map<pulsarc_err_t, int> n = JoinSenders();
  EXPECT_EQ(n[PULSARC_OK], kSenders);
  uint64_t wakes = pc_test_waiter_wakes() - wakes0;
  Snapshot s(tb_, "bw-receipt");
  ASSERT_EQ(StoredMessages(s.get()).size(), static_cast<size_t>(kSenders));
  ASSERT_EQ(s->num_entries, 2u);
  EXPECT_EQ(s->entries[1].num_messages, kSenders - 1);
  // One wake per entry at most; waking each sleeping sender on its own
  // would take up to 16.
  EXPECT_LE(wakes, 2u);
}

TEST_F(BlockingWakes, SendersOfOneEntryWakeTogetherWhenTheBrokerRefusesIt) {
  pulsarc_producer_t *p = Producer("bw-refused");
  ASSERT_NE(p, nullptr);
  pulsarc_tb_fail_sends(tb_, 2, PULSARC_TB_NOT_ALLOWED);
  uint64_t wakes0 = pc_test_waiter_wakes();
  FifteenBehindOne(p);
  pulsarc_tb_hold_receipts(tb_, false);
  std::map<pulsarc_err_t, int> n = JoinSenders();
  EXPECT_EQ(n[PULSARC_ERR_BROKER_NOT_ALLOWED], kSenders);
  EXPECT_LE(pc_test_waiter_wakes() - wakes0, 2u);
  Snapshot s(tb_, "bw-refused");
  EXPECT_EQ(s->num_entries, 0u);
}

TEST_F(BlockingWakes, EverySenderWakesWhenTheirMessagesTimeOut) {
  pulsarc_producer_t *p = Producer("bw-timeout", "300");
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  StartSenders(p);
  std::map<pulsarc_err_t, int> n = JoinSenders();
  // The first one's entry was written (unconfirmed), the others never were.
  EXPECT_EQ(n[PULSARC_ERR_TIMEOUT_UNCONFIRMED] + n[PULSARC_ERR_TIMEOUT], kSenders);
  EXPECT_GE(n[PULSARC_ERR_TIMEOUT_UNCONFIRMED], 1);
  pulsarc_tb_hold_receipts(tb_, false);
}

TEST_F(BlockingWakes, EverySenderWakesWhenTheProducerCloses) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "3600000").Set("send_timeout_ms", "0").Set("close_timeout_ms", "0");
  pulsarc_producer_t *p = Create("bw-close", c.get());
  ASSERT_NE(p, nullptr);
  FifteenBehindOne(p);
  EXPECT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  std::map<pulsarc_err_t, int> n = JoinSenders();
  EXPECT_EQ(n[PULSARC_ERR_CLOSED], kSenders);
  pulsarc_tb_hold_receipts(tb_, false);
}

// Many rounds with every sender blocked at once: no wake is lost (a lost
// one leaves its sender asleep and the watchdog aborts the test).
TEST_F(BlockingWakes, ManyRoundsOfSixteenSendersAllComplete) {
  pulsarc_producer_t *p = Producer("bw-rounds");
  ASSERT_NE(p, nullptr);
  constexpr int kEach = 300;
  std::vector<int> failures(kSenders, 0);
  for (int t = 0; t < kSenders; t++)
    threads_.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++)
        if (pulsarc_producer_send(p, "r", 1, nullptr, nullptr) != PULSARC_OK)
          failures[t]++;
    });
  for (auto &t : threads_)
    t.join();
  threads_.clear();
  for (int t = 0; t < kSenders; t++)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  Snapshot s(tb_, "bw-rounds");
  EXPECT_EQ(StoredMessages(s.get()).size(), static_cast<size_t>(kSenders * kEach));
}

// A completion wakes only a waiter that sleeps: futures nobody waits on
// while they complete cost no wake syscall (one each before).
TEST_F(BlockingWakes, FuturesNobodySleepsOnAreCompletedWithoutAWake) {
  pulsarc_producer_t *p = Create("bw-futures");
  ASSERT_NE(p, nullptr);
  constexpr int kFutures = 100;
  std::vector<pulsarc_future_t *> fs(kFutures, nullptr);
  uint64_t wakes0 = pc_test_waiter_wakes();
  for (int i = 0; i < kFutures; i++)
    ASSERT_EQ(pulsarc_producer_send_async(p, "f", 1, nullptr, &fs[i]), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (pulsarc_future_t *f : fs) {
    EXPECT_EQ(pulsarc_future_wait(f, 0, nullptr), PULSARC_OK); // done: no sleep
    pulsarc_future_destroy(f);
  }
  // The flush's own waiter may have slept: one wake.
  EXPECT_LE(pc_test_waiter_wakes() - wakes0, 1u);
}

} // namespace
} // namespace pulsarc_it
