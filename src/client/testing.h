/* Test-only switches and probes. The switches break the library on purpose,
 * so that tests can prove they would catch the bug (the chaos test must
 * fail with each one). Any thread.
 *
 * Only the internal test library (src/CMakeLists.txt: pulsarc_internal) is
 * compiled with PULSARC_TEST_HOOKS: the installed libraries contain none of
 * the functions below but the two live counters, and the switches there are
 * the constant 0. */
#ifndef PULSARC_CLIENT_TESTING_H
#define PULSARC_CLIENT_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef PULSARC_TEST_HOOKS
enum {
  PC_TEST_NO_RESEND = 1u << 0,         /* after reconnect, do not resend pending */
  PC_TEST_RENUMBER_ON_RESEND = 1u << 1 /* resend with fresh sequence ids */
};

/* Sets the switches above (0 = none). */
void pc_test_set_flags(unsigned flags);
unsigned pc_test_get_flags(void);
/* Compression workers (client/workers.c): while held, a worker that took
 * a piece of work waits before running it, so tests can act on entries
 * still compressing. Process-wide. */
void pc_test_workers_hold(int hold);
/* Work submitted and not yet handed back to its loop, process-wide. */
long pc_test_workers_pending(void);
#endif

/* Live per-thread send rings and payload slabs, process-wide. */
long pc_sendq_live_rings(void);
long pc_arena_live_slabs(void);

#ifdef PULSARC_TEST_HOOKS

/* Makes a send queue with this ring budget, then has `threads` new
 * threads, one after the other, fill their rings with messages of msg_len
 * bytes (no payload is read): caps[k] is how many the (k+1)-th thread's
 * ring took. 0, or -1 on failure. */
int pc_test_sendq_fill(unsigned budget, unsigned threads, uint32_t msg_len, size_t *caps);

/* Drain fairness: `waiting` threads fill their rings (the first of 511
 * entries, the others 63) and one drain of `budget` runs; then `busy` more
 * threads fill theirs and refill them after every further drain, up to
 * `passes` drains in all. done_pass[k]: the drain (1-based) after which
 * waiting ring k had given all its messages, 0 if never; busy_taken[k]:
 * messages drained from busy ring k. 0, or -1 on failure. */
int pc_test_sendq_fairness(unsigned waiting, unsigned busy, size_t budget, unsigned passes,
                           unsigned *done_pass, size_t *busy_taken);

/* Drain to empty after a cut: this thread pushes `first` messages into a
 * new send queue, one drain of `budget` takes *cut of them (leaving the
 * rest owed to the ring's next turn), the thread pushes `more`, then a
 * drain of SIZE_MAX (a flush's) takes *to_empty and a second one *left.
 * 0, or -1 if a push failed (the ring holds 2047). */
int pc_test_sendq_drain_after_cut(unsigned first, size_t budget, unsigned more, size_t *cut,
                                  size_t *to_empty, size_t *left);

/* A full ring (2047 messages) drained to empty while its own thread tries
 * to push one more for every message taken: *room_at is the count taken
 * when the first push went in (0: never), *taken what the drain took, and
 * *later what a second drain found. 0, or -1 if the ring did not fill. */
int pc_test_sendq_room_during_drain(size_t *room_at, size_t *taken, size_t *later);

/* One thread's order across its rings: the thread gets a small ring (a
 * retired one's successor), pushes 10 messages, a drain of 4 cuts the
 * ring's turn short (6 owed), it pushes 10 more, filling the small ring
 * so that the last goes into a bigger new one; then two drains of 100.
 * *received: messages drained; *disorder: messages that did not follow
 * their predecessor. 0, or -1 if the rings did not come about so. */
int pc_test_sendq_owed_then_grow(size_t *received, size_t *disorder);

/* Ring sizing after thread churn: `keep` threads fill their rings and stay
 * (keep_caps[k]: what each took), then `churn` threads one after another
 * fill theirs and exit, each followed by a full drain as the I/O thread
 * would run; *new_cap: what the ring of one more new thread takes. 0, or
 * -1 on failure. */
int pc_test_sendq_churn(unsigned budget, unsigned keep, unsigned churn, size_t *keep_caps,
                        size_t *new_cap);

/* One thread pushes `pushes` numbered messages into a send queue while
 * this thread drains it and retires its idle rings (pc_sendq_retire_idle)
 * after every drain, as an idle producer's loop would; every 1000 pushes
 * the sender pauses for two such passes, so rings do run empty. *retired: rings
 * freed that way; *received: messages drained; *disorder: messages that
 * did not follow their predecessor. 0, or -1 on failure. */
int pc_test_sendq_retire_race(unsigned pushes, size_t *retired, size_t *received, size_t *disorder);

/* Batched retirement (pc_sendq_retire_defer + pc_sendq_retire_batch) over
 * `queues` send queues fed by one thread. In step: it sends one message to
 * each, this thread drains them all, defers every queue and runs one batch
 * (step_*: defers that started a batch, rings freed, membarrier() calls,
 * live rings given back), then it sends one more to each (step_received:
 * messages drained over both). Then free running for `rounds` rounds while
 * this thread drains, defers and batches (race_*), the sender pausing for
 * two of those passes every 16 rounds so rings do run empty. 0, or -1 on failure. */
typedef struct pc_test_retire_batch {
  size_t first_defers, step_freed, step_received;
  unsigned long step_fences;
  long step_rings_given_back;
  size_t race_freed, race_batches, race_received, race_disorder;
  unsigned long race_fences;
} pc_test_retire_batch;
int pc_test_sendq_retire_batch(unsigned queues, unsigned rounds, pc_test_retire_batch *out);
/* Send rings made so far, process-wide (a producer back from idle gets a
 * new one). */
unsigned long pc_test_sendq_rings_made(void);
/* membarrier() calls the send queues made so far, process-wide. */
unsigned long pc_test_sendq_fences(void);

/* On loop 0's pool, two requests wait for one connection to host:port
 * (which must fail or succeed on its own); the callback of the one answered
 * first cancels the other. *cancelled_runs: how often the cancelled one's
 * callback ran anyway (0 is right). 0, or -1 if the scenario did not run. */
int pc_test_pool_cancel_in_delivery(pulsarc_client_t *client, const char *host, uint16_t port,
                                    int *cancelled_runs);

/* eventfd writes made so far to wake the client's I/O threads. */
uint64_t pc_test_client_wakes(pulsarc_client_t *client);
/* Payload bytes the client currently counts against memory_limit_bytes. */
int64_t pc_test_client_memory_used(pulsarc_client_t *client);
/* Producer polls (src/producer/route.c) so far, process-wide. */
uint64_t pc_test_producer_polls(void);
/* Wake syscalls made so far by completions of waiters (client/future.c),
 * process-wide. */
uint64_t pc_test_waiter_wakes(void);
#endif

#ifdef __cplusplus
}
#endif
#endif
