/* Growable byte buffer used by the codec, the transport and the tools.
 * Single-owner, not thread-safe: whoever holds it is the only user. */
#ifndef PULSARC_COMMON_BUF_H
#define PULSARC_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_buf {
  uint8_t *data;
  size_t len; /* bytes in use */
  size_t cap; /* bytes allocated */
} pc_buf;

/* Makes room for at least extra more bytes past len. 0 or -1 (no memory). */
int pc_buf_reserve(pc_buf *b, size_t extra);
/* Appends n bytes. 0 or -1. */
int pc_buf_append(pc_buf *b, const void *src, size_t n);
/* Frees the memory and zeroes the struct. */
void pc_buf_free(pc_buf *b);

static inline void pc_buf_reset(pc_buf *b) { b->len = 0; }

static inline void pc_put_u32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline uint32_t pc_get_u32be(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#ifdef __cplusplus
}
#endif

#endif
