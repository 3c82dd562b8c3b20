/* Incremental frame decoder. One owner (normally the connection's I/O
 * thread); no locking. Frames are handed out as pointers into the input
 * buffer, which is compacted lazily, only when new input needs the room. */
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "codec/frame.h"

#define ARENA_BYTES 16384

/* protobuf-c allocator over the decoder's arena. */
static void *arena_alloc(void *ctx, size_t size) {
  pc_decoder *d = ctx;
  size_t need = (size + 15) & ~(size_t)15;
  if (d->arena != NULL && d->arena_used + need <= d->arena_cap) {
    void *p = d->arena + d->arena_used;
    d->arena_used += need;
    return p;
  }
  /* Larger than what is left: a block of its own, freed at the next reset. */
  void **block = malloc(sizeof(void *) * 2 + size);
  if (block == NULL)
    return NULL;
  block[0] = d->overflow;
  d->overflow = block;
  return block + 2;
}

static void arena_free(void *ctx, void *p) {
  (void)ctx;
  (void)p; /* released wholesale by arena_reset */
}

static void arena_reset(pc_decoder *d) {
  d->arena_used = 0;
  while (d->overflow != NULL) {
    void **block = d->overflow;
    d->overflow = block[0];
    free(block);
  }
  d->last_cmd = NULL;
}

void pc_decoder_init(pc_decoder *d, uint32_t max_frame) {
  memset(d, 0, sizeof(*d));
  d->max_frame = max_frame ? max_frame : PC_FRAME_DEFAULT_MAX;
  d->allocator.alloc = arena_alloc;
  d->allocator.free = arena_free;
  d->allocator.allocator_data = d;
  d->arena = malloc(ARENA_BYTES);
  d->arena_cap = d->arena ? ARENA_BYTES : 0;
}

void pc_decoder_free(pc_decoder *d) {
  arena_reset(d);
  free(d->arena);
  d->arena = NULL;
  d->arena_cap = 0;
  pc_buf_free(&d->in);
  d->consumed = 0;
}

uint8_t *pc_decoder_space(pc_decoder *d, size_t min, size_t *avail) {
  pc_buf *b = &d->in;
  if (d->consumed == b->len) {
    b->len = 0; /* everything handed out: restart at the front for free */
    d->consumed = 0;
  } else if (d->consumed > 0 && b->cap - b->len < (min ? min : 1)) {
    size_t rest = b->len - d->consumed;
    memmove(b->data, b->data + d->consumed, rest);
    b->len = rest;
    d->consumed = 0;
  }
  if (pc_buf_reserve(b, min ? min : 1) != 0)
    return NULL;
  if (avail)
    *avail = b->cap - b->len;
  return b->data + b->len;
}

void pc_decoder_commit(pc_decoder *d, size_t n) {
  if (n > d->in.cap - d->in.len)
    n = d->in.cap - d->in.len; /* never trust a count past the space given */
  d->in.len += n;
}

int pc_decoder_feed(pc_decoder *d, const void *bytes, size_t n) {
  if (n == 0)
    return 0;
  uint8_t *p = pc_decoder_space(d, n, NULL);
  if (!p)
    return -1;
  memcpy(p, bytes, n);
  pc_decoder_commit(d, n);
  return 0;
}

static inline unsigned get_u16be(const uint8_t *p) { return ((unsigned)p[0] << 8) | p[1]; }

/* Parses the optional broker-entry-metadata section and the mandatory
 * checksum/metadata section that follow a command. p..end is the rest of
 * the frame after the command. */
static int parse_payload_section(const uint8_t *p, const uint8_t *end, pc_frame *f) {
  if (end - p >= 2 && get_u16be(p) == PC_FRAME_MAGIC_BROKER_ENTRY_METADATA) {
    if (end - p < 6)
      return PC_DEC_MALFORMED;
    uint32_t bem = pc_get_u32be(p + 2);
    if (bem > (size_t)(end - p) - 6)
      return PC_DEC_MALFORMED;
    p += 6 + bem;
  }
  if (end - p < 2 || get_u16be(p) != PC_FRAME_MAGIC_CRC)
    return PC_DEC_MALFORMED;
  if (end - p < 10)
    return PC_DEC_MALFORMED;
  uint32_t crc = pc_get_u32be(p + 2);
  const uint8_t *crc_from = p + 6;
  uint32_t md_size = pc_get_u32be(crc_from);
  const uint8_t *md = crc_from + 4;
  if (md_size > (size_t)(end - md))
    return PC_DEC_MALFORMED;
  f->has_payload = true;
  f->has_checksum = true;
  f->checksum_ok = pc_crc32c(0, crc_from, (size_t)(end - crc_from)) == crc;
  f->metadata = md;
  f->metadata_len = md_size;
  f->payload = md + md_size;
  f->payload_len = (size_t)(end - (md + md_size));
  return PC_DEC_OK;
}

int pc_decoder_next(pc_decoder *d, pc_frame *f) {
  arena_reset(d);
  size_t have = d->in.len - d->consumed;
  if (have < 4)
    return 0;
  const uint8_t *p = d->in.data + d->consumed;
  uint32_t total = pc_get_u32be(p);
  /* Checked before the body arrives, so a hostile size cannot make us
   * buffer it. */
  if (total > d->max_frame)
    return PC_DEC_OVERSIZE;
  if (total < 4)
    return PC_DEC_MALFORMED;
  if (have >= 8 && pc_get_u32be(p + 4) > total - 4)
    return PC_DEC_MALFORMED;
  if (have - 4 < total)
    return 0;

  uint32_t cmd_size = pc_get_u32be(p + 4);
  const uint8_t *end = p + 4 + total;
  Pulsarc__BaseCommand *cmd = pulsarc__base_command__unpack(&d->allocator, cmd_size, p + 8);
  if (!cmd)
    return PC_DEC_MALFORMED;

  memset(f, 0, sizeof(*f));
  f->checksum_ok = true;
  const uint8_t *after = p + 8 + cmd_size;
  if (after < end) {
    int rc = parse_payload_section(after, end, f);
    if (rc != PC_DEC_OK) {
      arena_reset(d);
      memset(f, 0, sizeof(*f));
      return rc;
    }
  }
  f->cmd = cmd;
  f->raw = p;
  f->raw_len = 4 + (size_t)total;
  d->last_cmd = cmd;
  d->consumed += 4 + (size_t)total;
  return 1;
}
