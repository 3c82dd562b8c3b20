/* Pulsar frame encoding and incremental decoding. No sockets, threads or
 * clocks: pure functions over buffers, usable from any thread by the
 * buffer's owner. Protobuf types come from proto/pulsarc.proto (generated
 * at build time as pulsarc.pb-c.h).
 *
 * Simple frame:  [total:u32][cmd_size:u32][BaseCommand]
 * Payload frame: [total:u32][cmd_size:u32][BaseCommand][0x0e01:u16][crc:u32]
 *                [md_size:u32][MessageMetadata][payload]
 * crc = CRC32C over md_size||metadata||payload. All big-endian. */
#ifndef PULSARC_CODEC_FRAME_H
#define PULSARC_CODEC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "pulsarc.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PC_FRAME_MAGIC_CRC 0x0e01
#define PC_FRAME_MAGIC_BROKER_ENTRY_METADATA 0x0e02
/* Default limit on an incoming frame: 5 MiB max message + 10 KiB padding. */
#define PC_FRAME_DEFAULT_MAX (5 * 1024 * 1024 + 10 * 1024)

/* Appends a simple command frame to out. 0, or -1 when out of memory. */
int pc_frame_append_command(pc_buf *out, const Pulsarc__BaseCommand *cmd);

/* Seals a payload frame in place. On entry frame->data[headroom .. len)
 * holds the payload (e.g. a batch body or a compressed payload), built after
 * pc_buf_reserve'ing `headroom` spare bytes at the front (frame->len started
 * at headroom). Writes the header (sizes, command, magic, CRC, metadata)
 * immediately before the payload so the frame is contiguous; if the header
 * does not fit in headroom the payload is moved. On success *frame_start is
 * the offset of the first frame byte and the frame runs to frame->len.
 * CRC is computed once, over metadata size, metadata and payload.
 * Returns 0, or -1 when out of memory. */
int pc_frame_seal_payload(pc_buf *frame, size_t headroom, const Pulsarc__BaseCommand *cmd,
                          const Pulsarc__MessageMetadata *md, size_t *frame_start);

/* Bytes that belong in a payload but live outside the frame buffer (large
 * message payloads are written straight from the caller's copy instead of
 * being copied into the frame). off is where they go, counted from the
 * start of the in-buffer payload; holes are in order of off. */
typedef struct pc_frame_hole {
  size_t off;
  const uint8_t *data;
  size_t len;
  bool has_crc; /* crc is pc_crc32c(0, data, len), computed elsewhere */
  uint32_t crc;
} pc_frame_hole;

/* pc_frame_seal_payload for a payload with holes: the frame's size and CRC
 * cover the in-buffer bytes with every hole spliced in at its offset. The
 * caller writes the frame as segments (buffer, hole, buffer, ...). */
int pc_frame_seal_gather(pc_buf *frame, size_t headroom, const Pulsarc__BaseCommand *cmd,
                         const Pulsarc__MessageMetadata *md, const pc_frame_hole *holes,
                         size_t nholes, size_t *frame_start);

/* Appends one batch entry [u32 size][SingleMessageMetadata][payload] to a
 * batch body; with payload == NULL only the size and metadata (describing
 * len payload bytes that the caller splices in as a hole). 0 or -1. */
int pc_batch_append(pc_buf *body, const Pulsarc__SingleMessageMetadata *smd, const void *payload,
                    size_t len);

/* Hot-path form of pc_batch_append for a message with no options: writes
 * SingleMessageMetadata{payload_size = len, sequence_id = seq} by hand
 * (byte-identical to protobuf-c's output; tested against it). payload ==
 * NULL: header only, as for pc_batch_append. 0 or -1. */
int pc_batch_append_plain(pc_buf *body, uint64_t sequence_id, const void *payload, size_t len);

/* Walks a batch body: on each call returns 1 and fills the entry's raw
 * SingleMessageMetadata bytes and payload, 0 at the end, -1 if malformed.
 * *offset starts at 0. */
int pc_batch_next(const uint8_t *body, size_t len, size_t *offset, const uint8_t **smd,
                  size_t *smd_len, const uint8_t **payload, size_t *payload_len);

/* Incremental decoder: bytes may arrive split anywhere. */
typedef struct pc_decoder {
  pc_buf in;                      /* unconsumed input */
  size_t consumed;                /* bytes of `in` already handed out as frames */
  uint32_t max_frame;             /* frames larger than this are an error */
  Pulsarc__BaseCommand *last_cmd; /* freed on the next call */
  /* Unpacked commands live in a bump arena reset on every call, so decoding
   * a receipt allocates nothing in steady state. Rare overflow goes to
   * malloc'ed blocks chained in `overflow`. */
  uint8_t *arena;
  size_t arena_cap, arena_used;
  void *overflow;
  ProtobufCAllocator allocator;
} pc_decoder;

/* A decoded frame. Every pointer stays valid until the next call to
 * pc_decoder_next / pc_decoder_space on the same decoder. */
typedef struct pc_frame {
  Pulsarc__BaseCommand *cmd; /* unpacked command, owned by the decoder */
  bool has_payload;          /* payload section present (SEND, MESSAGE) */
  bool checksum_ok;          /* CRC32C matched (true if no checksum) */
  bool has_checksum;
  const uint8_t *metadata; /* raw MessageMetadata bytes */
  size_t metadata_len;
  const uint8_t *payload; /* bytes after the metadata */
  size_t payload_len;
  const uint8_t *raw; /* the whole frame, from the total size field */
  size_t raw_len;
} pc_frame;

typedef enum pc_decode_err {
  PC_DEC_OK = 0,
  PC_DEC_OVERSIZE = -1,  /* total size over max_frame */
  PC_DEC_MALFORMED = -2, /* sizes inconsistent, bad magic, bad protobuf */
  PC_DEC_NOMEM = -3
} pc_decode_err;

void pc_decoder_init(pc_decoder *d, uint32_t max_frame);
void pc_decoder_free(pc_decoder *d);
/* Gives a writable region of at least min bytes at the end of the input
 * (read(2) straight into it), then pc_decoder_commit(n) the bytes read.
 * NULL when out of memory. */
uint8_t *pc_decoder_space(pc_decoder *d, size_t min, size_t *avail);
void pc_decoder_commit(pc_decoder *d, size_t n);
/* Copies n bytes in (for callers that already hold the bytes). 0 or -1. */
int pc_decoder_feed(pc_decoder *d, const void *bytes, size_t n);
/* 1: *f holds the next frame; 0: need more bytes; <0: pc_decode_err, after
 * which the stream is unusable (the connection must be closed). */
int pc_decoder_next(pc_decoder *d, pc_frame *f);

/* Convenience for tests and the test broker: unpack metadata of a frame. */
Pulsarc__MessageMetadata *pc_metadata_unpack(const uint8_t *md, size_t len);

#ifdef __cplusplus
}
#endif

#endif
