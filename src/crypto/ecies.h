/* Wrapping the data key for an EC public key the way the Java client does
 * (MessageCryptoBc: BouncyCastle's Cipher "ECIES" with
 * IESParameterSpec(null, null, 128), bcprov 1.78.1 in Pulsar 4.0.x), so
 * its consumers unwrap it with the EC private key. docs/encryption.md has
 * the construction; tests/interop/java/kat/EciesKat.java made the
 * known-answer vectors that pin it. */
#ifndef PULSARC_CRYPTO_ECIES_H
#define PULSARC_CRYPTO_ECIES_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* HMAC-SHA1, whole: BouncyCastle does not truncate it. */
#define PC_ECIES_TAG_LEN 20

/* Wraps in[0..len) for the EC public key pub: the ephemeral public key
 * (uncompressed point), the input XORed with the KDF stream, the tag. eph
 * is the ephemeral key pair on pub's curve; NULL draws a fresh one (always,
 * except in known-answer tests). On success (0) *out is malloc'ed and
 * *olen is 1 + 2 * field bytes + len + 20 (117 for a 32-byte key on
 * P-256); -1 on failure (not EC, OpenSSL failed, no memory). No shared
 * state: the producer calls it on its I/O thread at each rotation. */
int pc_ecies_wrap(EVP_PKEY *pub, EVP_PKEY *eph, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *olen);

#endif
