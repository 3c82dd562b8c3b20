/* The producer's public entry points [app threads]: argument checks,
 * wrong-thread checks (blocking forms refuse inside callbacks, which run on
 * I/O threads), and posting the work to the producer's I/O thread. A send
 * goes on to enqueue.c; everything else to lifecycle.c's tasks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/future.h"
#include "common/err_detail.h"
#include "producer/pipeline.h"

static pulsarc_err_t member_close(pc_client_member *m);
static void member_destroy(pc_client_member *m);
static int member_stats(pc_client_member *m, pc_member_stats *out);
static const pc_client_member_ops member_ops = {
    .close = member_close, .destroy = member_destroy, .stats = member_stats};

/* The producer's encryption, when its conf names keys; the file reader
 * reads the path kept in the producer's own conf copy. */
static pulsarc_err_t encryption_new(pulsarc_producer_t *p, const pc_logger *log) {
  const struct pulsarc_producer_conf *c = &p->conf;
  if (c->encryption_keys == NULL)
    return PULSARC_OK;
  pc_crypto_conf cc = {.key_names = c->encryption_keys,
                       .reader = c->key_reader,
                       .reader_ctx = c->key_reader_ctx,
                       .rotation_ns = c->encryption_key_rotation_seconds * 1000000000ull};
  if (cc.reader == NULL) {
    cc.reader = pulsarc_file_key_reader;
    cc.reader_ctx = c->encryption_public_key_file;
  }
  pulsarc_err_t err;
  p->crypto = pc_crypto_new(&cc, log, &err);
  if (err == PULSARC_ERR_INVALID_ARGUMENT)
    pc_err_detail_set("encryption_keys \"%.200s\" names no key", c->encryption_keys);
  return err;
}

pulsarc_err_t pulsarc_producer_create_cb(pulsarc_client_t *client, const char *topic,
                                         const pulsarc_producer_conf_t *conf,
                                         pulsarc_producer_ready_cb ready_cb, void *ctx,
                                         pulsarc_producer_t **out) {
  if (out != NULL)
    *out = NULL;
  if (client == NULL || topic == NULL || out == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  char full[PC_TOPIC_MAX];
  pulsarc_err_t err = pc_topic_complete(topic, full, sizeof full);
  if (err != PULSARC_OK) {
    pc_err_detail_set("invalid topic name \"%.200s\"", topic);
    return err;
  }
  /* Aligned: the struct keeps sender and loop fields on separate lines. */
  pulsarc_producer_t *p = aligned_alloc(64, sizeof *p);
  if (p != NULL)
    memset(p, 0, sizeof *p);
  if (p == NULL)
    return PULSARC_ERR_NO_MEMORY;
  struct pulsarc_producer_conf defaults;
  if (conf == NULL) {
    pc_producer_conf_defaults(&defaults);
    conf = &defaults;
  }
  char why[200];
  if ((err = pc_producer_conf_check(conf, why, sizeof why)) != PULSARC_OK) {
    PC_WARN(&client->conf.logger, "producer for %s refused: %s", full, why);
    pc_err_detail_set("producer for %s refused: %s", full, why);
    free(p);
    return err;
  }
  if (pc_producer_conf_copy(&p->conf, conf) != 0) {
    free(p);
    return PULSARC_ERR_NO_MEMORY;
  }
  if ((err = encryption_new(p, &client->conf.logger)) != PULSARC_OK) {
    pc_producer_conf_release(&p->conf);
    free(p);
    return err;
  }
  memcpy(p->topic, full, sizeof full);
  p->client = client;
  p->ready_cb = ready_cb;
  p->ready_ctx = ctx;
  atomic_init(&p->max_message_size, (uint32_t)p->conf.max_message_size);
  atomic_init(&p->last_seq_id, -1);
  pc_sendq_init(&p->q, p->conf.max_pending_messages / 8); /* see PC_SENDQ_RING_MAX */
  p->poller.poll = pc_producer_poll;
  p->poller.has_work = pc_producer_has_work;
  p->poller.ctx = p;

  p->member.ops = &member_ops;
  if (pc_client_join(client, &p->member, &p->loop) != 0) {
    pc_crypto_free(p->crypto);
    pc_producer_conf_release(&p->conf);
    free(p);
    pc_err_detail_set("producer for %s not created: the client is closed", full);
    return PULSARC_ERR_CLOSED;
  }
  if (pc_loop_post(p->loop, pc_producer_begin, p) != 0) {
    /* Cannot happen short of memory exhaustion; unlink and give up. */
    pc_client_leave(client, &p->member);
    pc_crypto_free(p->crypto);
    pc_producer_conf_release(&p->conf);
    free(p);
    return PULSARC_ERR_NO_MEMORY;
  }
  *out = p;
  return PULSARC_OK;
}

/* A blocking create's wait, with the failure's detail carried over from
 * the I/O thread that reported it to the thread that returns it. */
typedef struct create_wait {
  pc_waiter w;
  char detail[PC_ERR_DETAIL_MAX];
} create_wait;

static void ready_to_waiter(pulsarc_producer_t *p, pulsarc_err_t err, void *ctx) {
  (void)p;
  create_wait *cw = ctx;
  if (err != PULSARC_OK)
    snprintf(cw->detail, sizeof cw->detail, "%s", pulsarc_last_error_text());
  pc_waiter_complete(err, NULL, &cw->w);
}

pulsarc_err_t pulsarc_producer_create(pulsarc_client_t *client, const char *topic,
                                      const pulsarc_producer_conf_t *conf,
                                      pulsarc_producer_t **out) {
  if (out != NULL)
    *out = NULL;
  if (pc_on_library_thread()) {
    pc_err_detail_set("pulsarc_producer_create called from a library thread (inside a "
                      "callback): use pulsarc_producer_create_cb there");
    return PULSARC_ERR_WRONG_THREAD;
  }
  create_wait cw;
  pc_waiter_init(&cw.w);
  cw.detail[0] = '\0';
  pulsarc_producer_t *p;
  pulsarc_err_t err = pulsarc_producer_create_cb(client, topic, conf, ready_to_waiter, &cw, &p);
  if (err != PULSARC_OK)
    return err;
  err = pc_waiter_wait(&cw.w, -1, NULL);
  if (err != PULSARC_OK) {
    char full[PC_TOPIC_MAX];
    snprintf(full, sizeof full, "%s", p->topic);
    pulsarc_producer_destroy(p);
    if (cw.detail[0] != '\0')
      pc_err_detail_copy(cw.detail);
    else
      pc_err_detail_set("producer for %s not created: %s", full, pulsarc_err_str(err));
    return err;
  }
  *out = p;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_producer_rotate_encryption_key(pulsarc_producer_t *p) {
  if (p == NULL || p->crypto == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_crypto_request_rotation(p->crypto);
  return PULSARC_OK;
}

const char *pulsarc_producer_topic(const pulsarc_producer_t *p) { return p ? p->topic : NULL; }

bool pulsarc_producer_is_connected(const pulsarc_producer_t *p) {
  if (p == NULL)
    return false;
  int n = atomic_load_explicit(&((pulsarc_producer_t *)p)->parts_known, memory_order_acquire);
  return n > 0 &&
         atomic_load_explicit(&((pulsarc_producer_t *)p)->parts_ready, memory_order_acquire) == n;
}

int64_t pulsarc_producer_last_sequence_id(const pulsarc_producer_t *p) {
  return p ? atomic_load_explicit(&((pulsarc_producer_t *)p)->last_seq_id, memory_order_acquire)
           : -1;
}

const char *pulsarc_producer_state_name(pulsarc_producer_state_t state) {
  switch (state) {
  case PULSARC_PRODUCER_CONNECTING:
    return "connecting";
  case PULSARC_PRODUCER_READY:
    return "ready";
  case PULSARC_PRODUCER_DISCONNECTED:
    return "disconnected";
  case PULSARC_PRODUCER_RECONNECTING:
    return "reconnecting";
  case PULSARC_PRODUCER_FENCED:
    return "fenced";
  case PULSARC_PRODUCER_TERMINATED:
    return "terminated";
  case PULSARC_PRODUCER_CLOSED:
    return "closed";
  case PULSARC_PRODUCER_FAILED:
    return "failed";
  }
  return "unknown";
}

const char *pulsarc_producer_name(const pulsarc_producer_t *p) {
  return p ? atomic_load_explicit(&((pulsarc_producer_t *)p)->name, memory_order_acquire) : NULL;
}

/* ------------------------------------------------------------------- send */

pulsarc_err_t pulsarc_producer_send_cb(pulsarc_producer_t *p, const void *data, size_t len,
                                       const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb,
                                       void *ctx) {
  return pc_producer_send_copy(p, data, len, opts, cb, ctx, 0);
}

pulsarc_err_t pulsarc_producer_send_nocopy_cb(pulsarc_producer_t *p, void *data, size_t len,
                                              pulsarc_free_fn free_fn, void *free_ctx,
                                              const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb,
                                              void *ctx) {
  if (p == NULL || (data == NULL && len > 0) || len > UINT32_MAX)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_msg m = {.data = data,
              .len = (uint32_t)len,
              .free_fn = free_fn,
              .free_ctx = free_ctx,
              .done = cb,
              .done_ctx = ctx};
  pulsarc_err_t err;
  m.ext = pc_msg_ext_from_opts(opts, &err);
  if (err != PULSARC_OK)
    return err;
  /* Refused: data stays the caller's (free_fn is not called), so a retry
   * loop on QUEUE_FULL can send the same buffer again. */
  if ((err = pc_producer_enqueue(p, &m, opts, (int64_t)p->conf.send_timeout_ms)) != PULSARC_OK)
    free(m.ext);
  return err;
}

pulsarc_err_t pulsarc_producer_send_async(pulsarc_producer_t *p, const void *data, size_t len,
                                          const pulsarc_msg_opts_t *opts, pulsarc_future_t **out) {
  if (out == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  *out = NULL;
  pulsarc_future_t *f = pc_future_new();
  if (f == NULL)
    return PULSARC_ERR_NO_MEMORY;
  if (p != NULL)
    f->loop = p->loop; /* a thread waiting on f tells it (group commit) */
  pulsarc_err_t err =
      pc_producer_send_copy(p, data, len, opts, pc_future_complete, f, PC_MSG_FUTURE);
  if (err != PULSARC_OK) {
    free(f);
    return err;
  }
  *out = f;
  return PULSARC_OK;
}

/* Detail for a blocking send that was accepted and then failed. */
static void explain_failure(pulsarc_producer_t *p, pulsarc_err_t err, int64_t timeout_ms) {
  switch (err) {
  case PULSARC_ERR_TIMEOUT:
    pc_err_detail_set("%s: send timeout of %lld ms passed before the message was written; it was "
                      "not sent",
                      p->topic, (long long)timeout_ms);
    break;
  case PULSARC_ERR_TIMEOUT_UNCONFIRMED:
    pc_err_detail_set("%s: send timeout of %lld ms passed after the message was written and "
                      "before the broker confirmed it; the broker may have stored it",
                      p->topic, (long long)timeout_ms);
    break;
  case PULSARC_ERR_CLOSED:
    pc_err_detail_set("producer for %s was closed before the message was confirmed", p->topic);
    break;
  default:
    pc_err_detail_set("send on %s failed: %s", p->topic, pulsarc_err_str(err));
    break;
  }
}

pulsarc_err_t pulsarc_producer_send(pulsarc_producer_t *p, const void *data, size_t len,
                                    const pulsarc_msg_opts_t *opts, pulsarc_msg_id_t *id) {
  if (p == NULL || (data == NULL && len > 0) || len > UINT32_MAX)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread()) {
    pc_err_detail_set("pulsarc_producer_send called from a library thread (inside a callback): "
                      "use pulsarc_producer_send_cb or _send_async there");
    return PULSARC_ERR_WRONG_THREAD;
  }
  pc_waiter w;
  pc_waiter_init(&w);
  pc_waiter_init_shared(&w);
  /* The payload is borrowed: this call does not return before the I/O
   * thread is done with it (completion always comes from the loop). */
  pc_msg m = {.data = data,
              .len = (uint32_t)len,
              .flags = PC_MSG_WAITED,              /* group commit: no batch delay for it */
              .done = pc_waiter_complete_deferred, /* one wake per entry (future.h) */
              .done_ctx = &w};
  pulsarc_err_t err;
  m.ext = pc_msg_ext_from_opts(opts, &err);
  if (err != PULSARC_OK)
    return err;
  /* The same deadline as every other send (the official clients' rule): the
   * per-message timeout, else send_timeout_ms. The wait below needs no
   * bound of its own: the deadline completes the message. */
  int64_t timeout_ms =
      opts != NULL && opts->has_timeout ? opts->timeout_ms : (int64_t)p->conf.send_timeout_ms;
  err = pc_producer_enqueue(p, &m, opts, timeout_ms);
  if (err != PULSARC_OK) {
    free(m.ext);
    return err;
  }
  err = pc_waiter_wait(&w, -1, id);
  if (err != PULSARC_OK)
    explain_failure(p, err, timeout_ms);
  return err;
}

/* ------------------------------------------------------- flush and close */

static pulsarc_err_t post_req(pulsarc_producer_t *p, void (*task)(pc_loop *, void *),
                              pulsarc_done_cb cb, void *ctx) {
  pc_flush_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return PULSARC_ERR_NO_MEMORY;
  r->cb = cb;
  r->ctx = ctx;
  /* The task finds the producer through the request. */
  r->next = (pc_flush_req *)(void *)p;
  if (pc_loop_post(p->loop, task, r) != 0) {
    free(r);
    return PULSARC_ERR_NO_MEMORY;
  }
  return PULSARC_OK;
}

static void done_to_waiter(pulsarc_err_t err, void *ctx) { pc_waiter_complete(err, NULL, ctx); }

pulsarc_err_t pulsarc_producer_flush_cb(pulsarc_producer_t *p, pulsarc_done_cb cb, void *ctx) {
  if (p == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  return post_req(p, pc_producer_flush_task, cb, ctx);
}

static void done_to_future(pulsarc_err_t err, void *ctx) { pc_future_complete(err, NULL, ctx); }

pulsarc_err_t pulsarc_producer_flush(pulsarc_producer_t *p, int64_t timeout_ms) {
  if (p == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread()) {
    pc_err_detail_set("pulsarc_producer_flush called from a library thread (inside a "
                      "callback): use pulsarc_producer_flush_cb there");
    return PULSARC_ERR_WRONG_THREAD;
  }
  /* A heap future: on timeout we return while the flush is still
   * registered on the loop, which completes (and frees) it later. */
  pulsarc_future_t *f = pc_future_new();
  if (f == NULL)
    return PULSARC_ERR_NO_MEMORY;
  pulsarc_err_t err = post_req(p, pc_producer_flush_task, done_to_future, f);
  if (err != PULSARC_OK) {
    free(f);
    return err;
  }
  err = pc_waiter_wait(f, timeout_ms, NULL);
  pc_future_unref(f);
  if (err == PULSARC_ERR_WAIT_TIMEOUT)
    pc_err_detail_set("flush of %s: %lld ms passed with messages still pending (they stay "
                      "pending)",
                      p->topic, (long long)timeout_ms);
  else if (err != PULSARC_OK)
    pc_err_detail_set("flush of %s failed: %s", p->topic, pulsarc_err_str(err));
  return err;
}

pulsarc_err_t pulsarc_producer_close_cb(pulsarc_producer_t *p, pulsarc_done_cb cb, void *ctx) {
  if (p == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  int expected = PC_APP_OPEN;
  atomic_compare_exchange_strong(&p->app_state, &expected, PC_APP_CLOSING);
  return post_req(p, pc_producer_close_task, cb, ctx);
}

pulsarc_err_t pulsarc_producer_close(pulsarc_producer_t *p) {
  if (p == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread()) {
    /* Cannot wait on our own thread: close in the background. */
    pulsarc_err_t err = pulsarc_producer_close_cb(p, NULL, NULL);
    return err == PULSARC_OK ? PULSARC_ERR_PENDING : err;
  }
  pc_waiter w;
  pc_waiter_init(&w);
  pulsarc_err_t err = pulsarc_producer_close_cb(p, done_to_waiter, &w);
  if (err != PULSARC_OK)
    return err;
  err = pc_waiter_wait(&w, -1, NULL);
  if (err != PULSARC_OK)
    pc_err_detail_set("close of %s: %s", p->topic, pulsarc_err_str(err));
  return err;
}

void pulsarc_producer_destroy(pulsarc_producer_t *p) {
  if (p == NULL)
    return;
  pc_client_leave(p->client, &p->member);
  int s = atomic_load(&p->app_state);
  if (s == PC_APP_OPEN || s == PC_APP_CLOSING)
    atomic_store(&p->app_state, PC_APP_CLOSED);
  if (pc_on_library_thread()) {
    /* Inside a callback: the loop frees the producer after it returns. */
    p->destroy_waiter = NULL;
    (void)pc_loop_post(p->loop, pc_producer_destroy_task, p);
    return;
  }
  pc_waiter w;
  pc_waiter_init(&w);
  /* Published to the loop by the post; the task signals it once nothing
   * refers to p any more. */
  p->destroy_waiter = &w;
  if (pc_loop_post(p->loop, pc_producer_destroy_task, p) == 0)
    pc_waiter_wait(&w, -1, NULL);
}

/* The client closes and destroys its producers through these. */
static pulsarc_err_t member_close(pc_client_member *m) {
  return pulsarc_producer_close(
      (pulsarc_producer_t *)(void *)((char *)m - offsetof(pulsarc_producer_t, member)));
}

static void member_destroy(pc_client_member *m) {
  pulsarc_producer_destroy(
      (pulsarc_producer_t *)(void *)((char *)m - offsetof(pulsarc_producer_t, member)));
}

/* For the client's periodic stats log [any, client->lock held]. */
static int member_stats(pc_client_member *m, pc_member_stats *out) {
  const pulsarc_producer_t *p =
      (const pulsarc_producer_t *)(void *)((char *)m - offsetof(pulsarc_producer_t, member));
  const char *name = pulsarc_producer_name(p);
  snprintf(out->topic, sizeof out->topic, "%s", p->topic);
  snprintf(out->name, sizeof out->name, "%s", name != NULL ? name : "");
  return pulsarc_producer_stats(p, &out->stats, sizeof out->stats) == PULSARC_OK ? 0 : -1;
}
