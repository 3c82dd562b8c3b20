/* A producer's share of the client-wide memory limit, taken without making
 * every send touch one client-wide cache line.
 *
 * The client counts bytes it has granted to producers (client/memory.c).
 * Each producer holds its grants as a credit, on the
 * cache line its senders touch anyway (next to `inflight`): a send takes
 * its bytes from that credit and asks the client only when the credit runs
 * out, then for the shortfall plus a chunk. Completions give bytes back to
 * the credit; whatever is above two chunks (all of it, once the producer
 * has nothing in flight) goes back to the client. With 16 sending threads
 * on 2 cores the client-wide counter had been the largest cost per send.
 * Functions run on any thread.
 *
 * Below, the other credit a send takes: its partition's share of the
 * pending limit (only on partitioned topics). */
#include <stdlib.h>

#include "common/clock.h"
#include "common/futex.h"
#include "producer/pipeline.h"

pulsarc_err_t pc_producer_take_memory(pulsarc_producer_t *p, uint32_t len, uint64_t deadline_ns,
                                      bool may_block) {
  pulsarc_client_t *c = p->client;
  int64_t limit = (int64_t)c->conf.memory_limit_bytes;
  if (limit == 0 || len == 0)
    return PULSARC_OK;
  uint64_t since_ns = 0;
  pulsarc_err_t err = PULSARC_OK;
  for (;;) {
    uint32_t seen = atomic_load_explicit(&c->mem_seq, memory_order_acquire);
    int64_t left = atomic_fetch_sub_explicit(&p->mem_credit, len, memory_order_acq_rel) - len;
    if (left >= 0)
      break;
    /* Short by -left (other senders' shortfalls may be in it: the excess
     * comes back on release). */
    int64_t need = -left, grant = 0, chunk = pc_client_memory_chunk(c);
    if (chunk > 0 && pc_client_take_memory(c, need + chunk))
      grant = need + chunk;
    else if (pc_client_take_memory(c, need))
      grant = need;
    if (grant > 0) {
      atomic_fetch_add_explicit(&p->mem_credit, grant, memory_order_acq_rel);
      break;
    }
    atomic_fetch_add_explicit(&p->mem_credit, len, memory_order_acq_rel);
    if (!may_block) {
      err = PULSARC_ERR_MEMORY_LIMIT;
      break;
    }
    if (since_ns == 0)
      since_ns = pc_mono_ns();
    atomic_fetch_add(&c->mem_waiters, 1);
    bool ok = true;
    if (atomic_load(&c->memory_used) + (int64_t)len > limit &&
        atomic_load(&p->mem_credit) < (int64_t)len) {
      int64_t wait = -1;
      if (deadline_ns != 0) {
        uint64_t now = pc_mono_ns();
        ok = now < deadline_ns;
        wait = ok ? (int64_t)(deadline_ns - now) : 0;
      }
      if (ok)
        pc_futex_wait(&c->mem_seq, seen, wait);
    }
    atomic_fetch_sub(&c->mem_waiters, 1);
    if (!ok) {
      err = PULSARC_ERR_MEMORY_LIMIT;
      break;
    }
  }
  if (since_ns != 0) {
    /* A send that waited for the limit, counted once with its whole wait. */
    atomic_fetch_add_explicit(&p->blocked_memory, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->blocked_ns, pc_mono_ns() - since_ns, memory_order_relaxed);
  }
  return err;
}

void pc_producer_release_memory(pulsarc_producer_t *p, uint64_t bytes) {
  pulsarc_client_t *c = p->client;
  if (c->conf.memory_limit_bytes == 0)
    return;
  int64_t credit = atomic_fetch_add_explicit(&p->mem_credit, (int64_t)bytes, memory_order_acq_rel) +
                   (int64_t)bytes;
  int64_t keep = atomic_load_explicit(&p->inflight, memory_order_acquire) == 0
                     ? 0
                     : 2 * pc_client_memory_chunk(c);
  while (credit > keep &&
         !atomic_compare_exchange_weak_explicit(&p->mem_credit, &credit, keep, memory_order_acq_rel,
                                                memory_order_acquire)) {
  }
  if (credit > keep)
    pc_client_give_memory(c, credit - keep);
}

/* ---- Per-partition pending limits. Every send takes a slot of the
 * producer's (`inflight`); on a partitioned topic every message also holds
 * one of its partition's until it completes: the sender takes it for a
 * keyed message (its partition is known then, enqueue.c), the loop charges
 * it for the rest when it routes them (route.c). A partition that lost its
 * broker so holds at most its share, and only sends for it wait. */

void pc_producer_publish_slots(pulsarc_producer_t *p) {
  pc_slot_dir *old = atomic_load_explicit(&p->slot_dir, memory_order_relaxed);
  int n = p->nparts, have = old != NULL ? old->n : 0;
  if (p->slots_frozen || n <= have)
    return;
  pc_slot_dir *d = malloc(sizeof *d + (size_t)n * sizeof d->part[0]);
  if (d == NULL) {
    /* The old limits stay for good: a counter published later would be
     * given back slots it was never charged. */
    p->slots_frozen = true;
    return;
  }
  int i;
  for (i = 0; i < have; i++)
    d->part[i] = old->part[i];
  for (; i < n; i++) {
    if ((d->part[i] = aligned_alloc(64, sizeof(pc_part_slots))) == NULL)
      break;
    atomic_init(&d->part[i]->pending, 0);
  }
  if (i < n) {
    while (--i >= have)
      free(d->part[i]);
    free(d);
    p->slots_frozen = true;
    return;
  }
  uint64_t max = p->conf.max_pending_messages, split = p->conf.max_pending_across_partitions / n;
  d->prev = old;
  d->n = n;
  d->share = (uint32_t)(split < max ? (split > 0 ? split : 1) : max);
  d->total = (uint32_t)((uint64_t)n * d->share < UINT32_MAX ? (uint64_t)n * d->share : UINT32_MAX);
  atomic_store_explicit(&p->slot_dir, d, memory_order_release);
}

void pc_producer_free_slots(pulsarc_producer_t *p) {
  pc_slot_dir *d = atomic_load(&p->slot_dir);
  if (d != NULL)
    for (int i = 0; i < d->n; i++)
      free(d->part[i]);
  for (pc_slot_dir *prev; d != NULL; d = prev) {
    prev = d->prev;
    free(d);
  }
}

void pc_part_slots_charge(pulsarc_producer_t *p, uint32_t route) {
  pc_slot_dir *d = atomic_load_explicit(&p->slot_dir, memory_order_relaxed);
  if (d != NULL && route != 0 && route <= (uint32_t)d->n)
    atomic_fetch_add_explicit(&d->part[route - 1]->pending, 1, memory_order_relaxed);
}

void pc_part_slots_release(pulsarc_producer_t *p, uint32_t route, uint32_t n) {
  pc_slot_dir *d = atomic_load_explicit(&p->slot_dir, memory_order_relaxed);
  if (d != NULL && n > 0 && route != 0 && route <= (uint32_t)d->n)
    atomic_fetch_sub_explicit(&d->part[route - 1]->pending, n, memory_order_acq_rel);
}

bool pc_part_slots_room(pulsarc_producer_t *p, uint32_t k) {
  pc_slot_dir *d = atomic_load_explicit(&p->slot_dir, memory_order_relaxed);
  return d == NULL || k >= (uint32_t)d->n ||
         atomic_load_explicit(&d->part[k]->pending, memory_order_relaxed) < d->share;
}
