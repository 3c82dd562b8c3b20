// Compression: every codec, batched and not, over empty, one-byte, large
// compressible and incompressible payloads; the test broker decompresses
// what it stores, and the test decodes the raw entries once more with the
// library's codec to check the metadata (codec, uncompressed_size).
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::CodecName;
using features::Compressible;
using features::Decompress;
using features::EntryPayload;
using features::RandomBytes;
using features::SendWait;

struct CodecCase {
  int codec;
  bool batched;
};

std::string CaseName(const ::testing::TestParamInfo<CodecCase> &i) {
  return std::string(CodecName(i.param.codec)) + (i.param.batched ? "_batched" : "_single");
}

class CompressionRoundTrip : public BrokerTest, public ::testing::WithParamInterface<CodecCase> {};

TEST_P(CompressionRoundTrip, PayloadsSurviveAndMetadataNamesTheCodec) {
  const CodecCase c = GetParam();
  const std::string topic =
      std::string("compress-") + CodecName(c.codec) + (c.batched ? "-b" : "-s");
  ProducerConf conf;
  conf.Set("compression", CodecName(c.codec)).Set("batching", c.batched ? "true" : "false");
  if (c.batched)
    conf.Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create(topic, conf.get());
  ASSERT_NE(p, nullptr);

  const std::vector<std::string> payloads = {"",
                                             "x",
                                             Compressible(1 << 20),
                                             RandomBytes(256 << 10, 7),
                                             "tail",
                                             RandomBytes(1, 8),
                                             RandomBytes(1 << 20, 9)};
  Completions done(payloads.size());
  for (size_t i = 0; i < payloads.size(); i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, payloads[i].data(), payloads[i].size(), nullptr,
                                       Completions::Cb, done.ctx(i)),
              PULSARC_OK)
        << i;
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_EQ(done.Total(), payloads.size());
  for (size_t i = 0; i < payloads.size(); i++) {
    EXPECT_EQ(done.at(i).calls.load(), 1) << i;
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK) << i;
  }

  Snapshot s(tb_, topic);
  ASSERT_GT(s->num_entries, 0u);
  EXPECT_EQ(Stats().decompress_errors, 0u);
  bool saw_shrunk = false;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    EXPECT_EQ(e.compression, c.codec) << "entry " << i;
    EXPECT_EQ(e.is_batch, c.batched) << "entry " << i;
    EXPECT_FALSE(e.batch_malformed) << "entry " << i;
    ASSERT_TRUE(e.payload_retained) << "entry " << i;
    // The library's decoder, independently of the broker's listing: the raw
    // payload must decode to exactly uncompressed_size bytes.
    std::string body;
    ASSERT_TRUE(Decompress(c.codec, EntryPayload(e), e.uncompressed_size, &body))
        << "entry " << i << " does not decode as " << CodecName(c.codec) << " to "
        << e.uncompressed_size << " bytes";
    EXPECT_EQ(body.size(), e.uncompressed_size);
    if (!c.batched) {
      ASSERT_EQ(e.num_listed, 1u);
      EXPECT_EQ(body, std::string(reinterpret_cast<const char *>(e.messages[0].payload),
                                  e.messages[0].payload_len));
    }
    if (e.uncompressed_size > 100000 && e.payload_len * 4 < e.uncompressed_size)
      saw_shrunk = true;
  }
  EXPECT_TRUE(saw_shrunk) << "the 1 MiB of text was not compressed";

  std::vector<StoredMsg> msgs = StoredMessages(s.get());
  ASSERT_EQ(msgs.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); i++) {
    EXPECT_TRUE(msgs[i].payload == payloads[i])
        << "message " << i << ": " << msgs[i].payload.size() << " bytes stored, "
        << payloads[i].size() << " sent";
    EXPECT_EQ(done.at(i).id.entry_id, msgs[i].entry_id) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressionRoundTrip,
                         ::testing::Values(CodecCase{1, false}, CodecCase{1, true},
                                           CodecCase{2, false}, CodecCase{2, true},
                                           CodecCase{3, false}, CodecCase{3, true},
                                           CodecCase{4, false}, CodecCase{4, true}),
                         CaseName);

class CompressionSize : public BrokerTest {};

// The size rule applies to the compressed payload: 200 KiB of text under a
// 64 KiB limit fits in one unchunked entry once compressed, and the same
// message without compression is refused before anything is sent.
TEST_F(CompressionSize, CompressibleLargeMessageFitsWithoutChunking) {
  const std::string big = Compressible(200 << 10);
  for (int codec = 1; codec <= 4; codec++) {
    const std::string topic = std::string("fits-") + CodecName(codec);
    ProducerConf conf;
    conf.Set("compression", CodecName(codec))
        .Set("batching", "false")
        .Set("max_message_size", "65536");
    pulsarc_producer_t *p = Create(topic, conf.get());
    ASSERT_NE(p, nullptr);
    pulsarc_msg_id_t id{};
    EXPECT_EQ(SendWait(p, big, nullptr, &id), PULSARC_OK) << CodecName(codec);
    EXPECT_EQ(id.first_chunk_entry_id, -1) << CodecName(codec);
    Snapshot s(tb_, topic);
    ASSERT_EQ(s->num_entries, 1u) << CodecName(codec);
    EXPECT_FALSE(s->entries[0].is_chunk);
    EXPECT_EQ(s->entries[0].compression, codec);
    EXPECT_EQ(s->entries[0].uncompressed_size, big.size());
    EXPECT_LT(s->entries[0].payload_len, 65536u);
    std::vector<StoredMsg> msgs = StoredMessages(s.get());
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_TRUE(msgs[0].payload == big) << CodecName(codec);
  }
  ProducerConf plain;
  plain.Set("batching", "false").Set("max_message_size", "65536");
  pulsarc_producer_t *p = Create("fits-none", plain.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(SendWait(p, big), PULSARC_ERR_MESSAGE_TOO_BIG);
  Snapshot s(tb_, "fits-none");
  EXPECT_EQ(s->num_entries, 0u);
}

// An incompressible message over the limit still fails under compression
// (after compressing, on the I/O thread), and nothing reaches the broker.
TEST_F(CompressionSize, IncompressibleOverLimitFailsWithoutChunking) {
  const std::string big = RandomBytes(100 << 10, 3);
  for (int codec = 1; codec <= 4; codec++) {
    const std::string topic = std::string("toobig-") + CodecName(codec);
    ProducerConf conf;
    conf.Set("compression", CodecName(codec))
        .Set("batching", "false")
        .Set("max_message_size", "65536");
    pulsarc_producer_t *p = Create(topic, conf.get());
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(SendWait(p, big), PULSARC_ERR_MESSAGE_TOO_BIG) << CodecName(codec);
    // The producer stays usable.
    EXPECT_EQ(SendWait(p, "small"), PULSARC_OK) << CodecName(codec);
    Snapshot s(tb_, topic);
    ASSERT_EQ(s->num_entries, 1u) << CodecName(codec);
    std::vector<StoredMsg> msgs = StoredMessages(s.get());
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].payload, "small");
  }
}

// Words in a random order: compressible, but with room between a fast and
// a thorough level (a repeated sentence compresses the same at any level).
std::string Words(size_t n, uint32_t seed) {
  static const char *kWords[] = {"broker", "topic",  "ledger", "entry", "batch",  "cursor",
                                 "bundle", "tenant", "acker",  "shard", "schema", "replica"};
  uint32_t x = seed;
  std::string s;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += kWords[(x >> 16) % 12];
    s += (x >> 8) % 7 == 0 ? ".\n" : " ";
    s += std::to_string((x >> 4) % 1000);
    s += ' ';
  }
  s.resize(n);
  return s;
}

// compression_level reaches the sealed entry: the same batch stored at a
// fast and at a thorough level differs in size, and both decode to the
// messages sent.
TEST_F(CompressionSize, LevelChangesTheStoredEntry) {
  struct {
    const char *codec, *low, *high;
  } cases[] = {{"zstd", "1", "19"}, {"zlib", "1", "9"}, {"lz4", "0", "12"}};
  for (auto &c : cases) {
    size_t stored[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
      const std::string topic = std::string("level-") + c.codec + "-" + (k ? c.high : c.low);
      ProducerConf conf;
      conf.Set("compression", c.codec)
          .Set("compression_level", k ? c.high : c.low)
          .Set("batch_max_delay_ms", "60000");
      pulsarc_producer_t *p = Create(topic, conf.get());
      ASSERT_NE(p, nullptr);
      Completions done(20);
      for (size_t i = 0; i < 20; i++) {
        std::string payload = Words(4000, static_cast<uint32_t>(i + 1));
        ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), nullptr,
                                           Completions::Cb, done.ctx(i)),
                  PULSARC_OK);
      }
      ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
      Snapshot s(tb_, topic);
      ASSERT_EQ(s->num_entries, 1u) << topic;
      EXPECT_EQ(Stats().decompress_errors, 0u);
      stored[k] = s->entries[0].payload_len;
      std::vector<StoredMsg> msgs = StoredMessages(s.get());
      ASSERT_EQ(msgs.size(), 20u) << topic;
      for (size_t i = 0; i < 20; i++)
        EXPECT_TRUE(msgs[i].payload == Words(4000, static_cast<uint32_t>(i + 1))) << topic << i;
    }
    EXPECT_LT(stored[1], stored[0]) << c.codec;
  }
}

// Batched and compressed entries keep every per-message option (they live
// in the compressed body).
TEST_F(CompressionSize, BatchedMessageOptionsSurviveCompression) {
  ProducerConf conf;
  conf.Set("compression", "zstd").Set("batch_max_delay_ms", "60000");
  pulsarc_producer_t *p = Create("compress-opts", conf.get());
  ASSERT_NE(p, nullptr);
  Completions done(3);
  for (int i = 0; i < 3; i++) {
    MsgOpts o;
    std::string key = "k" + std::to_string(i);
    ASSERT_EQ(pulsarc_msg_opts_set_partition_key(o.get(), key.c_str()), PULSARC_OK);
    ASSERT_EQ(pulsarc_msg_opts_add_property(o.get(), "n", std::to_string(i).c_str()), PULSARC_OK);
    std::string payload = Compressible(1000 + static_cast<size_t>(i));
    ASSERT_EQ(pulsarc_producer_send_cb(p, payload.data(), payload.size(), o.get(), Completions::Cb,
                                       done.ctx(static_cast<size_t>(i))),
              PULSARC_OK);
  }
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  Snapshot s(tb_, "compress-opts");
  ASSERT_EQ(s->num_entries, 1u);
  EXPECT_EQ(s->entries[0].compression, 3);
  ASSERT_EQ(s->entries[0].num_listed, 3u);
  for (size_t i = 0; i < 3; i++) {
    const pulsarc_tb_message &m = s->entries[0].messages[i];
    ASSERT_NE(m.partition_key, nullptr);
    EXPECT_EQ(std::string(m.partition_key), "k" + std::to_string(i));
    ASSERT_EQ(m.num_properties, 1u);
    EXPECT_EQ(std::string(m.properties[0].value), std::to_string(i));
    EXPECT_EQ(m.payload_len, 1000 + i);
  }
}

} // namespace
} // namespace pulsarc_it
