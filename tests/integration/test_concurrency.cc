// Many application threads sharing one producer, mixing the three send
// forms: every message completes exactly once, is stored exactly once, in
// per-thread order, and the ids the library returns are where the broker put
// the messages.
#include <map>

#include "harness.h"

namespace pulsarc_it {
namespace {

class Concurrency : public BrokerTest {
  int WatchdogSeconds() override { return 60; }
};

struct Sent {
  std::atomic<int> calls{0};
  std::atomic<int> err{-1};
  pulsarc_msg_id_t id{};
};

void OnSent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  Sent *s = static_cast<Sent *>(ctx);
  if (id != nullptr)
    s->id = *id;
  s->err = err;
  s->calls.fetch_add(1);
}

TEST_F(Concurrency, EightThreadsMixedSendFormsExactlyOnceInOrder) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  const std::string topic = "concurrency-mixed";
  pulsarc_producer_t *p = Create(topic);
  ASSERT_NE(p, nullptr);

  // results[t][i]: the outcome of message "t<t>-<i>".
  std::vector<std::vector<Sent>> results(kThreads);
  for (auto &r : results)
    r = std::vector<Sent>(kPerThread);
  std::atomic<int> accept_errors{0};
  std::atomic<int> sync_calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<int, pulsarc_future_t *>> futures;
      for (int i = 0; i < kPerThread; i++) {
        std::string payload = "t" + std::to_string(t) + "-" + std::to_string(i);
        Sent &s = results[t][i];
        pulsarc_err_t e;
        if (i % 16 == 0) {
          // Blocking send: few of them, each waits for its batch.
          pulsarc_msg_opts_t *o = pulsarc_msg_opts_new();
          pulsarc_msg_opts_set_timeout(o, 20000);
          e = pulsarc_producer_send(p, payload.data(), payload.size(), o, &s.id);
          pulsarc_msg_opts_destroy(o);
          s.err = e;
          s.calls.fetch_add(1);
          sync_calls++;
          continue;
        } else if (i % 2 == 0) {
          pulsarc_future_t *f = nullptr;
          e = pulsarc_producer_send_async(p, payload.data(), payload.size(), nullptr, &f);
          if (e == PULSARC_OK)
            futures.emplace_back(i, f);
        } else {
          e = pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr, OnSent, &s);
        }
        if (e != PULSARC_OK) {
          accept_errors++;
          s.err = e;
        }
      }
      for (auto &fi : futures) {
        Sent &s = results[t][fi.first];
        pulsarc_msg_id_t id{};
        pulsarc_err_t e = pulsarc_future_wait(fi.second, 20000, &id);
        s.id = id;
        s.err = e;
        s.calls.fetch_add(1);
        // Waiting again gives the same result (completion is sticky).
        pulsarc_msg_id_t id2{};
        EXPECT_EQ(pulsarc_future_wait(fi.second, 0, &id2), e);
        if (e == PULSARC_OK) {
          EXPECT_EQ(id2.entry_id, id.entry_id);
        }
        pulsarc_future_destroy(fi.second);
      }
    });
  }
  for (auto &th : threads)
    th.join();
  EXPECT_EQ(accept_errors.load(), 0);
  ASSERT_EQ(pulsarc_producer_flush(p, 20000), PULSARC_OK);

  // Callbacks all ran (flush returned: every accepted message completed).
  int not_once = 0, not_ok = 0;
  for (int t = 0; t < kThreads; t++)
    for (int i = 0; i < kPerThread; i++) {
      const Sent &s = results[t][i];
      if (s.calls.load() != 1) {
        if (not_once++ < 5)
          ADD_FAILURE() << "t" << t << "-" << i << " completed " << s.calls.load() << " times";
      } else if (s.err.load() != PULSARC_OK) {
        if (not_ok++ < 5)
          ADD_FAILURE() << "t" << t << "-" << i
                        << " failed: " << pulsarc_err_str((pulsarc_err_t)s.err.load());
      }
    }
  EXPECT_EQ(not_once, 0);
  EXPECT_EQ(not_ok, 0);

  const size_t total = static_cast<size_t>(kThreads) * kPerThread;
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, topic.c_str(), total, kWaitMs));
  Snapshot snap(tb_, topic);
  ASSERT_EQ(snap->entries_not_recorded, 0u);
  std::vector<StoredMsg> stored = StoredMessages(snap.get());
  EXPECT_EQ(stored.size(), total);
  EXPECT_EQ(snap->duplicates, 0u);

  std::map<std::string, size_t> where; // payload -> index in stored
  int dup = 0;
  for (size_t k = 0; k < stored.size(); k++)
    if (!where.emplace(stored[k].payload, k).second && dup++ < 5)
      ADD_FAILURE() << "stored twice: " << stored[k].payload;
  EXPECT_EQ(dup, 0);

  int missing = 0, out_of_order = 0, id_mismatch = 0;
  for (int t = 0; t < kThreads; t++) {
    size_t prev = 0;
    bool have_prev = false;
    for (int i = 0; i < kPerThread; i++) {
      std::string payload = "t" + std::to_string(t) + "-" + std::to_string(i);
      auto it = where.find(payload);
      if (it == where.end()) {
        if (missing++ < 5)
          ADD_FAILURE() << "never stored: " << payload;
        continue;
      }
      if (have_prev && it->second < prev && out_of_order++ < 5)
        ADD_FAILURE() << payload << " stored before its predecessor";
      prev = it->second;
      have_prev = true;
      const StoredMsg &m = stored[it->second];
      const pulsarc_msg_id_t &id = results[t][i].id;
      if (results[t][i].err.load() == PULSARC_OK &&
          (id.ledger_id != m.ledger_id || id.entry_id != m.entry_id ||
           id.batch_index != m.batch_index || id.partition != -1)) {
        if (id_mismatch++ < 5)
          ADD_FAILURE() << payload << ": library id " << IdStr(id) << ", broker has " << m.ledger_id
                        << ":" << m.entry_id << ":-1:" << m.batch_index;
      }
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(id_mismatch, 0);

  // Sequence ids on the wire rise with storage order (no lower id after a
  // higher one, which a deduplicating broker would drop).
  int seq_back = 0;
  for (size_t k = 1; k < stored.size(); k++)
    if (stored[k].sequence_id <= stored[k - 1].sequence_id && seq_back++ < 5)
      ADD_FAILURE() << "sequence id " << stored[k].sequence_id << " after "
                    << stored[k - 1].sequence_id;
  EXPECT_EQ(seq_back, 0);
}

} // namespace
} // namespace pulsarc_it
