/* Client lifecycle: configuration, I/O threads, pools. Called on
 * application threads; pool teardown runs on each loop. */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/future.h"
#include "client/producer.h"

pulsarc_err_t pulsarc_client_new(const char *service_url, const pulsarc_client_conf_t *conf,
                                 pulsarc_client_t **out) {
  if (out != NULL)
    *out = NULL;
  if (service_url == NULL || out == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pulsarc_client_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return PULSARC_ERR_NO_MEMORY;
  if (conf != NULL)
    c->conf = *conf;
  else
    pc_client_conf_defaults(&c->conf);
  pulsarc_err_t err = pc_service_url_parse(service_url, &c->service);
  if (err != PULSARC_OK) {
    free(c);
    return err;
  }
  if (c->service.tls) {
    PC_ERROR(&c->conf.logger, "pulsar+ssl:// is not implemented yet in this version");
    free(c);
    return PULSARC_ERR_NOT_SUPPORTED;
  }
  pthread_mutex_init(&c->lock, NULL);
  atomic_init(&c->next_producer_id, 1);
  c->nloops = c->conf.io_threads;
  c->loops = calloc((size_t)c->nloops, sizeof *c->loops);
  c->pools = calloc((size_t)c->nloops, sizeof *c->pools);
  if (c->loops == NULL || c->pools == NULL)
    goto nomem;
  for (int i = 0; i < c->nloops; i++) {
    if ((c->loops[i] = pc_loop_new(i, &c->conf.logger)) == NULL)
      goto nomem;
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
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, destroy_thread, c) == 0) {
      pthread_attr_destroy(&a);
      return;
    }
    pthread_attr_destroy(&a);
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
  free(c);
}
