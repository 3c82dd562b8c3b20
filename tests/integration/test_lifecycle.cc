// Flush, close and destroy; send timeouts; backpressure. Receipts are held
// in the broker where a test needs messages to stay pending.
#include "harness.h"

namespace pulsarc_it {
namespace {

class Lifecycle : public BrokerTest {
protected:
  void TearDown() override {
    if (tb_ != nullptr)
      pulsarc_tb_hold_receipts(tb_, false);
    BrokerTest::TearDown();
  }
};

std::unique_ptr<Completions> SendN(pulsarc_producer_t *p, const std::string &prefix, int n,
                                   const pulsarc_msg_opts_t *o = nullptr) {
  auto done = std::make_unique<Completions>(n);
  for (int i = 0; i < n; i++) {
    std::string s = prefix + std::to_string(i);
    EXPECT_EQ(pulsarc_producer_send_cb(p, s.data(), s.size(), o, Completions::Cb, done->ctx(i)),
              PULSARC_OK)
        << i;
  }
  return done;
}

// 6. flush returns only after every prior message completed.
TEST_F(Lifecycle, FlushWaitsForAllPriorMessages) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("flush", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendN(p, "f", 100);
  pulsarc_future_t *f = nullptr;
  ASSERT_EQ(pulsarc_producer_send_async(p, "fut", 3, nullptr, &f), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  // No waiting here: flush's return is the guarantee.
  EXPECT_EQ(done->Total(), 100u);
  for (int i = 0; i < 100; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
  pulsarc_msg_id_t id{};
  EXPECT_EQ(pulsarc_future_wait(f, 0, &id), PULSARC_OK);
  pulsarc_future_destroy(f);
  EXPECT_EQ(TopicStats("flush").messages, 101u);
  // An empty flush returns OK.
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
}

struct DoneRec {
  std::atomic<int> calls{0};
  std::atomic<int> err{-1};
};
void OnDone(pulsarc_err_t err, void *ctx) {
  DoneRec *d = static_cast<DoneRec *>(ctx);
  d->err = err;
  d->calls++;
}

TEST_F(Lifecycle, FlushCbCompletesAfterPriorMessages) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("flush-async", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendN(p, "f", 20);
  DoneRec d;
  ASSERT_EQ(pulsarc_producer_flush_cb(p, OnDone, &d), PULSARC_OK);
  ASSERT_TRUE(done->WaitTotal(20));
  WaitUntil([&] { return d.calls.load() != 0; });
  EXPECT_EQ(d.calls.load(), 1);
  EXPECT_EQ(d.err.load(), PULSARC_OK);
}

// A flush that cannot finish (receipts held) times out; the messages stay
// pending and complete later.
TEST_F(Lifecycle, FlushTimeoutLeavesMessagesPending) {
  pulsarc_producer_t *p = Create("flush-timeout");
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "h", 5);
  EXPECT_EQ(pulsarc_producer_flush(p, 200), PULSARC_ERR_WAIT_TIMEOUT);
  EXPECT_EQ(done->Total(), 0u);
  pulsarc_tb_hold_receipts(tb_, false);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(done->Total(), 5u);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK);
}

// close flushes what is pending, then later sends fail with CLOSED.
TEST_F(Lifecycle, CloseFlushesPendingThenRefuses) {
  ProducerConf c;
  c.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("close-flush", c.get());
  ASSERT_NE(p, nullptr);
  auto done = SendN(p, "c", 50);
  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  EXPECT_EQ(done->Total(), 50u) << "close returned before pending messages completed";
  for (int i = 0; i < 50; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
  EXPECT_EQ(TopicStats("close-flush").messages, 50u);
  EXPECT_EQ(TopicStats("close-flush").producers_open, 0u);
  MsgOpts o;
  o.Timeout(1000);
  EXPECT_EQ(pulsarc_producer_send(p, "late", 4, o.get(), nullptr), PULSARC_ERR_CLOSED);
  Completions late(1);
  EXPECT_EQ(pulsarc_producer_send_cb(p, "late", 4, nullptr, Completions::Cb, late.ctx(0)),
            PULSARC_ERR_CLOSED);
  pulsarc_future_t *f = nullptr;
  EXPECT_EQ(pulsarc_producer_send_async(p, "late", 4, nullptr, &f), PULSARC_ERR_CLOSED);
  EXPECT_EQ(late.Total(), 0u);
  EXPECT_EQ(TopicStats("close-flush").messages, 50u);
}

// Close whose flush cannot finish (receipts held) fails the rest with CLOSED
// after close_timeout_ms.
TEST_F(Lifecycle, CloseTimeoutFailsPendingWithClosed) {
  ProducerConf c;
  c.Set("close_timeout_ms", "300").Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("close-timeout", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "c", 5);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "close-timeout", 5, kWaitMs));
  pulsarc_producer_close(p);
  ASSERT_TRUE(done->WaitTotal(5));
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(done->at(i).calls.load(), 1) << i;
    EXPECT_EQ(done->at(i).err.load(), PULSARC_ERR_CLOSED) << i;
  }
}

// destroy without close: pending sends fail with CLOSED, exactly once, and
// destroy does not hang.
TEST_F(Lifecycle, DestroyWithoutCloseFailsPendingWithClosed) {
  ProducerConf c;
  c.Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("destroy-pending", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "d", 10);
  std::vector<pulsarc_future_t *> futs(3);
  for (auto &f : futs)
    ASSERT_EQ(pulsarc_producer_send_async(p, "fut", 3, nullptr, &f), PULSARC_OK);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "destroy-pending", 13, kWaitMs));
  Forget(p);
  pulsarc_producer_destroy(p);
  // destroy returned: every callback has run (no waiting needed, but allow
  // a deferred completion to land).
  ASSERT_TRUE(done->WaitTotal(10));
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(done->at(i).calls.load(), 1) << i;
    EXPECT_EQ(done->at(i).err.load(), PULSARC_ERR_CLOSED) << i;
  }
  for (auto f : futs) {
    EXPECT_EQ(pulsarc_future_wait(f, kWaitMs, nullptr), PULSARC_ERR_CLOSED);
    pulsarc_future_destroy(f);
  }
  // Releasing the receipts now must not resurrect anything.
  pulsarc_tb_hold_receipts(tb_, false);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 10; i++)
    EXPECT_EQ(done->at(i).calls.load(), 1) << i;
}

// Client destroy with an open producer and pending messages: CLOSED, no hang.
TEST_F(Lifecycle, ClientDestroyFailsPendingWithClosed) {
  ProducerConf c;
  c.Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("client-destroy", c.get());
  ASSERT_NE(p, nullptr);
  Forget(p);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "d", 5);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "client-destroy", 5, kWaitMs));
  pulsarc_client_destroy(client_);
  client_ = nullptr;
  ASSERT_TRUE(done->WaitTotal(5));
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_ERR_CLOSED) << i;
}

// Future destroyed before completion: no crash, result dropped.
TEST_F(Lifecycle, FutureDestroyedBeforeCompletion) {
  pulsarc_producer_t *p = Create("future-free");
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  pulsarc_future_t *f = nullptr;
  ASSERT_EQ(pulsarc_producer_send_async(p, "x", 1, nullptr, &f), PULSARC_OK);
  EXPECT_EQ(pulsarc_future_wait(f, 0, nullptr), PULSARC_ERR_WAIT_TIMEOUT);
  EXPECT_EQ(pulsarc_future_wait(f, 50, nullptr), PULSARC_ERR_WAIT_TIMEOUT);
  pulsarc_future_destroy(f);
  pulsarc_tb_hold_receipts(tb_, false);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(TopicStats("future-free").messages, 1u);
}

// 7. Timeouts. Written but unconfirmed -> TIMEOUT_UNCONFIRMED.
TEST_F(Lifecycle, TimeoutAfterWriteIsUnconfirmed) {
  pulsarc_producer_t *p = Create("timeout-unconfirmed");
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  MsgOpts o;
  o.Timeout(200);
  pulsarc_msg_id_t id{};
  EXPECT_EQ(pulsarc_producer_send(p, "blocking", 8, o.get(), &id), PULSARC_ERR_TIMEOUT_UNCONFIRMED);
  Completions done(2);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "cb", 2, o.get(), Completions::Cb, done.ctx(0)),
            PULSARC_OK);
  pulsarc_future_t *f = nullptr;
  ASSERT_EQ(pulsarc_producer_send_async(p, "fut", 3, o.get(), &f), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(1));
  EXPECT_EQ(done.at(0).err.load(), PULSARC_ERR_TIMEOUT_UNCONFIRMED);
  EXPECT_EQ(pulsarc_future_wait(f, kWaitMs, nullptr), PULSARC_ERR_TIMEOUT_UNCONFIRMED);
  pulsarc_future_destroy(f);
  // The broker did store them (it only withheld the receipts).
  EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, "timeout-unconfirmed", 3, kWaitMs));
  // Receipts released late must not complete anything a second time.
  pulsarc_tb_hold_receipts(tb_, false);
  MsgOpts o2;
  o2.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, "next", 4, o2.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(done.at(0).calls.load(), 1);
}

// Large payloads are spliced into their frames (written from the sender's
// copy). Their deadlines pass in every state: sealed but never written
// (taken back from the connection: TIMEOUT), partly written, and written
// without a receipt (TIMEOUT_UNCONFIRMED, the payload kept for a resend);
// then the connection drops, pending frames are resent, and the producer
// goes on. Under ASan this is the use-after-free and leak check of those
// paths; everywhere it checks each callback runs once.
TEST_F(Lifecycle, SplicedPayloadsTimeOutInEveryStateAndTheProducerGoesOn) {
  ProducerConf c;
  c.Set("batching", "false").Set("max_pending_messages", "5000");
  pulsarc_producer_t *p = Create("spliced-timeouts", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_stop_reading(tb_, true);
  constexpr int kN = 1500;
  const std::string big(8192, 's');
  MsgOpts o;
  o.Timeout(300);
  Completions done(kN + 1);
  for (int i = 0; i < kN; i++)
    ASSERT_EQ(
        pulsarc_producer_send_cb(p, big.data(), big.size(), o.get(), Completions::Cb, done.ctx(i)),
        PULSARC_OK)
        << i;
  ASSERT_TRUE(done.WaitTotal(kN));
  int never = 0, unconfirmed = 0;
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
    auto e = static_cast<pulsarc_err_t>(done.at(i).err.load());
    if (e == PULSARC_ERR_TIMEOUT)
      never++;
    else if (e == PULSARC_ERR_TIMEOUT_UNCONFIRMED)
      unconfirmed++;
    else
      ADD_FAILURE() << i << ": " << pulsarc_err_str(e);
  }
  EXPECT_GT(never, 0) << "no frame was taken back unwritten";
  EXPECT_GT(unconfirmed, 0) << "no frame was written before its deadline";
  // Reconnect while written frames are still pending: they are resent from
  // the spliced payloads, which must still be there.
  pulsarc_tb_drop_connections(tb_);
  pulsarc_tb_stop_reading(tb_, false);
  MsgOpts o2;
  o2.Timeout(10000);
  std::string last(8192, 'z');
  EXPECT_EQ(pulsarc_producer_send(p, last.data(), last.size(), o2.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (int i = 0; i < kN; i++)
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
}

// The producer's send_timeout_ms applies when the message has no timeout.
TEST_F(Lifecycle, ProducerSendTimeoutApplies) {
  ProducerConf c;
  c.Set("send_timeout_ms", "200");
  pulsarc_producer_t *p = Create("timeout-conf", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "t", 3);
  ASSERT_TRUE(done->WaitTotal(3));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(done->at(i).calls.load(), 1);
    EXPECT_EQ(done->at(i).err.load(), PULSARC_ERR_TIMEOUT_UNCONFIRMED) << i;
  }
}

// Never written (broker unreachable) -> TIMEOUT, exactly once.
TEST(Timeouts, UnreachableBrokerGivesTimeout) {
  Watchdog dog(30);
  uint16_t port = ClosedPort();
  ASSERT_NE(port, 0);
  std::string url = "pulsar://127.0.0.1:" + std::to_string(port);
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url.c_str(), nullptr, &client), PULSARC_OK);
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create_cb(client, "unreachable", nullptr, nullptr, nullptr, &p),
            PULSARC_OK);
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  o.Timeout(300);
  Completions done(2);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "a", 1, o.get(), Completions::Cb, done.ctx(0)), PULSARC_OK);
  pulsarc_future_t *f = nullptr;
  ASSERT_EQ(pulsarc_producer_send_async(p, "b", 1, o.get(), &f), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_send(p, "c", 1, o.get(), nullptr), PULSARC_ERR_TIMEOUT);
  ASSERT_TRUE(done.WaitTotal(1));
  EXPECT_EQ(done.at(0).err.load(), PULSARC_ERR_TIMEOUT);
  EXPECT_EQ(pulsarc_future_wait(f, kWaitMs, nullptr), PULSARC_ERR_TIMEOUT);
  pulsarc_future_destroy(f);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
  EXPECT_EQ(done.at(0).calls.load(), 1);
}

// The ready callback reports a producer that can never be created, once.
TEST(Timeouts, UnreachableBrokerReadyCallbackFails) {
  Watchdog dog(30);
  uint16_t port = ClosedPort();
  std::string url = "pulsar://127.0.0.1:" + std::to_string(port);
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  ASSERT_EQ(pulsarc_client_conf_set(cc, "operation_timeout_ms", "500", nullptr, 0), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_conf_set(cc, "connect_timeout_ms", "300", nullptr, 0), PULSARC_OK);
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url.c_str(), cc, &client), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);
  pulsarc_producer_t *p = reinterpret_cast<pulsarc_producer_t *>(0x1);
  pulsarc_err_t e = pulsarc_producer_create(client, "unreachable", nullptr, &p);
  EXPECT_NE(e, PULSARC_OK);
  EXPECT_EQ(p, nullptr);
  pulsarc_client_destroy(client);
}

// 12. Backpressure, non-blocking: the 6th pending message is refused.
TEST_F(Lifecycle, QueueFullWhenNotBlocking) {
  ProducerConf c;
  c.Set("max_pending_messages", "5")
      .Set("block_if_queue_full", "false")
      .Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("queue-full", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "q", 5);
  Completions extra(3);
  EXPECT_EQ(pulsarc_producer_send_cb(p, "sixth", 5, nullptr, Completions::Cb, extra.ctx(0)),
            PULSARC_ERR_QUEUE_FULL);
  pulsarc_future_t *f = nullptr;
  EXPECT_EQ(pulsarc_producer_send_async(p, "sixth", 5, nullptr, &f), PULSARC_ERR_QUEUE_FULL);
  EXPECT_EQ(f, nullptr);
  MsgOpts o;
  o.Timeout(1000);
  EXPECT_EQ(pulsarc_producer_send(p, "sixth", 5, o.get(), nullptr), PULSARC_ERR_QUEUE_FULL);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
  EXPECT_EQ(extra.Total(), 0u);
  EXPECT_EQ(TopicStats("queue-full").messages, 5u);
  // Room again once completed.
  EXPECT_EQ(pulsarc_producer_send_cb(p, "later", 5, nullptr, Completions::Cb, extra.ctx(1)),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(extra.at(1).err.load(), PULSARC_OK);
}

// Backpressure, blocking: the 6th send blocks, then times out.
TEST_F(Lifecycle, QueueFullBlockingTimesOut) {
  ProducerConf c;
  c.Set("max_pending_messages", "5").Set("block_if_queue_full", "true").Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("queue-block", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "q", 5);
  MsgOpts o;
  o.Timeout(200);
  Completions extra(1);
  EXPECT_EQ(pulsarc_producer_send_cb(p, "sixth", 5, o.get(), Completions::Cb, extra.ctx(0)),
            PULSARC_ERR_TIMEOUT);
  EXPECT_EQ(pulsarc_producer_send(p, "sixth", 5, o.get(), nullptr), PULSARC_ERR_TIMEOUT);
  EXPECT_EQ(done->Total(), 0u);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
  EXPECT_EQ(extra.Total(), 0u);
  EXPECT_EQ(TopicStats("queue-block").messages, 5u);
}

// A blocked sender wakes up when room appears.
TEST_F(Lifecycle, BlockedSenderWakesWhenRoomAppears) {
  ProducerConf c;
  c.Set("max_pending_messages", "2").Set("block_if_queue_full", "true").Set("send_timeout_ms", "0");
  pulsarc_producer_t *p = Create("queue-wake", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "q", 2);
  std::atomic<int> third{-1};
  std::thread t([&] {
    MsgOpts o;
    o.Timeout(20000);
    third = pulsarc_producer_send_cb(p, "third", 5, o.get(), nullptr, nullptr);
  });
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "queue-wake", 2, kWaitMs));
  pulsarc_tb_hold_receipts(tb_, false);
  t.join();
  EXPECT_EQ(third.load(), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(TopicStats("queue-wake").messages, 3u);
}

// send_nocopy_cb: the library frees an accepted payload exactly once; a
// refused one stays the caller's (ApiSettled tests the retry loop).
struct FreeRec {
  std::atomic<int> calls{0};
};
void CountFree(void *data, void *ctx) {
  std::free(data);
  static_cast<FreeRec *>(ctx)->calls++;
}

TEST_F(Lifecycle, NoCopyFreesAcceptedPayloadExactlyOnce) {
  pulsarc_producer_t *p = Create("nocopy");
  ASSERT_NE(p, nullptr);
  FreeRec ok, refused;
  Completions done(1);
  char *a = static_cast<char *>(std::malloc(5));
  std::memcpy(a, "owned", 5);
  ASSERT_EQ(pulsarc_producer_send_nocopy_cb(p, a, 5, CountFree, &ok, nullptr, Completions::Cb,
                                            done.ctx(0)),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(done.at(0).err.load(), PULSARC_OK);
  WaitUntil([&] { return ok.calls.load() != 0; });
  EXPECT_EQ(ok.calls.load(), 1);
  Snapshot s(tb_, "nocopy");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "owned");

  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  char *b = static_cast<char *>(std::malloc(5));
  EXPECT_EQ(
      pulsarc_producer_send_nocopy_cb(p, b, 5, CountFree, &refused, nullptr, nullptr, nullptr),
      PULSARC_ERR_CLOSED);
  EXPECT_EQ(refused.calls.load(), 0) << "payload of a refused nocopy send freed by the library";
  std::free(b);
  EXPECT_EQ(ok.calls.load(), 1);
}

// Reconnect is invisible: the broker drops every connection while receipts
// are outstanding; the library reconnects, resends with the same sequence
// ids, and each message completes once with success, stored once.
TEST_F(Lifecycle, ReconnectResendsPendingInvisibly) {
  ProducerConf c;
  c.Set("send_timeout_ms", "0").Set("batch_max_messages", "4");
  pulsarc_producer_t *p = Create("reconnect", c.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  auto done = SendN(p, "r", 10);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "reconnect", 10, kWaitMs));
  pulsarc_tb_drop_connections(tb_);
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(done->WaitTotal(10)) << "pending messages not completed after reconnect";
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(done->at(i).calls.load(), 1) << i;
    EXPECT_EQ(done->at(i).err.load(), PULSARC_OK) << i;
  }
  // New sends after the reconnect work too.
  MsgOpts o;
  o.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, "after", 5, o.get(), nullptr), PULSARC_OK);
  Snapshot s(tb_, "reconnect");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 11u) << "lost or doubled across the reconnect";
  for (int i = 0; i < 10; i++)
    EXPECT_EQ(msgs[i].payload, "r" + std::to_string(i));
  EXPECT_EQ(msgs[10].payload, "after");
  EXPECT_GE(Stats().connections, 2u);
  // The stored-but-unacknowledged entries were resent and deduplicated.
  EXPECT_GT(s->duplicates, 0u);
}

// A broker-side unload (CLOSE_PRODUCER) is also invisible.
TEST_F(Lifecycle, BrokerClosingProducerIsInvisible) {
  pulsarc_producer_t *p = Create("unload");
  ASSERT_NE(p, nullptr);
  MsgOpts o;
  o.Timeout(5000);
  ASSERT_EQ(pulsarc_producer_send(p, "before", 6, o.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(pulsarc_tb_close_producers(tb_, "unload"), 1);
  EXPECT_EQ(pulsarc_producer_send(p, "after", 5, o.get(), nullptr), PULSARC_OK);
  EXPECT_TRUE(pulsarc_tb_wait_producers(tb_, "unload", 1, kWaitMs));
  Snapshot s(tb_, "unload");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].payload, "before");
  EXPECT_EQ(msgs[1].payload, "after");
}

} // namespace
} // namespace pulsarc_it
