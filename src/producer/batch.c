/* Per-partition batching on the producer's I/O thread: which unsent
 * messages go into the next frame (up to batch_max_messages and
 * batch_max_bytes, one key per batch with key-based batching, delayed
 * messages alone) and when the frame is due (full, the oldest message's
 * batch delay, or a message's deadline). [loop] */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "producer/pipeline.h"

#define MS (1000000ull)
/* How often a partition looks whether ADD_PARTITION_TO_TXN has answered. */
#define PC_TXN_ADD_POLL_NS (1 * MS)

static pulsarc_txn_t *txn_of(const pc_msg *m) { return m->ext != NULL ? m->ext->txn : NULL; }

/* A transaction's messages are written to a partition only once the
 * partition is added to it (ADD_PARTITION_TO_TXN). True when the first
 * unsent message may go; false while the add is under way (the batch timer
 * looks again soon). Failed adds fail the transaction's messages at the
 * front. */
static bool txn_gate(pc_part *part) {
  pc_msg *first = pc_fifo_at(&part->unsent, 0);
  pulsarc_txn_t *txn = txn_of(first);
  if (txn == NULL)
    return true;
  uint64_t most, least;
  pc_txn_get_id(txn, &most, &least);
  if (part->txn_added && part->txn_most == most && part->txn_least == least)
    return true;
  pulsarc_err_t err = PULSARC_OK;
  int r = pc_txn_partition(txn, part->topic, &err);
  if (r > 0) {
    part->txn_added = true;
    part->txn_most = most;
    part->txn_least = least;
    return true;
  }
  if (r == 0) {
    pc_timer_start(part->p->loop, &part->batch_timer, PC_TXN_ADD_POLL_NS);
    return false;
  }
  while (part->unsent.n > 0 && txn_of(pc_fifo_at(&part->unsent, 0)) == txn) {
    pc_msg m = *pc_fifo_at(&part->unsent, 0);
    part->unsent.head = (part->unsent.head + 1) & (part->unsent.cap - 1);
    part->unsent.n--;
    part->unsent_bytes -= m.len;
    pc_msg_complete(part->p, &m, err, NULL);
  }
  return part->unsent.n > 0 ? txn_gate(part) : false;
}

static bool same_key(const pc_msg *a, const pc_msg *b) {
  const char *ka = a->ext ? a->ext->partition_key : NULL;
  const char *kb = b->ext ? b->ext->partition_key : NULL;
  if (ka == NULL || kb == NULL)
    return ka == kb;
  return a->ext->partition_key_len == b->ext->partition_key_len &&
         memcmp(ka, kb, a->ext->partition_key_len) == 0;
}

/* Picks the messages of the next frame into sel[] (indexes into unsent, in
 * order). With key-based batching only messages sharing the first one's key
 * go together, and the others keep their places. Returns the count; *bytes
 * is an estimate of the body size, *complete whether a limit was hit,
 * *waited whether a selected message is waited for (PC_MSG_WAITED). */
/* Whether the last scan's selection (a prefix of unsent, sel[i] == i) still
 * stands: the same first message, and the last one it took still at its
 * place. Messages only join at the end, and any removal or return ahead of
 * it (sealing, unseal, the deadline sweep) moves or replaces one of the two:
 * idx is unique per producer. */
static bool scan_resumes(pc_part *part, const pc_msg *first, uint64_t limit) {
  return part->scan.valid && part->scan.first_idx == first->idx && part->scan.limit == limit &&
         part->scan.n <= part->unsent.n &&
         pc_fifo_at(&part->unsent, part->scan.n - 1)->idx == part->scan.last_idx;
}

static uint32_t select_batch(pc_part *part, uint32_t *sel, uint64_t *bytes, bool *complete,
                             bool *waited) {
  pulsarc_producer_t *p = part->p;
  pc_msg *first = pc_fifo_at(&part->unsent, 0);
  sel[0] = 0;
  *bytes = first->len + 16 + pc_msg_ext_wire_size(first->ext);
  *complete = true;
  *waited = (first->flags & PC_MSG_WAITED) != 0;
  if (!p->conf.batching || pc_msg_travels_alone(first)) {
    part->scan.valid = false;
    return 1;
  }
  uint64_t limit = p->conf.batch_max_bytes;
  if (limit > part->max_message_size)
    limit = part->max_message_size;
  uint32_t n = 1;
  bool prefix = !p->conf.key_based_batching;
  if (prefix && scan_resumes(part, first, limit)) {
    n = part->scan.n;
    *bytes = part->scan.bytes;
    *waited = part->scan.waited;
  }
  *complete = false;
  for (size_t i = n; i < part->unsent.n && n < p->conf.batch_max_messages; i++) {
    pc_msg *m = pc_fifo_at(&part->unsent, i);
    if (txn_of(m) != txn_of(first)) {
      if (p->conf.key_based_batching)
        continue;
      *complete = true; /* a batch never mixes transactions: send what we have */
      break;
    }
    if (p->conf.key_based_batching && !same_key(first, m))
      continue;
    if (pc_msg_travels_alone(m)) {
      if (p->conf.key_based_batching)
        continue;
      *complete = true; /* delayed messages travel alone: send what we have */
      break;
    }
    uint64_t add = m->len + 16 + pc_msg_ext_wire_size(m->ext);
    if (*bytes + add > limit) {
      *complete = true;
      break;
    }
    *bytes += add;
    *waited |= (m->flags & PC_MSG_WAITED) != 0;
    sel[n++] = (uint32_t)i;
  }
  if (n >= p->conf.batch_max_messages || *bytes >= p->conf.batch_max_bytes)
    *complete = true;
  if (prefix) {
    part->scan.valid = true;
    part->scan.waited = *waited;
    part->scan.n = n;
    part->scan.bytes = *bytes;
    part->scan.limit = limit;
    part->scan.first_idx = first->idx;
    part->scan.last_idx = pc_fifo_at(&part->unsent, n - 1)->idx;
  }
  return n;
}

void pc_part_seal(pc_part *part, bool force) {
  pulsarc_producer_t *p = part->p;
  uint32_t cap = p->conf.batching ? p->conf.batch_max_messages : 1;
  while (part->state == PS_READY && !part->resend_blocked && part->unsent.n > 0) {
    if (part->conn != NULL && pc_conn_unwritten_bytes(part->conn) > PC_CONN_HIGH_WATER) {
      part->throttled = true;
      return;
    }
    part->throttled = false;
    if (!txn_gate(part))
      return;
    /* Sized to what is queued, not to batch_max_messages: a producer that
     * sends one message at a time should not carry a 4 KiB array. */
    uint32_t need = part->unsent.n < cap ? (uint32_t)part->unsent.n : cap;
    if (part->sel_cap < need) {
      uint32_t grow = part->sel_cap * 2 > need ? part->sel_cap * 2 : need;
      if (grow > cap)
        grow = cap;
      uint32_t *sel = realloc(part->sel, grow * sizeof *sel);
      if (sel == NULL)
        return; /* retried on the next pass */
      part->sel = sel;
      part->sel_cap = grow;
    }
    uint32_t *sel = part->sel;
    uint64_t bytes;
    bool complete, waited;
    uint32_t n = select_batch(part, sel, &bytes, &complete, &waited);
    uint64_t now = pc_loop_now(p->loop);
    uint64_t due = pc_fifo_at(&part->unsent, 0)->arrival_ns + p->conf.batch_max_delay_ms * MS;
    if (part->seal_by_ns < due)
      due = part->seal_by_ns;
    /* Group commit: a batch holding a message someone waits for goes now,
     * once the rings are drained and no such batch is on the wire; what
     * arrives meanwhile joins the next one (seal_one counts them). */
    bool commit = waited && part->waited_inflight == 0 && p->rings_drained;
    if (!force && !complete && !commit && now < due) {
      if (!pc_timer_armed(&part->batch_timer) || part->batch_timer.deadline_ns > due)
        pc_timer_start(p->loop, &part->batch_timer, due - now);
      return;
    }
    pc_part_seal_one(part, sel, n);
  }
  if (part->unsent.n == 0) {
    part->seal_by_ns = UINT64_MAX;
    pc_timer_cancel(p->loop, &part->batch_timer);
  } else {
    pc_poller_unpark(p->loop, &p->poller); /* what is left is the poller's */
  }
}

void pc_part_batch_timer(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pc_part *part = t->ctx;
  pc_part_seal(part, true);
}
