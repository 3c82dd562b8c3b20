/* The application-thread half of a send [app threads, any thread for the
 * non-blocking forms]: the deadline, the memory credit, an in-flight slot
 * (and its partition's, for a keyed message on a partitioned topic), the
 * push into this thread's ring and the wake of the I/O thread, with the
 * blocking waits for room. Nothing here touches state the loop owns. */
#include <stdlib.h>

#include "client/topic.h"
#include "codec/crc32c.h"
#include "common/clock.h"
#include "common/err_detail.h"
#include "common/futex.h"
#include "producer/arena.h"
#include "producer/pipeline.h"

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

/* A send that waited for room: counted once, with the whole wait, when it
 * stops waiting (whatever the outcome). Slow path only. */
static void count_blocked(pulsarc_producer_t *p, uint64_t since_ns) {
  if (since_ns == 0)
    return;
  atomic_fetch_add_explicit(&p->blocked_pending, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->blocked_ns, pc_mono_ns() - since_ns, memory_order_relaxed);
}

/* Reserves one slot of count (below max), blocking if configured;
 * *since_ns: when the send started waiting for room (left alone if it did
 * not). */
static pulsarc_err_t reserve_slot(pulsarc_producer_t *p, _Atomic uint32_t *count, uint32_t max,
                                  uint64_t deadline_ns, bool may_block, uint64_t *since_ns) {
  for (;;) {
    if (atomic_fetch_add_explicit(count, 1, memory_order_acq_rel) < max)
      return PULSARC_OK;
    atomic_fetch_sub_explicit(count, 1, memory_order_acq_rel);
    if (!may_block)
      return PULSARC_ERR_QUEUE_FULL;
    if (*since_ns == 0)
      *since_ns = pc_mono_ns();
    atomic_fetch_add(&p->space_waiters, 1);
    /* The futex word is read only now, not before every reservation: the
     * loop writes its cache line on every pass (pc_producer_senders_wait).
     * Announced first, then read, then the count re-checked: a wake
     * before the read shows in the count, one after it in the word. */
    uint32_t seen = atomic_load_explicit(&p->space_seq, memory_order_seq_cst);
    bool ok = atomic_load(count) < max || wait_for_room(p, seen, deadline_ns);
    atomic_fetch_sub(&p->space_waiters, 1);
    if (!ok)
      return PULSARC_ERR_TIMEOUT;
    pulsarc_err_t err = closed_error(p);
    if (err != PULSARC_OK)
      return err;
  }
}

/* The partition slot a keyed message on a partitioned topic must hold, or
 * NULL (then only the producer's). Its partition is the one route.c would
 * hash it to, chosen here once: route.c takes it from m->route. */
static pc_part_slots *pre_route(pulsarc_producer_t *p, const pc_slot_dir *d, pc_msg *m) {
  if (d == NULL || m->ext == NULL || m->ext->partition_key == NULL ||
      p->conf.routing_mode == PC_ROUTE_CUSTOM)
    return NULL;
  const char *key = m->ext->partition_key;
  size_t len = m->ext->partition_key_len;
  int32_t h = p->conf.hashing == PC_HASH_MURMUR3_32 ? pc_murmur3_32_hash(key, len)
                                                    : pc_java_string_hash(key, len);
  uint32_t k = (uint32_t)h % (uint32_t)d->n;
  m->route = k + 1;
  m->flags |= PC_MSG_PRE_ROUTED;
  return d->part[k];
}

/* The partition's slot first: a sender of a partition at its share waits
 * (or fails) without holding one of the producer's. */
static pulsarc_err_t reserve_slots(pulsarc_producer_t *p, pc_msg *m, bool may_block,
                                   uint64_t *since_ns) {
  pc_slot_dir *d = atomic_load_explicit(&p->slot_dir, memory_order_acquire);
  pc_part_slots *ps = pre_route(p, d, m);
  pulsarc_err_t err;
  if (ps != NULL && (err = reserve_slot(p, &ps->pending, d->share, m->deadline_ns, may_block,
                                        since_ns)) != PULSARC_OK)
    return err;
  err = reserve_slot(p, &p->inflight, d != NULL ? d->total : p->conf.max_pending_messages,
                     m->deadline_ns, may_block, since_ns);
  if (err != PULSARC_OK && ps != NULL)
    atomic_fetch_sub_explicit(&ps->pending, 1, memory_order_acq_rel);
  return err;
}

static void release_slot(pulsarc_producer_t *p, const pc_msg *m) {
  if (m->flags & PC_MSG_PRE_ROUTED)
    pc_part_slots_release(p, m->route, 1);
  atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_acq_rel);
  pc_producer_release_memory(p, m->len);
}

/* Pushes m into this thread's ring and, when it went in, makes sure the
 * loop sees it. pc_sendq_push's result: 0, 1 (ring full) or -1. */
static int push(pulsarc_producer_t *p, const pc_msg *m) {
  bool new_ring;
  int r = pc_sendq_push(&p->q, m, &new_ring);
  if (r == 0) {
    pc_loop_wake_poller(p->loop, &p->poller);
    if (new_ring)
      pc_loop_wake_force(p->loop);
  }
  return r;
}

/* Common path of every send: validate, reserve, enqueue, wake. On error the
 * caller still owns (and must release) data and ext. */
static pulsarc_err_t try_enqueue(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                                 int64_t default_timeout_ms, uint64_t *since_ns) {
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
  if ((err = reserve_slots(p, m, may_block, since_ns)) != PULSARC_OK) {
    pc_producer_release_memory(p, m->len);
    return err;
  }
  int r = push(p, m);
  for (;;) {
    if (r == 0)
      return PULSARC_OK;
    if (r < 0) {
      release_slot(p, m);
      return PULSARC_ERR_NO_MEMORY;
    }
    /* This thread's ring is full: the loop is behind. Make sure it runs,
     * then sleep until it drains (never spin). */
    pc_loop_wake_poller(p->loop, &p->poller);
    pc_loop_wake_force(p->loop);
    if (!may_block) {
      release_slot(p, m);
      return PULSARC_ERR_QUEUE_FULL;
    }
    if (*since_ns == 0)
      *since_ns = pc_mono_ns();
    /* Announce, then try once more before sleeping: a drain between the
     * failed push and the announcement saw nobody waiting and woke nobody
     * (pc_producer_senders_wait). */
    atomic_fetch_add(&p->space_waiters, 1);
    uint32_t seen = atomic_load_explicit(&p->space_seq, memory_order_seq_cst);
    r = push(p, m);
    bool ok = r != 1 || wait_for_room(p, seen, m->deadline_ns);
    atomic_fetch_sub(&p->space_waiters, 1);
    if (!ok) {
      release_slot(p, m);
      return PULSARC_ERR_TIMEOUT;
    }
    if (r == 1)
      r = push(p, m); /* woken: room again */
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
  case PULSARC_ERR_QUEUE_FULL: {
    const char *why =
        pc_on_library_thread() ? " (a callback never blocks)" : " and block_if_queue_full is false";
    const pc_slot_dir *d = atomic_load_explicit(&p->slot_dir, memory_order_acquire);
    if (d == NULL)
      pc_err_detail_set("%s: max_pending_messages (%u) or the sending thread's ring is full%s",
                        p->topic, p->conf.max_pending_messages, why);
    else if (m->flags & PC_MSG_PRE_ROUTED)
      pc_err_detail_set("%s: partition %u's share of the pending limit (%u: min of "
                        "max_pending_messages and max_pending_messages_across_partitions / %d), "
                        "the producer's (%u) or the sending thread's ring is full%s",
                        p->topic, m->route - 1, d->share, d->n, d->total, why);
    else
      pc_err_detail_set("%s: the pending limit of its %d partitions (%u) or the sending thread's "
                        "ring is full%s",
                        p->topic, d->n, d->total, why);
    break;
  }
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

/* A transactional send: no deadline (the official clients' rule: a
 * message timed out on the client may still land in the transaction) and
 * an open transaction, which counts it until its completion. */
static pulsarc_err_t enter_txn(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                               int64_t default_timeout_ms) {
  int64_t timeout_ms = opts != NULL && opts->has_timeout ? opts->timeout_ms : default_timeout_ms;
  if (timeout_ms != 0) {
    pc_err_detail_set("%s: a transactional send must have no deadline: set send_timeout_ms=0 "
                      "(and no per-message timeout); this one has %lld ms",
                      p->topic, (long long)timeout_ms);
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  return pc_txn_enter(m->ext->txn);
}

pulsarc_err_t pc_producer_enqueue(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                                  int64_t default_timeout_ms) {
  uint64_t since_ns = 0;
  pulsarc_txn_t *txn = m->ext != NULL ? m->ext->txn : NULL;
  if (txn != NULL) {
    pulsarc_err_t err = enter_txn(p, m, opts, default_timeout_ms);
    if (err != PULSARC_OK)
      return err; /* the detail is set */
  }
  pulsarc_err_t err = try_enqueue(p, m, opts, default_timeout_ms, &since_ns);
  if (err != PULSARC_OK && txn != NULL)
    pc_txn_leave(txn, err, false);
  if (__builtin_expect(since_ns != 0, 0))
    count_blocked(p, since_ns);
  if (err != PULSARC_OK) {
    if (err == PULSARC_ERR_QUEUE_FULL)
      atomic_fetch_add_explicit(&p->rejected_pending, 1, memory_order_relaxed);
    else if (err == PULSARC_ERR_MEMORY_LIMIT)
      atomic_fetch_add_explicit(&p->rejected_memory, 1, memory_order_relaxed);
    explain_refusal(p, m, err);
  }
  return err;
}

pulsarc_err_t pc_producer_send_copy(pulsarc_producer_t *p, const void *data, size_t len,
                                    const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb, void *ctx,
                                    uint32_t flags) {
  if (p == NULL || (data == NULL && len > 0) || len > UINT32_MAX)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_msg m = {.len = (uint32_t)len, .flags = flags, .done = cb, .done_ctx = ctx};
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
  err = pc_producer_enqueue(p, &m, opts, (int64_t)p->conf.send_timeout_ms);
  if (err != PULSARC_OK) {
    m.free_fn(copy, m.free_ctx);
    free(m.ext);
  }
  return err;
}
