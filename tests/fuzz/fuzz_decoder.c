/* libFuzzer target for the frame decoder, the bytes a broker (or a client,
 * for the test broker) receives from the network.
 * Input: [4-byte split seed][stream]. The stream is decoded twice, in one
 * piece and in pseudo-random splits through space/commit; both runs must
 * agree. Payload frames get their metadata unpacked and, when batched,
 * their body walked entry by entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "codec/frame.h"

typedef struct summary {
  uint64_t frames;
  uint32_t digest; /* CRC over what every frame decoded to */
  int rc;          /* final pc_decoder_next result */
} summary;

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

static void walk_frame(const pc_frame *f, summary *sum) {
  uint8_t info[4] = {(uint8_t)f->cmd->type, f->has_payload, f->has_checksum, f->checksum_ok};
  sum->digest = pc_crc32c(sum->digest, info, sizeof info);
  sum->digest = pc_crc32c(sum->digest, f->raw, f->raw_len);
  sum->frames++;
  if (!f->has_payload)
    return;
  sum->digest = pc_crc32c(sum->digest, f->metadata, f->metadata_len);
  sum->digest = pc_crc32c(sum->digest, f->payload, f->payload_len);
  Pulsarc__MessageMetadata *md = pc_metadata_unpack(f->metadata, f->metadata_len);
  if (!md)
    return;
  if (md->has_num_messages_in_batch) {
    size_t off = 0, smd_len, plen;
    const uint8_t *smd, *p;
    int n = 0;
    while (n < 100000 &&
           pc_batch_next(f->payload, f->payload_len, &off, &smd, &smd_len, &p, &plen) == 1) {
      Pulsarc__SingleMessageMetadata *s =
          pulsarc__single_message_metadata__unpack(NULL, smd_len, smd);
      if (s)
        pulsarc__single_message_metadata__free_unpacked(s, NULL);
      if (plen && p[0] == 0xA5) /* touch the payload bytes */
        sum->digest ^= 1;
      n++;
    }
  }
  pulsarc__message_metadata__free_unpacked(md, NULL);
}

static void run(const uint8_t *data, size_t size, uint32_t seed, int split, summary *sum) {
  pc_decoder d;
  /* Small limits exercise the oversize path too. */
  pc_decoder_init(&d, (seed & 0x10000) ? 1024 : PC_FRAME_DEFAULT_MAX);
  memset(sum, 0, sizeof *sum);
  size_t pos = 0;
  pc_frame f;
  while (pos < size) {
    size_t n = size - pos;
    if (split) {
      size_t want = 1 + next_rand(&seed) % ((seed & 1) ? 7 : 512);
      if (want < n)
        n = want;
    }
    size_t avail;
    uint8_t *p = pc_decoder_space(&d, n, &avail);
    if (!p || avail < n)
      abort();
    memcpy(p, data + pos, n);
    pc_decoder_commit(&d, n);
    pos += n;
    while ((sum->rc = pc_decoder_next(&d, &f)) == 1)
      walk_frame(&f, sum);
    if (sum->rc < 0)
      break;
  }
  pc_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint32_t seed = pc_get_u32be(data);
  data += 4;
  size -= 4;
  summary whole, pieces;
  run(data, size, seed, 0, &whole);
  run(data, size, seed, 1, &pieces);
  /* Splitting must not change the outcome. An error ends a stream, so
   * compare up to and including the first error. */
  if (whole.frames != pieces.frames || whole.digest != pieces.digest || whole.rc != pieces.rc)
    abort();
  return 0;
}
