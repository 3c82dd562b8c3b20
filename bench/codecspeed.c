/* pulsarc-codecspeed: raw compression speed of each codec library, called
 * directly (liblz4, zlib, libzstd, libsnappy), on the bytes pulsarc would
 * compress: a batch body of messages with pulsarc-perf's payload pattern,
 * filled under the same batch limits. bench/run.py divides pulsarc-perf's
 * figures by these.
 *
 * Codec settings are each library's default (lz4 default acceleration, zlib
 * level 6, zstd level 3, snappy), the formats Pulsar stores (LZ4 raw block,
 * zlib stream, zstd frame, snappy raw block). Single-threaded. */
#include <inttypes.h>
#include <lz4.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

#include "codec/frame.h"
#include "payload.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the compressed size, 0 on failure. */
static size_t compress_one(const char *codec, const uint8_t *in, size_t n, uint8_t *out,
                           size_t cap) {
  if (!strcmp(codec, "lz4")) {
    int r = LZ4_compress_default((const char *)in, (char *)out, (int)n, (int)cap);
    return r > 0 ? (size_t)r : 0;
  }
  if (!strcmp(codec, "zlib")) {
    uLongf dl = cap;
    return compress2(out, &dl, in, n, Z_DEFAULT_COMPRESSION) == Z_OK ? dl : 0;
  }
  if (!strcmp(codec, "zstd")) {
    size_t r = ZSTD_compress(out, cap, in, n, ZSTD_CLEVEL_DEFAULT);
    return ZSTD_isError(r) ? 0 : r;
  }
  if (!strcmp(codec, "snappy")) {
    size_t dl = cap;
    return snappy_compress((const char *)in, n, (char *)out, &dl) == SNAPPY_OK ? dl : 0;
  }
  return 0;
}

int main(int argc, char **argv) {
  uint64_t size = 100, bmm = 1000, bmb = 131072;
  double min_secs = 0.3;
  const char *codecs[8] = {0};
  int nc = 0;
  bool text = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--size") && i + 1 < argc)
      size = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--batch-max-messages") && i + 1 < argc)
      bmm = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--batch-max-bytes") && i + 1 < argc)
      bmb = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      min_secs = strtod(argv[++i], NULL);
    else if (!strcmp(argv[i], "--codec") && i + 1 < argc && nc < 8)
      codecs[nc++] = argv[++i];
    else if (!strcmp(argv[i], "--payload") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "pattern") || !strcmp(argv[i + 1], "text")))
      text = !strcmp(argv[++i], "text");
    else {
      fprintf(stderr,
              "usage: pulsarc-codecspeed [--size B] [--batch-max-messages N] "
              "[--batch-max-bytes N] [--seconds S] [--codec lz4|zlib|zstd|snappy]...\n"
              "       [--payload pattern|text]   (pulsarc-perf's payloads, tools/perf/payload.h)\n"
              "One JSON line per codec on stdout.\n");
      return 2;
    }
  }
  if (nc == 0) {
    static const char *all[] = {"lz4", "zstd", "snappy", "zlib"};
    for (int i = 0; i < 4; i++)
      codecs[nc++] = all[i];
  }
  /* Batch fill as pulsarc does it: each message counts len + 16. */
  uint64_t n = bmb / (size + 16);
  if (n > bmm)
    n = bmm;
  if (n == 0)
    n = 1;
  uint8_t *msg = malloc(size ? size : 1);
  pc_buf body = {0};
  if (!msg)
    return 1;
  uint8_t *pool = NULL;
  if (text) {
    if ((pool = malloc(PERF_TEXT_POOL_BYTES)) == NULL)
      return 1;
    perf_text_pool(pool, PERF_TEXT_POOL_BYTES, 1); /* pulsarc-perf's seed */
  }
  perf_pattern_fill(msg, size);
  for (uint64_t i = 0; i < n; i++) {
    if (text)
      perf_text_body(msg, size, pool, PERF_TEXT_POOL_BYTES, 0, i);
    perf_payload_header(msg, size, 0, i);
    if (pc_batch_append_plain(&body, i, msg, size))
      return 1;
  }
  free(pool);
  size_t cap = body.len * 2 + 65536;
  uint8_t *out = malloc(cap);
  if (!out)
    return 1;
  for (int c = 0; c < nc; c++) {
    size_t clen = compress_one(codecs[c], body.data, body.len, out, cap);
    if (!clen) {
      fprintf(stderr, "pulsarc-codecspeed: %s failed\n", codecs[c]);
      return 1;
    }
    uint64_t iters = 0;
    double t0 = now_s(), t;
    do {
      for (int k = 0; k < 8; k++)
        clen = compress_one(codecs[c], body.data, body.len, out, cap);
      iters += 8;
      t = now_s();
    } while (t - t0 < min_secs);
    double secs = t - t0, in_mb = (double)body.len * (double)iters / 1e6;
    printf("{\"tool\":\"codecspeed\",\"codec\":\"%s\",\"size\":%" PRIu64
           ",\"msgs_per_batch\":%" PRIu64
           ",\"batch_bytes\":%zu,\"compressed_bytes\":%zu,\"ratio\":%.3f,\"mb_per_sec\":%.1f,"
           "\"msgs_per_sec\":%.0f,\"payload\":\"%s\"}\n",
           codecs[c], size, n, body.len, clen, (double)body.len / (double)clen, in_mb / secs,
           (double)(n * iters) / secs, text ? "text" : "pattern");
  }
  free(out);
  free(msg);
  pc_buf_free(&body);
  return 0;
}
