// Batch bodies: the hand-written encoder against protobuf-c, round trips
// through pc_batch_next, and malformed bodies.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "codec/frame.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

Bytes body_bytes(const pc_buf &b) { return Bytes(b.data, b.data + b.len); }

TEST(CodecBatch, PlainIsByteIdenticalToProtobufC) {
  const uint64_t seqs[] = {0,
                           1,
                           127,
                           128,
                           300,
                           16383,
                           16384,
                           (1ull << 21) - 1,
                           1ull << 21,
                           1ull << 28,
                           1ull << 35,
                           (1ull << 56) + 5,
                           1ull << 63,
                           UINT64_MAX,
                           1700000000000ull};
  const size_t lens[] = {0, 1, 5, 127, 128, 129, 16383, 16384, 70000, (1u << 21) + 3};
  std::string payload((1u << 21) + 3, 'q');
  for (uint64_t seq : seqs) {
    for (size_t len : lens) {
      pc_buf plain = {}, full = {};
      ASSERT_EQ(pc_batch_append_plain(&plain, seq, payload.data(), len), 0);
      Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
      smd.has_sequence_id = 1;
      smd.sequence_id = seq;
      ASSERT_EQ(pc_batch_append(&full, &smd, payload.data(), len), 0);
      ASSERT_EQ(body_bytes(plain), body_bytes(full)) << "seq=" << seq << " len=" << len;
      pc_buf_free(&plain);
      pc_buf_free(&full);
    }
  }
}

TEST(CodecBatch, PlainRandomValuesMatchProtobufC) {
  std::mt19937_64 rng(7);
  std::string payload(4096, 'x');
  pc_buf plain = {}, full = {};
  for (int i = 0; i < 5000; i++) {
    uint64_t seq = rng() >> (rng() % 64);
    size_t len = rng() % payload.size();
    ASSERT_EQ(pc_batch_append_plain(&plain, seq, payload.data(), len), 0);
    Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
    smd.has_sequence_id = 1;
    smd.sequence_id = seq;
    ASSERT_EQ(pc_batch_append(&full, &smd, payload.data(), len), 0);
  }
  EXPECT_EQ(body_bytes(plain), body_bytes(full));
  pc_buf_free(&plain);
  pc_buf_free(&full);
}

TEST(CodecBatch, AppendSetsPayloadSizeFromLength) {
  Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
  smd.payload_size = 999; // stale value from the caller must not leak out
  pc_buf b = {};
  ASSERT_EQ(pc_batch_append(&b, &smd, "abc", 3), 0);
  size_t off = 0, smd_len, plen;
  const uint8_t *m, *p;
  ASSERT_EQ(pc_batch_next(b.data, b.len, &off, &m, &smd_len, &p, &plen), 1);
  EXPECT_EQ(plen, 3u);
  EXPECT_EQ(memcmp(p, "abc", 3), 0);
  pc_buf_free(&b);
}

struct Entry {
  std::string payload;
  uint64_t seq;
  std::string key;
  std::vector<std::pair<std::string, std::string>> props;
  bool plain;
};

TEST(CodecBatch, RoundTripMixedEntries) {
  std::mt19937 rng(11);
  std::vector<Entry> entries;
  for (int i = 0; i < 300; i++) {
    Entry e;
    e.payload.resize(rng() % 300);
    for (auto &c : e.payload)
      c = static_cast<char>(rng());
    e.seq = 1000 + i;
    e.plain = rng() % 2;
    if (!e.plain) {
      e.key = "key-" + std::to_string(rng() % 50);
      for (unsigned k = 0; k < rng() % 4; k++)
        e.props.push_back({"p" + std::to_string(k), std::string(rng() % 20, 'v')});
    }
    entries.push_back(e);
  }
  pc_buf body = {};
  for (const auto &e : entries) {
    if (e.plain) {
      ASSERT_EQ(pc_batch_append_plain(&body, e.seq, e.payload.data(), e.payload.size()), 0);
      continue;
    }
    Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
    std::vector<Pulsarc__KeyValue> kvs(e.props.size());
    std::vector<Pulsarc__KeyValue *> kvp;
    for (size_t k = 0; k < e.props.size(); k++) {
      pulsarc__key_value__init(&kvs[k]);
      kvs[k].key = const_cast<char *>(e.props[k].first.c_str());
      kvs[k].value = const_cast<char *>(e.props[k].second.c_str());
      kvp.push_back(&kvs[k]);
    }
    smd.n_properties = kvp.size();
    smd.properties = kvp.data();
    smd.partition_key = const_cast<char *>(e.key.c_str());
    smd.has_sequence_id = 1;
    smd.sequence_id = e.seq;
    ASSERT_EQ(pc_batch_append(&body, &smd, e.payload.data(), e.payload.size()), 0);
  }

  size_t off = 0, smd_len, plen;
  const uint8_t *m, *p;
  size_t i = 0;
  int rc;
  while ((rc = pc_batch_next(body.data, body.len, &off, &m, &smd_len, &p, &plen)) == 1) {
    ASSERT_LT(i, entries.size());
    const Entry &e = entries[i++];
    ASSERT_EQ(std::string(reinterpret_cast<const char *>(p), plen), e.payload);
    Pulsarc__SingleMessageMetadata *smd =
        pulsarc__single_message_metadata__unpack(nullptr, smd_len, m);
    ASSERT_NE(smd, nullptr);
    EXPECT_EQ(smd->payload_size, static_cast<int32_t>(e.payload.size()));
    EXPECT_TRUE(smd->has_sequence_id);
    EXPECT_EQ(smd->sequence_id, e.seq);
    if (e.plain) {
      EXPECT_EQ(smd->partition_key, nullptr);
      EXPECT_EQ(smd->n_properties, 0u);
    } else {
      EXPECT_STREQ(smd->partition_key, e.key.c_str());
      ASSERT_EQ(smd->n_properties, e.props.size());
      for (size_t k = 0; k < e.props.size(); k++) {
        EXPECT_STREQ(smd->properties[k]->key, e.props[k].first.c_str());
        EXPECT_STREQ(smd->properties[k]->value, e.props[k].second.c_str());
      }
    }
    pulsarc__single_message_metadata__free_unpacked(smd, nullptr);
  }
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(i, entries.size());
  EXPECT_EQ(off, body.len);
  pc_buf_free(&body);
}

TEST(CodecBatch, EmptyBodyEndsAtOnce) {
  size_t off = 0, smd_len, plen;
  const uint8_t *m, *p;
  EXPECT_EQ(pc_batch_next(nullptr, 0, &off, &m, &smd_len, &p, &plen), 0);
}

TEST(CodecBatch, TruncatedBodiesAreMalformedNeverOverread) {
  pc_buf body = {};
  for (uint64_t s = 0; s < 5; s++)
    ASSERT_EQ(pc_batch_append_plain(&body, 1000 + s, "payload!", 8), 0); // equal-size entries
  // Cut everywhere; each copy is exactly sized so ASan sees any overread.
  for (size_t cut = 0; cut < body.len; cut++) {
    Bytes part(body.data, body.data + cut);
    size_t off = 0, smd_len, plen;
    const uint8_t *m, *p;
    int rc, n = 0;
    while ((rc = pc_batch_next(part.data(), part.size(), &off, &m, &smd_len, &p, &plen)) == 1)
      n++;
    bool on_boundary = cut % (body.len / 5) == 0;
    EXPECT_EQ(rc, on_boundary ? 0 : -1) << "cut=" << cut;
    EXPECT_EQ(static_cast<size_t>(n), cut / (body.len / 5)) << "cut=" << cut;
  }
  pc_buf_free(&body);
}

TEST(CodecBatch, MalformedMetadataRejected) {
  size_t off, smd_len, plen;
  const uint8_t *m, *p;
  struct Case {
    const char *what;
    Bytes body;
  } cases[] = {
      {"no payload_size", {0, 0, 0, 2, 0x40, 0x01}},
      {"payload_size past end", {0, 0, 0, 2, 0x18, 0x05, 'a'}},
      {"negative payload_size",
       {0, 0, 0, 11, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
      {"smd size past end", {0, 0, 0, 9, 0x18, 0x00}},
      {"truncated varint", {0, 0, 0, 2, 0x18, 0x80}},
      {"group wire type", {0, 0, 0, 2, 0x1b, 0x00}},
      {"bad length-delimited", {0, 0, 0, 4, 0x18, 0x00, 0x12, 0x05}},
      {"short size field", {0, 0, 1}},
  };
  for (const auto &c : cases) {
    off = 0;
    EXPECT_EQ(pc_batch_next(c.body.data(), c.body.size(), &off, &m, &smd_len, &p, &plen), -1)
        << c.what;
  }
  // Unknown fields of every wire type are skipped.
  Bytes ok = {0, 0, 0, 16, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 2, 3, 4, 0x18, 0x01, 'Z'};
  off = 0;
  ASSERT_EQ(pc_batch_next(ok.data(), ok.size(), &off, &m, &smd_len, &p, &plen), 1);
  EXPECT_EQ(plen, 1u);
  EXPECT_EQ(*p, 'Z');
}

} // namespace
