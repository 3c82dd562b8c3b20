// Group commit: a message someone waits for (a blocking send, a future being
// waited on) does not wait out batch_max_delay_ms, while concurrent waiting
// senders still share batches and async sends keep the delay. The batch
// delay here is an hour: without group commit every wait below would run
// into its bound (the send timeout is off). No assertion on time.
#include <map>

#include "harness.h"

namespace pulsarc_it {
namespace {

class GroupCommit : public BrokerTest {
protected:
  pulsarc_producer_t *HourDelayProducer(const std::string &topic) {
    ProducerConf c;
    c.Set("batch_max_delay_ms", "3600000").Set("send_timeout_ms", "0");
    return Create(topic, c.get());
  }
};

bool Before(const pulsarc_msg_id_t &a, const pulsarc_msg_id_t &b) {
  return pulsarc_msg_id_compare(&a, &b) < 0;
}

TEST_F(GroupCommit, OneThreadBlockingSendsDoNotWaitForTheBatchDelay) {
  pulsarc_producer_t *p = HourDelayProducer("gc-one");
  ASSERT_NE(p, nullptr);
  pulsarc_msg_id_t prev{};
  for (int i = 0; i < 20; i++) {
    std::string m = "m" + std::to_string(i);
    pulsarc_msg_id_t id;
    ASSERT_EQ(pulsarc_producer_send(p, m.data(), m.size(), nullptr, &id), PULSARC_OK)
        << "message " << i << ": " << pulsarc_last_error_text();
    if (i > 0) {
      EXPECT_TRUE(Before(prev, id)) << "ids must strictly increase, message " << i;
    }
    prev = id;
  }
  Snapshot s(tb_, "gc-one");
  EXPECT_EQ(StoredMessages(s.get()).size(), 20u);
}

TEST_F(GroupCommit, SixteenBlockingThreadsShareBatchesAndKeepOrder) {
  pulsarc_producer_t *p = HourDelayProducer("gc-sixteen");
  ASSERT_NE(p, nullptr);
  // Receipts take a while, so waiting senders pile up behind the batch on
  // the wire and must go out together in the next one.
  pulsarc_tb_delay_receipts(tb_, 20);
  constexpr int kThreads = 16, kEach = 15;
  std::vector<std::thread> ts;
  std::vector<int> failures(kThreads, 0), disorder(kThreads, 0);
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      pulsarc_msg_id_t prev{};
      for (int i = 0; i < kEach; i++) {
        std::string m = std::to_string(t) + ":" + std::to_string(i);
        pulsarc_msg_id_t id;
        if (pulsarc_producer_send(p, m.data(), m.size(), nullptr, &id) != PULSARC_OK) {
          failures[t]++;
          continue;
        }
        if (i > 0 && !Before(prev, id))
          disorder[t]++;
        prev = id;
      }
    });
  for (auto &t : ts)
    t.join();
  pulsarc_tb_delay_receipts(tb_, 0);
  for (int t = 0; t < kThreads; t++) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    EXPECT_EQ(disorder[t], 0) << "thread " << t << ": ids not strictly increasing";
  }
  Snapshot s(tb_, "gc-sixteen");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), static_cast<size_t>(kThreads * kEach));
  // Every message once, each thread's in its order.
  std::map<int, int> next;
  for (const StoredMsg &m : msgs) {
    int t = std::stoi(m.payload.substr(0, m.payload.find(':')));
    int i = std::stoi(m.payload.substr(m.payload.find(':') + 1));
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
  }
  int largest = 0;
  for (size_t i = 0; i < s->num_entries; i++)
    largest = std::max(largest, s->entries[i].num_messages);
  EXPECT_GT(largest, 1) << "16 waiting senders never shared an entry";
}

TEST_F(GroupCommit, WaitingOnAFutureSealsItsMessage) {
  pulsarc_producer_t *p = HourDelayProducer("gc-future");
  ASSERT_NE(p, nullptr);
  pulsarc_msg_id_t prev{};
  for (int i = 0; i < 10; i++) {
    pulsarc_future_t *f = nullptr;
    ASSERT_EQ(pulsarc_producer_send_async(p, "f", 1, nullptr, &f), PULSARC_OK);
    // Half of them wait only after the I/O thread has queued the message.
    if (i % 2 == 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pulsarc_msg_id_t id;
    EXPECT_EQ(pulsarc_future_wait(f, kWaitMs, &id), PULSARC_OK) << "future " << i;
    pulsarc_future_destroy(f);
    if (i > 0) {
      EXPECT_TRUE(Before(prev, id)) << "future " << i;
    }
    prev = id;
  }
}

TEST_F(GroupCommit, AsyncSendsNobodyWaitsForKeepTheBatchDelay) {
  pulsarc_producer_t *p = HourDelayProducer("gc-async");
  ASSERT_NE(p, nullptr);
  Completions done(3);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, "a", 1, nullptr, Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  pulsarc_future_t *unwaited = nullptr;
  ASSERT_EQ(pulsarc_producer_send_async(p, "u", 1, nullptr, &unwaited), PULSARC_OK);
  // Nothing is due for an hour: nothing may complete on its own.
  EXPECT_FALSE(WaitUntil([&] { return done.Total() > 0; }, 300));
  EXPECT_EQ(pulsarc_future_wait(unwaited, 0, nullptr), PULSARC_ERR_WAIT_TIMEOUT);
  // A blocking send behind them takes the whole open batch with it.
  pulsarc_msg_id_t id;
  ASSERT_EQ(pulsarc_producer_send(p, "b", 1, nullptr, &id), PULSARC_OK);
  EXPECT_TRUE(done.WaitTotal(3));
  EXPECT_EQ(pulsarc_future_wait(unwaited, kWaitMs, nullptr), PULSARC_OK);
  pulsarc_future_destroy(unwaited);
  Snapshot s(tb_, "gc-async");
  ASSERT_EQ(s->num_entries, 1u);
  EXPECT_EQ(s->entries[0].num_messages, 5);
}

} // namespace
} // namespace pulsarc_it
