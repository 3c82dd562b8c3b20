// Broker connections against the scripted peer (test_conn_harness.h):
// request/response by request_id, timeouts, keep-open requests, producer
// routing, borrowed frames (write_ref) and withdraw, close from inside a
// callback, teardown order, and commands we do not expect.
#include "test_conn_harness.h"

using namespace conn_test;

namespace {

constexpr auto kWait = std::chrono::seconds(20);

// ------------------------------------------------------------------ helpers

struct Lookup {
  Pulsarc__CommandLookupTopic lt = PULSARC__COMMAND_LOOKUP_TOPIC__INIT;
  Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
  explicit Lookup(uint64_t id) {
    lt.topic = (char *)"persistent://public/default/t";
    lt.request_id = id;
    bc.type = PULSARC__BASE_COMMAND__TYPE__LOOKUP;
    bc.lookup_topic = &lt;
  }
};

// One request's outcomes, filled on the loop thread.
struct ReqRec {
  ConnTest *t = nullptr;
  std::string name;
  std::vector<pulsarc_err_t> errs;
  std::vector<std::string> urls; // LOOKUP_RESPONSE broker url
  std::vector<int> types;        // frame types seen
  int keep_while_not_ready = 0;  // PRODUCER_SUCCESS handling
  bool close_in_cb = false;
  std::function<void(pc_conn *)> in_cb;
};

struct ConnRequestTest : ConnTest {
  static bool ReqCb(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx) {
    ReqRec *r = static_cast<ReqRec *>(ctx);
    bool keep = false;
    {
      std::lock_guard<std::mutex> g(r->t->mu_);
      r->errs.push_back(err);
      if (f) {
        r->types.push_back(f->cmd->type);
        if (f->cmd->lookup_topic_response)
          r->urls.push_back(f->cmd->lookup_topic_response->broker_service_url
                                ? f->cmd->lookup_topic_response->broker_service_url
                                : "");
        if (f->cmd->producer_success && f->cmd->producer_success->has_producer_ready &&
            !f->cmd->producer_success->producer_ready)
          keep = r->keep_while_not_ready > 0;
      }
      r->t->Note("req:" + r->name + ":" + std::to_string(err));
      r->t->cv_.notify_all();
    }
    if (r->in_cb)
      r->in_cb(c);
    return keep;
  }
  int Request(ReqRec &r, uint64_t *id_out, uint64_t timeout_ms = 10000) {
    r.t = this;
    int rc = -2;
    OnLoop([&] {
      uint64_t id = pc_conn_next_request_id(c_);
      Lookup l(id);
      rc = pc_conn_request(c_, &l.bc, id, timeout_ms, ReqCb, &r);
      if (id_out)
        *id_out = id;
    });
    return rc;
  }
  size_t Count(const ReqRec &r) {
    std::lock_guard<std::mutex> g(mu_);
    return r.errs.size();
  }
};

struct Prod {
  ConnTest *t;
  std::vector<int> types;
  std::vector<pulsarc_err_t> closed;
  std::string name;
  static void OnFrame(pc_conn *, const pc_frame *f, void *ctx) {
    Prod *p = static_cast<Prod *>(ctx);
    std::lock_guard<std::mutex> g(p->t->mu_);
    p->types.push_back(f->cmd->type);
    p->t->cv_.notify_all();
  }
  static void OnClosed(pc_conn *, pulsarc_err_t err, void *ctx) {
    Prod *p = static_cast<Prod *>(ctx);
    std::lock_guard<std::mutex> g(p->t->mu_);
    p->closed.push_back(err);
    p->t->Note("prod:" + p->name);
  }
};

// A SEND frame with a recognisable payload, sealed by the codec.
std::vector<uint8_t> send_frame(uint64_t seq, size_t payload_len) {
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = seq;
  Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
  bc.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  bc.send = &s;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = (char *)"p";
  md.sequence_id = seq;
  md.publish_time = 1;
  const size_t head = 256;
  pc_buf b = {};
  EXPECT_EQ(pc_buf_reserve(&b, head + payload_len), 0);
  b.len = head;
  for (size_t i = 0; i < payload_len; i++)
    b.data[b.len++] = (uint8_t)(i * 31 + seq);
  size_t start = 0;
  EXPECT_EQ(pc_frame_seal_payload(&b, head, &bc, &md, &start), 0);
  std::vector<uint8_t> out(b.data + start, b.data + b.len);
  pc_buf_free(&b);
  return out;
}

bool payload_ok(const pc_frame &f, uint64_t seq, size_t len) {
  if (!f.has_payload || !f.checksum_ok || f.payload_len != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (f.payload[i] != (uint8_t)(i * 31 + seq))
      return false;
  return true;
}

struct Ref {
  pc_wref w{};
  std::vector<uint8_t> bytes;
  ConnTest *t;
  std::string name;
  std::vector<bool> done; // each done() call's `written`
  static void Done(pc_wref *w, bool written) {
    Ref *r = static_cast<Ref *>(w->ctx);
    std::lock_guard<std::mutex> g(r->t->mu_);
    r->done.push_back(written);
    r->t->Note("done:" + r->name + (written ? ":1" : ":0"));
    r->t->cv_.notify_all();
  }
  Ref(ConnTest *t_, std::string n, std::vector<uint8_t> b)
      : bytes(std::move(b)), t(t_), name(std::move(n)) {
    w.data = bytes.data();
    w.len = bytes.size();
    w.done = Done;
    w.ctx = this;
  }
};

// ----------------------------------------------------------------- requests

TEST_F(ConnRequestTest, ResponsesAreRoutedByRequestId) {
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    uint64_t ids[2];
    for (auto &id : ids) {
      ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
      id = f.cmd->lookup_topic->request_id;
    }
    p.SendLookupResponse(999999, "pulsar://nobody:1"); // unknown id: ignored
    p.SendLookupResponse(ids[1], "pulsar://b:6650");   // answered out of order
    p.SendLookupResponse(ids[0], "pulsar://a:6650");
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  ReqRec a, b;
  a.name = "a";
  b.name = "b";
  uint64_t ida = 0, idb = 0;
  ASSERT_EQ(Request(a, &ida), 0);
  ASSERT_EQ(Request(b, &idb), 0);
  EXPECT_NE(ida, idb);
  ASSERT_TRUE(WaitFor([&] { return a.errs.size() == 1 && b.errs.size() == 1; }));
  EXPECT_EQ(a.errs[0], PULSARC_OK);
  EXPECT_EQ(b.errs[0], PULSARC_OK);
  EXPECT_EQ(a.urls, std::vector<std::string>{"pulsar://a:6650"});
  EXPECT_EQ(b.urls, std::vector<std::string>{"pulsar://b:6650"});
  EXPECT_TRUE(LogHas("unknown request 999999"));
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
  EXPECT_EQ(Count(a), 1u); // finished requests are not failed again on close
}

TEST_F(ConnRequestTest, RequestTimesOutAndLateResponseIsIgnored) {
  std::promise<void> send_late;
  auto late = send_late.get_future();
  std::atomic<bool> late_processed{false};
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    uint64_t id = f.cmd->lookup_topic->request_id;
    ASSERT_EQ(late.wait_for(kWait), std::future_status::ready);
    p.SendLookupResponse(id, "pulsar://late:1");
    p.SendSimple(PULSARC__BASE_COMMAND__TYPE__PING); // PONG proves the late one was read
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__PONG, &f));
    late_processed = true;
    Notify();
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  ReqRec r;
  r.name = "r";
  ASSERT_EQ(Request(r, nullptr, 30), 0);
  ASSERT_TRUE(WaitFor([&] { return r.errs.size() == 1; }));
  EXPECT_EQ(r.errs[0], PULSARC_ERR_TIMEOUT);
  EXPECT_TRUE(r.types.empty()); // no frame with a timeout
  send_late.set_value();
  ASSERT_TRUE(WaitFor([&] { return late_processed.load(); }));
  OnLoop([] {});
  EXPECT_EQ(Count(r), 1u);
  EXPECT_FALSE(closed_);
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
}

// PRODUCER_SUCCESS(producer_ready=false): the callback keeps the request,
// whose timeout is then off; the second PRODUCER_SUCCESS finishes it.
TEST_F(ConnRequestTest, KeptRequestWaitsWithoutTimeoutForTheNextResponse) {
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    uint64_t id = f.cmd->lookup_topic->request_id;
    for (int ready = 0; ready < 2; ready++) {
      Pulsarc__CommandProducerSuccess ps = PULSARC__COMMAND_PRODUCER_SUCCESS__INIT;
      ps.request_id = id;
      ps.producer_name = (char *)"prod";
      ps.has_producer_ready = 1;
      ps.producer_ready = ready;
      Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
      bc.type = PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS;
      bc.producer_success = &ps;
      p.Send(bc);
      // Longer than the request timeout: the kept request must not expire.
      if (!ready)
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  ReqRec r;
  r.name = "p";
  r.keep_while_not_ready = 1;
  ASSERT_EQ(Request(r, nullptr, 40), 0);
  ASSERT_TRUE(WaitFor([&] { return r.errs.size() == 2; }));
  EXPECT_EQ(r.errs, (std::vector<pulsarc_err_t>{PULSARC_OK, PULSARC_OK}));
  EXPECT_EQ(r.types, (std::vector<int>{PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS,
                                       PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS}));
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
  EXPECT_EQ(Count(r), 2u);
}

TEST_F(ConnRequestTest, ErrorIsDeliveredAsAFrame) {
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    Pulsarc__CommandError e = PULSARC__COMMAND_ERROR__INIT;
    e.request_id = f.cmd->lookup_topic->request_id;
    e.error = PULSARC__SERVER_ERROR__TopicNotFound;
    e.message = (char *)"nope";
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__ERROR;
    bc.error = &e;
    p.Send(bc);
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  ReqRec r;
  r.name = "e";
  ASSERT_EQ(Request(r, nullptr), 0);
  ASSERT_TRUE(WaitFor([&] { return r.errs.size() == 1; }));
  EXPECT_EQ(r.errs[0], PULSARC_OK);
  EXPECT_EQ(r.types, std::vector<int>{PULSARC__BASE_COMMAND__TYPE__ERROR});
  EXPECT_FALSE(closed_);
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
}

// Close from inside a request callback: nothing is torn down until the
// callback returns; the conn refuses new work meanwhile; then the other
// request fails, producers are told, and the owner hears last.
TEST_F(ConnRequestTest, CloseInsideCallbackIsDeferredAndOrdered) {
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    uint64_t id = f.cmd->lookup_topic->request_id;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    p.SendLookupResponse(id, "pulsar://x:1");
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  Prod prod{this, {}, {}, "p1"};
  pc_conn_producer h{Prod::OnFrame, Prod::OnClosed, &prod};
  OnLoop([&] {
    uint64_t id = UINT64_MAX;
    ASSERT_EQ(pc_conn_attach_producer(c_, &id, &h), 0);
  });
  ReqRec first, second;
  first.name = "first";
  second.name = "second";
  bool refused_all = false, closed_during_cb = true;
  first.in_cb = [&](pc_conn *c) {
    pc_conn_close(c, PULSARC_ERR_PROTOCOL);
    pc_conn_close(c, PULSARC_ERR_TIMEOUT); // idempotent: first err wins
    Lookup l(pc_conn_next_request_id(c));
    Ref w(this, "late", {1, 2, 3});
    uint64_t pid = UINT64_MAX;
    refused_all = pc_conn_request(c, &l.bc, l.lt.request_id, 1000, ReqCb, &second) == -1 &&
                  pc_conn_send_command(c, &l.bc) == -1 && pc_conn_write_ref(c, &w.w) == -1 &&
                  pc_conn_attach_producer(c, &pid, &h) == -1 && !pc_conn_is_ready(c) &&
                  w.done.empty();
    std::lock_guard<std::mutex> g(mu_);
    closed_during_cb = closed_;
  };
  ASSERT_EQ(Request(first, nullptr), 0);
  ASSERT_EQ(Request(second, nullptr), 0);
  ASSERT_TRUE(WaitClosed());
  EXPECT_TRUE(refused_all);
  EXPECT_FALSE(closed_during_cb);
  EXPECT_EQ(close_err_, PULSARC_ERR_PROTOCOL);
  EXPECT_EQ(second.errs, std::vector<pulsarc_err_t>{PULSARC_ERR_PROTOCOL});
  EXPECT_EQ(prod.closed, std::vector<pulsarc_err_t>{PULSARC_ERR_PROTOCOL});
  std::vector<std::string> tail(order_.end() - 4, order_.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"req:first:0",
                                            "req:second:" + std::to_string(PULSARC_ERR_PROTOCOL),
                                            "prod:p1", "conn-closed"}));
  c_ = nullptr;
}

TEST_F(ConnRequestTest, PeerDisconnectFailsRequestsThenProducersThenOwner) {
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__LOOKUP, &f));
    p.CloseSocket();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  Prod prod{this, {}, {}, "p"};
  pc_conn_producer h{Prod::OnFrame, Prod::OnClosed, &prod};
  OnLoop([&] {
    uint64_t id = 5;
    ASSERT_EQ(pc_conn_attach_producer(c_, &id, &h), 0);
  });
  ReqRec r;
  r.name = "r";
  ASSERT_EQ(Request(r, nullptr), 0);
  ASSERT_TRUE(WaitClosed());
  EXPECT_EQ(close_err_, PULSARC_ERR_DISCONNECTED);
  EXPECT_EQ(r.errs, std::vector<pulsarc_err_t>{PULSARC_ERR_DISCONNECTED});
  EXPECT_EQ(prod.closed, std::vector<pulsarc_err_t>{PULSARC_ERR_DISCONNECTED});
  std::vector<std::string> tail(order_.end() - 3, order_.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"req:r:" + std::to_string(PULSARC_ERR_DISCONNECTED),
                                            "prod:p", "conn-closed"}));
  c_ = nullptr;
}

// ---------------------------------------------------------------- producers

TEST_F(ConnRequestTest, ProducerCommandsAreRoutedByProducerId) {
  std::promise<uint64_t> auto_id_p;
  auto auto_id_f = auto_id_p.get_future();
  std::atomic<bool> done{false};
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    ASSERT_EQ(auto_id_f.wait_for(kWait), std::future_status::ready);
    uint64_t auto_id = auto_id_f.get();
    Pulsarc__CommandSendReceipt rc = PULSARC__COMMAND_SEND_RECEIPT__INIT;
    Pulsarc__CommandSendError se = PULSARC__COMMAND_SEND_ERROR__INIT;
    Pulsarc__CommandCloseProducer cp = PULSARC__COMMAND_CLOSE_PRODUCER__INIT;
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT;
    bc.send_receipt = &rc;
    rc.producer_id = auto_id;
    p.Send(bc);
    rc.producer_id = 777; // nobody: ignored
    p.Send(bc);
    bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__SEND_ERROR;
    bc.send_error = &se;
    se.producer_id = 42;
    se.message = (char *)"checksum";
    p.Send(bc);
    bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER;
    bc.close_producer = &cp;
    cp.producer_id = 42;
    p.Send(bc);
    p.SendSimple(PULSARC__BASE_COMMAND__TYPE__PING);
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__PONG, &f));
    done = true;
    Notify();
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  Prod pa{this, {}, {}, "auto"}, pb{this, {}, {}, "fixed"};
  pc_conn_producer ha{Prod::OnFrame, Prod::OnClosed, &pa}, hb{Prod::OnFrame, Prod::OnClosed, &pb};
  uint64_t ida = UINT64_MAX, idb = 42, dup = 42;
  OnLoop([&] {
    ASSERT_EQ(pc_conn_attach_producer(c_, &ida, &ha), 0);
    ASSERT_EQ(pc_conn_attach_producer(c_, &idb, &hb), 0);
    EXPECT_EQ(pc_conn_attach_producer(c_, &dup, &ha), -1); // id in use
  });
  EXPECT_NE(ida, UINT64_MAX);
  EXPECT_NE(ida, 42u);
  EXPECT_EQ(idb, 42u);
  auto_id_p.set_value(ida);
  ASSERT_TRUE(WaitFor([&] { return done.load(); }));
  OnLoop([&] {
    EXPECT_EQ(pa.types, std::vector<int>{PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT});
    EXPECT_EQ(pb.types, (std::vector<int>{PULSARC__BASE_COMMAND__TYPE__SEND_ERROR,
                                          PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER}));
    pc_conn_detach_producer(c_, ida); // detached: not told about the close
  });
  EXPECT_TRUE(LogHas("unknown producer 777"));
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
  EXPECT_TRUE(pa.closed.empty());
  EXPECT_EQ(pb.closed, std::vector<pulsarc_err_t>{PULSARC_ERR_DISCONNECTED});
}

// ------------------------------------------------------------------- writes

TEST_F(ConnRequestTest, BorrowedFramesArriveIntactAndInQueueOrder) {
  const size_t sizes[3] = {100, 4u << 20, 1000};
  std::atomic<int> good{0};
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    ASSERT_TRUE(p.Read(&f));
    ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__SEND);
    EXPECT_TRUE(payload_ok(f, 1, sizes[0]));
    ASSERT_TRUE(p.Read(&f));
    EXPECT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__LOOKUP); // an owned command in between
    for (uint64_t seq = 2; seq <= 3; seq++) {
      ASSERT_TRUE(p.Read(&f));
      ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__SEND);
      EXPECT_EQ(f.cmd->send->sequence_id, seq);
      EXPECT_TRUE(payload_ok(f, seq, sizes[seq - 1]));
    }
    good = 3;
    Notify();
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  Ref a(this, "a", send_frame(1, sizes[0])), b(this, "b", send_frame(2, sizes[1])),
      c(this, "c", send_frame(3, sizes[2]));
  size_t total = a.w.len + b.w.len + c.w.len;
  OnLoop([&] {
    ASSERT_EQ(pc_conn_write_ref(c_, &a.w), 0);
    Lookup l(pc_conn_next_request_id(c_));
    ASSERT_EQ(pc_conn_send_command(c_, &l.bc), 0);
    ASSERT_EQ(pc_conn_write_ref(c_, &b.w), 0);
    ASSERT_EQ(pc_conn_write_ref(c_, &c.w), 0);
    EXPECT_GE(pc_conn_unwritten_bytes(c_), total);
  });
  ASSERT_TRUE(WaitFor([&] { return c.done.size() == 1; }));
  EXPECT_EQ(a.done, std::vector<bool>{true});
  EXPECT_EQ(b.done, std::vector<bool>{true});
  EXPECT_EQ(c.done, std::vector<bool>{true});
  std::vector<std::string> dones;
  for (auto &s : order_)
    if (s.rfind("done:", 0) == 0)
      dones.push_back(s);
  EXPECT_EQ(dones, (std::vector<std::string>{"done:a:1", "done:b:1", "done:c:1"}));
  OnLoop([&] {
    EXPECT_EQ(pc_conn_unwritten_bytes(c_), 0u);
    EXPECT_FALSE(pc_conn_withdraw(c_, &a.w)); // already written
    pc_conn_stats st;
    pc_conn_get_stats(c_, &st);
    EXPECT_GE(st.bytes_out, total);
    EXPECT_GE(st.frames_out, 5u); // CONNECT, a, LOOKUP, b, c
    EXPECT_GE(st.writev_calls, 1u);
    EXPECT_GE(st.frames_in, 1u);
  });
  ASSERT_TRUE(WaitFor([&] { return good.load() == 3; }));
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
}

// Frames lent as segments (producers splice large payloads in without
// copying): uneven pieces, empty pieces, and frames large enough that the
// kernel takes them in several writes, so `written` lands inside a segment.
TEST_F(ConnRequestTest, SegmentedFramesArriveIntact) {
  const size_t sizes[] = {3u << 20, 70000, 5};
  std::atomic<int> good{0};
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    pc_frame f;
    for (uint64_t seq = 1; seq <= 3; seq++) {
      ASSERT_TRUE(p.Read(&f));
      ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__SEND);
      EXPECT_EQ(f.cmd->send->sequence_id, seq);
      EXPECT_TRUE(payload_ok(f, seq, sizes[seq - 1]));
      good++;
    }
    Notify();
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  std::vector<std::unique_ptr<Ref>> refs;
  std::vector<std::vector<struct iovec>> segs(3);
  for (uint64_t seq = 1; seq <= 3; seq++) {
    refs.push_back(
        std::make_unique<Ref>(this, "r" + std::to_string(seq), send_frame(seq, sizes[seq - 1])));
    Ref &r = *refs.back();
    size_t at = 0, step = 1;
    while (at < r.bytes.size()) {
      size_t n = std::min(step, r.bytes.size() - at);
      segs[seq - 1].push_back({r.bytes.data() + at, n});
      segs[seq - 1].push_back({r.bytes.data() + at + n, 0});
      at += n;
      step = step * 7 % 65521 + 1;
    }
    r.w.data = nullptr;
    r.w.iov = segs[seq - 1].data();
    r.w.iovcnt = static_cast<int>(segs[seq - 1].size());
  }
  OnLoop([&] {
    for (auto &r : refs)
      ASSERT_EQ(pc_conn_write_ref(c_, &r->w), 0);
  });
  ASSERT_TRUE(WaitFor([&] { return good.load() == 3; }));
  for (auto &r : refs)
    EXPECT_EQ(r->done, std::vector<bool>{true});
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
}

TEST_F(ConnRequestTest, WithdrawBeforeTheFirstByteCallsDoneFalse) {
  std::promise<void> go;
  auto gof = go.get_future();
  std::vector<uint64_t> seqs;
  Peer peer;
  peer.Run([&](Peer &p) {
    pc_frame f;
    ASSERT_TRUE(p.Read(&f)); // CONNECT; hold CONNECTED back until told
    ASSERT_EQ(gof.wait_for(kWait), std::future_status::ready);
    p.SendConnected();
    while (p.Read(&f))
      if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__SEND)
        seqs.push_back(f.cmd->send->sequence_id);
  });
  Open("127.0.0.1", peer.port());
  Ref a(this, "a", send_frame(1, 10)), b(this, "b", send_frame(2, 10)),
      c(this, "c", send_frame(3, 10));
  bool w1 = false, w2 = true;
  OnLoop([&] { // nothing but CONNECT leaves before CONNECTED
    ASSERT_EQ(pc_conn_write_ref(c_, &a.w), 0);
    ASSERT_EQ(pc_conn_write_ref(c_, &b.w), 0);
    ASSERT_EQ(pc_conn_write_ref(c_, &c.w), 0);
    w1 = pc_conn_withdraw(c_, &b.w);
    w2 = pc_conn_withdraw(c_, &b.w); // no longer queued
    EXPECT_EQ(pc_conn_unwritten_bytes(c_), a.w.len + c.w.len);
  });
  EXPECT_TRUE(w1);
  EXPECT_FALSE(w2);
  EXPECT_EQ(b.done, std::vector<bool>{false});
  go.set_value();
  ASSERT_TRUE(WaitReady());
  ASSERT_TRUE(WaitFor([&] { return c.done.size() == 1; }));
  EXPECT_EQ(a.done, std::vector<bool>{true});
  EXPECT_EQ(c.done, std::vector<bool>{true});
  EXPECT_EQ(b.done, std::vector<bool>{false});
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
  peer.Join();
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 3}));
}

TEST_F(ConnRequestTest, QueuedFramesFailWhenTheConnCloses) {
  Peer peer;
  peer.Run([&](Peer &p) { p.WaitEof(); }); // never answers CONNECT
  Open("127.0.0.1", peer.port());
  Ref a(this, "a", send_frame(1, 10));
  OnLoop([&] { ASSERT_EQ(pc_conn_write_ref(c_, &a.w), 0); });
  OnLoop([&] { pc_conn_close(c_, PULSARC_ERR_TIMEOUT); });
  ASSERT_TRUE(WaitClosed());
  EXPECT_EQ(a.done, std::vector<bool>{false});
  EXPECT_EQ(close_err_, PULSARC_ERR_TIMEOUT);
}

// ------------------------------------------------------------ other commands

TEST_F(ConnRequestTest, AuthChallengeIsAnsweredAndUnknownCommandsIgnored) {
  std::atomic<bool> ok{false};
  Peer peer;
  peer.Run([&](Peer &p) {
    ASSERT_TRUE(p.Handshake());
    Pulsarc__CommandReachedEndOfTopic eot = PULSARC__COMMAND_REACHED_END_OF_TOPIC__INIT;
    Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__REACHED_END_OF_TOPIC; // a consumer command
    bc.reached_end_of_topic = &eot;
    p.Send(bc);
    Pulsarc__AuthData ad = PULSARC__AUTH_DATA__INIT;
    ad.auth_method_name = (char *)"none";
    Pulsarc__CommandAuthChallenge ch = PULSARC__COMMAND_AUTH_CHALLENGE__INIT;
    ch.challenge = &ad;
    bc = PULSARC__BASE_COMMAND__INIT;
    bc.type = PULSARC__BASE_COMMAND__TYPE__AUTH_CHALLENGE;
    bc.auth_challenge = &ch;
    p.Send(bc);
    pc_frame f;
    ASSERT_TRUE(p.Expect(PULSARC__BASE_COMMAND__TYPE__AUTH_RESPONSE, &f));
    ASSERT_NE(f.cmd->auth_response, nullptr);
    ASSERT_NE(f.cmd->auth_response->response, nullptr);
    EXPECT_STREQ(f.cmd->auth_response->response->auth_method_name, "none");
    EXPECT_STREQ(f.cmd->auth_response->client_version, PC_CLIENT_VERSION);
    EXPECT_EQ(f.cmd->auth_response->protocol_version, PC_PROTOCOL_VERSION);
    ok = true;
    Notify();
    p.WaitEof();
  });
  Open("127.0.0.1", peer.port());
  ASSERT_TRUE(WaitReady());
  ASSERT_TRUE(WaitFor([&] { return ok.load() || closed_; }));
  EXPECT_FALSE(closed_);
  EXPECT_TRUE(LogHas("REACHED_END_OF_TOPIC"));
  OnLoop([&] { pc_conn_close(c_, PULSARC_OK); });
  ASSERT_TRUE(WaitClosed());
}

} // namespace
