/* The stats API: sums of the counters the I/O thread keeps per partition
 * (pc_part_stats), the counters senders bump on slow paths, and the
 * producer's latency histogram. Any thread, lock-free: never waits on the
 * I/O thread and never allocates. docs/stats.md defines every field. */
#include <stddef.h>
#include <string.h>

#include "producer/pipeline.h"

/* Adds one partition's counters to *out; completions are read before
 * acceptances, so pending (their difference) never goes below zero. */
static void add_part(pulsarc_producer_stats_t *out, const pc_part_stats *s, uint64_t *done_msgs,
                     uint64_t *done_bytes) {
  uint64_t acked = pc_stat_get(&s->acked), failed = pc_stat_get(&s->failed);
  uint64_t bytes_acked = pc_stat_get(&s->bytes_acked), bytes_failed = pc_stat_get(&s->bytes_failed);
  out->msgs_acked += acked;
  out->bytes_acked += bytes_acked;
  out->msgs_failed += failed;
  *done_msgs += acked + failed;
  *done_bytes += bytes_acked + bytes_failed;
  out->msgs_timed_out += pc_stat_get(&s->timed_out);
  out->msgs_accepted += pc_stat_get(&s->accepted);
  out->bytes_accepted += pc_stat_get(&s->bytes_accepted);
  out->msgs_sent += pc_stat_get(&s->sent);
  out->bytes_sent += pc_stat_get(&s->bytes_sent);
  out->batches_sent += pc_stat_get(&s->batches);
  out->uncompressed_bytes += pc_stat_get(&s->uncompressed);
  out->compressed_bytes += pc_stat_get(&s->compressed);
  out->reconnects += pc_stat_get(&s->reconnects);
  out->resent_batches += pc_stat_get(&s->resent);
}

static void finish(pulsarc_producer_stats_t *out, uint64_t done_msgs, uint64_t done_bytes) {
  out->pending_msgs = out->msgs_accepted - done_msgs;
  out->pending_bytes = out->bytes_accepted - done_bytes;
  out->mean_batch_msgs =
      out->batches_sent ? (double)out->msgs_sent / (double)out->batches_sent : 0.0;
}

static void copy_out(void *stats, const pulsarc_producer_stats_t *s, size_t size) {
  memcpy(stats, s, size < sizeof *s ? size : sizeof *s);
}

pulsarc_err_t pulsarc_producer_stats(const pulsarc_producer_t *producer,
                                     pulsarc_producer_stats_t *stats, size_t size) {
  if (producer == NULL || stats == NULL || size < offsetof(pulsarc_producer_stats_t, latency))
    return PULSARC_ERR_INVALID_ARGUMENT;
  pulsarc_producer_t *p = (pulsarc_producer_t *)producer;
  pulsarc_producer_stats_t s;
  memset(&s, 0, sizeof s);
  uint64_t done_msgs = 0, done_bytes = 0;
  pc_stats_dir *d = atomic_load_explicit(&p->stats_dir, memory_order_acquire);
  for (int i = 0; d != NULL && i < d->n; i++)
    add_part(&s, d->s[i], &done_msgs, &done_bytes);
  /* xstats: completed unrouted, accepted and done at once. */
  add_part(&s, &p->xstats, &done_msgs, &done_bytes);
  finish(&s, done_msgs, done_bytes);
  for (unsigned i = 0; i < PULSARC_STATS_ERRORS; i++)
    s.failed_by_error[i] = pc_stat_get(&p->failed_by[i]);
  /* Every accepted send holds a slot until it completes, including those
   * still in a sender's ring, which the I/O thread has not counted yet. */
  uint64_t inflight = atomic_load_explicit(&p->inflight, memory_order_relaxed);
  if (inflight > s.pending_msgs)
    s.pending_msgs = inflight;
  s.blocked_pending_limit = atomic_load_explicit(&p->blocked_pending, memory_order_relaxed);
  s.blocked_memory_limit = atomic_load_explicit(&p->blocked_memory, memory_order_relaxed);
  s.blocked_ns = atomic_load_explicit(&p->blocked_ns, memory_order_relaxed);
  s.rejected_pending_limit = atomic_load_explicit(&p->rejected_pending, memory_order_relaxed);
  s.rejected_memory_limit = atomic_load_explicit(&p->rejected_memory, memory_order_relaxed);
  if (size > offsetof(pulsarc_producer_stats_t, latency))
    pc_hist_read(&p->latency, &s.latency);
  copy_out(stats, &s, size);
  return PULSARC_OK;
}

int pulsarc_producer_num_partitions(const pulsarc_producer_t *producer) {
  if (producer == NULL)
    return 0;
  pc_stats_dir *d =
      atomic_load_explicit(&((pulsarc_producer_t *)producer)->stats_dir, memory_order_acquire);
  return d != NULL && d->partitioned ? d->n : 0;
}

pulsarc_err_t pulsarc_producer_partition_stats(const pulsarc_producer_t *producer, int partition,
                                               pulsarc_producer_stats_t *stats, size_t size) {
  if (producer == NULL || stats == NULL || size < offsetof(pulsarc_producer_stats_t, latency))
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_stats_dir *d =
      atomic_load_explicit(&((pulsarc_producer_t *)producer)->stats_dir, memory_order_acquire);
  if (d == NULL || !d->partitioned || partition < 0 || partition >= d->n)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pulsarc_producer_stats_t s;
  memset(&s, 0, sizeof s);
  uint64_t done_msgs = 0, done_bytes = 0;
  add_part(&s, d->s[partition], &done_msgs, &done_bytes);
  finish(&s, done_msgs, done_bytes);
  copy_out(stats, &s, size);
  return PULSARC_OK;
}
