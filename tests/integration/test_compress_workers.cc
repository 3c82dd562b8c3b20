// Compression on worker threads (client option compression_threads): the
// I/O thread assigns ids and builds the batch body, a worker compresses it,
// and the I/O thread finishes entries strictly in order. Round trips of every
// codec (content, order, ids), and every path an entry can take while a
// worker holds it: the deadline, flush and close, reconnect and resend,
// producer and client destroy. The test hook pc_test_workers_hold keeps
// the work on the worker for as long as a test needs.
#include "test_features_util.h"

extern "C" {
#include "client/testing.h"
}

namespace pulsarc_it {
namespace {

using features::CodecName;

// Text-like payloads of varied sizes, so that batches take the workers
// different times and come back out of order.
std::string Payload(size_t i) {
  std::string s = "msg " + std::to_string(i) + " ";
  size_t n = (i % 7 == 0) ? 3000 : 20 + (i * 37) % 200;
  while (s.size() < n)
    s += "broker topic ledger " + std::to_string(i * 31 % 1000) + " ";
  s.resize(n);
  return s;
}

// Keeps the workers from running their work for one scope.
class Hold {
public:
  Hold() { pc_test_workers_hold(1); }
  ~Hold() { Release(); }
  void Release() { pc_test_workers_hold(0); }
};

bool WaitPending(long n) {
  return WaitUntil([&] { return pc_test_workers_pending() >= n; });
}
bool WaitNoPending() {
  return WaitUntil([] { return pc_test_workers_pending() == 0; });
}

class CompressWorkers : public BrokerTest {
protected:
  void SetUp() override {
    BrokerTest::SetUp();
    pulsarc_client_destroy(client_);
    client_ = nullptr;
    pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
    char err[256] = "";
    ASSERT_EQ(pulsarc_client_conf_set(cc, "compression_threads", "2", err, sizeof err), PULSARC_OK)
        << err;
    ASSERT_EQ(pulsarc_client_new(url_.c_str(), cc, &client_), PULSARC_OK);
    pulsarc_client_conf_destroy(cc);
  }
  void TearDown() override {
    pc_test_workers_hold(0);
    BrokerTest::TearDown();
    EXPECT_EQ(pc_test_workers_pending(), 0);
  }
  // Sends n messages (Payload(first + i)) with callbacks into done.
  void SendN(pulsarc_producer_t *p, Completions &done, size_t first, size_t n,
             const pulsarc_msg_opts_t *opts = nullptr) {
    for (size_t i = 0; i < n; i++) {
      std::string s = Payload(first + i);
      ASSERT_EQ(pulsarc_producer_send_cb(p, s.data(), s.size(), opts, Completions::Cb,
                                         done.ctx(first + i)),
                PULSARC_OK)
          << i;
    }
  }
  // Every stored message is Payload(i) for i = 0..n-1 in order, with ids
  // strictly increasing; entries carry codec.
  void ExpectStored(const std::string &topic, size_t n, int codec) {
    Snapshot s(tb_, topic);
    ASSERT_NE(s.get(), nullptr);
    EXPECT_EQ(Stats().decompress_errors, 0u);
    for (size_t i = 0; i < s->num_entries; i++)
      EXPECT_EQ(s->entries[i].compression, codec) << "entry " << i;
    std::vector<StoredMsg> msgs = StoredMessages(s.get());
    ASSERT_EQ(msgs.size(), n);
    for (size_t i = 0; i < n; i++) {
      EXPECT_TRUE(msgs[i].payload == Payload(i)) << "message " << i;
      if (i > 0) {
        EXPECT_GT(msgs[i].sequence_id, msgs[i - 1].sequence_id) << "message " << i;
      }
    }
  }
};

class CompressWorkersCodec : public CompressWorkers, public ::testing::WithParamInterface<int> {};

// Many small batches in flight at once on two workers: content, order and
// ids as sent, whatever order the workers finish in.
TEST_P(CompressWorkersCodec, RoundTripKeepsContentOrderAndIds) {
  const int codec = GetParam();
  const std::string topic = std::string("zw-rt-") + CodecName(codec);
  ProducerConf conf;
  conf.Set("compression", CodecName(codec)).Set("batch_max_messages", "13");
  pulsarc_producer_t *p = Create(topic, conf.get());
  ASSERT_NE(p, nullptr);
  const size_t n = 3000;
  Completions done(n);
  SendN(p, done, 0, n);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_EQ(done.Total(), n);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  ExpectStored(topic, n, codec);
  Snapshot s(tb_, topic);
  EXPECT_GT(s->num_entries, 100u); // many batches, not one
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressWorkersCodec, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int> &i) {
                           return std::string(CodecName(i.param));
                         });

// A flush waits for entries still on a worker, and completes once they are
// back and acknowledged.
TEST_F(CompressWorkers, FlushWaitsForEntriesOnWorkers) {
  ProducerConf conf;
  conf.Set("compression", "lz4").Set("batch_max_messages", "10");
  pulsarc_producer_t *p = Create("zw-flush", conf.get());
  ASSERT_NE(p, nullptr);
  Completions done(50);
  Hold hold;
  SendN(p, done, 0, 50);
  ASSERT_TRUE(WaitPending(5));
  EXPECT_EQ(pulsarc_producer_flush(p, 300), PULSARC_ERR_WAIT_TIMEOUT);
  EXPECT_EQ(done.Total(), 0u);
  hold.Release();
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  EXPECT_EQ(done.Total(), 50u);
  ExpectStored("zw-flush", 50, 1);
}

// A graceful close with entries on the workers sends them all first.
TEST_F(CompressWorkers, CloseSendsEntriesOnWorkers) {
  ProducerConf conf;
  conf.Set("compression", "zstd").Set("batch_max_messages", "10");
  pulsarc_producer_t *p = Create("zw-close", conf.get());
  ASSERT_NE(p, nullptr);
  Completions done(40);
  {
    Hold hold;
    SendN(p, done, 0, 40);
    ASSERT_TRUE(WaitPending(4));
  }
  ASSERT_EQ(pulsarc_producer_close(p), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(40));
  for (size_t i = 0; i < 40; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  ExpectStored("zw-close", 40, 3);
}

// Messages whose deadline passes while their entry is on a worker fail with
// TIMEOUT (they never reached the wire) and are never sent; the entry comes
// back later and is dropped. The producer goes on, its ids continuing.
TEST_F(CompressWorkers, DeadlineWhileCompressingFailsWithTimeout) {
  ProducerConf conf;
  conf.Set("compression", "lz4").Set("batch_max_messages", "5");
  pulsarc_producer_t *p = Create("zw-deadline", conf.get());
  ASSERT_NE(p, nullptr);
  MsgOpts opts;
  opts.Timeout(200);
  Completions late(20);
  Hold hold;
  SendN(p, late, 0, 20, opts.get());
  ASSERT_TRUE(WaitPending(4));
  ASSERT_TRUE(late.WaitTotal(20));
  for (size_t i = 0; i < 20; i++) {
    EXPECT_EQ(late.at(i).err.load(), PULSARC_ERR_TIMEOUT) << i;
    EXPECT_EQ(late.at(i).calls.load(), 1) << i;
  }
  hold.Release();
  ASSERT_TRUE(WaitNoPending());
  Completions done(30);
  SendN(p, done, 0, 30);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (size_t i = 0; i < 30; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  ExpectStored("zw-deadline", 30, 1);
  EXPECT_EQ(late.at(0).calls.load(), 1); // no second callback
}

// A message on a held worker keeps its deadline when a later one, with an
// earlier deadline, expires first: the sweep for the later one used to
// re-arm the timer only for messages in unsent and pending, so the first
// one waited on the worker past its own deadline.
TEST_F(CompressWorkers, DeadlineOnAWorkerOutlivesAnEarlierExpiry) {
  ProducerConf conf;
  conf.Set("compression", "lz4").Set("batch_max_messages", "1");
  pulsarc_producer_t *p = Create("zw-deadline-two", conf.get());
  ASSERT_NE(p, nullptr);
  MsgOpts longer, shorter;
  longer.Timeout(1500);
  shorter.Timeout(200);
  Completions c(2);
  Hold hold;
  SendN(p, c, 0, 1, longer.get());
  ASSERT_TRUE(WaitPending(1));
  SendN(p, c, 1, 1, shorter.get());
  ASSERT_TRUE(WaitPending(2));
  ASSERT_TRUE(c.WaitTotal(2)); // both, while the worker is still held
  EXPECT_EQ(c.at(0).err.load(), PULSARC_ERR_TIMEOUT);
  EXPECT_EQ(c.at(1).err.load(), PULSARC_ERR_TIMEOUT);
  hold.Release();
  ASSERT_TRUE(WaitNoPending());
}

// The connection drops while entries are on the workers, and they come back
// before and after the producer registered again: every message is stored
// once, in order, ids strictly increasing.
TEST_F(CompressWorkers, ReconnectWhileCompressingKeepsOrder) {
  ProducerConf conf;
  conf.Set("compression", "zlib").Set("batch_max_messages", "7");
  const std::string topic = "zw-reconnect";
  pulsarc_tb_set_dedup(tb_, true); // what a lost receipt resends is stored once
  pulsarc_producer_t *p = Create(topic, conf.get());
  ASSERT_NE(p, nullptr);
  const size_t n = 300;
  Completions done(n);
  SendN(p, done, 0, 100);
  {
    Hold hold;
    SendN(p, done, 100, 100);
    ASSERT_TRUE(WaitPending(10));
    pulsarc_tb_drop_connections(tb_);
  }
  SendN(p, done, 200, 50);
  {
    Hold hold;
    SendN(p, done, 250, 50);
    ASSERT_TRUE(WaitPending(5));
    ASSERT_TRUE(pulsarc_tb_wait_producers(tb_, topic.c_str(), 1, kWaitMs));
  }
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_EQ(done.Total(), n);
  for (size_t i = 0; i < n; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  ExpectStored(topic, n, 2);
}

// The producer fails (fenced) while entries are on the workers: their
// messages fail once with the producer's error, and nothing of them is
// stored.
TEST_F(CompressWorkers, ProducerFailsWhileCompressing) {
  ProducerConf conf;
  conf.Set("compression", "zstd").Set("batch_max_messages", "10");
  pulsarc_producer_t *p = Create("zw-fenced", conf.get());
  ASSERT_NE(p, nullptr);
  pulsarc_tb_hold_receipts(tb_, true);
  pulsarc_tb_fail_sends(tb_, 1, PULSARC_TB_PRODUCER_FENCED);
  Completions first(10), later(50);
  SendN(p, first, 0, 10);
  ASSERT_TRUE(WaitNoPending());
  ASSERT_TRUE(WaitUntil([&] { return Stats().send_errors >= 1; }));
  Hold hold;
  SendN(p, later, 0, 50);
  ASSERT_TRUE(WaitPending(5));
  pulsarc_tb_hold_receipts(tb_, false);
  ASSERT_TRUE(later.WaitTotal(50));
  for (size_t i = 0; i < 50; i++) {
    EXPECT_EQ(later.at(i).err.load(), PULSARC_ERR_BROKER_PRODUCER_FENCED) << i;
    EXPECT_EQ(later.at(i).calls.load(), 1) << i;
  }
  hold.Release();
  ASSERT_TRUE(WaitNoPending());
  ASSERT_TRUE(first.WaitTotal(10));
  Snapshot s(tb_, "zw-fenced");
  EXPECT_EQ(s->num_entries, 0u);
}

// Destroying a producer whose entries are on the workers fails their
// messages once (CLOSED); the entries are freed when they come back.
TEST_F(CompressWorkers, ProducerDestroyWhileCompressing) {
  ProducerConf conf;
  conf.Set("compression", "snappy").Set("batch_max_messages", "10");
  pulsarc_producer_t *p = Create("zw-destroy", conf.get());
  ASSERT_NE(p, nullptr);
  Completions done(60);
  Hold hold;
  SendN(p, done, 0, 60);
  ASSERT_TRUE(WaitPending(6));
  pulsarc_producer_destroy(p);
  Forget(p);
  ASSERT_TRUE(done.WaitTotal(60));
  for (size_t i = 0; i < 60; i++) {
    EXPECT_EQ(done.at(i).err.load(), PULSARC_ERR_CLOSED) << i;
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
  }
  hold.Release();
  ASSERT_TRUE(WaitNoPending());
  Snapshot s(tb_, "zw-destroy");
  EXPECT_EQ(s->num_entries, 0u);
}

// Destroying the client with work queued and held: its messages fail once,
// the workers run what is left and are joined, and nothing leaks (ASan).
TEST_F(CompressWorkers, ClientDestroyWhileCompressing) {
  ProducerConf conf;
  conf.Set("compression", "zstd").Set("batch_max_messages", "10");
  pulsarc_producer_t *p = Create("zw-client", conf.get());
  ASSERT_NE(p, nullptr);
  Forget(p); // the client destroy takes it
  Completions done(60);
  pc_test_workers_hold(1);
  SendN(p, done, 0, 60);
  ASSERT_TRUE(WaitPending(6));
  std::thread release([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pc_test_workers_hold(0);
  });
  pulsarc_client_destroy(client_);
  client_ = nullptr;
  release.join();
  EXPECT_EQ(done.Total(), 60u);
  for (size_t i = 0; i < 60; i++)
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
  EXPECT_EQ(pc_test_workers_pending(), 0);
}

// A compressed message still over max_message_size after a worker shrank
// what it could goes out as chunks, between its neighbours, in order.
TEST_F(CompressWorkers, ChunksAfterCompressingOnAWorker) {
  ProducerConf conf;
  conf.Set("compression", "lz4")
      .Set("batching", "false")
      .Set("chunking", "true")
      .Set("max_message_size", "65536");
  pulsarc_producer_t *p = Create("zw-chunks", conf.get());
  ASSERT_NE(p, nullptr);
  const std::string big = features::RandomBytes(200 << 10, 5);
  const std::string msgs[] = {"before", big, "after"};
  Completions done(3);
  for (size_t i = 0; i < 3; i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, msgs[i].data(), msgs[i].size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  for (size_t i = 0; i < 3; i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  Snapshot s(tb_, "zw-chunks");
  ASSERT_GE(s->num_entries, 5u);
  const size_t last = s->num_entries - 1;
  EXPECT_FALSE(s->entries[0].is_chunk);
  EXPECT_FALSE(s->entries[last].is_chunk);
  std::string joined;
  for (size_t i = 1; i < last; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    ASSERT_TRUE(e.is_chunk) << i;
    EXPECT_EQ(e.chunk_id, static_cast<int32_t>(i - 1));
    EXPECT_EQ(e.compression, 1);
    EXPECT_GT(e.sequence_id, s->entries[0].sequence_id);
    EXPECT_LT(e.sequence_id, s->entries[last].sequence_id);
    joined += features::EntryPayload(e);
  }
  std::string back;
  ASSERT_TRUE(features::Decompress(1, joined, big.size(), &back));
  EXPECT_TRUE(back == big);
  std::vector<StoredMsg> stored = StoredMessages(s.get());
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored.front().payload, "before");
  EXPECT_EQ(stored.back().payload, "after");
}

// The option's range: 0..64.
TEST(CompressWorkersConf, Validation) {
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  char err[256] = "";
  EXPECT_EQ(pulsarc_client_conf_set(cc, "compression_threads", "0", err, sizeof err), PULSARC_OK);
  EXPECT_EQ(pulsarc_client_conf_set(cc, "compression_threads", "64", err, sizeof err), PULSARC_OK);
  EXPECT_NE(pulsarc_client_conf_set(cc, "compression_threads", "65", err, sizeof err), PULSARC_OK);
  EXPECT_NE(pulsarc_client_conf_set(cc, "compression_threads", "-1", err, sizeof err), PULSARC_OK);
  EXPECT_NE(pulsarc_client_conf_set(cc, "compression_threads", "two", err, sizeof err), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);
}

} // namespace
} // namespace pulsarc_it
