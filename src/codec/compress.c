/* Compression codecs in the forms Pulsar brokers and consumers expect
 * (docs/protocol-notes.md §7.1). Pure functions over buffers: any thread.
 *
 * Decompression reads bytes from the network, so every decoder writes into
 * a region of exactly uncompressed_size bytes and the result must fill it
 * exactly; cheap impossibility checks (maximum expansion ratio, sizes the
 * format itself announces) run before the output is allocated, so a tiny
 * hostile input cannot make us reserve a huge buffer for nothing. */
#include "codec/compress.h"

#include <limits.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

enum { CODEC_NONE = 0, CODEC_LZ4 = 1, CODEC_ZLIB = 2, CODEC_ZSTD = 3, CODEC_SNAPPY = 4 };

/* Same levels as the official clients: zstd 3 (CompressionCodecZstd in the
 * Java and C++ clients), zlib's own default (Deflater() and deflateInit with
 * Z_DEFAULT_COMPRESSION, which is 6). */
#define PC_ZSTD_LEVEL 3
#define PC_ZSTD_LEVEL_MAX 22
#define PC_ZLIB_LEVEL_MAX 9
#define PC_LZ4HC_LEVEL_MAX 12

/* Largest output a raw LZ4 block can produce per input byte: a run-length
 * byte of 255 extends a match by 255 bytes. */
#define LZ4_MAX_RATIO 255u
/* Deflate's theoretical maximum expansion is 1032:1 (a 258-byte match in
 * two bits); the zlib header and trailer only add input bytes. */
#define ZLIB_MAX_RATIO 1032u

const char *pc_compress_name(int codec) {
  switch (codec) {
  case CODEC_NONE:
    return "none";
  case CODEC_LZ4:
    return "lz4";
  case CODEC_ZLIB:
    return "zlib";
  case CODEC_ZSTD:
    return "zstd";
  case CODEC_SNAPPY:
    return "snappy";
  default:
    return NULL;
  }
}

/* Reserves bound bytes at the end of out; NULL when out of memory. Always
 * at least one byte, so that the codecs never see a NULL destination. */
static uint8_t *tail(pc_buf *out, size_t bound) {
  if (pc_buf_reserve(out, bound ? bound : 1) != 0)
    return NULL;
  return out->data + out->len;
}

static int compress_lz4(const uint8_t *in, size_t len, int level, pc_buf *out) {
  if (len > LZ4_MAX_INPUT_SIZE || level < 0 || level > PC_LZ4HC_LEVEL_MAX)
    return -1;
  int bound = LZ4_compressBound((int)len);
  uint8_t *dst = tail(out, (size_t)bound);
  if (!dst)
    return -1;
  int n = level == 0 ? LZ4_compress_default((const char *)in, (char *)dst, (int)len, bound)
                     : LZ4_compress_HC((const char *)in, (char *)dst, (int)len, bound, level);
  if (n <= 0)
    return -1;
  out->len += (size_t)n;
  return 0;
}

static int compress_zlib(const uint8_t *in, size_t len, int level, pc_buf *out) {
  if ((uLong)len != len || level < 0 || level > PC_ZLIB_LEVEL_MAX)
    return -1;
  uLong bound = compressBound((uLong)len);
  uint8_t *dst = tail(out, bound);
  if (!dst)
    return -1;
  uLongf n = bound;
  if (compress2(dst, &n, in, (uLong)len, level ? level : Z_DEFAULT_COMPRESSION) != Z_OK)
    return -1;
  out->len += n;
  return 0;
}

static int compress_zstd(const uint8_t *in, size_t len, int level, pc_buf *out) {
  if (level < 0 || level > PC_ZSTD_LEVEL_MAX)
    return -1;
  size_t bound = ZSTD_compressBound(len);
  if (ZSTD_isError(bound))
    return -1;
  uint8_t *dst = tail(out, bound);
  if (!dst)
    return -1;
  size_t n = ZSTD_compress(dst, bound, in, len, level ? level : PC_ZSTD_LEVEL);
  if (ZSTD_isError(n))
    return -1;
  out->len += n;
  return 0;
}

static int compress_snappy(const uint8_t *in, size_t len, pc_buf *out) {
  /* Snappy's length header is a 32-bit varint. */
  if (len > UINT32_MAX)
    return -1;
  size_t bound = snappy_max_compressed_length(len);
  uint8_t *dst = tail(out, bound);
  if (!dst)
    return -1;
  size_t n = bound;
  if (snappy_compress((const char *)in, len, (char *)dst, &n) != SNAPPY_OK)
    return -1;
  out->len += n;
  return 0;
}

int pc_compress(int codec, const uint8_t *in, size_t len, pc_buf *out) {
  return pc_compress_level(codec, 0, in, len, out);
}

int pc_compress_level(int codec, int level, const uint8_t *in, size_t len, pc_buf *out) {
  switch (codec) {
  case CODEC_NONE:
    return pc_buf_append(out, in, len);
  case CODEC_LZ4:
    return compress_lz4(in, len, level, out);
  case CODEC_ZLIB:
    return compress_zlib(in, len, level, out);
  case CODEC_ZSTD:
    return compress_zstd(in, len, level, out);
  case CODEC_SNAPPY:
    return compress_snappy(in, len, out);
  default:
    return -1;
  }
}

/* Each decoder gets dst with room for exactly size bytes and returns 0 only
 * if the input decoded to exactly size bytes. */

static int decode_lz4(const uint8_t *in, size_t len, uint8_t *dst, size_t size) {
  int n = LZ4_decompress_safe((const char *)in, (char *)dst, (int)len, (int)size);
  return n >= 0 && (size_t)n == size ? 0 : -1;
}

static int decode_zlib(const uint8_t *in, size_t len, uint8_t *dst, size_t size) {
  /* uncompress2 given no room only checks that the stream is complete and
   * reports success whatever it holds: give it one spare byte instead. */
  uint8_t spare;
  uLongf n = size ? (uLongf)size : 1;
  uLong used = (uLong)len;
  /* Z_BUF_ERROR when the stream holds more than size bytes or is cut
   * short; trailing bytes after the stream are refused too, since no
   * encoder of ours or of the official clients writes any. */
  if (uncompress2(size ? dst : &spare, &n, in, &used) != Z_OK)
    return -1;
  return n == size && used == len ? 0 : -1;
}

static int decode_zstd(const uint8_t *in, size_t len, uint8_t *dst, size_t size) {
  size_t n = ZSTD_decompress(dst, size, in, len);
  return !ZSTD_isError(n) && n == size ? 0 : -1;
}

static int decode_snappy(const uint8_t *in, size_t len, uint8_t *dst, size_t size) {
  size_t n = size;
  if (snappy_uncompress((const char *)in, len, (char *)dst, &n) != SNAPPY_OK)
    return -1;
  return n == size ? 0 : -1;
}

/* False when in[0..len) cannot possibly decode to size bytes: checked before
 * anything is allocated. */
static int plausible(int codec, const uint8_t *in, size_t len, size_t size) {
  switch (codec) {
  case CODEC_LZ4:
    if (len > LZ4_MAX_INPUT_SIZE || size > (size_t)INT_MAX)
      return 0;
    return size / LZ4_MAX_RATIO <= len;
  case CODEC_ZLIB:
    if ((uLong)len != len || (uLongf)size != size)
      return 0;
    return size / ZLIB_MAX_RATIO <= len;
  case CODEC_ZSTD: {
    unsigned long long fcs = ZSTD_getFrameContentSize(in, len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR)
      return 0;
    if (fcs == ZSTD_CONTENTSIZE_UNKNOWN)
      return 1;
    /* A lone frame must announce exactly size (ZSTD_compress always writes
     * the content size); with several frames the first one must fit. */
    if (ZSTD_findFrameCompressedSize(in, len) == len)
      return fcs == size;
    return fcs <= size;
  }
  case CODEC_SNAPPY: {
    size_t announced = 0;
    if (snappy_uncompressed_length((const char *)in, len, &announced) != SNAPPY_OK)
      return 0;
    return announced == size;
  }
  default:
    return 0;
  }
}

int pc_decompress(int codec, const uint8_t *in, size_t len, size_t uncompressed_size, pc_buf *out) {
  if (codec == CODEC_NONE)
    return len == uncompressed_size ? pc_buf_append(out, in, len) : -1;
  if (!plausible(codec, in, len, uncompressed_size))
    return -1;
  uint8_t *dst = tail(out, uncompressed_size);
  if (!dst)
    return -1;
  int rc;
  switch (codec) {
  case CODEC_LZ4:
    rc = decode_lz4(in, len, dst, uncompressed_size);
    break;
  case CODEC_ZLIB:
    rc = decode_zlib(in, len, dst, uncompressed_size);
    break;
  case CODEC_ZSTD:
    rc = decode_zstd(in, len, dst, uncompressed_size);
    break;
  default:
    rc = decode_snappy(in, len, dst, uncompressed_size);
    break;
  }
  if (rc == 0)
    out->len += uncompressed_size;
  return rc;
}
