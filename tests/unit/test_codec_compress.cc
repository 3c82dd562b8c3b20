// Compression codecs: round trips, the exact wire forms Pulsar expects
// (raw LZ4 block, zlib stream, zstd frame, raw snappy block), decoding of
// what the reference libraries produce on their own, and rejection of
// corrupt input and wrong sizes.
#include <gtest/gtest.h>

#include <lz4.h>
#include <lz4hc.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "codec/compress.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

constexpr int kNone = 0, kLz4 = 1, kZlib = 2, kZstd = 3, kSnappy = 4;
constexpr int kCodecs[] = {kNone, kLz4, kZlib, kZstd, kSnappy};
constexpr size_t k5MiB = 5u * 1024 * 1024;

Bytes Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto &x : b)
    x = static_cast<uint8_t>(rng());
  return b;
}

// Records like {"id":123,"user":"u-42","event":"click",...} padded to ~100 B.
Bytes JsonLike(size_t n, uint32_t seed) {
  static const char *events[] = {"click", "view", "purchase", "scroll", "login"};
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(n + 128);
  for (uint64_t i = 0; s.size() < n; i++) {
    char rec[160];
    int k = snprintf(rec, sizeof rec,
                     "{\"id\":%llu,\"user\":\"u-%u\",\"event\":\"%s\",\"ts\":%llu,"
                     "\"amount\":%u.%02u,\"ok\":true}",
                     static_cast<unsigned long long>(i), static_cast<unsigned>(rng() % 10000),
                     events[rng() % 5], 1700000000000ull + i * 7,
                     static_cast<unsigned>(rng() % 1000), static_cast<unsigned>(rng() % 100));
    s.append(rec, static_cast<size_t>(k));
    s.append(100 - static_cast<size_t>(k) % 100, ' ');
  }
  s.resize(n);
  return Bytes(s.begin(), s.end());
}

Bytes Compress(int codec, const Bytes &in) {
  pc_buf out{};
  EXPECT_EQ(pc_compress(codec, in.data(), in.size(), &out), 0) << pc_compress_name(codec);
  Bytes r(out.data, out.data + out.len);
  pc_buf_free(&out);
  return r;
}

// 0 and the decoded bytes, or -1 (and out left as it was).
int Decompress(int codec, const Bytes &in, size_t size, Bytes *res) {
  pc_buf out{};
  int rc = pc_decompress(codec, in.data(), in.size(), size, &out);
  if (rc != 0) {
    EXPECT_EQ(out.len, 0u) << "failed decode must not append";
  }
  if (res)
    res->assign(out.data, out.data + out.len);
  pc_buf_free(&out);
  return rc;
}

class CodecCompress : public ::testing::TestWithParam<int> {};

TEST_P(CodecCompress, RoundTripsEverySize) {
  const int codec = GetParam();
  const std::vector<Bytes> inputs = {Bytes{},           Bytes{0x42},      Random(1000, 1),
                                     JsonLike(1000, 2), Random(k5MiB, 3), JsonLike(k5MiB, 4),
                                     Bytes(100000, 0)};
  for (const Bytes &in : inputs) {
    Bytes c = Compress(codec, in);
    Bytes back;
    ASSERT_EQ(Decompress(codec, c, in.size(), &back), 0)
        << pc_compress_name(codec) << " size " << in.size();
    EXPECT_TRUE(back == in) << pc_compress_name(codec) << " size " << in.size();
  }
}

TEST_P(CodecCompress, CompressibleInputShrinks) {
  const int codec = GetParam();
  if (codec == kNone)
    GTEST_SKIP();
  Bytes in = JsonLike(128 * 1024, 5);
  EXPECT_LT(Compress(codec, in).size() * 2, in.size()) << pc_compress_name(codec);
}

TEST_P(CodecCompress, AppendsAfterExistingBytes) {
  const int codec = GetParam();
  const std::string prefix = "already-here";
  Bytes in = JsonLike(5000, 6);

  pc_buf c{};
  ASSERT_EQ(pc_buf_append(&c, prefix.data(), prefix.size()), 0);
  ASSERT_EQ(pc_compress(codec, in.data(), in.size(), &c), 0);
  ASSERT_GT(c.len, prefix.size());
  EXPECT_EQ(std::string(reinterpret_cast<char *>(c.data), prefix.size()), prefix);
  Bytes alone = Compress(codec, in);
  EXPECT_TRUE(Bytes(c.data + prefix.size(), c.data + c.len) == alone);

  pc_buf d{};
  ASSERT_EQ(pc_buf_append(&d, prefix.data(), prefix.size()), 0);
  ASSERT_EQ(pc_decompress(codec, c.data + prefix.size(), c.len - prefix.size(), in.size(), &d), 0);
  ASSERT_EQ(d.len, prefix.size() + in.size());
  EXPECT_EQ(std::string(reinterpret_cast<char *>(d.data), prefix.size()), prefix);
  EXPECT_TRUE(Bytes(d.data + prefix.size(), d.data + d.len) == in);

  // A failed decode leaves the buffer as it was.
  size_t before = d.len;
  EXPECT_EQ(pc_decompress(codec, c.data + prefix.size(), c.len - prefix.size(), in.size() + 1, &d),
            -1);
  EXPECT_EQ(d.len, before);
  pc_buf_free(&c);
  pc_buf_free(&d);
}

TEST_P(CodecCompress, WrongUncompressedSizeIsRejected) {
  const int codec = GetParam();
  for (const Bytes &in : {JsonLike(10000, 7), Random(3000, 8), Bytes{0x01}}) {
    Bytes c = Compress(codec, in);
    const size_t n = in.size();
    EXPECT_EQ(Decompress(codec, c, n + 1, nullptr), -1) << pc_compress_name(codec);
    EXPECT_EQ(Decompress(codec, c, n - 1, nullptr), -1) << pc_compress_name(codec);
    EXPECT_EQ(Decompress(codec, c, n * 2, nullptr), -1) << pc_compress_name(codec);
    EXPECT_EQ(Decompress(codec, c, 0, nullptr), -1) << pc_compress_name(codec);
    // Sizes no real payload of this length could reach; rejected up front.
    EXPECT_EQ(Decompress(codec, c, size_t{3} << 30, nullptr), -1) << pc_compress_name(codec);
  }
}

TEST_P(CodecCompress, CorruptInputIsRejected) {
  const int codec = GetParam();
  if (codec == kNone)
    GTEST_SKIP() << "nothing to corrupt: size mismatch is the only check";
  Bytes in = JsonLike(20000, 9);
  Bytes c = Compress(codec, in);

  Bytes truncated(c.begin(), c.begin() + static_cast<long>(c.size() / 2));
  EXPECT_EQ(Decompress(codec, truncated, in.size(), nullptr), -1) << pc_compress_name(codec);
  Bytes last_byte_cut(c.begin(), c.end() - 1);
  EXPECT_EQ(Decompress(codec, last_byte_cut, in.size(), nullptr), -1) << pc_compress_name(codec);
  EXPECT_EQ(Decompress(codec, Bytes{}, in.size(), nullptr), -1) << pc_compress_name(codec);
  for (uint32_t seed = 0; seed < 20; seed++) {
    Bytes garbage = Random(64 + seed * 37, 100 + seed);
    EXPECT_EQ(Decompress(codec, garbage, in.size(), nullptr), -1)
        << pc_compress_name(codec) << " seed " << seed;
  }
  Bytes ff(c.size(), 0xff);
  EXPECT_EQ(Decompress(codec, ff, in.size(), nullptr), -1) << pc_compress_name(codec);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecCompress, ::testing::ValuesIn(kCodecs),
                         [](const ::testing::TestParamInfo<int> &i) {
                           return std::string(pc_compress_name(i.param));
                         });

TEST(CodecCompressNames, NamesAndUnknownCodecs) {
  EXPECT_STREQ(pc_compress_name(kNone), "none");
  EXPECT_STREQ(pc_compress_name(kLz4), "lz4");
  EXPECT_STREQ(pc_compress_name(kZlib), "zlib");
  EXPECT_STREQ(pc_compress_name(kZstd), "zstd");
  EXPECT_STREQ(pc_compress_name(kSnappy), "snappy");
  EXPECT_EQ(pc_compress_name(5), nullptr);
  EXPECT_EQ(pc_compress_name(-1), nullptr);
  const uint8_t x[4] = {1, 2, 3, 4};
  pc_buf b{};
  EXPECT_EQ(pc_compress(5, x, sizeof x, &b), -1);
  EXPECT_EQ(pc_decompress(5, x, sizeof x, 4, &b), -1);
  EXPECT_EQ(pc_decompress(-1, x, sizeof x, 4, &b), -1);
  EXPECT_EQ(b.len, 0u);
  pc_buf_free(&b);
}

TEST(CodecCompressNone, CopiesAndChecksTheSize) {
  Bytes in = Random(777, 10);
  EXPECT_TRUE(Compress(kNone, in) == in);
  Bytes back;
  ASSERT_EQ(Decompress(kNone, in, in.size(), &back), 0);
  EXPECT_TRUE(back == in);
  EXPECT_EQ(Decompress(kNone, in, in.size() - 1, nullptr), -1);
}

// The level reaches the codec: on compressible text a higher level writes
// fewer bytes, every level decodes with the plain decoder (LZ4 HC is the
// same raw block), snappy ignores it, and out-of-range levels fail.
TEST(CodecCompressLevel, LevelChangesSizeAndEveryLevelDecodes) {
  const Bytes in = JsonLike(256 * 1024, 11);
  auto at = [&](int codec, int level) {
    pc_buf out{};
    EXPECT_EQ(pc_compress_level(codec, level, in.data(), in.size(), &out), 0)
        << pc_compress_name(codec) << " level " << level;
    Bytes r(out.data, out.data + out.len);
    pc_buf_free(&out);
    Bytes back;
    EXPECT_EQ(Decompress(codec, r, in.size(), &back), 0)
        << pc_compress_name(codec) << " level " << level;
    EXPECT_TRUE(back == in) << pc_compress_name(codec) << " level " << level;
    return r;
  };
  struct {
    int codec, low, high;
  } cases[] = {{kZstd, 1, 19}, {kZlib, 1, 9}, {kLz4, 0, 12}};
  for (auto &c : cases) {
    size_t low = at(c.codec, c.low).size(), high = at(c.codec, c.high).size();
    EXPECT_LT(high, low) << pc_compress_name(c.codec);
  }
  // Level 0 is the default: exactly what pc_compress writes (zstd 3, zlib 6).
  for (int codec : {kLz4, kZlib, kZstd})
    EXPECT_TRUE(at(codec, 0) == Compress(codec, in)) << pc_compress_name(codec);
  EXPECT_TRUE(at(kZstd, 3) == Compress(kZstd, in));
  EXPECT_TRUE(at(kZlib, 6) == Compress(kZlib, in));
  EXPECT_TRUE(at(kSnappy, 7) == Compress(kSnappy, in));

  pc_buf b{};
  EXPECT_EQ(pc_compress_level(kZstd, 23, in.data(), in.size(), &b), -1);
  EXPECT_EQ(pc_compress_level(kZlib, 10, in.data(), in.size(), &b), -1);
  EXPECT_EQ(pc_compress_level(kLz4, 13, in.data(), in.size(), &b), -1);
  EXPECT_EQ(pc_compress_level(kZstd, -1, in.data(), in.size(), &b), -1);
  EXPECT_EQ(b.len, 0u);
  pc_buf_free(&b);
}

// ------------------------------------------------ wire forms (known answers)

TEST(CodecCompressWire, Lz4IsARawBlockWithoutFrame) {
  Bytes in = JsonLike(50000, 11);
  Bytes c = Compress(kLz4, in);
  ASSERT_GE(c.size(), 4u);
  const uint8_t frame_magic[4] = {0x04, 0x22, 0x4D, 0x18}; // 0x184D2204 little-endian
  EXPECT_NE(memcmp(c.data(), frame_magic, 4), 0);
  Bytes out(in.size());
  int n = LZ4_decompress_safe(reinterpret_cast<const char *>(c.data()),
                              reinterpret_cast<char *>(out.data()), static_cast<int>(c.size()),
                              static_cast<int>(out.size()));
  ASSERT_EQ(n, static_cast<int>(in.size()));
  EXPECT_TRUE(out == in);
  // Byte-identical to what the C++ client's LZ4_compress_default call emits.
  Bytes ref(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
  int rn = LZ4_compress_default(reinterpret_cast<const char *>(in.data()),
                                reinterpret_cast<char *>(ref.data()), static_cast<int>(in.size()),
                                static_cast<int>(ref.size()));
  ref.resize(static_cast<size_t>(rn));
  EXPECT_TRUE(c == ref);
}

TEST(CodecCompressWire, ZlibIsAStreamWithZlibHeader) {
  Bytes in = JsonLike(50000, 12);
  Bytes c = Compress(kZlib, in);
  ASSERT_GE(c.size(), 6u);
  EXPECT_EQ(c[0], 0x78);                  // deflate, 32 KiB window
  EXPECT_EQ((c[0] * 256 + c[1]) % 31, 0); // FCHECK
  EXPECT_EQ(c[1] & 0x20, 0);              // no preset dictionary
  Bytes out(in.size());
  uLongf n = out.size();
  ASSERT_EQ(uncompress(out.data(), &n, c.data(), c.size()), Z_OK);
  ASSERT_EQ(n, in.size());
  EXPECT_TRUE(out == in);
  // Same bytes as compress() (the call the C++ client makes): default level.
  Bytes ref(compressBound(in.size()));
  uLongf rn = ref.size();
  ASSERT_EQ(compress(ref.data(), &rn, in.data(), in.size()), Z_OK);
  ref.resize(rn);
  EXPECT_TRUE(c == ref);
}

TEST(CodecCompressWire, ZstdIsAFrameAtLevel3WithContentSize) {
  Bytes in = JsonLike(50000, 13);
  Bytes c = Compress(kZstd, in);
  ASSERT_GE(c.size(), 4u);
  const uint8_t magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  EXPECT_EQ(memcmp(c.data(), magic, 4), 0);
  EXPECT_EQ(ZSTD_getFrameContentSize(c.data(), c.size()), in.size());
  Bytes out(in.size());
  size_t n = ZSTD_decompress(out.data(), out.size(), c.data(), c.size());
  ASSERT_FALSE(ZSTD_isError(n));
  ASSERT_EQ(n, in.size());
  EXPECT_TRUE(out == in);
  Bytes ref(ZSTD_compressBound(in.size()));
  size_t rn = ZSTD_compress(ref.data(), ref.size(), in.data(), in.size(), 3);
  ASSERT_FALSE(ZSTD_isError(rn));
  ref.resize(rn);
  EXPECT_TRUE(c == ref);
}

TEST(CodecCompressWire, SnappyIsARawBlock) {
  Bytes in = JsonLike(50000, 14);
  Bytes c = Compress(kSnappy, in);
  ASSERT_GE(c.size(), 4u);
  EXPECT_NE(c[0], 0xff); // the framing format starts with a 0xff stream identifier
  size_t announced = 0;
  ASSERT_EQ(
      snappy_uncompressed_length(reinterpret_cast<const char *>(c.data()), c.size(), &announced),
      SNAPPY_OK);
  EXPECT_EQ(announced, in.size());
  Bytes out(in.size());
  size_t n = out.size();
  ASSERT_EQ(snappy_uncompress(reinterpret_cast<const char *>(c.data()), c.size(),
                              reinterpret_cast<char *>(out.data()), &n),
            SNAPPY_OK);
  ASSERT_EQ(n, in.size());
  EXPECT_TRUE(out == in);
}

// Other encoders (Java's, Go's, higher levels) emit different bytes in the
// same formats; the decoder must take them all.
TEST(CodecCompressWire, DecodesOtherEncodersOutput) {
  Bytes in = JsonLike(60000, 15);
  Bytes back;

  Bytes hc(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
  int hn = LZ4_compress_HC(reinterpret_cast<const char *>(in.data()),
                           reinterpret_cast<char *>(hc.data()), static_cast<int>(in.size()),
                           static_cast<int>(hc.size()), LZ4HC_CLEVEL_MAX);
  ASSERT_GT(hn, 0);
  hc.resize(static_cast<size_t>(hn));
  ASSERT_EQ(Decompress(kLz4, hc, in.size(), &back), 0);
  EXPECT_TRUE(back == in);

  Bytes z9(compressBound(in.size()));
  uLongf zn = z9.size();
  ASSERT_EQ(compress2(z9.data(), &zn, in.data(), in.size(), 9), Z_OK);
  z9.resize(zn);
  ASSERT_EQ(Decompress(kZlib, z9, in.size(), &back), 0);
  EXPECT_TRUE(back == in);

  // A streamed zstd frame does not announce its content size.
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ASSERT_NE(cctx, nullptr);
  Bytes zs(ZSTD_compressBound(in.size()) + 64);
  ZSTD_outBuffer ob{zs.data(), zs.size(), 0};
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
  size_t left;
  do {
    left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
    ASSERT_FALSE(ZSTD_isError(left));
  } while (left != 0);
  ZSTD_freeCCtx(cctx);
  zs.resize(ob.pos);
  EXPECT_EQ(ZSTD_getFrameContentSize(zs.data(), zs.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  ASSERT_EQ(Decompress(kZstd, zs, in.size(), &back), 0);
  EXPECT_TRUE(back == in);
  EXPECT_EQ(Decompress(kZstd, zs, in.size() + 1, nullptr), -1);
  // With a checksum, a flipped byte in the data is caught.
  Bytes flipped = zs;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(Decompress(kZstd, flipped, in.size(), nullptr), -1);
}

TEST(CodecCompressWire, ZlibDetectsAFlippedByteAndTrailingGarbage) {
  Bytes in = JsonLike(20000, 16);
  Bytes c = Compress(kZlib, in);
  for (size_t pos : {c.size() / 3, c.size() / 2, c.size() - 2}) {
    Bytes f = c;
    f[pos] ^= 0x10;
    EXPECT_EQ(Decompress(kZlib, f, in.size(), nullptr), -1) << "pos " << pos;
  }
  Bytes trailing = c;
  trailing.push_back(0);
  EXPECT_EQ(Decompress(kZlib, trailing, in.size(), nullptr), -1);
}

} // namespace
