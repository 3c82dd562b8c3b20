/* The I/O thread: one epoll loop with an eventfd for wake-ups, a timer heap,
 * a task queue for work posted from other threads, and "pollers" (the
 * producers' send rings) drained every iteration.
 *
 * Functions marked [loop] may only be called on the loop's own thread;
 * [any] from any thread. */
#ifndef PULSARC_LOOP_LOOP_H
#define PULSARC_LOOP_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/histogram.h"
#include "common/log.h"

typedef struct pc_loop pc_loop;

/* ---- timers ---- */
typedef struct pc_timer pc_timer;
typedef void (*pc_timer_fn)(pc_loop *loop, pc_timer *t);
struct pc_timer {
  uint64_t deadline_ns; /* monotonic */
  size_t heap_index;    /* position in the heap; SIZE_MAX when not armed */
  pc_timer_fn fn;
  void *ctx;
};
/* [any] Prepares a timer (not armed). */
void pc_timer_init(pc_timer *t, pc_timer_fn fn, void *ctx);
/* [loop] Arms (or re-arms) t to fire delay_ns from now. */
void pc_timer_start(pc_loop *loop, pc_timer *t, uint64_t delay_ns);
/* [loop] Disarms t; harmless if not armed. */
void pc_timer_cancel(pc_loop *loop, pc_timer *t);
static inline bool pc_timer_armed(const pc_timer *t) { return t->heap_index != (size_t)-1; }

/* ---- file descriptors ---- */
typedef struct pc_io pc_io;
/* events: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits as reported by epoll. */
typedef void (*pc_io_fn)(pc_loop *loop, pc_io *io, uint32_t events);
struct pc_io {
  int fd;
  uint32_t events; /* currently registered */
  pc_io_fn fn;
  void *ctx;
};
/* [loop] Register / change / remove interest. 0 or -errno. */
int pc_io_add(pc_loop *loop, pc_io *io, uint32_t events);
int pc_io_mod(pc_loop *loop, pc_io *io, uint32_t events);
void pc_io_del(pc_loop *loop, pc_io *io);

/* ---- pollers: sources of work that are not file descriptors ---- */
/* A listed poller runs on every iteration. A poller with nothing to do can
 * park: it leaves the list, so thousands of idle producers cost the loop
 * nothing, and comes back when work arrives (pc_loop_wake_poller from the
 * thread that queued the work, pc_poller_unpark on the loop). */
enum { PC_POLLER_LISTED = 0, PC_POLLER_PARKED = 1, PC_POLLER_QUEUED = 2, PC_POLLER_GONE = 3 };
typedef struct pc_poller pc_poller;
struct pc_poller {
  /* [loop] Do pending work; return true if anything was done. */
  bool (*poll)(pc_loop *loop, pc_poller *p);
  /* [loop] Cheap check made after the loop advertised that it is going to
   * sleep: true if poll would find work (the loop then does not sleep). */
  bool (*has_work)(pc_poller *p);
  void *ctx;
  pc_poller *prev, *next; /* owned by the loop */
  /* PC_POLLER_*: the loop's, but senders move PARKED -> QUEUED. Plain
   * types used through __atomic builtins: C++ tests include this header. */
  int park;
  pc_poller *ready_next; /* in the loop's stack of pollers to list again */
};
/* [loop] */
void pc_poller_add(pc_loop *loop, pc_poller *p);
void pc_poller_del(pc_loop *loop, pc_poller *p);
/* [loop] Takes p off the list until work arrives for it. Re-checks
 * has_work after parking (the Dekker pair of pc_loop_wake_poller), so work
 * queued meanwhile is never left behind. */
void pc_poller_park(pc_loop *loop, pc_poller *p);
/* [loop] Lists a parked p again (work made on the loop itself). */
void pc_poller_unpark(pc_loop *loop, pc_poller *p);
static inline bool pc_poller_parked(const pc_poller *p) {
  return __atomic_load_n(&p->park, __ATOMIC_RELAXED) != PC_POLLER_LISTED;
}

/* ---- the loop ---- */
/* [any] Creates the epoll set and eventfd; does not start the thread.
 * index names the thread in logs ("pulsarc-io-N"). NULL on failure. */
pc_loop *pc_loop_new(int index, const pc_logger *log);
/* [any, before pc_loop_start] After its last piece of work the loop keeps
 * polling, without sleeping, for this long (0, the default: sleep at
 * once). Trades a core's worth of CPU during that time for the wake-up
 * latency of the next message or receipt. */
void pc_loop_set_busy_poll(pc_loop *loop, uint64_t ns);
/* [any] Starts the thread. 0 or -errno. */
int pc_loop_start(pc_loop *loop);
/* [any, not the loop] Runs every task already posted, stops the thread and
 * joins it. */
void pc_loop_stop(pc_loop *loop);
/* [any, not the loop] Frees a stopped loop. */
void pc_loop_free(pc_loop *loop);

/* [any] Runs fn(arg) on the loop thread soon, in post order. Allocates a
 * task node: for control operations, never per message. 0 or -1. */
int pc_loop_post(pc_loop *loop, void (*fn)(pc_loop *loop, void *arg), void *arg);

/* [any] Wakes the loop if it advertised that it is sleeping (coalesced: at
 * most one eventfd write per sleep). Called by senders after enqueueing. */
void pc_loop_wake(pc_loop *loop);
/* [any] pc_loop_wake for work queued to poller p: lists p again first if it
 * is parked (one relaxed load when it is not: no extra atomic operation on
 * a busy producer's path). */
void pc_loop_wake_poller(pc_loop *loop, pc_poller *p);
/* [any] Wakes the loop unconditionally (rare events). */
void pc_loop_wake_force(pc_loop *loop);
/* [any] Tells the loop's pollers that something they may be holding back
 * is now waited for (a future): bumps a counter they compare, and wakes. */
void pc_loop_kick(pc_loop *loop);
/* [loop] The kick counter. */
uint32_t pc_loop_kicks(const pc_loop *loop);
/* Number of eventfd writes so far (for the hot-path test and the bench). */
uint64_t pc_loop_wake_count(const pc_loop *loop);

/* [loop] Monotonic time, refreshed every iteration. */
uint64_t pc_loop_now(const pc_loop *loop);

/* What the loop's connections and lookups did, for pulsarc_client_stats:
 * written by the loop thread only (pc_stat_add), read from any thread. */
typedef struct pc_loop_counters {
  pc_stat frames_in, frames_out, bytes_in, bytes_out;
  pc_stat conns_opened, conns_failed, conns_closed;
  pc_stat lookups, lookups_failed, partition_metadata;
} pc_loop_counters;
/* [any] The loop's counters (they live as long as the loop). */
pc_loop_counters *pc_loop_counters_of(pc_loop *loop);
/* [any] The loop whose thread is calling, or NULL on any other thread. */
pc_loop *pc_loop_current(void);
/* [any] True on any library I/O thread (for wrong-thread checks). */
static inline bool pc_on_library_thread(void) { return pc_loop_current() != NULL; }
int pc_loop_index(const pc_loop *loop);
const pc_logger *pc_loop_logger(const pc_loop *loop);

#endif
