// Test broker, consumer side: SUBSCRIBE / FLOW / MESSAGE / ACK /
// REDELIVER / CLOSE_CONSUMER and the small requests, driven by a raw
// consumer built from the codec; and the admin-style HTTP endpoint.
#include <sys/time.h>

#include <map>

#include "test_testbroker_client.h"

extern "C" {
#include "tb_internal.h"
}

namespace {
using namespace tbtest;

#define BC(t) PULSARC__BASE_COMMAND__TYPE__##t

// One received frame: the command and, for MESSAGE, the payload section.
struct Got {
  Cmd cmd;
  bool has_checksum = false, checksum_ok = false;
  std::string metadata, payload;
  int64_t at_ms = 0; // wall clock when read
};

static int64_t NowMs() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

// A raw consumer connection (its own socket and decoder).
class RawConsumer {
public:
  explicit RawConsumer(uint16_t port) {
    pc_decoder_init(&dec_, 0);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawConsumer() {
    close(fd_);
    pc_decoder_free(&dec_);
  }

  void Write(const Pulsarc__BaseCommand &cmd) {
    pc_buf b{};
    ASSERT_EQ(pc_frame_append_command(&b, &cmd), 0);
    for (size_t off = 0; off < b.len;) {
      ssize_t w = ::send(fd_, b.data + off, b.len - off, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      off += static_cast<size_t>(w);
    }
    pc_buf_free(&b);
  }

  // Next frame; cmd is null at EOF or after 10 s of silence (a hang guard).
  Got Next() {
    Got g;
    for (;;) {
      pc_frame f;
      int r = pc_decoder_next(&dec_, &f);
      if (r == 1) {
        uint32_t cs = pc_get_u32be(f.raw + 4);
        g.cmd = Cmd(pulsarc__base_command__unpack(nullptr, cs, f.raw + 8));
        g.has_checksum = f.has_checksum;
        g.checksum_ok = f.checksum_ok;
        if (f.has_payload) {
          g.metadata.assign(reinterpret_cast<const char *>(f.metadata), f.metadata_len);
          g.payload.assign(reinterpret_cast<const char *>(f.payload), f.payload_len);
        }
        g.at_ms = NowMs();
        return g;
      }
      if (r < 0)
        return g;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0)
        return g;
      size_t avail = 0;
      uint8_t *space = pc_decoder_space(&dec_, 65536, &avail);
      ssize_t n = recv(fd_, space, avail, 0);
      if (n <= 0)
        return g;
      pc_decoder_commit(&dec_, static_cast<size_t>(n));
    }
  }

  Got Connect() {
    Pulsarc__CommandConnect c = PULSARC__COMMAND_CONNECT__INIT;
    c.client_version = const_cast<char *>("raw-consumer");
    c.has_protocol_version = 1;
    c.protocol_version = 21;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(CONNECT);
    cmd.connect = &c;
    Write(cmd);
    return Next();
  }

  Got Subscribe(const char *sub, int type, bool earliest, uint64_t consumer_id = 1,
                uint64_t request_id = 1) {
    Pulsarc__CommandSubscribe s = PULSARC__COMMAND_SUBSCRIBE__INIT;
    s.topic = const_cast<char *>(kTopic);
    s.subscription = const_cast<char *>(sub);
    s.sub_type = static_cast<Pulsarc__CommandSubscribe__SubType>(type);
    s.consumer_id = consumer_id;
    s.request_id = request_id;
    s.has_initial_position = 1;
    s.initial_position = earliest ? PULSARC__COMMAND_SUBSCRIBE__INITIAL_POSITION__Earliest
                                  : PULSARC__COMMAND_SUBSCRIBE__INITIAL_POSITION__Latest;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(SUBSCRIBE);
    cmd.subscribe = &s;
    Write(cmd);
    return Next();
  }

  void Flow(uint32_t permits, uint64_t consumer_id = 1) {
    Pulsarc__CommandFlow f = PULSARC__COMMAND_FLOW__INIT;
    f.consumer_id = consumer_id;
    f.message_permits = permits;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(FLOW);
    cmd.flow = &f;
    Write(cmd);
  }

  void Ack(int64_t ledger, int64_t entry, bool cumulative, int64_t request_id = -1) {
    Pulsarc__MessageIdData id = PULSARC__MESSAGE_ID_DATA__INIT;
    id.ledger_id = static_cast<uint64_t>(ledger);
    id.entry_id = static_cast<uint64_t>(entry);
    Pulsarc__MessageIdData *ids[] = {&id};
    Pulsarc__CommandAck a = PULSARC__COMMAND_ACK__INIT;
    a.consumer_id = 1;
    a.ack_type = cumulative ? PULSARC__COMMAND_ACK__ACK_TYPE__Cumulative
                            : PULSARC__COMMAND_ACK__ACK_TYPE__Individual;
    a.n_message_id = 1;
    a.message_id = ids;
    if (request_id >= 0) {
      a.has_request_id = 1;
      a.request_id = static_cast<uint64_t>(request_id);
    }
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(ACK);
    cmd.ack = &a;
    Write(cmd);
  }

  void RedeliverAll() {
    Pulsarc__CommandRedeliverUnacknowledgedMessages r =
        PULSARC__COMMAND_REDELIVER_UNACKNOWLEDGED_MESSAGES__INIT;
    r.consumer_id = 1;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(REDELIVER_UNACKNOWLEDGED_MESSAGES);
    cmd.redeliver_unacknowledged_messages = &r;
    Write(cmd);
  }

  Got CloseConsumer(uint64_t request_id) {
    Pulsarc__CommandCloseConsumer cc = PULSARC__COMMAND_CLOSE_CONSUMER__INIT;
    cc.consumer_id = 1;
    cc.request_id = request_id;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(CLOSE_CONSUMER);
    cmd.close_consumer = &cc;
    Write(cmd);
    return Next();
  }

  // Everything up to the PONG of a PING written now: the broker handles a
  // connection's frames in order, so any MESSAGE due comes before it.
  std::vector<Got> Drain() {
    Pulsarc__CommandPing p = PULSARC__COMMAND_PING__INIT;
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    cmd.type = BC(PING);
    cmd.ping = &p;
    Write(cmd);
    std::vector<Got> out;
    for (;;) {
      Got g = Next();
      if (!g.cmd || g.cmd->type == BC(PONG))
        return out;
      out.push_back(std::move(g));
    }
  }

private:
  pc_decoder dec_{};
  int fd_ = -1;
};

#define SUB(t) PULSARC__COMMAND_SUBSCRIBE__SUB_TYPE__##t

// Entry ids of the MESSAGE frames among gs, in arrival order.
static std::vector<int64_t> Ids(const std::vector<Got> &gs) {
  std::vector<int64_t> v;
  for (const Got &g : gs)
    if (g.cmd && g.cmd->type == BC(MESSAGE))
      v.push_back(static_cast<int64_t>(g.cmd->message->message_id->entry_id));
  return v;
}

static Got NextMessage(RawConsumer &k) {
  for (;;) {
    Got g = k.Next();
    if (!g.cmd || g.cmd->type == BC(MESSAGE))
      return g;
  }
}

class TbConsumer : public TestBroker {
protected:
  // A producer connection that stored: entry 0 "p0", entry 1 a batch of 4,
  // entry 2 "p2".
  void Publish3(RawClient &p) {
    name_ = ConnectWithProducer(p, kTopic);
    ledger_ = LedgerOf(tb_, kTopic);
    p.WriteMessage(1, name_.c_str(), 0, "p0");
    ExpectReceipt(p.Next(), 1, 0, ledger_, 0);
    p.WriteBatch(1, name_.c_str(), 1, 4);
    ExpectReceipt(p.Next(), 1, 1, ledger_, 1);
    p.WriteMessage(1, name_.c_str(), 5, "p2");
    ExpectReceipt(p.Next(), 1, 5, ledger_, 2);
  }
  void ConnectAndSubscribe(RawConsumer &k, const char *sub, int type, bool earliest) {
    Got r = k.Connect();
    ASSERT_TRUE(r.cmd && r.cmd->type == BC(CONNECTED));
    Got s = k.Subscribe(sub, type, earliest);
    ASSERT_TRUE(s.cmd);
    ASSERT_EQ(s.cmd->type, BC(SUCCESS));
  }
  std::string name_;
  int64_t ledger_ = -1;
};

TEST_F(TbConsumer, EarliestDispatchesStoredEntriesAsStoredWithValidChecksum) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Exclusive), true);
  k.Flow(100);
  std::vector<Got> gs;
  for (int i = 0; i < 3; i++)
    gs.push_back(NextMessage(k));
  ASSERT_EQ(Ids(gs), (std::vector<int64_t>{0, 1, 2}));
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, "t");
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 3u);
  for (size_t i = 0; i < 3; i++) {
    const Got &g = gs[i];
    EXPECT_EQ(g.cmd->message->consumer_id, 1u);
    EXPECT_EQ(static_cast<int64_t>(g.cmd->message->message_id->ledger_id), ledger_);
    EXPECT_EQ(g.cmd->message->redelivery_count, 0u);
    EXPECT_TRUE(g.has_checksum);
    EXPECT_TRUE(g.checksum_ok);
    EXPECT_EQ(g.payload, std::string(reinterpret_cast<const char *>(snap->entries[i].payload),
                                     snap->entries[i].payload_len));
    Pulsarc__MessageMetadata *md =
        pc_metadata_unpack(reinterpret_cast<const uint8_t *>(g.metadata.data()), g.metadata.size());
    ASSERT_NE(md, nullptr);
    EXPECT_EQ(name_, md->producer_name);
    EXPECT_EQ(md->has_num_messages_in_batch != 0, i == 1);
    pulsarc__message_metadata__free_unpacked(md, nullptr);
  }
  pulsarc_tb_snapshot_free(snap);
  EXPECT_TRUE(Ids(k.Drain()).empty());
}

TEST_F(TbConsumer, PermitsBoundDispatchAndABatchCostsItsMessages) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Exclusive), true);
  k.Flow(2); // entry 0 (1 permit), then the batch (4): -3 left
  EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{0, 1}));
  k.Flow(3); // back to 0: still nothing
  EXPECT_TRUE(Ids(k.Drain()).empty());
  k.Flow(1);
  EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{2}));
}

TEST_F(TbConsumer, LatestSeesOnlyNewEntriesAsTheyArrive) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Shared), false);
  k.Flow(10);
  EXPECT_TRUE(Ids(k.Drain()).empty());
  p.WriteMessage(1, name_.c_str(), 6, "p3");
  ExpectReceipt(p.Next(), 1, 6, ledger_, 3);
  Got g = NextMessage(k);
  ASSERT_TRUE(g.cmd);
  EXPECT_EQ(g.cmd->message->message_id->entry_id, 3u);
  EXPECT_EQ(g.payload, "p3");
}

TEST_F(TbConsumer, AckedEntriesAreNotRedeliveredOthersAreWithACount) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Shared), true);
  k.Flow(100);
  EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{0, 1, 2}));
  k.Ack(ledger_, 1, false);
  k.RedeliverAll();
  std::vector<Got> again = k.Drain();
  ASSERT_EQ(Ids(again), (std::vector<int64_t>{0, 2}));
  for (const Got &g : again)
    EXPECT_EQ(g.cmd->message->redelivery_count, 1u);
}

TEST_F(TbConsumer, CumulativeAckSurvivesResubscribe) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  {
    RawConsumer k(port_);
    ConnectAndSubscribe(k, "durable", SUB(Exclusive), true);
    k.Flow(100);
    EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{0, 1, 2}));
    k.Ack(ledger_, 1, true, 77);
    Got r = k.Next();
    ASSERT_TRUE(r.cmd);
    ASSERT_EQ(r.cmd->type, BC(ACK_RESPONSE));
    EXPECT_EQ(r.cmd->ack_response->request_id, 77u);
    EXPECT_FALSE(r.cmd->ack_response->has_error);
    Got c = k.CloseConsumer(9);
    ASSERT_TRUE(c.cmd);
    EXPECT_EQ(c.cmd->type, BC(SUCCESS));
  }
  RawConsumer k2(port_);
  ConnectAndSubscribe(k2, "durable", SUB(Exclusive), true); // existing sub: its position
  k2.Flow(100);
  EXPECT_EQ(Ids(k2.Drain()), (std::vector<int64_t>{2}));
}

TEST_F(TbConsumer, ClosedConnectionGivesUnackedEntriesToTheNextConsumer) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer a(port_), b(port_);
  ConnectAndSubscribe(a, "f", SUB(Failover), true);
  ConnectAndSubscribe(b, "f", SUB(Failover), true);
  a.Flow(100);
  b.Flow(100);
  EXPECT_EQ(Ids(a.Drain()), (std::vector<int64_t>{0, 1, 2})); // the active one
  EXPECT_TRUE(Ids(b.Drain()).empty());
  a.Ack(ledger_, 0, false);
  EXPECT_TRUE(Ids(a.Drain()).empty());
  a.CloseConsumer(5);
  std::vector<int64_t> got;
  while (got.size() < 2) {
    Got g = NextMessage(b);
    ASSERT_TRUE(g.cmd);
    got.push_back(static_cast<int64_t>(g.cmd->message->message_id->entry_id));
  }
  EXPECT_EQ(got, (std::vector<int64_t>{1, 2}));
}

TEST_F(TbConsumer, SecondExclusiveConsumerIsRefused) {
  StartDefault();
  RawConsumer a(port_), b(port_);
  ConnectAndSubscribe(a, "x", SUB(Exclusive), true);
  ASSERT_TRUE(b.Connect().cmd);
  Got r = b.Subscribe("x", SUB(Exclusive), true);
  ASSERT_TRUE(r.cmd);
  ASSERT_EQ(r.cmd->type, BC(ERROR));
  EXPECT_EQ(r.cmd->error->error, PULSARC__SERVER_ERROR__ConsumerBusy);
}

TEST_F(TbConsumer, SharedHoldsDelayedEntriesUntilDeliverAt) {
  StartDefault();
  RawClient p(port_);
  name_ = ConnectWithProducer(p, kTopic);
  ledger_ = LedgerOf(tb_, kTopic);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "d", SUB(Shared), true);
  k.Flow(10);
  int64_t deliver_at = NowMs() + 300;
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = 0;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name_.c_str());
  md.sequence_id = 0;
  md.publish_time = kPublishTime;
  md.has_deliver_at_time = 1;
  md.deliver_at_time = deliver_at;
  p.WriteSend(s, md, "later");
  ExpectReceipt(p.Next(), 1, 0, ledger_, 0);
  p.WriteMessage(1, name_.c_str(), 1, "now");
  ExpectReceipt(p.Next(), 1, 1, ledger_, 1);
  Got first = NextMessage(k), second = NextMessage(k);
  ASSERT_TRUE(first.cmd && second.cmd);
  EXPECT_EQ(first.payload, "now");
  EXPECT_EQ(second.payload, "later");
  EXPECT_GE(second.at_ms, deliver_at); // never early (the clock is the same)
}

TEST_F(TbConsumer, LastMessageIdStatsAndUnsubscribe) {
  StartDefault();
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Exclusive), true);
  k.Flow(100);
  EXPECT_EQ(Ids(k.Drain()).size(), 3u);
  k.Ack(ledger_, 0, false);

  Pulsarc__CommandGetLastMessageId g = PULSARC__COMMAND_GET_LAST_MESSAGE_ID__INIT;
  g.consumer_id = 1;
  g.request_id = 20;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(GET_LAST_MESSAGE_ID);
  cmd.get_last_message_id = &g;
  k.Write(cmd);
  Got r = k.Next();
  ASSERT_TRUE(r.cmd);
  ASSERT_EQ(r.cmd->type, BC(GET_LAST_MESSAGE_ID_RESPONSE));
  EXPECT_EQ(r.cmd->get_last_message_id_response->request_id, 20u);
  EXPECT_EQ(r.cmd->get_last_message_id_response->last_message_id->entry_id, 2u);
  ASSERT_NE(r.cmd->get_last_message_id_response->consumer_mark_delete_position, nullptr);
  EXPECT_EQ(r.cmd->get_last_message_id_response->consumer_mark_delete_position->entry_id, 0u);

  Pulsarc__CommandConsumerStats cs = PULSARC__COMMAND_CONSUMER_STATS__INIT;
  cs.consumer_id = 1;
  cs.request_id = 21;
  cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(CONSUMER_STATS);
  cmd.consumer_stats = &cs;
  k.Write(cmd);
  r = k.Next();
  ASSERT_TRUE(r.cmd);
  ASSERT_EQ(r.cmd->type, BC(CONSUMER_STATS_RESPONSE));
  EXPECT_EQ(r.cmd->consumer_stats_response->unacked_messages, 2u);
  EXPECT_EQ(r.cmd->consumer_stats_response->msg_backlog, 2u);

  Pulsarc__CommandUnsubscribe u = PULSARC__COMMAND_UNSUBSCRIBE__INIT;
  u.consumer_id = 1;
  u.request_id = 22;
  cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(UNSUBSCRIBE);
  cmd.unsubscribe = &u;
  k.Write(cmd);
  r = k.Next();
  ASSERT_TRUE(r.cmd);
  EXPECT_EQ(r.cmd->type, BC(SUCCESS));
  // Gone: the same name starts over from the requested position.
  Got s2 = k.Subscribe("s", SUB(Exclusive), true, 2, 23);
  ASSERT_TRUE(s2.cmd);
  ASSERT_EQ(s2.cmd->type, BC(SUCCESS));
  k.Flow(100, 2);
  EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(TbConsumer, EntriesPastRetentionAreSkipped) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 4; // "p0" fits, the batch does not, nor anything after
  Start(o);
  RawClient p(port_);
  Publish3(p);
  RawConsumer k(port_);
  ConnectAndSubscribe(k, "s", SUB(Exclusive), true);
  k.Flow(100);
  EXPECT_EQ(Ids(k.Drain()), (std::vector<int64_t>{0}));
}

// ------------------------------------------------------------------- HTTP

struct Http {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-cased names
  std::string body;
};

static Http Get(uint16_t port, const std::string &path) {
  Http h;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
    close(fd);
    return h;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
    resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t end = resp.find("\r\n\r\n");
  if (end == std::string::npos)
    return h;
  h.body = resp.substr(end + 4);
  h.status = std::atoi(resp.c_str() + 9);
  size_t pos = resp.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = resp.find("\r\n", pos), colon = resp.find(':', pos);
    std::string k = resp.substr(pos, colon - pos);
    for (char &ch : k)
      ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    h.headers[k] = resp.substr(colon + 2, eol - colon - 2);
    pos = eol + 2;
  }
  return h;
}

TEST_F(TbConsumer, HttpEntryEndpointServesTheStoredFacts) {
  StartDefault();
  tb_http *http = nullptr;
  uint16_t hport = 0;
  ASSERT_EQ(tb_http_start(tb_, "127.0.0.1", 0, &http, &hport), 0);
  RawClient p(port_);
  name_ = ConnectWithProducer(p, kTopic);
  ledger_ = LedgerOf(tb_, kTopic);
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = 7;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name_.c_str());
  md.sequence_id = 7;
  md.publish_time = kPublishTime; // 2023-11-14T22:13:20Z, no fraction
  md.partition_key = const_cast<char *>("k1");
  md.has_ordering_key = 1;
  md.ordering_key.data = reinterpret_cast<uint8_t *>(const_cast<char *>("ok1"));
  md.ordering_key.len = 3;
  md.has_event_time = 1;
  md.event_time = 1700000000120ull; // .12: trailing zero dropped, as Java prints it
  Pulsarc__KeyValue kv = PULSARC__KEY_VALUE__INIT;
  kv.key = const_cast<char *>("a");
  kv.value = const_cast<char *>("b\"c");
  Pulsarc__KeyValue *kvs[] = {&kv};
  md.n_properties = 1;
  md.properties = kvs;
  p.WriteSend(s, md, "body!");
  ExpectReceipt(p.Next(), 1, 7, ledger_, 0);
  p.WriteBatch(1, name_.c_str(), 8, 3);
  ExpectReceipt(p.Next(), 1, 8, ledger_, 1);

  std::string base = "/admin/v2/persistent/public/default/t";
  Http e0 = Get(hport, base + "/ledger/" + std::to_string(ledger_) + "/entry/0");
  EXPECT_EQ(e0.status, 200);
  EXPECT_EQ(e0.body, "body!");
  EXPECT_EQ(e0.headers["x-pulsar-message-id"], std::to_string(ledger_) + ":0");
  EXPECT_EQ(e0.headers["x-pulsar-sequence-id"], "7");
  EXPECT_EQ(e0.headers["x-pulsar-producer-name"], name_);
  EXPECT_EQ(e0.headers["x-pulsar-partition-key"], "k1");
  EXPECT_EQ(e0.headers["x-pulsar-base64-ordering-key"], "b2sx");
  EXPECT_EQ(e0.headers["x-pulsar-property"], "{\"a\":\"b\\\"c\"}");
  EXPECT_EQ(e0.headers["x-pulsar-publish-time"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(e0.headers["x-pulsar-event-time"], "2023-11-14T22:13:20.12Z");
  EXPECT_EQ(e0.headers.count("x-pulsar-num-batch-message"), 0u);
  EXPECT_EQ(e0.headers["x-pulsar-txn-uncommitted"], "false");

  Http e1 = Get(hport, base + "/ledger/" + std::to_string(ledger_) + "/entry/1");
  EXPECT_EQ(e1.status, 200);
  EXPECT_EQ(e1.headers["x-pulsar-num-batch-message"], "3");
  EXPECT_EQ(e1.headers["x-pulsar-batch-size"], std::to_string(10 + e1.body.size()));

  Http st = Get(hport, base + "/internalStats");
  EXPECT_EQ(st.status, 200);
  EXPECT_NE(st.body.find("\"numberOfEntries\":2"), std::string::npos) << st.body;

  EXPECT_EQ(Get(hport, base + "/ledger/" + std::to_string(ledger_) + "/entry/9").status, 404);
  EXPECT_EQ(Get(hport, "/admin/v2/persistent/public/default/nope/internalStats").status, 404);
  tb_http_stop(http);
}

} // namespace
