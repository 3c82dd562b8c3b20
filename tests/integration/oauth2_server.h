// A small OAuth2 authorization server for the tests: OpenID discovery at
// <issuer>/.well-known/openid-configuration and a client-credentials token
// endpoint issuing JWT-shaped tokens (header.claims.signature; the claims
// carry `sub`, `exp` and the token's number, so a test knows each token in
// advance). Plain HTTP, or HTTPS with a given certificate. One thread, one
// request per connection (curl closes each one: every request uses a new
// handle).
#ifndef PULSARC_TESTS_OAUTH2_SERVER_H
#define PULSARC_TESTS_OAUTH2_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pulsarc_oauth2_test {

inline std::string B64Url(const std::string &in) {
  static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
  }
  return out;
}

inline std::string UrlDecode(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += (char)std::stoi(s.substr(i + 1, 2), nullptr, 16);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of key in an x-www-form-urlencoded body ("" if absent).
inline std::string FormField(const std::string &body, const std::string &key) {
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string kv = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = kv.find('=');
    if (eq != std::string::npos && UrlDecode(kv.substr(0, eq)) == key)
      return UrlDecode(kv.substr(eq + 1));
    if (amp == std::string::npos)
      break;
    pos = amp + 1;
  }
  return "";
}

class TokenServer {
public:
  struct Opts {
    std::string client_id = "pulsarc-test-client";
    std::string client_secret = "S3cr3t-0f-the-t3st-client";
    std::vector<int> lifetimes{3600}; // expires_in of token n: lifetimes[min(n, size) - 1]
    SSL_CTX *tls = nullptr;           // HTTPS when set (the server takes no ownership)
    // Pause between counting a token request (TokenHits) and answering it:
    // a hit says the client asked, not that it holds the answer.
    int token_reply_delay_ms = 0;
  };

  explicit TokenServer(Opts o) : o_(std::move(o)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd_, (sockaddr *)&a, sizeof a) != 0 || listen(fd_, 16) != 0)
      return;
    socklen_t l = sizeof a;
    getsockname(fd_, (sockaddr *)&a, &l);
    port_ = ntohs(a.sin_port);
    th_ = std::thread([this] { Run(); });
  }
  ~TokenServer() {
    stop_ = true;
    if (th_.joinable())
      th_.join();
    close(fd_);
  }
  TokenServer(const TokenServer &) = delete;
  TokenServer &operator=(const TokenServer &) = delete;

  int port() const { return port_; }
  std::string Issuer() const {
    return std::string(o_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           "/issuer";
  }
  // Token number n (1-based), as this server issues it.
  std::string TokenFor(int n) const {
    std::string hdr = B64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    std::string claims =
        B64Url("{\"sub\":\"" + o_.client_id + "\",\"n\":" + std::to_string(n) + "}");
    return hdr + "." + claims + "." + B64Url("signature-" + std::to_string(n));
  }
  int TokenHits() const { return token_hits_.load(); }
  int DiscoveryHits() const { return discovery_hits_.load(); }
  // From now on only this secret is accepted (a rotated or revoked secret).
  void SetSecret(const std::string &secret) {
    std::lock_guard<std::mutex> lk(mu_);
    o_.client_secret = secret;
  }
  std::vector<std::string> TokenBodies() {
    std::lock_guard<std::mutex> lk(mu_);
    return bodies_;
  }

private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0)
        continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL *ssl = nullptr;
      if (o_.tls) {
        ssl = SSL_new(o_.tls);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) { // e.g. the client rejected our certificate
          ERR_clear_error();
          SSL_free(ssl);
          close(c);
          continue;
        }
      }
      Serve(c, ssl);
      if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
      }
      close(c);
    }
  }
  long Read(int c, SSL *ssl, char *b, size_t n) {
    return ssl ? SSL_read(ssl, b, (int)n) : read(c, b, n);
  }
  void Write(int c, SSL *ssl, const std::string &s) {
    if (ssl)
      SSL_write(ssl, s.data(), (int)s.size());
    else if (write(c, s.data(), s.size()) < 0)
      return;
  }
  void Serve(int c, SSL *ssl) {
    std::string req;
    char b[4096];
    size_t hdr_end;
    while ((hdr_end = req.find("\r\n\r\n")) == std::string::npos) {
      long n = Read(c, ssl, b, sizeof b);
      if (n <= 0)
        return;
      req.append(b, (size_t)n);
    }
    size_t clen = 0;
    size_t cl = req.find("Content-Length:");
    if (cl == std::string::npos)
      cl = req.find("content-length:");
    if (cl != std::string::npos && cl < hdr_end)
      clen = std::stoul(req.substr(cl + 15));
    while (req.size() < hdr_end + 4 + clen) {
      long n = Read(c, ssl, b, sizeof b);
      if (n <= 0)
        return;
      req.append(b, (size_t)n);
    }
    std::string line = req.substr(0, req.find("\r\n"));
    std::string body = req.substr(hdr_end + 4, clen);
    std::string base =
        (o_.tls ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_);
    if (line.rfind("GET /issuer/.well-known/openid-configuration ", 0) == 0) {
      discovery_hits_++;
      Reply(c, ssl, 200,
            "{\"issuer\":\"" + base + "/issuer\",\"jwks_uri\":\"" + base +
                "/jwks\",\"grant_types_supported\":[\"client_credentials\"],"
                "\"token_endpoint\":\"" +
                base + "/oauth/token\"}");
    } else if (line.rfind("POST /oauth/token ", 0) == 0) {
      ++token_hits_;
      std::string secret;
      {
        std::lock_guard<std::mutex> lk(mu_);
        bodies_.push_back(body);
        secret = o_.client_secret;
      }
      if (FormField(body, "grant_type") != "client_credentials" ||
          FormField(body, "client_id") != o_.client_id ||
          FormField(body, "client_secret") != secret) {
        Reply(c, ssl, 401,
              "{\"error\":\"invalid_client\",\"error_description\":\"client authentication "
              "failed\"}");
        return;
      }
      if (o_.token_reply_delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(o_.token_reply_delay_ms));
      int issued = ++issued_;
      int life = o_.lifetimes[std::min<size_t>((size_t)issued, o_.lifetimes.size()) - 1];
      Reply(c, ssl, 200,
            "{\"access_token\":\"" + TokenFor(issued) + "\",\"token_type\":\"Bearer\"," +
                "\"expires_in\":" + std::to_string(life) + ",\"scope\":\"\"}");
    } else {
      Reply(c, ssl, 404, "{\"error\":\"not_found\"}");
    }
  }
  void Reply(int c, SSL *ssl, int status, const std::string &body) {
    std::string r =
        "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    Write(c, ssl, r);
  }

  Opts o_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> token_hits_{0}, discovery_hits_{0};
  int issued_ = 0; // server thread only
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread th_;
};

} // namespace pulsarc_oauth2_test

#endif
