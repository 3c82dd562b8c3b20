/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Pure functions, any
 * thread: the tables and the dispatch choice are set up once by a
 * constructor, before any thread can call in. */
#include "codec/crc32c.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#define PC_CRC_X86 1
#endif

#define PC_CRC_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static int hw_available, clmul_available;

static void crc32c_init_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ PC_CRC_POLY : c >> 1;
    crc_table[0][i] = c;
  }
  /* Table k advances a byte that sits k positions earlier in an 8-byte word,
   * so eight lookups fold a whole word at once (slicing-by-8). */
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = crc_table[0][i];
    for (int k = 1; k < 8; k++) {
      c = crc_table[0][c & 0xff] ^ (c >> 8);
      crc_table[k][i] = c;
    }
  }
}

/* ------------------------------------------------------------ combine */

/* Polynomials over GF(2) modulo the CRC polynomial, in the reflected bit
 * order the CRC uses: bit 31 is x^0. */
static uint32_t mul_mod_poly(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, prod = 0;
  for (;;) {
    if (a & m) {
      prod ^= b;
      if ((a & (m - 1)) == 0)
        break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ PC_CRC_POLY : b >> 1;
  }
  return prod;
}

static uint32_t x_pow2k[32]; /* x^(2^k) mod P */

static void init_powers(void) {
  uint32_t p = 1u << 30; /* x^1 */
  x_pow2k[0] = p;
  for (int k = 1; k < 32; k++)
    x_pow2k[k] = p = mul_mod_poly(p, p);
}

/* x^(8 * len) mod P: appending len zero bytes multiplies the CRC by it. */
static uint32_t x_pow_bytes(uint64_t len) {
  uint32_t p = 1u << 31; /* x^0 */
  unsigned k = 3;        /* 8 = 2^3 bits per byte */
  for (; len != 0; len >>= 1, k++)
    if (len & 1)
      p = mul_mod_poly(x_pow2k[k & 31], p);
  return p;
}

#ifdef __x86_64__
/* x^n mod P for a count of bits (the folding constants below). */
static uint32_t x_pow_bits(uint64_t n) {
  uint32_t p = 1u << 31;
  for (unsigned k = 0; n != 0; n >>= 1, k++)
    if (n & 1)
      p = mul_mod_poly(x_pow2k[k & 31], p);
  return p;
}
#endif

uint32_t pc_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b) {
  return mul_mod_poly(x_pow_bytes(len_b), crc_a) ^ crc_b;
}

static inline uint64_t load_le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8); /* unaligned-safe; x86 and common ARM are little-endian */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

uint32_t pc_crc32c_sw(uint32_t crc, const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint32_t c = ~crc;
  while (len >= 8) {
    uint64_t w = load_le64(p) ^ c;
    c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^ crc_table[5][(w >> 16) & 0xff] ^
        crc_table[4][(w >> 24) & 0xff] ^ crc_table[3][(w >> 32) & 0xff] ^
        crc_table[2][(w >> 40) & 0xff] ^ crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len--)
    c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

#ifdef PC_CRC_X86
/* One crc32 instruction has a latency of three cycles but a throughput of
 * one per cycle, so a single dependent chain runs at a third of the
 * instruction's speed. Large buffers are therefore cut into three lanes
 * whose CRCs run side by side and are then joined: the CRC register is
 * linear, so reg(A||B) = shift_len(B)(reg(A)) ^ reg_from_zero(B), where the
 * shift appends len zero bytes. The shift for each lane size is a fixed
 * 32x32 matrix over GF(2), kept as four byte-indexed tables. */
#ifdef __x86_64__
#define PC_CRC_LONG 8192u
#define PC_CRC_SHORT 256u
static uint32_t shift_long[4][256], shift_short[4][256];

__attribute__((target("sse4.2"))) static uint32_t zeros_hw(uint32_t reg, size_t len) {
  uint64_t c = reg;
  for (size_t i = 0; i < len; i += 8)
    c = _mm_crc32_u64(c, 0);
  return (uint32_t)c;
}

static void build_shift(uint32_t table[4][256], size_t len) {
  uint32_t basis[32];
  for (int b = 0; b < 32; b++)
    basis[b] = zeros_hw(1u << b, len);
  for (int k = 0; k < 4; k++)
    for (uint32_t v = 0; v < 256; v++) {
      uint32_t r = 0;
      for (int bit = 0; bit < 8; bit++)
        if (v & (1u << bit))
          r ^= basis[8 * k + bit];
      table[k][v] = r;
    }
}

static inline uint32_t shift(uint32_t table[4][256], uint32_t reg) {
  return table[0][reg & 0xff] ^ table[1][(reg >> 8) & 0xff] ^ table[2][(reg >> 16) & 0xff] ^
         table[3][reg >> 24];
}

/* Runs whole lanes of `lane` bytes three at a time; returns the register. */
__attribute__((target("sse4.2"))) static uint64_t
lanes3(uint64_t c, const uint8_t **pp, size_t *lenp, size_t lane, uint32_t table[4][256]) {
  const uint8_t *p = *pp;
  size_t len = *lenp;
  while (len >= 3 * lane) {
    uint64_t c0 = c, c1 = 0, c2 = 0;
    for (size_t i = 0; i < lane; i += 8) {
      uint64_t w0, w1, w2;
      memcpy(&w0, p + i, 8);
      memcpy(&w1, p + lane + i, 8);
      memcpy(&w2, p + 2 * lane + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
    c = shift(table, (uint32_t)c) ^ (uint32_t)c2;
    p += 3 * lane;
    len -= 3 * lane;
  }
  *pp = p;
  *lenp = len;
  return c;
}

/* Carry-less multiplication folds 16 bytes at a time without the crc32
 * instruction's dependent chain (on the AMD EPYC of the bench VM one crc32
 * lane runs at 2.4 bytes/ns and three lanes at 3.0; this at 5.5). Four
 * 128-bit accumulators move 64 bytes ahead per step: a block V = H x^64 + L
 * (H its first 8 bytes) standing D bits before its destination becomes
 * H (x^(D+63) mod P) x + L (x^(D-1) mod P) x, the trailing x being what a
 * carry-less product of bit-reflected operands adds. What is left is one
 * 128-bit block congruent to everything read so far, so the crc32
 * instruction finishes from a zero register over it and the tail. */
static uint64_t fold_k[4][2]; /* D = 512, 384, 256, 128: {x^(D+63), x^(D-1)} */

static void build_fold_constants(void) {
  static const unsigned dist[4] = {512, 384, 256, 128};
  for (int i = 0; i < 4; i++) {
    /* A 32-bit reflected residue sits in the top half of a reflected qword. */
    fold_k[i][0] = (uint64_t)x_pow_bits(dist[i] + 63) << 32;
    fold_k[i][1] = (uint64_t)x_pow_bits(dist[i] - 1) << 32;
  }
}

__attribute__((target("sse4.2,pclmul"))) static inline __m128i fold(__m128i v, __m128i k,
                                                                    __m128i w) {
  __m128i h = _mm_clmulepi64_si128(v, k, 0x00), l = _mm_clmulepi64_si128(v, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(h, l), w);
}

#define PC_CRC_CLMUL_MIN 64u

/* len >= PC_CRC_CLMUL_MIN. */
__attribute__((target("sse4.2,pclmul"))) static uint32_t
crc32c_clmul(uint32_t crc, const uint8_t *p, size_t len) {
  const __m128i *q = (const __m128i *)p;
  __m128i x0 = _mm_loadu_si128(q), x1 = _mm_loadu_si128(q + 1), x2 = _mm_loadu_si128(q + 2),
          x3 = _mm_loadu_si128(q + 3);
  /* The register is the same as these bits xored into the first four bytes. */
  x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc));
  p += 64;
  len -= 64;
  __m128i k = _mm_loadu_si128((const __m128i *)fold_k[0]);
  while (len >= 64) {
    q = (const __m128i *)p;
    x0 = fold(x0, k, _mm_loadu_si128(q));
    x1 = fold(x1, k, _mm_loadu_si128(q + 1));
    x2 = fold(x2, k, _mm_loadu_si128(q + 2));
    x3 = fold(x3, k, _mm_loadu_si128(q + 3));
    p += 64;
    len -= 64;
  }
  __m128i acc = fold(x0, _mm_loadu_si128((const __m128i *)fold_k[1]), x3);
  acc = fold(x1, _mm_loadu_si128((const __m128i *)fold_k[2]), acc);
  k = _mm_loadu_si128((const __m128i *)fold_k[3]);
  acc = fold(x2, k, acc);
  for (; len >= 16; p += 16, len -= 16)
    acc = fold(acc, k, _mm_loadu_si128((const __m128i *)p));
  uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(acc));
  c = _mm_crc32_u64(c, (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  while (len--)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif /* __x86_64__ */

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                               size_t len) {
  uint64_t c = ~crc;
#ifdef __x86_64__
  c = lanes3(c, &p, &len, PC_CRC_LONG, shift_long);
  c = lanes3(c, &p, &len, PC_CRC_SHORT, shift_short);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    len -= 8;
  }
#endif
  uint32_t c32 = (uint32_t)c;
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    c32 = _mm_crc32_u32(c32, w);
    p += 4;
    len -= 4;
  }
  while (len--)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif

__attribute__((constructor)) static void crc32c_setup(void) {
  crc32c_init_tables();
  init_powers();
#ifdef PC_CRC_X86
  __builtin_cpu_init();
  hw_available = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#ifdef __x86_64__
  if (hw_available) {
    build_shift(shift_long, PC_CRC_LONG);
    build_shift(shift_short, PC_CRC_SHORT);
    clmul_available = __builtin_cpu_supports("pclmul") ? 1 : 0;
    if (clmul_available)
      build_fold_constants();
  }
#endif
#endif
}

int pc_crc32c_hw_available(void) { return hw_available; }

uint32_t pc_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
#ifdef PC_CRC_X86
  if (hw_available)
    return crc32c_sse42(crc, buf, len);
#endif
  /* Keeps callers that ignore pc_crc32c_hw_available() correct. */
  return pc_crc32c_sw(crc, buf, len);
}

int pc_crc32c_clmul_available(void) { return clmul_available; }

uint32_t pc_crc32c_clmul(uint32_t crc, const void *buf, size_t len) {
#ifdef __x86_64__
  if (clmul_available && len >= PC_CRC_CLMUL_MIN)
    return crc32c_clmul(crc, buf, len);
#endif
  return pc_crc32c_hw(crc, buf, len);
}

uint32_t pc_crc32c(uint32_t crc, const void *buf, size_t len) {
#ifdef __x86_64__
  if (__builtin_expect(clmul_available, 1) && len >= PC_CRC_CLMUL_MIN)
    return crc32c_clmul(crc, buf, len);
#endif
#ifdef PC_CRC_X86
  if (__builtin_expect(hw_available, 1))
    return crc32c_sse42(crc, buf, len);
#endif
  return pc_crc32c_sw(crc, buf, len);
}
