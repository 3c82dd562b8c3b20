/* pulsarc-rings: why a producer has one SPSC ring per sending thread
 * (pc_sendq) and not one shared multi-producer ring, measured.
 *
 * k application threads (1, 2, 4, 8, 16) each push N pc_msg records
 * describing 100-byte messages to one consumer thread, through
 *   sendq  the project's pc_sendq: per-thread Concurrency Kit SPSC rings,
 *          drained round robin with the I/O thread's drain budget, and
 *   ck     one Concurrency Kit ring: ck_ring_enqueue_mpsc (the same
 *          _ck_ring_enqueue_mp as ck_ring_enqueue_mpmc) + ck_ring_dequeue_spsc,
 *          or with --ck mpmc, ck_ring_enqueue_mpmc + ck_ring_dequeue_spmc,
 *          with at least the capacity the k rings of pc_sendq have together
 *          (their sum + 1, rounded up to a power of two, as ck requires).
 * A sender that finds its ring full sleeps on a futex until the consumer
 * has made room, as the library's senders do, in both modes (senders that
 * spin or yield would starve the consumer once threads outnumber cores);
 * the consumer polls (it never sleeps, unlike the I/O thread, so its
 * wake-ups are not measured here: bench/wakes.c does that). The consumer
 * checks that every thread's records arrive in the order it pushed them.
 *
 * Every run is a child process with a time limit: a multi-producer ck ring
 * convoys when threads outnumber cores (a claimer descheduled between its
 * CAS and its publish holds up every later producer), and a convoyed run
 * is reported as "did not finish", not waited for. Figures are the medians
 * of --reps runs (a run that did not finish counts as the slowest); a
 * configuration whose first run did not finish is not repeated. Prints one Markdown table on
 * stdout, each run on stderr.
 *
 *   pulsarc-rings [--per-thread N] [--reps R] [--threads 1,2,4,8,16]
 *                 [--timeout S] [--budget B] [--ck mpsc|mpmc] [--only sendq|ck]
 * Defaults: N = 1000000, R = 3, S = 30, B = 125 (the ring budget of a
 * producer with the default max_pending_messages = 1000: pc_sendq gets
 * max_pending / 8). */
#include <ck_pr.h>
#include <ck_ring.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The producer's internals this bench uses. */
#include "client/testing.h"
#include "common/futex.h"
#include "producer/sendq.h"

#define MAX_THREADS 64
#define MSG_LEN 100
#define DRAIN_BUDGET 4096 /* as the I/O thread drains */

CK_RING_PROTOTYPE(bench_msg, pc_msg)

typedef enum { MODE_SENDQ, MODE_CK } mode_t_;

typedef struct run {
  mode_t_ mode;
  bool ck_mpmc;
  unsigned threads;
  long per_thread;
  unsigned budget;
  unsigned ck_size; /* ck ring slots (capacity ck_size - 1) */
} run;

static struct {
  const run *r;
  pc_sendq q;
  ck_ring_t ring;
  pc_msg *slots;
  _Atomic unsigned ready;
  _Atomic bool go;
  _Atomic uint32_t room_seq; /* bumped by the consumer when it made room */
  _Atomic uint32_t waiters;  /* senders asleep on room_seq */
} g;

static const uint8_t payload[MSG_LEN];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 0 pushed, 1 full, -1 out of memory. */
static int try_push(const run *r, const pc_msg *m) {
  if (r->mode == MODE_SENDQ) {
    bool new_ring;
    return pc_sendq_push(&g.q, m, &new_ring);
  }
  pc_msg copy = *m;
  bool ok = r->ck_mpmc ? ck_ring_enqueue_mpmc_bench_msg(&g.ring, g.slots, &copy)
                       : ck_ring_enqueue_mpsc_bench_msg(&g.ring, g.slots, &copy);
  return ok ? 0 : 1;
}

static void *sender(void *arg) {
  uintptr_t tid = (uintptr_t)arg;
  const run *r = g.r;
  pc_msg m = {.data = payload, .len = MSG_LEN, .free_ctx = (void *)tid};
  atomic_fetch_add(&g.ready, 1);
  while (!atomic_load_explicit(&g.go, memory_order_acquire))
    sched_yield();
  for (long i = 0; i < r->per_thread; i++) {
    m.idx = (uint64_t)i;
    for (bool waited = false;;) {
      uint32_t seen = atomic_load(&g.room_seq);
      int rc = try_push(r, &m);
      if (rc < 0) {
        fprintf(stderr, "pulsarc-rings: ring allocation failed\n");
        _exit(3);
      }
      if (rc == 0) {
        if (waited)
          atomic_fetch_sub(&g.waiters, 1);
        break;
      }
      if (!waited) {
        /* Announce, then try once more: either that push sees the room or
         * the consumer sees the waiter (both sides are seq_cst). */
        atomic_fetch_add(&g.waiters, 1);
        waited = true;
        continue;
      }
      pc_futex_wait(&g.room_seq, seen, 1000000); /* 1 ms: a bound, not a poll */
    }
  }
  return NULL;
}

typedef struct consumer {
  uint64_t next[MAX_THREADS];
  uint64_t bytes;
  bool out_of_order;
} consumer;

static void consume(void *ctx, pc_msg *m) {
  consumer *c = ctx;
  uintptr_t tid = (uintptr_t)m->free_ctx;
  if (tid >= MAX_THREADS || m->idx != c->next[tid])
    c->out_of_order = true;
  else
    c->next[tid]++;
  c->bytes += m->len;
}

/* The child's whole run: returns nanoseconds from the start signal to the
 * last record consumed, or 0 on failure. */
static uint64_t run_child(const run *r) {
  g.r = r;
  if (r->mode == MODE_SENDQ) {
    pc_sendq_init(&g.q, r->budget);
  } else {
    g.slots = calloc(r->ck_size, sizeof *g.slots);
    if (g.slots == NULL)
      return 0;
    ck_ring_init(&g.ring, r->ck_size);
  }
  pthread_t t[MAX_THREADS];
  for (unsigned k = 0; k < r->threads; k++)
    if (pthread_create(&t[k], NULL, sender, (void *)(uintptr_t)k) != 0)
      return 0;
  while (atomic_load(&g.ready) < r->threads)
    sched_yield();
  static consumer c;
  uint64_t want = (uint64_t)r->threads * (uint64_t)r->per_thread, got = 0;
  uint64_t t0 = now_ns();
  atomic_store_explicit(&g.go, true, memory_order_release);
  while (got < want) {
    size_t n = 0;
    if (r->mode == MODE_SENDQ) {
      bool room;
      n = pc_sendq_drain(&g.q, DRAIN_BUDGET, consume, &c, &room);
    } else {
      pc_msg m;
      while (n < DRAIN_BUDGET &&
             (r->ck_mpmc ? ck_ring_dequeue_spmc_bench_msg(&g.ring, g.slots, &m)
                         : ck_ring_dequeue_spsc_bench_msg(&g.ring, g.slots, &m))) {
        consume(&c, &m);
        n++;
      }
    }
    if (n == 0) {
      ck_pr_stall();
    } else {
      /* Orders the takes before the read of waiters (see sender): a
       * seq_cst read-modify-write, a full barrier here, and unlike
       * atomic_thread_fence accepted by gcc's ThreadSanitizer build. */
      if (atomic_fetch_add(&g.waiters, 0) > 0) {
        atomic_fetch_add(&g.room_seq, 1);
        pc_futex_wake_all(&g.room_seq);
      }
    }
    got += n;
  }
  uint64_t t1 = now_ns();
  for (unsigned k = 0; k < r->threads; k++)
    pthread_join(t[k], NULL);
  if (c.out_of_order || c.bytes != want * MSG_LEN) {
    fprintf(stderr, "pulsarc-rings: records lost or out of order\n");
    return 0;
  }
  return t1 - t0;
}

/* Runs r in a child process: nanoseconds, 0 on failure, UINT64_MAX if it
 * did not finish within timeout_s. */
static uint64_t run_forked(const run *r, int timeout_s) {
  int fd[2];
  if (pipe(fd) != 0)
    return 0;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return 0;
  if (pid == 0) {
    close(fd[0]);
    uint64_t ns = run_child(r);
    ssize_t w = write(fd[1], &ns, sizeof ns);
    _exit(w == (ssize_t)sizeof ns ? 0 : 1);
  }
  close(fd[1]);
  uint64_t ns = 0;
  struct pollfd p = {.fd = fd[0], .events = POLLIN};
  int pr;
  while ((pr = poll(&p, 1, timeout_s * 1000)) < 0 && errno == EINTR) {
  }
  if (pr == 0) {
    kill(pid, SIGKILL);
    ns = UINT64_MAX;
  } else if (read(fd[0], &ns, sizeof ns) != (ssize_t)sizeof ns) {
    ns = 0;
  }
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  return ns;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Median of reps runs, UINT64_MAX if a run did not finish, 0 on failure. */
static uint64_t measure(const run *r, int reps, int timeout_s) {
  uint64_t ns[16];
  for (int i = 0; i < reps; i++) {
    ns[i] = run_forked(r, timeout_s);
    double per = ns[i] == UINT64_MAX || ns[i] == 0
                     ? 0
                     : (double)ns[i] / ((double)r->threads * (double)r->per_thread);
    fprintf(stderr, "%-5s threads=%-2u run=%d %s %.2f ns/msg\n",
            r->mode == MODE_SENDQ ? "sendq" : "ck", r->threads, i + 1,
            ns[i] == UINT64_MAX ? "did-not-finish"
            : ns[i] == 0        ? "failed"
                                : "ok",
            per);
    if (ns[i] == 0 || (i == 0 && ns[i] == UINT64_MAX))
      return ns[i];
  }
  qsort(ns, (size_t)reps, sizeof ns[0], cmp_u64);
  return ns[reps / 2];
}

static void cell(char *out, size_t len, uint64_t ns, const run *r, int timeout_s) {
  if (ns == UINT64_MAX) {
    snprintf(out, len, "did not finish in %d s | -", timeout_s);
  } else if (ns == 0) {
    snprintf(out, len, "failed | -");
  } else {
    double msgs = (double)r->threads * (double)r->per_thread;
    snprintf(out, len, "%.1f | %.1f", (double)ns / msgs, msgs / ((double)ns / 1e9) / 1e6);
  }
}

static unsigned pow2_ceil(size_t v) {
  unsigned p = 1;
  while (p < v)
    p <<= 1;
  return p;
}

int main(int argc, char **argv) {
  long per_thread = 1000000;
  int reps = 3, timeout_s = 30;
  unsigned budget = 1000 / 8;
  bool ck_mpmc = false, do_sendq = true, do_ck = true;
  unsigned threads[MAX_THREADS] = {1, 2, 4, 8, 16}, nthreads = 5;
  /* Every option takes a value: the pair is consumed at once. */
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL)
      goto usage;
    if (strcmp(a, "--per-thread") == 0)
      per_thread = atol(v);
    else if (strcmp(a, "--reps") == 0)
      reps = atoi(v);
    else if (strcmp(a, "--timeout") == 0)
      timeout_s = atoi(v);
    else if (strcmp(a, "--budget") == 0)
      budget = (unsigned)atol(v);
    else if (strcmp(a, "--ck") == 0 && (strcmp(v, "mpsc") == 0 || strcmp(v, "mpmc") == 0))
      ck_mpmc = strcmp(v, "mpmc") == 0;
    else if (strcmp(a, "--only") == 0 && (strcmp(v, "sendq") == 0 || strcmp(v, "ck") == 0)) {
      do_sendq = strcmp(v, "sendq") == 0;
      do_ck = !do_sendq;
    } else if (strcmp(a, "--threads") == 0) {
      nthreads = 0;
      for (char *s = (char *)v, *end; *s != '\0' && nthreads < MAX_THREADS; s = end) {
        long k = strtol(s, &end, 10);
        if (end == s || k < 1 || k > MAX_THREADS)
          goto usage;
        threads[nthreads++] = (unsigned)k;
        if (*end == ',')
          end++;
      }
    } else {
      goto usage;
    }
  }
  if (per_thread < 1 || reps < 1 || reps > 16 || timeout_s < 1 || budget < 1 || nthreads == 0)
    goto usage;

  printf("| threads | pc_sendq ns/msg | pc_sendq M msg/s | ck ring slots | ck_ring_enqueue_%s "
         "ns/msg | "
         "ck M msg/s |\n",
         ck_mpmc ? "mpmc" : "mpsc");
  printf("|---|---|---|---|---|---|\n");
  fflush(stdout);
  for (unsigned i = 0; i < nthreads; i++) {
    run r = {.ck_mpmc = ck_mpmc, .threads = threads[i], .per_thread = per_thread, .budget = budget};
    /* What the k rings of pc_sendq hold together, measured by filling them. */
    size_t caps[MAX_THREADS], total = 0;
    if (pc_test_sendq_fill(budget, r.threads, MSG_LEN, caps) != 0) {
      fprintf(stderr, "pulsarc-rings: capacity probe failed\n");
      return 1;
    }
    for (unsigned k = 0; k < r.threads; k++)
      total += caps[k];
    r.ck_size = pow2_ceil(total + 1);
    char a[64] = "- | -", b[64] = "- | -";
    if (do_sendq) {
      r.mode = MODE_SENDQ;
      cell(a, sizeof a, measure(&r, reps, timeout_s), &r, timeout_s);
    }
    if (do_ck) {
      r.mode = MODE_CK;
      cell(b, sizeof b, measure(&r, reps, timeout_s), &r, timeout_s);
    }
    printf("| %u | %s | %u | %s |\n", r.threads, a, r.ck_size, b);
    fflush(stdout);
  }
  return 0;

usage:
  fprintf(stderr, "usage: pulsarc-rings [--per-thread N] [--reps R (1-16)] [--threads 1,2,4,8,16]\n"
                  "                     [--timeout S] [--budget B] [--ck mpsc|mpmc] "
                  "[--only sendq|ck]\n");
  return 2;
}
