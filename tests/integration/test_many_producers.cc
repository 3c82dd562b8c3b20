// Many producers on one client (issue #13 item 2): an idle producer gives
// back its send rings and batch buffers, the I/O thread does not poll
// producers that have nothing to do, and messages spread over all of them
// are not held up by each one's memory credit. Counts only (live rings,
// polls, refusals), never times; every wait is bounded.
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

class ManyProducers : public BrokerTest {
protected:
  int WatchdogSeconds() override { return 120; }
  void BrokerOptions(pulsarc_tb_opts *o) override {
    o->retain_bytes = 0;
    o->max_entry_records = 0;
  }

  // n producers on topics prefix-0..n-1, created without blocking, all ready.
  std::vector<pulsarc_producer_t *> CreateMany(const std::string &prefix, int n) {
    g_ready_ok = 0;
    g_ready_failed = 0;
    std::vector<pulsarc_producer_t *> ps;
    for (int i = 0; i < n; i++) {
      pulsarc_producer_t *p = nullptr;
      std::string t = prefix + "-" + std::to_string(i);
      EXPECT_EQ(pulsarc_producer_create_cb(client_, t.c_str(), nullptr, OnReady, nullptr, &p),
                PULSARC_OK);
      if (p == nullptr)
        break;
      ps.push_back(p);
      producers_.push_back(p);
    }
    EXPECT_TRUE(WaitUntil([&] { return g_ready_ok + g_ready_failed >= n; }, 60000));
    EXPECT_EQ(g_ready_ok.load(), n);
    return ps;
  }

  // One 100-byte message on each; true once every callback said OK.
  static bool SendOneEach(const std::vector<pulsarc_producer_t *> &ps) {
    Completions done(ps.size());
    char payload[100] = {0};
    for (size_t i = 0; i < ps.size(); i++)
      if (pulsarc_producer_send_cb(ps[i], payload, sizeof payload, nullptr, Completions::Cb,
                                   done.ctx(i)) != PULSARC_OK)
        return false;
    if (!done.WaitTotal(ps.size(), 60000))
      return false;
    for (size_t i = 0; i < ps.size(); i++)
      if (done.at(i).err != PULSARC_OK)
        return false;
    return true;
  }
};

// 2,000 producers each send one message from this thread, which so holds
// 2,000 rings; once the producers are idle the rings are given back (each
// used to keep its ring until the producer was destroyed). Sending again
// afterwards, from this thread (whose table still names the retired rings)
// and from a new one, works.
TEST_F(ManyProducers, IdleProducersGiveBackTheirSendRings) {
  constexpr int kProducers = 2000;
  const long rings_at_start = pc_sendq_live_rings();
  std::vector<pulsarc_producer_t *> ps = CreateMany("many-rings", kProducers);
  ASSERT_EQ(ps.size(), static_cast<size_t>(kProducers));
  // All of them share the one I/O thread's connection to the broker.
  EXPECT_EQ(Stats().connections, 1u);
  const unsigned long made_before = pc_test_sendq_rings_made();
  ASSERT_TRUE(SendOneEach(ps));
  // Rings made, not rings live: with --gtest_repeat this thread's table
  // still holds the rings of the last run's destroyed producers (counted in
  // rings_at_start), and filling it with 2,000 new ones prunes them.
  EXPECT_GE(pc_test_sendq_rings_made() - made_before, static_cast<unsigned long>(kProducers));
  // Idle producers trim after about a second parked; the bound is generous.
  EXPECT_TRUE(WaitUntil([&] { return pc_sendq_live_rings() <= rings_at_start + 8; }, 30000))
      << pc_sendq_live_rings() << " rings live, " << rings_at_start << " before the sends";

  ASSERT_TRUE(SendOneEach(ps)) << "a second message on every producer from the same thread";
  bool ok_from_new_thread = false;
  std::thread([&] { ok_from_new_thread = SendOneEach(ps); }).join();
  EXPECT_TRUE(ok_from_new_thread) << "a third message on every producer from a new thread";
  for (int i = 0; i < kProducers; i += 97) {
    std::string t = "many-rings-" + std::to_string(i);
    EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, t.c_str(), 3, kWaitMs)) << t;
  }
  EXPECT_TRUE(WaitUntil([&] { return pc_sendq_live_rings() <= rings_at_start + 8; }, 30000))
      << pc_sendq_live_rings() << " rings live after the second round";
}

// 1,000 idle producers (each sent once, then went quiet) and one busy one:
// the busy producer's blocking sends make the I/O thread run many times, and
// the idle producers are not polled on those runs. Before they were parked
// every run polled all 1,000 (at least kSends * 1000 polls in all).
TEST_F(ManyProducers, IdleProducersAreNotPolled) {
  constexpr int kIdle = 1000, kSends = 200;
  std::vector<pulsarc_producer_t *> idle = CreateMany("many-idle", kIdle);
  ASSERT_EQ(idle.size(), static_cast<size_t>(kIdle));
  ASSERT_TRUE(SendOneEach(idle));
  pulsarc_producer_t *busy = Create("many-busy");
  ASSERT_NE(busy, nullptr);
  // Let the idle ones settle: a producer parks after a pause with nothing
  // to do, then trims. Polls stop growing once they all have.
  uint64_t last = pc_test_producer_polls();
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        uint64_t now = pc_test_producer_polls();
        bool settled = now - last < 50;
        last = now;
        return settled;
      },
      30000));
  const uint64_t before = pc_test_producer_polls();
  for (int i = 0; i < kSends; i++) {
    std::string m = "busy-" + std::to_string(i);
    ASSERT_EQ(pulsarc_producer_send(busy, m.data(), m.size(), nullptr, nullptr), PULSARC_OK)
        << pulsarc_last_error_text();
  }
  const uint64_t polls = pc_test_producer_polls() - before;
  std::fprintf(stderr, "many-producers: %llu producer polls for %d blocking sends\n",
               static_cast<unsigned long long>(polls), kSends);
  EXPECT_LT(polls, static_cast<uint64_t>(kSends) * kIdle / 10);
  // The idle producers still work.
  ASSERT_TRUE(SendOneEach(idle));
}

// Messages spread over many producers of one client: each producer's share
// of the client's memory limit (its credit) must not lock the others out,
// and a producer that keeps sending keeps its ring.
class ManyProducersSpread : public ManyProducers {
protected:
  void SetUp() override {
    ManyProducers::SetUp();
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
  std::vector<pulsarc_producer_t *> ps = CreateMany("spread-steady", kProducers);
  ASSERT_EQ(ps.size(), static_cast<size_t>(kProducers));
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
