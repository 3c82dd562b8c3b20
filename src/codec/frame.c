/* Frame and batch encoding. Pure functions over buffers: any thread, by the
 * buffer's owner. */
#include "codec/frame.h"

#include <string.h>

#include "codec/crc32c.h"

int pc_frame_append_command(pc_buf *out, const Pulsarc__BaseCommand *cmd) {
  size_t cmd_size = pulsarc__base_command__get_packed_size(cmd);
  if (cmd_size > UINT32_MAX - 4)
    return -1;
  if (pc_buf_reserve(out, 8 + cmd_size) != 0)
    return -1;
  uint8_t *p = out->data + out->len;
  pc_put_u32be(p, (uint32_t)(4 + cmd_size));
  pc_put_u32be(p + 4, (uint32_t)cmd_size);
  pulsarc__base_command__pack(cmd, p + 8);
  out->len += 8 + cmd_size;
  return 0;
}

int pc_frame_seal_payload(pc_buf *frame, size_t headroom, const Pulsarc__BaseCommand *cmd,
                          const Pulsarc__MessageMetadata *md, size_t *frame_start) {
  return pc_frame_seal_gather(frame, headroom, cmd, md, NULL, 0, frame_start);
}

int pc_frame_seal_gather(pc_buf *frame, size_t headroom, const Pulsarc__BaseCommand *cmd,
                         const Pulsarc__MessageMetadata *md, const pc_frame_hole *holes,
                         size_t nholes, size_t *frame_start) {
  if (frame->len < headroom)
    return -1;
  size_t inline_len = frame->len - headroom, payload_len = inline_len;
  for (size_t i = 0; i < nholes; i++) {
    if (holes[i].off > inline_len || (i > 0 && holes[i].off < holes[i - 1].off))
      return -1;
    payload_len += holes[i].len;
  }
  size_t cmd_size = pulsarc__base_command__get_packed_size(cmd);
  size_t md_size = pulsarc__message_metadata__get_packed_size(md);
  size_t header = 4 + 4 + cmd_size + 2 + 4 + 4 + md_size;
  if (header > UINT32_MAX || payload_len > (size_t)UINT32_MAX + 4 - header)
    return -1;

  size_t start;
  if (header <= headroom) {
    start = headroom - header;
  } else {
    /* Too little headroom (e.g. metadata grew): shift the payload once. */
    size_t grow = header - headroom;
    if (pc_buf_reserve(frame, grow) != 0)
      return -1;
    if (inline_len)
      memmove(frame->data + header, frame->data + headroom, inline_len);
    frame->len += grow;
    start = 0;
  }

  uint8_t *p = frame->data + start;
  pc_put_u32be(p, (uint32_t)(header - 4 + payload_len));
  pc_put_u32be(p + 4, (uint32_t)cmd_size);
  pulsarc__base_command__pack(cmd, p + 8);
  uint8_t *q = p + 8 + cmd_size;
  q[0] = PC_FRAME_MAGIC_CRC >> 8;
  q[1] = PC_FRAME_MAGIC_CRC & 0xff;
  uint8_t *crc_at = q + 2;
  uint8_t *md_at = q + 6;
  pc_put_u32be(md_at, (uint32_t)md_size);
  pulsarc__message_metadata__pack(md, md_at + 4);
  uint32_t crc = pc_crc32c(0, md_at, 4 + md_size);
  const uint8_t *body = md_at + 4 + md_size;
  size_t pos = 0;
  for (size_t i = 0; i < nholes; i++) {
    crc = pc_crc32c(crc, body + pos, holes[i].off - pos);
    crc = holes[i].has_crc ? pc_crc32c_combine(crc, holes[i].crc, holes[i].len)
                           : pc_crc32c(crc, holes[i].data, holes[i].len);
    pos = holes[i].off;
  }
  crc = pc_crc32c(crc, body + pos, inline_len - pos);
  pc_put_u32be(crc_at, crc);
  *frame_start = start;
  return 0;
}

/* ------------------------------------------------------------------ batch */

int pc_batch_append(pc_buf *body, const Pulsarc__SingleMessageMetadata *smd, const void *payload,
                    size_t len) {
  if (len > INT32_MAX)
    return -1;
  /* payload_size must describe the bytes that follow, whatever the caller
   * left in it. */
  Pulsarc__SingleMessageMetadata m = *smd;
  m.payload_size = (int32_t)len;
  size_t sz = pulsarc__single_message_metadata__get_packed_size(&m);
  if (pc_buf_reserve(body, 4 + sz + len) != 0)
    return -1;
  uint8_t *p = body->data + body->len;
  pc_put_u32be(p, (uint32_t)sz);
  pulsarc__single_message_metadata__pack(&m, p + 4);
  if (payload == NULL) {
    body->len += 4 + sz;
    return 0;
  }
  if (len)
    memcpy(p + 4 + sz, payload, len);
  body->len += 4 + sz + len;
  return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

int pc_batch_append_plain(pc_buf *body, uint64_t sequence_id, const void *payload, size_t len) {
  if (len > INT32_MAX)
    return -1;
  /* Worst case: 4 size + (1 tag + 5 varint) + (1 tag + 10 varint). Called
   * per message: the room check is inline, the call only when growing. */
  if (body->cap - body->len < 4 + 17 + len && pc_buf_reserve(body, 4 + 17 + len) != 0)
    return -1;
  uint8_t *p = body->data + body->len;
  uint8_t *m = p + 4;
  size_t n = 0;
  /* Field order by number, as protobuf-c packs: payload_size (3), then
   * sequence_id (8), both varints. */
  m[n++] = (3 << 3) | 0;
  n += put_varint(m + n, len);
  m[n++] = (8 << 3) | 0;
  n += put_varint(m + n, sequence_id);
  pc_put_u32be(p, (uint32_t)n);
  if (payload == NULL) {
    body->len += 4 + n;
    return 0;
  }
  if (len)
    memcpy(m + n, payload, len);
  body->len += 4 + n + len;
  return 0;
}

/* Reads a varint at *pos < end. 0, or -1 when truncated or over 10 bytes. */
static int get_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (*pos >= end)
      return -1;
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* Finds the required payload_size (field 3) in raw SingleMessageMetadata
 * bytes without allocating. 0, or -1 if absent or malformed. */
static int smd_payload_size(const uint8_t *p, size_t len, int64_t *size) {
  size_t pos = 0;
  int found = 0;
  while (pos < len) {
    uint64_t key, v;
    if (get_varint(p, len, &pos, &key) != 0)
      return -1;
    switch (key & 7) {
    case 0:
      if (get_varint(p, len, &pos, &v) != 0)
        return -1;
      if ((key >> 3) == 3) {
        *size = (int32_t)(uint32_t)v; /* int32 on the wire: sign-extended */
        found = 1;
      }
      break;
    case 1:
      if (len - pos < 8)
        return -1;
      pos += 8;
      break;
    case 2:
      if (get_varint(p, len, &pos, &v) != 0 || v > len - pos)
        return -1;
      pos += (size_t)v;
      break;
    case 5:
      if (len - pos < 4)
        return -1;
      pos += 4;
      break;
    default:
      return -1;
    }
  }
  return found ? 0 : -1;
}

int pc_batch_next(const uint8_t *body, size_t len, size_t *offset, const uint8_t **smd,
                  size_t *smd_len, const uint8_t **payload, size_t *payload_len) {
  size_t off = *offset;
  if (off == len)
    return 0;
  if (off > len || len - off < 4)
    return -1;
  size_t sz = pc_get_u32be(body + off);
  off += 4;
  if (sz > len - off)
    return -1;
  int64_t psize = -1;
  if (smd_payload_size(body + off, sz, &psize) != 0)
    return -1;
  if (psize < 0 || (uint64_t)psize > len - off - sz)
    return -1;
  *smd = body + off;
  *smd_len = sz;
  *payload = body + off + sz;
  *payload_len = (size_t)psize;
  *offset = off + sz + (size_t)psize;
  return 1;
}

Pulsarc__MessageMetadata *pc_metadata_unpack(const uint8_t *md, size_t len) {
  return pulsarc__message_metadata__unpack(NULL, len, md);
}
