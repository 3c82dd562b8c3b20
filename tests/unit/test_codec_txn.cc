// The transaction commands (codec/commands.h): NEW_TXN carries the timeout
// in milliseconds in field 2 as the official clients send it,
// ADD_PARTITION_TO_TXN and END_TXN carry both halves of the id, SEND and
// the coordinators' answers decode to what the client reads.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "codec_roundtrip.h"

namespace {

class CodecTxn : public CodecRoundTrip {};

TEST_F(CodecTxn, NewTxnCarriesMillisecondsAndCoordinator) {
  pc_cmd c;
  const Pulsarc__BaseCommand *r = RoundTrip(pc_cmd_new_txn(&c, 7, 60000, 3));
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__NEW_TXN);
  ASSERT_NE(r->new_txn, nullptr);
  EXPECT_EQ(r->new_txn->request_id, 7u);
  EXPECT_TRUE(r->new_txn->has_txn_ttl_millis);
  EXPECT_EQ(r->new_txn->txn_ttl_millis, 60000u);
  EXPECT_EQ(r->new_txn->tc_id, 3u);
  // On the wire: field 2 (the one upstream once named txn_ttl_seconds),
  // varint 60000 = 0xe0 0xd4 0x03, right after the request id.
  pc_buf b = {};
  ASSERT_EQ(pc_frame_append_command(&b, pc_cmd_new_txn(&c, 7, 60000, 3)), 0);
  const uint8_t want[] = {0x10, 0xe0, 0xd4, 0x03};
  std::string bytes(reinterpret_cast<const char *>(b.data), b.len);
  EXPECT_NE(bytes.find(std::string(reinterpret_cast<const char *>(want), sizeof want)),
            std::string::npos);
  pc_buf_free(&b);
}

TEST_F(CodecTxn, AddPartitionAndEndCarryTheId) {
  pc_cmd c;
  const char *part = "persistent://public/default/t-partition-1";
  const Pulsarc__BaseCommand *r =
      RoundTrip(pc_cmd_add_partition_to_txn(&c, 9, 2, 0x123456789ull, part));
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__ADD_PARTITION_TO_TXN);
  ASSERT_NE(r->add_partition_to_txn, nullptr);
  EXPECT_EQ(r->add_partition_to_txn->request_id, 9u);
  EXPECT_EQ(r->add_partition_to_txn->txnid_most_bits, 2u);
  EXPECT_EQ(r->add_partition_to_txn->txnid_least_bits, 0x123456789ull);
  ASSERT_EQ(r->add_partition_to_txn->n_partitions, 1u);
  EXPECT_STREQ(r->add_partition_to_txn->partitions[0], part);

  for (bool commit : {true, false}) {
    r = RoundTrip(pc_cmd_end_txn(&c, 11, 1, 42, commit));
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__END_TXN);
    ASSERT_NE(r->end_txn, nullptr);
    EXPECT_EQ(r->end_txn->txnid_most_bits, 1u);
    EXPECT_EQ(r->end_txn->txnid_least_bits, 42u);
    EXPECT_TRUE(r->end_txn->has_txn_action);
    EXPECT_EQ(r->end_txn->txn_action,
              commit ? PULSARC__TXN_ACTION__COMMIT : PULSARC__TXN_ACTION__ABORT);
  }

  r = RoundTrip(pc_cmd_tc_client_connect(&c, 5, 4));
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, PULSARC__BASE_COMMAND__TYPE__TC_CLIENT_CONNECT_REQUEST);
  ASSERT_NE(r->tc_client_connect_request, nullptr);
  EXPECT_EQ(r->tc_client_connect_request->request_id, 5u);
  EXPECT_EQ(r->tc_client_connect_request->tc_id, 4u);
}

TEST_F(CodecTxn, SendCarriesTheTxnOnlyWhenSet) {
  pc_cmd c;
  const Pulsarc__BaseCommand *r = RoundTrip(pc_cmd_send(&c, 1, 10, 3, 12, false));
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->send->has_txnid_most_bits);
  EXPECT_FALSE(r->send->has_txnid_least_bits);
  pc_cmd_send(&c, 1, 10, 3, 12, false);
  pc_cmd_send_set_txn(&c, 7, 8);
  r = RoundTrip(&c.base);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->send->has_txnid_most_bits);
  EXPECT_EQ(r->send->txnid_most_bits, 7u);
  EXPECT_EQ(r->send->txnid_least_bits, 8u);
  EXPECT_EQ(r->send->num_messages, 3);
}

TEST_F(CodecTxn, ResponsesGiveRequestIdAndError) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandEndTxnResponse er = PULSARC__COMMAND_END_TXN_RESPONSE__INIT;
  er.request_id = 77;
  er.has_error = 1;
  er.error = PULSARC__SERVER_ERROR__TransactionNotFound;
  er.message = (char *)"gone";
  cmd.type = PULSARC__BASE_COMMAND__TYPE__END_TXN_RESPONSE;
  cmd.end_txn_response = &er;
  const Pulsarc__BaseCommand *r = RoundTrip(&cmd);
  ASSERT_NE(r, nullptr);
  uint64_t rid = 0;
  int e = -1;
  const char *msg = nullptr;
  ASSERT_TRUE(pc_cmd_txn_response(r, &rid, &e, &msg));
  EXPECT_EQ(rid, 77u);
  EXPECT_EQ(e, PULSARC__SERVER_ERROR__TransactionNotFound + 1);
  EXPECT_STREQ(msg, "gone");

  Pulsarc__CommandNewTxnResponse nr = PULSARC__COMMAND_NEW_TXN_RESPONSE__INIT;
  nr.request_id = 3;
  nr.has_txnid_most_bits = nr.has_txnid_least_bits = 1;
  nr.txnid_most_bits = 1;
  nr.txnid_least_bits = 99;
  Pulsarc__BaseCommand cmd2 = PULSARC__BASE_COMMAND__INIT;
  cmd2.type = PULSARC__BASE_COMMAND__TYPE__NEW_TXN_RESPONSE;
  cmd2.new_txn_response = &nr;
  r = RoundTrip(&cmd2);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(pc_cmd_txn_response(r, &rid, &e, &msg));
  EXPECT_EQ(rid, 3u);
  EXPECT_EQ(e, 0);
  EXPECT_EQ(r->new_txn_response->txnid_least_bits, 99u);

  // Any other command is not a coordinator's answer.
  pc_cmd c;
  EXPECT_FALSE(pc_cmd_txn_response(pc_cmd_ping(&c), &rid, &e, &msg));
}

} // namespace
