// Test broker, driven over loopback by a raw client built from the codec:
// SEND and receipts, batches, deduplication, checksums, retention, faults
// and robustness against malformed input.
#include "test_testbroker_client.h"

namespace {
using namespace tbtest;

// ---------------------------------------------------------------------- send

TEST_F(TestBroker, SingleSendIsStoredAndReceipted) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  EXPECT_GE(ledger, 0);

  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = 0;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name.c_str());
  md.sequence_id = 0;
  md.publish_time = kPublishTime;
  md.partition_key = const_cast<char *>("key-1");
  md.has_event_time = 1;
  md.event_time = 42;
  Pulsarc__KeyValue kv = PULSARC__KEY_VALUE__INIT;
  kv.key = const_cast<char *>("a");
  kv.value = const_cast<char *>("b");
  Pulsarc__KeyValue *kvs[] = {&kv};
  md.n_properties = 1;
  md.properties = kvs;
  c.WriteSend(s, md, "hello");
  ExpectReceipt(c.Next(), 1, 0, ledger, 0);
  c.WriteMessage(1, name.c_str(), 1, "world");
  ExpectReceipt(c.Next(), 1, 1, ledger, 1);

  EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, "t", 2, 10000));
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 2u);
  EXPECT_EQ(st.messages, 2u);
  EXPECT_EQ(st.duplicates, 0u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, "t");
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->exists);
  EXPECT_STREQ(snap->topic, kTopic);
  ASSERT_EQ(snap->num_entries, 2u);
  const pulsarc_tb_entry &e = snap->entries[0];
  EXPECT_EQ(e.ledger_id, ledger);
  EXPECT_EQ(e.entry_id, 0);
  EXPECT_EQ(name, e.producer_name);
  EXPECT_EQ(e.sequence_id, 0u);
  EXPECT_FALSE(e.is_batch);
  EXPECT_EQ(e.num_messages, 1);
  EXPECT_EQ(e.publish_time, kPublishTime);
  EXPECT_STREQ(e.partition_key, "key-1");
  EXPECT_EQ(e.event_time, 42u);
  ASSERT_EQ(e.num_properties, 1u);
  EXPECT_STREQ(e.properties[0].key, "a");
  EXPECT_STREQ(e.properties[0].value, "b");
  ASSERT_EQ(e.num_listed, 1u);
  ASSERT_TRUE(e.messages[0].retained);
  EXPECT_EQ(
      std::string(reinterpret_cast<const char *>(e.messages[0].payload), e.messages[0].payload_len),
      "hello");
  EXPECT_EQ(e.messages[0].payload_crc32c, pc_crc32c(0, "hello", 5));
  EXPECT_EQ(snap->entries[1].entry_id, 1);
  EXPECT_EQ(snap->entries[1].partition_key, nullptr);
  pulsarc_tb_snapshot_free(snap);

  size_t n = 0;
  char **topics = pulsarc_tb_topics(tb_, &n);
  ASSERT_EQ(n, 1u);
  EXPECT_STREQ(topics[0], kTopic);
  pulsarc_tb_strings_free(topics, n);
}

TEST_F(TestBroker, BatchOfFiveCountsFiveMessages) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  // Four plain entries and one carrying a key and properties.
  pc_buf body{};
  for (uint64_t i = 0; i < 4; i++) {
    std::string p = "m" + std::to_string(i);
    ASSERT_EQ(pc_batch_append_plain(&body, i, p.data(), p.size()), 0);
  }
  Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
  smd.payload_size = 2;
  smd.partition_key = const_cast<char *>("k4");
  smd.has_sequence_id = 1;
  smd.sequence_id = 4;
  Pulsarc__KeyValue kv = PULSARC__KEY_VALUE__INIT;
  kv.key = const_cast<char *>("x");
  kv.value = const_cast<char *>("y");
  Pulsarc__KeyValue *kvs[] = {&kv};
  smd.n_properties = 1;
  smd.properties = kvs;
  ASSERT_EQ(pc_batch_append(&body, &smd, "m4", 2), 0);
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = 0;
  s.has_num_messages = 1;
  s.num_messages = 5;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name.c_str());
  md.sequence_id = 0;
  md.publish_time = kPublishTime;
  md.has_num_messages_in_batch = 1;
  md.num_messages_in_batch = 5;
  c.WriteSend(s, md, std::string(reinterpret_cast<char *>(body.data), body.len));
  pc_buf_free(&body);
  ExpectReceipt(c.Next(), 1, 0, LedgerOf(tb_, kTopic), 0);

  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.messages, 5u);
  EXPECT_EQ(st.malformed_batches, 0u);
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 1u);
  const pulsarc_tb_entry &e = snap->entries[0];
  EXPECT_TRUE(e.is_batch);
  EXPECT_EQ(e.num_messages, 5);
  EXPECT_FALSE(e.batch_malformed);
  ASSERT_EQ(e.num_listed, 5u);
  for (size_t i = 0; i < 5; i++) {
    const pulsarc_tb_message &m = e.messages[i];
    EXPECT_TRUE(m.has_metadata);
    EXPECT_TRUE(m.has_sequence_id);
    EXPECT_EQ(m.sequence_id, i);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(m.payload), m.payload_len),
              "m" + std::to_string(i));
  }
  EXPECT_EQ(e.messages[0].partition_key, nullptr);
  EXPECT_STREQ(e.messages[4].partition_key, "k4");
  ASSERT_EQ(e.messages[4].num_properties, 1u);
  EXPECT_STREQ(e.messages[4].properties[0].key, "x");
  pulsarc_tb_snapshot_free(snap);
}

TEST_F(TestBroker, ReceiptsComeInSendOrder) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  for (uint64_t i = 0; i < 20; i++)
    c.WriteMessage(1, name.c_str(), i, "p");
  int64_t ledger = LedgerOf(tb_, kTopic);
  for (uint64_t i = 0; i < 20; i++)
    ExpectReceipt(c.Next(), 1, i, ledger, static_cast<int64_t>(i));
}

// -------------------------------------------------------------------- dedup

TEST_F(TestBroker, ResentSequenceIdsAreDuplicates) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  for (uint64_t i = 0; i < 3; i++) {
    c.WriteMessage(1, name.c_str(), i, "v" + std::to_string(i));
    ExpectReceipt(c.Next(), 1, i, ledger, static_cast<int64_t>(i));
  }
  // Resend all three as after a reconnect: acknowledged -1:-1, not stored.
  for (uint64_t i = 0; i < 3; i++) {
    c.WriteMessage(1, name.c_str(), i, "v" + std::to_string(i));
    ExpectReceipt(c.Next(), 1, i, -1, -1);
  }
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 3u);
  EXPECT_EQ(st.messages, 3u);
  EXPECT_EQ(st.duplicates, 3u);

  // A jump ahead, then a lower id: the lower one is a duplicate.
  c.WriteMessage(1, name.c_str(), 10, "ten");
  ExpectReceipt(c.Next(), 1, 10, ledger, 3);
  c.WriteMessage(1, name.c_str(), 5, "five");
  ExpectReceipt(c.Next(), 1, 5, -1, -1);
  EXPECT_EQ(Stats().messages, 4u);
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, kTopic, name.c_str()), 10);

  // The same name re-created reports the highest stored id.
  ASSERT_EQ(c.CloseProducer(1, 2)->type, PULSARC__BASE_COMMAND__TYPE__SUCCESS);
  Cmd p = c.Producer(kTopic, 1, 3, name.c_str());
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_EQ(p->producer_success->last_sequence_id, 10);
}

TEST_F(TestBroker, BatchHighestSequenceIdAdvancesDedup) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  c.WriteBatch(1, name.c_str(), 10, 5, true); // ids 10..14, highest 14
  ExpectReceipt(c.Next(), 1, 10, ledger, 0);
  c.WriteMessage(1, name.c_str(), 12, "inside the batch");
  ExpectReceipt(c.Next(), 1, 12, -1, -1);
  c.WriteMessage(1, name.c_str(), 15, "next");
  ExpectReceipt(c.Next(), 1, 15, ledger, 1);
  EXPECT_EQ(Stats().messages, 6u);
}

TEST_F(TestBroker, DedupOffStoresEverything) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.dedup = false;
  Start(o);
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  c.WriteMessage(1, name.c_str(), 3, "a");
  ExpectReceipt(c.Next(), 1, 3, ledger, 0);
  c.WriteMessage(1, name.c_str(), 3, "a");
  ExpectReceipt(c.Next(), 1, 3, ledger, 1);
  EXPECT_EQ(Stats().duplicates, 0u);
  EXPECT_EQ(Stats().messages, 2u);
}

TEST_F(TestBroker, OnlyTheLastChunkIsCheckedForDuplicates) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  std::string uuid = name + "-7";
  auto send_chunk = [&](int id) {
    Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
    s.producer_id = 1;
    s.sequence_id = 7;
    s.has_is_chunk = 1;
    s.is_chunk = 1;
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    md.producer_name = const_cast<char *>(name.c_str());
    md.sequence_id = 7;
    md.publish_time = kPublishTime;
    md.uuid = const_cast<char *>(uuid.c_str());
    md.has_chunk_id = 1;
    md.chunk_id = id;
    md.has_num_chunks_from_msg = 1;
    md.num_chunks_from_msg = 3;
    md.has_total_chunk_msg_size = 1;
    md.total_chunk_msg_size = 9;
    c.WriteSend(s, md, "ch" + std::to_string(id));
  };
  for (int i = 0; i < 3; i++) {
    send_chunk(i);
    ExpectReceipt(c.Next(), 1, 7, ledger, i);
  }
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 3u);
  EXPECT_EQ(st.chunks, 3u);
  EXPECT_EQ(st.messages, 1u);
  // Resent: the first chunks are stored again, the last one is a duplicate.
  send_chunk(0);
  ExpectReceipt(c.Next(), 1, 7, ledger, 3);
  send_chunk(1);
  ExpectReceipt(c.Next(), 1, 7, ledger, 4);
  send_chunk(2);
  ExpectReceipt(c.Next(), 1, 7, -1, -1);
  EXPECT_EQ(Stats().messages, 1u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 5u);
  EXPECT_TRUE(snap->entries[2].is_chunk);
  EXPECT_EQ(snap->entries[2].chunk_id, 2);
  EXPECT_EQ(snap->entries[2].num_chunks, 3);
  EXPECT_EQ(snap->entries[2].total_chunk_msg_size, 9);
  EXPECT_EQ(uuid, snap->entries[2].chunk_uuid);
  pulsarc_tb_snapshot_free(snap);
}

// ---------------------------------------------------------- checksum, misuse

TEST_F(TestBroker, BadChecksumIsRefusedAndNothingStored) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  c.WriteMessage(1, name.c_str(), 4, "payload", true);
  Cmd r = c.Next();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__SEND_ERROR);
  EXPECT_EQ(r->send_error->producer_id, 1u);
  EXPECT_EQ(r->send_error->sequence_id, 4u);
  EXPECT_EQ(r->send_error->error, PULSARC__SERVER_ERROR__ChecksumError);
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 0u);
  EXPECT_EQ(st.checksum_errors, 1u);
  EXPECT_EQ(pulsarc_tb_last_sequence_id(tb_, kTopic, name.c_str()), -1);
  // The connection stays usable and the id was not consumed.
  c.WriteMessage(1, name.c_str(), 4, "payload");
  ExpectReceipt(c.Next(), 1, 4, LedgerOf(tb_, kTopic), 0);
}

TEST_F(TestBroker, SendBeforeProducerClosesConnection) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  c.WriteMessage(9, "nobody", 0, "x");
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Stats().entries, 0u);
  EXPECT_EQ(Stats().protocol_errors, 1u);
}

TEST_F(TestBroker, SendForWaitingProducerClosesConnection) {
  StartDefault();
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.Connect());
  ASSERT_TRUE(b.Connect());
  ASSERT_TRUE(a.Producer(kTopic, 1, 1, nullptr, PULSARC__PRODUCER_ACCESS_MODE__Exclusive));
  Cmd w = b.Producer(kTopic, 1, 1, nullptr, PULSARC__PRODUCER_ACCESS_MODE__WaitForExclusive);
  ASSERT_TRUE(w);
  ASSERT_FALSE(w->producer_success->producer_ready);
  b.WriteMessage(1, w->producer_success->producer_name, 0, "x");
  EXPECT_TRUE(b.WaitClosed());
}

// ----------------------------------------------------------------- retention

TEST_F(TestBroker, OverRetentionKeepsChecksumsOnly) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 100;
  Start(o);
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  std::string first(60, 'a'), second(60, 'b');
  c.WriteMessage(1, name.c_str(), 0, first);
  ASSERT_TRUE(c.Next());
  c.WriteMessage(1, name.c_str(), 1, second);
  ASSERT_TRUE(c.Next());
  c.WriteBatch(1, name.c_str(), 2, 3);
  ASSERT_TRUE(c.Next());
  EXPECT_EQ(Stats().messages, 5u);
  EXPECT_EQ(Stats().bytes_retained, 60u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 3u);
  EXPECT_TRUE(snap->entries[0].payload_retained);
  ASSERT_EQ(snap->entries[0].num_listed, 1u);
  EXPECT_TRUE(snap->entries[0].messages[0].retained);

  const pulsarc_tb_entry &e1 = snap->entries[1];
  EXPECT_FALSE(e1.payload_retained);
  EXPECT_EQ(e1.payload, nullptr);
  EXPECT_EQ(e1.payload_len, 60u);
  EXPECT_EQ(e1.payload_crc32c, pc_crc32c(0, second.data(), second.size()));
  ASSERT_EQ(e1.num_listed, 1u);
  EXPECT_FALSE(e1.messages[0].retained);
  EXPECT_EQ(e1.messages[0].payload_len, 60u);
  EXPECT_EQ(e1.messages[0].payload_crc32c, pc_crc32c(0, second.data(), second.size()));

  const pulsarc_tb_entry &e2 = snap->entries[2];
  EXPECT_FALSE(e2.payload_retained);
  ASSERT_EQ(e2.num_listed, 3u);
  for (size_t i = 0; i < 3; i++) {
    std::string p = "m" + std::to_string(2 + i);
    EXPECT_FALSE(e2.messages[i].retained);
    EXPECT_EQ(e2.messages[i].payload_len, p.size());
    EXPECT_EQ(e2.messages[i].payload_crc32c, pc_crc32c(0, p.data(), p.size()));
  }
  pulsarc_tb_snapshot_free(snap);
}

TEST_F(TestBroker, RecordLimitKeepsCountingOnly) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.max_entry_records = 6; // a batch of 5 costs 5 records, a single message 1
  Start(o);
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  c.WriteBatch(1, name.c_str(), 0, 5);
  ASSERT_TRUE(c.Next());
  c.WriteMessage(1, name.c_str(), 5, "six");
  ASSERT_TRUE(c.Next());
  c.WriteMessage(1, name.c_str(), 6, "seven");
  ExpectReceipt(c.Next(), 1, 6, LedgerOf(tb_, kTopic), 2);
  EXPECT_EQ(Stats().messages, 7u);
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->num_entries, 2u);
  EXPECT_EQ(snap->entries_not_recorded, 1u);
  EXPECT_EQ(snap->messages, 7u);
  pulsarc_tb_snapshot_free(snap);
  // Dedup still works for entries that were not recorded.
  c.WriteMessage(1, name.c_str(), 6, "seven");
  ExpectReceipt(c.Next(), 1, 6, -1, -1);
}

TEST_F(TestBroker, CompressedEntryIsKeptOpaque) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = 0;
  s.has_num_messages = 1;
  s.num_messages = 3;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name.c_str());
  md.publish_time = kPublishTime;
  md.has_num_messages_in_batch = 1;
  md.num_messages_in_batch = 3;
  md.has_compression = 1;
  md.compression = PULSARC__COMPRESSION_TYPE__LZ4;
  md.has_uncompressed_size = 1;
  md.uncompressed_size = 100;
  c.WriteSend(s, md, "not really lz4");
  ExpectReceipt(c.Next(), 1, 0, LedgerOf(tb_, kTopic), 0);
  EXPECT_EQ(Stats().messages, 3u);
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 1u);
  EXPECT_EQ(snap->entries[0].compression, 1);
  EXPECT_EQ(snap->entries[0].uncompressed_size, 100u);
  EXPECT_TRUE(snap->entries[0].payload_retained);
  EXPECT_EQ(snap->entries[0].num_listed, 0u);
  pulsarc_tb_snapshot_free(snap);
}

// ------------------------------------------------------------------- faults

TEST_F(TestBroker, HeldReceiptsAreReleasedInOrder) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  pulsarc_tb_hold_receipts(tb_, true);
  for (uint64_t i = 0; i < 3; i++)
    c.WriteMessage(1, name.c_str(), i, "h");
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, kTopic, 3, 10000));
  // Stored but not answered: the PONG overtakes the held receipts.
  Cmd pong = c.Ping();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, PULSARC__BASE_COMMAND__TYPE__PONG);
  pulsarc_tb_hold_receipts(tb_, false);
  int64_t ledger = LedgerOf(tb_, kTopic);
  for (uint64_t i = 0; i < 3; i++)
    ExpectReceipt(c.Next(), 1, i, ledger, static_cast<int64_t>(i));
}

TEST_F(TestBroker, HeldReceiptsThenDropThenResendGivesDuplicates) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  pulsarc_tb_hold_receipts(tb_, true);
  for (uint64_t i = 0; i < 3; i++)
    c.WriteMessage(1, name.c_str(), i, "h");
  ASSERT_TRUE(pulsarc_tb_wait_messages(tb_, kTopic, 3, 10000));
  pulsarc_tb_drop_connections(tb_);
  EXPECT_TRUE(c.WaitClosed());
  pulsarc_tb_hold_receipts(tb_, false);

  RawClient r(port_);
  ASSERT_TRUE(r.Connect());
  Cmd p = r.Producer(kTopic, 1, 1, name.c_str(), -1, 1);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  EXPECT_EQ(p->producer_success->last_sequence_id, 2);
  for (uint64_t i = 0; i < 3; i++) {
    r.WriteMessage(1, name.c_str(), i, "h");
    ExpectReceipt(r.Next(), 1, i, -1, -1);
  }
  EXPECT_EQ(Stats().messages, 3u);
  EXPECT_EQ(Stats().duplicates, 3u);
}

TEST_F(TestBroker, DelayedReceiptsStillArriveInOrder) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  pulsarc_tb_delay_receipts(tb_, 20);
  for (uint64_t i = 0; i < 3; i++)
    c.WriteMessage(1, name.c_str(), i, "d");
  int64_t ledger = LedgerOf(tb_, kTopic);
  for (uint64_t i = 0; i < 3; i++)
    ExpectReceipt(c.Next(), 1, i, ledger, static_cast<int64_t>(i));
}

TEST_F(TestBroker, InjectedSendErrorsStoreNothing) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  pulsarc_tb_fail_sends(tb_, 1, PULSARC_TB_PERSISTENCE_ERROR);
  c.WriteMessage(1, name.c_str(), 0, "x");
  Cmd r = c.Next();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__SEND_ERROR);
  EXPECT_EQ(r->send_error->error, PULSARC__SERVER_ERROR__PersistenceError);
  EXPECT_EQ(Stats().entries, 0u);
  c.WriteMessage(1, name.c_str(), 0, "x");
  ExpectReceipt(c.Next(), 1, 0, LedgerOf(tb_, kTopic), 0);
}

TEST_F(TestBroker, InjectedProducerErrors) {
  StartDefault();
  RawClient c(port_);
  ASSERT_TRUE(c.Connect());
  pulsarc_tb_fail_producers(tb_, 1, PULSARC_TB_TOPIC_NOT_FOUND);
  Cmd r = c.Producer(kTopic, 1, 1);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__ERROR);
  EXPECT_EQ(r->error->error, PULSARC__SERVER_ERROR__TopicNotFound);
  EXPECT_EQ(c.Producer(kTopic, 1, 2)->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
}

TEST_F(TestBroker, BrokerClosesProducersOfATopic) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  ASSERT_TRUE(pulsarc_tb_wait_producers(tb_, kTopic, 1, 10000));
  EXPECT_EQ(pulsarc_tb_close_producers(tb_, kTopic), 1);
  Cmd cl = c.Next();
  ASSERT_TRUE(cl);
  ASSERT_EQ(cl->type, PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER);
  EXPECT_EQ(cl->close_producer->producer_id, 1u);
  // A SEND that was in flight for the closed producer is ignored, not fatal.
  c.WriteMessage(1, name.c_str(), 0, "late");
  Cmd pong = c.Ping();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, PULSARC__BASE_COMMAND__TYPE__PONG);
  EXPECT_EQ(Stats().entries, 0u);
  // Re-created with the same id and name on the same connection.
  Cmd p = c.Producer(kTopic, 1, 2, name.c_str(), -1, 1);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  c.WriteMessage(1, name.c_str(), 0, "again");
  ExpectReceipt(c.Next(), 1, 0, LedgerOf(tb_, kTopic), 0);
}

TEST_F(TestBroker, WaitMessagesTimesOutWhenNothingArrives) {
  StartDefault();
  EXPECT_FALSE(pulsarc_tb_wait_messages(tb_, kTopic, 1, 0));
  pulsarc_tb_topic_stats ts;
  pulsarc_tb_get_topic_stats(tb_, kTopic, &ts);
  EXPECT_FALSE(ts.exists);
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  EXPECT_FALSE(snap->exists);
  EXPECT_EQ(snap->num_entries, 0u);
  pulsarc_tb_snapshot_free(snap);
}

// Hand-built SEND frame with arbitrary metadata and payload bytes (valid CRC).
std::string RawSendFrame(uint64_t producer_id, uint64_t seq, const std::string &md,
                         const std::string &payload) {
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = producer_id;
  s.sequence_id = seq;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &s;
  size_t cmd_size = pulsarc__base_command__get_packed_size(&cmd);
  std::string out(8 + cmd_size + 10, '\0');
  auto *p = reinterpret_cast<uint8_t *>(&out[0]);
  pulsarc__base_command__pack(&cmd, p + 8);
  std::string tail(4, '\0');
  pc_put_u32be(reinterpret_cast<uint8_t *>(&tail[0]), static_cast<uint32_t>(md.size()));
  tail += md;
  tail += payload;
  uint32_t crc = pc_crc32c(0, tail.data(), tail.size());
  pc_put_u32be(p, static_cast<uint32_t>(4 + cmd_size + 6 + tail.size()));
  pc_put_u32be(p + 4, static_cast<uint32_t>(cmd_size));
  p[8 + cmd_size] = 0x0e;
  p[9 + cmd_size] = 0x01;
  pc_put_u32be(p + 10 + cmd_size, crc);
  out.resize(8 + cmd_size + 6);
  return out + tail;
}

TEST_F(TestBroker, RandomInputNeverTakesTheBrokerDown) {
  StartDefault();
  uint32_t rng = 12345;
  auto next = [&rng]() {
    rng = rng * 1103515245u + 12345u;
    return static_cast<uint8_t>(rng >> 16);
  };
  auto junk = [&](size_t n) {
    std::string s(n, '\0');
    for (auto &ch : s)
      ch = static_cast<char>(next());
    return s;
  };
  for (int round = 0; round < 150; round++) {
    RawClient c(port_);
    std::string name = ConnectWithProducer(c, kTopic);
    ASSERT_FALSE(name.empty());
    // Valid metadata claiming a batch, with a random body.
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    md.producer_name = const_cast<char *>(name.c_str());
    md.publish_time = kPublishTime;
    md.has_num_messages_in_batch = 1;
    md.num_messages_in_batch = 1 + next() % 8;
    std::string mdbytes(pulsarc__message_metadata__get_packed_size(&md), '\0');
    pulsarc__message_metadata__pack(&md, reinterpret_cast<uint8_t *>(&mdbytes[0]));
    std::string f1 = RawSendFrame(1, 2 * static_cast<uint64_t>(round), mdbytes, junk(next()));
    // Random metadata bytes.
    std::string f2 =
        RawSendFrame(1, 2 * static_cast<uint64_t>(round) + 1, junk(next() % 40), junk(next() % 64));
    // A frame with a random command.
    std::string f3(8, '\0');
    std::string body = junk(1 + next() % 30);
    pc_put_u32be(reinterpret_cast<uint8_t *>(&f3[0]), static_cast<uint32_t>(4 + body.size()));
    pc_put_u32be(reinterpret_cast<uint8_t *>(&f3[4]), static_cast<uint32_t>(body.size()));
    f3 += body;
    std::string all = f1 + f2 + f3 + junk(next() % 50);
    c.WriteRaw(all.data(), all.size());
    c.WaitClosed();
  }
  RawClient ok(port_);
  Cmd r = ok.Connect();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__CONNECTED);
  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.connections_open, 1u);
  EXPECT_GT(st.malformed_batches, 0u);
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->num_entries, st.entries);
  pulsarc_tb_snapshot_free(snap);
}

TEST_F(TestBroker, TopicNamesAreCompleted) {
  char *a = pulsarc_tb_full_topic("t");
  char *b = pulsarc_tb_full_topic("tenant/ns/t");
  char *c = pulsarc_tb_full_topic("non-persistent://a/b/c");
  EXPECT_STREQ(a, "persistent://public/default/t");
  EXPECT_STREQ(b, "persistent://tenant/ns/t");
  EXPECT_STREQ(c, "non-persistent://a/b/c");
  free(a);
  free(b);
  free(c);
}

} // namespace
