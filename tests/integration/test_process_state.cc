// State the library must not share with the application: its jitter and
// random choices come from the client's own generator (common/prng.h), so
// an application that seeded random() sees the same sequence whether or not
// a client created producers meanwhile.
#include <cstdlib>

#include "harness.h"

namespace pulsarc_it {
namespace {

class ProcessState : public BrokerTest {};

std::vector<long> Draw(unsigned seed, int n) {
  srandom(seed);
  std::vector<long> v;
  for (int i = 0; i < n; i++)
    v.push_back(random());
  return v;
}

// Creating producers draws the start jitter (startup_jitter_ms) and the
// single_partition pick. With random() those draws moved the application's
// sequence, so the values after creation differed from a fresh replay.
TEST_F(ProcessState, ProducersLeaveTheApplicationsRandomSequenceAlone) {
  pulsarc_tb_set_partitions(tb_, "prng-single", 4);
  std::vector<long> expected = Draw(4242, 16);

  srandom(4242);
  std::vector<long> got;
  for (int i = 0; i < 8; i++)
    got.push_back(random());
  ProducerConf c;
  c.Set("startup_jitter_ms", "5").Set("routing_mode", "single_partition");
  for (int k = 0; k < 3; k++) {
    pulsarc_producer_t *p = Create("prng-single", c.get());
    ASSERT_NE(p, nullptr);
    MsgOpts o;
    o.Timeout(5000);
    EXPECT_EQ(pulsarc_producer_send(p, "x", 1, o.get(), nullptr), PULSARC_OK);
  }
  for (int i = 0; i < 8; i++)
    got.push_back(random());
  EXPECT_EQ(got, expected);
}

} // namespace
} // namespace pulsarc_it
