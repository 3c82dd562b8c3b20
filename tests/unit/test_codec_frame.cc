// Frame encoding: byte-for-byte against the hand-encoded frames of
// docs/protocol-notes.md §1.4, and pc_frame_seal_payload's headroom handling.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "codec/crc32c.h"
#include "codec/frame.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(const char *s) {
  Bytes out;
  unsigned v;
  int n;
  while (sscanf(s, " %2x%n", &v, &n) == 1) {
    out.push_back(static_cast<uint8_t>(v));
    s += n;
  }
  return out;
}

Bytes buf_bytes(const pc_buf &b, size_t from = 0) { return Bytes(b.data + from, b.data + b.len); }

Bytes command_frame(const Pulsarc__BaseCommand &cmd) {
  pc_buf b = {};
  EXPECT_EQ(pc_frame_append_command(&b, &cmd), 0);
  Bytes out = buf_bytes(b);
  pc_buf_free(&b);
  return out;
}

TEST(CodecFrame, PingPongExactBytes) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandPing ping = PULSARC__COMMAND_PING__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
  cmd.ping = &ping;
  EXPECT_EQ(command_frame(cmd), hex("00 00 00 09 00 00 00 05 08 12 92 01 00"));

  Pulsarc__BaseCommand cmd2 = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandPong pong = PULSARC__COMMAND_PONG__INIT;
  cmd2.type = PULSARC__BASE_COMMAND__TYPE__PONG;
  cmd2.pong = &pong;
  EXPECT_EQ(command_frame(cmd2), hex("00 00 00 09 00 00 00 05 08 13 9a 01 00"));
}

TEST(CodecFrame, ConnectExample) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandConnect c = PULSARC__COMMAND_CONNECT__INIT;
  c.client_version = const_cast<char *>("c-test");
  c.auth_method_name = const_cast<char *>("none");
  c.has_protocol_version = 1;
  c.protocol_version = 21;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  cmd.connect = &c;
  Bytes ours = command_frame(cmd);
  // docs/protocol-notes.md writes field 5 (auth_method_name) before field 4
  // (protocol_version), upstream's declaration order. protobuf-c, like the
  // official protobuf runtimes, emits fields by number; both orders are valid
  // protobuf. Check the canonical bytes exactly, and that the notes' bytes
  // decode to the same command.
  EXPECT_EQ(ours, hex("00 00 00 18 00 00 00 14 08 02 12 10 0a 06 63 2d 74 65 73 74 "
                      "20 15 2a 04 6e 6f 6e 65"));
  Bytes notes = hex("00 00 00 18 00 00 00 14 08 02 12 10 0a 06 63 2d 74 65 73 74 "
                    "2a 04 6e 6f 6e 65 20 15");
  ASSERT_EQ(notes.size(), ours.size());
  pc_decoder d;
  pc_decoder_init(&d, PC_FRAME_DEFAULT_MAX);
  ASSERT_EQ(pc_decoder_feed(&d, notes.data(), notes.size()), 0);
  pc_frame f;
  ASSERT_EQ(pc_decoder_next(&d, &f), 1);
  ASSERT_EQ(f.cmd->type, PULSARC__BASE_COMMAND__TYPE__CONNECT);
  ASSERT_NE(f.cmd->connect, nullptr);
  EXPECT_STREQ(f.cmd->connect->client_version, "c-test");
  EXPECT_STREQ(f.cmd->connect->auth_method_name, "none");
  EXPECT_TRUE(f.cmd->connect->has_protocol_version);
  EXPECT_EQ(f.cmd->connect->protocol_version, 21);
  EXPECT_EQ(command_frame(*f.cmd), ours);
  pc_decoder_free(&d);
}

struct SendExample {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  SendExample() {
    send.producer_id = 1;
    send.sequence_id = 0;
    cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    md.producer_name = const_cast<char *>("p");
    md.sequence_id = 0;
    md.publish_time = 1700000000000ULL;
  }
};

const char *kSendHex = "00 00 00 27 00 00 00 08 08 06 32 04 08 01 10 00 0e 01 cf 85 82 2f "
                       "00 00 00 0c 0a 01 70 10 00 18 80 d0 95 ff bc 31 68 65 6c 6c 6f";
constexpr size_t kSendHeader = 39 + 4 - 5; // frame minus "hello"

// Seals "hello" built behind `headroom` spare bytes; returns the frame bytes.
Bytes seal_hello(size_t headroom, size_t *start_out, bool *moved) {
  SendExample ex;
  pc_buf b = {};
  EXPECT_EQ(pc_buf_reserve(&b, headroom), 0);
  if (headroom)
    memset(b.data, 0xAA, headroom);
  b.len = headroom;
  EXPECT_EQ(pc_buf_append(&b, "hello", 5), 0);
  size_t start = 12345;
  EXPECT_EQ(pc_frame_seal_payload(&b, headroom, &ex.cmd, &ex.md, &start), 0);
  *start_out = start;
  *moved = headroom < kSendHeader;
  Bytes out = buf_bytes(b, start);
  pc_buf_free(&b);
  return out;
}

// A frame sealed with holes, written out as segments, must be the frame
// sealed with the same bytes in the buffer: same size, same CRC. Holes at
// the start, in the middle, adjacent and at the end; with and without the
// header fitting the headroom.
TEST(CodecFrame, GatherFrameEqualsContiguousFrame) {
  const std::string whole = "AAAAbbbbbCCdddddddEEEEEEEEEE";
  struct Cut {
    size_t from, len;
  };
  const std::vector<std::vector<Cut>> layouts = {
      {{0, 4}},          {{4, 5}}, {{4, 5}, {9, 2}}, {{18, 10}}, {{0, 4}, {11, 7}, {18, 10}},
      {{0, 4}, {4, 24}}, {{0, 28}}};
  for (size_t headroom : {size_t{0}, size_t{64}}) {
    for (const auto &cuts : layouts) {
      SendExample ex;
      pc_buf ref = {}, g = {};
      ASSERT_EQ(pc_buf_reserve(&ref, headroom), 0);
      ref.len = headroom;
      ASSERT_EQ(pc_buf_append(&ref, whole.data(), whole.size()), 0);
      size_t ref_start = 0;
      ASSERT_EQ(pc_frame_seal_payload(&ref, headroom, &ex.cmd, &ex.md, &ref_start), 0);
      // The same payload with the cut ranges left out of the buffer.
      ASSERT_EQ(pc_buf_reserve(&g, headroom), 0);
      g.len = headroom;
      std::vector<pc_frame_hole> holes;
      size_t pos = 0;
      for (const auto &c : cuts) {
        ASSERT_EQ(pc_buf_append(&g, whole.data() + pos, c.from - pos), 0);
        // Every other hole comes with its CRC computed elsewhere.
        const uint8_t *d = reinterpret_cast<const uint8_t *>(whole.data()) + c.from;
        bool pre = holes.size() % 2 == 1;
        holes.push_back({g.len - headroom, d, c.len, pre, pre ? pc_crc32c(0, d, c.len) : 0});
        pos = c.from + c.len;
      }
      ASSERT_EQ(pc_buf_append(&g, whole.data() + pos, whole.size() - pos), 0);
      size_t inline_len = g.len - headroom, g_start = 0;
      ASSERT_EQ(
          pc_frame_seal_gather(&g, headroom, &ex.cmd, &ex.md, holes.data(), holes.size(), &g_start),
          0);
      // Reassemble the segments as the connection would write them.
      size_t body = g.len - inline_len;
      Bytes out(g.data + g_start, g.data + body);
      size_t at = 0;
      for (const auto &h : holes) {
        out.insert(out.end(), g.data + body + at, g.data + body + h.off);
        out.insert(out.end(), h.data, h.data + h.len);
        at = h.off;
      }
      out.insert(out.end(), g.data + body + at, g.data + g.len);
      EXPECT_EQ(out, buf_bytes(ref, ref_start))
          << "headroom " << headroom << ", holes " << holes.size();
      pc_buf_free(&ref);
      pc_buf_free(&g);
    }
  }
}

TEST(CodecFrame, GatherRejectsHolesOutOfOrderOrPastTheEnd) {
  SendExample ex;
  pc_buf g = {};
  ASSERT_EQ(pc_buf_append(&g, "abc", 3), 0);
  const uint8_t x[2] = {1, 2};
  pc_frame_hole late[1] = {{4, x, 2, false, 0}};
  size_t start;
  EXPECT_EQ(pc_frame_seal_gather(&g, 0, &ex.cmd, &ex.md, late, 1, &start), -1);
  pc_frame_hole backwards[2] = {{2, x, 1, false, 0}, {1, x, 1, false, 0}};
  EXPECT_EQ(pc_frame_seal_gather(&g, 0, &ex.cmd, &ex.md, backwards, 2, &start), -1);
  pc_buf_free(&g);
}

TEST(CodecFrame, SendExampleExactHeadroom) {
  size_t start;
  bool moved;
  EXPECT_EQ(seal_hello(kSendHeader, &start, &moved), hex(kSendHex));
  EXPECT_EQ(start, 0u);
  EXPECT_FALSE(moved);
}

TEST(CodecFrame, SendExampleLargerHeadroomLeavesGapInFront) {
  size_t start;
  bool moved;
  EXPECT_EQ(seal_hello(kSendHeader + 100, &start, &moved), hex(kSendHex));
  EXPECT_EQ(start, 100u);
}

TEST(CodecFrame, SendExampleTooSmallHeadroomMovesPayload) {
  for (size_t headroom : {size_t(0), size_t(1), size_t(8), kSendHeader - 1}) {
    size_t start;
    bool moved;
    EXPECT_EQ(seal_hello(headroom, &start, &moved), hex(kSendHex)) << headroom;
    EXPECT_EQ(start, 0u);
    EXPECT_TRUE(moved);
  }
}

TEST(CodecFrame, SendChecksumCoversMetadataSizeMetadataAndPayload) {
  Bytes f = hex(kSendHex);
  // Bytes after the 4-byte checksum field to the end of the frame.
  const size_t crc_at = 4 + 4 + 8 + 2;
  uint32_t want = pc_get_u32be(f.data() + crc_at);
  EXPECT_EQ(want, 0xcf85822fu);
  EXPECT_EQ(pc_crc32c(0, f.data() + crc_at + 4, f.size() - crc_at - 4), want);
}

TEST(CodecFrame, SealEmptyPayload) {
  SendExample ex;
  pc_buf b = {};
  size_t start = 99;
  ASSERT_EQ(pc_frame_seal_payload(&b, 0, &ex.cmd, &ex.md, &start), 0);
  EXPECT_EQ(start, 0u);
  ASSERT_EQ(b.len, kSendHeader);
  EXPECT_EQ(pc_get_u32be(b.data), kSendHeader - 4);
  pc_decoder d;
  pc_decoder_init(&d, 0);
  ASSERT_EQ(pc_decoder_feed(&d, b.data, b.len), 0);
  pc_frame f;
  ASSERT_EQ(pc_decoder_next(&d, &f), 1);
  EXPECT_TRUE(f.has_payload);
  EXPECT_TRUE(f.checksum_ok);
  EXPECT_EQ(f.payload_len, 0u);
  pc_decoder_free(&d);
  pc_buf_free(&b);
}

TEST(CodecFrame, SealRejectsHeadroomPastLength) {
  SendExample ex;
  pc_buf b = {};
  ASSERT_EQ(pc_buf_append(&b, "abc", 3), 0);
  size_t start;
  EXPECT_EQ(pc_frame_seal_payload(&b, 4, &ex.cmd, &ex.md, &start), -1);
  pc_buf_free(&b);
}

TEST(CodecFrame, AppendCommandAppendsAfterExistingBytes) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandPing ping = PULSARC__COMMAND_PING__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__PING;
  cmd.ping = &ping;
  pc_buf b = {};
  ASSERT_EQ(pc_buf_append(&b, "xy", 2), 0);
  for (int i = 0; i < 100; i++)
    ASSERT_EQ(pc_frame_append_command(&b, &cmd), 0);
  ASSERT_EQ(b.len, 2u + 100 * 13);
  EXPECT_EQ(memcmp(b.data, "xy", 2), 0);
  Bytes ping_bytes = hex("00 00 00 09 00 00 00 05 08 12 92 01 00");
  for (int i = 0; i < 100; i++)
    ASSERT_EQ(memcmp(b.data + 2 + i * 13, ping_bytes.data(), 13), 0) << i;
  pc_buf_free(&b);
}

TEST(CodecFrame, BufBasics) {
  pc_buf b = {};
  EXPECT_EQ(pc_buf_append(&b, nullptr, 0), 0);
  EXPECT_EQ(b.len, 0u);
  std::string big(100000, 'z');
  ASSERT_EQ(pc_buf_append(&b, big.data(), big.size()), 0);
  ASSERT_EQ(pc_buf_append(&b, "!", 1), 0);
  EXPECT_EQ(b.len, big.size() + 1);
  EXPECT_GE(b.cap, b.len);
  EXPECT_EQ(b.data[b.len - 1], '!');
  EXPECT_EQ(pc_buf_reserve(&b, SIZE_MAX), -1);
  pc_buf_reset(&b);
  EXPECT_EQ(b.len, 0u);
  pc_buf_free(&b);
  EXPECT_EQ(b.data, nullptr);
  EXPECT_EQ(b.cap, 0u);
}

} // namespace
