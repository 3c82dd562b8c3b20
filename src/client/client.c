/* Client lifecycle: configuration, security set-up, I/O threads, pools,
 * and the registry of what lives on the client (its producers). Called on
 * application threads; pool teardown runs on each loop. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/future.h"
#include "client/oauth2.h"
#include "client/testing.h"
#include "client/txn.h"
#include "client/workers.h"
#include "common/err_detail.h"
#include "common/prng.h"
#include "common/thread.h"

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
  pulsarc_err_t err = pc_client_check_token_file(cf);
  if (err != PULSARC_OK)
    return err;
  if (pc_oauth2_configured(cf)) {
    /* Two sources of one token would leave the user guessing which won. */
    if (cf->token_provider != NULL || cf->auth_token_file != NULL || cf->auth_token != NULL) {
      pc_err_detail_set("OAuth2 and a token (auth_token, auth_token_file or a provider) are "
                        "both configured: choose one");
      return PULSARC_ERR_INVALID_ARGUMENT;
    }
    if (pc_on_library_thread()) {
      /* The first token is an HTTP round trip: never inside an I/O thread. */
      pc_err_detail_set("pulsarc_client_new with OAuth2 waits for the token endpoint: not from "
                        "a pulsarc callback");
      return PULSARC_ERR_WRONG_THREAD;
    }
    err = pc_oauth2_start(cf, &cf->logger, &c->oauth2);
    if (err != PULSARC_OK)
      return err;
  } else if (cf->oauth2_issuer_url != NULL) {
    pc_err_detail_set("oauth2_issuer_url needs oauth2_credentials_file or oauth2_params");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  if (pc_client_has_token(cf))
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
  if (c->conf.compression_threads > 0 &&
      (c->workers = pc_workers_new(c->conf.compression_threads)) == NULL) {
    for (int i = 0; i < c->nloops; i++)
      pc_loop_stop(c->loops[i]);
    goto nomem;
  }
  pc_client_stats_log_start(c);
  *out = c;
  return PULSARC_OK;
nomem:
  for (int i = 0; c->loops && i < c->nloops; i++) {
    if (c->pools[i])
      free(c->pools[i]);
    if (c->loops[i])
      pc_loop_free(c->loops[i]);
  }
  pc_tc_free(c->tc); /* its ops waited on the loops */
  free(c->loops);
  free(c->pools);
  pthread_mutex_destroy(&c->lock);
  pc_oauth2_stop(c->oauth2);
  pc_tls_ctx_free(c->tls);
  pc_client_conf_release(&c->conf);
  free(c);
  return PULSARC_ERR_NO_MEMORY;
}

int pc_client_join(pulsarc_client_t *c, pc_client_member *m, pc_loop **loop) {
  pthread_mutex_lock(&c->lock);
  if (c->closed) {
    pthread_mutex_unlock(&c->lock);
    return -1;
  }
  uint32_t k = atomic_fetch_add(&c->next_loop, 1);
  /* Before m is visible: a client close may act on it at once. */
  *loop = c->loops[k % (uint32_t)c->nloops];
  m->next = c->members;
  m->pprev = &c->members;
  if (c->members != NULL)
    c->members->pprev = &m->next;
  c->members = m;
  atomic_fetch_add(&c->nmembers, 1);
  pthread_mutex_unlock(&c->lock);
  return 0;
}

/* Constant time: a scan of the list made destroying 10,000 producers
 * quadratic (seconds of CPU under the client's lock). */
void pc_client_leave(pulsarc_client_t *c, pc_client_member *m) {
  pthread_mutex_lock(&c->lock);
  if (m->pprev != NULL) {
    *m->pprev = m->next;
    if (m->next != NULL)
      m->next->pprev = m->pprev;
    m->next = NULL;
    m->pprev = NULL;
    atomic_fetch_sub(&c->nmembers, 1);
  }
  pthread_mutex_unlock(&c->lock);
}

pulsarc_err_t pulsarc_client_close(pulsarc_client_t *c) {
  if (c == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread())
    return PULSARC_ERR_WRONG_THREAD;
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  size_t n = 0;
  for (pc_client_member *m = c->members; m; m = m->next)
    n++;
  pc_client_member **list = calloc(n ? n : 1, sizeof *list);
  n = 0;
  for (pc_client_member *m = c->members; list && m; m = m->next)
    list[n++] = m;
  pthread_mutex_unlock(&c->lock);
  if (list == NULL)
    return PULSARC_ERR_NO_MEMORY;
  pulsarc_err_t first = PULSARC_OK;
  for (size_t i = 0; i < n; i++) {
    pulsarc_err_t e = list[i]->ops->close(list[i]);
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
    pc_client_member *m = c->members;
    pthread_mutex_unlock(&c->lock);
    if (m == NULL)
      break;
    m->ops->destroy(m); /* leaves the registry */
  }
  pc_client_stats_log_stop(c);
  /* Before the loops stop: work still queued is handed back to them. */
  pc_workers_free(c->workers);
  for (int i = 0; i < c->nloops; i++)
    (void)pc_loop_post(c->loops[i], pool_free_task, c->pools[i]);
  for (int i = 0; i < c->nloops; i++) {
    pc_loop_stop(c->loops[i]);
    pc_loop_free(c->loops[i]);
  }
  pc_tc_free(c->tc); /* its ops waited on the loops */
  free(c->loops);
  free(c->pools);
  pthread_mutex_destroy(&c->lock);
  pc_oauth2_stop(c->oauth2); /* no loop left to ask for its token */
  pc_tls_ctx_free(c->tls);   /* every connection is gone with the loops */
  pc_client_conf_release(&c->conf);
  free(c);
}

/* Sums the loops' counters; closed is read before opened, so the
 * connections gauge never goes below zero. */
pulsarc_err_t pulsarc_client_stats(const pulsarc_client_t *client, pulsarc_client_stats_t *stats,
                                   size_t size) {
  if (client == NULL || stats == NULL || size == 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pulsarc_client_t *c = (pulsarc_client_t *)client;
  pulsarc_client_stats_t s = {0};
  uint64_t closed = 0, opened = 0;
  for (int i = 0; i < c->nloops; i++) {
    const pc_loop_counters *k = pc_loop_counters_of(c->loops[i]);
    closed += pc_stat_get(&k->conns_closed);
    s.connections_failed += pc_stat_get(&k->conns_failed);
    s.bytes_out += pc_stat_get(&k->bytes_out);
    s.bytes_in += pc_stat_get(&k->bytes_in);
    s.frames_out += pc_stat_get(&k->frames_out);
    s.frames_in += pc_stat_get(&k->frames_in);
    s.lookups += pc_stat_get(&k->lookups);
    s.lookups_failed += pc_stat_get(&k->lookups_failed);
    s.partition_metadata += pc_stat_get(&k->partition_metadata);
  }
  for (int i = 0; i < c->nloops; i++)
    opened += pc_stat_get(&pc_loop_counters_of(c->loops[i])->conns_opened);
  s.connections_opened = opened;
  s.connections_closed = closed;
  s.connections = opened - closed;
  s.producers = atomic_load(&c->nmembers);
  int64_t used = atomic_load_explicit(&c->memory_used, memory_order_relaxed);
  s.memory_used = used > 0 ? (uint64_t)used : 0;
  s.memory_limit = c->conf.memory_limit_bytes;
  memcpy(stats, &s, size < sizeof s ? size : sizeof s);
  return PULSARC_OK;
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
