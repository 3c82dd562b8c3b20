/* The per-producer send queue: one single-producer/single-consumer
 * Concurrency Kit ring per (application thread, producer), found through a
 * thread-local table and polled by the producer's I/O thread. No sender ever
 * waits on another sender (the brief measured ck_ring_enqueue_mpsc convoying
 * when threads outnumber cores); a thread that exits leaves its ring to be
 * drained and freed by the I/O thread.
 *
 * Thread rules: pc_sendq_push runs on any application thread; everything
 * marked [loop] only on the owning I/O thread. */
#ifndef PULSARC_PRODUCER_SENDQ_H
#define PULSARC_PRODUCER_SENDQ_H

#include <ck_stack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "pulsarc/pulsarc.h"

/* A message as it travels from the sending thread to the I/O thread and
 * waits there until its receipt. Stored by value in the rings: no
 * allocation per message on this path. */
typedef struct pc_msg {
  const uint8_t *data;
  uint32_t len;
  uint32_t flags;          /* PC_MSG_* */
  uint32_t crc;            /* pc_crc32c of the payload, if PC_MSG_HAS_CRC */
  uint32_t route;          /* [loop] its partition's index + 1; 0 before routing
                            * (unless PC_MSG_PRE_ROUTED) */
  pulsarc_free_fn free_fn; /* releases data once copied; NULL if borrowed */
  void *free_ctx;
  pc_msg_ext *ext;      /* options, or NULL */
  pulsarc_send_cb done; /* completion; NULL = nobody listens */
  void *done_ctx;
  uint64_t deadline_ns; /* monotonic; 0 = none */
  uint64_t idx;         /* [loop] order of arrival, for flush */
  uint64_t arrival_ns;  /* [loop] when drained, for the batch delay */
} pc_msg;

#define PC_MSG_COMPLETED 0x1u /* [loop] done() already ran (timed out) */
#define PC_MSG_CHUNKED 0x2u   /* [loop] sent as chunks: payload kept until done */
#define PC_MSG_HAS_CRC 0x8u   /* crc was computed by the sender, data hot in its cache */
/* Someone waits for it (a blocking send, or a future being waited on):
 * group commit seals it without the batch delay (producer/batch.c). */
#define PC_MSG_WAITED 0x10u
#define PC_MSG_FUTURE 0x20u /* done_ctx is a heap future (client/future.h) */
/* route was chosen by the sender (a keyed message on a partitioned topic),
 * which took that partition's pending slot; cleared once the loop routes it. */
#define PC_MSG_PRE_ROUTED 0x40u
#define PC_MSG_SPLICED                                                                             \
  0x4u /* [loop] its frame writes the payload from here: kept                                      \
        * until the entry is released, not when done */

/* Payloads from this size up are written from the message's own copy
 * instead of being copied into the frame (see producer/seal.c), and the
 * copying send checksums them while they are hot in its cache. */
#define PC_SPLICE_MIN 4096

/* Ring entries per sending thread. A lone sender whose ring fills while
 * the I/O thread seals (and compresses) a batch sleeps until the drain: a
 * ring of 1024 kept one thread 18% faster at 100 B and 43% with lz4 than
 * 512 did (bench, max_pending 10000). But messages in rings count against
 * max_pending, and rings that hold most of it starve the batches in flight
 * (2048 each cost 4 threads 17%). So the rings share a budget (the producer
 * gives max_pending / 8): a thread that makes the k-th live ring (counting
 * its own; sendq.rings_live) gets budget / k entries,
 * rounded down to a power of two, at most PC_SENDQ_RING_MAX, at least
 * PC_SENDQ_RING_FIRST_MIN for the first thread and PC_SENDQ_RING_FLOOR for
 * the others. */
#define PC_SENDQ_RING_FIRST_MIN 512
#define PC_SENDQ_RING_FLOOR 64
#define PC_SENDQ_RING_MAX 2048
/* Messages of PC_SENDQ_LARGE_MSG bytes or more find a ring full once it
 * holds PC_SENDQ_LARGE_CAP messages, whatever its size: queued that deep
 * their copies leave the cache before the I/O thread reads them (1 KiB
 * messages ran 20% slower in a ring of 1024 than of 512). */
#define PC_SENDQ_LARGE_MSG 512
#define PC_SENDQ_LARGE_CAP 511

typedef struct pc_sq_ring pc_sq_ring;

typedef struct pc_sendq {
  uint64_t uid;         /* process-unique key for the thread-local table */
  unsigned ring_budget; /* entries the rings should hold together */
  /* Rings created and not yet retired: +1 by a thread making its ring,
   * -1 by the loop when a departed thread's ring is drained and freed. New
   * rings are sized from it, so after threads come and go a new thread
   * gets the share of the threads still sending, not of all ever seen. */
  _Atomic unsigned rings_live;
  ck_stack_t incoming; /* rings registered by new threads */
  /* [loop] The rings in service order, a round robin: a drain starts at
   * the head, a ring's turn takes what it holds, and every ring whose turn
   * ended moves behind the rest. A turn the budget cut short resumes first
   * next drain (for what the ring held at the cut), rings the budget did not
   * reach come next, and new rings join at the tail. So a ring waits at
   * most for one turn of each ring ahead of it (a full ring at worst),
   * however busy they are. */
  _Alignas(64) pc_sq_ring *rings;
  pc_sq_ring *tail; /* [loop] last of rings, NULL if none */
  /* [loop] In its I/O thread's batch of queues waiting for the one
   * membarrier of pc_sendq_retire_batch; retire_pprev is NULL if not. */
  struct pc_sendq *retire_next, **retire_pprev;
} pc_sendq;

/* [any] budget: entries the rings should hold together (see
 * PC_SENDQ_RING_MAX for how it is split). */
void pc_sendq_init(pc_sendq *q, unsigned budget);

/* [app thread] Enqueues a copy of *m into this thread's ring (created on the
 * first push). 0; 1 if the ring is full (nothing enqueued); -1 on allocation
 * failure. *new_ring is set when this push registered a new ring (the caller
 * must then wake the loop unconditionally). */
int pc_sendq_push(pc_sendq *q, const pc_msg *m, bool *new_ring);

/* [loop] Takes up to budget messages, calling fn for each in per-thread FIFO
 * order, visiting the rings round robin (pc_sendq.rings). fn's m is the ring
 * slot, valid only during the call (fn may change it, and copies what it
 * keeps); slots go back to the sender every few dozen messages. budget
 * SIZE_MAX takes every ring to empty of what it held when its turn began (a
 * flush or close must cover all they hold).
 * Returns how many were taken; *made_room is set if a ring that was full
 * got space (senders may be waiting). */
size_t pc_sendq_drain(pc_sendq *q, size_t budget, void (*fn)(void *ctx, pc_msg *m), void *ctx,
                      bool *made_room);

/* [loop] Frees the slots of every empty ring (their threads get a small
 * new ring on their next push). For producers that went idle; costs one
 * membarrier() system call. Returns how many were freed. */
size_t pc_sendq_retire_idle(pc_sendq *q);

/* [loop] pc_sendq_retire_idle for many queues with one membarrier(): marks
 * q's empty rings retired and adds q to this I/O thread's batch. True if
 * the batch was empty: the caller must then make pc_sendq_retire_batch run
 * soon on this thread (a posted task), after the other producers that go
 * idle at the same time have joined. */
bool pc_sendq_retire_defer(pc_sendq *q);

/* [loop] One membarrier(), then frees the retired rings of every queue
 * this I/O thread deferred. Returns how many were freed. */
size_t pc_sendq_retire_batch(void);

/* [loop] True if any ring holds messages or a new ring arrived. */
bool pc_sendq_has_work(pc_sendq *q);

/* [loop] Final drain (fn for every message still queued) and release of
 * every ring; threads that still hold one drop it when they exit or touch
 * another producer. */
void pc_sendq_destroy(pc_sendq *q, void (*fn)(void *ctx, pc_msg *m), void *ctx);

/* Live rings process-wide (for the thread-churn test); each queue's own
 * count is pc_sendq.rings_live. */
long pc_sendq_live_rings(void);

#endif
