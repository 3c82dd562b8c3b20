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
