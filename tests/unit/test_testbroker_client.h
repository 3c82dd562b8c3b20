// Raw client for the test broker tests: speaks the client side of the
// Pulsar protocol by hand with the codec. Included only by
// tests/unit/test_testbroker_*.cc.
#ifndef PULSARC_TEST_TESTBROKER_CLIENT_H
#define PULSARC_TEST_TESTBROKER_CLIENT_H

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "codec/crc32c.h"
#include "codec/frame.h"
#include "common/buf.h"
}
#include "testbroker.h"

namespace tbtest {

struct CmdDeleter {
  void operator()(Pulsarc__BaseCommand *c) const {
    pulsarc__base_command__free_unpacked(c, nullptr);
  }
};
using Cmd = std::unique_ptr<Pulsarc__BaseCommand, CmdDeleter>;

inline constexpr uint64_t kPublishTime = 1700000000000ull;

// A blocking client speaking the client side of the protocol by hand.
class RawClient {
public:
  explicit RawClient(uint16_t port) {
    pc_decoder_init(&dec_, 0);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
    int one = 1;
    if (ok_)
      setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawClient() {
    if (fd_ >= 0)
      close(fd_);
    pc_decoder_free(&dec_);
  }
  bool ok() const { return ok_; }

  void WriteRaw(const void *p, size_t n) {
    auto b = static_cast<const uint8_t *>(p);
    while (n > 0) {
      ssize_t w = ::send(fd_, b, n, MSG_NOSIGNAL);
      if (w <= 0)
        return;
      b += w;
      n -= static_cast<size_t>(w);
    }
  }

  void Write(const Pulsarc__BaseCommand &cmd) {
    pc_buf b{};
    ASSERT_EQ(pc_frame_append_command(&b, &cmd), 0);
    WriteRaw(b.data, b.len);
    pc_buf_free(&b);
  }

  // Next command from the broker; null at EOF, on a decode error, or when
  // nothing arrives for 10 s (a guard against hanging, not a timing check).
  Cmd Next() {
    for (;;) {
      pc_frame f;
      int r = pc_decoder_next(&dec_, &f);
      if (r == 1) {
        uint32_t cmd_size = pc_get_u32be(f.raw + 4);
        return Cmd(pulsarc__base_command__unpack(nullptr, cmd_size, f.raw + 8));
      }
      if (r < 0)
        return nullptr;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0)
        return nullptr;
      size_t avail = 0;
      uint8_t *space = pc_decoder_space(&dec_, 65536, &avail);
      ssize_t n = recv(fd_, space, avail, 0);
      if (n <= 0) {
        eof_ = true;
        return nullptr;
      }
      pc_decoder_commit(&dec_, static_cast<size_t>(n));
    }
  }

  // Reads until the broker closes the connection; true if it did.
  bool WaitClosed() {
    while (Next()) {
    }
    return eof_;
  }

  Cmd Connect(int32_t protocol = 21) {
    Pulsarc__CommandConnect c = PULSARC__COMMAND_CONNECT__INIT;
    c.client_version = const_cast<char *>("raw-test");
    c.auth_method_name = const_cast<char *>("none");
    c.has_protocol_version = 1;
    c.protocol_version = protocol;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
    cmd.connect = &c;
    Write(cmd);
    return Next();
  }

  Cmd Ping() {
    Pulsarc__CommandPing p = PULSARC__COMMAND_PING__INIT;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
    cmd.ping = &p;
    Write(cmd);
    return Next();
  }

  Cmd Lookup(const char *topic, uint64_t request_id, bool authoritative = false) {
    Pulsarc__CommandLookupTopic l = PULSARC__COMMAND_LOOKUP_TOPIC__INIT;
    l.topic = const_cast<char *>(topic);
    l.request_id = request_id;
    l.has_authoritative = 1;
    l.authoritative = authoritative;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__LOOKUP;
    cmd.lookup_topic = &l;
    Write(cmd);
    return Next();
  }

  Cmd PartitionedMetadata(const char *topic, uint64_t request_id) {
    Pulsarc__CommandPartitionedTopicMetadata m = PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA__INIT;
    m.topic = const_cast<char *>(topic);
    m.request_id = request_id;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA;
    cmd.partition_metadata = &m;
    Write(cmd);
    return Next();
  }

  void WriteProducer(const char *topic, uint64_t producer_id, uint64_t request_id,
                     const char *name = nullptr, int mode = -1, uint64_t epoch = 0,
                     const char *schema = nullptr) {
    Pulsarc__CommandProducer p = PULSARC__COMMAND_PRODUCER__INIT;
    p.topic = const_cast<char *>(topic);
    p.producer_id = producer_id;
    p.request_id = request_id;
    p.producer_name = const_cast<char *>(name);
    if (mode >= 0) {
      p.has_producer_access_mode = 1;
      p.producer_access_mode = static_cast<Pulsarc__ProducerAccessMode>(mode);
    }
    p.has_epoch = 1;
    p.epoch = epoch;
    Pulsarc__Schema sc = PULSARC__SCHEMA__INIT;
    if (schema) {
      sc.name = const_cast<char *>("s");
      sc.type = PULSARC__SCHEMA__TYPE__String;
      sc.schema_data.data = reinterpret_cast<uint8_t *>(const_cast<char *>(schema));
      sc.schema_data.len = strlen(schema);
      p.schema = &sc;
    }
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__PRODUCER;
    cmd.producer = &p;
    Write(cmd);
  }

  Cmd Producer(const char *topic, uint64_t producer_id, uint64_t request_id,
               const char *name = nullptr, int mode = -1, uint64_t epoch = 0,
               const char *schema = nullptr) {
    WriteProducer(topic, producer_id, request_id, name, mode, epoch, schema);
    return Next();
  }

  Cmd CloseProducer(uint64_t producer_id, uint64_t request_id) {
    Pulsarc__CommandCloseProducer c = PULSARC__COMMAND_CLOSE_PRODUCER__INIT;
    c.producer_id = producer_id;
    c.request_id = request_id;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER;
    cmd.close_producer = &c;
    Write(cmd);
    return Next();
  }

  // Writes one SEND frame; corrupt flips a payload byte after sealing.
  void WriteSend(const Pulsarc__CommandSend &s, const Pulsarc__MessageMetadata &md,
                 const std::string &payload, bool corrupt = false) {
    Pulsarc__CommandSend send = s;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    const size_t headroom = 128;
    pc_buf f{};
    ASSERT_EQ(pc_buf_reserve(&f, headroom + payload.size()), 0);
    f.len = headroom;
    ASSERT_EQ(pc_buf_append(&f, payload.data(), payload.size()), 0);
    size_t start = 0;
    ASSERT_EQ(pc_frame_seal_payload(&f, headroom, &cmd, &md, &start), 0);
    if (corrupt)
      f.data[f.len - 1] ^= 0x5a;
    WriteRaw(f.data + start, f.len - start);
    pc_buf_free(&f);
  }

  // A plain, non-batched message.
  void WriteMessage(uint64_t producer_id, const char *name, uint64_t seq,
                    const std::string &payload, bool corrupt = false) {
    Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
    s.producer_id = producer_id;
    s.sequence_id = seq;
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    md.producer_name = const_cast<char *>(name);
    md.sequence_id = seq;
    md.publish_time = kPublishTime;
    WriteSend(s, md, payload, corrupt);
  }

  // n plain messages with ids first.. in one batch entry.
  void WriteBatch(uint64_t producer_id, const char *name, uint64_t first, int n,
                  bool with_highest = false) {
    pc_buf body{};
    for (int i = 0; i < n; i++) {
      std::string p = "m" + std::to_string(first + static_cast<uint64_t>(i));
      ASSERT_EQ(pc_batch_append_plain(&body, first + static_cast<uint64_t>(i), p.data(), p.size()),
                0);
    }
    Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
    s.producer_id = producer_id;
    s.sequence_id = first;
    s.has_num_messages = 1;
    s.num_messages = n;
    if (with_highest) {
      s.has_highest_sequence_id = 1;
      s.highest_sequence_id = first + static_cast<uint64_t>(n) - 1;
    }
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    md.producer_name = const_cast<char *>(name);
    md.sequence_id = first;
    md.publish_time = kPublishTime;
    md.has_num_messages_in_batch = 1;
    md.num_messages_in_batch = n;
    WriteSend(s, md, std::string(reinterpret_cast<char *>(body.data), body.len));
    pc_buf_free(&body);
  }

private:
  int fd_ = -1;
  bool ok_ = false;
  bool eof_ = false;
  pc_decoder dec_{};
};

class TestBroker : public ::testing::Test {
protected:
  void Start(const pulsarc_tb_opts &o) {
    ASSERT_EQ(pulsarc_tb_start(&o, &tb_), 0);
    port_ = pulsarc_tb_port(tb_);
  }
  void SetUp() override {}
  void TearDown() override { pulsarc_tb_free(tb_); }

  void StartDefault() { Start(pulsarc_tb_opts_default()); }

  // A connected client with one producer (id 1) on topic; returns its name.
  std::string ConnectWithProducer(RawClient &c, const char *topic) {
    Cmd r = c.Connect();
    EXPECT_TRUE(r && r->type == PULSARC__BASE_COMMAND__TYPE__CONNECTED);
    Cmd p = c.Producer(topic, 1, 1);
    EXPECT_TRUE(p && p->type == PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
    if (!p || !p->producer_success)
      return "";
    return p->producer_success->producer_name;
  }

  pulsarc_tb_stats Stats() {
    pulsarc_tb_stats s;
    pulsarc_tb_get_stats(tb_, &s);
    return s;
  }

  pulsarc_tb *tb_ = nullptr;
  uint16_t port_ = 0;
};

inline constexpr const char *kTopic = "persistent://public/default/t";

inline void ExpectReceipt(const Cmd &r, uint64_t producer_id, uint64_t seq, int64_t ledger,
                          int64_t entry) {
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT);
  ASSERT_NE(r->send_receipt, nullptr);
  EXPECT_EQ(r->send_receipt->producer_id, producer_id);
  EXPECT_EQ(r->send_receipt->sequence_id, seq);
  ASSERT_NE(r->send_receipt->message_id, nullptr);
  EXPECT_EQ(static_cast<int64_t>(r->send_receipt->message_id->ledger_id), ledger);
  EXPECT_EQ(static_cast<int64_t>(r->send_receipt->message_id->entry_id), entry);
}

inline int64_t LedgerOf(pulsarc_tb *tb, const char *topic) {
  pulsarc_tb_topic_stats ts;
  pulsarc_tb_get_topic_stats(tb, topic, &ts);
  return ts.ledger_id;
}

} // namespace tbtest

#endif
