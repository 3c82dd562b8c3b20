/* BouncyCastle's ECIES as the Java client wraps its data key (ecies.h),
 * with OpenSSL EVP. What BouncyCastle's IESEngine does in stream mode (no
 * block cipher) with IESParameterSpec(null, null, 128), checked against
 * bcprov 1.78.1's sources and vectors it produced:
 *   V  = the ephemeral public key, uncompressed (04 || X || Y)
 *   Z  = ECDH(ephemeral private, recipient public): X, field-size bytes
 *   K  = KDF2-SHA1(V || Z), no derivation vector: the same bytes as the
 *        ANSI X9.63 KDF (counter from 1, big-endian, after the secret)
 *   K2 = K[0..16) the MAC key (V not empty puts it first), K1 = the next
 *        len bytes, XORed with the input: C = in ^ K1
 *   T  = HMAC-SHA1(K2, C || L2), L2 = eight zero bytes (the bit length of
 *        the empty encoding vector; IESEngine adds it whenever V is set)
 *   output V || C || T
 * One wrap per rotation and EC key name: allocations are fine here. */
#include "crypto/ecies.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#define MAC_KEY_LEN 16 /* macKeySize 128 bits */
#define MAX_POINT 133  /* uncompressed P-521 point */
#define MAX_FIELD 66

static EVP_PKEY *fresh_ephemeral(EVP_PKEY *pub) {
  /* A context made from the key generates on the key's own group, named or
   * explicit. */
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
  EVP_PKEY *eph = NULL;
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &eph) <= 0)
    eph = NULL;
  EVP_PKEY_CTX_free(ctx);
  return eph;
}

static int ecdh(EVP_PKEY *eph, EVP_PKEY *pub, uint8_t *z, size_t *zlen) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(eph, NULL);
  /* OpenSSL pads the shared X to the field size, as BouncyCastle's
   * BigIntegers.asUnsignedByteArray(fieldSize, z) does. */
  int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, pub) > 0 &&
           EVP_PKEY_derive(ctx, NULL, zlen) > 0 && *zlen <= MAX_FIELD &&
           EVP_PKEY_derive(ctx, z, zlen) > 0;
  EVP_PKEY_CTX_free(ctx);
  return ok ? 0 : -1;
}

static int x963_sha1(const uint8_t *secret, size_t slen, uint8_t *out, size_t olen) {
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
  EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
      OSSL_PARAM_construct_end()};
  int ok = ctx != NULL && EVP_KDF_derive(ctx, out, olen, params) > 0;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return ok ? 0 : -1;
}

static int hmac_sha1(const uint8_t key[MAC_KEY_LEN], const uint8_t *c, size_t clen,
                     uint8_t tag[PC_ECIES_TAG_LEN]) {
  static const uint8_t l2[8]; /* the empty encoding vector's bit length */
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
                         OSSL_PARAM_construct_end()};
  size_t n = 0;
  int ok = ctx != NULL && EVP_MAC_init(ctx, key, MAC_KEY_LEN, params) > 0 &&
           EVP_MAC_update(ctx, c, clen) > 0 && EVP_MAC_update(ctx, l2, sizeof l2) > 0 &&
           EVP_MAC_final(ctx, tag, &n, PC_ECIES_TAG_LEN) > 0 && n == PC_ECIES_TAG_LEN;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? 0 : -1;
}

int pc_ecies_wrap(EVP_PKEY *pub, EVP_PKEY *eph, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *olen) {
  *out = NULL;
  if (pub == NULL || EVP_PKEY_base_id(pub) != EVP_PKEY_EC || len == 0)
    return -1;
  EVP_PKEY *own = eph == NULL ? fresh_ephemeral(pub) : NULL;
  if (eph == NULL)
    eph = own;
  uint8_t vz[MAX_POINT + MAX_FIELD];
  size_t vlen = 0, zlen = 0, klen = MAC_KEY_LEN + len;
  uint8_t *k = malloc(klen);
  uint8_t *o = NULL;
  int rc = -1;
  /* The uncompressed form is EC keys' default encoding; checked anyway,
   * since a compressed V would not be what the consumer parses. */
  if (eph == NULL || k == NULL ||
      EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, vz, MAX_POINT,
                                      &vlen) <= 0 ||
      vlen < 3 || vz[0] != 0x04 || ecdh(eph, pub, vz + vlen, &zlen) != 0 || vlen != 1 + 2 * zlen ||
      x963_sha1(vz, vlen + zlen, k, klen) != 0)
    goto done;
  *olen = vlen + len + PC_ECIES_TAG_LEN;
  if ((o = malloc(*olen)) == NULL)
    goto done;
  memcpy(o, vz, vlen);
  for (size_t i = 0; i < len; i++)
    o[vlen + i] = in[i] ^ k[MAC_KEY_LEN + i];
  if (hmac_sha1(k, o + vlen, len, o + vlen + len) != 0)
    goto done;
  *out = o;
  o = NULL;
  rc = 0;
done:
  OPENSSL_cleanse(vz, sizeof vz);
  if (k != NULL)
    OPENSSL_clear_free(k, klen);
  free(o);
  EVP_PKEY_free(own);
  ERR_clear_error();
  return rc;
}
