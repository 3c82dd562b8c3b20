/* Test broker: TLS on the listener (OpenSSL, server side, non-blocking in
 * the broker's epoll loop), mutual TLS, token authentication on CONNECT,
 * AUTH_CHALLENGE / AUTH_RESPONSE (token refresh, protocol >= 14).
 *
 * The broker thread blocks every signal, so OpenSSL's socket BIO (write(2))
 * cannot deliver SIGPIPE to the embedding program. [tb] unless noted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "tb_internal.h"

#define BC(x) PULSARC__BASE_COMMAND__TYPE__##x

struct tb_sec {
  SSL_CTX *ctx; /* NULL: plain TCP */
  bool verify_clients;
  char *token; /* required token, NULL: none */
  uint64_t challenge_ns, next_challenge_ns;
  uint64_t challenge_req, challenge_done; /* pulsarc_tb_auth_challenge handshake */
  int challenge_count;
  pulsarc_tb_auth_stats st;
};

typedef struct tb_sec_conn {
  SSL *ssl;
  bool handshake_done;
} tb_sec_conn;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --------------------------------------------------------------- start/stop */

static int ssl_fail(const char *what, const char *file) {
  unsigned long e = ERR_get_error();
  char buf[256] = "";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  fprintf(stderr, "pulsarc-testbroker: %s %s: %s\n", what, file ? file : "", buf);
  ERR_clear_error();
  return -EINVAL;
}

int tb_sec_start(pulsarc_tb *tb, const pulsarc_tb_opts *o) {
  bool tls = o->tls_cert_file || o->tls_key_file;
  if (tls && (!o->tls_cert_file || !o->tls_key_file))
    return -EINVAL;
  if (o->tls_ca_file && !tls)
    return -EINVAL;
  struct tb_sec *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  tb->sec = s;
  if (o->require_token && !(s->token = strdup(o->require_token)))
    return -ENOMEM;
  s->challenge_ns = (uint64_t)o->auth_challenge_ms * 1000000ull;
  s->next_challenge_ns = s->challenge_ns ? mono_ns() + s->challenge_ns : UINT64_MAX;
  if (!tls)
    return 0;
  ERR_clear_error();
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (!s->ctx)
    return ssl_fail("SSL_CTX_new", NULL);
  SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  SSL_CTX_set_options(s->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  if (SSL_CTX_use_certificate_chain_file(s->ctx, o->tls_cert_file) != 1)
    return ssl_fail("cannot load certificate", o->tls_cert_file);
  if (SSL_CTX_use_PrivateKey_file(s->ctx, o->tls_key_file, SSL_FILETYPE_PEM) != 1)
    return ssl_fail("cannot load key", o->tls_key_file);
  if (SSL_CTX_check_private_key(s->ctx) != 1)
    return ssl_fail("key does not match certificate", o->tls_key_file);
  if (o->tls_ca_file) {
    if (SSL_CTX_load_verify_locations(s->ctx, o->tls_ca_file, NULL) != 1)
      return ssl_fail("cannot load CA file", o->tls_ca_file);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->tls_ca_file);
    if (names)
      SSL_CTX_set_client_CA_list(s->ctx, names);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    s->verify_clients = true;
  }
  /* "pulsar+ssl://HOST:PORT": same host and port as the plain form. */
  char plain[sizeof tb->service_url];
  snprintf(plain, sizeof plain, "%s", tb->service_url);
  const char *rest = strstr(plain, "://");
  char url[sizeof tb->service_url + 16];
  int n = snprintf(url, sizeof url, "pulsar+ssl://%s", rest ? rest + 3 : plain);
  if (n < 0 || (size_t)n >= sizeof tb->service_url)
    return -EINVAL;
  memcpy(tb->service_url, url, (size_t)n + 1);
  return 0;
}

void tb_sec_free(pulsarc_tb *tb) {
  struct tb_sec *s = tb->sec;
  if (!s)
    return;
  SSL_CTX_free(s->ctx);
  free(s->token);
  free(s);
  tb->sec = NULL;
}

bool tb_sec_tls(const pulsarc_tb *tb) { return tb->sec && tb->sec->ctx; }

/* -------------------------------------------------------------- connections */

int tb_sec_conn_new(pulsarc_tb *tb, tb_conn *c) {
  if (!tb->sec || !tb->sec->ctx)
    return 0; /* plain TCP: nothing per connection */
  tb_sec_conn *sc = calloc(1, sizeof *sc);
  if (!sc)
    return -1;
  c->sec = sc;
  sc->ssl = SSL_new(tb->sec->ctx);
  if (!sc->ssl || SSL_set_fd(sc->ssl, c->fd) != 1) {
    ERR_clear_error();
    return -1;
  }
  SSL_set_accept_state(sc->ssl);
  return 0;
}

void tb_sec_conn_free(tb_conn *c) {
  if (!c->sec)
    return;
  SSL_free(c->sec->ssl);
  free(c->sec);
  c->sec = NULL;
}

static void note_handshake(pulsarc_tb *tb, tb_conn *c) {
  tb_sec_conn *sc = c->sec;
  if (sc->handshake_done || !SSL_is_init_finished(sc->ssl))
    return;
  sc->handshake_done = true;
  tb->sec->st.tls_handshakes++;
  X509 *peer = SSL_get1_peer_certificate(sc->ssl);
  if (peer) {
    if (SSL_get_verify_result(sc->ssl) == X509_V_OK)
      tb->sec->st.client_certs++;
    X509_free(peer);
  }
}

/* Maps an SSL failure to errno semantics for tb_server.c. */
static ssize_t ssl_errno(pulsarc_tb *tb, tb_conn *c, int rc) {
  tb_sec_conn *sc = c->sec;
  int e = SSL_get_error(sc->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    return 0;
  }
  if (!sc->handshake_done) {
    tb->sec->st.tls_failures++;
    if (getenv("PULSARC_TB_TRACE")) {
      char buf[256] = "";
      ERR_error_string_n(ERR_peek_error(), buf, sizeof buf);
      fprintf(stderr, "pulsarc-testbroker: fd %d TLS handshake failed: %s\n", c->fd, buf);
    }
  }
  ERR_clear_error();
  errno = ECONNRESET;
  return -1;
}

ssize_t tb_sec_recv(pulsarc_tb *tb, tb_conn *c, void *buf, size_t len) {
  if (!c->sec || !c->sec->ssl)
    return recv(c->fd, buf, len, 0);
  size_t n = 0;
  ERR_clear_error();
  int rc = SSL_read_ex(c->sec->ssl, buf, len, &n);
  note_handshake(tb, c);
  if (rc == 1)
    return (ssize_t)n;
  return ssl_errno(tb, c, 0);
}

ssize_t tb_sec_send(pulsarc_tb *tb, tb_conn *c, const void *buf, size_t len) {
  if (!c->sec || !c->sec->ssl)
    return send(c->fd, buf, len, MSG_NOSIGNAL);
  size_t n = 0;
  ERR_clear_error();
  int rc = SSL_write_ex(c->sec->ssl, buf, len, &n);
  note_handshake(tb, c);
  if (rc == 1)
    return (ssize_t)n;
  ssize_t r = ssl_errno(tb, c, 0);
  if (r == 0) { /* closed by the peer while we write */
    errno = EPIPE;
    r = -1;
  }
  return r;
}

/* ----------------------------------------------------------- authentication */

static bool token_ok(const struct tb_sec *s, const char *method, const uint8_t *data, size_t len) {
  if (!s->token)
    return true;
  size_t tl = strlen(s->token);
  return method && strcmp(method, "token") == 0 && data && len == tl &&
         CRYPTO_memcmp(data, s->token, tl) == 0;
}

/* Answers ERROR AuthenticationError and closes once it is written (best
 * effort: the answer goes out right away, ahead of the close). */
static void reject(pulsarc_tb *tb, tb_conn *c, const char *why) {
  Pulsarc__CommandError e = PULSARC__COMMAND_ERROR__INIT;
  e.request_id = 0;
  e.error = PULSARC__SERVER_ERROR__AuthenticationError;
  e.message = (char *)why;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(ERROR);
  cmd.error = &e;
  pc_buf out = {0};
  if (pc_frame_append_command(&out, &cmd) == 0) {
    size_t off = 0;
    /* Whatever was queued before goes first so the stream stays framed. */
    if (c->out.len > c->out_off)
      (void)tb_sec_send(tb, c, c->out.data + c->out_off, c->out.len - c->out_off);
    for (int tries = 0; off < out.len && tries < 100; tries++) {
      ssize_t n = tb_sec_send(tb, c, out.data + off, out.len - off);
      if (n > 0)
        off += (size_t)n;
      else if (!(n < 0 && errno == EAGAIN))
        break;
    }
    tb->st.frames_out++;
  }
  pc_buf_free(&out);
  tb_conn_close(tb, c, false);
}

bool tb_sec_filter(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  struct tb_sec *s = tb->sec;
  if (!s)
    return false;
  const Pulsarc__BaseCommand *cmd = f->cmd;
  if (cmd->type == BC(CONNECT) && cmd->connect && !c->connected) {
    const Pulsarc__CommandConnect *cc = cmd->connect;
    snprintf(s->st.last_method, sizeof s->st.last_method, "%s",
             cc->auth_method_name ? cc->auth_method_name : "");
    if (!token_ok(s, cc->auth_method_name, cc->has_auth_data ? cc->auth_data.data : NULL,
                  cc->has_auth_data ? cc->auth_data.len : 0)) {
      s->st.connects_rejected++;
      reject(tb, c,
             cc->has_auth_data ? "Unable to authenticate: invalid token"
                               : "Unable to authenticate: no token");
      return true;
    }
    s->st.connects_ok++;
    return false; /* the handlers answer CONNECTED */
  }
  if (cmd->type == BC(AUTH_RESPONSE) && cmd->auth_response) {
    const Pulsarc__AuthData *ad = cmd->auth_response->response;
    bool ok = ad && token_ok(s, ad->auth_method_name, ad->has_auth_data ? ad->auth_data.data : NULL,
                             ad->has_auth_data ? ad->auth_data.len : 0);
    if (ok) {
      s->st.responses_ok++;
    } else {
      s->st.responses_rejected++;
      reject(tb, c, "Unable to authenticate: refreshed token refused");
    }
    return true;
  }
  return false;
}

static void send_challenge(pulsarc_tb *tb, tb_conn *c) {
  static char sentinel[] = "PulsarAuthRefresh";
  Pulsarc__AuthData ad = PULSARC__AUTH_DATA__INIT;
  ad.auth_method_name = "token";
  ad.has_auth_data = 1;
  ad.auth_data.data = (uint8_t *)sentinel;
  ad.auth_data.len = sizeof sentinel - 1;
  Pulsarc__CommandAuthChallenge ch = PULSARC__COMMAND_AUTH_CHALLENGE__INIT;
  ch.server_version = TB_SERVER_VERSION;
  ch.challenge = &ad;
  ch.has_protocol_version = 1;
  ch.protocol_version = tb->max_protocol;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(AUTH_CHALLENGE);
  cmd.auth_challenge = &ch;
  tb_conn_send_cmd(tb, c, &cmd);
  tb->sec->st.challenges_sent++;
}

uint64_t tb_sec_tick(pulsarc_tb *tb, uint64_t now_ns, uint64_t next) {
  struct tb_sec *s = tb->sec;
  if (!s)
    return next;
  bool asked = s->challenge_done != s->challenge_req;
  bool due = s->next_challenge_ns <= now_ns;
  if (asked || due) {
    int n = 0;
    for (tb_conn *c = tb->conns; c; c = c->next)
      if (!c->closed && c->connected) {
        send_challenge(tb, c);
        n++;
      }
    if (asked) {
      s->challenge_count = n;
      s->challenge_done = s->challenge_req; /* the loop broadcasts cond */
    }
    if (due)
      s->next_challenge_ns = now_ns + s->challenge_ns;
  }
  return s->next_challenge_ns < next ? s->next_challenge_ns : next;
}

/* ---------------------------------------------------------------------- API */

void pulsarc_tb_get_auth_stats(pulsarc_tb *tb, pulsarc_tb_auth_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&tb->mu);
  if (tb->sec)
    *out = tb->sec->st;
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_set_required_token(pulsarc_tb *tb, const char *token) {
  pthread_mutex_lock(&tb->mu);
  if (tb->sec) {
    char *t = token ? strdup(token) : NULL;
    if (!token || t) {
      free(tb->sec->token);
      tb->sec->token = t;
    }
  }
  pthread_mutex_unlock(&tb->mu);
}

int pulsarc_tb_auth_challenge(pulsarc_tb *tb) {
  pthread_mutex_lock(&tb->mu);
  if (!tb->sec || !tb->thread_started || tb->stopped) {
    pthread_mutex_unlock(&tb->mu);
    return 0;
  }
  uint64_t want = ++tb->sec->challenge_req;
  pthread_mutex_unlock(&tb->mu);
  tb_wake(tb);
  pthread_mutex_lock(&tb->mu);
  while (tb->sec->challenge_done < want && !tb->stopped)
    pthread_cond_wait(&tb->cond, &tb->mu);
  int n = tb->sec->challenge_done >= want ? tb->sec->challenge_count : 0;
  pthread_mutex_unlock(&tb->mu);
  return n;
}
