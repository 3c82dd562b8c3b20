// Producer creation (blocking and not), callbacks on library threads, and
// input validation, against an in-process test broker.
#include "harness.h"

namespace pulsarc_it {
namespace {

class ProducerBasic : public BrokerTest {};

// 1. Blocking create on a short name: full name reported, name assigned by
// the broker, and the broker sees one producer under the full name.
TEST_F(ProducerBasic, CreateBlockingShortName) {
  pulsarc_producer_t *p = Create("basic-create");
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(pulsarc_producer_topic(p), "persistent://public/default/basic-create");
  const char *name = pulsarc_producer_name(p);
  ASSERT_NE(name, nullptr) << "broker-assigned name not known after a blocking create";
  EXPECT_GT(std::strlen(name), 0u);
  pulsarc_tb_topic_stats ts = TopicStats("persistent://public/default/basic-create");
  EXPECT_TRUE(ts.exists);
  EXPECT_EQ(ts.producers_open, 1u);

  pulsarc_msg_id_t id{};
  MsgOpts o;
  o.Timeout(5000);
  ASSERT_EQ(pulsarc_producer_send(p, "hello", 5, o.get(), &id), PULSARC_OK);
  Snapshot s(tb_, "basic-create");
  ASSERT_EQ(s->num_entries, 1u);
  ASSERT_NE(s->entries[0].producer_name, nullptr);
  EXPECT_STREQ(s->entries[0].producer_name, name);
  EXPECT_EQ(id.ledger_id, s->entries[0].ledger_id);
  EXPECT_EQ(id.entry_id, s->entries[0].entry_id);
  EXPECT_EQ(id.partition, -1);
}

TEST_F(ProducerBasic, CreateWithFixedNameUsesIt) {
  ProducerConf c;
  c.Set("name", "fixed-name-1");
  pulsarc_producer_t *p = Create("basic-named", c.get());
  ASSERT_NE(p, nullptr);
  ASSERT_NE(pulsarc_producer_name(p), nullptr);
  EXPECT_STREQ(pulsarc_producer_name(p), "fixed-name-1");
}

struct ReadyState {
  std::mutex gate; // held by the test while producer_create_cb runs
  std::atomic<int> calls{0};
  std::atomic<int> err{-1};
  std::atomic<bool> handle_matches{false};
  pulsarc_producer_t *expected = nullptr;
};

void OnReady(pulsarc_producer_t *p, pulsarc_err_t err, void *ctx) {
  ReadyState *st = static_cast<ReadyState *>(ctx);
  // Blocks until the test released the gate: if producer_create_cb waited for
  // this callback, the test would deadlock (and the watchdog would say so).
  std::lock_guard<std::mutex> lk(st->gate);
  st->handle_matches = (p == st->expected);
  st->err = err;
  st->calls++;
}

// 2. Non-blocking start: returns before the ready callback can have run;
// sends made before ready are delivered; ready_cb runs once with OK.
TEST_F(ProducerBasic, StartNonBlockingQueuesSendsUntilReady) {
  ReadyState st;
  pulsarc_producer_t *p = nullptr;
  const int kN = 5;
  Completions done(kN);
  {
    std::unique_lock<std::mutex> lk(st.gate);
    ASSERT_EQ(pulsarc_producer_create_cb(client_, "basic-start", nullptr, OnReady, &st, &p),
              PULSARC_OK);
    ASSERT_NE(p, nullptr);
    producers_.push_back(p);
    st.expected = p;
    // The callback cannot have completed: we hold its gate.
    EXPECT_EQ(st.calls.load(), 0);
    EXPECT_STREQ(pulsarc_producer_topic(p), "persistent://public/default/basic-start");
    for (int i = 0; i < kN; i++) {
      std::string payload = "early-" + std::to_string(i);
      ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr,
                                         Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    }
  }
  ASSERT_TRUE(done.WaitTotal(kN)) << "only " << done.Total() << " of " << kN << " completed";
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  }
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "basic-start", kN, kWaitMs));
  Snapshot s(tb_, "basic-start");
  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; i++)
    EXPECT_EQ(msgs[i].payload, "early-" + std::to_string(i));

  EXPECT_EQ(st.calls.load(), 1);
  EXPECT_EQ(st.err.load(), PULSARC_OK);
  EXPECT_TRUE(st.handle_matches.load());
  EXPECT_NE(pulsarc_producer_name(p), nullptr);
  // Closing does not call the ready callback again.
  EXPECT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  EXPECT_EQ(st.calls.load(), 1);
}

TEST_F(ProducerBasic, StartWithNullReadyCallback) {
  pulsarc_producer_t *p = nullptr;
  ASSERT_EQ(pulsarc_producer_create_cb(client_, "basic-nullcb", nullptr, nullptr, nullptr, &p),
            PULSARC_OK);
  producers_.push_back(p);
  MsgOpts o;
  o.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, "x", 1, o.get(), nullptr), PULSARC_OK);
}

// 8. Blocking calls from a library thread return WRONG_THREAD; the
// asynchronous send works there.
struct InCallback {
  pulsarc_client_t *client;
  pulsarc_producer_t *producer;
  std::atomic<int> outer_calls{0};
  int outer_err = -1;
  pulsarc_err_t send = PULSARC_OK, flush = PULSARC_OK, close = PULSARC_OK, create = PULSARC_OK,
                client_close = PULSARC_OK, future_wait = PULSARC_OK, send_cb = PULSARC_ERR_PENDING;
  pulsarc_producer_t *created = reinterpret_cast<pulsarc_producer_t *>(0x1);
  Completions inner{1};
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
};

void OuterCb(pulsarc_err_t err, const pulsarc_msg_id_t *, void *ctx) {
  InCallback *s = static_cast<InCallback *>(ctx);
  s->outer_err = err;
  pulsarc_msg_id_t id;
  MsgOpts o;
  o.Timeout(1000);
  s->send = pulsarc_producer_send(s->producer, "in", 2, o.get(), &id);
  s->flush = pulsarc_producer_flush(s->producer, 1000);
  s->create = pulsarc_producer_create(s->client, "wrong-thread-other", nullptr, &s->created);
  s->client_close = pulsarc_client_close(s->client);
  pulsarc_future_t *f = nullptr;
  if (pulsarc_producer_send_async(s->producer, "fut", 3, nullptr, &f) == PULSARC_OK) {
    s->future_wait = pulsarc_future_wait(f, 1000, nullptr);
    pulsarc_future_destroy(f);
  }
  s->send_cb = pulsarc_producer_send_cb(s->producer, "from-cb", 7, nullptr, Completions::Cb,
                                        s->inner.ctx(0));
  // Last: close from here cannot block; it starts an asynchronous close.
  s->close = pulsarc_producer_close(s->producer);
  s->outer_calls++;
  // Notify under the lock: the test may free s as soon as it sees finished.
  std::lock_guard<std::mutex> lk(s->mu);
  s->finished = true;
  s->cv.notify_all();
}

TEST_F(ProducerBasic, WrongThreadInsideSendCallback) {
  pulsarc_producer_t *p = Create("wrong-thread");
  ASSERT_NE(p, nullptr);
  InCallback s;
  s.client = client_;
  s.producer = p;
  ASSERT_EQ(pulsarc_producer_send_cb(p, "outer", 5, nullptr, OuterCb, &s), PULSARC_OK);
  {
    std::unique_lock<std::mutex> lk(s.mu);
    ASSERT_TRUE(s.cv.wait_for(lk, std::chrono::milliseconds(kWaitMs), [&] { return s.finished; }))
        << "the outer callback never returned (a blocking call inside it blocked?)";
  }
  EXPECT_EQ(s.outer_calls.load(), 1);
  EXPECT_EQ(s.outer_err, PULSARC_OK);
  EXPECT_EQ(s.send, PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(s.flush, PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(s.close, PULSARC_ERR_PENDING);
  EXPECT_EQ(s.create, PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(s.created, nullptr);
  EXPECT_EQ(s.client_close, PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(s.future_wait, PULSARC_ERR_WRONG_THREAD);
  EXPECT_EQ(s.send_cb, PULSARC_OK);
  ASSERT_TRUE(s.inner.WaitTotal(1)) << "send_cb made inside a callback never completed";
  EXPECT_EQ(s.inner.at(0).calls.load(), 1);
  EXPECT_EQ(s.inner.at(0).err.load(), PULSARC_OK);
  // The close started inside the callback flushed what was pending (the
  // send_cb made just before it) and now refuses new sends.
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "wrong-thread", 3, kWaitMs));
  MsgOpts o;
  o.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, "after", 5, o.get(), nullptr), PULSARC_ERR_CLOSED);
  Snapshot snap(tb_, "wrong-thread");
  std::vector<std::string> payloads;
  for (auto &m : StoredMessages(snap.get()))
    payloads.push_back(m.payload);
  EXPECT_NE(std::find(payloads.begin(), payloads.end(), "from-cb"), payloads.end());
  EXPECT_EQ(std::find(payloads.begin(), payloads.end(), "in"), payloads.end())
      << "the refused blocking send was published anyway";
  // The other topic saw no producer.
  EXPECT_FALSE(TopicStats("wrong-thread-other").exists);
}

// Destroy called inside a callback is deferred, not a deadlock.
struct DestroyInCb {
  pulsarc_producer_t *p;
  std::atomic<int> calls{0};
};

void DestroyCb(pulsarc_err_t, const pulsarc_msg_id_t *, void *ctx) {
  DestroyInCb *d = static_cast<DestroyInCb *>(ctx);
  if (d->calls.fetch_add(1) == 0)
    pulsarc_producer_destroy(d->p);
}

TEST_F(ProducerBasic, DestroyInsideCallbackIsDeferred) {
  pulsarc_producer_t *p = Create("destroy-in-cb");
  ASSERT_NE(p, nullptr);
  Forget(p);
  DestroyInCb d;
  d.p = p;
  ASSERT_EQ(pulsarc_producer_send_cb(p, "x", 1, nullptr, DestroyCb, &d), PULSARC_OK);
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "destroy-in-cb", 1, kWaitMs));
  // Client close/destroy afterwards must neither hang nor run the callback twice.
  WaitUntil([&] { return d.calls.load() != 0; });
  EXPECT_EQ(pulsarc_client_close(client_), PULSARC_OK);
  EXPECT_EQ(d.calls.load(), 1);
}

// 9. Bad input.
TEST_F(ProducerBasic, InvalidTopicFailsWithoutTraffic) {
  const char *bad[] = {"", "a/b", "http://x/y/z", "t t", "a//t", "t\x01"};
  for (const char *t : bad) {
    pulsarc_producer_t *p = reinterpret_cast<pulsarc_producer_t *>(0x1);
    EXPECT_EQ(pulsarc_producer_create_cb(client_, t, nullptr, nullptr, nullptr, &p),
              PULSARC_ERR_INVALID_TOPIC)
        << "\"" << t << "\"";
    EXPECT_EQ(p, nullptr);
    p = reinterpret_cast<pulsarc_producer_t *>(0x1);
    EXPECT_EQ(pulsarc_producer_create(client_, t, nullptr, &p), PULSARC_ERR_INVALID_TOPIC)
        << "\"" << t << "\"";
    EXPECT_EQ(p, nullptr);
  }
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.connections, 0u);
  EXPECT_EQ(st.lookups, 0u);
  EXPECT_EQ(st.partition_lookups, 0u);
}

TEST_F(ProducerBasic, MessageOverProducerMaxSizeIsTooBig) {
  ProducerConf c;
  c.Set("max_message_size", "2048");
  pulsarc_producer_t *p = Create("too-big", c.get());
  ASSERT_NE(p, nullptr);
  std::string big(4096, 'b');
  MsgOpts o;
  o.Timeout(2000);
  EXPECT_EQ(pulsarc_producer_send(p, big.data(), big.size(), o.get(), nullptr),
            PULSARC_ERR_MESSAGE_TOO_BIG);
  Completions done(1);
  EXPECT_EQ(
      pulsarc_producer_send_cb(p, big.data(), big.size(), nullptr, Completions::Cb, done.ctx(0)),
      PULSARC_ERR_MESSAGE_TOO_BIG);
  pulsarc_future_t *f = reinterpret_cast<pulsarc_future_t *>(0x1);
  EXPECT_EQ(pulsarc_producer_send_async(p, big.data(), big.size(), nullptr, &f),
            PULSARC_ERR_MESSAGE_TOO_BIG);
  EXPECT_EQ(f, nullptr);
  // A small one still goes through, and only it is stored.
  EXPECT_EQ(pulsarc_producer_send(p, "small", 5, o.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  pulsarc_tb_topic_stats ts = TopicStats("too-big");
  EXPECT_EQ(ts.messages, 1u);
  EXPECT_EQ(done.Total(), 0u) << "callback of a refused send ran";
}

class SmallBroker : public BrokerTest {
  void BrokerOptions(pulsarc_tb_opts *o) override { o->max_message_size = 4096; }
};

// The broker's advertised limit caps the producer's (5 MiB default).
TEST_F(SmallBroker, MessageOverBrokerMaxSizeIsTooBig) {
  pulsarc_producer_t *p = Create("too-big-broker");
  ASSERT_NE(p, nullptr);
  std::string big(8192, 'b');
  MsgOpts o;
  o.Timeout(2000);
  EXPECT_EQ(pulsarc_producer_send(p, big.data(), big.size(), o.get(), nullptr),
            PULSARC_ERR_MESSAGE_TOO_BIG);
  Completions done(1);
  EXPECT_EQ(
      pulsarc_producer_send_cb(p, big.data(), big.size(), nullptr, Completions::Cb, done.ctx(0)),
      PULSARC_ERR_MESSAGE_TOO_BIG);
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(TopicStats("too-big-broker").messages, 0u);
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.protocol_errors, 0u);
  EXPECT_EQ(done.Total(), 0u);
}

TEST_F(ProducerBasic, NullArgumentsAreInvalid) {
  pulsarc_producer_t *p = Create("null-args");
  ASSERT_NE(p, nullptr);
  pulsarc_msg_id_t id;
  pulsarc_future_t *f = nullptr;
  EXPECT_EQ(pulsarc_producer_send(nullptr, "x", 1, nullptr, &id), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send(p, nullptr, 1, nullptr, &id), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send_cb(nullptr, "x", 1, nullptr, nullptr, nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send_cb(p, nullptr, 1, nullptr, nullptr, nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send_async(nullptr, "x", 1, nullptr, &f),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send_async(p, "x", 1, nullptr, nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_send_async(p, nullptr, 1, nullptr, &f), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_flush(nullptr, 100), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_flush_cb(nullptr, nullptr, nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_close(nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_close_cb(nullptr, nullptr, nullptr), PULSARC_ERR_INVALID_ARGUMENT);
  pulsarc_producer_t *q = reinterpret_cast<pulsarc_producer_t *>(0x1);
  EXPECT_EQ(pulsarc_producer_create_cb(nullptr, "t", nullptr, nullptr, nullptr, &q),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(pulsarc_producer_create_cb(client_, nullptr, nullptr, nullptr, nullptr, &q),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_create_cb(client_, "t", nullptr, nullptr, nullptr, nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_create(client_, nullptr, nullptr, &q), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_create(nullptr, "t", nullptr, &q), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_client_new("pulsar://127.0.0.1:6650", nullptr, nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_producer_topic(nullptr), nullptr);
  EXPECT_EQ(pulsarc_producer_name(nullptr), nullptr);
  pulsarc_producer_destroy(nullptr); // harmless
  // Zero-length payloads are valid messages (NULL data with len 0 too).
  MsgOpts o;
  o.Timeout(5000);
  EXPECT_EQ(pulsarc_producer_send(p, nullptr, 0, o.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(pulsarc_producer_send(p, "", 0, o.get(), nullptr), PULSARC_OK);
  EXPECT_EQ(TopicStats("null-args").messages, 2u);
}

TEST_F(ProducerBasic, SendAfterCloseIsClosed) {
  pulsarc_producer_t *p = Create("after-close");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  pulsarc_future_t *f = nullptr;
  Completions done(1);
  MsgOpts o;
  o.Timeout(1000);
  EXPECT_EQ(pulsarc_producer_send(p, "x", 1, o.get(), nullptr), PULSARC_ERR_CLOSED);
  EXPECT_EQ(pulsarc_producer_send_cb(p, "x", 1, nullptr, Completions::Cb, done.ctx(0)),
            PULSARC_ERR_CLOSED);
  EXPECT_EQ(pulsarc_producer_send_async(p, "x", 1, nullptr, &f), PULSARC_ERR_CLOSED);
  EXPECT_EQ(f, nullptr);
  // Closing twice is harmless.
  pulsarc_err_t e = pulsarc_producer_close(p);
  EXPECT_TRUE(e == PULSARC_OK || e == PULSARC_ERR_CLOSED) << pulsarc_err_str(e);
  EXPECT_EQ(done.Total(), 0u);
  EXPECT_EQ(TopicStats("after-close").messages, 0u);
  EXPECT_EQ(TopicStats("after-close").producers_open, 0u) << "close did not unregister";
}

TEST(ClientNew, InvalidServiceUrl) {
  const char *bad[] = {"",
                       "http://127.0.0.1:6650",
                       "127.0.0.1:6650",
                       "pulsar://",
                       "pulsar://h:0",
                       "pulsar://h:70000",
                       "pulsar://h:x",
                       "pulsar://h1:1,,h2:2"};
  for (const char *u : bad) {
    pulsarc_client_t *c = reinterpret_cast<pulsarc_client_t *>(0x1);
    EXPECT_EQ(pulsarc_client_new(u, nullptr, &c), PULSARC_ERR_INVALID_URL) << u;
    EXPECT_EQ(c, nullptr) << u;
  }
  pulsarc_client_t *c = reinterpret_cast<pulsarc_client_t *>(0x1);
  pulsarc_err_t e = pulsarc_client_new(nullptr, nullptr, &c);
  EXPECT_TRUE(e == PULSARC_ERR_INVALID_ARGUMENT || e == PULSARC_ERR_INVALID_URL)
      << pulsarc_err_str(e);
  EXPECT_EQ(c, nullptr);
}

TEST(ClientNew, ProducerAfterClientCloseIsClosed) {
  Watchdog dog(20);
  pulsarc_client_t *c = nullptr;
  ASSERT_EQ(pulsarc_client_new("pulsar://127.0.0.1:1", nullptr, &c), PULSARC_OK);
  ASSERT_EQ(pulsarc_client_close(c), PULSARC_OK);
  pulsarc_producer_t *p = reinterpret_cast<pulsarc_producer_t *>(0x1);
  EXPECT_EQ(pulsarc_producer_create_cb(c, "t", nullptr, nullptr, nullptr, &p), PULSARC_ERR_CLOSED);
  EXPECT_EQ(p, nullptr);
  pulsarc_client_destroy(c);
}

} // namespace
// A callback stands for room: by the time a message's callback runs, its
// in-flight slot is free, so a sender reacting to the callback (here the
// callback itself, which never blocks) is not refused with QUEUE_FULL. The
// slots of a batch used to come back only after all its callbacks ran, and
// a non-blocking sender that waited for a callback after QUEUE_FULL could
// wait forever (the callbacks_backpressure example stalled that way).
struct RoomInCallback {
  pulsarc_producer_t *producer;
  std::atomic<int> calls{0};
  std::atomic<int> refused{0};
  Completions inner{10};
};

void RoomCb(pulsarc_err_t err, const pulsarc_msg_id_t *, void *ctx) {
  RoomInCallback *s = static_cast<RoomInCallback *>(ctx);
  EXPECT_EQ(err, PULSARC_OK);
  int k = s->calls.fetch_add(1);
  if (pulsarc_producer_send_cb(s->producer, "again", 5, nullptr, Completions::Cb,
                               s->inner.ctx((size_t)k)) == PULSARC_ERR_QUEUE_FULL)
    s->refused++;
}

TEST_F(ProducerBasic, SlotIsFreeWhenItsCallbackRuns) {
  ProducerConf pc;
  pc.Set("max_pending_messages", "10").Set("block_if_queue_full", "false");
  pc.Set("batch_max_messages", "10").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("room-in-callback", pc.get());
  ASSERT_NE(p, nullptr);
  RoomInCallback s;
  s.producer = p;
  for (int i = 0; i < 10; i++) // one batch of 10: every slot taken
    ASSERT_EQ(pulsarc_producer_send_cb(p, "first", 5, nullptr, RoomCb, &s), PULSARC_OK);
  ASSERT_TRUE(WaitUntil([&] { return s.calls.load() == 10; })) << s.calls.load() << " callbacks";
  EXPECT_EQ(s.refused.load(), 0) << "a callback's own slot was still taken while it ran";
  // Every callback into s has run before s goes.
  EXPECT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_TRUE(s.inner.WaitTotal(10 - (size_t)s.refused.load()));
}

} // namespace pulsarc_it
