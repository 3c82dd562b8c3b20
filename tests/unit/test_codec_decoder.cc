// Incremental decoder: identical results however the bytes are split,
// rejection of malformed and oversize frames, checksum reporting, buffer
// reuse, and a seal -> decode -> unpack property test.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "codec/crc32c.h"
#include "codec/frame.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

void append(Bytes &out, const pc_buf &b, size_t from = 0) {
  out.insert(out.end(), b.data + from, b.data + b.len);
}

Bytes simple_frame(const Pulsarc__BaseCommand &cmd) {
  pc_buf b = {};
  EXPECT_EQ(pc_frame_append_command(&b, &cmd), 0);
  Bytes out;
  append(out, b);
  pc_buf_free(&b);
  return out;
}

Bytes ping_frame() {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandPing ping = PULSARC__COMMAND_PING__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
  cmd.ping = &ping;
  return simple_frame(cmd);
}

Bytes send_frame(uint64_t seq, const std::string &payload, size_t headroom = 64) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  send.producer_id = 7;
  send.sequence_id = seq;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &send;
  md.producer_name = const_cast<char *>("prod");
  md.sequence_id = seq;
  md.publish_time = 1700000000000ull + seq;
  pc_buf b = {};
  EXPECT_EQ(pc_buf_reserve(&b, headroom + payload.size()), 0);
  b.len = headroom;
  EXPECT_EQ(pc_buf_append(&b, payload.data(), payload.size()), 0);
  size_t start;
  EXPECT_EQ(pc_frame_seal_payload(&b, headroom, &cmd, &md, &start), 0);
  Bytes out;
  append(out, b, start);
  pc_buf_free(&b);
  return out;
}

size_t cmd_size_of(const Bytes &f) { return pc_get_u32be(f.data() + 4); }

// Inserts a broker-entry-metadata section after the command, as a broker
// does for MESSAGE frames when the client asked for it.
Bytes with_broker_entry_metadata(const Bytes &f, uint64_t ts, uint64_t index) {
  Pulsarc__BrokerEntryMetadata bem = PULSARC__BROKER_ENTRY_METADATA__INIT;
  bem.has_broker_timestamp = 1;
  bem.broker_timestamp = ts;
  bem.has_index = 1;
  bem.index = index;
  Bytes packed(pulsarc__broker_entry_metadata__get_packed_size(&bem));
  pulsarc__broker_entry_metadata__pack(&bem, packed.data());
  size_t at = 8 + cmd_size_of(f);
  Bytes out(f.begin(), f.begin() + at);
  out.push_back(0x0e);
  out.push_back(0x02);
  uint8_t sz[4];
  pc_put_u32be(sz, static_cast<uint32_t>(packed.size()));
  out.insert(out.end(), sz, sz + 4);
  out.insert(out.end(), packed.begin(), packed.end());
  out.insert(out.end(), f.begin() + at, f.end());
  pc_put_u32be(out.data(), static_cast<uint32_t>(out.size() - 4));
  return out;
}

// What a frame decoded to, copied out of the decoder's buffer.
struct Seen {
  int type;
  bool has_payload, has_checksum, checksum_ok;
  Bytes metadata, payload, raw;
  bool operator==(const Seen &o) const {
    return type == o.type && has_payload == o.has_payload && has_checksum == o.has_checksum &&
           checksum_ok == o.checksum_ok && metadata == o.metadata && payload == o.payload &&
           raw == o.raw;
  }
};

Seen capture(const pc_frame &f) {
  Seen s;
  s.type = f.cmd->type;
  s.has_payload = f.has_payload;
  s.has_checksum = f.has_checksum;
  s.checksum_ok = f.checksum_ok;
  if (f.has_payload) {
    s.metadata.assign(f.metadata, f.metadata + f.metadata_len);
    s.payload.assign(f.payload, f.payload + f.payload_len);
  }
  s.raw.assign(f.raw, f.raw + f.raw_len);
  return s;
}

// Drains every complete frame; returns the final rc (0 or an error).
int drain(pc_decoder *d, std::vector<Seen> *out) {
  pc_frame f;
  int rc;
  while ((rc = pc_decoder_next(d, &f)) == 1)
    out->push_back(capture(f));
  return rc;
}

Bytes mixed_stream(std::vector<size_t> *bad_crc_index) {
  std::mt19937 rng(5);
  Bytes s;
  size_t n = 0;
  for (int i = 0; i < 120; i++, n++) {
    Bytes f;
    switch (i % 4) {
    case 0:
      f = ping_frame();
      break;
    case 1: {
      std::string payload(rng() % 2000, 'a' + i % 26);
      f = send_frame(i, payload, rng() % 100);
      break;
    }
    case 2:
      f = with_broker_entry_metadata(send_frame(i, "entry-md"), 1700000000000ull, i);
      break;
    case 3: {
      f = send_frame(i, "will be corrupted");
      f.back() ^= 0x40; // payload bit flip: checksum mismatch, frame intact
      bad_crc_index->push_back(n);
      break;
    }
    }
    s.insert(s.end(), f.begin(), f.end());
  }
  return s;
}

std::vector<Seen> decode_whole(const Bytes &stream) {
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  EXPECT_EQ(pc_decoder_feed(&d, stream.data(), stream.size()), 0);
  std::vector<Seen> seen;
  EXPECT_EQ(drain(&d, &seen), 0);
  pc_decoder_free(&d);
  return seen;
}

TEST(CodecDecoder, WholeStreamDecodes) {
  std::vector<size_t> bad;
  Bytes stream = mixed_stream(&bad);
  auto seen = decode_whole(stream);
  ASSERT_EQ(seen.size(), 120u);
  size_t raw_total = 0;
  for (size_t i = 0; i < seen.size(); i++) {
    raw_total += seen[i].raw.size();
    bool corrupted = std::find(bad.begin(), bad.end(), i) != bad.end();
    EXPECT_EQ(seen[i].checksum_ok, !corrupted) << i;
    if (i % 4 == 0) {
      EXPECT_EQ(seen[i].type, PULSARC__BASE_COMMAND__TYPE__PING);
      EXPECT_FALSE(seen[i].has_payload);
      EXPECT_FALSE(seen[i].has_checksum);
    } else {
      EXPECT_EQ(seen[i].type, PULSARC__BASE_COMMAND__TYPE__SEND);
      EXPECT_TRUE(seen[i].has_payload);
      EXPECT_TRUE(seen[i].has_checksum);
      Pulsarc__MessageMetadata *md =
          pc_metadata_unpack(seen[i].metadata.data(), seen[i].metadata.size());
      ASSERT_NE(md, nullptr) << i;
      EXPECT_EQ(md->sequence_id, i);
      pulsarc__message_metadata__free_unpacked(md, nullptr);
    }
    if (i % 4 == 2) {
      EXPECT_EQ(std::string(seen[i].payload.begin(), seen[i].payload.end()), "entry-md");
    }
  }
  EXPECT_EQ(raw_total, stream.size());
}

TEST(CodecDecoder, OneByteAtATimeMatchesWhole) {
  std::vector<size_t> bad;
  Bytes stream = mixed_stream(&bad);
  auto want = decode_whole(stream);
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  std::vector<Seen> seen;
  for (uint8_t byte : stream) {
    ASSERT_EQ(pc_decoder_feed(&d, &byte, 1), 0);
    ASSERT_EQ(drain(&d, &seen), 0);
  }
  EXPECT_EQ(seen, want);
  pc_decoder_free(&d);
}

TEST(CodecDecoder, RandomSplitsThroughSpaceCommitMatchWhole) {
  std::vector<size_t> bad;
  Bytes stream = mixed_stream(&bad);
  auto want = decode_whole(stream);
  for (uint32_t seed = 1; seed <= 30; seed++) {
    std::mt19937 rng(seed);
    pc_decoder d;
    pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
    std::vector<Seen> seen;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t want_n = 1 + rng() % (seed % 3 == 0 ? 17 : 3000);
      size_t avail = 0;
      uint8_t *p = pc_decoder_space(&d, want_n, &avail);
      ASSERT_NE(p, nullptr);
      ASSERT_GE(avail, want_n);
      // Like read(2): may return fewer bytes than the space offered.
      size_t n = std::min({want_n, avail, stream.size() - pos});
      memcpy(p, stream.data() + pos, n);
      pc_decoder_commit(&d, n);
      pos += n;
      ASSERT_EQ(drain(&d, &seen), 0);
    }
    EXPECT_EQ(seen, want) << "seed " << seed;
    pc_decoder_free(&d);
  }
}

TEST(CodecDecoder, BufferIsReusedNotGrownForever) {
  Bytes ping = ping_frame();
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  pc_frame f;
  // Feeds never line up with frames, so a partial frame is always left
  // over: the buffer must be compacted, not grown.
  size_t pos = 0;
  int frames = 0;
  for (int i = 0; i < 20000; i++) {
    size_t n = 9; // not a divisor of 13: frames straddle every feed
    Bytes chunk;
    for (size_t k = 0; k < n; k++)
      chunk.push_back(ping[(pos + k) % ping.size()]);
    pos += n;
    ASSERT_EQ(pc_decoder_feed(&d, chunk.data(), chunk.size()), 0);
    int rc;
    while ((rc = pc_decoder_next(&d, &f)) == 1) {
      frames++;
      ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__PING);
    }
    ASSERT_EQ(rc, 0);
  }
  EXPECT_EQ(frames, static_cast<int>(pos / ping.size()));
  EXPECT_LE(d.in.cap, 4096u);
  pc_decoder_free(&d);
}

int decode_one(const Bytes &bytes, uint32_t max = PC_FRAME_DEFAULT_MAX, pc_frame *out = nullptr) {
  pc_decoder d;
  pc_decoder_init(&d, max);
  EXPECT_EQ(pc_decoder_feed(&d, bytes.data(), bytes.size()), 0);
  pc_frame f;
  int rc = pc_decoder_next(&d, &f);
  if (out)
    *out = f;
  // A failed stream keeps failing the same way.
  if (rc < 0) {
    pc_frame g;
    EXPECT_EQ(pc_decoder_next(&d, &g), rc);
  }
  pc_decoder_free(&d);
  return rc;
}

TEST(CodecDecoder, OversizeDetectedFromSizeFieldAlone) {
  pc_decoder d;
  pc_decoder_init(&d, 100);
  uint8_t size_only[4];
  pc_put_u32be(size_only, 101);
  pc_frame f;
  ASSERT_EQ(pc_decoder_feed(&d, size_only, 3), 0);
  EXPECT_EQ(pc_decoder_next(&d, &f), 0);
  ASSERT_EQ(pc_decoder_feed(&d, size_only + 3, 1), 0);
  EXPECT_EQ(pc_decoder_next(&d, &f), PC_DEC_OVERSIZE);
  pc_decoder_free(&d);

  pc_put_u32be(size_only, 0xffffffffu);
  EXPECT_EQ(decode_one(Bytes(size_only, size_only + 4)), PC_DEC_OVERSIZE);
}

TEST(CodecDecoder, FrameAtExactLimitAccepted) {
  Bytes f = send_frame(1, std::string(500, 'x'));
  uint32_t total = pc_get_u32be(f.data());
  EXPECT_EQ(decode_one(f, total), 1);
  EXPECT_EQ(decode_one(f, total - 1), PC_DEC_OVERSIZE);
}

TEST(CodecDecoder, ZeroMaxMeansDefault) {
  pc_decoder d;
  pc_decoder_init(&d, 0);
  EXPECT_EQ(d.max_frame, static_cast<uint32_t>(PC_FRAME_DEFAULT_MAX));
  pc_decoder_free(&d);
}

TEST(CodecDecoder, MalformedFrames) {
  Bytes good = send_frame(3, "payload-bytes");
  const size_t cmd = cmd_size_of(good);
  const size_t after_cmd = 8 + cmd;
  auto fix_total = [](Bytes b) {
    pc_put_u32be(b.data(), static_cast<uint32_t>(b.size() - 4));
    return b;
  };
  struct Case {
    const char *what;
    Bytes bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"total below 4", {0, 0, 0, 3, 0, 0, 0}});
  cases.push_back({"cmd_size past total", {0, 0, 0, 5, 0, 0, 0, 2, 0x08}});
  cases.push_back({"empty command (type missing)", {0, 0, 0, 4, 0, 0, 0, 0}});
  cases.push_back({"garbage protobuf", {0, 0, 0, 7, 0, 0, 0, 3, 0xff, 0xff, 0xff}});
  {
    Bytes b = good;
    b[after_cmd] = 0x0e;
    b[after_cmd + 1] = 0x03;
    cases.push_back({"bad magic", b});
  }
  {
    Bytes b(good.begin(), good.begin() + after_cmd);
    b.push_back(0x0e);
    cases.push_back({"one stray byte after command", fix_total(b)});
  }
  {
    Bytes b(good.begin(), good.begin() + after_cmd + 8);
    cases.push_back({"checksum section truncated", fix_total(b)});
  }
  {
    Bytes b = good;
    pc_put_u32be(b.data() + after_cmd + 6, static_cast<uint32_t>(b.size()));
    cases.push_back({"metadata size past frame", b});
  }
  {
    Bytes b(good.begin(), good.begin() + after_cmd);
    Bytes tail = {0x0e, 0x02, 0, 0, 0, 50, 1, 2};
    b.insert(b.end(), tail.begin(), tail.end());
    cases.push_back({"broker entry metadata past frame", fix_total(b)});
  }
  {
    Bytes b(good.begin(), good.begin() + after_cmd);
    Bytes tail = {0x0e, 0x02, 0, 0, 0, 0};
    b.insert(b.end(), tail.begin(), tail.end());
    cases.push_back({"broker entry metadata, then nothing", fix_total(b)});
  }
  {
    Bytes b(good.begin(), good.begin() + after_cmd);
    Bytes tail = {0x0e, 0x02, 0, 0};
    b.insert(b.end(), tail.begin(), tail.end());
    cases.push_back({"broker entry metadata size truncated", fix_total(b)});
  }
  for (const auto &c : cases)
    EXPECT_EQ(decode_one(c.bytes), PC_DEC_MALFORMED) << c.what;
}

TEST(CodecDecoder, BadCommandSizeDetectedBeforeBody) {
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  uint8_t hdr[8];
  pc_put_u32be(hdr, 1000);
  pc_put_u32be(hdr + 4, 997);
  ASSERT_EQ(pc_decoder_feed(&d, hdr, 8), 0);
  pc_frame f;
  EXPECT_EQ(pc_decoder_next(&d, &f), PC_DEC_MALFORMED);
  pc_decoder_free(&d);
}

TEST(CodecDecoder, ChecksumMismatchIsReportedNotAnError) {
  Bytes f = send_frame(9, "abcdef");
  const size_t crc_at = 8 + cmd_size_of(f) + 2;
  for (size_t i = crc_at; i < f.size(); i++) {
    Bytes g = f;
    g[i] ^= 0x01;
    pc_frame fr;
    int rc = decode_one(g, PC_FRAME_DEFAULT_MAX, &fr);
    if (i >= crc_at + 4 && i < crc_at + 8) {
      // Flipping the metadata size makes the section inconsistent (too
      // big) or shifts the split between metadata and payload; either way
      // the CRC catches it when the frame is still structurally valid.
      EXPECT_TRUE(rc == PC_DEC_MALFORMED || (rc == 1 && !fr.checksum_ok)) << i;
      continue;
    }
    ASSERT_EQ(rc, 1) << i;
    EXPECT_TRUE(fr.has_checksum);
    EXPECT_FALSE(fr.checksum_ok) << "flipped byte " << i;
  }
}

TEST(CodecDecoder, SpaceGivesAtLeastMin) {
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  size_t avail = 0;
  uint8_t *p = pc_decoder_space(&d, 65536, &avail);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(avail, 65536u);
  memset(p, 0, avail); // writable in full (ASan checks)
  pc_decoder_commit(&d, 0);
  pc_frame f;
  EXPECT_EQ(pc_decoder_next(&d, &f), 0);
  pc_decoder_free(&d);
}

// ------------------------------------------------------------ property test

std::string rand_str(std::mt19937 &rng, size_t max) {
  std::string s(rng() % (max + 1), '\0');
  for (auto &c : s)
    c = static_cast<char>('!' + rng() % 90);
  return s;
}

TEST(CodecDecoder, PropertySealDecodeUnpackRoundTrip) {
  std::mt19937 rng(2024);
  for (int iter = 0; iter < 300; iter++) {
    // Random metadata: strings, repeated fields, optional fields.
    std::string producer = rand_str(rng, 40), key = rand_str(rng, 20);
    std::vector<std::string> pk, pv;
    for (unsigned i = 0; i < rng() % 5; i++) {
      pk.push_back(rand_str(rng, 10));
      pv.push_back(rand_str(rng, 30));
    }
    std::vector<Pulsarc__KeyValue> kvs(pk.size());
    std::vector<Pulsarc__KeyValue *> kvp;
    for (size_t i = 0; i < pk.size(); i++) {
      pulsarc__key_value__init(&kvs[i]);
      kvs[i].key = const_cast<char *>(pk[i].c_str());
      kvs[i].value = const_cast<char *>(pv[i].c_str());
      kvp.push_back(&kvs[i]);
    }
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    md.producer_name = const_cast<char *>(producer.c_str());
    md.sequence_id = (static_cast<uint64_t>(rng()) << 32) | rng();
    md.publish_time = 1700000000000ull + rng();
    md.n_properties = kvp.size();
    md.properties = kvp.data();
    if (rng() % 2)
      md.partition_key = const_cast<char *>(key.c_str());
    if (rng() % 2) {
      md.has_compression = 1;
      md.compression = static_cast<Pulsarc__CompressionType>(rng() % 5);
      md.has_uncompressed_size = 1;
      md.uncompressed_size = rng();
    }
    if (rng() % 2) {
      md.has_num_messages_in_batch = 1;
      md.num_messages_in_batch = static_cast<int32_t>(rng() % 1000);
    }
    if (rng() % 3 == 0) {
      md.has_event_time = 1;
      md.event_time = rng();
    }
    std::string okey = rand_str(rng, 8);
    if (rng() % 3 == 0) {
      md.has_ordering_key = 1;
      md.ordering_key.data = reinterpret_cast<uint8_t *>(okey.data());
      md.ordering_key.len = okey.size();
    }
    Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
    Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
    send.producer_id = rng();
    send.sequence_id = md.sequence_id;
    if (rng() % 2) {
      send.has_num_messages = 1;
      send.num_messages = static_cast<int32_t>(rng() % 1000);
    }
    cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;

    Bytes payload(rng() % (iter % 10 == 0 ? 200000 : 3000));
    for (auto &b : payload)
      b = static_cast<uint8_t>(rng());
    size_t headroom = rng() % 300;
    pc_buf buf = {};
    ASSERT_EQ(pc_buf_reserve(&buf, headroom), 0);
    buf.len = headroom;
    ASSERT_EQ(pc_buf_append(&buf, payload.data(), payload.size()), 0);
    size_t start;
    ASSERT_EQ(pc_frame_seal_payload(&buf, headroom, &cmd, &md, &start), 0);

    // Decode with random splits.
    pc_decoder d;
    pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
    size_t pos = start;
    pc_frame f;
    int rc = 0;
    while (pos < buf.len) {
      size_t n = std::min<size_t>(1 + rng() % 5000, buf.len - pos);
      ASSERT_EQ(pc_decoder_feed(&d, buf.data + pos, n), 0);
      pos += n;
      rc = pc_decoder_next(&d, &f);
      ASSERT_GE(rc, 0);
      if (rc == 1)
        break;
    }
    ASSERT_EQ(rc, 1);
    ASSERT_EQ(pos, buf.len);
    EXPECT_EQ(f.raw_len, buf.len - start);
    EXPECT_TRUE(f.checksum_ok);
    ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__SEND);
    EXPECT_EQ(f.cmd->send->producer_id, send.producer_id);
    EXPECT_EQ(f.cmd->send->sequence_id, send.sequence_id);
    EXPECT_EQ(f.cmd->send->has_num_messages, send.has_num_messages);
    ASSERT_EQ(Bytes(f.payload, f.payload + f.payload_len), payload);

    Pulsarc__MessageMetadata *got = pc_metadata_unpack(f.metadata, f.metadata_len);
    ASSERT_NE(got, nullptr);
    EXPECT_STREQ(got->producer_name, producer.c_str());
    EXPECT_EQ(got->sequence_id, md.sequence_id);
    EXPECT_EQ(got->publish_time, md.publish_time);
    ASSERT_EQ(got->n_properties, pk.size());
    for (size_t i = 0; i < pk.size(); i++) {
      EXPECT_STREQ(got->properties[i]->key, pk[i].c_str());
      EXPECT_STREQ(got->properties[i]->value, pv[i].c_str());
    }
    EXPECT_EQ(got->partition_key != nullptr, md.partition_key != nullptr);
    EXPECT_EQ(got->has_compression, md.has_compression);
    EXPECT_EQ(got->compression, md.compression);
    EXPECT_EQ(got->uncompressed_size, md.uncompressed_size);
    EXPECT_EQ(got->num_messages_in_batch, md.num_messages_in_batch);
    EXPECT_EQ(got->event_time, md.event_time);
    EXPECT_EQ(got->has_ordering_key, md.has_ordering_key);
    // Re-encoding what we decoded gives the exact metadata bytes.
    Bytes again(pulsarc__message_metadata__get_packed_size(got));
    pulsarc__message_metadata__pack(got, again.data());
    EXPECT_EQ(again, Bytes(f.metadata, f.metadata + f.metadata_len));
    pulsarc__message_metadata__free_unpacked(got, nullptr);
    pc_decoder_free(&d);
    pc_buf_free(&buf);
  }
}

TEST(CodecDecoder, MetadataUnpackRejectsGarbage) {
  const uint8_t junk[] = {0xff, 0xff, 0xff};
  EXPECT_EQ(pc_metadata_unpack(junk, sizeof junk), nullptr);
  // Required fields missing.
  EXPECT_EQ(pc_metadata_unpack(junk, 0), nullptr);
}

} // namespace
