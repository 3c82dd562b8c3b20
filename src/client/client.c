/* Client lifecycle: configuration, I/O threads, pools. Called on
 * application threads; pool teardown runs on each loop. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/future.h"
#include "client/producer.h"
#include "client/testing.h"
#include "common/err_detail.h"
#include "common/prng.h"
#include "common/thread.h"

/* ------------------------------------------------------------ credentials */

/* Appends s[0..n) without surrounding whitespace (files end in newlines). */
static int append_trimmed(pc_buf *out, const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)s[0])) {
    s++;
    n--;
  }
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  return pc_buf_append(out, s, n);
}

#define PC_TOKEN_FILE_MAX (1u << 20)

static int read_token_file(const char *path, pc_buf *out, char *why, size_t why_len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(why, why_len, "cannot open token file %s: %s", path, strerror(errno));
    return -1;
  }
  pc_buf raw = {0};
  char chunk[4096];
  size_t n;
  int rc = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (raw.len + n > PC_TOKEN_FILE_MAX || pc_buf_append(&raw, chunk, n) != 0) {
      snprintf(why, why_len, "token file %s is too large", path);
      rc = -1;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(why, why_len, "cannot read token file %s", path);
    rc = -1;
  }
  fclose(f);
  if (rc == 0 && append_trimmed(out, (const char *)raw.data, raw.len) != 0) {
    snprintf(why, why_len, "out of memory");
    rc = -1;
  }
  if (rc == 0 && out->len == 0) {
    snprintf(why, why_len, "token file %s is empty", path);
    rc = -1;
  }
  if (raw.data)
    memset(raw.data, 0, raw.len);
  pc_buf_free(&raw);
  memset(chunk, 0, sizeof chunk);
  return rc;
}

static int call_provider(const struct pulsarc_client_conf *cf, pc_buf *out, char *why,
                         size_t why_len) {
  size_t cap = 16 * 1024;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (pc_buf_reserve(out, cap) != 0) {
      snprintf(why, why_len, "out of memory");
      return -1;
    }
    int n = cf->token_provider((char *)out->data, cap, cf->token_provider_ctx);
    if (n < 0) {
      snprintf(why, why_len, "token provider failed (%d)", n);
      return -1;
    }
    if ((size_t)n <= cap) {
      out->len = (size_t)n;
      if (n == 0) {
        snprintf(why, why_len, "token provider returned an empty token");
        return -1;
      }
      return 0;
    }
    cap = (size_t)n;
  }
  snprintf(why, why_len, "token provider keeps asking for a larger buffer");
  return -1;
}

int pc_client_auth_data(void *client, pc_buf *out, char *why, size_t why_len) {
  const struct pulsarc_client_conf *cf = &((pulsarc_client_t *)client)->conf;
  pc_buf_reset(out);
  if (cf->token_provider != NULL)
    return call_provider(cf, out, why, why_len);
  if (cf->auth_token_file != NULL)
    return read_token_file(cf->auth_token_file, out, why, why_len);
  if (cf->auth_token != NULL) {
    if (pc_buf_append(out, cf->auth_token, strlen(cf->auth_token)) != 0) {
      snprintf(why, why_len, "out of memory");
      return -1;
    }
    return 0;
  }
  return 0; /* "tls": the certificate is the credential */
}

static bool has_token(const struct pulsarc_client_conf *cf) {
  return cf->token_provider != NULL || cf->auth_token_file != NULL || cf->auth_token != NULL;
}

/* A token file is checked once here, so that a wrong path or an empty
 * file fails client creation instead of every connection attempt. It is
 * still read again on every connect (it may be rotated). */
static pulsarc_err_t check_token_file(const struct pulsarc_client_conf *cf) {
  if (cf->token_provider != NULL || cf->auth_token_file == NULL)
    return PULSARC_OK; /* the provider wins; it is only called on connect */
  pc_buf tok = {0};
  char why[600] = "";
  int rc = read_token_file(cf->auth_token_file, &tok, why, sizeof why);
  if (tok.data != NULL)
    memset(tok.data, 0, tok.len);
  pc_buf_free(&tok);
  if (rc == 0)
    return PULSARC_OK;
  PC_ERROR(&cf->logger, "auth_token_file: %s", why);
  pc_err_detail_set("auth_token_file: %s", why);
  return PULSARC_ERR_AUTH_DATA;
}

/* Builds the TLS context (every file loaded, the key decrypted) and picks
 * the auth method. */
static pulsarc_err_t setup_security(pulsarc_client_t *c) {
  const struct pulsarc_client_conf *cf = &c->conf;
  if (c->service.tls) {
    pc_tls_opts o = {.trust_certs_file = cf->tls_trust_certs_file,
                     .cert_file = cf->tls_cert_file,
                     .key_file = cf->tls_key_file,
                     .key_password = cf->tls_key_password,
                     .allow_insecure = cf->tls_allow_insecure,
                     .validate_hostname = cf->tls_validate_hostname};
    char why[768];
    c->tls = pc_tls_ctx_new(&o, why, sizeof why);
    /* The key is decrypted now: the client keeps no copy of its password. */
    pc_client_conf_forget_key_password(&c->conf);
    if (c->tls == NULL) {
      PC_ERROR(&cf->logger, "TLS set-up failed: %s", why);
      pc_err_detail_set("TLS set-up failed: %s", why);
      return PULSARC_ERR_TLS;
    }
    if (cf->tls_allow_insecure)
      PC_WARN(&cf->logger, "tls_allow_insecure is on: broker certificates are NOT verified");
  } else if (cf->tls_cert_file != NULL) {
    PC_WARN(&cf->logger, "tls_cert_file is set but the service URL is not pulsar+ssl://; "
                         "no TLS will be used");
  }
  pulsarc_err_t err = check_token_file(cf);
  if (err != PULSARC_OK)
    return err;
  if (has_token(cf))
    c->auth_method = "token";
  else if (c->tls != NULL && pc_tls_ctx_has_cert(c->tls))
    c->auth_method = "tls";
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_client_new(const char *service_url, const pulsarc_client_conf_t *conf,
                                 pulsarc_client_t **out) {
  if (out != NULL)
    *out = NULL;
  pc_err_detail_clear();
  if (service_url == NULL || out == NULL) {
    pc_err_detail_set("pulsarc_client_new: %s is NULL",
                      service_url == NULL ? "service_url" : "out");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  pulsarc_client_t *c = aligned_alloc(64, sizeof *c); /* see memory_used */
  if (c != NULL)
    memset(c, 0, sizeof *c);
  if (c == NULL)
    return PULSARC_ERR_NO_MEMORY;
  if (conf == NULL) {
    pc_client_conf_defaults(&c->conf);
  } else if (pc_client_conf_copy(&c->conf, conf) != 0) {
    free(c);
    return PULSARC_ERR_NO_MEMORY;
  }
  pulsarc_err_t err = pc_service_url_parse(service_url, &c->service);
  if (err != PULSARC_OK)
    pc_err_detail_set("cannot use service URL \"%s\": %s", service_url, pulsarc_err_str(err));
  if (err == PULSARC_OK)
    err = setup_security(c);
  if (err != PULSARC_OK) {
    pc_tls_ctx_free(c->tls);
    pc_client_conf_release(&c->conf);
    free(c);
    return err;
  }
  pthread_mutex_init(&c->lock, NULL);
  atomic_init(&c->next_producer_id, 1);
  atomic_init(&c->prng, pc_prng_seed(c));
  c->nloops = c->conf.io_threads;
  c->loops = calloc((size_t)c->nloops, sizeof *c->loops);
  c->pools = calloc((size_t)c->nloops, sizeof *c->pools);
  if (c->loops == NULL || c->pools == NULL)
    goto nomem;
  for (int i = 0; i < c->nloops; i++) {
    if ((c->loops[i] = pc_loop_new(i, &c->conf.logger)) == NULL)
      goto nomem;
    pc_loop_set_busy_poll(c->loops[i], c->conf.io_busy_poll_us * 1000);
    if ((c->pools[i] = pc_pool_new(c, c->loops[i])) == NULL)
      goto nomem;
  }
  for (int i = 0; i < c->nloops; i++)
    if (pc_loop_start(c->loops[i]) != 0) {
      for (int k = 0; k < i; k++)
        pc_loop_stop(c->loops[k]);
      goto nomem;
    }
  *out = c;
  return PULSARC_OK;
nomem:
  for (int i = 0; c->loops && i < c->nloops; i++) {
    if (c->pools[i])
      free(c->pools[i]);
    if (c->loops[i])
      pc_loop_free(c->loops[i]);
  }
  free(c->loops);
  free(c->pools);
  pthread_mutex_destroy(&c->lock);
  pc_tls_ctx_free(c->tls);
  pc_client_conf_release(&c->conf);
  free(c);
  return PULSARC_ERR_NO_MEMORY;
}

pulsarc_err_t pulsarc_client_close(pulsarc_client_t *c) {
  if (c == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread())
    return PULSARC_ERR_WRONG_THREAD;
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  size_t n = 0;
  for (pulsarc_producer_t *p = c->producers; p; p = p->next_in_client)
    n++;
  pulsarc_producer_t **list = calloc(n ? n : 1, sizeof *list);
  n = 0;
  for (pulsarc_producer_t *p = c->producers; list && p; p = p->next_in_client)
    list[n++] = p;
  pthread_mutex_unlock(&c->lock);
  if (list == NULL)
    return PULSARC_ERR_NO_MEMORY;
  pulsarc_err_t first = PULSARC_OK;
  for (size_t i = 0; i < n; i++) {
    pulsarc_err_t e = pulsarc_producer_close(list[i]);
    if (first == PULSARC_OK && e != PULSARC_OK && e != PULSARC_ERR_CLOSED)
      first = e;
  }
  free(list);
  return first;
}

static void *destroy_thread(void *c) {
  pulsarc_client_destroy(c);
  return NULL;
}

static void pool_free_task(pc_loop *loop, void *arg) {
  (void)loop;
  pc_pool_free(arg);
}

static void *destroy_thread(void *c);

void pulsarc_client_destroy(pulsarc_client_t *c) {
  if (c == NULL)
    return;
  if (pc_on_library_thread()) {
    /* Joining our own thread would deadlock: hand the work to a thread of
     * its own. */
    pthread_t t;
    pthread_attr_t a;
    if (pc_thread_attr_init(&a) == 0) {
      pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
      int rc = pthread_create(&t, &a, destroy_thread, c);
      pthread_attr_destroy(&a);
      if (rc == 0)
        return;
    }
    PC_ERROR(&c->conf.logger, "client destroy from a callback could not start a thread; leaking");
    return;
  }
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  pthread_mutex_unlock(&c->lock);
  for (;;) {
    pthread_mutex_lock(&c->lock);
    pulsarc_producer_t *p = c->producers;
    pthread_mutex_unlock(&c->lock);
    if (p == NULL)
      break;
    pulsarc_producer_destroy(p); /* unlinks it */
  }
  for (int i = 0; i < c->nloops; i++)
    (void)pc_loop_post(c->loops[i], pool_free_task, c->pools[i]);
  for (int i = 0; i < c->nloops; i++) {
    pc_loop_stop(c->loops[i]);
    pc_loop_free(c->loops[i]);
  }
  free(c->loops);
  free(c->pools);
  pthread_mutex_destroy(&c->lock);
  pc_tls_ctx_free(c->tls); /* every connection is gone with the loops */
  pc_client_conf_release(&c->conf);
  free(c);
}

#ifdef PULSARC_TEST_HOOKS
uint64_t pc_test_client_wakes(pulsarc_client_t *c) {
  uint64_t n = 0;
  for (int i = 0; i < c->nloops; i++)
    n += pc_loop_wake_count(c->loops[i]);
  return n;
}

int64_t pc_test_client_memory_used(pulsarc_client_t *c) { return atomic_load(&c->memory_used); }
#endif
