/* The periodic stats log (stats_interval_seconds): ONE timer per client,
 * on its first I/O thread, whatever the number of producers, so idle
 * producers never wake the process one by one. Each tick copies what the
 * lines need from every member under the client lock (through the members'
 * stats op: the client never calls up), then formats and logs outside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

void pc_client_members_each(pulsarc_client_t *c, void (*fn)(pc_client_member *m, void *arg),
                            void *arg) {
  pthread_mutex_lock(&c->lock);
  for (pc_client_member *m = c->members; m; m = m->next)
    fn(m, arg);
  pthread_mutex_unlock(&c->lock);
}

typedef struct line {
  char topic[PC_TOPIC_MAX];
  char name[256];
  uint64_t accepted, acked, acked_bytes, failed, timed_out, pending, pending_bytes;
  uint64_t batches, reconnects, p50_us, p99_us, max_us;
  double mean_batch;
  uint64_t d_acked, d_acked_bytes, d_failed; /* since the previous line */
} line;

typedef struct collect {
  pc_member_stats *scratch;
  line *v;
  size_t n, cap, need;
} collect;

static void count_member(pc_client_member *m, void *arg) {
  (void)m;
  ((collect *)arg)->need++;
}

/* [loop, client->lock held] */
static void copy_member(pc_client_member *m, void *arg) {
  collect *k = arg;
  if (k->n == k->cap || m->ops->stats == NULL || m->ops->stats(m, k->scratch) != 0)
    return; /* joined since the count: on the next line */
  const pulsarc_producer_stats_t *s = &k->scratch->stats;
  line *l = &k->v[k->n++];
  *l = (line){.accepted = s->msgs_accepted,
              .acked = s->msgs_acked,
              .acked_bytes = s->bytes_acked,
              .failed = s->msgs_failed,
              .timed_out = s->msgs_timed_out,
              .pending = s->pending_msgs,
              .pending_bytes = s->pending_bytes,
              .batches = s->batches_sent,
              .reconnects = s->reconnects,
              .p50_us = s->latency.p50_us,
              .p99_us = s->latency.p99_us,
              .max_us = s->latency.max_us,
              .mean_batch = s->mean_batch_msgs,
              .d_acked = s->msgs_acked - m->log_acked,
              .d_acked_bytes = s->bytes_acked - m->log_acked_bytes,
              .d_failed = s->msgs_failed - m->log_failed};
  memcpy(l->topic, k->scratch->topic, sizeof l->topic);
  memcpy(l->name, k->scratch->name, sizeof l->name);
  l->topic[sizeof l->topic - 1] = l->name[sizeof l->name - 1] = '\0';
  m->log_acked = s->msgs_acked;
  m->log_acked_bytes = s->bytes_acked;
  m->log_failed = s->msgs_failed;
}

static uint64_t interval_ns(const pulsarc_client_t *c) {
  return c->conf.stats_interval_seconds * 1000000000ull;
}

/* [loop] */
static void stats_tick(pc_loop *loop, pc_timer *t) {
  pulsarc_client_t *c = t->ctx;
  uint64_t now = pc_loop_now(loop);
  double secs = (double)(now - c->stats_last_ns) / 1e9;
  c->stats_last_ns = now;
  pc_timer_start(loop, t, interval_ns(c));
  const pc_logger *lg = &c->conf.logger;
  if (!PC_LOG_ENABLED(lg, PULSARC_LOG_INFO))
    return;
  collect k = {0};
  pc_client_members_each(c, count_member, &k);
  if (k.need == 0)
    return;
  k.scratch = malloc(sizeof *k.scratch);
  k.v = malloc(k.need * sizeof *k.v);
  if (k.scratch != NULL && k.v != NULL) {
    k.cap = k.need;
    pc_client_members_each(c, copy_member, &k);
  }
  free(k.scratch);
  if (secs <= 0)
    secs = 1e-9;
  for (size_t i = 0; i < k.n; i++) {
    const line *l = &k.v[i];
    pc_log(lg, PULSARC_LOG_INFO,
           "stats: topic %s producer %s: accepted=%llu acked=%llu failed=%llu timed_out=%llu "
           "pending=%llu (%llu bytes) batches=%llu mean_batch=%.1f reconnects=%llu; last %.0f s: "
           "%.1f msg/s, %.1f KiB/s acked, %llu failed; latency p50=%.3f ms p99=%.3f ms "
           "max=%.3f ms",
           l->topic, l->name[0] ? l->name : "(unnamed)", (unsigned long long)l->accepted,
           (unsigned long long)l->acked, (unsigned long long)l->failed,
           (unsigned long long)l->timed_out, (unsigned long long)l->pending,
           (unsigned long long)l->pending_bytes, (unsigned long long)l->batches, l->mean_batch,
           (unsigned long long)l->reconnects, secs, (double)l->d_acked / secs,
           (double)l->d_acked_bytes / 1024.0 / secs, (unsigned long long)l->d_failed,
           (double)l->p50_us / 1e3, (double)l->p99_us / 1e3, (double)l->max_us / 1e3);
  }
  free(k.v);
}

/* [loop] */
static void start_task(pc_loop *loop, void *arg) {
  pulsarc_client_t *c = arg;
  c->stats_last_ns = pc_loop_now(loop);
  pc_timer_start(loop, &c->stats_timer, interval_ns(c));
}

/* [loop] */
static void stop_task(pc_loop *loop, void *arg) {
  pc_timer_cancel(loop, &((pulsarc_client_t *)arg)->stats_timer);
}

void pc_client_stats_log_start(pulsarc_client_t *c) {
  pc_timer_init(&c->stats_timer, stats_tick, c);
  if (c->conf.stats_interval_seconds > 0 && pc_loop_post(c->loops[0], start_task, c) != 0)
    PC_WARN(&c->conf.logger, "no memory to start the periodic stats log");
}

void pc_client_stats_log_stop(pulsarc_client_t *c) {
  /* pc_loop_stop runs the posted tasks first; if the post fails, the loop
   * stops before the next tick is due or right after it, and a tick finds
   * no member left. */
  if (c->conf.stats_interval_seconds > 0)
    (void)pc_loop_post(c->loops[0], stop_task, c);
}
