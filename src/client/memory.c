/* The client-wide memory limit: bytes granted to producers (memory_used,
 * never above memory_limit_bytes) and the futex senders sleep on when the
 * limit is reached. Producers take and give back through a credit of their
 * own (producer/credit.c), so a send rarely touches this cache line. Any
 * thread. */
#include "client/client.h"
#include "common/futex.h"

/* Chunks are limit/256 and only when that is at least 64 KiB (limits of
 * 16 MiB and up; the default is 64 MiB): a producer can then strand at
 * most 1/128 of the limit while it has messages in flight. Below that,
 * grants are exact. With many producers the chunk shrinks so that all of
 * them together strand at most a quarter of the limit (two chunks each):
 * 10,000 producers sending round robin had 256 KiB chunks, so the 257th
 * producer to send found the limit taken by credits of one message each
 * and every send waited for receipts (8k msg/s). */
int64_t pc_client_memory_chunk(const pulsarc_client_t *c) {
  int64_t chunk = (int64_t)(c->conf.memory_limit_bytes / 256);
  if (chunk < 64 * 1024)
    return 0;
  int64_t members = (int64_t)atomic_load_explicit(&c->nmembers, memory_order_relaxed);
  int64_t share = (int64_t)(c->conf.memory_limit_bytes / 8) / (members > 0 ? members : 1);
  return share < chunk ? share : chunk;
}

/* A request larger than the whole limit passes when nothing is granted at
 * all, so one huge message cannot wait for ever. */
bool pc_client_take_memory(pulsarc_client_t *c, int64_t n) {
  int64_t limit = (int64_t)c->conf.memory_limit_bytes;
  int64_t before = atomic_fetch_add_explicit(&c->memory_used, n, memory_order_acq_rel);
  if (before + n <= limit || before == 0)
    return true;
  atomic_fetch_sub_explicit(&c->memory_used, n, memory_order_acq_rel);
  return false;
}

void pc_client_give_memory(pulsarc_client_t *c, int64_t n) {
  atomic_fetch_sub_explicit(&c->memory_used, n, memory_order_acq_rel);
}

void pc_client_wake_memory_waiters(pulsarc_client_t *c) {
  if (atomic_load_explicit(&c->mem_waiters, memory_order_acquire) > 0) {
    atomic_fetch_add(&c->mem_seq, 1);
    pc_futex_wake_all(&c->mem_seq);
  }
}
