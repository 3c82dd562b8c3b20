/* pulsarc-cryptospeed: what end-to-end encryption costs per entry, against
 * raw AES-256-GCM on this machine.
 *   raw      EVP AES-256-GCM, key schedule kept, a new IV per call (the
 *            floor: what any GCM user pays)
 *   pulsarc  pc_crypto_encrypt: the same plus a random IV (RAND_bytes) and
 *            the tag appended in place, as sealing calls it once per entry
 *   rotate   a data key rotation: RAND + RSA-2048-OAEP wrap per key name,
 *            or the Java client's ECIES per EC key name (P-256, P-384,
 *            P-521: an ephemeral key pair, ECDH, KDF, HMAC)
 * Sizes: 100 B and 16 KiB (argv overrides: sizes in bytes). Prints one line
 * per (what, size): ns per call and MB/s. Never asserted in tests. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This thread's CPU time: on a shared machine, what a rotation costs
 * without the time other processes took the core. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char pem[4096];

static pulsarc_err_t reader(const char *name, pulsarc_key_info_t *info, void *ctx) {
  (void)name;
  const char *p = ctx != NULL ? ctx : pem;
  return pulsarc_key_info_set_key(info, p, strlen(p));
}

static void pub_pem(EVP_PKEY *k, char *out, size_t cap) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  int n = BIO_read(b, out, (int)cap - 1);
  out[n > 0 ? n : 0] = 0;
  BIO_free(b);
}

/* Prints wall and CPU microseconds per rotation of a producer with one
 * key name. */
static void rotation(const char *what, const char *key_pem, long n) {
  pc_crypto_conf cc = {"bench", reader, (void *)key_pem, 3600ull * 1000000000ull};
  pulsarc_err_t err;
  pc_crypto *c = pc_crypto_new(&cc, NULL, &err);
  if (c == NULL || pc_crypto_ready(c, 0) != PULSARC_OK) {
    printf("rotate   %s: set-up failed\n", what);
    pc_crypto_free(c);
    return;
  }
  double t0 = now_s(), c0 = cpu_s();
  for (long i = 0; i < n; i++) {
    pc_crypto_request_rotation(c);
    if (pc_crypto_ready(c, 1) != PULSARC_OK) {
      printf("rotate   %s: rotation failed\n", what);
      break;
    }
  }
  printf("rotate   %s: %.1f us per rotation (%.1f us CPU)\n", what,
         (now_s() - t0) * 1e6 / (double)n, (cpu_s() - c0) * 1e6 / (double)n);
  pc_crypto_free(c);
}

static void report(const char *what, size_t size, long n, double secs) {
  printf("%-8s %6zu B  %9.1f ns/call  %8.1f MB/s\n", what, size, secs * 1e9 / (double)n,
         (double)size * (double)n / secs / 1e6);
}

int main(int argc, char **argv) {
  size_t sizes[8] = {100, 16384};
  int nsizes = 2;
  if (argc > 1) {
    nsizes = 0;
    for (int i = 1; i < argc && nsizes < 8; i++)
      sizes[nsizes++] = (size_t)strtoul(argv[i], NULL, 10);
  }
  EVP_PKEY *rsa = EVP_RSA_gen(2048);
  pub_pem(rsa, pem, sizeof pem);

  pc_crypto_conf cc = {"bench", reader, NULL, 3600ull * 1000000000ull};
  pulsarc_err_t err;
  pc_crypto *c = pc_crypto_new(&cc, NULL, &err);
  if (c == NULL || pc_crypto_ready(c, 0) != PULSARC_OK) {
    fprintf(stderr, "crypto set-up failed\n");
    return 1;
  }
  uint8_t key[32], iv[12], tag[16];
  RAND_bytes(key, sizeof key);
  EVP_CIPHER_CTX *raw = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(raw, EVP_aes_256_gcm(), NULL, key, NULL);

  for (int s = 0; s < nsizes; s++) {
    size_t size = sizes[s];
    long n = size >= 4096 ? 100000 : 2000000;
    uint8_t *buf = calloc(1, size + 32);
    int len = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
      memcpy(iv, &i, sizeof i);
      EVP_EncryptInit_ex(raw, NULL, NULL, NULL, iv);
      EVP_EncryptUpdate(raw, buf, &len, buf, (int)size);
      EVP_EncryptFinal_ex(raw, buf + len, &len);
      EVP_CIPHER_CTX_ctrl(raw, EVP_CTRL_GCM_GET_TAG, 16, tag);
    }
    report("raw", size, n, now_s() - t0);

    pc_buf pb = {0};
    pc_buf_reserve(&pb, size + 32);
    t0 = now_s();
    for (long i = 0; i < n; i++) {
      pb.len = size;
      pc_crypto_encrypt(c, &pb, 0, iv);
    }
    report("pulsarc", size, n, now_s() - t0);
    pc_buf_free(&pb);
    free(buf);
  }
  pc_crypto_free(c);
  rotation("one RSA-2048 key", pem, 200);
  static const char *const curves[] = {"P-256", "P-384", "P-521"};
  for (size_t i = 0; i < sizeof curves / sizeof *curves; i++) {
    EVP_PKEY *ec = EVP_EC_gen(curves[i]);
    char ec_pem[1024];
    pub_pem(ec, ec_pem, sizeof ec_pem);
    EVP_PKEY_free(ec);
    char what[64];
    snprintf(what, sizeof what, "one EC %s key (ECIES)", curves[i]);
    rotation(what, ec_pem, 200);
  }
  EVP_CIPHER_CTX_free(raw);
  EVP_PKEY_free(rsa);
  return 0;
}
