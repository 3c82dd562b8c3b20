/* The producer's public functions: everything here runs on application
 * threads (or inside callbacks on an I/O thread, where blocking forms
 * refuse with WRONG_THREAD). Work that touches producer state is posted to
 * the producer's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/arena.h"
#include "client/future.h"
#include "client/producer.h"
#include "codec/crc32c.h"
#include "common/clock.h"
#include "common/err_detail.h"
#include "common/futex.h"

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
  memcpy(p->topic, full, sizeof full);
  p->client = client;
  p->ready_cb = ready_cb;
  p->ready_ctx = ctx;
  atomic_init(&p->max_message_size, (uint32_t)p->conf.max_message_size);
  pc_sendq_init(&p->q, p->conf.max_pending_messages / 8); /* see PC_SENDQ_RING_MAX */
  p->poller.poll = pc_producer_poll;
  p->poller.has_work = pc_producer_has_work;
  p->poller.ctx = p;

  pthread_mutex_lock(&client->lock);
  if (client->closed) {
    pthread_mutex_unlock(&client->lock);
    pc_producer_conf_release(&p->conf);
    free(p);
    pc_err_detail_set("producer for %s not created: the client is closed", full);
    return PULSARC_ERR_CLOSED;
  }
  uint32_t k = atomic_fetch_add(&client->next_loop, 1);
  p->loop = client->loops[k % (uint32_t)client->nloops];
  p->next_in_client = client->producers;
  client->producers = p;
  pthread_mutex_unlock(&client->lock);

  if (pc_loop_post(p->loop, pc_producer_begin, p) != 0) {
    /* Cannot happen short of memory exhaustion; unlink and give up. */
    pthread_mutex_lock(&client->lock);
    for (pulsarc_producer_t **l = &client->producers; *l; l = &(*l)->next_in_client)
      if (*l == p) {
        *l = p->next_in_client;
        break;
      }
    pthread_mutex_unlock(&client->lock);
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

const char *pulsarc_producer_topic(const pulsarc_producer_t *p) { return p ? p->topic : NULL; }

const char *pulsarc_producer_name(const pulsarc_producer_t *p) {
  return p ? atomic_load_explicit(&((pulsarc_producer_t *)p)->name, memory_order_acquire) : NULL;
}

/* ------------------------------------------------------------------- send */

static pulsarc_err_t closed_error(pulsarc_producer_t *p) {
  int s = atomic_load_explicit(&p->app_state, memory_order_acquire);
  if (s == PC_APP_OPEN)
    return PULSARC_OK;
  if (s == PC_APP_FAILED)
    return (pulsarc_err_t)atomic_load(&p->fail_err);
  return PULSARC_ERR_CLOSED;
}

/* Sleeps until the loop signals room (or the deadline). Returns false on
 * timeout. The waiter count lets the loop skip the wake syscall when
 * nobody sleeps. */
static bool wait_for_room(pulsarc_producer_t *p, uint32_t seen, uint64_t deadline_ns) {
  int64_t left = -1;
  if (deadline_ns != 0) {
    uint64_t now = pc_mono_ns();
    if (now >= deadline_ns)
      return false;
    left = (int64_t)(deadline_ns - now);
  }
  pc_futex_wait(&p->space_seq, seen, left);
  return true;
}

/* Reserves one in-flight slot, blocking if configured. */
static pulsarc_err_t reserve_slot(pulsarc_producer_t *p, uint64_t deadline_ns, bool may_block) {
  uint32_t max = p->conf.max_pending_messages;
  for (;;) {
    uint32_t seen = atomic_load_explicit(&p->space_seq, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->inflight, 1, memory_order_acq_rel) < max)
      return PULSARC_OK;
    atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_acq_rel);
    if (!may_block)
      return PULSARC_ERR_QUEUE_FULL;
    atomic_fetch_add(&p->space_waiters, 1);
    /* Re-check after announcing ourselves, so a wake between the failed
     * reservation and the announcement is not lost. */
    bool ok = atomic_load(&p->inflight) < max || wait_for_room(p, seen, deadline_ns);
    atomic_fetch_sub(&p->space_waiters, 1);
    if (!ok)
      return PULSARC_ERR_TIMEOUT;
    pulsarc_err_t err = closed_error(p);
    if (err != PULSARC_OK)
      return err;
  }
}

static void release_slot(pulsarc_producer_t *p, uint32_t len) {
  atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_acq_rel);
  pc_producer_release_memory(p, len);
}

/* Common path of every send: validate, reserve, enqueue, wake. On error the
 * caller still owns (and must release) data and ext. */
static pulsarc_err_t try_enqueue(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                                 int64_t default_timeout_ms) {
  pulsarc_err_t err = closed_error(p);
  if (err != PULSARC_OK)
    return err;
  /* Exact check for plain messages; compressed ones are checked after
   * compression and chunked ones are split, both on the I/O thread. */
  size_t extra = pc_msg_ext_wire_size(m->ext);
  if (p->conf.compression == PULSARC_COMPRESSION_NONE && !p->conf.chunking &&
      (uint64_t)m->len + extra > atomic_load_explicit(&p->max_message_size, memory_order_relaxed))
    return PULSARC_ERR_MESSAGE_TOO_BIG;
  if (m->ext != NULL && m->ext->null_value && m->len != 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  int64_t timeout_ms = opts != NULL && opts->has_timeout ? opts->timeout_ms : default_timeout_ms;
  m->deadline_ns =
      timeout_ms > 0 ? pc_mono_coarse_late_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
  bool on_loop = pc_on_library_thread();
  bool may_block = p->conf.block_if_queue_full && !on_loop;
  if ((err = pc_producer_take_memory(p, m->len, m->deadline_ns, may_block)) != PULSARC_OK)
    return err;
  if ((err = reserve_slot(p, m->deadline_ns, may_block)) != PULSARC_OK) {
    pc_producer_release_memory(p, m->len);
    return err;
  }
  for (;;) {
    bool new_ring;
    uint32_t seen = atomic_load_explicit(&p->space_seq, memory_order_acquire);
    int r = pc_sendq_push(&p->q, m, &new_ring);
    if (r == 0) {
      if (new_ring)
        pc_loop_wake_force(p->loop);
      else
        pc_loop_wake(p->loop);
      return PULSARC_OK;
    }
    if (r < 0) {
      release_slot(p, m->len);
      return PULSARC_ERR_NO_MEMORY;
    }
    /* This thread's ring is full: the loop is behind. Make sure it runs,
     * then sleep until it drains (never spin). */
    pc_loop_wake_force(p->loop);
    if (!may_block) {
      release_slot(p, m->len);
      return PULSARC_ERR_QUEUE_FULL;
    }
    atomic_fetch_add(&p->space_waiters, 1);
    bool ok = wait_for_room(p, seen, m->deadline_ns);
    atomic_fetch_sub(&p->space_waiters, 1);
    if (!ok) {
      release_slot(p, m->len);
      return PULSARC_ERR_TIMEOUT;
    }
  }
}

/* Why a send was refused, for pulsarc_last_error_text(). Runs on refusals
 * only, never for an accepted message. */
static void explain_refusal(pulsarc_producer_t *p, const pc_msg *m, pulsarc_err_t err) {
  switch (err) {
  case PULSARC_ERR_CLOSED:
    pc_err_detail_set("producer for %s is closed", p->topic);
    break;
  case PULSARC_ERR_MESSAGE_TOO_BIG:
    pc_err_detail_set("message of %u bytes (plus %zu bytes of options) is over the max message "
                      "size of %u bytes on %s",
                      m->len, pc_msg_ext_wire_size(m->ext),
                      atomic_load_explicit(&p->max_message_size, memory_order_relaxed), p->topic);
    break;
  case PULSARC_ERR_INVALID_ARGUMENT:
    pc_err_detail_set("a null-value message must have an empty payload (got %u bytes)", m->len);
    break;
  case PULSARC_ERR_QUEUE_FULL:
    pc_err_detail_set("%s: max_pending_messages (%u) or the sending thread's ring is full%s",
                      p->topic, p->conf.max_pending_messages,
                      pc_on_library_thread() ? " (a callback never blocks)"
                                             : " and block_if_queue_full is false");
    break;
  case PULSARC_ERR_MEMORY_LIMIT:
    pc_err_detail_set("%s: the client's memory_limit_bytes is reached", p->topic);
    break;
  case PULSARC_ERR_TIMEOUT:
    pc_err_detail_set("%s: the message's deadline passed while waiting for room "
                      "(max_pending_messages or memory_limit_bytes)",
                      p->topic);
    break;
  default:
    if (err >= PULSARC_ERR_BROKER_BASE)
      pc_err_detail_set("producer for %s failed for good: %s", p->topic, pulsarc_err_str(err));
    break;
  }
}

static pulsarc_err_t enqueue(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                             int64_t default_timeout_ms) {
  pulsarc_err_t err = try_enqueue(p, m, opts, default_timeout_ms);
  if (err != PULSARC_OK)
    explain_refusal(p, m, err);
  return err;
}

static pulsarc_err_t send_copy(pulsarc_producer_t *p, const void *data, size_t len,
                               const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb, void *ctx) {
  if (p == NULL || (data == NULL && len > 0) || len > UINT32_MAX)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_msg m = {.len = (uint32_t)len, .done = cb, .done_ctx = ctx};
  pulsarc_err_t err;
  m.ext = pc_msg_ext_from_opts(opts, &err);
  if (err != PULSARC_OK)
    return err;
  void *copy = pc_arena_copy(data, len, &m.free_fn, &m.free_ctx);
  if (copy == NULL) {
    free(m.ext);
    return PULSARC_ERR_NO_MEMORY;
  }
  m.data = copy;
  if (len >= PC_SPLICE_MIN && p->conf.compression == PULSARC_COMPRESSION_NONE) {
    /* Checksummed here, from this core's cache, so that the I/O thread,
     * which writes the payload without copying it, only combines CRCs. */
    m.crc = pc_crc32c(0, copy, len);
    m.flags |= PC_MSG_HAS_CRC;
  }
  err = enqueue(p, &m, opts, (int64_t)p->conf.send_timeout_ms);
  if (err != PULSARC_OK) {
    m.free_fn(copy, m.free_ctx);
    free(m.ext);
  }
  return err;
}

pulsarc_err_t pulsarc_producer_send_cb(pulsarc_producer_t *p, const void *data, size_t len,
                                       const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb,
                                       void *ctx) {
  return send_copy(p, data, len, opts, cb, ctx);
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
  if ((err = enqueue(p, &m, opts, (int64_t)p->conf.send_timeout_ms)) != PULSARC_OK)
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
  pulsarc_err_t err = send_copy(p, data, len, opts, pc_future_complete, f);
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
  /* The payload is borrowed: this call does not return before the I/O
   * thread is done with it (completion always comes from the loop). */
  pc_msg m = {.data = data, .len = (uint32_t)len, .done = pc_waiter_complete, .done_ctx = &w};
  pulsarc_err_t err;
  m.ext = pc_msg_ext_from_opts(opts, &err);
  if (err != PULSARC_OK)
    return err;
  /* The same deadline as every other send (the official clients' rule): the
   * per-message timeout, else send_timeout_ms. The wait below needs no
   * bound of its own: the deadline completes the message. */
  int64_t timeout_ms =
      opts != NULL && opts->has_timeout ? opts->timeout_ms : (int64_t)p->conf.send_timeout_ms;
  err = enqueue(p, &m, opts, timeout_ms);
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
  pulsarc_client_t *c = p->client;
  pthread_mutex_lock(&c->lock);
  for (pulsarc_producer_t **l = &c->producers; *l; l = &(*l)->next_in_client)
    if (*l == p) {
      *l = p->next_in_client;
      break;
    }
  pthread_mutex_unlock(&c->lock);
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
