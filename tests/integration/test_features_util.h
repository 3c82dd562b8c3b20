// Helpers shared by the test_features_*.cc files (compression, chunking,
// schemas, access modes, message options, memory limit, partitions).
#ifndef PULSARC_TESTS_INTEGRATION_TEST_FEATURES_UTIL_H
#define PULSARC_TESTS_INTEGRATION_TEST_FEATURES_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "codec/compress.h"
#include "common/buf.h"
#include "harness.h"

namespace pulsarc_it {
namespace features {

// Bytes no codec can shrink (reproducible per seed).
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++)
    s[i] = static_cast<char>(rng() & 0xff);
  return s;
}

// Text every codec shrinks a lot.
inline std::string Compressible(size_t n) {
  static const char kText[] = "pulsarc compresses this sentence again and again. ";
  std::string s;
  s.reserve(n);
  while (s.size() < n)
    s += kText;
  s.resize(n);
  return s;
}

inline const char *CodecName(int codec) {
  static const char *const names[] = {"none", "lz4", "zlib", "zstd", "snappy"};
  return codec >= 0 && codec <= 4 ? names[codec] : "?";
}

// Sends one message and returns its final result, whether the send call
// refused it or its callback reported it. id is filled on success. On
// WAIT_TIMEOUT the callback is still to come: its record is left to it (a
// small leak in a failing test) instead of freed under it, which crashed
// the test binary after the failure.
inline pulsarc_err_t SendWait(pulsarc_producer_t *p, const std::string &payload,
                              const pulsarc_msg_opts_t *opts = nullptr,
                              pulsarc_msg_id_t *id = nullptr, int *callbacks = nullptr) {
  auto done = std::make_unique<Completions>(1);
  pulsarc_err_t e = pulsarc_producer_send_cb(p, payload.data(), payload.size(), opts,
                                             Completions::Cb, done->ctx(0));
  if (e != PULSARC_OK)
    return e;
  if (!done->WaitTotal(1)) {
    (void)done.release();
    return PULSARC_ERR_WAIT_TIMEOUT;
  }
  if (callbacks != nullptr)
    *callbacks = done->at(0).calls.load();
  if (id != nullptr)
    *id = done->at(0).id;
  return static_cast<pulsarc_err_t>(done->at(0).err.load());
}

// Records a producer-ready callback.
struct ReadyFlag {
  std::atomic<bool> done{false};
  std::atomic<int> err{-1};
  std::atomic<int> calls{0};
  static void Cb(pulsarc_producer_t *, pulsarc_err_t err, void *ctx) {
    ReadyFlag *r = static_cast<ReadyFlag *>(ctx);
    r->err = err;
    r->calls++;
    r->done = true;
  }
};

inline std::string EntryPayload(const pulsarc_tb_entry &e) {
  return e.payload ? std::string(reinterpret_cast<const char *>(e.payload), e.payload_len)
                   : std::string();
}

// Decodes a payload with the library's own codec; false if it does not
// decode to exactly uncompressed_size bytes.
inline bool Decompress(int codec, const std::string &in, size_t uncompressed_size,
                       std::string *out) {
  pc_buf b = {};
  int rc = pc_decompress(codec, reinterpret_cast<const uint8_t *>(in.data()), in.size(),
                         uncompressed_size, &b);
  if (rc == 0)
    *out = b.data ? std::string(reinterpret_cast<const char *>(b.data), b.len) : std::string();
  pc_buf_free(&b);
  return rc == 0;
}

inline std::string PartitionTopic(const std::string &topic, int i) {
  return FullTopic(topic) + "-partition-" + std::to_string(i);
}

// Java's String.hashCode over UTF-16 code units of a UTF-8 string, then
// & 0x7fffffff (independent of the library's implementation).
inline int32_t JavaStringHash(const std::string &s) {
  std::vector<uint16_t> units;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int extra;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      extra = 2;
    } else {
      cp = c & 0x07;
      extra = 3;
    }
    for (int k = 1; k <= extra && i + k < s.size(); k++)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += 1 + extra;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push_back(static_cast<uint16_t>(0xd800 + (cp >> 10)));
      units.push_back(static_cast<uint16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      units.push_back(static_cast<uint16_t>(cp));
    }
  }
  uint32_t h = 0;
  for (uint16_t u : units)
    h = 31 * h + u;
  return static_cast<int32_t>(h & 0x7fffffff);
}

// Murmur3 x86 32-bit, seed 0, over the bytes, then & 0x7fffffff.
inline int32_t Murmur3(const std::string &s) {
  const uint8_t *d = reinterpret_cast<const uint8_t *>(s.data());
  size_t n = s.size();
  uint32_t h = 0;
  const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  auto rotl = [](uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  size_t blocks = n / 4;
  for (size_t i = 0; i < blocks; i++) {
    uint32_t k = static_cast<uint32_t>(d[4 * i]) | (static_cast<uint32_t>(d[4 * i + 1]) << 8) |
                 (static_cast<uint32_t>(d[4 * i + 2]) << 16) |
                 (static_cast<uint32_t>(d[4 * i + 3]) << 24);
    k *= c1;
    k = rotl(k, 15);
    k *= c2;
    h ^= k;
    h = rotl(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  uint32_t k = 0;
  const uint8_t *tail = d + 4 * blocks;
  switch (n & 3) {
  case 3:
    k ^= static_cast<uint32_t>(tail[2]) << 16;
    [[fallthrough]];
  case 2:
    k ^= static_cast<uint32_t>(tail[1]) << 8;
    [[fallthrough]];
  case 1:
    k ^= tail[0];
    k *= c1;
    k = rotl(k, 15);
    k *= c2;
    h ^= k;
  }
  h ^= static_cast<uint32_t>(n);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return static_cast<int32_t>(h & 0x7fffffff);
}

// Keys for routing checks: ASCII, Latin-1 range, CJK, and characters
// outside the BMP (surrogate pairs in Java's hash).
inline std::vector<std::string> RoutingKeys(int n) {
  static const char *const kSuffixes[] = {"", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                                          "\xf0\x9f\x98\x80", "-\xc3\x9f-\xf0\x9f\x8c\x8d"};
  std::vector<std::string> keys;
  for (int i = 0; i < n; i++)
    keys.push_back("key-" + std::to_string(i) + kSuffixes[i % 5]);
  return keys;
}

// One-shot HTTP GET against 127.0.0.1:port (the test broker's admin
// endpoint). Header names are lower-cased; repeated headers are kept.
struct HttpReply {
  int status = 0;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::vector<std::string> All(const std::string &name) const {
    std::vector<std::string> v;
    auto r = headers.equal_range(name);
    for (auto it = r.first; it != r.second; ++it)
      v.push_back(it->second);
    return v;
  }
};

inline HttpReply HttpGet(uint16_t port, const std::string &path) {
  HttpReply r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return r;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    all.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t end = all.find("\r\n\r\n");
  if (end == std::string::npos)
    return r;
  r.body = all.substr(end + 4);
  size_t pos = all.find("\r\n");
  std::string status_line = all.substr(0, pos);
  size_t sp = status_line.find(' ');
  if (sp != std::string::npos)
    r.status = std::atoi(status_line.c_str() + sp + 1);
  pos += 2;
  while (pos < end) {
    size_t eol = all.find("\r\n", pos);
    std::string line = all.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon);
      for (char &c : k)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ')
        v++;
      r.headers.emplace(k, line.substr(v));
    }
    pos = eol + 2;
  }
  return r;
}

} // namespace features
} // namespace pulsarc_it

#endif
