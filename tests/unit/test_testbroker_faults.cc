// Test broker connection faults (tools/testbroker/tb_faults.c): drops after
// n frames, seeded random drops, corrupted output, stopped reading, and the
// drop counter.
#include <fcntl.h>

#include <cerrno>
#include <thread>

#include "test_testbroker_client.h"

namespace {
using namespace tbtest;

// Frames handled before the connection died (each PING answered by a PONG);
// the CONNECT counts as the first. Stops at max.
int FramesUntilDropped(uint16_t port, int max) {
  RawClient c(port);
  if (!c.ok())
    return -1;
  Cmd r = c.Connect();
  if (!r)
    return 0;
  int n = 1;
  while (n < max) {
    Cmd p = c.Ping();
    if (!p)
      break;
    n++;
  }
  return n;
}

TEST_F(TestBroker, DropAfterFramesClosesTheConnectionOfTheNthFrame) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  EXPECT_EQ(pulsarc_tb_drops(tb_), 0u);

  pulsarc_tb_drop_after_frames(tb_, 2);
  c.WriteMessage(1, name.c_str(), 0, "first");
  ExpectReceipt(c.Next(), 1, 0, ledger, 0);
  // The second frame is handled (stored) but its receipt never leaves.
  c.WriteMessage(1, name.c_str(), 1, "second");
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, "t", 2, 10000));
  EXPECT_EQ(pulsarc_tb_drops(tb_), 1u);
  pulsarc_tb_fault_stats fs;
  pulsarc_tb_get_fault_stats(tb_, &fs);
  EXPECT_EQ(fs.drops, 1u);
  EXPECT_EQ(fs.drops_after_send, 1u);
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, kTopic, name.c_str()), 1);

  // One shot: the next connection lives on.
  EXPECT_EQ(FramesUntilDropped(port_, 10), 10);
  EXPECT_EQ(pulsarc_tb_drops(tb_), 1u);
}

TEST_F(TestBroker, DropAfterFramesZeroCancels) {
  StartDefault();
  pulsarc_tb_drop_after_frames(tb_, 3);
  pulsarc_tb_drop_after_frames(tb_, 0);
  EXPECT_EQ(FramesUntilDropped(port_, 8), 8);
  EXPECT_EQ(pulsarc_tb_drops(tb_), 0u);
}

TEST_F(TestBroker, DropAfterFramesCountsAcrossConnections) {
  StartDefault();
  RawClient a(port_);
  ASSERT_TRUE(a.Connect()); // frames before arming do not count
  pulsarc_tb_drop_after_frames(tb_, 3);
  RawClient b(port_);
  ASSERT_TRUE(b.Connect()); // 1
  ASSERT_TRUE(a.Ping());    // 2
  EXPECT_FALSE(b.Ping());   // 3: b is dropped
  EXPECT_TRUE(a.Ping());
  pulsarc_tb_fault_stats fs;
  pulsarc_tb_get_fault_stats(tb_, &fs);
  EXPECT_EQ(fs.drops, 1u);
  EXPECT_EQ(fs.drops_after_send, 0u); // a PING, not a SEND
}

TEST_F(TestBroker, RandomDropsAreReproducibleForASeed) {
  StartDefault();
  auto run = [&](uint64_t seed) {
    pulsarc_tb_random_drops(tb_, seed, 300000); // 30% per frame
    std::vector<int> lens;
    for (int i = 0; i < 12; i++)
      lens.push_back(FramesUntilDropped(port_, 40));
    pulsarc_tb_random_drops(tb_, seed, 0);
    return lens;
  };
  uint64_t d0 = pulsarc_tb_drops(tb_);
  std::vector<int> first = run(7);
  uint64_t d1 = pulsarc_tb_drops(tb_);
  std::vector<int> again = run(7);
  EXPECT_EQ(first, again);
  // Every connection that ended before the cap was dropped by the fault.
  uint64_t short_lived = 0;
  for (int n : first)
    short_lived += n < 40 ? 1 : 0;
  EXPECT_GT(short_lived, 0u);
  EXPECT_EQ(d1 - d0, short_lived);
  EXPECT_EQ(pulsarc_tb_drops(tb_) - d1, short_lived);
  // Off: nothing more is dropped.
  EXPECT_EQ(FramesUntilDropped(port_, 40), 40);
}

TEST_F(TestBroker, RandomDropsEveryFrameAtOneMillion) {
  StartDefault();
  pulsarc_tb_random_drops(tb_, 1, 1000000);
  RawClient c(port_);
  EXPECT_FALSE(c.Connect()); // CONNECTED was queued but dies with the connection
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(pulsarc_tb_drops(tb_), 1u);
}

TEST_F(TestBroker, DropConnectionsCountsEveryConnection) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  pulsarc_tb_drop_connections(tb_);
  EXPECT_TRUE(a.WaitClosed());
  EXPECT_TRUE(b.WaitClosed());
  EXPECT_EQ(pulsarc_tb_drops(tb_), 2u);
  EXPECT_TRUE(pulsarc_tb_wait_drops(tb_, 2, 1000));
}

TEST_F(TestBroker, WaitDropsSeesALaterDrop) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  pulsarc_tb_drop_after_frames(tb_, 1);
  std::thread t([&] { c.Ping(); });
  EXPECT_TRUE(pulsarc_tb_wait_drops(tb_, 1, 10000));
  t.join();
  EXPECT_FALSE(pulsarc_tb_wait_drops(tb_, 2, 0));
}

// --------------------------------------------------------------- corruption

// A plain socket: the raw bytes of each answer frame, undecoded.
class Plain {
public:
  explicit Plain(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
  }
  ~Plain() {
    if (fd_ >= 0)
      close(fd_);
  }
  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  bool Write(const Pulsarc__BaseCommand &cmd) {
    pc_buf b{};
    if (pc_frame_append_command(&b, &cmd) != 0)
      return false;
    bool ok = ::send(fd_, b.data, b.len, MSG_NOSIGNAL) == static_cast<ssize_t>(b.len);
    pc_buf_free(&b);
    return ok;
  }
  // The next whole frame (size prefix included); empty on EOF or after 10 s.
  std::string ReadFrame() {
    std::string f;
    if (!ReadN(4, &f))
      return "";
    uint32_t total = pc_get_u32be(reinterpret_cast<const uint8_t *>(f.data()));
    if (!ReadN(total, &f))
      return "";
    return f;
  }

private:
  bool ReadN(size_t n, std::string *out) {
    while (n > 0) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0)
        return false;
      char buf[4096];
      ssize_t r = recv(fd_, buf, n < sizeof buf ? n : sizeof buf, 0);
      if (r <= 0)
        return false;
      out->append(buf, static_cast<size_t>(r));
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  int fd_ = -1;
  bool ok_ = false;
};

Pulsarc__BaseCommand *Unpack(const std::string &frame) {
  if (frame.size() < 8)
    return nullptr;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(frame.data());
  uint32_t cmd_size = pc_get_u32be(p + 4);
  if (frame.size() < 8 + static_cast<size_t>(cmd_size))
    return nullptr;
  return pulsarc__base_command__unpack(nullptr, cmd_size, p + 8);
}

void WriteConnect(Plain &c) {
  Pulsarc__CommandConnect cc = PULSARC__COMMAND_CONNECT__INIT;
  cc.client_version = const_cast<char *>("raw-test");
  cc.has_protocol_version = 1;
  cc.protocol_version = 21;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  cmd.connect = &cc;
  ASSERT_TRUE(c.Write(cmd));
}

void WritePing(Plain &c) {
  Pulsarc__CommandPing pg = PULSARC__COMMAND_PING__INIT;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
  cmd.ping = &pg;
  ASSERT_TRUE(c.Write(cmd));
}

TEST_F(TestBroker, CorruptNextFramesMakesExactlyThoseUndecodable) {
  StartDefault();
  Plain c(port_);
  ASSERT_TRUE(c.ok());
  pulsarc_tb_corrupt_next_frames(tb_, 2);
  WriteConnect(c);
  std::string f1 = c.ReadFrame();
  ASSERT_GE(f1.size(), 8u);
  EXPECT_EQ(Unpack(f1), nullptr); // CONNECTED, garbled
  WritePing(c);
  std::string f2 = c.ReadFrame();
  ASSERT_GE(f2.size(), 8u);
  EXPECT_EQ(Unpack(f2), nullptr); // PONG, garbled
  // The broker itself is unaffected: it keeps answering, now cleanly.
  WritePing(c);
  std::string f3 = c.ReadFrame();
  Pulsarc__BaseCommand *cmd = Unpack(f3);
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->type, PULSARC__BASE_COMMAND__TYPE__PONG);
  pulsarc__base_command__free_unpacked(cmd, nullptr);
  pulsarc_tb_fault_stats fs;
  pulsarc_tb_get_fault_stats(tb_, &fs);
  EXPECT_EQ(fs.frames_corrupted, 2u);
}

TEST_F(TestBroker, CorruptNextFramesZeroCancels) {
  StartDefault();
  pulsarc_tb_corrupt_next_frames(tb_, 5);
  pulsarc_tb_corrupt_next_frames(tb_, 0);
  RawClient c(port_);
  Cmd r = c.Connect();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__CONNECTED);
}

TEST_F(TestBroker, CorruptionAlsoHitsDeferredReceipts) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  pulsarc_tb_hold_receipts(tb_, true);
  c.WriteMessage(1, name.c_str(), 0, "held");
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, "t", 1, 10000));
  pulsarc_tb_corrupt_next_frames(tb_, 1);
  pulsarc_tb_hold_receipts(tb_, false);
  EXPECT_FALSE(c.Next()); // the receipt arrives, undecodable
}

// ------------------------------------------------------------ stopped reading

// One SEND frame for producer 1 with a payload of len bytes.
std::string SendFrame(const std::string &name, uint64_t seq, size_t len) {
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = seq;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &s;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name.c_str());
  md.sequence_id = seq;
  md.publish_time = kPublishTime;
  const size_t headroom = 128;
  pc_buf f{};
  EXPECT_EQ(pc_buf_reserve(&f, headroom + len), 0);
  f.len = headroom;
  std::string payload(len, static_cast<char>('a' + seq % 26));
  EXPECT_EQ(pc_buf_append(&f, payload.data(), payload.size()), 0);
  size_t start = 0;
  EXPECT_EQ(pc_frame_seal_payload(&f, headroom, &cmd, &md, &start), 0);
  std::string out(reinterpret_cast<char *>(f.data + start), f.len - start);
  pc_buf_free(&f);
  return out;
}

TEST_F(TestBroker, StopReadingFillsTheClientsSocketThenResumes) {
  StartDefault();
  Plain c(port_);
  ASSERT_TRUE(c.ok());
  WriteConnect(c);
  Pulsarc__BaseCommand *r = Unpack(c.ReadFrame());
  ASSERT_NE(r, nullptr);
  pulsarc__base_command__free_unpacked(r, nullptr);
  Pulsarc__CommandProducer pr = PULSARC__COMMAND_PRODUCER__INIT;
  pr.topic = const_cast<char *>(kTopic);
  pr.producer_id = 1;
  pr.request_id = 1;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PRODUCER;
  cmd.producer = &pr;
  ASSERT_TRUE(c.Write(cmd));
  r = Unpack(c.ReadFrame());
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  std::string name = r->producer_success->producer_name;
  pulsarc__base_command__free_unpacked(r, nullptr);

  pulsarc_tb_stop_reading(tb_, true);
  uint64_t frames_before = Stats().frames_in;
  ASSERT_EQ(fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) | O_NONBLOCK), 0);
  // Write whole 64 KiB messages until the kernel refuses more: the broker
  // reads nothing, so socket buffers on both sides fill up.
  std::string rest;
  uint64_t started = 0;
  bool blocked = false;
  for (uint64_t seq = 0; seq < 4096 && !blocked; seq++) {
    std::string f = SendFrame(name, seq, 64 * 1024);
    started++;
    size_t off = 0;
    while (off < f.size()) {
      ssize_t w = ::send(c.fd(), f.data() + off, f.size() - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<size_t>(w);
        continue;
      }
      ASSERT_TRUE(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << strerror(errno);
      blocked = true;
      rest = f.substr(off);
      break;
    }
  }
  ASSERT_TRUE(blocked) << "wrote 256 MiB without meeting backpressure";
  EXPECT_EQ(Stats().frames_in, frames_before);
  EXPECT_EQ(Stats().messages, 0u);

  pulsarc_tb_stop_reading(tb_, false);
  ASSERT_EQ(fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) & ~O_NONBLOCK), 0);
  if (!rest.empty()) {
    ASSERT_EQ(::send(c.fd(), rest.data(), rest.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(rest.size()));
  }
  EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, "t", started, 20000));
  EXPECT_EQ(Stats().messages, started);
}

TEST_F(TestBroker, StopReadingStillAcceptsAndLeavesNewConnectionsUnanswered) {
  StartDefault();
  pulsarc_tb_stop_reading(tb_, true);
  Plain c(port_);
  ASSERT_TRUE(c.ok());
  WriteConnect(c);
  for (int i = 0; i < 1000 && Stats().connections == 0; i++)
    usleep(10000);
  ASSERT_EQ(Stats().connections, 1u);
  EXPECT_EQ(Stats().frames_in, 0u); // accepted, never read
  pulsarc_tb_stop_reading(tb_, false);
  // The CONNECT written while stopped is read and answered now.
  Pulsarc__BaseCommand *r = Unpack(c.ReadFrame());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__CONNECTED);
  pulsarc__base_command__free_unpacked(r, nullptr);
  EXPECT_EQ(Stats().connections, 1u);
}

} // namespace
