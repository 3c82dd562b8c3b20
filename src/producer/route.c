/* The producer's poller on its I/O thread: drains the per-thread rings
 * (fairly, a budget per pass), stamps each message's arrival, arms the
 * deadline timer, routes it to a partition (key hash, round robin that
 * switches once per batch and passes over a partition that can take no
 * more, single partition or the user's router) and lets
 * each ready partition seal what its batching rules allow. [loop] */
#include <stdint.h>

#include "client/future.h"
#include "client/testing.h"
#include "producer/pipeline.h"

#define DRAIN_BUDGET 4096

#ifdef PULSARC_TEST_HOOKS
static _Atomic uint64_t pc_test_polls;
uint64_t pc_test_producer_polls(void) { return atomic_load(&pc_test_polls); }
#endif

static void part_take(pc_part *part, pc_msg *m) {
  if (pc_fifo_push(&part->unsent, m) != 0) {
    pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
    return;
  }
  part->unsent_bytes += m->len;
  if (m->deadline_ns != 0 && m->deadline_ns < part->seal_by_ns)
    part->seal_by_ns = m->deadline_ns;
  pc_part_activate(part);
}

/* [loop] One drained message (pc_sendq_drain callback). */
/* A future's message counts as waited for once a thread waits on it. */
static void note_waited_future(pc_msg *m) {
  if ((m->flags & (PC_MSG_FUTURE | PC_MSG_WAITED)) == PC_MSG_FUTURE &&
      atomic_load_explicit(&((pulsarc_future_t *)m->done_ctx)->waited, memory_order_acquire))
    m->flags |= PC_MSG_WAITED;
}

/* After a kick (pulsarc_future_wait): marks the queued messages whose
 * futures are now waited on. */
static void note_waited_futures(pulsarc_producer_t *p) {
  for (size_t i = 0; i < p->unrouted.n; i++)
    note_waited_future(pc_fifo_at(&p->unrouted, i));
  for (pc_part *part = p->active; part != NULL; part = part->active_next) {
    part->scan.valid = false; /* its open batch may hold a waited message now */
    for (size_t i = 0; i < part->unsent.n; i++)
      note_waited_future(pc_fifo_at(&part->unsent, i));
  }
}

static void accept(void *arg, pc_msg *m) {
  pulsarc_producer_t *p = arg;
  if (m->flags & PC_MSG_FUTURE)
    note_waited_future(m);
  m->idx = p->drained++;
  m->arrival_ns = pc_loop_now(p->loop);
  int s = atomic_load_explicit(&p->app_state, memory_order_relaxed);
  if (p->destroyed || s == PC_APP_FAILED || (s == PC_APP_CLOSED && !p->closing)) {
    pc_msg_complete(
        p, m, s == PC_APP_FAILED ? (pulsarc_err_t)atomic_load(&p->fail_err) : PULSARC_ERR_CLOSED,
        NULL);
    return;
  }
  if (m->deadline_ns != 0 &&
      (!pc_timer_armed(&p->deadline_timer) || m->deadline_ns < p->deadline_timer.deadline_ns))
    pc_timer_start(p->loop, &p->deadline_timer,
                   m->deadline_ns > m->arrival_ns ? m->deadline_ns - m->arrival_ns : 0);
  if (p->nparts == 0) {
    if (pc_fifo_push(&p->unrouted, m) != 0)
      pc_msg_complete(p, m, PULSARC_ERR_NO_MEMORY, NULL);
    return;
  }
  pc_producer_route(p, m);
}

/* A partition round robin may choose: below its share of the pending
 * limit, and not cut off from its broker (one never registered is not: it
 * may be waiting for its first message to start). */
static bool rr_usable(pulsarc_producer_t *p, uint32_t k, bool need_broker) {
  const pc_part *part = p->parts[k];
  if (need_broker && part->created_once && part->state != PS_READY)
    return false;
  return pc_part_slots_room(p, k);
}

/* Round robin that switches partition once per batch, so batches stay
 * full, and early when the partition can take no more: a partition whose
 * broker is gone keeps what it holds, the others take the rest. (The
 * official clients' round robin does not skip it, so its pending limit
 * blocks every sender.) Failing all that, any partition with room, then
 * plain order: the producer's limit still bounds the total. */
static uint32_t round_robin(pulsarc_producer_t *p) {
  uint32_t n = (uint32_t)p->nparts;
  if (p->rr_left == 0 || !rr_usable(p, p->rr_part, true)) {
    uint32_t pick = (p->rr_part + 1) % n;
    for (int pass = 0; pass < 2; pass++) {
      uint32_t i = 0;
      while (i < n && !rr_usable(p, (p->rr_part + 1 + i) % n, pass == 0))
        i++;
      if (i < n) {
        pick = (p->rr_part + 1 + i) % n;
        break;
      }
    }
    p->rr_part = pick;
    p->rr_left = p->conf.batching ? p->conf.batch_max_messages : 1;
  }
  p->rr_left--;
  return p->rr_part;
}

void pc_producer_route(pulsarc_producer_t *p, pc_msg *m) {
  uint32_t k = 0;
  bool charged = (m->flags & PC_MSG_PRE_ROUTED) != 0;
  if (charged) {
    /* Hashed by the sender, which holds the partition's slot. */
    k = m->route - 1;
    m->flags &= ~PC_MSG_PRE_ROUTED;
  } else if (p->nparts > 1) {
    const char *key = m->ext != NULL ? m->ext->partition_key : NULL;
    size_t key_len = key != NULL ? m->ext->partition_key_len : 0;
    if (p->conf.routing_mode == PC_ROUTE_CUSTOM) {
      int r = p->conf.router(key, key_len, p->nparts, p->conf.router_ctx);
      if (r < 0 || r >= p->nparts) {
        PC_WARN(&p->client->conf.logger, "custom router returned partition %d of %d", r, p->nparts);
        pc_msg_complete(p, m, PULSARC_ERR_INVALID_ARGUMENT, NULL);
        return;
      }
      k = (uint32_t)r;
    } else if (key != NULL) {
      /* One key, one partition: keeps per-key order. */
      int32_t h = p->conf.hashing == PC_HASH_MURMUR3_32 ? pc_murmur3_32_hash(key, key_len)
                                                        : pc_java_string_hash(key, key_len);
      k = (uint32_t)h % (uint32_t)p->nparts;
    } else if (p->conf.routing_mode == PC_ROUTE_SINGLE) {
      k = p->single_part;
    } else {
      k = round_robin(p);
    }
  }
  pc_part *part = p->parts[k];
  m->route = k + 1;
  if (!charged)
    pc_part_slots_charge(p, m->route);
  pc_stat_add(&part->stats.accepted, 1);
  pc_stat_add(&part->stats.bytes_accepted, m->len);
  part_take(part, m);
  pc_poller_unpark(p->loop, &p->poller); /* a parked producer holds no unsent message */
  if (part->state == PS_INIT)
    pc_part_start_lazy(part);
}

/* Takes in everything the rings hold. Every message accepted before a flush
 * or close was posted is in them by now (the push came before the post), so
 * one drain of each ring to empty covers them all: the poller's budget
 * would leave some behind. This ends: what senders add meanwhile is bounded
 * by the pending limit. */
void pc_producer_drain_all(pulsarc_producer_t *p) {
  bool room = false;
  size_t n = pc_sendq_drain(&p->q, SIZE_MAX, accept, p, &room);
  p->rings_drained = true;
  if (room || (n > 0 && pc_producer_senders_wait(p)))
    pc_producer_wake_senders(p);
}

/* Nothing queued that a later poll would seal: a parked producer's work
 * arrives through its rings (pc_loop_wake_poller) or the loop (unpark). */
static bool quiet(const pulsarc_producer_t *p) {
  if (p->unrouted.n > 0 || p->wake_senders)
    return false;
  for (const pc_part *part = p->active; part != NULL; part = part->active_next)
    if (part->unsent.n > 0 || part->resend_kick)
      return false;
  return true;
}

/* Parks a producer that has had nothing to do for PC_PARK_AFTER_NS: with
 * thousands of producers, polling each idle one on every iteration was
 * most of the loop's work. */
static void maybe_park(pulsarc_producer_t *p, bool did) {
  uint64_t now = pc_loop_now(p->loop);
  if (did || !quiet(p)) {
    p->active_ns = now;
    return;
  }
  if (now - p->active_ns < PC_PARK_AFTER_NS)
    return;
  pc_poller_park(p->loop, &p->poller);
  if (pc_poller_parked(&p->poller) && !pc_timer_armed(&p->idle_timer))
    pc_timer_start(p->loop, &p->idle_timer, PC_IDLE_TRIM_MS * 1000000ull);
}

/* [loop] Producers that went idle together share one membarrier. */
static void retire_batch_task(pc_loop *loop, void *arg) {
  (void)loop;
  (void)arg;
  pc_sendq_retire_batch();
}

void pc_producer_idle_timer(pc_loop *loop, pc_timer *t) {
  pulsarc_producer_t *p = t->ctx;
  if (!pc_poller_parked(&p->poller) || !quiet(p) || p->destroyed || !pc_producer_idle(p))
    return; /* busy again: the next park re-arms it */
  /* Idle since the last message, not since the park that armed the timer:
   * a producer sending every few hundred ms had its ring and buffers given
   * back, and made again, every second. */
  uint64_t idle_ns = pc_loop_now(loop) - p->active_ns;
  if (idle_ns < PC_IDLE_TRIM_MS * 1000000ull) {
    pc_timer_start(loop, t, PC_IDLE_TRIM_MS * 1000000ull - idle_ns);
    return;
  }
  if (pc_sendq_retire_defer(&p->q) && pc_loop_post(loop, retire_batch_task, NULL) != 0)
    pc_sendq_retire_batch();
  for (int k = 0; k < p->nparts; k++)
    pc_part_trim(p->parts[k]);
  if (p->unrouted.n == 0)
    pc_fifo_free(&p->unrouted);
  /* Nothing is in flight: no deadline to watch. */
  pc_timer_cancel(loop, &p->deadline_timer);
}

bool pc_producer_poll(pc_loop *loop, pc_poller *poller) {
  pulsarc_producer_t *p = poller->ctx;
#ifdef PULSARC_TEST_HOOKS
  atomic_fetch_add_explicit(&pc_test_polls, 1, memory_order_relaxed);
#endif
  bool room = false;
  size_t n = pc_sendq_drain(&p->q, DRAIN_BUDGET, accept, p, &room);
  /* room: a ring that refused a push has room again. A sender that found
   * its ring full may not have marked it yet when this drained it: it is
   * seen waiting instead. */
  if (room || p->wake_senders || (n > 0 && pc_producer_senders_wait(p)))
    pc_producer_wake_senders(p);
  /* Group commit seals for waiting senders only once the rings are empty:
   * what is still in them would have joined the batch. */
  p->rings_drained = n < DRAIN_BUDGET;
  uint32_t kicks = pc_loop_kicks(loop);
  if (kicks != p->kicks_seen) {
    p->kicks_seen = kicks;
    note_waited_futures(p);
  }
  bool did = n > 0;
  pc_part *prev = NULL;
  for (pc_part **link = &p->active; *link != NULL;) {
    pc_part *part = *link;
    if (part->resend_kick && part->state == PS_READY) {
      pc_part_resend_resume(part);
      did = true;
    }
    if (part->unsent.n > 0 && part->state == PS_READY) {
      size_t before = part->unsent.n;
      pc_part_seal(part, false);
      did |= part->unsent.n != before;
    }
    if (part->unsent.n == 0 && !part->resend_blocked && !part->resend_kick) {
      /* Off the list until it gets work again (partitions this poll
       * activated were appended: the walk still reaches them). */
      *link = part->active_next;
      part->active = false;
      if (p->active_tail == part)
        p->active_tail = prev;
    } else {
      prev = part;
      link = &part->active_next;
    }
  }
  maybe_park(p, did);
  return did;
}

bool pc_producer_has_work(pc_poller *poller) {
  pulsarc_producer_t *p = poller->ctx;
  if (p->wake_senders || pc_sendq_has_work(&p->q) || pc_loop_kicks(p->loop) != p->kicks_seen)
    return true;
  for (const pc_part *part = p->active; part != NULL; part = part->active_next) {
    if (part->resend_kick)
      return true;
    if (part->throttled && part->unsent.n > 0 && part->conn != NULL &&
        pc_conn_unwritten_bytes(part->conn) <= PC_CONN_HIGH_WATER / 2)
      return true;
  }
  return false;
}
