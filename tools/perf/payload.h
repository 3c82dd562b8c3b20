/* The payloads of pulsarc-perf, shared with bench/codecspeed.c so that the
 * raw codecs compress exactly the bytes the producer sends.
 *
 * Every payload starts with 16 bytes (thread, counter), little-endian, so
 * each message is unique. The rest is either
 *   pattern  'a' + i % 26: the default, and compressible far beyond real
 *            data (lz4 about 11x at 100 B, 200x at 16 KiB), or
 *   text     a window of a 4 MiB pool of words from a small vocabulary with
 *            numbers and punctuation, at an offset that moves with every
 *            message: compresses about like logs or JSON do.
 * Header only; plain C, no library dependencies. */
#ifndef PULSARC_TOOLS_PERF_PAYLOAD_H
#define PULSARC_TOOLS_PERF_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PERF_TEXT_POOL_BYTES (4u << 20)

static inline void perf_payload_header(uint8_t *buf, size_t size, uint64_t thread,
                                       uint64_t counter) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* Two word stores: the byte-wise build below, copied out by a sized
   * memcpy, cost pulsarc-perf's sender a store-forwarding stall per
   * message (the bytes are the same). */
  if (size >= 16) {
    memcpy(buf, &thread, 8);
    memcpy(buf + 8, &counter, 8);
    return;
  }
#endif
  uint8_t hdr[16];
  for (int i = 0; i < 8; i++) {
    hdr[i] = (uint8_t)(thread >> (8 * i));
    hdr[8 + i] = (uint8_t)(counter >> (8 * i));
  }
  memcpy(buf, hdr, size < 16 ? size : 16);
}

static inline void perf_pattern_fill(uint8_t *buf, size_t size) {
  for (size_t i = 0; i < size; i++)
    buf[i] = (uint8_t)('a' + i % 26);
}

/* Fills pool (len bytes) with text; the same seed gives the same bytes. */
static inline void perf_text_pool(uint8_t *pool, size_t len, uint64_t seed) {
  static const char *const words[32] = {
      "user",    "id",     "status", "ok",      "error",  "request", "time",   "value",
      "order",   "amount", "price",  "account", "event",  "type",    "name",   "session",
      "created", "region", "device", "latency", "source", "target",  "result", "count",
      "message", "level",  "info",   "warn",    "item",   "payload", "true",   "false"};
  static const char seps[8] = {' ', ' ', ',', ':', '"', '{', '}', '\n'};
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t at = 0;
  while (at < len) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    char tok[24];
    size_t n;
    if ((x & 3) == 0) {
      n = 0;
      for (uint64_t v = (x >> 8) % 1000000; n == 0 || v > 0; v /= 10)
        tok[n++] = (char)('0' + v % 10);
    } else {
      const char *w = words[(x >> 2) & 31];
      n = strlen(w);
      memcpy(tok, w, n);
    }
    tok[n++] = seps[(x >> 40) & 7];
    for (size_t i = 0; i < n && at < len; i++)
      pool[at++] = (uint8_t)tok[i];
  }
}

/* The text body of message (thread, counter): bytes 16.. of buf. */
static inline void perf_text_body(uint8_t *buf, size_t size, const uint8_t *pool, size_t pool_len,
                                  uint64_t thread, uint64_t counter) {
  if (size <= 16 || pool_len <= size)
    return;
  uint64_t off = (counter * 2654435761ull + thread * 7919ull) % (pool_len - size);
  memcpy(buf + 16, pool + off, size - 16);
}

#endif
