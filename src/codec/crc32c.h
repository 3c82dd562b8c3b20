/* CRC-32C (Castagnoli), as Pulsar checksums payload frames.
 * Pure functions: any thread. */
#ifndef PULSARC_CODEC_CRC32C_H
#define PULSARC_CODEC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues a CRC: start with crc = 0; pc_crc32c(0, "123456789", 9) ==
 * 0xE3069283; pc_crc32c(pc_crc32c(0, a, n), b, m) == crc of a||b.
 * Uses SSE4.2 when the CPU has it (chosen once at run time), else the
 * portable table-driven path. */
uint32_t pc_crc32c(uint32_t crc, const void *buf, size_t len);

/* The CRC of a||b from crc_a = CRC of a, crc_b = CRC of b and len_b =
 * length of b, without the bytes (a few hundred ns of GF(2) arithmetic).
 * Lets a thread that has b hot in its cache checksum it, and another
 * thread fold that into a frame's CRC. */
uint32_t pc_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

/* The two implementations, exposed for tests and the bench. */
uint32_t pc_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t pc_crc32c_hw(uint32_t crc, const void *buf, size_t len); /* only if available */
int pc_crc32c_hw_available(void);
/* Carry-less-multiply folding (x86-64 with PCLMULQDQ; pc_crc32c's path for
 * 64 bytes and more when available); falls back like pc_crc32c_hw. */
uint32_t pc_crc32c_clmul(uint32_t crc, const void *buf, size_t len);
int pc_crc32c_clmul_available(void);

#ifdef __cplusplus
}
#endif

#endif
