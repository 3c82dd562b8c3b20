// End-to-end encryption core (src/crypto): the data key wrapped with
// RSA-OAEP SHA-1/MGF1-SHA-1 unwraps with the private key, the payload is
// AES-256-GCM with the tag appended under a fresh IV, rotation happens on
// schedule and on demand (and only then are keys read and wrapped), and a
// key that cannot be read or used gives PULSARC_ERR_CRYPTO.
#include <gtest/gtest.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

extern "C" {
#include "crypto/crypto.h"
}

namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint64_t kSec = 1000000000ull;

std::string PubPem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, (size_t)n);
  BIO_free(b);
  return s;
}

struct Keys {
  EVP_PKEY *rsa = EVP_RSA_gen(2048);
  std::string pem = PubPem(rsa);
  ~Keys() { EVP_PKEY_free(rsa); }
};

Keys &TheKeys() {
  static Keys k; // 2048-bit generation is slow: once per run
  return k;
}

struct Reader {
  explicit Reader(std::string p = "") : pem(std::move(p)) {}
  std::string pem;
  pulsarc_err_t fail = PULSARC_OK;
  int calls = 0;
  std::vector<std::string> names;
};

pulsarc_err_t ReadKey(const char *name, pulsarc_key_info_t *info, void *ctx) {
  auto *r = static_cast<Reader *>(ctx);
  r->calls++;
  r->names.push_back(name);
  if (r->fail != PULSARC_OK)
    return r->fail;
  pulsarc_key_info_add_metadata(info, "version", name);
  return pulsarc_key_info_set_key(info, r->pem.data(), r->pem.size());
}

Bytes Unwrap(EVP_PKEY *priv, const ProtobufCBinaryData &v) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, nullptr);
  EXPECT_EQ(EVP_PKEY_decrypt_init(ctx), 1);
  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1());
  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1());
  size_t n = 0;
  Bytes out;
  if (EVP_PKEY_decrypt(ctx, nullptr, &n, v.data, v.len) == 1) {
    out.resize(n);
    if (EVP_PKEY_decrypt(ctx, out.data(), &n, v.data, v.len) == 1)
      out.resize(n);
    else
      out.clear();
  }
  EVP_PKEY_CTX_free(ctx);
  return out;
}

// AES-256-GCM open; false when the tag does not verify.
bool Open(const Bytes &key, const uint8_t *iv, const uint8_t *ct, size_t len, Bytes *out) {
  if (len < 16)
    return false;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int n = 0, f = 0;
  out->resize(len - 16 + 1);
  bool ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), iv) == 1 &&
            EVP_DecryptUpdate(c, out->data(), &n, ct, (int)(len - 16)) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(ct + len - 16)) == 1 &&
            EVP_DecryptFinal_ex(c, out->data() + n, &f) == 1;
  out->resize(len - 16);
  EVP_CIPHER_CTX_free(c);
  return ok;
}

struct Crypto {
  pc_crypto *c = nullptr;
  Crypto(const char *names, Reader *r, uint64_t rotation_ns = 4 * 3600 * kSec) {
    pc_crypto_conf cc = {names, ReadKey, r, rotation_ns};
    pulsarc_err_t err;
    c = pc_crypto_new(&cc, nullptr, &err);
  }
  ~Crypto() { pc_crypto_free(c); }
};

// The data key of the current generation, unwrapped from key index i.
Bytes DataKey(pc_crypto *c, size_t i = 0) {
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  uint8_t iv[PC_CRYPTO_IV_LEN];
  pc_crypto_fill_metadata(c, &md, iv);
  return Unwrap(TheKeys().rsa, md.encryption_keys[i]->value);
}

TEST(Crypto, WrapsForEveryNameAndEncryptsInPlaceWithTag) {
  Reader r{TheKeys().pem};
  Crypto k(" alpha , beta,,", &r);
  ASSERT_NE(k.c, nullptr);
  ASSERT_EQ(pc_crypto_ready(k.c, 0), PULSARC_OK);
  EXPECT_EQ(r.names, (std::vector<std::string>{"alpha", "beta"}));

  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  uint8_t iv[PC_CRYPTO_IV_LEN];
  pc_crypto_fill_metadata(k.c, &md, iv);
  ASSERT_EQ(md.n_encryption_keys, 2u);
  EXPECT_STREQ(md.encryption_keys[0]->key, "alpha");
  EXPECT_STREQ(md.encryption_keys[1]->key, "beta");
  ASSERT_EQ(md.encryption_keys[1]->n_metadata, 1u);
  EXPECT_STREQ(md.encryption_keys[1]->metadata[0]->key, "version");
  EXPECT_STREQ(md.encryption_keys[1]->metadata[0]->value, "beta");
  EXPECT_EQ(md.encryption_keys[0]->value.len, 256u); // RSA-2048
  EXPECT_FALSE(md.encryption_algo);                  // unset, as the official clients
  ASSERT_TRUE(md.has_encryption_param);
  EXPECT_EQ(md.encryption_param.len, 12u);
  Bytes key0 = Unwrap(TheKeys().rsa, md.encryption_keys[0]->value);
  Bytes key1 = Unwrap(TheKeys().rsa, md.encryption_keys[1]->value);
  ASSERT_EQ(key0.size(), 32u);
  EXPECT_EQ(key0, key1); // one data key, wrapped per name

  const std::string plain = "hello, end to end";
  pc_buf b = {};
  pc_buf_append(&b, "HDR", 3);
  pc_buf_append(&b, plain.data(), plain.size());
  ASSERT_EQ(pc_crypto_encrypt(k.c, &b, 3, iv), 0);
  ASSERT_EQ(b.len, 3 + plain.size() + 16);
  EXPECT_EQ(memcmp(b.data, "HDR", 3), 0); // bytes before off untouched
  EXPECT_NE(memcmp(b.data + 3, plain.data(), plain.size()), 0);
  Bytes out;
  ASSERT_TRUE(Open(key0, md.encryption_param.data, b.data + 3, b.len - 3, &out));
  EXPECT_EQ(std::string(out.begin(), out.end()), plain);
  // A flipped bit fails the tag: the tag covers the ciphertext.
  b.data[5] ^= 1;
  EXPECT_FALSE(Open(key0, iv, b.data + 3, b.len - 3, &out));
  pc_buf_free(&b);
}

TEST(Crypto, FreshIvPerEntryAndEmptyPayload) {
  Reader r{TheKeys().pem};
  Crypto k("k", &r);
  ASSERT_EQ(pc_crypto_ready(k.c, 0), PULSARC_OK);
  Bytes key = DataKey(k.c);
  uint8_t iv1[12], iv2[12];
  pc_buf a = {}, b = {};
  pc_buf_append(&a, "same", 4);
  pc_buf_append(&b, "same", 4);
  ASSERT_EQ(pc_crypto_encrypt(k.c, &a, 0, iv1), 0);
  ASSERT_EQ(pc_crypto_encrypt(k.c, &b, 0, iv2), 0);
  EXPECT_NE(memcmp(iv1, iv2, 12), 0);
  EXPECT_NE(memcmp(a.data, b.data, a.len), 0);
  Bytes out;
  EXPECT_TRUE(Open(key, iv2, b.data, b.len, &out));
  pc_buf e = {};
  pc_buf_reserve(&e, 1);
  ASSERT_EQ(pc_crypto_encrypt(k.c, &e, 0, iv1), 0);
  EXPECT_EQ(e.len, 16u); // only the tag
  EXPECT_TRUE(Open(key, iv1, e.data, e.len, &out));
  pc_buf_free(&a);
  pc_buf_free(&b);
  pc_buf_free(&e);
}

TEST(Crypto, RotatesOnScheduleAndOnDemandOnly) {
  Reader r{TheKeys().pem};
  Crypto k("k", &r, 2 * kSec);
  ASSERT_EQ(pc_crypto_ready(k.c, 10 * kSec), PULSARC_OK);
  EXPECT_EQ(pc_crypto_generation(k.c), 1u);
  Bytes first = DataKey(k.c);
  // Within the interval: no reading, no wrapping, same key.
  for (uint64_t t = 10 * kSec; t < 12 * kSec; t += kSec / 4)
    ASSERT_EQ(pc_crypto_ready(k.c, t), PULSARC_OK);
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(DataKey(k.c), first);
  // Interval passed: a new data key.
  ASSERT_EQ(pc_crypto_ready(k.c, 12 * kSec), PULSARC_OK);
  EXPECT_EQ(pc_crypto_generation(k.c), 2u);
  EXPECT_EQ(r.calls, 2);
  Bytes second = DataKey(k.c);
  EXPECT_NE(second, first);
  // On demand, before the interval.
  pc_crypto_request_rotation(k.c);
  ASSERT_EQ(pc_crypto_ready(k.c, 12 * kSec + 1), PULSARC_OK);
  EXPECT_EQ(pc_crypto_generation(k.c), 3u);
  EXPECT_NE(DataKey(k.c), second);
  ASSERT_EQ(pc_crypto_ready(k.c, 12 * kSec + 2), PULSARC_OK);
  EXPECT_EQ(pc_crypto_generation(k.c), 3u);
}

TEST(Crypto, UnreadableKeyFailsAndIsRetriedAfterADelay) {
  Reader r{TheKeys().pem};
  r.fail = PULSARC_ERR_AUTH_DATA;
  Crypto k("k", &r);
  EXPECT_EQ(pc_crypto_ready(k.c, 100 * kSec), PULSARC_ERR_CRYPTO);
  EXPECT_EQ(r.calls, 1);
  // Not re-read for every entry meanwhile.
  EXPECT_EQ(pc_crypto_ready(k.c, 100 * kSec + kSec / 2), PULSARC_ERR_CRYPTO);
  EXPECT_EQ(r.calls, 1);
  r.fail = PULSARC_OK;
  EXPECT_EQ(pc_crypto_ready(k.c, 101 * kSec), PULSARC_OK);
  EXPECT_EQ(r.calls, 2);
  // A failed rotation leaves no usable key (sends fail, or go plain).
  r.fail = PULSARC_ERR_CRYPTO;
  pc_crypto_request_rotation(k.c);
  EXPECT_EQ(pc_crypto_ready(k.c, 101 * kSec + 1), PULSARC_ERR_CRYPTO);
  EXPECT_EQ(pc_crypto_ready(k.c, 101 * kSec + 2), PULSARC_ERR_CRYPTO);
}

TEST(Crypto, NonPemAndNonRsaKeysAreCryptoErrors) {
  Reader bad{"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"};
  Crypto k1("k", &bad);
  EXPECT_EQ(pc_crypto_ready(k1.c, 0), PULSARC_ERR_CRYPTO);

  EVP_PKEY *ec = EVP_EC_gen("P-256");
  ASSERT_NE(ec, nullptr);
  Reader ecr{PubPem(ec)};
  EVP_PKEY_free(ec);
  Crypto k2("k", &ecr);
  EXPECT_EQ(pc_crypto_ready(k2.c, 0), PULSARC_ERR_CRYPTO);
}

TEST(Crypto, NoKeyNameIsInvalid) {
  Reader r{TheKeys().pem};
  pc_crypto_conf cc = {" , ,", ReadKey, &r, kSec};
  pulsarc_err_t err;
  EXPECT_EQ(pc_crypto_new(&cc, nullptr, &err), nullptr);
  EXPECT_EQ(err, PULSARC_ERR_INVALID_ARGUMENT);
}

TEST(Crypto, FileKeyReader) {
  pulsarc_key_info_t info = {};
  char missing[] = "/nonexistent/dir/key.pem";
  EXPECT_EQ(pulsarc_file_key_reader("k", &info, missing), PULSARC_ERR_CRYPTO);
  EXPECT_NE(std::string(pulsarc_last_error_text()).find("/nonexistent/dir/key.pem"),
            std::string::npos);

  char path[] = "/tmp/pulsarc_test_pub_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string &pem = TheKeys().pem;
  ASSERT_EQ(write(fd, pem.data(), pem.size()), (ssize_t)pem.size());
  close(fd);
  pc_crypto_conf cc = {"k", pulsarc_file_key_reader, path, kSec};
  pulsarc_err_t err;
  pc_crypto *c = pc_crypto_new(&cc, nullptr, &err);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pc_crypto_ready(c, 0), PULSARC_OK);
  EXPECT_EQ(DataKey(c).size(), 32u);
  pc_crypto_free(c);
  unlink(path);
}

TEST(Crypto, ErrorCodeIsNamed) {
  EXPECT_EQ(PULSARC_ERR_CRYPTO, 30);
  EXPECT_STREQ(pulsarc_err_name(PULSARC_ERR_CRYPTO), "PULSARC_ERR_CRYPTO");
  EXPECT_NE(std::string(pulsarc_err_str(PULSARC_ERR_CRYPTO)).find("encryption"), std::string::npos);
  EXPECT_FALSE(pulsarc_err_is_retriable(PULSARC_ERR_CRYPTO));
}

} // namespace
