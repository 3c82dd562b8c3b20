// CRC32C: both implementations against known vectors, a bitwise reference
// and each other, on unaligned buffers of many lengths.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

extern "C" {
#include "codec/crc32c.h"
}

namespace {

uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

using CrcFn = uint32_t (*)(uint32_t, const void *, size_t);

struct Impl {
  const char *name;
  CrcFn fn;
};

std::vector<Impl> impls() {
  std::vector<Impl> v = {{"sw", pc_crc32c_sw}, {"dispatch", pc_crc32c}};
  if (pc_crc32c_hw_available())
    v.push_back({"hw", pc_crc32c_hw});
  if (pc_crc32c_clmul_available())
    v.push_back({"clmul", pc_crc32c_clmul});
  return v;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto &b : v)
    b = static_cast<uint8_t>(rng());
  return v;
}

TEST(CodecCrc32c, CheckValueOnEveryPath) {
  for (const auto &impl : impls()) {
    EXPECT_EQ(impl.fn(0, "123456789", 9), 0xE3069283u) << impl.name;
    EXPECT_EQ(impl.fn(0, "", 0), 0u) << impl.name;
    EXPECT_EQ(impl.fn(0x12345678u, nullptr, 0), 0x12345678u) << impl.name;
  }
}

// RFC 3720 (iSCSI) B.4 test vectors.
TEST(CodecCrc32c, Rfc3720Vectors) {
  uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
  memset(ones, 0xff, sizeof ones);
  for (int i = 0; i < 32; i++) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  for (const auto &impl : impls()) {
    EXPECT_EQ(impl.fn(0, zeros, 32), 0x8A9136AAu) << impl.name;
    EXPECT_EQ(impl.fn(0, ones, 32), 0x62A8AB43u) << impl.name;
    EXPECT_EQ(impl.fn(0, inc, 32), 0x46DD794Eu) << impl.name;
    EXPECT_EQ(impl.fn(0, dec, 32), 0x113FDB5Cu) << impl.name;
  }
}

TEST(CodecCrc32c, HardwarePathReportedOnX86) {
#if defined(__x86_64__)
  EXPECT_EQ(pc_crc32c_hw_available() != 0, __builtin_cpu_supports("sse4.2") != 0);
#endif
  // Without SSE4.2 the hw entry point must still be correct (falls back).
  EXPECT_EQ(pc_crc32c_hw(0, "123456789", 9), 0xE3069283u);
}

TEST(CodecCrc32c, AllLengthsAndOffsetsAgree) {
  const auto data = random_bytes(4096 + 8, 1);
  const auto all = impls();
  for (size_t off = 0; off < 8; off++) {
    for (size_t len = 0; len <= 4096; len++) {
      const uint8_t *p = data.data() + off;
      uint32_t want = pc_crc32c_sw(0, p, len);
      if (len <= 300 || len % 97 == 0) {
        ASSERT_EQ(want, crc_bitwise(0, p, len)) << "off=" << off << " len=" << len;
      }
      for (const auto &impl : all)
        ASSERT_EQ(impl.fn(0, p, len), want) << impl.name << " off=" << off << " len=" << len;
    }
  }
}

// The hardware path runs three interleaved lanes of 8192 and of 256 bytes
// and joins them with shift tables: every length around those boundaries,
// at every alignment, must give the table-driven answer.
TEST(CodecCrc32c, InterleavedLaneBoundariesAgree) {
  const auto data = random_bytes(4 * 3 * 8192 + 64, 4);
  std::vector<size_t> lens;
  for (size_t base :
       {3 * 256, 2 * 3 * 256, 3 * 8192, 3 * 8192 + 3 * 256, 2 * 3 * 8192, 4 * 3 * 8192})
    for (size_t d = 0; d <= 24; d++) {
      lens.push_back(base + d);
      if (base >= d)
        lens.push_back(base - d);
    }
  for (const auto &impl : impls())
    for (size_t off = 0; off < 8; off++)
      for (size_t len : lens) {
        if (off + len > data.size())
          continue;
        uint32_t seed = static_cast<uint32_t>(len * 2654435761u);
        ASSERT_EQ(impl.fn(seed, data.data() + off, len), pc_crc32c_sw(seed, data.data() + off, len))
            << impl.name << " off=" << off << " len=" << len;
      }
}

// The carry-less path starts at 64 bytes, folds four 16-byte blocks per
// 64 bytes, then single blocks, then finishes 0-15 bytes with crc32: every
// length across those steps, at every alignment, with a nonzero start.
TEST(CodecCrc32c, ClmulFoldBoundariesAgree) {
#if defined(__x86_64__)
  EXPECT_EQ(pc_crc32c_clmul_available() != 0,
            __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul"));
#endif
  const auto data = random_bytes(70000, 7);
  std::vector<size_t> lens;
  for (size_t len = 48; len <= 400; len++)
    lens.push_back(len);
  for (size_t base : {1024, 4096, 65536})
    for (size_t d = 0; d <= 17; d++)
      lens.push_back(base + d), lens.push_back(base - d);
  for (size_t off = 0; off < 16; off++)
    for (size_t len : lens) {
      const uint8_t *p = data.data() + off;
      for (uint32_t seed : {0u, 0xffffffffu, static_cast<uint32_t>(len * 2654435761u)})
        ASSERT_EQ(pc_crc32c_clmul(seed, p, len), pc_crc32c_sw(seed, p, len))
            << "off=" << off << " len=" << len << " seed=" << seed;
    }
  EXPECT_EQ(pc_crc32c_clmul(0, data.data(), 65536), crc_bitwise(0, data.data(), 65536));
}

TEST(CodecCrc32c, CombineEqualsTheCrcOfTheConcatenation) {
  const auto data = random_bytes(70000, 5);
  std::mt19937 rng(6);
  std::vector<std::pair<size_t, size_t>> cuts = {{0, 0},        {0, 9},     {9, 0},     {1, 1},
                                                 {5000, 16384}, {0, 70000}, {70000, 0}, {3, 65536}};
  for (int i = 0; i < 200; i++) {
    size_t a = rng() % 70001;
    cuts.push_back({a, rng() % (70001 - a)});
  }
  for (auto [la, lb] : cuts) {
    uint32_t ca = pc_crc32c_sw(0, data.data(), la);
    uint32_t cb = pc_crc32c_sw(0, data.data() + la, lb);
    ASSERT_EQ(pc_crc32c_combine(ca, cb, lb), pc_crc32c_sw(0, data.data(), la + lb))
        << "len_a=" << la << " len_b=" << lb;
  }
  EXPECT_EQ(pc_crc32c_combine(pc_crc32c(0, "1234", 4), pc_crc32c(0, "56789", 5), 5), 0xE3069283u);
}

TEST(CodecCrc32c, ChainedCallsEqualOneCall) {
  const auto data = random_bytes(1500, 2);
  for (const auto &impl : impls()) {
    uint32_t whole = impl.fn(0, data.data(), data.size());
    for (size_t cut = 0; cut <= data.size(); cut++) {
      uint32_t c = impl.fn(0, data.data(), cut);
      c = impl.fn(c, data.data() + cut, data.size() - cut);
      ASSERT_EQ(c, whole) << impl.name << " cut=" << cut;
    }
    // Many small pieces, and mixing implementations mid-stream.
    uint32_t c = 0;
    size_t pos = 0, step = 1;
    while (pos < data.size()) {
      size_t n = std::min(step, data.size() - pos);
      c = (step % 2 ? impl.fn : pc_crc32c_sw)(c, data.data() + pos, n);
      pos += n;
      step = step * 3 % 37 + 1;
    }
    EXPECT_EQ(c, whole) << impl.name;
  }
}

TEST(CodecCrc32c, LargeBufferMatchesReference) {
  const auto data = random_bytes(1 << 20, 3);
  uint32_t want = crc_bitwise(0, data.data(), data.size());
  for (const auto &impl : impls())
    EXPECT_EQ(impl.fn(0, data.data(), data.size()), want) << impl.name;
}

} // namespace
