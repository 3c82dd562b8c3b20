/* The I/O loop. Design notes:
 *
 * - epoll is level-triggered. Connections bound how much they read per
 *   iteration (fairness between sockets); with level triggering the rest of
 *   the data is simply reported again by the next epoll_wait, so no private
 *   "still readable" list is needed and a missed EAGAIN can never stall a
 *   socket. EPOLLOUT is only registered while a socket has unwritten data,
 *   so level triggering costs no spurious wake-ups.
 * - Timers live in a binary min-heap of pointers; each timer knows its index
 *   so cancel/re-arm is O(log n) with no search.
 * - Posted tasks: a ck_stack pushed from any thread (lock-free, a producer
 *   never waits on another one), popped as a whole batch by the loop and
 *   reversed to get post order.
 * - Sleep protocol (coalesced wake-ups): before blocking, the loop stores
 *   sleeping = 1, then re-checks the task stack and every poller's
 *   has_work(); a sender enqueues, then reads `sleeping` and writes the
 *   eventfd only if it wins the exchange 1 -> 0. Both sides put a full fence
 *   between their store and their load (Dekker), so either the loop sees the
 *   new work or the sender sees sleeping == 1. (An asymmetric fence, with
 *   membarrier() on the loop's side, was measured: no gain at 100 B once
 *   `sleeping` had its own cache line, and 15% less throughput at 16 KiB,
 *   where the loop sleeps often and each membarrier costs an IPI.) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "loop/loop.h"

#include <ck_stack.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/thread.h"
#include "loop/resolver.h"

#define PC_LOOP_MAX_EVENTS 64

#include "common/stack.h"

typedef struct pc_task {
  ck_stack_entry_t entry; /* first member: the stack entry is the task */
  void (*fn)(pc_loop *loop, void *arg);
  void *arg;
} pc_task;

struct pc_loop {
  int index;
  const pc_logger *log;
  int epfd;
  int evfd;
  pc_io evio;

  pthread_t thread;
  bool started;
  bool joined;
  bool stop; /* [loop] set by the stop task */

  /* Senders read `sleeping` on every send and write wake_writes when they
   * signal; the loop writes `now` and the fields below on every turn. Each
   * gets its own cache line, or every send would miss on the loop's line. */
  _Alignas(64) atomic_int sleeping;
  _Alignas(64) atomic_uint_fast64_t wake_writes;

  _Alignas(64) uint64_t now;
  uint64_t busy_poll_ns;  /* see pc_loop_set_busy_poll */
  _Atomic uint32_t kicks; /* see pc_loop_kick */
  uint64_t last_work_ns;

  pc_timer **heap;
  size_t heap_len, heap_cap;

  _Alignas(64) pc_loop_counters counters;

  pc_poller *pollers;
  pc_poller *poll_cursor; /* next poller to run; fixed up by pc_poller_del */
  /* Parked pollers that senders gave work (a Treiber stack: pushed from any
   * thread, taken whole by the loop). Its own line: senders write it. */
  _Alignas(64) pc_poller *ready; /* __atomic builtins */

  ck_stack_t tasks;

  /* Events of the batch being dispatched; pc_io_del clears entries of a
   * removed io so a callback may delete (and free) another io safely. */
  struct epoll_event events[PC_LOOP_MAX_EVENTS];
  int ev_count, ev_pos;
};

static _Thread_local pc_loop *tl_current;

/* ------------------------------------------------------------------ timers */

static bool heap_less(const pc_timer *a, const pc_timer *b) {
  return a->deadline_ns < b->deadline_ns;
}

static void heap_set(pc_loop *l, size_t i, pc_timer *t) {
  l->heap[i] = t;
  t->heap_index = i;
}

static void heap_up(pc_loop *l, size_t i) {
  pc_timer *t = l->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_less(t, l->heap[p]))
      break;
    heap_set(l, i, l->heap[p]);
    i = p;
  }
  heap_set(l, i, t);
}

static void heap_down(pc_loop *l, size_t i) {
  pc_timer *t = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->heap_len)
      break;
    if (c + 1 < l->heap_len && heap_less(l->heap[c + 1], l->heap[c]))
      c++;
    if (!heap_less(l->heap[c], t))
      break;
    heap_set(l, i, l->heap[c]);
    i = c;
  }
  heap_set(l, i, t);
}

static void heap_remove(pc_loop *l, pc_timer *t) {
  size_t i = t->heap_index;
  t->heap_index = SIZE_MAX;
  l->heap_len--;
  if (i == l->heap_len)
    return;
  pc_timer *last = l->heap[l->heap_len];
  heap_set(l, i, last);
  if (i > 0 && heap_less(last, l->heap[(i - 1) / 2]))
    heap_up(l, i);
  else
    heap_down(l, i);
}

void pc_timer_init(pc_timer *t, pc_timer_fn fn, void *ctx) {
  t->deadline_ns = 0;
  t->heap_index = SIZE_MAX;
  t->fn = fn;
  t->ctx = ctx;
}

void pc_timer_start(pc_loop *loop, pc_timer *t, uint64_t delay_ns) {
  if (pc_timer_armed(t))
    heap_remove(loop, t);
  if (loop->heap_len == loop->heap_cap) {
    size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
    pc_timer **h = realloc(loop->heap, cap * sizeof *h);
    if (h == NULL) {
      /* No way to report from here; a timer that never fires is a leak the
       * owner's own timeout would not catch, so make the failure loud. */
      PC_ERROR(loop->log, "pulsarc-io-%d: out of memory arming a timer", loop->index);
      abort();
    }
    loop->heap = h;
    loop->heap_cap = cap;
  }
  uint64_t now = loop->now;
  t->deadline_ns = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
  loop->heap[loop->heap_len] = t;
  t->heap_index = loop->heap_len++;
  heap_up(loop, t->heap_index);
}

void pc_timer_cancel(pc_loop *loop, pc_timer *t) {
  if (pc_timer_armed(t))
    heap_remove(loop, t);
}

/* [loop] A callback may re-arm its own timer with delay 0; the budget (heap
 * size at entry) keeps that from spinning inside one pass. */
static bool run_timers(pc_loop *l) {
  size_t budget = l->heap_len;
  bool ran = false;
  while (budget-- > 0 && l->heap_len > 0 && l->heap[0]->deadline_ns <= l->now) {
    pc_timer *t = l->heap[0];
    heap_remove(l, t);
    t->fn(l, t);
    ran = true;
  }
  return ran;
}

/* ---------------------------------------------------------------------- io */

int pc_io_add(pc_loop *loop, pc_io *io, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = io};
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) != 0)
    return -errno;
  io->events = events;
  return 0;
}

int pc_io_mod(pc_loop *loop, pc_io *io, uint32_t events) {
  if (io->events == events)
    return 0;
  struct epoll_event ev = {.events = events, .data.ptr = io};
  if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
    return -errno;
  io->events = events;
  return 0;
}

void pc_io_del(pc_loop *loop, pc_io *io) {
  epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
  io->events = 0;
  for (int i = loop->ev_pos; i < loop->ev_count; i++)
    if (loop->events[i].data.ptr == io)
      loop->events[i].data.ptr = NULL;
}

/* ----------------------------------------------------------------- pollers */

static void poller_link(pc_loop *loop, pc_poller *p) {
  p->prev = NULL;
  p->next = loop->pollers;
  if (loop->pollers)
    loop->pollers->prev = p;
  loop->pollers = p;
}

void pc_poller_add(pc_loop *loop, pc_poller *p) {
  /* Stores, not atomic_init: a sender may already read `park` (its
   * producer's start task has not run yet; it reads LISTED either way). */
  __atomic_store_n(&p->park, PC_POLLER_LISTED, __ATOMIC_RELAXED);
  __atomic_store_n(&p->ready_next, NULL, __ATOMIC_RELAXED);
  poller_link(loop, p);
}

static void poller_unlink(pc_loop *loop, pc_poller *p) {
  if (loop->poll_cursor == p)
    loop->poll_cursor = p->next;
  if (p->prev)
    p->prev->next = p->next;
  else if (loop->pollers == p)
    loop->pollers = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

/* [loop] Lists the pollers senders queued (their state is QUEUED, which
 * only the loop changes). */
static void take_ready(pc_loop *l) {
  pc_poller *p = __atomic_exchange_n(&l->ready, NULL, __ATOMIC_ACQUIRE);
  while (p != NULL) {
    pc_poller *next = __atomic_load_n(&p->ready_next, __ATOMIC_RELAXED);
    __atomic_store_n(&p->ready_next, NULL, __ATOMIC_RELAXED);
    if (__atomic_load_n(&p->park, __ATOMIC_RELAXED) == PC_POLLER_QUEUED) {
      __atomic_store_n(&p->park, PC_POLLER_LISTED, __ATOMIC_RELAXED);
      poller_link(l, p);
    }
    p = next;
  }
}

void pc_poller_del(pc_loop *loop, pc_poller *p) {
  int s = __atomic_exchange_n(&p->park, PC_POLLER_GONE, __ATOMIC_SEQ_CST);
  if (s == PC_POLLER_QUEUED) {
    /* Still in the ready stack: empty it now, so no pointer to p is left
     * once its owner frees it (GONE pollers are skipped). */
    take_ready(loop);
  } else if (s == PC_POLLER_LISTED) {
    poller_unlink(loop, p);
  }
}

void pc_poller_park(pc_loop *loop, pc_poller *p) {
  if (__atomic_load_n(&p->park, __ATOMIC_RELAXED) != PC_POLLER_LISTED)
    return;
  poller_unlink(loop, p);
  __atomic_store_n(&p->park, PC_POLLER_PARKED, __ATOMIC_SEQ_CST);
  /* Pairs with the fence in pc_loop_wake_poller: either the sender sees
   * PARKED and queues p, or this sees the sender's work. */
  atomic_thread_fence(memory_order_seq_cst);
  if (p->has_work(p))
    pc_poller_unpark(loop, p);
}

void pc_poller_unpark(pc_loop *loop, pc_poller *p) {
  if (__atomic_load_n(&p->park, __ATOMIC_RELAXED) != PC_POLLER_PARKED)
    return;
  int expect = PC_POLLER_PARKED;
  /* A failed exchange means a sender queued p: take_ready lists it. */
  if (__atomic_compare_exchange_n(&p->park, &expect, PC_POLLER_LISTED, false, __ATOMIC_SEQ_CST,
                                  __ATOMIC_RELAXED))
    poller_link(loop, p);
}

static bool run_pollers(pc_loop *l) {
  bool did = false;
  if (__atomic_load_n(&l->ready, __ATOMIC_RELAXED) != NULL)
    take_ready(l);
  l->poll_cursor = l->pollers;
  while (l->poll_cursor) {
    pc_poller *p = l->poll_cursor;
    l->poll_cursor = p->next;
    if (p->poll(l, p))
      did = true;
  }
  return did;
}

static bool pollers_have_work(pc_loop *l) {
  for (pc_poller *p = l->pollers; p; p = p->next)
    if (p->has_work(p))
      return true;
  return false;
}

/* ------------------------------------------------------------------- tasks */

int pc_loop_post(pc_loop *loop, void (*fn)(pc_loop *loop, void *arg), void *arg) {
  pc_task *t = malloc(sizeof *t);
  if (t == NULL)
    return -1;
  t->fn = fn;
  t->arg = arg;
  pc_stack_push(&loop->tasks, &t->entry);
  pc_loop_wake(loop);
  return 0;
}

static bool tasks_pending(pc_loop *l) { return ck_pr_load_ptr(&l->tasks.head) != NULL; }

/* [loop] Runs one batch (everything posted so far), oldest first. */
static bool run_tasks(pc_loop *l) {
  ck_stack_entry_t *e = pc_stack_pop_all(&l->tasks);
  if (e == NULL)
    return false;
  ck_stack_entry_t *fifo = NULL;
  while (e) {
    ck_stack_entry_t *next = e->next;
    e->next = fifo;
    fifo = e;
    e = next;
  }
  while (fifo) {
    pc_task *t = (pc_task *)fifo;
    fifo = fifo->next;
    t->fn(l, t->arg);
    free(t);
  }
  return true;
}

/* --------------------------------------------------------------- wake-ups */

static void evfd_signal(pc_loop *l) {
  uint64_t one = 1;
  ssize_t r;
  do {
    r = write(l->evfd, &one, sizeof one);
  } while (r < 0 && errno == EINTR);
  /* EAGAIN means the counter is already huge: the loop is awake anyway. */
  atomic_fetch_add_explicit(&l->wake_writes, 1, memory_order_relaxed);
}

void pc_loop_wake(pc_loop *loop) {
  /* Orders the caller's enqueue before the read of `sleeping`. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&loop->sleeping, memory_order_relaxed) == 1 &&
      atomic_exchange(&loop->sleeping, 0) == 1)
    evfd_signal(loop);
}

void pc_loop_wake_poller(pc_loop *loop, pc_poller *p) {
  /* Orders the caller's enqueue before the reads of `park` and `sleeping`
   * (pc_poller_park and the sleep protocol re-check after their stores). */
  atomic_thread_fence(memory_order_seq_cst);
  int expect = PC_POLLER_PARKED;
  if (__atomic_load_n(&p->park, __ATOMIC_RELAXED) == PC_POLLER_PARKED &&
      __atomic_compare_exchange_n(&p->park, &expect, PC_POLLER_QUEUED, false, __ATOMIC_SEQ_CST,
                                  __ATOMIC_RELAXED)) {
    pc_poller *head = __atomic_load_n(&loop->ready, __ATOMIC_RELAXED);
    do {
      __atomic_store_n(&p->ready_next, head, __ATOMIC_RELAXED);
    } while (!__atomic_compare_exchange_n(&loop->ready, &head, p, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
  }
  if (atomic_load_explicit(&loop->sleeping, memory_order_relaxed) == 1 &&
      atomic_exchange(&loop->sleeping, 0) == 1)
    evfd_signal(loop);
}

void pc_loop_wake_force(pc_loop *loop) { evfd_signal(loop); }

void pc_loop_kick(pc_loop *loop) {
  atomic_fetch_add_explicit(&loop->kicks, 1, memory_order_release);
  pc_loop_wake(loop);
}

uint32_t pc_loop_kicks(const pc_loop *loop) {
  return atomic_load_explicit(&((pc_loop *)loop)->kicks, memory_order_acquire);
}

uint64_t pc_loop_wake_count(const pc_loop *loop) {
  return atomic_load_explicit(&((pc_loop *)loop)->wake_writes, memory_order_relaxed);
}

static void evfd_readable(pc_loop *loop, pc_io *io, uint32_t events) {
  (void)events;
  (void)io;
  uint64_t v;
  while (read(loop->evfd, &v, sizeof v) < 0 && errno == EINTR) {
  }
}

/* -------------------------------------------------------------------- loop */

uint64_t pc_loop_now(const pc_loop *loop) { return loop->now; }
pc_loop *pc_loop_current(void) { return tl_current; }
pc_loop_counters *pc_loop_counters_of(pc_loop *loop) { return &loop->counters; }
void pc_loop_set_busy_poll(pc_loop *loop, uint64_t ns) { loop->busy_poll_ns = ns; }
int pc_loop_index(const pc_loop *loop) { return loop->index; }
const pc_logger *pc_loop_logger(const pc_loop *loop) { return loop->log; }

pc_loop *pc_loop_new(int index, const pc_logger *log) {
  /* Aligned, so the cache-line separation above holds in memory. */
  pc_loop *l = aligned_alloc(64, sizeof *l);
  if (l == NULL)
    return NULL;
  memset(l, 0, sizeof *l);
  l->index = index;
  l->log = log;
  l->evfd = -1;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0)
    goto fail;
  l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->evfd < 0)
    goto fail;
  atomic_init(&l->sleeping, 0);
  atomic_init(&l->wake_writes, 0);
  l->now = pc_mono_ns();
  l->evio.fd = l->evfd;
  l->evio.fn = evfd_readable;
  l->evio.ctx = l;
  if (pc_io_add(l, &l->evio, EPOLLIN) != 0)
    goto fail;
  return l;
fail:
  PC_ERROR(log, "pulsarc-io-%d: cannot create epoll/eventfd: %s", index, strerror(errno));
  if (l->evfd >= 0)
    close(l->evfd);
  if (l->epfd >= 0)
    close(l->epfd);
  free(l);
  return NULL;
}

static int ms_until(uint64_t now, uint64_t deadline) {
  if (deadline <= now)
    return 0;
  uint64_t ms = (deadline - now + 999999) / 1000000; /* round up: never spin early */
  return ms > 60000 ? 60000 : (int)ms;
}

static void dispatch_events(pc_loop *l, int n) {
  l->ev_count = n;
  for (l->ev_pos = 0; l->ev_pos < l->ev_count;) {
    struct epoll_event *e = &l->events[l->ev_pos++];
    pc_io *io = e->data.ptr;
    if (io != NULL)
      io->fn(l, io, e->events);
  }
  l->ev_count = l->ev_pos = 0;
}

static void *loop_main(void *arg) {
  pc_loop *l = arg;
  tl_current = l;
  PC_DEBUG(l->log, "pulsarc-io-%d: started", l->index);
  while (!l->stop) {
    l->now = pc_mono_ns();
    bool busy = run_timers(l);
    busy |= run_tasks(l);
    busy |= run_pollers(l);
    if (l->stop)
      break;

    int timeout = 0;
    if (busy)
      l->last_work_ns = l->now;
    else if (l->busy_poll_ns != 0 && l->now - l->last_work_ns < l->busy_poll_ns)
      busy = true; /* keep polling: epoll_wait below returns at once */
    if (!busy) {
      atomic_store(&l->sleeping, 1);
      atomic_thread_fence(memory_order_seq_cst);
      if (tasks_pending(l) || __atomic_load_n(&l->ready, __ATOMIC_SEQ_CST) != NULL ||
          pollers_have_work(l)) {
        atomic_store(&l->sleeping, 0);
      } else if (l->heap_len > 0) {
        timeout = ms_until(pc_mono_ns(), l->heap[0]->deadline_ns);
      } else {
        timeout = -1;
      }
    }
    int n = epoll_wait(l->epfd, l->events, PC_LOOP_MAX_EVENTS, timeout);
    /* Whoever woke us, later senders need not write the eventfd until we
     * advertise sleep again. */
    atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
    if (n < 0) {
      if (errno != EINTR)
        PC_ERROR(l->log, "pulsarc-io-%d: epoll_wait: %s", l->index, strerror(errno));
      continue;
    }
    if (n > 0) {
      l->now = pc_mono_ns();
      dispatch_events(l, n);
    }
  }
  /* Tasks posted before (or racing with) stop still run, on this thread. */
  while (run_tasks(l)) {
  }
  PC_DEBUG(l->log, "pulsarc-io-%d: stopped", l->index);
  tl_current = NULL;
  return NULL;
}

int pc_loop_start(pc_loop *loop) {
  if (loop->started)
    return -EALREADY;
  pthread_attr_t attr;
  int rc = pc_thread_attr_init(&attr);
  if (rc != 0)
    return -rc;
  rc = pthread_create(&loop->thread, &attr, loop_main, loop);
  pthread_attr_destroy(&attr);
  if (rc != 0)
    return -rc;
  loop->started = true;
  char name[16];
  snprintf(name, sizeof name, "pulsarc-io-%d", loop->index);
  pthread_setname_np(loop->thread, name);
  return 0;
}

static void stop_task(pc_loop *loop, void *arg) {
  (void)arg;
  loop->stop = true;
}

void pc_loop_stop(pc_loop *loop) {
  if (!loop->started || loop->joined)
    return;
  if (pc_loop_current() == loop) { /* joining ourselves would hang forever */
    PC_ERROR(loop->log, "pulsarc-io-%d: pc_loop_stop called on its own thread", loop->index);
    return;
  }
  if (pc_loop_post(loop, stop_task, NULL) != 0) {
    /* Out of memory: the flag is only read by the loop thread after a
     * wake-up, and a plain store is enough for a thread we join below. */
    __atomic_store_n(&loop->stop, true, __ATOMIC_SEQ_CST);
    pc_loop_wake_force(loop);
  }
  pthread_join(loop->thread, NULL);
  loop->joined = true;
  pc_resolver_forget_loop(loop);
}

void pc_loop_free(pc_loop *loop) {
  if (loop == NULL)
    return;
  if (loop->started && !loop->joined)
    pc_loop_stop(loop);
  pc_resolver_forget_loop(loop);
  /* Tasks posted after stop never run; their nodes are ours to free. */
  ck_stack_entry_t *e = pc_stack_pop_all(&loop->tasks);
  size_t dropped = 0;
  while (e) {
    ck_stack_entry_t *next = e->next;
    free(e);
    dropped++;
    e = next;
  }
  if (dropped)
    PC_WARN(loop->log, "pulsarc-io-%d: %zu task(s) posted after stop dropped", loop->index,
            dropped);
  for (size_t i = 0; i < loop->heap_len; i++)
    loop->heap[i]->heap_index = SIZE_MAX;
  free(loop->heap);
  close(loop->evfd);
  close(loop->epfd);
  free(loop);
}
