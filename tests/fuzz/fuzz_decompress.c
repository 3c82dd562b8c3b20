/* libFuzzer target for pc_decompress, which decodes payloads whose bytes and
 * claimed uncompressed_size both come from the network (the test broker
 * decodes every compressed SEND with it).
 * Input: [mode:1][size:3 BE][bytes].
 *   mode & 0x7f, mod 6: codec (5 = an unknown one).
 *   mode & 0x80 clear: bytes are a compressed payload that must decode to
 *     exactly size (size mod 1 MiB) or be refused, never writing past it.
 *   mode & 0x80 set: bytes are plain data; compressing then decompressing
 *     must give them back, and one byte more or less must be refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"

#define MAX_SIZE (1u << 20)

static const uint8_t prefix[3] = {0xa5, 0x5a, 0xc3};

#define GUARD 64

/* out starts with prefix; a failed call must leave it as it was. The system
 * codec libraries are not instrumented, so ASan would miss their stray
 * writes: guard bytes after the size bytes catch any write past them. */
static int decode_checked(int codec, const uint8_t *in, size_t len, size_t size, pc_buf *out) {
  out->len = 0;
  if (pc_buf_append(out, prefix, sizeof prefix) != 0 || pc_buf_reserve(out, size + GUARD) != 0)
    abort();
  uint8_t *guard = out->data + sizeof prefix + size;
  memset(guard, 0xee, GUARD);
  int rc = pc_decompress(codec, in, len, size, out);
  if (out->data + sizeof prefix + size != guard) /* room was there: no realloc */
    abort();
  for (size_t i = 0; i < GUARD; i++)
    if (guard[i] != 0xee)
      abort();
  if (memcmp(out->data, prefix, sizeof prefix) != 0)
    abort();
  if (rc == 0 && out->len != sizeof prefix + size)
    abort();
  if (rc != 0 && (rc != -1 || out->len != sizeof prefix))
    abort();
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  int codec = (data[0] & 0x7f) % 6;
  int roundtrip = (data[0] & 0x80) != 0;
  size_t claimed = (((size_t)data[1] << 16) | ((size_t)data[2] << 8) | data[3]) % MAX_SIZE;
  const uint8_t *in = data + 4;
  size_t len = size - 4;
  pc_buf out = {0};

  if (!roundtrip) {
    decode_checked(codec, in, len, claimed, &out);
    pc_buf_free(&out);
    return 0;
  }

  pc_buf c = {0};
  if (pc_compress(codec, in, len, &c) != 0) {
    if (codec != 5) /* every known codec takes inputs this small */
      abort();
    pc_buf_free(&c);
    return 0;
  }
  if (codec == 5)
    abort();
  if (decode_checked(codec, c.data, c.len, len, &out) != 0)
    abort();
  if (len && memcmp(out.data + sizeof prefix, in, len) != 0)
    abort();
  if (decode_checked(codec, c.data, c.len, len + 1, &out) == 0)
    abort();
  if (len && decode_checked(codec, c.data, c.len, len - 1, &out) == 0)
    abort();
  pc_buf_free(&c);
  pc_buf_free(&out);
  return 0;
}
