/* End-to-end encryption (crypto.h). OpenSSL EVP only. The wrapping (RSA,
 * or ECIES for an EC key: ecies.c) happens at rotation; an entry costs one
 * GCM pass with a cipher context keyed once per data key. */
#include "crypto/crypto.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err_detail.h"
#include "crypto/ecies.h"

/* The retry delay after a failed rotation: sends fail (or go plain) until
 * a key is read, without re-reading it for every entry meanwhile. */
#define RETRY_NS 1000000000ull
#define IV_POOL 64

typedef struct wrapped {
  char *name;
  Pulsarc__EncryptionKeys pb;
  pulsarc_key_info_t info; /* its metadata backs pb.metadata */
  Pulsarc__KeyValue **meta_ptrs;
} wrapped;

struct pc_crypto {
  const pc_logger *log;
  pulsarc_key_reader_fn reader;
  void *reader_ctx;
  uint64_t rotation_ns;
  uint64_t next_ns; /* the next rotation (or retry) is due */
  bool ready;       /* data key made and wrapped for every name */
  _Atomic bool rotate_asked;
  uint64_t generation;
  uint8_t data_key[PC_CRYPTO_KEY_LEN];
  uint8_t prev_key[PC_CRYPTO_KEY_LEN]; /* generation - 1: unsealing may need it */
  EVP_CIPHER_CTX *gcm;                 /* keyed with data_key */
  /* IVs drawn from RAND_bytes in bulk: one call cost ~2.8 us in OpenSSL 3
   * (pulsarc-cryptospeed), four times the GCM pass of a 100-byte entry. */
  uint8_t ivs[IV_POOL * PC_CRYPTO_IV_LEN];
  unsigned ivs_left;
  size_t nkeys;
  wrapped *keys;
  Pulsarc__EncryptionKeys **pb_ptrs; /* for MessageMetadata.encryption_keys */
};

/* ------------------------------------------------------------ key info */

static void key_info_clear(pulsarc_key_info_t *info) {
  pc_buf_free(&info->pem);
  for (size_t i = 0; i < info->nmeta; i++) {
    free(info->meta[i].key);
    free(info->meta[i].value);
  }
  free(info->meta);
  memset(info, 0, sizeof *info);
}

pulsarc_err_t pulsarc_key_info_set_key(pulsarc_key_info_t *info, const void *pem, size_t len) {
  if (info == NULL || pem == NULL || len == 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_buf_reset(&info->pem);
  /* NUL-terminated for the PEM parser's sake (BIO_new_mem_buf takes a
   * length, but a stray reader may pass strlen-less text). */
  if (pc_buf_reserve(&info->pem, len + 1) != 0)
    return PULSARC_ERR_NO_MEMORY;
  memcpy(info->pem.data, pem, len);
  info->pem.data[len] = 0;
  info->pem.len = len;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_key_info_add_metadata(pulsarc_key_info_t *info, const char *key,
                                            const char *value) {
  if (info == NULL || key == NULL || value == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (info->nmeta == info->meta_cap) {
    size_t nc = info->meta_cap ? info->meta_cap * 2 : 4;
    Pulsarc__KeyValue *m = realloc(info->meta, nc * sizeof *m);
    if (m == NULL)
      return PULSARC_ERR_NO_MEMORY;
    info->meta = m;
    info->meta_cap = nc;
  }
  Pulsarc__KeyValue *kv = &info->meta[info->nmeta];
  pulsarc__key_value__init(kv);
  kv->key = strdup(key);
  kv->value = strdup(value);
  if (kv->key == NULL || kv->value == NULL) {
    free(kv->key);
    free(kv->value);
    return PULSARC_ERR_NO_MEMORY;
  }
  info->nmeta++;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_file_key_reader(const char *key_name, pulsarc_key_info_t *info, void *ctx) {
  (void)key_name;
  const char *path = ctx;
  if (info == NULL || path == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    pc_err_detail_set("public key file %s: %s", path, strerror(errno));
    return PULSARC_ERR_CRYPTO;
  }
  char buf[16384]; /* a PEM public key is a few KiB at most */
  size_t n = fread(buf, 1, sizeof buf, f);
  bool too_big = n == sizeof buf;
  fclose(f);
  if (n == 0 || too_big) {
    pc_err_detail_set("public key file %s: %s", path, n == 0 ? "empty" : "larger than 16 KiB");
    return PULSARC_ERR_CRYPTO;
  }
  return pulsarc_key_info_set_key(info, buf, n);
}

/* ------------------------------------------------------------- life */

pc_crypto *pc_crypto_new(const pc_crypto_conf *conf, const pc_logger *log, pulsarc_err_t *err) {
  *err = PULSARC_ERR_NO_MEMORY;
  pc_crypto *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->log = log;
  c->reader = conf->reader;
  c->reader_ctx = conf->reader_ctx;
  c->rotation_ns = conf->rotation_ns;
  atomic_init(&c->rotate_asked, false);
  /* Names: comma-separated, blanks around them ignored, empty ones skipped. */
  const char *s = conf->key_names;
  size_t cap = 1;
  for (const char *q = s; q != NULL && *q; q++)
    cap += *q == ',';
  c->keys = calloc(cap, sizeof *c->keys);
  c->pb_ptrs = calloc(cap, sizeof *c->pb_ptrs);
  c->gcm = EVP_CIPHER_CTX_new();
  if (c->keys == NULL || c->pb_ptrs == NULL || c->gcm == NULL)
    goto fail;
  while (s != NULL && *s) {
    while (*s == ' ' || *s == ',')
      s++;
    const char *end = s;
    while (*end && *end != ',')
      end++;
    const char *last = end;
    while (last > s && last[-1] == ' ')
      last--;
    if (last > s) {
      wrapped *w = &c->keys[c->nkeys];
      if ((w->name = strndup(s, (size_t)(last - s))) == NULL)
        goto fail;
      c->nkeys++;
    }
    s = end;
  }
  if (c->nkeys == 0) {
    *err = PULSARC_ERR_INVALID_ARGUMENT;
    goto fail;
  }
  *err = PULSARC_OK;
  return c;
fail:
  pc_crypto_free(c);
  return NULL;
}

void pc_crypto_free(pc_crypto *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->nkeys; i++) {
    wrapped *w = &c->keys[i];
    free(w->name);
    free(w->pb.value.data);
    free(w->meta_ptrs);
    key_info_clear(&w->info);
  }
  free(c->keys);
  free(c->pb_ptrs);
  EVP_CIPHER_CTX_free(c->gcm);
  OPENSSL_cleanse(c->data_key, sizeof c->data_key);
  OPENSSL_cleanse(c->prev_key, sizeof c->prev_key);
  free(c);
}

void pc_crypto_request_rotation(pc_crypto *c) {
  atomic_store_explicit(&c->rotate_asked, true, memory_order_release);
}

uint64_t pc_crypto_generation(const pc_crypto *c) { return c->generation; }

/* ----------------------------------------------------------- rotation */

/* RSA-OAEP with SHA-1 and MGF1-SHA-1 (OpenSSL's RSA_PKCS1_OAEP_PADDING
 * defaults, set explicitly): the only wrapping the C++, Python and Go
 * consumers unwrap. On success *out is malloc'ed. */
static int wrap_key(EVP_PKEY *pub, const uint8_t *key, size_t klen, uint8_t **out, size_t *olen) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
  int rc = -1;
  size_t n = 0;
  *out = NULL;
  if (ctx == NULL)
    return -1;
  if (EVP_PKEY_encrypt_init(ctx) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) <= 0 ||
      EVP_PKEY_encrypt(ctx, NULL, &n, key, klen) <= 0)
    goto done;
  if ((*out = malloc(n)) == NULL)
    goto done;
  if (EVP_PKEY_encrypt(ctx, *out, &n, key, klen) <= 0) {
    free(*out);
    *out = NULL;
    goto done;
  }
  *olen = n;
  rc = 0;
done:
  EVP_PKEY_CTX_free(ctx);
  return rc;
}

/* Reads, parses and wraps for one name into w. PULSARC_OK or an error
 * (the detail is logged by the caller). */
static pulsarc_err_t wrap_for(pc_crypto *c, wrapped *w, const uint8_t *key, char *why,
                              size_t whylen) {
  pulsarc_key_info_t info;
  memset(&info, 0, sizeof info);
  pc_err_detail_clear();
  pulsarc_err_t err = c->reader(w->name, &info, c->reader_ctx);
  if (err == PULSARC_OK && info.pem.len == 0)
    err = PULSARC_ERR_CRYPTO;
  if (err != PULSARC_OK) {
    snprintf(why, whylen, "key reader failed for key %s: %s%s%s", w->name, pulsarc_err_name(err),
             *pulsarc_last_error_text() ? ": " : "", pulsarc_last_error_text());
    key_info_clear(&info);
    return PULSARC_ERR_CRYPTO;
  }
  BIO *bio = BIO_new_mem_buf(info.pem.data, (int)info.pem.len);
  EVP_PKEY *pub = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  ERR_clear_error();
  int type = pub != NULL ? EVP_PKEY_base_id(pub) : EVP_PKEY_NONE;
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
    snprintf(why, whylen, "key %s: %s", w->name,
             pub == NULL ? "not a PEM public key" : "neither an RSA nor an EC key");
    EVP_PKEY_free(pub);
    key_info_clear(&info);
    return PULSARC_ERR_CRYPTO;
  }
  uint8_t *value;
  size_t vlen;
  int rc = type == EVP_PKEY_RSA ? wrap_key(pub, key, PC_CRYPTO_KEY_LEN, &value, &vlen)
                                : pc_ecies_wrap(pub, NULL, key, PC_CRYPTO_KEY_LEN, &value, &vlen);
  EVP_PKEY_free(pub);
  ERR_clear_error();
  Pulsarc__KeyValue **ptrs = NULL;
  if (rc == 0 && info.nmeta > 0 && (ptrs = calloc(info.nmeta, sizeof *ptrs)) == NULL) {
    free(value);
    key_info_clear(&info);
    return PULSARC_ERR_NO_MEMORY;
  }
  if (rc != 0) {
    snprintf(why, whylen, "key %s: %s wrapping failed", w->name,
             type == EVP_PKEY_RSA ? "RSA-OAEP" : "ECIES");
    key_info_clear(&info);
    return PULSARC_ERR_CRYPTO;
  }
  free(w->pb.value.data);
  free(w->meta_ptrs);
  key_info_clear(&w->info);
  w->info = info;
  w->meta_ptrs = ptrs;
  for (size_t i = 0; i < info.nmeta; i++)
    ptrs[i] = &w->info.meta[i];
  pulsarc__encryption_keys__init(&w->pb);
  w->pb.key = w->name;
  w->pb.value.data = value;
  w->pb.value.len = vlen;
  w->pb.n_metadata = info.nmeta;
  w->pb.metadata = ptrs;
  return PULSARC_OK;
}

static pulsarc_err_t rotate(pc_crypto *c, uint64_t now_ns) {
  uint8_t key[PC_CRYPTO_KEY_LEN];
  char why[PC_ERR_DETAIL_MAX];
  pulsarc_err_t err = PULSARC_OK;
  c->ready = false;
  if (RAND_bytes(key, sizeof key) != 1) {
    snprintf(why, sizeof why, "no random bytes for a data key");
    err = PULSARC_ERR_CRYPTO;
  }
  for (size_t i = 0; i < c->nkeys && err == PULSARC_OK; i++)
    err = wrap_for(c, &c->keys[i], key, why, sizeof why);
  if (err == PULSARC_OK && EVP_EncryptInit_ex(c->gcm, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
    snprintf(why, sizeof why, "AES-256-GCM set-up failed");
    err = PULSARC_ERR_CRYPTO;
  }
  if (err != PULSARC_OK) {
    OPENSSL_cleanse(key, sizeof key);
    ERR_clear_error();
    PC_ERROR(c->log, "encryption: new data key failed (%s); sends fail until it works", why);
    pc_err_detail_set("%s", why);
    c->next_ns = now_ns + (c->rotation_ns < RETRY_NS ? c->rotation_ns : RETRY_NS);
    return err;
  }
  memcpy(c->prev_key, c->data_key, sizeof key);
  memcpy(c->data_key, key, sizeof key);
  OPENSSL_cleanse(key, sizeof key);
  for (size_t i = 0; i < c->nkeys; i++)
    c->pb_ptrs[i] = &c->keys[i].pb;
  c->ready = true;
  c->generation++;
  c->next_ns = now_ns + c->rotation_ns;
  PC_DEBUG(c->log, "encryption: data key %llu made for %zu key(s)",
           (unsigned long long)c->generation, c->nkeys);
  return PULSARC_OK;
}

pulsarc_err_t pc_crypto_ready(pc_crypto *c, uint64_t now_ns) {
  bool asked = atomic_load_explicit(&c->rotate_asked, memory_order_relaxed);
  if (!asked && now_ns < c->next_ns) /* not due, or failed lately: retry later */
    return c->ready ? PULSARC_OK : PULSARC_ERR_CRYPTO;
  if (asked)
    atomic_store_explicit(&c->rotate_asked, false, memory_order_relaxed);
  return rotate(c, now_ns);
}

/* ---------------------------------------------------------------- use */

void pc_crypto_fill_metadata(pc_crypto *c, Pulsarc__MessageMetadata *md,
                             uint8_t iv[PC_CRYPTO_IV_LEN]) {
  md->n_encryption_keys = c->nkeys;
  md->encryption_keys = c->pb_ptrs;
  md->has_encryption_param = true;
  md->encryption_param.data = iv;
  md->encryption_param.len = PC_CRYPTO_IV_LEN;
}

int pc_crypto_encrypt(pc_crypto *c, pc_buf *buf, size_t off, uint8_t iv[PC_CRYPTO_IV_LEN]) {
  if (pc_buf_reserve(buf, PC_CRYPTO_TAG_LEN) != 0)
    return -1;
  size_t len = buf->len - off;
  if (len > INT32_MAX)
    return -1;
  uint8_t *p = buf->data + off;
  int n = 0, fin = 0;
  /* In place: GCM is a stream mode, so the ciphertext is the plaintext's
   * size and may overwrite it; the key schedule stays from the rotation. */
  if (c->ivs_left == 0) {
    if (RAND_bytes(c->ivs, sizeof c->ivs) != 1) {
      ERR_clear_error();
      return -1;
    }
    c->ivs_left = IV_POOL;
  }
  c->ivs_left--;
  memcpy(iv, c->ivs + (size_t)c->ivs_left * PC_CRYPTO_IV_LEN, PC_CRYPTO_IV_LEN);
  if (EVP_EncryptInit_ex(c->gcm, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(c->gcm, p, &n, p, (int)len) != 1 ||
      EVP_EncryptFinal_ex(c->gcm, p + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->gcm, EVP_CTRL_GCM_GET_TAG, PC_CRYPTO_TAG_LEN, p + len) != 1) {
    ERR_clear_error();
    return -1;
  }
  buf->len += PC_CRYPTO_TAG_LEN;
  return 0;
}

int pc_crypto_decrypt(pc_crypto *c, uint64_t gen, const uint8_t iv[PC_CRYPTO_IV_LEN], pc_buf *buf,
                      size_t off) {
  const uint8_t *key = gen == c->generation       ? c->data_key
                       : gen + 1 == c->generation ? c->prev_key
                                                  : NULL;
  if (key == NULL || gen == 0 || buf->len < off + PC_CRYPTO_TAG_LEN)
    return -1;
  size_t len = buf->len - off - PC_CRYPTO_TAG_LEN;
  if (len > INT32_MAX)
    return -1;
  uint8_t *p = buf->data + off;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  bool ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
            EVP_DecryptUpdate(ctx, p, &n, p, (int)len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PC_CRYPTO_TAG_LEN, p + len) == 1 &&
            EVP_DecryptFinal_ex(ctx, p + n, &fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  ERR_clear_error();
  if (!ok)
    return -1;
  buf->len -= PC_CRYPTO_TAG_LEN;
  return 0;
}
