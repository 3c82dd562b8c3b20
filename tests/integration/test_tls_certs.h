// Certificates made at test time with the OpenSSL API (no files in the
// repository, nothing that expires between runs): a CA, server certificates
// for 127.0.0.1/localhost (valid, expired, for another host, from another
// CA) and client certificates (from the CA, from another CA). EC P-256 keys
// keep generation fast.
#ifndef PULSARC_TESTS_TLS_CERTS_H
#define PULSARC_TESTS_TLS_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace pulsarc_tls_test {

struct KeyCert {
  EVP_PKEY *key = nullptr;
  X509 *cert = nullptr;
  std::string key_file, cert_file;
};

inline bool AddExt(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    return false;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return true;
}

// kind: "ca", "server" or "client". san: "DNS:localhost,IP:127.0.0.1".
// Validity: [now + from_s, now + to_s].
inline KeyCert MakeCert(const std::string &dir, const std::string &name, const char *kind,
                        const char *cn, const char *san, const KeyCert *issuer, long from_s,
                        long to_s) {
  static long serial = 1000;
  KeyCert kc;
  kc.key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), to_s);
  X509_set_pubkey(x, kc.key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>(cn), -1,
                             -1, 0);
  X509 *iss = issuer ? issuer->cert : x;
  X509_set_issuer_name(x, X509_get_subject_name(iss));
  bool ca = std::string(kind) == "ca";
  AddExt(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExt(x, iss, NID_key_usage,
         ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyAgreement");
  AddExt(x, iss, NID_subject_key_identifier, "hash");
  if (issuer)
    AddExt(x, iss, NID_authority_key_identifier, "keyid");
  if (!ca)
    AddExt(x, iss, NID_ext_key_usage, std::string(kind) == "server" ? "serverAuth" : "clientAuth");
  if (san)
    AddExt(x, iss, NID_subject_alt_name, san);
  X509_sign(x, issuer ? issuer->key : kc.key, EVP_sha256());
  kc.cert = x;
  kc.key_file = dir + "/" + name + ".key.pem";
  kc.cert_file = dir + "/" + name + ".cert.pem";
  FILE *f = std::fopen(kc.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, kc.key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(kc.cert_file.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  return kc;
}

// Everything the TLS tests use, in a fresh temporary directory.
struct Certs {
  std::string dir;
  KeyCert ca, other_ca, server, expired, wrong_host, foreign, client, foreign_client;

  Certs() {
    char tmpl[] = "/tmp/pulsarc-tls-XXXXXX";
    dir = mkdtemp(tmpl) ? tmpl : "/tmp";
    const long day = 86400;
    ca = MakeCert(dir, "ca", "ca", "pulsarc test CA", nullptr, nullptr, -day, 30 * day);
    other_ca = MakeCert(dir, "other-ca", "ca", "some other CA", nullptr, nullptr, -day, 30 * day);
    const char *san = "DNS:localhost,IP:127.0.0.1";
    server = MakeCert(dir, "server", "server", "localhost", san, &ca, -day, 30 * day);
    expired = MakeCert(dir, "expired", "server", "localhost", san, &ca, -10 * day, -day);
    wrong_host = MakeCert(dir, "wrong-host", "server", "broker.example.com",
                          "DNS:broker.example.com", &ca, -day, 30 * day);
    foreign = MakeCert(dir, "foreign", "server", "localhost", san, &other_ca, -day, 30 * day);
    client = MakeCert(dir, "client", "client", "pulsarc-client", nullptr, &ca, -day, 30 * day);
    foreign_client =
        MakeCert(dir, "foreign-client", "client", "intruder", nullptr, &other_ca, -day, 30 * day);
  }
  ~Certs() {
    for (KeyCert *k :
         {&ca, &other_ca, &server, &expired, &wrong_host, &foreign, &client, &foreign_client}) {
      unlink(k->key_file.c_str());
      unlink(k->cert_file.c_str());
      EVP_PKEY_free(k->key);
      X509_free(k->cert);
    }
    rmdir(dir.c_str());
  }
  Certs(const Certs &) = delete;
  Certs &operator=(const Certs &) = delete;
};

// Writes key to path as PEM encrypted (AES-256-CBC) with password, as a
// user's passphrase-protected key file. true on success.
inline bool WriteEncryptedKey(const std::string &path, EVP_PKEY *key, const char *password) {
  FILE *f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    return false;
  int ok = PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(),
                                reinterpret_cast<const unsigned char *>(password),
                                static_cast<int>(std::strlen(password)), nullptr, nullptr);
  return std::fclose(f) == 0 && ok == 1;
}

} // namespace pulsarc_tls_test

#endif
