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
 * Functions run on any thread. */
#include "common/clock.h"
#include "common/futex.h"
#include "producer/pipeline.h"

pulsarc_err_t pc_producer_take_memory(pulsarc_producer_t *p, uint32_t len, uint64_t deadline_ns,
                                      bool may_block) {
  pulsarc_client_t *c = p->client;
  int64_t limit = (int64_t)c->conf.memory_limit_bytes;
  if (limit == 0 || len == 0)
    return PULSARC_OK;
  int64_t chunk = pc_client_memory_chunk(c);
  uint64_t since_ns = 0;
  pulsarc_err_t err = PULSARC_OK;
  for (;;) {
    uint32_t seen = atomic_load_explicit(&c->mem_seq, memory_order_acquire);
    int64_t left = atomic_fetch_sub_explicit(&p->mem_credit, len, memory_order_acq_rel) - len;
    if (left >= 0)
      break;
    /* Short by -left (other senders' shortfalls may be in it: the excess
     * comes back on release). */
    int64_t need = -left, grant = 0;
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
