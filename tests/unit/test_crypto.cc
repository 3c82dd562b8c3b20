// End-to-end encryption core (src/crypto): the data key wrapped with
// RSA-OAEP SHA-1/MGF1-SHA-1, or with the Java client's BouncyCastle ECIES
// for an EC key, unwraps with the private key (ECIES byte for byte against
// vectors BouncyCastle made), the payload is AES-256-GCM with the tag
// appended under a fresh IV, rotation happens on schedule and on demand
// (and only then are keys read and wrapped), and a key that cannot be read
// or used gives PULSARC_ERR_CRYPTO.
#include <gtest/gtest.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

extern "C" {
#include "crypto/crypto.h"
#include "crypto/ecies.h"
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
  std::map<std::string, std::string> by_name; // overrides pem for these names
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
  auto it = r->by_name.find(name);
  const std::string &pem = it != r->by_name.end() ? it->second : r->pem;
  return pulsarc_key_info_set_key(info, pem.data(), pem.size());
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

TEST(Crypto, NonPemAndUnsupportedKeysAreCryptoErrors) {
  Reader bad{"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"};
  Crypto k1("k", &bad);
  EXPECT_EQ(pc_crypto_ready(k1.c, 0), PULSARC_ERR_CRYPTO);

  // Neither RSA nor EC: no official client wraps for an Ed25519 key.
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(ed, nullptr);
  Reader edr{PubPem(ed)};
  EVP_PKEY_free(ed);
  Crypto k2("k", &edr);
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

// ------------------------------------------------------------------ EC

// BouncyCastle's output for Cipher "ECIES" (bcprov 1.78.1, as in the Pulsar
// 4.0.x Java client) with IESParameterSpec(null, null, 128), made by
// tests/interop/java/kat/EciesKat.java: the recipient's key pair, the
// ephemeral private key the cipher drew (the program reproduces it from
// the same deterministic random stream and checks its point), the 32-byte
// data key and the wrapped bytes.
struct EciesVector {
  const char *group; // OpenSSL's name for BouncyCastle's curve
  const char *recip_d, *recip_q, *eph_d, *data_key, *wrapped;
};

const EciesVector kEciesVectors[] = {
    {"prime256v1", "c07473613341db301393efde6637d4e0f0f72dbbf6ca1e254632ca835c616df3",
     "04419b75bfb628a547a23f10415f7ab6d876aca99cc2dbe159f796d11457789fb4a5069b"
     "c8f86b8c2a22cc09f66e3ee57efa6ddf431219518849d17bba92a8881f",
     "31ebaad589836c85ae048c6cba430de9578938b67ab23bd65418a746aba9970e",
     "b37722f876c52867e798849c49dea751ada9f6c81e6732489613f97558474eb6",
     "04a46bf7a68c408f4505dcc70b8a62a1f37eb6f203f46d68dd2ca2e72cc2614207eee733"
     "cf2cef642736f66cfdf7124ea4a1ae7c35093973ef35d702bfafdd53beed99187c416311"
     "230d5fde39d7bb36cd903910ff1b7bf6830c6b0b36127e6a22e0935c4e6c39c6a8b5b464"
     "718010d5589911b640"},
    {"secp384r1",
     "7175e94919483e40f1e7d4454df2ff0894c99c9d0ab3abfbfa08dbd6bb0430d15100dd98"
     "aca7368406059544a6b97966",
     "04f6e90827f357b279279e27f0bd63560b7b4c2b4f466db25c67e5c496250e1ae5e9c1d1"
     "8a32450a041520124f4870c4212f2b60f149daf9ac5765f06f9fb87289ce3c1e04148e13"
     "18799750b18484d42827d11cc75fb426a39bbe6da597397394",
     "cfe0ad4afe57e24095a61012e84bb7bf18dd661b90684110e4797eb9cd06f67916acc58f"
     "781baee1f24e20b14bb1f95d",
     "cebf3c30773d1b0686acf93f2b697654d85dcb8efcaa5064a83e418a3e646ead",
     "047df8f5c951f299aa6d20d41d7400e69fa21a8dc4a586367e253412c81c226fbff1254f"
     "0e0d9ad8ddf195853dab7284edc20b601b9a3b94ad65159eb9c834cc9d89dee6cd1c6abf"
     "6e3b0b0d4f5c1a97879cba163c31bc30ad5fbd49e63b2237161ffdb04a8aae5757f51432"
     "495440ee1eb438df6c4520ee3d85f021010a7f8771af331c68e7c9280b3ff9919932e099"
     "b2a42333ae"},
    {"secp521r1",
     "001ccfc9738e18d63299c3ce1bb494fab808944da2529c1ad110c2f3a37001818b33cbb9"
     "4c05e916ee2a590f01eeb0c3078ffe848da22390f6667311fd18b1ebe3c3",
     "04008d5363f5fc74de07acc90f8801c04c7ace7d6f68ac0f6fc8019ef333a183325ae70d"
     "4decba4a4446d637b7673ef125016404382d1e017c59de842d4adde7ffaaa30146846ed3"
     "603ef82b3f9a4667c722b9f0103dbaa7a7da80b3d203cce74b5ff39e285aecd62de2b5ca"
     "6995dc8be8b223900afa9ef28b6e3f9454233aecb5b2d41102",
     "00a266bdb7e1e867d4f35bbbef308f3583c735c27e0b9e0fca86984db014863d14752a2c"
     "a6b29d462ee8a921ff30e6c1258abc2a81296991ec67a178032cbd6989fc",
     "1af9a937381d862dff80edc4300827ce9114cc5b8288fd1dac63514ae91e3c2a",
     "04018ac7cd3d96c21682da859d795d253b35c748df9d08923430ee2126d20368dd7111d6"
     "152b69560dd2329765e691fd09d997e571c5820302149325bdc1a566b7d80a01be548262"
     "5495442f8c9810808d1d6caf3b1ecff7dee0267984e82a31d04a9708b2e022d06d4952a8"
     "23259ff19bc7b3af342b36312cfd49cca77e969c8c5a1b39e2c3cfa9e36162970c90236a"
     "1d97debee44ee2b2219af91eb46dcd5f644ad2bf83078c381d48ba0367831799458000c3"
     "3bff8839a9"},
    {"secp256k1", "3b272bf06edf8b4c7d0f2633ec077872fc8e6891b7d1c6080449e469267ffaa3",
     "04c44ff69504ab76add86cdf5fe7772b8dff36ed7ec8b723f5041e4dbb74c3e26bd934e0"
     "2c074a928459a41906ab4257aef398ae35b395d0a2a71c3b13d93f926a",
     "b461b012089349de16dddcd83d1e56d10c42cba09ed960a481b1f77d51ce420f",
     "0a9523a6a75c7f69e4a4fba4899432d846abf71171c56b9dd142d670f18907e6",
     "04d3e40fb6335b020daff1caec1c6aae48be90e5b30976ac0dacfc8028c9fc03ac65d58c"
     "253425b6c86b1269373bd8b9016cf3176b286bef87c4c835611cfe925db785e5d7e8928c"
     "d885e73328a79747ce736c80bb5f826256f11397c0490f3ba6d684cea767266f9931b0d0"
     "534452e81ce93a7408"},
};

Bytes Hex(const char *h) {
  Bytes b;
  for (size_t i = 0; h[i] && h[i + 1]; i += 2)
    b.push_back((uint8_t)std::stoi(std::string(h + i, 2), nullptr, 16));
  return b;
}

// An EC key from its group, public point and (optional, hex) private scalar.
EVP_PKEY *EcKey(const char *group, const Bytes &q, const char *d_hex) {
  BIGNUM *d = nullptr;
  if (d_hex != nullptr && BN_hex2bn(&d, d_hex) == 0)
    return nullptr;
  OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, q.data(), q.size());
  if (d != nullptr)
    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d);
  OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY *k = nullptr;
  if (EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &k, d != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, p) != 1)
    k = nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(p);
  OSSL_PARAM_BLD_free(b);
  BN_free(d);
  return k;
}

// The test's own ECIES decryptor, written from BouncyCastle's IESEngine
// (stream mode) rather than from ecies.c: the KDF as a hand-rolled SHA-1
// counter loop, the MAC over one buffer. Empty when the input is malformed
// or the tag does not verify.
Bytes EciesOpen(EVP_PKEY *priv, const uint8_t *w, size_t n) {
  char group[64];
  size_t glen = 0;
  size_t fe = ((size_t)EVP_PKEY_get_bits(priv) + 7) / 8; // order bits = field bits here
  size_t vlen = 1 + 2 * fe;
  if (n < vlen + 20 || w[0] != 0x04 ||
      EVP_PKEY_get_utf8_string_param(priv, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &glen) != 1)
    return {};
  EVP_PKEY *eph = EcKey(group, Bytes(w, w + vlen), nullptr);
  if (eph == nullptr)
    return {};
  Bytes vz(w, w + vlen);
  vz.resize(vlen + fe);
  size_t zlen = fe;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, nullptr);
  bool ok = EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, eph) == 1 &&
            EVP_PKEY_derive(ctx, vz.data() + vlen, &zlen) == 1 && zlen == fe;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(eph);
  if (!ok)
    return {};
  size_t clen = n - vlen - 20;
  Bytes k; // KDF2-SHA1(V || Z): SHA1(V || Z || counter), counter from 1
  for (uint32_t counter = 1; k.size() < 16 + clen; counter++) {
    Bytes in = vz;
    for (int s = 24; s >= 0; s -= 8)
      in.push_back((uint8_t)(counter >> s));
    uint8_t md[20];
    EVP_Digest(in.data(), in.size(), md, nullptr, EVP_sha1(), nullptr);
    k.insert(k.end(), md, md + 20);
  }
  Bytes mac_in(w + vlen, w + vlen + clen);
  mac_in.resize(clen + 8, 0); // C || 64-bit length of the empty encoding vector
  uint8_t tag[20];
  unsigned tlen = 0;
  HMAC(EVP_sha1(), k.data(), 16, mac_in.data(), mac_in.size(), tag, &tlen);
  if (tlen != 20 || memcmp(tag, w + vlen + clen, 20) != 0)
    return {};
  Bytes plain(clen);
  for (size_t i = 0; i < clen; i++)
    plain[i] = w[vlen + i] ^ k[16 + i];
  return plain;
}

TEST(Crypto, EciesKnownAnswerFromBouncyCastle) {
  for (const EciesVector &v : kEciesVectors) {
    SCOPED_TRACE(v.group);
    Bytes q = Hex(v.recip_q), wrapped = Hex(v.wrapped), key = Hex(v.data_key);
    EVP_PKEY *recip = EcKey(v.group, q, v.recip_d);
    ASSERT_NE(recip, nullptr);
    // The test's decryptor reads BouncyCastle's bytes...
    EXPECT_EQ(EciesOpen(recip, wrapped.data(), wrapped.size()), key);
    // ...and pulsarc, given the ephemeral key BouncyCastle drew, writes them.
    size_t fe = (q.size() - 1) / 2;
    Bytes eph_q(wrapped.begin(), wrapped.begin() + (long)(1 + 2 * fe));
    EVP_PKEY *eph = EcKey(v.group, eph_q, v.eph_d);
    EVP_PKEY *pub = EcKey(v.group, q, nullptr);
    ASSERT_NE(eph, nullptr);
    ASSERT_NE(pub, nullptr);
    uint8_t *out = nullptr;
    size_t olen = 0;
    ASSERT_EQ(pc_ecies_wrap(pub, eph, key.data(), key.size(), &out, &olen), 0);
    EXPECT_EQ(Bytes(out, out + olen), wrapped);
    free(out);
    EVP_PKEY_free(eph);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(recip);
  }
}

TEST(Crypto, EciesFreshEphemeralRoundTripAndTagCheck) {
  for (const char *group : {"P-256", "P-384", "P-521", "secp256k1"}) {
    SCOPED_TRACE(group);
    EVP_PKEY *ec = EVP_EC_gen(group);
    ASSERT_NE(ec, nullptr);
    Bytes key(32);
    for (size_t i = 0; i < key.size(); i++)
      key[i] = (uint8_t)(i * 7 + 1);
    uint8_t *a = nullptr, *b = nullptr;
    size_t alen = 0, blen = 0;
    ASSERT_EQ(pc_ecies_wrap(ec, nullptr, key.data(), key.size(), &a, &alen), 0);
    ASSERT_EQ(pc_ecies_wrap(ec, nullptr, key.data(), key.size(), &b, &blen), 0);
    size_t fe = ((size_t)EVP_PKEY_get_bits(ec) + 7) / 8;
    EXPECT_EQ(alen, 1 + 2 * fe + 32 + 20); // V (uncompressed) || C || HMAC-SHA1
    EXPECT_EQ(a[0], 0x04);
    EXPECT_EQ(EciesOpen(ec, a, alen), key);
    EXPECT_EQ(EciesOpen(ec, b, blen), key);
    ASSERT_EQ(alen, blen);
    EXPECT_NE(memcmp(a, b, alen), 0); // a new ephemeral key every time
    a[alen - 25] ^= 1;                // the ciphertext is under the tag
    EXPECT_TRUE(EciesOpen(ec, a, alen).empty());
    free(a);
    free(b);
    EVP_PKEY_free(ec);
  }
}

// An EC public key through the producer's path: read, wrapped at rotation,
// and the data key it carries opens the entry.
TEST(Crypto, EcKeyWrapsTheDataKey) {
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  ASSERT_NE(ec, nullptr);
  Reader r{PubPem(ec)};
  Crypto k("ec-key", &r);
  ASSERT_EQ(pc_crypto_ready(k.c, 0), PULSARC_OK);
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  uint8_t iv[PC_CRYPTO_IV_LEN];
  pc_crypto_fill_metadata(k.c, &md, iv);
  ASSERT_EQ(md.n_encryption_keys, 1u);
  EXPECT_STREQ(md.encryption_keys[0]->key, "ec-key");
  const ProtobufCBinaryData &v = md.encryption_keys[0]->value;
  EXPECT_EQ(v.len, 117u); // 65 + 32 + 20, as the Java client's
  // The reader's metadata only, as the Java client: nothing EC-specific.
  ASSERT_EQ(md.encryption_keys[0]->n_metadata, 1u);
  EXPECT_STREQ(md.encryption_keys[0]->metadata[0]->key, "version");
  Bytes key = EciesOpen(ec, v.data, v.len);
  ASSERT_EQ(key.size(), 32u);
  pc_buf b = {};
  pc_buf_append(&b, "ec payload", 10);
  ASSERT_EQ(pc_crypto_encrypt(k.c, &b, 0, iv), 0);
  Bytes out;
  ASSERT_TRUE(Open(key, iv, b.data, b.len, &out));
  EXPECT_EQ(std::string(out.begin(), out.end()), "ec payload");
  // A rotation wraps a new data key under a new ephemeral key.
  pc_crypto_request_rotation(k.c);
  ASSERT_EQ(pc_crypto_ready(k.c, 1), PULSARC_OK);
  pc_crypto_fill_metadata(k.c, &md, iv);
  Bytes key2 = EciesOpen(ec, md.encryption_keys[0]->value.data, md.encryption_keys[0]->value.len);
  ASSERT_EQ(key2.size(), 32u);
  EXPECT_NE(key2, key);
  pc_buf_free(&b);
  EVP_PKEY_free(ec);
}

// RSA and EC names on one producer: one data key, wrapped once per name
// each its own way, so either private key reads every entry.
TEST(Crypto, RsaAndEcKeysOnOneProducer) {
  EVP_PKEY *ec = EVP_EC_gen("P-384");
  ASSERT_NE(ec, nullptr);
  Reader r{TheKeys().pem};
  r.by_name["app-ec"] = PubPem(ec);
  Crypto k("app-rsa,app-ec", &r);
  ASSERT_EQ(pc_crypto_ready(k.c, 0), PULSARC_OK);
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  uint8_t iv[PC_CRYPTO_IV_LEN];
  pc_crypto_fill_metadata(k.c, &md, iv);
  ASSERT_EQ(md.n_encryption_keys, 2u);
  EXPECT_STREQ(md.encryption_keys[0]->key, "app-rsa");
  EXPECT_STREQ(md.encryption_keys[1]->key, "app-ec");
  EXPECT_EQ(md.encryption_keys[0]->value.len, 256u);
  EXPECT_EQ(md.encryption_keys[1]->value.len, 1 + 2 * 48 + 32 + 20u);
  Bytes by_rsa = Unwrap(TheKeys().rsa, md.encryption_keys[0]->value);
  Bytes by_ec = EciesOpen(ec, md.encryption_keys[1]->value.data, md.encryption_keys[1]->value.len);
  ASSERT_EQ(by_rsa.size(), 32u);
  EXPECT_EQ(by_ec, by_rsa);
  EVP_PKEY_free(ec);
}

// The form Pulsar's own EC test keys take: the curve spelled out in the
// key (explicit parameters) instead of named by OID.
TEST(Crypto, EcKeyWithExplicitCurveParameters) {
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  ASSERT_NE(ec, nullptr);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(ec, OSSL_PKEY_PARAM_EC_ENCODING,
                                           OSSL_PKEY_EC_ENCODING_EXPLICIT),
            1);
  Reader r{PubPem(ec)};
  // The PEM really spells the curve out (not the P-256 OID).
  BIO *b = BIO_new_mem_buf(r.pem.data(), (int)r.pem.size());
  EVP_PKEY *parsed = PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  ASSERT_NE(parsed, nullptr);
  char enc[32] = "";
  EVP_PKEY_get_utf8_string_param(parsed, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof enc, nullptr);
  EVP_PKEY_free(parsed);
  EXPECT_STREQ(enc, OSSL_PKEY_EC_ENCODING_EXPLICIT);
  Crypto k("k", &r);
  ASSERT_EQ(pc_crypto_ready(k.c, 0), PULSARC_OK);
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  uint8_t iv[PC_CRYPTO_IV_LEN];
  pc_crypto_fill_metadata(k.c, &md, iv);
  EXPECT_EQ(
      EciesOpen(ec, md.encryption_keys[0]->value.data, md.encryption_keys[0]->value.len).size(),
      32u);
  EVP_PKEY_free(ec);
}

} // namespace
