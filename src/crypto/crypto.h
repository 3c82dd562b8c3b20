/* End-to-end encryption of payloads, as the official clients do it: a
 * random AES-256 data key, wrapped for each configured public key when it
 * is made (at the first entry, then at each rotation) with RSA-OAEP (SHA-1,
 * MGF1-SHA-1) or, for an EC key, the Java client's ECIES (ecies.h), and
 * AES-256-GCM per entry with a fresh 12-byte IV and the 16-byte tag
 * appended. A producer owns one pc_crypto; everything but
 * pc_crypto_request_rotation runs on the producer's I/O thread. */
#ifndef PULSARC_CRYPTO_CRYPTO_H
#define PULSARC_CRYPTO_CRYPTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/log.h"
#include "pulsarc.pb-c.h"
#include "pulsarc/pulsarc.h"

#define PC_CRYPTO_KEY_LEN 32
#define PC_CRYPTO_IV_LEN 12
#define PC_CRYPTO_TAG_LEN 16

/* Behind the public pulsarc_key_info_t: what a key reader fills. */
struct pulsarc_key_info {
  pc_buf pem;
  Pulsarc__KeyValue *meta; /* key and value malloc'ed */
  size_t nmeta, meta_cap;
};

typedef struct pc_crypto_conf {
  const char *key_names; /* "a,b" */
  pulsarc_key_reader_fn reader;
  void *reader_ctx;
  uint64_t rotation_ns;
} pc_crypto_conf;

typedef struct pc_crypto pc_crypto;

/* NULL when out of memory or key_names names no key (*err says which). */
pc_crypto *pc_crypto_new(const pc_crypto_conf *conf, const pc_logger *log, pulsarc_err_t *err);
void pc_crypto_free(pc_crypto *c);

/* [any] The next pc_crypto_ready makes a new data key. */
void pc_crypto_request_rotation(pc_crypto *c);

/* [loop] Makes or renews the data key when due (first use, interval
 * passed, rotation asked for, or a failed attempt ready to be retried).
 * PULSARC_OK when a wrapped data key is ready, else PULSARC_ERR_CRYPTO (or
 * NO_MEMORY): sends fail or go out plain, as configured. */
pulsarc_err_t pc_crypto_ready(pc_crypto *c, uint64_t now_ns);

/* [loop] Points md's encryption_keys at the wrapped keys (valid until the
 * next rotation: pack md before) and encryption_param at iv, whose bytes
 * pc_crypto_encrypt fills. Sizes are final: measure md after this. */
void pc_crypto_fill_metadata(pc_crypto *c, Pulsarc__MessageMetadata *md,
                             uint8_t iv[PC_CRYPTO_IV_LEN]);

/* [loop] Encrypts buf[off..len) in place under a fresh random IV (into iv)
 * and appends the tag. 0 or -1 (no memory, or OpenSSL failed). */
int pc_crypto_encrypt(pc_crypto *c, pc_buf *buf, size_t off, uint8_t iv[PC_CRYPTO_IV_LEN]);

/* [loop] Decrypts buf[off..len) (ciphertext and tag) in place, for taking
 * a never-written entry back: made under data key generation gen with iv.
 * The tag is dropped. 0, or -1 when that data key is gone (two rotations
 * since) or the tag does not verify. Rare path: may allocate. */
int pc_crypto_decrypt(pc_crypto *c, uint64_t gen, const uint8_t iv[PC_CRYPTO_IV_LEN], pc_buf *buf,
                      size_t off);

/* Rotations that succeeded so far (tests, stats); the generation of the
 * data key pc_crypto_encrypt uses now. */
uint64_t pc_crypto_generation(const pc_crypto *c);

#endif
