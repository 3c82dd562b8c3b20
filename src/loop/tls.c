/* TLS sessions for broker connections (see tls.h). OpenSSL contexts are
 * safe to share between threads once built; every session belongs to one
 * connection and so to one loop thread. */
#include "loop/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct pc_tls_ctx {
  SSL_CTX *ssl_ctx;
  bool verify;     /* !allow_insecure */
  bool check_host; /* verify && validate_hostname */
  bool has_cert;
  bool has_trust_file;
};

struct pc_tls {
  SSL *ssl;
  int fd;
  int last_errno;   /* errno of the BIO's last failed send/recv */
  const char *host; /* the connection's, which outlives the session */
  bool has_cert, has_trust_file;
};

/* ------------------------------------------------------------ socket BIO */

static BIO_METHOD *g_sock_method;
static pthread_once_t g_sock_once = PTHREAD_ONCE_INIT;

/* One send or recv on the socket for OpenSSL: EINTR retried, EAGAIN turned
 * into the BIO's retry flag, other errors kept for the caller's message. */
static int bio_sock_io(BIO *b, char *buf, int len, bool write) {
  pc_tls *s = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  for (;;) {
    ssize_t r = write ? send(s->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT)
                      : recv(s->fd, buf, (size_t)len, MSG_DONTWAIT);
    if (r >= 0)
      return (int)r;
    if (errno == EINTR)
      continue;
    s->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (write)
        BIO_set_retry_write(b);
      else
        BIO_set_retry_read(b);
    }
    return -1;
  }
}

static int bio_sock_write(BIO *b, const char *buf, int len) {
  return bio_sock_io(b, (char *)buf, len, true);
}

static int bio_sock_read(BIO *b, char *buf, int len) { return bio_sock_io(b, buf, len, false); }

static int bio_sock_puts(BIO *b, const char *str) {
  return bio_sock_write(b, str, (int)strlen(str));
}

static long bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1; /* nothing is buffered here */
  case BIO_CTRL_GET_CLOSE:
    return BIO_get_shutdown(b);
  case BIO_CTRL_SET_CLOSE:
    BIO_set_shutdown(b, (int)num);
    return 1;
  default:
    return 0;
  }
}

static int bio_sock_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int bio_sock_destroy(BIO *b) {
  (void)b; /* the connection owns and closes the socket */
  return 1;
}

static void sock_method_make(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pulsarc-socket");
  if (m == NULL)
    return;
  if (!BIO_meth_set_write(m, bio_sock_write) || !BIO_meth_set_read(m, bio_sock_read) ||
      !BIO_meth_set_puts(m, bio_sock_puts) || !BIO_meth_set_ctrl(m, bio_sock_ctrl) ||
      !BIO_meth_set_create(m, bio_sock_create) || !BIO_meth_set_destroy(m, bio_sock_destroy)) {
    BIO_meth_free(m);
    return;
  }
  g_sock_method = m; /* lives for the process, like OpenSSL's own methods */
}

/* ---------------------------------------------------------------- errors */

/* OpenSSL's queued reason, or fallback. Clears the thread's error queue. */
static void ssl_reason(char *why, size_t len, const char *what, const char *fallback) {
  unsigned long e = ERR_get_error();
  char buf[256];
  if (e != 0)
    ERR_error_string_n(e, buf, sizeof buf);
  if (why != NULL && len > 0)
    snprintf(why, len, "%s: %s", what, e != 0 ? buf : fallback);
  ERR_clear_error();
}

/* ----------------------------------------------------------------- context */

typedef struct key_password {
  const char *password; /* NULL: none configured */
  bool asked;
} key_password;

/* Installed on every context so that OpenSSL never falls back to its
 * default, which prompts on the terminal and blocks pulsarc_client_new.
 * Without user data (after loading) it refuses. */
static int pem_password(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  key_password *kp = u;
  if (kp == NULL)
    return -1;
  kp->asked = true;
  if (kp->password == NULL)
    return -1;
  size_t n = strlen(kp->password);
  if (size < 0 || n > (size_t)size)
    return -1;
  memcpy(buf, kp->password, n); /* OpenSSL wipes buf after use */
  return (int)n;
}

/* Loads the client certificate chain and its key; 0 or -1 with why. */
static int load_client_cert(pc_tls_ctx *t, const pc_tls_opts *o, char *why, size_t why_len) {
  char what[600];
  key_password kp = {.password = o->key_password};
  SSL_CTX_set_default_passwd_cb_userdata(t->ssl_ctx, &kp);
  int rc = -1;
  if (SSL_CTX_use_certificate_chain_file(t->ssl_ctx, o->cert_file) != 1) {
    snprintf(what, sizeof what, "cannot load client certificate %s", o->cert_file);
    ssl_reason(why, why_len, what, "failed");
    goto out;
  }
  kp.asked = false;
  if (SSL_CTX_use_PrivateKey_file(t->ssl_ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
    if (kp.asked && o->key_password == NULL) {
      snprintf(why, why_len,
               "client key %s is encrypted and no tls_key_password is set (pulsarc never "
               "prompts for it)",
               o->key_file);
      ERR_clear_error();
    } else if (kp.asked) {
      snprintf(what, sizeof what, "cannot decrypt client key %s with the tls_key_password given",
               o->key_file);
      ssl_reason(why, why_len, what, "wrong password");
    } else {
      snprintf(what, sizeof what, "cannot load client key %s", o->key_file);
      ssl_reason(why, why_len, what, "failed");
    }
    goto out;
  }
  if (SSL_CTX_check_private_key(t->ssl_ctx) != 1) {
    snprintf(what, sizeof what, "client key %s does not match certificate %s", o->key_file,
             o->cert_file);
    ssl_reason(why, why_len, what, "mismatch");
    goto out;
  }
  rc = 0;
out:
  /* kp lives on this stack: later loads (none today) must find no password. */
  SSL_CTX_set_default_passwd_cb_userdata(t->ssl_ctx, NULL);
  return rc;
}

pc_tls_ctx *pc_tls_ctx_new(const pc_tls_opts *o, char *why, size_t why_len) {
  pthread_once(&g_sock_once, sock_method_make);
  if (g_sock_method == NULL) {
    snprintf(why, why_len, "cannot create the socket BIO method");
    return NULL;
  }
  if ((o->cert_file == NULL) != (o->key_file == NULL)) {
    snprintf(why, why_len, "tls_cert_file and tls_key_file go together");
    return NULL;
  }
  pc_tls_ctx *t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  ERR_clear_error();
  t->ssl_ctx = SSL_CTX_new(TLS_client_method());
  if (t->ssl_ctx == NULL) {
    ssl_reason(why, why_len, "SSL_CTX_new", "failed");
    goto fail;
  }
  if (!SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION)) {
    ssl_reason(why, why_len, "TLS 1.2 minimum", "refused");
    goto fail;
  }
  SSL_CTX_set_default_passwd_cb(t->ssl_ctx, pem_password);
  SSL_CTX_set_mode(t->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  /* Brokers may close without close_notify; that is an ordinary EOF here
   * (frames are self-delimiting, so truncation cannot pass unnoticed). */
  SSL_CTX_set_options(t->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  t->verify = !o->allow_insecure;
  t->check_host = t->verify && o->validate_hostname;
  t->has_trust_file = o->trust_certs_file != NULL;
  if (o->trust_certs_file != NULL) {
    if (!SSL_CTX_load_verify_locations(t->ssl_ctx, o->trust_certs_file, NULL)) {
      char what[600];
      snprintf(what, sizeof what, "cannot load trust certificates from %s", o->trust_certs_file);
      ssl_reason(why, why_len, what, "no certificate found");
      goto fail;
    }
  } else if (!SSL_CTX_set_default_verify_paths(t->ssl_ctx)) {
    ssl_reason(why, why_len, "cannot load the system trust store", "failed");
    goto fail;
  }
  SSL_CTX_set_verify(t->ssl_ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (o->cert_file != NULL) {
    if (load_client_cert(t, o, why, why_len) != 0)
      goto fail;
    t->has_cert = true;
  }
  return t;
fail:
  pc_tls_ctx_free(t);
  return NULL;
}

void pc_tls_ctx_free(pc_tls_ctx *t) {
  if (t == NULL)
    return;
  SSL_CTX_free(t->ssl_ctx); /* reference counted: open sessions hold theirs */
  free(t);
}

bool pc_tls_ctx_has_cert(const pc_tls_ctx *t) { return t != NULL && t->has_cert; }

/* ----------------------------------------------------------------- session */

static bool is_ip_literal(const char *host) {
  unsigned char tmp[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

pc_tls *pc_tls_new(pc_tls_ctx *ctx, int fd, const char *host) {
  pc_tls *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->fd = fd;
  s->host = host;
  s->has_cert = ctx->has_cert;
  s->has_trust_file = ctx->has_trust_file;
  ERR_clear_error();
  s->ssl = SSL_new(ctx->ssl_ctx);
  BIO *bio = s->ssl ? BIO_new(g_sock_method) : NULL;
  if (bio == NULL)
    goto fail;
  BIO_set_data(bio, s);
  SSL_set_bio(s->ssl, bio, bio); /* the SSL owns the BIO now */
  SSL_set_connect_state(s->ssl);
  bool ip = is_ip_literal(host);
  /* SNI carries host names only (RFC 6066 forbids address literals). */
  if (!ip && *host && !SSL_set_tlsext_host_name(s->ssl, host))
    goto fail;
  if (ctx->check_host) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : X509_VERIFY_PARAM_set1_host(vp, host, 0);
    if (!ok)
      goto fail;
  }
  return s;
fail:
  ERR_clear_error();
  pc_tls_free(s);
  return NULL;
}

void pc_tls_free(pc_tls *s) {
  if (s == NULL)
    return;
  SSL_free(s->ssl);
  free(s);
}

/* Our verdict on the broker's certificate, in words a user can act on. */
static const char *verify_reason(const pc_tls *s, long vr) {
  switch (vr) {
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    return s->has_trust_file ? "unknown CA (its issuer is not in tls_trust_certs_file)"
                             : "unknown CA (its issuer is not in the system trust store; "
                               "set tls_trust_certs_file)";
  case X509_V_ERR_CERT_HAS_EXPIRED:
    return "expired";
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return "not valid yet (check the clocks)";
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return "host name mismatch (it does not name the host in the service URL)";
  case X509_V_ERR_CERT_REVOKED:
    return "revoked";
  case X509_V_ERR_INVALID_PURPOSE:
    return "not meant for a TLS server";
  default:
    return "not trusted";
  }
}

/* The broker's alert about our certificate, or its refusal of the
 * handshake, said as such. false when the queued error is something else
 * (left queued for ssl_reason). */
static bool peer_refusal(const pc_tls *s, const char *what, char *why, size_t len) {
  unsigned long e = ERR_peek_error();
  if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL)
    return false;
  int reason = ERR_GET_REASON(e);
  if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
    if (why && len)
      snprintf(why, len, "%s: the broker did not answer in TLS (is this a plain pulsar:// port?)",
               what);
    ERR_clear_error();
    return true;
  }
  if (reason < SSL_AD_REASON_OFFSET)
    return false;
  int alert = reason - SSL_AD_REASON_OFFSET;
  const char *desc = ERR_reason_error_string(e); /* "tlsv1 alert unknown ca" */
  if (desc == NULL)
    desc = SSL_alert_desc_string_long(alert);
  const char *verdict = NULL;
  switch (alert) {
  case SSL_AD_CERTIFICATE_REQUIRED:
    verdict = s->has_cert ? "the broker rejected our client certificate"
                          : "the broker requires a client certificate and none is configured "
                            "(set tls_cert_file and tls_key_file)";
    break;
  case SSL_AD_UNKNOWN_CA:
    verdict = s->has_cert ? "the broker rejected our client certificate: unknown CA (the broker "
                            "does not trust its issuer)"
                          : NULL;
    break;
  case SSL_AD_CERTIFICATE_EXPIRED:
    verdict = s->has_cert ? "the broker rejected our client certificate: expired" : NULL;
    break;
  case SSL_AD_BAD_CERTIFICATE:
  case SSL_AD_UNSUPPORTED_CERTIFICATE:
  case SSL_AD_CERTIFICATE_REVOKED:
  case SSL_AD_CERTIFICATE_UNKNOWN:
  case SSL_AD_ACCESS_DENIED:
  case SSL_AD_DECRYPT_ERROR:
    verdict = s->has_cert ? "the broker rejected our client certificate" : NULL;
    break;
  default:
    break;
  }
  if (why && len) {
    if (verdict != NULL)
      snprintf(why, len, "%s: %s (%s)", what, verdict, desc);
    else
      snprintf(why, len, "%s: the broker ended the handshake with an alert (%s)", what, desc);
  }
  ERR_clear_error();
  return true;
}

/* Maps the outcome of an SSL call (rc <= 0) to a status and a reason. */
static pc_tls_status ssl_status(pc_tls *s, int rc, const char *what, char *why, size_t len) {
  int e = SSL_get_error(s->ssl, rc);
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return PC_TLS_WANT_READ;
  case SSL_ERROR_WANT_WRITE:
    return PC_TLS_WANT_WRITE;
  case SSL_ERROR_ZERO_RETURN:
    ERR_clear_error();
    return PC_TLS_CLOSED;
  case SSL_ERROR_SYSCALL:
    if (ERR_peek_error() == 0) {
      if (s->last_errno == 0) {
        if (why && len)
          snprintf(why, len, "%s: connection closed by peer", what);
        return PC_TLS_CLOSED;
      }
      if (why && len)
        snprintf(why, len, "%s: %s", what, strerror(s->last_errno));
      return PC_TLS_SYSCALL;
    }
    break;
  default:
    break;
  }
  long vr = SSL_get_verify_result(s->ssl);
  if (vr != X509_V_OK && !SSL_is_init_finished(s->ssl)) {
    if (why && len)
      snprintf(why, len,
               "%s: we rejected the broker's certificate: %s (certificate verify failed: %s)", what,
               verify_reason(s, vr), X509_verify_cert_error_string(vr));
    ERR_clear_error();
    return PC_TLS_ERROR;
  }
  if (peer_refusal(s, what, why, len))
    return PC_TLS_ERROR;
  ssl_reason(why, len, what, "protocol error");
  return PC_TLS_ERROR;
}

pc_tls_status pc_tls_handshake(pc_tls *s, char *why, size_t why_len) {
  ERR_clear_error();
  s->last_errno = 0;
  int rc = SSL_do_handshake(s->ssl);
  if (rc == 1)
    return PC_TLS_OK;
  pc_tls_status st = ssl_status(s, rc, "TLS handshake failed", why, why_len);
  if (st == PC_TLS_CLOSED) {
    if (why && why_len)
      snprintf(why, why_len, "TLS handshake failed: connection closed by peer");
    st = PC_TLS_ERROR; /* an EOF mid-handshake is a failure, not a goodbye */
  }
  return st;
}

pc_tls_status pc_tls_read(pc_tls *s, void *buf, size_t len, size_t *n, char *why, size_t why_len) {
  ERR_clear_error();
  s->last_errno = 0;
  size_t got = 0;
  int rc = SSL_read_ex(s->ssl, buf, len, &got);
  if (rc == 1) {
    *n = got;
    return PC_TLS_OK;
  }
  *n = 0;
  return ssl_status(s, 0, "TLS read failed", why, why_len);
}

pc_tls_status pc_tls_write(pc_tls *s, const void *buf, size_t len, size_t *n, char *why,
                           size_t why_len) {
  ERR_clear_error();
  s->last_errno = 0;
  size_t put = 0;
  int rc = SSL_write_ex(s->ssl, buf, len, &put);
  if (rc == 1) {
    *n = put;
    return PC_TLS_OK;
  }
  *n = 0;
  pc_tls_status st = ssl_status(s, 0, "TLS write failed", why, why_len);
  return st == PC_TLS_CLOSED ? PC_TLS_SYSCALL : st;
}

bool pc_tls_pending(const pc_tls *s) { return SSL_has_pending(s->ssl) == 1; }

void pc_tls_describe(const pc_tls *s, char *out, size_t len) {
  const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);
  snprintf(out, len, "%s %s", SSL_get_version(s->ssl), c ? SSL_CIPHER_get_name(c) : "?");
}
