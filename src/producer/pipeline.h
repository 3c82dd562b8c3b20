/* The producer's functions, one section per file, in the order of
 * src/LAYERS: a file calls only the sections below its own. Read top to
 * bottom, this is the path of a message: the public call, the sender's
 * half, the I/O thread's control files (lifecycle, partition state), then
 * the data path from the rings to the socket and back to the completion,
 * and last the stores everything shares. The types are in producer.h. */
#ifndef PULSARC_PRODUCER_PIPELINE_H
#define PULSARC_PRODUCER_PIPELINE_H

#include "producer/producer.h"

/* ---- enqueue.c: the sender's half of a send [app] ---- */

/* Every send: checks, deadline, memory credit, in-flight slot, ring push,
 * wake. On error (with pulsarc_last_error_text() set) the caller still
 * owns m's payload and options. default_timeout_ms applies unless opts
 * carry a timeout. */
pulsarc_err_t pc_producer_enqueue(pulsarc_producer_t *p, pc_msg *m, const pulsarc_msg_opts_t *opts,
                                  int64_t default_timeout_ms);
/* A send whose payload the library copies (send_cb, send_async); flags:
 * PC_MSG_* the message starts with. */
pulsarc_err_t pc_producer_send_copy(pulsarc_producer_t *p, const void *data, size_t len,
                                    const pulsarc_msg_opts_t *opts, pulsarc_send_cb cb, void *ctx,
                                    uint32_t flags);

/* ---- lifecycle.c: the producer's life on its I/O thread [loop] ---- */

/* Tasks posted by api.c. begin's arg is the producer; flush's and close's
 * a pc_flush_req whose `next` carries the producer. */
void pc_producer_begin(pc_loop *loop, void *p);
void pc_producer_flush_task(pc_loop *loop, void *req);
void pc_producer_close_task(pc_loop *loop, void *req);
void pc_producer_destroy_task(pc_loop *loop, void *p);

/* ---- route.c: the poller; from the rings to the partitions [loop] ---- */

bool pc_producer_poll(pc_loop *loop, pc_poller *poller);
bool pc_producer_has_work(pc_poller *poller);
/* idle_timer: the producer stayed parked (nothing queued, nothing in
 * flight) for PC_IDLE_TRIM_MS: gives back its rings and buffers. */
void pc_producer_idle_timer(pc_loop *loop, pc_timer *t);
/* Takes in everything the rings hold (a flush or close covers it all). */
void pc_producer_drain_all(pulsarc_producer_t *p);
/* Hands an accepted message to its partition. */
void pc_producer_route(pulsarc_producer_t *p, pc_msg *m);

/* ---- partition.c: the partition state machine [loop] ---- */

enum {
  PD_GOODBYE = 1,   /* tell the broker first (CLOSE_PRODUCER, answer not awaited) */
  PD_KEEP_CONN = 2, /* stay on the connection: close awaits CLOSE_PRODUCER's answer there */
  PD_FINAL = 4      /* the partition is done: creation deadline and batch timer go too */
};
/* A new partition (index -1: the topic is not partitioned), in PS_INIT. */
pc_part *pc_part_new(pulsarc_producer_t *p, int index);
/* Frees what pc_part_new and the partition's life allocated. */
void pc_part_free(pc_part *part);
/* Gives back the buffers an idle partition keeps only to send again soon:
 * its entry pool, the unsent ring's array, the batch selection and the
 * compression scratch. They come back on the next message. */
void pc_part_trim(pc_part *part);
/* Starts a partition: lookup, connect, register. */
void pc_part_start(pc_part *part, uint64_t create_deadline_ns);
/* Starts a lazily started partition on its first message. */
void pc_part_start_lazy(pc_part *part);
/* The one way a partition lets go of what it holds outside itself. */
void pc_part_detach(pc_part *part, int how);
/* Moves the partition to state (every transition goes through here):
 * keeps the count of ready partitions and tells the state callback, with
 * why, when the state the application sees changes. */
void pc_part_set_state(pc_part *part, pc_part_state state, pulsarc_err_t why);
/* Registered with a broker (or being registered). */
bool pc_part_registered(const pc_part *part);
/* Lost the broker: detach, then look up again after a backoff. */
void pc_part_reconnect(pc_part *part, pulsarc_err_t why);
/* Fails every queued and pending message with err and stops the producer;
 * detail: the sentence pulsarc_last_error_text() gives a creating thread
 * (NULL: a generic one). */
void pc_producer_fail(pulsarc_producer_t *p, pulsarc_err_t err, const char *detail);
/* Reports the creation's outcome to the ready callback, once. */
void pc_producer_report_ready(pulsarc_producer_t *p, pulsarc_err_t err);
/* The configured start delay plus its random jitter. */
uint64_t pc_producer_start_delay_ms(pulsarc_producer_t *p);

/* ---- creation.c: the first creation's deadline [loop] ---- */

/* Starts the partition's creation clock (its create_timer). */
void pc_part_arm_create_deadline(pc_part *part, uint64_t deadline_ns);
/* True once a partition never created has passed its deadline. */
bool pc_part_creation_over(const pc_part *part);
/* Records a failed creation attempt: err, in step (a *_TIMEOUT code). */
void pc_part_attempt_failed(pc_part *part, pulsarc_err_t err, pulsarc_err_t step);
/* Keeps the sentence of a failed attempt reported on this thread. */
void pc_producer_note_attempt(pulsarc_producer_t *p);
/* The error a creation that ran out of time fails with (the step that did
 * not finish), and the sentence saying where, in detail. */
pulsarc_err_t pc_part_creation_timeout(const pc_part *part, char *detail, size_t len);
/* Same for the partition-count lookup. */
pulsarc_err_t pc_producer_meta_timeout(const pulsarc_producer_t *p, char *detail, size_t len);

/* ---- deadline.c: per-message deadlines [loop] ---- */

/* deadline_timer: fails expired messages (TIMEOUT if never written, else
 * TIMEOUT_UNCONFIRMED) and re-arms for the next deadline. */
void pc_producer_deadline_sweep(pc_loop *loop, pc_timer *t);

/* ---- resend.c: resend after re-registration [loop] ---- */

/* Writes every pending entry again, oldest first, on the new connection. */
void pc_part_resend(pc_part *part);
/* Continues a resend that waited for a frame to leave its connection. */
void pc_part_resend_resume(pc_part *part);

/* ---- batch.c: per-partition batching [loop] ---- */

/* Seals and writes what the batching rules allow (force: everything). */
void pc_part_seal(pc_part *part, bool force);
/* batch_timer: the oldest unsent message's batch delay ran out. */
void pc_part_batch_timer(pc_loop *loop, pc_timer *t);

/* ---- seal.c: one entry [loop] ---- */

/* Encodes the messages at unsent indexes sel[0..n) into one SEND frame (or
 * chunks), queues it as pending and writes it. */
void pc_part_seal_one(pc_part *part, const uint32_t *sel, uint32_t n);

/* ---- unseal.c: taking never-written entries back [loop] ---- */

/* Puts never-written entries from `from` to the tail back into unsent. */
void pc_part_unseal_from(pc_part *part, pc_entry *from);

/* ---- receipts.c: the broker's answers to SEND [loop] ---- */

/* What the partition must do after a SEND_ERROR. */
typedef enum pc_send_error_action {
  PC_SEND_ERROR_HANDLED,      /* the entry failed; nothing else to do */
  PC_SEND_ERROR_RECONNECT,    /* re-create this partition and resend */
  PC_SEND_ERROR_FAIL_PRODUCER /* the producer is finished (fenced, terminated) */
} pc_send_error_action;
void pc_part_on_receipt(pc_part *part, const Pulsarc__CommandSendReceipt *r);
pc_send_error_action pc_part_on_send_error(pc_part *part, const Pulsarc__CommandSendError *e,
                                           pulsarc_err_t *err);
/* Fails every message of the partition (unsent and pending). */
void pc_part_fail_all(pc_part *part, pulsarc_err_t err);

/* ---- flush.c: flush bookkeeping [loop] ---- */

/* Completes the flushes whose messages all completed; tells a close once
 * nothing is in flight (events->close_drained). */
void pc_producer_check_flushes(pulsarc_producer_t *p);
/* Nothing accepted is still in flight. */
bool pc_producer_idle(pulsarc_producer_t *p);

/* ---- pending.c: entries, the pending queue, writes [loop] ---- */

pc_entry *pc_entry_get(pc_part *part, uint32_t count);
/* Back to the pool (or freed once the connection lets go of it). */
void pc_entry_release(pc_part *part, pc_entry *e);
/* Frees an entry that no connection references, with what it holds. */
void pc_entry_free(pc_entry *e);
void pc_entry_write(pc_part *part, pc_entry *e);
/* Takes an entry's frame back from the connection it is queued on. */
void pc_entry_withdraw(pc_entry *e);
void pc_pending_push(pc_part *part, pc_entry *e);
pc_entry *pc_pending_pop(pc_part *part);
/* The part's zq (entries compressing on a worker, finished in order by
 * seal.c): push at the tail, pop the head. */
void pc_zq_push(pc_part *part, pc_entry *e);
pc_entry *pc_zq_pop(pc_part *part);
/* Lets go of an entry taken off zq whose messages the caller has dealt
 * with: back to the pool, or, still on a worker, freed when it returns. */
void pc_zq_drop(pc_part *part, pc_entry *e);
/* Fails every message of the entries on zq with err (fail_all). */
void pc_part_zq_fail(pc_part *part, pulsarc_err_t err);

/* ---- complete.c: completing messages [loop] ---- */

/* Completes one message: callback, payload and option release, slot and
 * memory back. Once per message (a second call does nothing). */
void pc_msg_complete(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                     const pulsarc_msg_id_t *id);
/* Runs the completion only; true if it had not run (the caller then owes
 * the message's slot and bytes: pc_producer_give_back). */
bool pc_msg_complete_once(pulsarc_producer_t *p, pc_msg *m, pulsarc_err_t err,
                          const pulsarc_msg_id_t *id);
/* Gives back in-flight slots and memory of completed messages. */
void pc_producer_give_back(pulsarc_producer_t *p, uint32_t slots, uint64_t bytes);
void pc_msg_release_payload(pc_msg *m);
/* The broker has acknowledged (or reported at registration) sequence id
 * seq: raises pulsarc_producer_last_sequence_id to it. */
void pc_producer_note_acked(pulsarc_producer_t *p, int64_t seq);
/* Wakes senders blocked on queue or memory room. */
void pc_producer_wake_senders(pulsarc_producer_t *p);
/* Whether a sender sleeps for room, read after everything this loop did
 * before (a seq_cst read-modify-write of the waiter count): a sender
 * announces itself there before its last try (enqueue.c), so either that
 * try sees this loop's drain or this sees the sender. */
bool pc_producer_senders_wait(pulsarc_producer_t *p);

/* ---- msgfifo.c: the growable message ring [loop] ---- */

int pc_fifo_push(pc_msgfifo *f, const pc_msg *m);
int pc_fifo_push_front(pc_msgfifo *f, const pc_msg *m);
void pc_fifo_free(pc_msgfifo *f);
static inline pc_msg *pc_fifo_at(pc_msgfifo *f, size_t i) {
  return &f->a[(f->head + i) & (f->cap - 1)];
}

/* ---- credit.c: the producer's share of the memory limit [any] ---- */

/* Takes len bytes (blocking up to deadline_ns if may_block). OK or
 * PULSARC_ERR_MEMORY_LIMIT. */
pulsarc_err_t pc_producer_take_memory(pulsarc_producer_t *p, uint32_t len, uint64_t deadline_ns,
                                      bool may_block);
/* Gives bytes back (a completion, or a send that failed after taking). */
void pc_producer_release_memory(pulsarc_producer_t *p, uint64_t bytes);
/* [loop] Publishes the per-partition pending limits for the partitions
 * made so far (a partitioned topic; called when partitions are added). */
void pc_producer_publish_slots(pulsarc_producer_t *p);
/* [loop] Frees the slot directories and counters (producer teardown). */
void pc_producer_free_slots(pulsarc_producer_t *p);
/* [loop] The loop routed a message the sender did not charge: it takes a
 * slot of partition route - 1 (route as in pc_msg; 0 or no limits: none). */
void pc_part_slots_charge(pulsarc_producer_t *p, uint32_t route);
/* [loop] n messages of partition route - 1 completed. */
void pc_part_slots_release(pulsarc_producer_t *p, uint32_t route, uint32_t n);
/* [loop] Partition k is below its share (always true without limits). */
bool pc_part_slots_room(pulsarc_producer_t *p, uint32_t k);

/* sendq.c (the rings) and arena.c (payload slabs, thread scratch) have
 * headers of their own: producer/sendq.h, producer/arena.h. */

#endif
