/* Compression codecs exactly as Pulsar stores them: LZ4 raw block (no frame
 * header), ZLIB stream with zlib header, ZSTD frame, SNAPPY raw block. Codec
 * numbers are the wire CompressionType values (NONE 0, LZ4 1, ZLIB 2,
 * ZSTD 3, SNAPPY 4). Pure functions over buffers: any thread. */
#ifndef PULSARC_CODEC_COMPRESS_H
#define PULSARC_CODEC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends the compressed form of in[0..len) to out. 0, or -1 (unknown codec,
 * no memory, or input over the codec's limit). */
int pc_compress(int codec, const uint8_t *in, size_t len, pc_buf *out);

/* pc_compress at a level: 0 is the codec's default (the official clients'
 * choice: zstd 3, zlib 6, plain LZ4); zstd takes 1..22, zlib 1..9, and LZ4
 * 1..12 for LZ4 HC, whose output is the same raw block any LZ4 decoder
 * reads. Snappy has no levels and ignores it. -1 also for a level out of
 * the codec's range. */
int pc_compress_level(int codec, int level, const uint8_t *in, size_t len, pc_buf *out);

/* Appends exactly uncompressed_size bytes decoded from in[0..len) to out.
 * 0, or -1 if the input is corrupt or does not decode to that size. Never
 * writes more than uncompressed_size bytes (safe on hostile input). */
int pc_decompress(int codec, const uint8_t *in, size_t len, size_t uncompressed_size, pc_buf *out);

/* "none", "lz4", "zlib", "zstd", "snappy"; NULL for an unknown codec. */
const char *pc_compress_name(int codec);

#ifdef __cplusplus
}
#endif
#endif
