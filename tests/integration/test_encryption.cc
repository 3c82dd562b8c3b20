// End-to-end encryption against the test broker, checked from the stored
// bytes with the private key: every entry carries the wrapped data key and
// a 12-byte IV, its payload is AES-256-GCM(compressed body) plus the tag;
// batches are encrypted whole, chunks one by one under their own IVs; the
// data key rotates on schedule and on demand; a key that cannot be read
// fails the send with PULSARC_ERR_CRYPTO, or sends it plain when
// crypto_failure_action=send. An EC key wraps the data key with the Java
// client's ECIES, which the EC private key opens.
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <set>

#include "test_features_util.h"

extern "C" {
#include "client/testing.h"
#include "codec/frame.h"
}

namespace pulsarc_it {
namespace {

using features::Compressible;
using features::Decompress;
using features::RandomBytes;
using features::SendWait;

struct RsaPair {
  EVP_PKEY *key = EVP_RSA_gen(2048);
  std::string pub;
  RsaPair() {
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, key);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    pub.assign(p, (size_t)n);
    BIO_free(b);
  }
  ~RsaPair() { EVP_PKEY_free(key); }
};

RsaPair &Pair() {
  static RsaPair k;
  return k;
}

pulsarc_err_t ReadPub(const char *, pulsarc_key_info_t *info, void *) {
  pulsarc_key_info_add_metadata(info, "owner", "tests");
  return pulsarc_key_info_set_key(info, Pair().pub.data(), Pair().pub.size());
}

// The data key in BouncyCastle's ECIES (docs/encryption.md): V (the
// ephemeral point) || data key ^ KDF stream || HMAC-SHA1 tag. 32 bytes, or
// none when it does not open.
std::string EcUnwrap(EVP_PKEY *priv, const uint8_t *w, size_t n) {
  char group[64];
  size_t fe = ((size_t)EVP_PKEY_get_bits(priv) + 7) / 8, vlen = 1 + 2 * fe;
  if (n != vlen + 32 + 20 || EVP_PKEY_get_utf8_string_param(priv, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                            sizeof group, nullptr) != 1)
    return "";
  OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, w, vlen);
  OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
  EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY *eph = nullptr;
  if (EVP_PKEY_fromdata_init(fc) != 1 || EVP_PKEY_fromdata(fc, &eph, EVP_PKEY_PUBLIC_KEY, p) != 1)
    eph = nullptr;
  EVP_PKEY_CTX_free(fc);
  OSSL_PARAM_free(p);
  OSSL_PARAM_BLD_free(b);
  std::vector<uint8_t> vz(w, w + vlen);
  vz.resize(vlen + fe);
  size_t zlen = fe;
  EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(priv, nullptr);
  bool ok = eph != nullptr && EVP_PKEY_derive_init(dc) == 1 &&
            EVP_PKEY_derive_set_peer(dc, eph) == 1 &&
            EVP_PKEY_derive(dc, vz.data() + vlen, &zlen) == 1;
  EVP_PKEY_CTX_free(dc);
  EVP_PKEY_free(eph);
  uint8_t k[16 + 32], tag[20];
  EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "X963KDF", nullptr);
  EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
  OSSL_PARAM kp[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA1", 0),
                     OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, vz.data(), vz.size()),
                     OSSL_PARAM_construct_end()};
  ok = ok && EVP_KDF_derive(kc, k, sizeof k, kp) == 1;
  EVP_KDF_CTX_free(kc);
  EVP_KDF_free(kdf);
  uint8_t mac_in[32 + 8] = {0}; // ciphertext || the empty encoding vector's bit length
  memcpy(mac_in, w + vlen, 32);
  unsigned tlen = 0;
  if (!ok || HMAC(EVP_sha1(), k, 16, mac_in, sizeof mac_in, tag, &tlen) == nullptr ||
      memcmp(tag, w + vlen + 32, 20) != 0)
    return "";
  std::string key(32, '\0');
  for (size_t i = 0; i < 32; i++)
    key[i] = (char)(w[vlen + i] ^ k[16 + i]);
  return key;
}

// What one stored entry decrypts to.
struct Opened {
  bool ok = false;
  std::string data_key; // unwrapped
  std::string wrapped;
  std::string iv;
  std::string plain; // decrypted, still compressed
  int codec = 0;
  uint32_t uncompressed_size = 0;
};

// ec: the EC private key when the data key was wrapped for one (else RSA).
Opened Open(const pulsarc_tb_entry &e, EVP_PKEY *ec = nullptr) {
  Opened o;
  EXPECT_TRUE(e.is_encrypted);
  Pulsarc__MessageMetadata *md = pc_metadata_unpack(e.metadata, e.metadata_len);
  if (md == nullptr || md->n_encryption_keys != 1 || !md->has_encryption_param ||
      e.payload == nullptr || e.payload_len < 16) {
    ADD_FAILURE() << "entry not encrypted as expected";
    if (md)
      pulsarc__message_metadata__free_unpacked(md, nullptr);
    return o;
  }
  EXPECT_EQ(md->encryption_algo, nullptr); // left unset, as the official clients do
  EXPECT_STREQ(md->encryption_keys[0]->key, "app-key");
  EXPECT_EQ(md->encryption_param.len, 12u);
  o.codec = md->has_compression ? (int)md->compression : 0;
  o.uncompressed_size = md->uncompressed_size;
  const ProtobufCBinaryData &v = md->encryption_keys[0]->value;
  o.wrapped.assign(reinterpret_cast<const char *>(v.data), v.len);
  o.iv.assign(reinterpret_cast<const char *>(md->encryption_param.data), md->encryption_param.len);
  uint8_t key[512];
  size_t klen = sizeof key;
  bool unwrapped;
  if (ec != nullptr) {
    std::string k = EcUnwrap(ec, v.data, v.len);
    memcpy(key, k.data(), k.size());
    klen = k.size();
    unwrapped = klen == 32;
  } else {
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(Pair().key, nullptr);
    unwrapped = EVP_PKEY_decrypt_init(pc) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha1()) == 1 &&
                EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha1()) == 1 &&
                EVP_PKEY_decrypt(pc, key, &klen, v.data, v.len) == 1 && klen == 32;
    EVP_PKEY_CTX_free(pc);
  }
  pulsarc__message_metadata__free_unpacked(md, nullptr);
  EXPECT_TRUE(unwrapped);
  if (!unwrapped)
    return o;
  o.data_key.assign(reinterpret_cast<char *>(key), klen);
  size_t clen = e.payload_len - 16;
  std::string out(clen + 1, '\0');
  int n = 0, f = 0;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  o.ok =
      EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key,
                         reinterpret_cast<const uint8_t *>(o.iv.data())) == 1 &&
      EVP_DecryptUpdate(c, reinterpret_cast<uint8_t *>(&out[0]), &n, e.payload, (int)clen) == 1 &&
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(e.payload + clen)) == 1 &&
      EVP_DecryptFinal_ex(c, reinterpret_cast<uint8_t *>(&out[0]) + n, &f) == 1;
  EVP_CIPHER_CTX_free(c);
  EXPECT_TRUE(o.ok) << "GCM tag does not verify";
  out.resize(clen);
  o.plain = out;
  return o;
}

// The messages of a decrypted batch body (after decompression).
std::vector<std::string> BatchPayloads(const std::string &body) {
  std::vector<std::string> v;
  size_t off = 0, smd_len, pl_len;
  const uint8_t *smd, *pl;
  const uint8_t *b = reinterpret_cast<const uint8_t *>(body.data());
  while (pc_batch_next(b, body.size(), &off, &smd, &smd_len, &pl, &pl_len) == 1)
    v.emplace_back(reinterpret_cast<const char *>(pl), pl_len);
  return v;
}

class Encryption : public BrokerTest {
protected:
  // The key reader runs on the I/O thread at a producer's first send: a
  // pair made lazily there put an RSA-2048 key generation (seconds on a
  // loaded machine) inside that send's bounded wait, which ran out
  // (WAIT_TIMEOUT, then a crash on the late callback). Made here instead.
  void SetUp() override {
    Pair();
    BrokerTest::SetUp();
  }
  void Encrypt(ProducerConf &c) {
    c.Set("encryption_keys", "app-key");
    EXPECT_EQ(pulsarc_producer_conf_set_key_reader(c.get(), ReadPub, nullptr), PULSARC_OK);
  }
  std::string WritePubFile(const std::string &pem = Pair().pub) {
    char path[] = "/tmp/pulsarc_it_pub_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, pem.data(), pem.size()), (ssize_t)pem.size());
    close(fd);
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    BrokerTest::TearDown();
    for (auto &f : files_)
      unlink(f.c_str());
  }
  std::vector<std::string> files_;
};

TEST_F(Encryption, UnbatchedMessagesDecryptWithThePrivateKeyFromAFileKey) {
  ProducerConf conf;
  conf.Set("batching", "false")
      .Set("encryption_keys", "app-key")
      .Set("encryption_public_key_file", WritePubFile());
  pulsarc_producer_t *p = Create("enc-single", conf.get());
  ASSERT_NE(p, nullptr);
  // 20 KiB payloads would be spliced unencrypted without the hook.
  const std::vector<std::string> sent = {"one", RandomBytes(20000, 3), ""};
  for (const auto &m : sent)
    ASSERT_EQ(SendWait(p, m), PULSARC_OK);
  Snapshot s(tb_, "enc-single");
  ASSERT_EQ(s->num_entries, sent.size());
  std::set<std::string> ivs;
  for (size_t i = 0; i < sent.size(); i++) {
    Opened o = Open(s->entries[i]);
    EXPECT_EQ(s->entries[i].payload_len, sent[i].size() + 16);
    EXPECT_EQ(o.plain, sent[i]) << "message " << i;
    ivs.insert(o.iv);
  }
  EXPECT_EQ(ivs.size(), sent.size()); // a fresh IV per entry
}

TEST_F(Encryption, BatchesAreCompressedThenEncryptedWholeWithEveryCodec) {
  for (const char *codec : {"none", "lz4", "zlib", "zstd", "snappy"}) {
    SCOPED_TRACE(codec);
    ProducerConf conf;
    conf.Set("compression", codec).Set("batch_max_messages", "10").Set("batch_max_delay_ms", "50");
    Encrypt(conf);
    const std::string topic = std::string("enc-batch-") + codec;
    pulsarc_producer_t *p = Create(topic, conf.get());
    ASSERT_NE(p, nullptr);
    std::vector<std::string> sent;
    Completions done(20);
    for (int i = 0; i < 20; i++) {
      sent.push_back(Compressible(200) + std::to_string(i));
      ASSERT_EQ(pulsarc_producer_send_cb(p, sent.back().data(), sent.back().size(), nullptr,
                                         Completions::Cb, done.ctx(i)),
                PULSARC_OK);
    }
    ASSERT_TRUE(done.WaitTotal(20));
    for (int i = 0; i < 20; i++)
      ASSERT_EQ(done.at(i).err.load(), PULSARC_OK);
    Snapshot s(tb_, topic);
    std::vector<std::string> got;
    for (size_t i = 0; i < s->num_entries; i++) {
      const pulsarc_tb_entry &e = s->entries[i];
      EXPECT_TRUE(e.is_batch);
      Opened o = Open(e);
      ASSERT_TRUE(o.ok);
      std::string body = o.plain;
      if (o.codec != 0) {
        ASSERT_TRUE(Decompress(o.codec, o.plain, o.uncompressed_size, &body));
      }
      if (std::string(codec) != "none") {
        EXPECT_NE(o.codec, 0);
        EXPECT_LT(o.plain.size(), body.size()); // compressed before encryption
      }
      for (auto &m : BatchPayloads(body))
        got.push_back(m);
    }
    EXPECT_EQ(got, sent);
  }
}

TEST_F(Encryption, EachChunkIsEncryptedAloneAndFitsWithItsTag) {
  constexpr size_t kMax = 16384;
  ProducerConf conf;
  conf.Set("batching", "false")
      .Set("chunking", "true")
      .Set("max_message_size", std::to_string(kMax));
  Encrypt(conf);
  pulsarc_producer_t *p = Create("enc-chunks", conf.get());
  ASSERT_NE(p, nullptr);
  const std::string big = RandomBytes(3 * kMax, 7);
  ASSERT_EQ(SendWait(p, big), PULSARC_OK);
  Snapshot s(tb_, "enc-chunks");
  ASSERT_GE(s->num_entries, 4u);
  std::string joined;
  std::set<std::string> ivs;
  std::string key;
  for (size_t i = 0; i < s->num_entries; i++) {
    const pulsarc_tb_entry &e = s->entries[i];
    EXPECT_TRUE(e.is_chunk);
    EXPECT_EQ(e.chunk_id, (int32_t)i);
    EXPECT_EQ(e.num_chunks, (int32_t)s->num_entries);
    EXPECT_EQ(e.total_chunk_msg_size, (int32_t)big.size()); // the plaintext's size
    EXPECT_LE(e.metadata_len + e.payload_len, kMax);        // the tag left room for
    Opened o = Open(e);
    ASSERT_TRUE(o.ok) << "chunk " << i;
    joined += o.plain;
    ivs.insert(o.iv);
    if (i == 0)
      key = o.data_key;
    EXPECT_EQ(o.data_key, key);
  }
  EXPECT_EQ(ivs.size(), s->num_entries);
  EXPECT_EQ(joined, big);
}

// An EC public key in the file: every entry's data key is wrapped with
// ECIES (117 bytes on P-256: point, key, tag) and opens with the EC
// private key; batches, compression and chunks work as with RSA.
TEST_F(Encryption, EcKeyWrapsTheDataKeyForBatchesAndChunks) {
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  ASSERT_NE(ec, nullptr);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, ec);
  char *pem;
  long pem_len = BIO_get_mem_data(bio, &pem);
  const std::string file = WritePubFile(std::string(pem, (size_t)pem_len));
  BIO_free(bio);
  auto conf_for = [&](ProducerConf &c) {
    c.Set("compression", "lz4")
        .Set("encryption_keys", "app-key")
        .Set("encryption_public_key_file", file);
  };
  // Batches: compressed, then encrypted whole.
  ProducerConf bc;
  conf_for(bc);
  bc.Set("batch_max_messages", "5").Set("batch_max_delay_ms", "50");
  pulsarc_producer_t *p = Create("enc-ec-batch", bc.get());
  ASSERT_NE(p, nullptr);
  std::vector<std::string> sent;
  Completions done(10);
  for (int i = 0; i < 10; i++) {
    sent.push_back(Compressible(100) + std::to_string(i));
    ASSERT_EQ(pulsarc_producer_send_cb(p, sent.back().data(), sent.back().size(), nullptr,
                                       Completions::Cb, done.ctx(i)),
              PULSARC_OK);
  }
  ASSERT_TRUE(done.WaitTotal(10));
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(done.at(i).err.load(), PULSARC_OK);
  std::vector<std::string> got;
  {
    Snapshot s(tb_, "enc-ec-batch");
    for (size_t i = 0; i < s->num_entries; i++) {
      Opened o = Open(s->entries[i], ec);
      ASSERT_TRUE(o.ok) << "entry " << i;
      EXPECT_EQ(o.wrapped.size(), 117u);
      std::string body;
      ASSERT_TRUE(Decompress(o.codec, o.plain, o.uncompressed_size, &body));
      for (auto &m : BatchPayloads(body))
        got.push_back(m);
    }
  }
  EXPECT_EQ(got, sent);
  // Chunks: each encrypted alone, the same EC-wrapped data key on each.
  ProducerConf cc;
  conf_for(cc);
  cc.Set("batching", "false").Set("chunking", "true").Set("max_message_size", "16384");
  pulsarc_producer_t *q = Create("enc-ec-chunk", cc.get());
  ASSERT_NE(q, nullptr);
  const std::string big = RandomBytes(40000, 11);
  ASSERT_EQ(SendWait(q, big), PULSARC_OK);
  Snapshot s(tb_, "enc-ec-chunk");
  ASSERT_GE(s->num_entries, 3u);
  std::string joined; // the big message, compressed (if lz4 shrank it)
  Opened last;
  for (size_t i = 0; i < s->num_entries; i++) {
    EXPECT_TRUE(s->entries[i].is_chunk);
    last = Open(s->entries[i], ec);
    ASSERT_TRUE(last.ok) << "chunk " << i;
    EXPECT_EQ(last.wrapped.size(), 117u);
    joined += last.plain;
  }
  std::string whole = joined;
  if (last.codec != 0) {
    ASSERT_TRUE(Decompress(last.codec, joined, last.uncompressed_size, &whole));
  }
  EXPECT_EQ(whole, big);
  EVP_PKEY_free(ec);
}

// The data key of the newest entry on the topic.
std::string LastKey(pulsarc_tb *tb, const std::string &topic) {
  Snapshot s(tb, topic);
  if (s.get() == nullptr || s->num_entries == 0)
    return "";
  return Open(s->entries[s->num_entries - 1]).data_key;
}

TEST_F(Encryption, DataKeyRotatesOnScheduleAndOnDemand) {
  ProducerConf conf;
  conf.Set("batching", "false").Set("encryption_key_rotation_seconds", "2");
  Encrypt(conf);
  pulsarc_producer_t *p = Create("enc-rotate", conf.get());
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(SendWait(p, "first"), PULSARC_OK);
  const std::string k1 = LastKey(tb_, "enc-rotate");
  ASSERT_EQ(k1.size(), 32u);
  // The schedule: sends keep going until an entry carries a new key (2 s
  // interval; the bound is slack for a loaded machine).
  std::string k2;
  bool rotated = WaitUntil(
      [&] {
        if (SendWait(p, "tick") != PULSARC_OK)
          return false;
        k2 = LastKey(tb_, "enc-rotate");
        return !k2.empty() && k2 != k1;
      },
      20000);
  ASSERT_TRUE(rotated);
  // On demand: the very next entry has a new key.
  ASSERT_EQ(pulsarc_producer_rotate_encryption_key(p), PULSARC_OK);
  ASSERT_EQ(SendWait(p, "after"), PULSARC_OK);
  const std::string k3 = LastKey(tb_, "enc-rotate");
  EXPECT_EQ(k3.size(), 32u);
  EXPECT_NE(k3, k2);
  EXPECT_NE(k3, k1);
}

// Entries taken back before a resend (here: the test hook that reseals
// pending entries with fresh sequence ids after a reconnect) are decrypted
// first, so they are resent encrypted once, not their ciphertext as a new
// plaintext.
TEST_F(Encryption, ResealedEntriesAreDecryptedBeforeBeingEncryptedAgain) {
  ProducerConf conf;
  conf.Set("batching", "false");
  Encrypt(conf);
  pulsarc_producer_t *p = Create("enc-reseal", conf.get());
  ASSERT_NE(p, nullptr);
  pc_test_set_flags(PC_TEST_RENUMBER_ON_RESEND);
  ASSERT_EQ(pc_test_get_flags(), (unsigned)PC_TEST_RENUMBER_ON_RESEND) << "no test hooks";
  pulsarc_tb_hold_receipts(tb_, true);
  const std::vector<std::string> sent = {"alpha", "beta", "gamma"};
  Completions done(sent.size());
  for (size_t i = 0; i < sent.size(); i++)
    ASSERT_EQ(pulsarc_producer_send_cb(p, sent[i].data(), sent[i].size(), nullptr, Completions::Cb,
                                       done.ctx(i)),
              PULSARC_OK);
  EXPECT_TRUE(pulsarc_tb_wait_messages(tb_, "enc-reseal", sent.size(), kWaitMs));
  pulsarc_tb_drop_connections(tb_);
  pulsarc_tb_hold_receipts(tb_, false);
  bool all = done.WaitTotal(sent.size());
  pc_test_set_flags(0);
  ASSERT_TRUE(all);
  for (size_t i = 0; i < sent.size(); i++)
    EXPECT_EQ(done.at(i).err.load(), PULSARC_OK);
  Snapshot s(tb_, "enc-reseal");
  ASSERT_EQ(s->num_entries, 2 * sent.size()); // stored before the drop, and resealed after
  for (size_t i = 0; i < s->num_entries; i++) {
    Opened o = Open(s->entries[i]);
    EXPECT_EQ(o.plain, sent[i % sent.size()]) << "entry " << i;
  }
}

TEST_F(Encryption, UnreadableKeyFailsTheSendWithCryptoError) {
  ProducerConf conf;
  conf.Set("batching", "false")
      .Set("encryption_keys", "app-key")
      .Set("encryption_public_key_file", "/nonexistent/pulsarc/pub.pem");
  pulsarc_producer_t *p = Create("enc-fail", conf.get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(SendWait(p, "secret"), PULSARC_ERR_CRYPTO);
  EXPECT_EQ(SendWait(p, "secret again"), PULSARC_ERR_CRYPTO);
  Snapshot s(tb_, "enc-fail");
  EXPECT_EQ(s->num_entries, 0u); // nothing went out plain
}

TEST_F(Encryption, FailureActionSendGoesOutPlain) {
  ProducerConf conf;
  conf.Set("batching", "false")
      .Set("encryption_keys", "app-key")
      .Set("encryption_public_key_file", "/nonexistent/pulsarc/pub.pem")
      .Set("crypto_failure_action", "send");
  pulsarc_producer_t *p = Create("enc-plain", conf.get());
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(SendWait(p, "in the clear"), PULSARC_OK);
  Snapshot s(tb_, "enc-plain");
  ASSERT_EQ(s->num_entries, 1u);
  EXPECT_FALSE(s->entries[0].is_encrypted);
  EXPECT_EQ(features::EntryPayload(s->entries[0]), "in the clear");
}

TEST_F(Encryption, KeysWithoutAReaderOrFileIsAConflict) {
  ProducerConf conf;
  conf.Set("encryption_keys", "app-key");
  pulsarc_producer_t *p = nullptr;
  EXPECT_EQ(pulsarc_producer_create(client_, "enc-conflict", conf.get(), &p), PULSARC_ERR_CONFLICT);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(pulsarc_producer_rotate_encryption_key(nullptr), PULSARC_ERR_INVALID_ARGUMENT);
}

} // namespace
} // namespace pulsarc_it
