// Messages spread over many producers of one client (issue #13 item 2):
// each producer's share of the client's memory limit (its credit) must not
// lock the others out. Counts only, never times; every wait is bounded.
#include "harness.h"

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

} // namespace
} // namespace pulsarc_it
