// Messages spread over many producers of one client (issue #13 item 2):
// each producer's share of the client's memory limit (its credit) must not
// lock the others out. Counts only, never times; every wait is bounded.
#include "harness.h"

extern "C" {
#include "client/testing.h"
}

namespace pulsarc_it {
namespace {

std::atomic<int> g_ready_ok{0}, g_ready_failed{0};

void OnReady(pulsarc_producer_t *, pulsarc_err_t err, void *) {
  (err == PULSARC_OK ? g_ready_ok : g_ready_failed).fetch_add(1);
}

class ManyProducersSpread : public BrokerTest {
protected:
  int WatchdogSeconds() override { return 120; }
  void BrokerOptions(pulsarc_tb_opts *o) override {
    o->retain_bytes = 0;
    o->max_entry_records = 0;
  }
  void SetUp() override {
    BrokerTest::SetUp();
    g_ready_ok = 0;
    g_ready_failed = 0;
  }
};

// 1,000 producers on a client limited to 16 MiB, one 100 B message each,
// the broker holding every receipt, sends refused rather than blocked: all
// 1,000 fit (100 KB in all). A producer used to take a chunk of limit/256
// (64 KiB) with its first message and keep it while the message was in
// flight, so after about 255 producers the limit was gone and some 350 of
// these sends failed with PULSARC_ERR_MEMORY_LIMIT.
TEST_F(ManyProducersSpread, CreditsOfManyProducersLeaveRoomForAll) {
  constexpr int kProducers = 1000;
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  ASSERT_NE(cc, nullptr);
  char err[256] = "";
  ASSERT_EQ(pulsarc_client_conf_set(cc, "memory_limit_bytes", "16777216", err, sizeof err),
            PULSARC_OK)
      << err;
  pulsarc_client_t *client = nullptr;
  ASSERT_EQ(pulsarc_client_new(url_.c_str(), cc, &client), PULSARC_OK);
  pulsarc_client_conf_destroy(cc);
  ProducerConf pc;
  pc.Set("block_if_queue_full", "false");
  std::vector<pulsarc_producer_t *> ps;
  for (int i = 0; i < kProducers; i++) {
    pulsarc_producer_t *p = nullptr;
    std::string t = "spread-credit-" + std::to_string(i);
    EXPECT_EQ(pulsarc_producer_create_cb(client, t.c_str(), pc.get(), OnReady, nullptr, &p),
              PULSARC_OK);
    if (p == nullptr)
      break;
    ps.push_back(p);
  }
  EXPECT_TRUE(WaitUntil([&] { return g_ready_ok + g_ready_failed >= kProducers; }, 60000));
  EXPECT_EQ(g_ready_ok.load(), kProducers);

  pulsarc_tb_hold_receipts(tb_, true);
  Completions done(ps.size());
  char payload[100] = {0};
  int refused = 0, refused_memory = 0;
  for (size_t i = 0; i < ps.size(); i++) {
    pulsarc_err_t e = pulsarc_producer_send_cb(ps[i], payload, sizeof payload, nullptr,
                                               Completions::Cb, done.ctx(i));
    refused += e != PULSARC_OK;
    refused_memory += e == PULSARC_ERR_MEMORY_LIMIT;
  }
  EXPECT_EQ(refused, 0) << refused_memory << " of them with PULSARC_ERR_MEMORY_LIMIT";
  pulsarc_tb_hold_receipts(tb_, false);
  const size_t sent = ps.size() - static_cast<size_t>(refused);
  EXPECT_TRUE(done.WaitTotal(sent, 60000));
  size_t ok = 0;
  for (size_t i = 0; i < ps.size(); i++)
    ok += done.at(i).calls == 1 && done.at(i).err == PULSARC_OK;
  EXPECT_EQ(ok, sent);
  for (pulsarc_producer_t *p : ps)
    pulsarc_producer_destroy(p);
  pulsarc_client_destroy(client);
}

// Producers that send every 100 ms (a tenth of the 1 s idle time after
// which a producer gives back its ring and buffers) keep their rings: each
// used to be retired about once a second, when the idle timer armed at its
// first park fired while it happened to be parked between two messages,
// and its next message made a new ring. 200 of them, so the I/O thread
// runs often enough for them to park between messages, as in a service
// with many producers. The slack (10x) is for a loaded machine.
TEST_F(ManyProducersSpread, ProducersSendingEvery100msKeepTheirRings) {
  constexpr int kProducers = 200, kRounds = 30;
  // Rings of producers other tests destroyed may still be held by this
  // thread (it lets go of them when its table fills).
  const long live_before = pc_sendq_live_rings();
  std::vector<pulsarc_producer_t *> ps;
  for (int i = 0; i < kProducers; i++) {
    pulsarc_producer_t *p = nullptr;
    std::string t = "spread-steady-" + std::to_string(i);
    EXPECT_EQ(pulsarc_producer_create_cb(client_, t.c_str(), nullptr, OnReady, nullptr, &p),
              PULSARC_OK);
    if (p == nullptr)
      break;
    ps.push_back(p);
    producers_.push_back(p);
  }
  ASSERT_TRUE(WaitUntil([&] { return g_ready_ok + g_ready_failed >= kProducers; }, 60000));
  Completions done(ps.size() * (kRounds + 1));
  char payload[100] = {0};
  unsigned long made = 0;
  for (int round = 0; round <= kRounds; round++) {
    if (round == 1)
      made = pc_test_sendq_rings_made(); /* every producer has its ring */
    for (size_t i = 0; i < ps.size(); i++)
      ASSERT_EQ(pulsarc_producer_send_cb(ps[i], payload, sizeof payload, nullptr, Completions::Cb,
                                         done.ctx(round * ps.size() + i)),
                PULSARC_OK)
          << pulsarc_last_error_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const unsigned long remade = pc_test_sendq_rings_made() - made;
  EXPECT_EQ(remade, 0u) << "rings retired and made again while their producers kept sending";
  EXPECT_TRUE(done.WaitTotal(ps.size() * (kRounds + 1), 60000));
  // Once they stop, they still give their rings back (the bound is generous).
  EXPECT_TRUE(WaitUntil([&] { return pc_sendq_live_rings() <= live_before; }, 30000))
      << pc_sendq_live_rings() << " rings live, " << live_before << " before";
}

} // namespace
} // namespace pulsarc_it
