// Test broker and compressed entries: batches and single messages sent
// compressed with each codec show up in snapshots as the original messages;
// entries that do not decode are stored raw and counted.
#include "test_testbroker_client.h"

extern "C" {
#include "codec/compress.h"
}

namespace {
using namespace tbtest;

constexpr int kCodecs[] = {PULSARC__COMPRESSION_TYPE__LZ4, PULSARC__COMPRESSION_TYPE__ZLIB,
                           PULSARC__COMPRESSION_TYPE__ZSTD, PULSARC__COMPRESSION_TYPE__SNAPPY};

std::string Str(const uint8_t *p, size_t n) {
  return std::string(reinterpret_cast<const char *>(p), n);
}

std::string Payload(int i) {
  // Compressible, and different per message.
  std::string s = "{\"n\":" + std::to_string(i) + ",\"text\":\"";
  for (int k = 0; k < 40; k++)
    s += "abc";
  return s + "\"}";
}

std::string Key(int i) { return "key-" + std::to_string(i); }

// Batch body of n messages with ids first.., each with a partition key.
std::string BatchBody(uint64_t first, int n) {
  pc_buf body{};
  for (int i = 0; i < n; i++) {
    Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
    std::string p = Payload(i), k = Key(i);
    smd.payload_size = static_cast<int32_t>(p.size());
    smd.partition_key = const_cast<char *>(k.c_str());
    smd.has_sequence_id = 1;
    smd.sequence_id = first + static_cast<uint64_t>(i);
    EXPECT_EQ(pc_batch_append(&body, &smd, p.data(), p.size()), 0);
  }
  std::string r = Str(body.data, body.len);
  pc_buf_free(&body);
  return r;
}

// Sends one SEND whose payload is `plain` compressed with codec, straight
// into the frame's headroom as the library does. uncompressed_size is
// plain.size() unless size_override >= 0; garbage replaces the compressed
// bytes when non-empty. Returns the compressed bytes sent.
std::string SendCompressed(RawClient &c, const std::string &name, uint64_t seq, int codec,
                           const std::string &plain, int batch_n, int64_t size_override = -1,
                           const std::string &garbage = "") {
  Pulsarc__CommandSend s = PULSARC__COMMAND_SEND__INIT;
  s.producer_id = 1;
  s.sequence_id = seq;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = const_cast<char *>(name.c_str());
  md.sequence_id = seq;
  md.publish_time = kPublishTime;
  md.has_compression = 1;
  md.compression = static_cast<Pulsarc__CompressionType>(codec);
  md.has_uncompressed_size = 1;
  md.uncompressed_size =
      static_cast<uint32_t>(size_override >= 0 ? static_cast<size_t>(size_override) : plain.size());
  if (batch_n > 0) {
    s.has_num_messages = 1;
    s.num_messages = batch_n;
    md.has_num_messages_in_batch = 1;
    md.num_messages_in_batch = batch_n;
  } else {
    md.partition_key = const_cast<char *>("single-key");
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &s;

  const size_t headroom = 128;
  pc_buf f{};
  EXPECT_EQ(pc_buf_reserve(&f, headroom), 0);
  f.len = headroom;
  if (garbage.empty()) {
    EXPECT_EQ(pc_compress(codec, reinterpret_cast<const uint8_t *>(plain.data()), plain.size(), &f),
              0);
  } else {
    EXPECT_EQ(pc_buf_append(&f, garbage.data(), garbage.size()), 0);
  }
  std::string sent = Str(f.data + headroom, f.len - headroom);
  size_t start = 0;
  EXPECT_EQ(pc_frame_seal_payload(&f, headroom, &cmd, &md, &start), 0);
  c.WriteRaw(f.data + start, f.len - start);
  pc_buf_free(&f);
  return sent;
}

void ExpectBatchListed(const pulsarc_tb_entry &e, uint64_t first, int n) {
  ASSERT_EQ(e.num_listed, static_cast<size_t>(n));
  EXPECT_FALSE(e.batch_malformed);
  for (int i = 0; i < n; i++) {
    const pulsarc_tb_message &m = e.messages[i];
    std::string p = Payload(i);
    EXPECT_EQ(m.payload_crc32c, pc_crc32c(0, p.data(), p.size())) << i;
    EXPECT_EQ(m.payload_len, p.size()) << i;
    if (e.payload_retained) {
      ASSERT_TRUE(m.retained);
      EXPECT_EQ(Str(m.payload, m.payload_len), p) << i;
      ASSERT_TRUE(m.has_metadata);
      EXPECT_STREQ(m.partition_key, Key(i).c_str());
      EXPECT_TRUE(m.has_sequence_id);
      EXPECT_EQ(m.sequence_id, first + static_cast<uint64_t>(i));
    }
  }
}

class TestBrokerCompress : public TestBroker, public ::testing::WithParamInterface<int> {};

TEST_P(TestBrokerCompress, BatchAndSingleShowOriginalMessages) {
  const int codec = GetParam();
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);

  const std::string body = BatchBody(0, 5);
  std::string sent = SendCompressed(c, name, 0, codec, body, 5);
  ExpectReceipt(c.Next(), 1, 0, ledger, 0);
  const std::string single = Payload(99) + Payload(98);
  SendCompressed(c, name, 5, codec, single, 0);
  ExpectReceipt(c.Next(), 1, 5, ledger, 1);

  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 2u);
  EXPECT_EQ(st.messages, 6u);
  EXPECT_EQ(st.decompress_errors, 0u);
  EXPECT_EQ(st.malformed_batches, 0u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 2u);
  const pulsarc_tb_entry &b = snap->entries[0];
  EXPECT_EQ(b.compression, codec);
  EXPECT_EQ(b.uncompressed_size, body.size());
  EXPECT_TRUE(b.is_batch);
  EXPECT_EQ(b.num_messages, 5);
  // The entry keeps the bytes as received; the messages are decoded.
  ASSERT_TRUE(b.payload_retained);
  EXPECT_EQ(Str(b.payload, b.payload_len), sent);
  ExpectBatchListed(b, 0, 5);

  const pulsarc_tb_entry &e = snap->entries[1];
  EXPECT_EQ(e.compression, codec);
  EXPECT_FALSE(e.is_batch);
  EXPECT_STREQ(e.partition_key, "single-key");
  EXPECT_EQ(e.sequence_id, 5u);
  ASSERT_EQ(e.num_listed, 1u);
  ASSERT_TRUE(e.messages[0].retained);
  EXPECT_EQ(Str(e.messages[0].payload, e.messages[0].payload_len), single);
  EXPECT_EQ(e.messages[0].payload_crc32c, pc_crc32c(0, single.data(), single.size()));
  pulsarc_tb_snapshot_free(snap);
}

// Past the retention budget only checksums are kept, computed at store time
// over the decompressed messages.
TEST_P(TestBrokerCompress, UnretainedEntriesListChecksumsOfOriginals) {
  const int codec = GetParam();
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 0;
  Start(o);
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);

  const std::string body = BatchBody(10, 4);
  SendCompressed(c, name, 10, codec, body, 4);
  ExpectReceipt(c.Next(), 1, 10, ledger, 0);
  const std::string single = Payload(7);
  SendCompressed(c, name, 14, codec, single, 0);
  ExpectReceipt(c.Next(), 1, 14, ledger, 1);
  EXPECT_EQ(Stats().decompress_errors, 0u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 2u);
  EXPECT_FALSE(snap->entries[0].payload_retained);
  ExpectBatchListed(snap->entries[0], 10, 4);
  const pulsarc_tb_entry &e = snap->entries[1];
  ASSERT_EQ(e.num_listed, 1u);
  EXPECT_FALSE(e.messages[0].retained);
  EXPECT_EQ(e.messages[0].payload_len, single.size());
  EXPECT_EQ(e.messages[0].payload_crc32c, pc_crc32c(0, single.data(), single.size()));
  pulsarc_tb_snapshot_free(snap);
}

TEST_P(TestBrokerCompress, UndecodableEntriesAreCountedAndKeptRaw) {
  const int codec = GetParam();
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);

  const std::string body = BatchBody(0, 3);
  // Announces one byte more than the body holds.
  std::string sent =
      SendCompressed(c, name, 0, codec, body, 3, static_cast<int64_t>(body.size()) + 1);
  ExpectReceipt(c.Next(), 1, 0, ledger, 0);
  // Not a compressed stream at all (the frame's CRC is still valid).
  std::string garbage(300, '\xff');
  SendCompressed(c, name, 3, codec, "", 0, 1000, garbage);
  ExpectReceipt(c.Next(), 1, 3, ledger, 1);
  // A good one after them still decodes.
  SendCompressed(c, name, 4, codec, body, 3);
  ExpectReceipt(c.Next(), 1, 4, ledger, 2);

  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.entries, 3u);
  EXPECT_EQ(st.decompress_errors, 2u);
  // Message counts come from the metadata, decodable or not.
  EXPECT_EQ(st.messages, 7u);

  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb_, kTopic);
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->num_entries, 3u);
  EXPECT_EQ(snap->entries[0].num_listed, 0u);
  ASSERT_TRUE(snap->entries[0].payload_retained);
  EXPECT_EQ(Str(snap->entries[0].payload, snap->entries[0].payload_len), sent);
  EXPECT_EQ(snap->entries[1].num_listed, 0u);
  EXPECT_EQ(Str(snap->entries[1].payload, snap->entries[1].payload_len), garbage);
  ExpectBatchListed(snap->entries[2], 0, 3);
  pulsarc_tb_snapshot_free(snap);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, TestBrokerCompress, ::testing::ValuesIn(kCodecs),
                         [](const ::testing::TestParamInfo<int> &i) {
                           return std::string(pc_compress_name(i.param));
                         });

TEST_F(TestBroker, UnknownCodecIsCountedAndKeptRaw) {
  StartDefault();
  RawClient c(port_);
  std::string name = ConnectWithProducer(c, kTopic);
  int64_t ledger = LedgerOf(tb_, kTopic);
  SendCompressed(c, name, 0, PULSARC__COMPRESSION_TYPE__NONE, "", 0, 5, "hello");
  ExpectReceipt(c.Next(), 1, 0, ledger, 0);
  EXPECT_EQ(Stats().decompress_errors, 0u); // NONE is not compressed
  SendCompressed(c, name, 1, 9, "", 0, 5, "hello");
  ExpectReceipt(c.Next(), 1, 1, ledger, 1);
  EXPECT_EQ(Stats().decompress_errors, 1u);
}

} // namespace
