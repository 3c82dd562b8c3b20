// Chunking: a message over the size limit is split into chunk entries that
// all carry its sequence id, a uuid "<producer>-<seq>", the chunk count, the
// total size and their index; it completes once, with an id naming the
// first and the last chunk. Without chunking the same message fails before
// anything is sent. Compression comes first, then the split.
#include "test_features_util.h"

namespace pulsarc_it {
namespace {

using features::CodecName;
using features::Decompress;
using features::EntryPayload;
using features::RandomBytes;
using features::SendWait;

constexpr size_t kMax = 16384; // max_message_size used by these tests

// Entries of one message (by sequence id), in entry order.
std::vector<const pulsarc_tb_entry *> EntriesOf(const pulsarc_tb_snapshot *s, uint64_t seq) {
  std::vector<const pulsarc_tb_entry *> v;
  for (size_t i = 0; i < s->num_entries; i++)
    if (s->entries[i].sequence_id == seq)
      v.push_back(&s->entries[i]);
  return v;
}

// Checks the chunk fields of one message's entries and returns the payload
// the consumer would reassemble (decompressed). Sets *ok false on mismatch.
std::string Reassemble(const std::vector<const pulsarc_tb_entry *> &es, const std::string &name,
                       int codec, bool *ok) {
  *ok = false;
  std::string raw;
  if (es.empty())
    return raw;
  const pulsarc_tb_entry &first = *es[0];
  if (es.size() == 1 && !first.is_chunk) {
    raw = EntryPayload(first);
  } else {
    const std::string uuid = name + "-" + std::to_string(first.sequence_id);
    for (size_t k = 0; k < es.size(); k++) {
      const pulsarc_tb_entry &e = *es[k];
      EXPECT_TRUE(e.is_chunk) << "entry " << k;
      EXPECT_EQ(e.chunk_id, static_cast<int32_t>(k));
      EXPECT_EQ(e.num_chunks, static_cast<int32_t>(es.size()));
      EXPECT_EQ(e.total_chunk_msg_size, first.total_chunk_msg_size);
      EXPECT_EQ(e.compression, codec);
      EXPECT_EQ(e.uncompressed_size, first.uncompressed_size);
      EXPECT_FALSE(e.is_batch);
      EXPECT_LE(e.payload_len, kMax);
      EXPECT_NE(e.chunk_uuid, nullptr);
      if (e.chunk_uuid != nullptr) {
        EXPECT_EQ(std::string(e.chunk_uuid), uuid);
      }
      raw += EntryPayload(e);
    }
    EXPECT_EQ(raw.size(), static_cast<size_t>(first.total_chunk_msg_size));
  }
  if (codec == 0) {
    *ok = true;
    return raw;
  }
  std::string out;
  *ok = Decompress(codec, raw, first.uncompressed_size, &out);
  EXPECT_TRUE(*ok) << "reassembled payload does not decode as " << CodecName(codec);
  return out;
}

class Chunking : public BrokerTest {};

TEST_F(Chunking, ThreeTimesTheLimitArrivesAsChunksAndCompletesOnce) {
  ProducerConf conf;
  conf.Set("chunking", "true")
      .Set("batching", "false")
      .Set("max_message_size", std::to_string(kMax));
  pulsarc_producer_t *p = Create("chunk-3x", conf.get());
  ASSERT_NE(p, nullptr);
  const std::string big = RandomBytes(3 * kMax, 11);
  Completions done(2);
  ASSERT_EQ(
      pulsarc_producer_send_cb(p, big.data(), big.size(), nullptr, Completions::Cb, done.ctx(0)),
      PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_send_cb(p, "after", 5, nullptr, Completions::Cb, done.ctx(1)),
            PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_TRUE(done.WaitTotal(2));
  // Let any stray extra completion show up before counting.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.at(0).calls.load(), 1);
  EXPECT_EQ(done.at(0).err.load(), PULSARC_OK);
  EXPECT_EQ(done.at(1).err.load(), PULSARC_OK);

  Snapshot s(tb_, "chunk-3x");
  ASSERT_GE(s->num_entries, 4u);
  const uint64_t seq = s->entries[0].sequence_id;
  std::vector<const pulsarc_tb_entry *> chunks = EntriesOf(s.get(), seq);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_LE(chunks.size(), 4u); // ~16 KiB of payload per chunk
  EXPECT_EQ(chunks.size() + 1, s->num_entries);
  const char *name = pulsarc_producer_name(p);
  ASSERT_NE(name, nullptr);
  bool ok = false;
  std::string back = Reassemble(chunks, name, 0, &ok);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(back == big) << "chunks do not reassemble to the message";
  EXPECT_EQ(chunks[0]->total_chunk_msg_size, static_cast<int32_t>(big.size()));

  const pulsarc_msg_id_t &id = done.at(0).id;
  EXPECT_EQ(id.first_chunk_ledger_id, chunks.front()->ledger_id);
  EXPECT_EQ(id.first_chunk_entry_id, chunks.front()->entry_id);
  EXPECT_EQ(id.ledger_id, chunks.back()->ledger_id);
  EXPECT_EQ(id.entry_id, chunks.back()->entry_id);
  EXPECT_EQ(id.batch_index, -1);

  // The next message is whole, with the next sequence id.
  const pulsarc_tb_entry &last = s->entries[s->num_entries - 1];
  EXPECT_FALSE(last.is_chunk);
  EXPECT_EQ(last.sequence_id, seq + 1);
  EXPECT_EQ(done.at(1).id.first_chunk_entry_id, -1);

  pulsarc_tb_stats st = Stats();
  EXPECT_EQ(st.chunks, chunks.size());
  EXPECT_EQ(st.messages, 2u);
}

TEST_F(Chunking, WithoutChunkingTheSameMessageFailsBeforeAnythingIsSent) {
  ProducerConf conf;
  conf.Set("batching", "false").Set("max_message_size", std::to_string(kMax));
  pulsarc_producer_t *p = Create("chunk-off", conf.get());
  ASSERT_NE(p, nullptr);
  const std::string big = RandomBytes(3 * kMax, 12);
  EXPECT_EQ(SendWait(p, big), PULSARC_ERR_MESSAGE_TOO_BIG);
  ProducerConf zconf;
  zconf.Set("batching", "false")
      .Set("max_message_size", std::to_string(kMax))
      .Set("compression", "lz4");
  pulsarc_producer_t *pz = Create("chunk-off-lz4", zconf.get());
  ASSERT_NE(pz, nullptr);
  EXPECT_EQ(SendWait(pz, big), PULSARC_ERR_MESSAGE_TOO_BIG);
  ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK);
  ASSERT_EQ(pulsarc_producer_flush(pz, kWaitMs), PULSARC_OK);
  EXPECT_EQ(Stats().entries, 0u);
  EXPECT_EQ(Stats().frames_in > 0, true); // connected and registered, nothing stored
}

TEST_F(Chunking, ChunkingWithBatchingIsAConflict) {
  ProducerConf conf;
  conf.Set("chunking", "true"); // batching stays on (the default)
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "chunk-conflict", conf.get(), &p),
            PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(Stats().lookups, 0u);
  EXPECT_EQ(Stats().partition_lookups, 0u);
}

// Every codec, sizes from 0 to 3x the limit, incompressible data (so the
// compressed form still needs chunks): each message completes once and
// reassembles, after decompression, to what was sent.
TEST_F(Chunking, EveryCodecFromEmptyToThreeTimesTheLimit) {
  const std::vector<size_t> sizes = {0,    1,        kMax / 2, kMax - 200,
                                     kMax, kMax + 1, 2 * kMax, 3 * kMax};
  for (int codec = 0; codec <= 4; codec++) {
    const std::string topic = std::string("chunk-sweep-") + CodecName(codec);
    ProducerConf conf;
    conf.Set("chunking", "true")
        .Set("batching", "false")
        .Set("compression", CodecName(codec))
        .Set("max_message_size", std::to_string(kMax));
    pulsarc_producer_t *p = Create(topic, conf.get());
    ASSERT_NE(p, nullptr);
    std::vector<std::string> payloads;
    Completions done(sizes.size());
    for (size_t i = 0; i < sizes.size(); i++) {
      payloads.push_back(RandomBytes(sizes[i], static_cast<uint32_t>(100 * codec + i)));
      ASSERT_EQ(pulsarc_producer_send_cb(p, payloads[i].data(), payloads[i].size(), nullptr,
                                         Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    }
    ASSERT_EQ(pulsarc_producer_flush(p, kWaitMs), PULSARC_OK) << CodecName(codec);
    ASSERT_EQ(done.Total(), sizes.size());
    Snapshot s(tb_, topic);
    ASSERT_GT(s->num_entries, 0u);
    const uint64_t base = s->entries[0].sequence_id;
    const char *name = pulsarc_producer_name(p);
    ASSERT_NE(name, nullptr);
    for (size_t i = 0; i < sizes.size(); i++) {
      SCOPED_TRACE(std::string(CodecName(codec)) + " size " + std::to_string(sizes[i]));
      EXPECT_EQ(done.at(i).calls.load(), 1);
      EXPECT_EQ(done.at(i).err.load(), PULSARC_OK);
      std::vector<const pulsarc_tb_entry *> es = EntriesOf(s.get(), base + i);
      ASSERT_FALSE(es.empty());
      bool ok = false;
      std::string back = Reassemble(es, name, codec, &ok);
      EXPECT_TRUE(ok);
      EXPECT_TRUE(back == payloads[i]) << back.size() << " bytes back";
      if (sizes[i] >= kMax + 1) {
        EXPECT_GE(es.size(), 2u) << "should have been chunked";
      }
      if (sizes[i] <= kMax / 2) {
        EXPECT_EQ(es.size(), 1u) << "should not have been chunked";
      }
      const pulsarc_msg_id_t &id = done.at(i).id;
      EXPECT_EQ(id.entry_id, es.back()->entry_id);
      if (es.size() > 1) {
        EXPECT_EQ(id.first_chunk_entry_id, es.front()->entry_id);
      } else {
        EXPECT_EQ(id.first_chunk_entry_id, -1);
      }
    }
    EXPECT_EQ(s->messages, sizes.size());
  }
}

// The broker's max_message_size (from CONNECTED) caps the producer's own.
class ChunkingSmallBroker : public BrokerTest {
protected:
  void BrokerOptions(pulsarc_tb_opts *o) override { o->max_message_size = kMax; }
};

TEST_F(ChunkingSmallBroker, BrokerLimitCapsTheChunkSize) {
  ProducerConf conf;
  conf.Set("chunking", "true").Set("batching", "false"); // max_message_size: 5 MiB default
  pulsarc_producer_t *p = Create("chunk-broker-cap", conf.get());
  ASSERT_NE(p, nullptr);
  const std::string big = RandomBytes(3 * kMax, 21);
  pulsarc_msg_id_t id{};
  ASSERT_EQ(SendWait(p, big, nullptr, &id), PULSARC_OK);
  Snapshot s(tb_, "chunk-broker-cap");
  ASSERT_GE(s->num_entries, 3u);
  bool ok = false;
  std::string back =
      Reassemble(EntriesOf(s.get(), s->entries[0].sequence_id), pulsarc_producer_name(p), 0, &ok);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(back == big);
  EXPECT_EQ(Stats().protocol_errors, 0u);

  ProducerConf plain;
  plain.Set("batching", "false");
  pulsarc_producer_t *q = Create("chunk-broker-cap-off", plain.get());
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(SendWait(q, big), PULSARC_ERR_MESSAGE_TOO_BIG);
  Snapshot s2(tb_, "chunk-broker-cap-off");
  EXPECT_EQ(s2->num_entries, 0u);
}

} // namespace
} // namespace pulsarc_it
