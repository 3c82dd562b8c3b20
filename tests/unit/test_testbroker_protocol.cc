// Test broker, driven over loopback by a raw client built from the codec:
// handshake, lookup, partitioned metadata and producer creation.
#include "test_testbroker_client.h"

namespace {
using namespace tbtest;

// ---------------------------------------------------------------- handshake

TEST_F(TestBroker, HandshakeNegotiatesVersionAndMaxMessageSize) {
  StartDefault();
  EXPECT_EQ(std::string(pulsarc_tb_service_url(tb_)),
            "pulsar://127.0.0.1:" + std::to_string(port_));
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  Cmd r = c.Connect(21);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__CONNECTED);
  EXPECT_STREQ(r->connected->server_version, "pulsarc-testbroker");
  EXPECT_EQ(r->connected->protocol_version, 19);
  EXPECT_EQ(r->connected->max_message_size, 5 * 1024 * 1024);

  RawClient old(port_);
  Cmd r2 = old.Connect(15);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->connected->protocol_version, 15);
}

TEST_F(TestBroker, CommandBeforeConnectClosesConnection) {
  StartDefault();
  RawClient c(port_);
  Pulsarc__CommandPing p = PULSARC__COMMAND_PING__INIT;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
  cmd.ping = &p;
  c.Write(cmd);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Stats().protocol_errors, 1u);
}

TEST_F(TestBroker, PingIsAnsweredWithPong) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd r = c.Ping();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__PONG);
}

TEST_F(TestBroker, MalformedFrameClosesOnlyThatConnection) {
  StartDefault();
  RawClient bad(port_);
  ASSERT_TRUE(bad.Connect());
  const uint8_t garbage[] = {0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff};
  bad.WriteRaw(garbage, sizeof(garbage));
  EXPECT_TRUE(bad.WaitClosed());

  RawClient huge(port_);
  ASSERT_TRUE(huge.Connect());
  const uint8_t oversize[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 4};
  huge.WriteRaw(oversize, sizeof(oversize));
  EXPECT_TRUE(huge.WaitClosed());

  RawClient good(port_);
  Cmd r = good.Connect();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__CONNECTED);
  EXPECT_EQ(Stats().protocol_errors, 2u);
}

// ------------------------------------------------------------------- lookup

TEST_F(TestBroker, LookupAnswersConnectToItself) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd r = c.Lookup(kTopic, 7);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__LOOKUP_RESPONSE);
  EXPECT_EQ(r->lookup_topic_response->request_id, 7u);
  EXPECT_EQ(r->lookup_topic_response->response,
            PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect);
  EXPECT_STREQ(r->lookup_topic_response->broker_service_url, pulsarc_tb_service_url(tb_));
  EXPECT_FALSE(r->lookup_topic_response->proxy_through_service_url);
}

TEST_F(TestBroker, LookupRedirectsToTargetWhichAnswersConnect) {
  StartDefault(); // the target
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.redirect_to = pulsarc_tb_service_url(tb_);
  pulsarc_tb *front = nullptr;
  ASSERT_EQ(pulsarc_tb_start(&o, &front), 0);

  RawClient c(pulsarc_tb_port(front));
  ASSERT_TRUE(c.Connect());
  Cmd r = c.Lookup(kTopic, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lookup_topic_response->response,
            PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Redirect);
  EXPECT_STREQ(r->lookup_topic_response->broker_service_url, pulsarc_tb_service_url(tb_));
  EXPECT_TRUE(r->lookup_topic_response->authoritative);

  RawClient t(port_);
  ASSERT_TRUE(t.Connect());
  Cmd r2 = t.Lookup(kTopic, 2, true);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->lookup_topic_response->response,
            PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect);
  EXPECT_STREQ(r2->lookup_topic_response->broker_service_url, pulsarc_tb_service_url(tb_));
  pulsarc_tb_free(front);
}

TEST_F(TestBroker, LookupProxyThroughAndInjectedFailure) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.proxy_through = true;
  Start(o);
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  pulsarc_tb_fail_lookups(tb_, 1, PULSARC_TB_SERVICE_NOT_READY);
  Cmd r = c.Lookup(kTopic, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lookup_topic_response->response,
            PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Failed);
  EXPECT_EQ(r->lookup_topic_response->error, PULSARC__SERVER_ERROR__ServiceNotReady);
  Cmd r2 = c.Lookup(kTopic, 2);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->lookup_topic_response->response,
            PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect);
  EXPECT_TRUE(r2->lookup_topic_response->proxy_through_service_url);
}

TEST_F(TestBroker, PartitionedMetadataFromTable) {
  pulsarc_tb_partitions parts[] = {{"p3", 3}, {"persistent://tenant/ns/p5", 5}};
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.partitions = parts;
  o.num_partitions = 2;
  Start(o);
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd r = c.PartitionedMetadata("persistent://public/default/p3", 4);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA_RESPONSE);
  EXPECT_EQ(r->partition_metadata_response->request_id, 4u);
  EXPECT_EQ(r->partition_metadata_response->response,
            PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__LOOKUP_TYPE__Success);
  EXPECT_EQ(r->partition_metadata_response->partitions, 3u);
  EXPECT_EQ(c.PartitionedMetadata("persistent://tenant/ns/p5", 5)
                ->partition_metadata_response->partitions,
            5u);
  EXPECT_EQ(c.PartitionedMetadata("unknown", 6)->partition_metadata_response->partitions, 0u);
  pulsarc_tb_set_partitions(tb_, "unknown", 2);
  EXPECT_EQ(c.PartitionedMetadata("unknown", 7)->partition_metadata_response->partitions, 2u);
}

TEST_F(TestBroker, PingsClientsWhenAsked) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.ping_interval_ms = 5;
  Start(o);
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd p = c.Next();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PING);
  Pulsarc__CommandPong pong = PULSARC__COMMAND_PONG__INIT;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PONG;
  cmd.pong = &pong;
  c.Write(cmd);
  // The PONG is processed before the next PING is answered with its own PONG.
  Cmd r;
  do
    r = c.Ping();
  while (r && r->type == PULSARC__BASE_COMMAND__TYPE__PING);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__PONG);
  EXPECT_GE(Stats().pongs, 1u);
}

// ----------------------------------------------------------------- producers

TEST_F(TestBroker, ProducerNameAssignedAndRetryReturnsSameSuccess) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd p = c.Producer(kTopic, 1, 10);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_EQ(p->producer_success->request_id, 10u);
  std::string name = p->producer_success->producer_name;
  EXPECT_EQ(name.rfind("tb-", 0), 0u) << name;
  EXPECT_EQ(p->producer_success->last_sequence_id, -1);
  EXPECT_TRUE(p->producer_success->producer_ready);

  Cmd again = c.Producer(kTopic, 1, 11);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_EQ(again->producer_success->request_id, 11u);
  EXPECT_EQ(name, again->producer_success->producer_name);

  Cmd other = c.Producer(kTopic, 2, 12);
  ASSERT_TRUE(other);
  EXPECT_NE(name, other->producer_success->producer_name);
  EXPECT_EQ(Stats().producers_created, 2u);
  EXPECT_EQ(Stats().producers_open, 2u);
}

TEST_F(TestBroker, UserNameRespectedAndBusyElsewhere) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  Cmd p = a.Producer(kTopic, 1, 1, "mine");
  ASSERT_TRUE(p);
  EXPECT_STREQ(p->producer_success->producer_name, "mine");
  Cmd busy = b.Producer(kTopic, 1, 1, "mine");
  ASSERT_TRUE(busy);
  ASSERT_EQ(busy->type, PULSARC__BASE_COMMAND__TYPE__ERROR);
  EXPECT_EQ(busy->error->error, PULSARC__SERVER_ERROR__ProducerBusy);
  EXPECT_EQ(busy->error->request_id, 1u);
  // Once the holder closes, the name is free again.
  Cmd ok = a.CloseProducer(1, 2);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->type, PULSARC__BASE_COMMAND__TYPE__SUCCESS);
  EXPECT_EQ(ok->success->request_id, 2u);
  Cmd p2 = b.Producer(kTopic, 1, 3, "mine");
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
}

TEST_F(TestBroker, ExclusiveProducerKeepsOthersOut) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  Cmd p = a.Producer(kTopic, 1, 1, nullptr, PULSARC__PRODUCER_ACCESS_MODE__Exclusive);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_TRUE(p->producer_success->has_topic_epoch);
  Cmd second = b.Producer(kTopic, 1, 1, nullptr, PULSARC__PRODUCER_ACCESS_MODE__Exclusive);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->type, PULSARC__BASE_COMMAND__TYPE__ERROR);
  EXPECT_EQ(second->error->error, PULSARC__SERVER_ERROR__ProducerBusy);
  Cmd shared = b.Producer(kTopic, 2, 2);
  ASSERT_TRUE(shared);
  ASSERT_EQ(shared->type, PULSARC__BASE_COMMAND__TYPE__ERROR);
  EXPECT_EQ(shared->error->error, PULSARC__SERVER_ERROR__ProducerBusy);
}

TEST_F(TestBroker, WaitForExclusiveIsGrantedWhenHolderLeaves) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  ASSERT_EQ(a.Producer(kTopic, 1, 1, nullptr, PULSARC__PRODUCER_ACCESS_MODE__Exclusive)->type,
            PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  Cmd w = b.Producer(kTopic, 5, 50, nullptr, PULSARC__PRODUCER_ACCESS_MODE__WaitForExclusive);
  ASSERT_TRUE(w);
  ASSERT_EQ(w->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_FALSE(w->producer_success->producer_ready);
  std::string name = w->producer_success->producer_name;
  // Not ready yet: a SEND now would be a protocol violation, so just close the holder.
  ASSERT_EQ(a.CloseProducer(1, 2)->type, PULSARC__BASE_COMMAND__TYPE__SUCCESS);
  Cmd g = b.Next();
  ASSERT_TRUE(g);
  ASSERT_EQ(g->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_EQ(g->producer_success->request_id, 50u);
  EXPECT_TRUE(g->producer_success->producer_ready);
  EXPECT_EQ(name, g->producer_success->producer_name);
  b.WriteMessage(5, name.c_str(), 0, "x");
  ExpectReceipt(b.Next(), 5, 0, LedgerOf(tb_, kTopic), 0);
}

TEST_F(TestBroker, ExclusiveWithFencingClosesAndFencesTheOldProducer) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  Cmd old = a.Producer(kTopic, 1, 1, "old");
  ASSERT_EQ(old->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  Cmd f = b.Producer(kTopic, 1, 1, "new", PULSARC__PRODUCER_ACCESS_MODE__ExclusiveWithFencing);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  Cmd close = a.Next();
  ASSERT_TRUE(close);
  ASSERT_EQ(close->type, PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER);
  EXPECT_EQ(close->close_producer->producer_id, 1u);
  Cmd again = a.Producer(kTopic, 1, 2, "old", -1, 1);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->type, PULSARC__BASE_COMMAND__TYPE__ERROR);
  EXPECT_EQ(again->error->error, PULSARC__SERVER_ERROR__ProducerFenced);
}

TEST_F(TestBroker, SchemaGetsAStableVersion) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  Cmd p1 = c.Producer(kTopic, 1, 1, nullptr, -1, 0, "schema-A");
  Cmd p2 = c.Producer(kTopic, 2, 2, nullptr, -1, 0, "schema-A");
  Cmd p3 = c.Producer(kTopic, 3, 3, nullptr, -1, 0, "schema-B");
  Cmd none = c.Producer(kTopic, 4, 4);
  ASSERT_TRUE(p1 && p2 && p3 && none);
  ASSERT_TRUE(p1->producer_success->has_schema_version);
  EXPECT_EQ(p1->producer_success->schema_version.len, 8u);
  auto ver = [](const Cmd &c) {
    return std::string(reinterpret_cast<char *>(c->producer_success->schema_version.data),
                       c->producer_success->schema_version.len);
  };
  EXPECT_EQ(ver(p1), ver(p2));
  EXPECT_NE(ver(p1), ver(p3));
  // Like the real broker: present but empty without a schema.
  ASSERT_TRUE(none->producer_success->has_schema_version);
  EXPECT_EQ(none->producer_success->schema_version.len, 0u);
}

} // namespace
