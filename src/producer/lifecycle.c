/* The producer's life on its I/O thread: the start delay, partition
 * discovery (and growth, re-read every partitions_update_interval_ms),
 * flush, close (flush, then CLOSE_PRODUCER on every partition) and
 * destroy. The control files sit above the data path they drive; what the
 * data path reports back comes through the events table below. [loop] */
#include <stdio.h>
#include <stdlib.h>

#include "client/future.h"
#include "codec/commands.h"
#include "common/err_detail.h"
#include "common/prng.h"
#include "producer/pipeline.h"

#define MS (1000000ull)

static void close_drained(pulsarc_producer_t *p);
static const pc_producer_events events = {.close_drained = close_drained};

static const pc_logger *logger(pulsarc_producer_t *p) { return &p->client->conf.logger; }

/* ------------------------------------------------------------ partitions */

/* Publishes the partitions' counters for readers on any thread. The old
 * directory stays (a reader may hold it) until the producer is freed. */
static void publish_stats_dir(pulsarc_producer_t *p) {
  pc_stats_dir *old = atomic_load_explicit(&p->stats_dir, memory_order_relaxed);
  pc_stats_dir *d = malloc(sizeof *d + (size_t)p->nparts * sizeof d->s[0]);
  if (d == NULL)
    return; /* the new partitions stay out of the stats until the next growth */
  d->prev = old;
  d->n = p->nparts;
  d->partitioned = p->parts[0]->index >= 0;
  for (int i = 0; i < p->nparts; i++)
    d->s[i] = &p->parts[i]->stats;
  atomic_store_explicit(&p->stats_dir, d, memory_order_release);
}

/* Adds partitions up to n (the count only grows). Lazily started partitions
 * register on their first message. */
static int grow_parts(pulsarc_producer_t *p, int n, bool partitioned) {
  int rc = 0, before = p->nparts;
  if (n <= p->nparts)
    return 0;
  pc_part **parts = realloc(p->parts, (size_t)n * sizeof *parts);
  if (parts == NULL)
    return -1;
  p->parts = parts;
  for (int i = p->nparts; i < n; i++) {
    if ((parts[i] = pc_part_new(p, partitioned ? i : -1)) == NULL) {
      rc = -1;
      break;
    }
    p->nparts = i + 1;
    atomic_store_explicit(&p->parts_known, p->nparts, memory_order_release);
    if (!(partitioned && p->conf.lazy_start_partitions)) {
      /* Before ready was reported they share the producer's deadline;
       * partitions added later get an operation timeout of their own. */
      pc_part_start(parts[i], p->ready_reported
                                  ? pc_loop_now(p->loop) + p->client->conf.operation_timeout_ms * MS
                                  : p->create_deadline_ns);
    }
  }
  if (p->nparts > before) {
    publish_stats_dir(p);
    if (partitioned)
      pc_producer_publish_slots(p);
  }
  return rc;
}

static void on_partitions_update(pulsarc_err_t err, const pc_lookup_result *res, void *ctx) {
  pulsarc_producer_t *p = ctx;
  p->meta_lookup = NULL;
  if (err == PULSARC_OK && res->partitions > p->nparts) {
    PC_INFO(logger(p), "%s grew from %d to %d partitions", p->topic, p->nparts, res->partitions);
    if (grow_parts(p, res->partitions, true) != 0)
      PC_WARN(logger(p), "could not add partitions to %s: out of memory", p->topic);
  }
  pc_timer_start(p->loop, &p->update_timer, p->conf.partitions_update_interval_ms * MS);
}

static void on_update_timer(pc_loop *loop, pc_timer *t) {
  pulsarc_producer_t *p = t->ctx;
  if (p->meta_lookup != NULL || atomic_load(&p->app_state) != PC_APP_OPEN)
    return;
  p->meta_lookup = pc_lookup_partitions(p->client, loop, p->topic, on_partitions_update, p);
}

static void on_partitions(pulsarc_err_t err, const pc_lookup_result *res, void *ctx) {
  pulsarc_producer_t *p = ctx;
  p->meta_lookup = NULL;
  if (err != PULSARC_OK) {
    PC_WARN(logger(p), "partition lookup of %s failed: %s", p->topic, pulsarc_err_str(err));
    p->meta_last_err = err;
    pc_producer_note_attempt(p);
    if (!pc_err_retryable(err)) {
      pc_producer_fail(p, err, NULL);
      return;
    }
    uint64_t now = pc_loop_now(p->loop);
    if (now >= p->create_deadline_ns) {
      char detail[PC_ERR_DETAIL_MAX];
      err = pc_producer_meta_timeout(p, detail, sizeof detail);
      pc_producer_fail(p, err, detail);
      return;
    }
    p->meta_backoff_ms = p->meta_backoff_ms ? p->meta_backoff_ms * 2 : p->conf.backoff_initial_ms;
    if (p->meta_backoff_ms > p->conf.backoff_max_ms)
      p->meta_backoff_ms = p->conf.backoff_max_ms;
    /* No retry may start after the creation deadline. */
    uint64_t delay_ns = (p->meta_backoff_ms + pc_producer_start_delay_ms(p)) * MS;
    if (delay_ns > p->create_deadline_ns - now)
      delay_ns = p->create_deadline_ns - now;
    pc_timer_start(p->loop, &p->start_timer, delay_ns);
    return;
  }
  pc_timer_cancel(p->loop, &p->create_timer); /* the partitions' own deadlines take over */
  bool partitioned = res->partitions > 0;
  int n = partitioned ? res->partitions : 1;
  p->single_part = (uint32_t)pc_prng_below(&p->client->prng, (uint64_t)n);
  if (grow_parts(p, n, partitioned) != 0) {
    pc_producer_fail(p, PULSARC_ERR_NO_MEMORY, NULL);
    return;
  }
  /* Messages sent before the partition count was known. */
  for (size_t i = 0; i < p->unrouted.n; i++)
    pc_producer_route(p, pc_fifo_at(&p->unrouted, i));
  p->unrouted.n = 0;
  if (partitioned && p->conf.lazy_start_partitions)
    pc_producer_report_ready(p, PULSARC_OK); /* partitions register when first used */
  if (partitioned && p->conf.partitions_update_interval_ms > 0)
    pc_timer_start(p->loop, &p->update_timer, p->conf.partitions_update_interval_ms * MS);
}

static void on_start_timer(pc_loop *loop, pc_timer *t) {
  pulsarc_producer_t *p = t->ctx;
  if (atomic_load(&p->app_state) == PC_APP_FAILED)
    return;
  if (p->nparts == 0 && p->meta_last_err != PULSARC_OK &&
      pc_loop_now(loop) >= p->create_deadline_ns) {
    /* A retry clamped to the creation deadline could not finish: fail now
     * with why the attempts failed. Waiting for create_timer instead made
     * the error depend on which of two timers due at the same instant the
     * heap ran first. */
    char detail[PC_ERR_DETAIL_MAX];
    pulsarc_err_t err = pc_producer_meta_timeout(p, detail, sizeof detail);
    pc_producer_fail(p, err, detail);
    return;
  }
  p->meta_lookup = pc_lookup_partitions(p->client, loop, p->topic, on_partitions, p);
  if (p->meta_lookup == NULL)
    pc_producer_fail(p, PULSARC_ERR_NO_MEMORY, NULL);
}

/* [loop] create_timer of the producer: the partition count is not known
 * by the creation deadline. */
static void on_create_deadline(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pulsarc_producer_t *p = t->ctx;
  if (p->nparts > 0 || p->destroyed || atomic_load(&p->app_state) != PC_APP_OPEN)
    return;
  char detail[PC_ERR_DETAIL_MAX];
  pulsarc_err_t err = pc_producer_meta_timeout(p, detail, sizeof detail);
  pc_producer_fail(p, err, detail);
}

static void on_close_timeout(pc_loop *loop, pc_timer *t);

void pc_producer_begin(pc_loop *loop, void *arg) {
  pulsarc_producer_t *p = arg;
  p->events = &events;
  pc_poller_add(loop, &p->poller);
  pc_timer_init(&p->start_timer, on_start_timer, p);
  pc_timer_init(&p->deadline_timer, pc_producer_deadline_sweep, p);
  /* Every timer is initialised here, before any task can cancel it. */
  pc_timer_init(&p->close_timer, on_close_timeout, p);
  pc_timer_init(&p->update_timer, on_update_timer, p);
  pc_timer_init(&p->create_timer, on_create_deadline, p);
  pc_timer_init(&p->idle_timer, pc_producer_idle_timer, p);
  /* First creation is bounded by the operation timeout (as the official
   * clients do), from the end of the start delay. */
  uint64_t delay_ms = pc_producer_start_delay_ms(p);
  p->create_deadline_ns =
      pc_loop_now(loop) + (delay_ms + p->client->conf.operation_timeout_ms) * MS;
  pc_timer_start(loop, &p->create_timer, p->create_deadline_ns - pc_loop_now(loop));
  pc_timer_start(loop, &p->start_timer, delay_ms * MS);
}

/* ----------------------------------------------------------------- flush */

void pc_producer_flush_task(pc_loop *loop, void *arg) {
  pc_flush_req *r = arg;
  pulsarc_producer_t *p = (pulsarc_producer_t *)(void *)r->next;
  (void)loop;
  pc_producer_drain_all(p);
  r->target_idx = p->drained;
  for (int i = 0; i < p->nparts; i++)
    pc_part_seal(p->parts[i], true);
  r->next = p->flushes;
  p->flushes = r;
  pc_producer_check_flushes(p);
}

/* ----------------------------------------------------------------- close */

/* Completes every close call waiting for this close, with err. */
static void answer_close_waiters(pulsarc_producer_t *p, pulsarc_err_t err) {
  pc_flush_req *w = p->close_waiters;
  p->close_waiters = NULL;
  while (w != NULL) {
    pc_flush_req *next = w->next;
    if (w->cb != NULL)
      w->cb(err, w->ctx);
    free(w);
    w = next;
  }
}

static void finish_close(pulsarc_producer_t *p, pulsarc_err_t err) {
  int s = atomic_load(&p->app_state);
  if (s != PC_APP_FAILED)
    atomic_store(&p->app_state, PC_APP_CLOSED);
  pc_timer_cancel(p->loop, &p->close_timer);
  p->closing = false;
  answer_close_waiters(p, err);
}

static bool on_close_response(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx) {
  (void)c;
  (void)err;
  (void)f;
  pc_part *part = ctx;
  pc_part_detach(part, PD_FINAL);
  pc_part_set_state(part, PS_CLOSED, PULSARC_OK);
  if (part->p->parts_closing > 0 && --part->p->parts_closing == 0)
    finish_close(part->p, PULSARC_OK);
  return false;
}

/* [loop] Unregisters every partition from its broker. */
static void close_parts(pulsarc_producer_t *p) {
  p->parts_closing = 1; /* guard so a synchronous answer cannot finish early */
  if (p->meta_lookup != NULL) {
    pc_lookup_cancel(p->meta_lookup);
    p->meta_lookup = NULL;
  }
  pc_timer_cancel(p->loop, &p->update_timer);
  pc_timer_cancel(p->loop, &p->create_timer);
  for (int i = 0; i < p->nparts; i++) {
    pc_part *part = p->parts[i];
    bool unregister = part->conn != NULL && pc_part_registered(part);
    pc_part_detach(part, PD_FINAL | (unregister ? PD_KEEP_CONN : 0));
    if (unregister) {
      pc_conn_request_cancel(part->conn, part->request_id);
      part->request_id = pc_conn_next_request_id(part->conn);
      pc_cmd cmd;
      Pulsarc__BaseCommand *close =
          pc_cmd_close_producer(&cmd, part->producer_id, part->request_id);
      pc_part_set_state(part, PS_CLOSING, PULSARC_OK);
      p->parts_closing++;
      if (pc_conn_request(part->conn, close, part->request_id, p->client->conf.operation_timeout_ms,
                          on_close_response, part) != 0) {
        p->parts_closing--;
        pc_part_detach(part, PD_FINAL);
        pc_part_set_state(part, PS_CLOSED, PULSARC_OK);
      }
    } else if (part->state != PS_FAILED) {
      pc_part_set_state(part, PS_CLOSED, PULSARC_OK);
    }
  }
  if (--p->parts_closing == 0)
    finish_close(p, PULSARC_OK);
}

/* The flush part of a close is over (idle or timed out). */
static void close_drained(pulsarc_producer_t *p) {
  if (!p->closing)
    return;
  p->closing = false; /* no second call */
  for (int i = 0; i < p->nparts; i++)
    pc_part_fail_all(p->parts[i], PULSARC_ERR_CLOSED);
  for (size_t i = 0; i < p->unrouted.n; i++)
    pc_msg_complete(p, pc_fifo_at(&p->unrouted, i), PULSARC_ERR_CLOSED, NULL);
  p->unrouted.n = 0;
  pc_producer_report_ready(p, PULSARC_ERR_CLOSED);
  close_parts(p);
}

static void on_close_timeout(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pulsarc_producer_t *p = t->ctx;
  PC_WARN(logger(p), "close of producer on %s timed out; failing what is pending", p->topic);
  close_drained(p);
}

void pc_producer_close_task(pc_loop *loop, void *arg) {
  pc_flush_req *r = arg;
  pulsarc_producer_t *p = (pulsarc_producer_t *)(void *)r->next;
  int s = atomic_load(&p->app_state);
  if (s == PC_APP_CLOSED || s == PC_APP_FAILED) {
    if (r->cb != NULL)
      r->cb(s == PC_APP_CLOSED ? PULSARC_OK : (pulsarc_err_t)atomic_load(&p->fail_err), r->ctx);
    free(r);
    return;
  }
  r->next = p->close_waiters;
  p->close_waiters = r;
  if (p->closing || p->parts_closing > 0)
    return; /* already under way: this waiter joins it */
  p->closing = true;
  pc_producer_drain_all(p);
  for (int i = 0; i < p->nparts; i++)
    pc_part_seal(p->parts[i], true);
  if (pc_producer_idle(p))
    close_drained(p);
  else
    pc_timer_start(loop, &p->close_timer, p->conf.close_timeout_ms * MS);
}

/* --------------------------------------------------------------- destroy */

static void drop_msg(void *ctx, pc_msg *m) { pc_msg_complete(ctx, m, PULSARC_ERR_CLOSED, NULL); }

void pc_producer_destroy_task(pc_loop *loop, void *arg) {
  pulsarc_producer_t *p = arg;
  if (p->destroyed)
    return;
  int s = atomic_load(&p->app_state);
  if (s != PC_APP_FAILED)
    atomic_store(&p->app_state, PC_APP_CLOSED);
  p->closing = false;
  pc_timer_cancel(loop, &p->start_timer);
  pc_timer_cancel(loop, &p->deadline_timer);
  pc_timer_cancel(loop, &p->close_timer);
  pc_timer_cancel(loop, &p->update_timer);
  pc_timer_cancel(loop, &p->create_timer);
  pc_timer_cancel(loop, &p->idle_timer);
  /* Fail everything still queued, unregister, then forget the broker. */
  for (int i = 0; i < p->nparts; i++)
    pc_part_fail_all(p->parts[i], PULSARC_ERR_CLOSED);
  for (size_t i = 0; i < p->unrouted.n; i++)
    pc_msg_complete(p, pc_fifo_at(&p->unrouted, i), PULSARC_ERR_CLOSED, NULL);
  p->unrouted.n = 0;
  pc_sendq_destroy(&p->q, drop_msg, p);
  p->destroyed = true;
  for (int i = 0; i < p->nparts; i++)
    pc_part_detach(p->parts[i], PD_GOODBYE | PD_FINAL);
  if (p->meta_lookup != NULL)
    pc_lookup_cancel(p->meta_lookup);
  pc_poller_del(loop, &p->poller);
  pc_producer_wake_senders(p);  /* nobody polls for it any more */
  pc_producer_check_flushes(p); /* completes flush waiters: nothing is left */
  answer_close_waiters(p, PULSARC_ERR_CLOSED);
  /* p->name may point at part 0's name: freed with the producer here. */
  for (int i = 0; i < p->nparts; i++)
    pc_part_free(p->parts[i]);
  free(p->parts);
  for (pc_stats_dir *d = atomic_load(&p->stats_dir), *prev; d != NULL; d = prev) {
    prev = d->prev;
    free(d);
  }
  pc_producer_free_slots(p);
  pc_fifo_free(&p->unrouted);
  pc_crypto_free(p->crypto);
  pc_producer_conf_release(&p->conf);
  void *waiter = p->destroy_waiter;
  free(p);
  if (waiter != NULL)
    pc_waiter_complete(PULSARC_OK, NULL, waiter);
}
