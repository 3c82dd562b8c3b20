/* TLS for broker connections, through OpenSSL, driven by the connection's
 * non-blocking socket inside the event loop: the handshake and every read
 * and write return WANT_READ / WANT_WRITE instead of blocking, and the
 * connection turns those into epoll interest.
 *
 * Bytes go through a socket BIO of our own that sends with MSG_NOSIGNAL:
 * OpenSSL's stock socket BIO uses write(2), which raises SIGPIPE on a
 * connection the peer already reset. */
#ifndef PULSARC_LOOP_TLS_H
#define PULSARC_LOOP_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pc_tls_ctx pc_tls_ctx;
typedef struct pc_tls pc_tls;

typedef struct pc_tls_opts {
  const char *trust_certs_file; /* PEM bundle; NULL: the system's default store */
  const char *cert_file;        /* client certificate (PEM) for mutual TLS, or NULL */
  const char *key_file;         /* its private key (PEM); required with cert_file */
  const char *key_password;     /* passphrase of an encrypted key_file, or NULL.
                                   Never prompted for: without it an encrypted
                                   key fails to load */
  bool allow_insecure;          /* accept any server certificate */
  bool validate_hostname;       /* the certificate must name the host we dial */
} pc_tls_opts;

/* [any] Builds the shared context (TLS 1.2 minimum). NULL on failure with a
 * sentence in why (file names and OpenSSL's reason, never key material). */
pc_tls_ctx *pc_tls_ctx_new(const pc_tls_opts *o, char *why, size_t why_len);
/* [any] Sessions still open keep what they need alive. NULL is fine. */
void pc_tls_ctx_free(pc_tls_ctx *t);
/* [any] A client certificate is configured (auth method "tls"). */
bool pc_tls_ctx_has_cert(const pc_tls_ctx *t);

typedef enum pc_tls_status {
  PC_TLS_OK = 0,
  PC_TLS_WANT_READ,  /* retry when the socket is readable */
  PC_TLS_WANT_WRITE, /* retry when the socket is writable */
  PC_TLS_CLOSED,     /* the peer closed the connection */
  PC_TLS_SYSCALL,    /* the socket failed (reset, ...); why has the OS reason */
  PC_TLS_ERROR       /* TLS-level failure (alert, verify, protocol); why says which */
} pc_tls_status;

/* [loop] A client session on the connected socket fd, for host (SNI, and
 * the name the certificate must carry). NULL on allocation failure. */
pc_tls *pc_tls_new(pc_tls_ctx *ctx, int fd, const char *host);
/* [loop] Frees the session (sends nothing: the socket is closed next). */
void pc_tls_free(pc_tls *s);

/* [loop] Advances the handshake. OK once it is complete. On ERROR, why
 * names the side that refused and the reason in plain words ("we rejected
 * the broker's certificate: expired (...)", "the broker rejected our
 * client certificate: ..."), OpenSSL's own sentence in parentheses. */
pc_tls_status pc_tls_handshake(pc_tls *s, char *why, size_t why_len);
/* [loop] Reads up to len plaintext bytes; *n > 0 with OK. */
pc_tls_status pc_tls_read(pc_tls *s, void *buf, size_t len, size_t *n, char *why, size_t why_len);
/* [loop] Writes up to len bytes; *n > 0 with OK (may be less than len).
 * After WANT_*, the next call must pass the same bytes again (moving the
 * buffer is allowed). */
pc_tls_status pc_tls_write(pc_tls *s, const void *buf, size_t len, size_t *n, char *why,
                           size_t why_len);
/* [loop] Bytes buffered inside OpenSSL (readable without the socket). */
bool pc_tls_pending(const pc_tls *s);
/* [loop] "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
void pc_tls_describe(const pc_tls *s, char *out, size_t len);

#endif
