/* Probes of the send queue for the tests (client/testing.h): threads that
 * fill rings, drains as the I/O thread runs them, retirement under a live
 * sender. Built only with test hooks; the shipped library has none of it. */
#ifdef PULSARC_TEST_HOOKS
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "client/testing.h"
#include "producer/sendq.h"

typedef struct fill_arg {
  pc_sendq *q;
  uint32_t len;
  size_t n;
} fill_arg;

static void *fill_ring(void *p) {
  fill_arg *a = p;
  pc_msg m = {.len = a->len};
  bool new_ring;
  while (a->n < (1u << 20) && pc_sendq_push(a->q, &m, &new_ring) == 0)
    a->n++;
  return NULL;
}

static void drop_msg(void *ctx, pc_msg *m) {
  (void)ctx;
  (void)m;
}

int pc_test_sendq_fill(unsigned budget, unsigned threads, uint32_t msg_len, size_t *caps) {
  pc_sendq q;
  pc_sendq_init(&q, budget);
  int rc = 0;
  for (unsigned k = 0; k < threads && rc == 0; k++) {
    fill_arg a = {&q, msg_len, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, fill_ring, &a) != 0) {
      rc = -1;
      break;
    }
    pthread_join(t, NULL);
    caps[k] = a.n;
  }
  pc_sendq_destroy(&q, drop_msg, NULL);
  return rc;
}
/* A sending thread that fills its ring on command and stays alive, so its
 * ring stays registered between drains. */
enum { SENDER_IDLE, SENDER_FILL, SENDER_EXIT };

typedef struct sender {
  pthread_t t;
  pc_sendq *q;
  uintptr_t tag; /* travels in pc_msg.free_ctx */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int cmd;
  size_t pushed; /* by the last fill */
} sender;

static void *sender_main(void *p) {
  sender *s = p;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->cmd == SENDER_IDLE)
      pthread_cond_wait(&s->cv, &s->mu);
    if (s->cmd == SENDER_EXIT)
      break;
    pthread_mutex_unlock(&s->mu);
    pc_msg m = {.len = 100, .free_ctx = (void *)s->tag};
    bool new_ring;
    size_t n = 0;
    while (n < (1u << 20) && pc_sendq_push(s->q, &m, &new_ring) == 0)
      n++;
    pthread_mutex_lock(&s->mu);
    s->pushed = n;
    s->cmd = SENDER_IDLE;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static int sender_start(sender *s, pc_sendq *q, uintptr_t tag) {
  memset(s, 0, sizeof *s);
  s->q = q;
  s->tag = tag;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (pthread_create(&s->t, NULL, sender_main, s) == 0)
    return 0;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  return -1;
}

/* Fills the sender's ring and returns how many messages it took. */
static size_t sender_fill(sender *s) {
  pthread_mutex_lock(&s->mu);
  s->cmd = SENDER_FILL;
  pthread_cond_broadcast(&s->cv);
  while (s->cmd != SENDER_IDLE)
    pthread_cond_wait(&s->cv, &s->mu);
  size_t n = s->pushed;
  pthread_mutex_unlock(&s->mu);
  return n;
}

static void sender_stop(sender *s) {
  pthread_mutex_lock(&s->mu);
  s->cmd = SENDER_EXIT;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->t, NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

typedef struct fair_count {
  size_t *taken; /* per tag */
  unsigned n;
} fair_count;

static void count_msg(void *ctx, pc_msg *m) {
  fair_count *c = ctx;
  uintptr_t tag = (uintptr_t)m->free_ctx;
  if (tag < c->n)
    c->taken[tag]++;
}

int pc_test_sendq_fairness(unsigned waiting, unsigned busy, size_t budget, unsigned passes,
                           unsigned *done_pass, size_t *busy_taken) {
  unsigned n = waiting + busy;
  pc_sendq q;
  pc_sendq_init(&q, 1000 / 8);
  sender *s = calloc(n, sizeof *s);
  size_t *filled = calloc(n, sizeof *filled);
  fair_count c = {calloc(n, sizeof *c.taken), n};
  unsigned started = 0;
  int rc = s && filled && c.taken ? 0 : -1;
  bool room;
  for (unsigned k = 0; k < waiting && rc == 0; k++, started++)
    if ((rc = sender_start(&s[k], &q, k)) == 0)
      filled[k] = sender_fill(&s[k]);
  if (rc == 0)
    pc_sendq_drain(&q, budget, count_msg, &c, &room); /* the loop met them first */
  for (unsigned k = waiting; k < n && rc == 0; k++, started++)
    if ((rc = sender_start(&s[k], &q, k)) == 0)
      sender_fill(&s[k]);
  for (unsigned k = 0; k < waiting && rc == 0; k++)
    done_pass[k] = c.taken[k] == filled[k] ? 1 : 0;
  for (unsigned pass = 2; pass <= passes && rc == 0; pass++) {
    pc_sendq_drain(&q, budget, count_msg, &c, &room);
    for (unsigned k = 0; k < waiting; k++)
      if (done_pass[k] == 0 && c.taken[k] == filled[k])
        done_pass[k] = pass;
    for (unsigned k = waiting; k < n; k++)
      sender_fill(&s[k]); /* the busy threads keep their rings full */
  }
  for (unsigned k = waiting; k < n && rc == 0; k++)
    busy_taken[k - waiting] = c.taken[k];
  for (unsigned k = 0; k < started; k++)
    sender_stop(&s[k]);
  pc_sendq_destroy(&q, drop_msg, NULL);
  free(s);
  free(filled);
  free(c.taken);
  return rc;
}

typedef struct counted {
  size_t n;
} counted;

static void count_one(void *ctx, pc_msg *m) {
  (void)m;
  ((counted *)ctx)->n++;
}

int pc_test_sendq_drain_after_cut(unsigned first, size_t budget, unsigned more, size_t *cut,
                                  size_t *to_empty, size_t *left) {
  pc_sendq q;
  pc_sendq_init(&q, 1000000);
  pc_msg m = {.len = 100};
  bool new_ring, room;
  int rc = 0;
  for (unsigned i = 0; i < first + more && rc == 0; i++) {
    if (pc_sendq_push(&q, &m, &new_ring) != 0)
      rc = -1;
    if (i + 1 == first) {
      counted c = {0};
      pc_sendq_drain(&q, budget, count_one, &c, &room);
      *cut = c.n;
    }
  }
  counted all = {0}, rest = {0};
  pc_sendq_drain(&q, SIZE_MAX, count_one, &all, &room);
  pc_sendq_drain(&q, SIZE_MAX, count_one, &rest, &room);
  *to_empty = all.n;
  *left = rest.n;
  pc_sendq_destroy(&q, drop_msg, NULL);
  return rc;
}

typedef struct room_probe {
  pc_sendq *q;
  size_t taken, room_at;
} room_probe;

/* [drain] Each message taken, the ring's own thread tries to push one
 * more: the first that goes in says when the drain gave slots back. */
static void push_while_draining(void *ctx, pc_msg *m) {
  room_probe *r = ctx;
  r->taken++;
  bool new_ring;
  if (r->room_at == 0 && pc_sendq_push(r->q, m, &new_ring) == 0)
    r->room_at = r->taken;
}

int pc_test_sendq_room_during_drain(size_t *room_at, size_t *taken, size_t *later) {
  pc_sendq q;
  pc_sendq_init(&q, 1000000);
  pc_msg m = {.len = 100};
  bool new_ring, room;
  int rc = 0;
  size_t full = 0;
  while (full < 4096 && pc_sendq_push(&q, &m, &new_ring) == 0)
    full++;
  if (full != 2047)
    rc = -1;
  room_probe r = {.q = &q};
  pc_sendq_drain(&q, SIZE_MAX, push_while_draining, &r, &room);
  counted rest = {0};
  pc_sendq_drain(&q, SIZE_MAX, count_one, &rest, &room);
  *room_at = r.room_at;
  *taken = r.taken;
  *later = rest.n;
  pc_sendq_destroy(&q, drop_msg, NULL);
  return rc;
}

static void *fill_once(void *p) {
  sender *s = p;
  pc_msg m = {.len = 100};
  bool new_ring;
  size_t n = 0;
  while (n < (1u << 20) && pc_sendq_push(s->q, &m, &new_ring) == 0)
    n++;
  s->pushed = n;
  return NULL;
}

typedef struct race_arg {
  pc_sendq *q;
  unsigned pushes;
  int rc;
  _Atomic bool done;
  _Atomic size_t passes; /* the draining thread's, each a drain then a retire */
} race_arg;

/* [sender] Waits until the draining thread has run two more passes, so one
 * whole pass (drain, then retire) ran while nothing was pushed: the rings
 * were empty and got retired. Without these pauses a sender on its own
 * core can refill every ring between each drain and the retire after it,
 * and nothing is retired at all (seen on a loaded machine). The drainer
 * loops until the sender is done, so this ends. */
static void let_rings_run_empty(_Atomic size_t *passes) {
  size_t seen = atomic_load(passes);
  while (atomic_load(passes) < seen + 2)
    sched_yield();
}

static void *race_sender(void *v) {
  race_arg *a = v;
  for (unsigned i = 0; i < a->pushes; i++) {
    pc_msg m = {.len = 100, .idx = i};
    bool new_ring;
    int r;
    while ((r = pc_sendq_push(a->q, &m, &new_ring)) == 1)
      sched_yield();
    if (r < 0) {
      a->rc = -1;
      return NULL;
    }
    if ((i & 7) == 0)
      sched_yield(); /* lets the rings run empty, so they get retired */
    if (i % 1000 == 999)
      let_rings_run_empty(&a->passes);
  }
  atomic_store(&a->done, true);
  return NULL;
}

typedef struct race_check {
  uint64_t next;
  size_t disorder;
} race_check;

static void race_take(void *ctx, pc_msg *m) {
  race_check *c = ctx;
  if (m->idx != c->next)
    c->disorder++;
  c->next = m->idx + 1;
}

int pc_test_sendq_owed_then_grow(size_t *received, size_t *disorder) {
  pc_sendq q;
  pc_sendq_init(&q, 1000 / 8);
  bool new_ring, room;
  race_check c = {0, 0};
  pc_msg m = {.len = 100};
  int rc = 0;
  /* One message, drained, and the idle ring retired: the next push gets
   * a small ring (16 slots, 15 messages), which grows when it fills. */
  if (pc_sendq_push(&q, &m, &new_ring) != 0)
    rc = -1;
  pc_sendq_drain(&q, SIZE_MAX, drop_msg, NULL, &room);
  if (pc_sendq_retire_idle(&q) != 1)
    rc = -1;
  *received = 0;
  for (unsigned i = 0; i < 20 && rc == 0; i++) {
    m.idx = i;
    if (pc_sendq_push(&q, &m, &new_ring) != 0)
      rc = -1;
    if (i == 9) /* a turn cut short: 6 of the 10 owed */
      *received += pc_sendq_drain(&q, 4, race_take, &c, &room);
  }
  /* 10..18 filled the small ring, 19 went into the bigger one. */
  *received += pc_sendq_drain(&q, 100, race_take, &c, &room);
  *received += pc_sendq_drain(&q, 100, race_take, &c, &room);
  *disorder = c.disorder;
  pc_sendq_destroy(&q, drop_msg, NULL);
  return rc;
}

int pc_test_sendq_retire_race(unsigned pushes, size_t *retired, size_t *received,
                              size_t *disorder) {
  pc_sendq q;
  pc_sendq_init(&q, 1000 / 8);
  race_arg a = {&q, pushes, 0, false, 0};
  race_check c = {0, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, race_sender, &a) != 0)
    return -1;
  bool room;
  *retired = *received = 0;
  /* The sender always finishes (it only waits for room), so this ends;
   * a lost message shows in *received, not as a hang. */
  while (!atomic_load(&a.done) && a.rc == 0) {
    *received += pc_sendq_drain(&q, SIZE_MAX, race_take, &c, &room);
    *retired += pc_sendq_retire_idle(&q);
    atomic_fetch_add(&a.passes, 1);
  }
  pthread_join(t, NULL);
  *received += pc_sendq_drain(&q, SIZE_MAX, race_take, &c, &room);
  *disorder = c.disorder;
  pc_sendq_destroy(&q, drop_msg, NULL);
  return a.rc;
}

int pc_test_sendq_churn(unsigned budget, unsigned keep, unsigned churn, size_t *keep_caps,
                        size_t *new_cap) {
  pc_sendq q;
  pc_sendq_init(&q, budget);
  sender *s = calloc(keep ? keep : 1, sizeof *s);
  unsigned started = 0;
  int rc = s ? 0 : -1;
  bool room;
  for (unsigned k = 0; k < keep && rc == 0; k++, started++)
    if ((rc = sender_start(&s[k], &q, k)) == 0)
      keep_caps[k] = sender_fill(&s[k]);
  /* Threads that send and exit; the loop drains and retires their rings
   * as it would between their lives. */
  for (unsigned k = 0; k < churn && rc == 0; k++) {
    sender once = {.q = &q};
    if (pthread_create(&once.t, NULL, fill_once, &once) != 0) {
      rc = -1;
      break;
    }
    pthread_join(once.t, NULL);
    pc_sendq_drain(&q, SIZE_MAX, drop_msg, NULL, &room);
  }
  if (rc == 0) {
    sender late = {.q = &q};
    if (pthread_create(&late.t, NULL, fill_once, &late) != 0)
      rc = -1;
    else
      pthread_join(late.t, NULL);
    *new_cap = late.pushed;
  }
  for (unsigned k = 0; k < started; k++)
    sender_stop(&s[k]);
  pc_sendq_destroy(&q, drop_msg, NULL);
  free(s);
  return rc;
}
/* A sender feeding many queues round robin (one message each per round,
 * numbered per queue), in step with the test's thread at round ends when
 * `step` is set, freely otherwise. */
typedef struct batch_sender {
  pc_sendq *qs;
  unsigned nq, rounds;
  bool step;
  pthread_barrier_t *bar;
  int rc;
  _Atomic bool done;
  _Atomic size_t passes; /* free running: the draining thread's */
} batch_sender;

static void *batch_sender_main(void *v) {
  batch_sender *a = v;
  for (unsigned round = 0; round < a->rounds; round++) {
    for (unsigned k = 0; k < a->nq; k++) {
      pc_msg m = {.len = 100, .idx = round, .free_ctx = (void *)(uintptr_t)k};
      bool new_ring;
      int r;
      while ((r = pc_sendq_push(&a->qs[k], &m, &new_ring)) == 1)
        sched_yield();
      if (r < 0)
        a->rc = -1;
      if (!a->step && (k & 7) == 0)
        sched_yield(); /* lets rings run empty, so they get retired */
    }
    if (a->step) {
      pthread_barrier_wait(a->bar); /* round pushed */
      pthread_barrier_wait(a->bar); /* drained and retired */
    } else if (round % 16 == 15) {
      let_rings_run_empty(&a->passes);
    }
  }
  atomic_store(&a->done, true);
  return NULL;
}

typedef struct batch_check {
  uint64_t *next; /* per queue */
  size_t received, disorder;
} batch_check;

static void batch_take(void *ctx, pc_msg *m) {
  batch_check *c = ctx;
  uintptr_t k = (uintptr_t)m->free_ctx;
  if (m->idx != c->next[k])
    c->disorder++;
  c->next[k] = m->idx + 1;
  c->received++;
}

static void batch_drain(pc_sendq *qs, unsigned nq, batch_check *c) {
  bool room;
  for (unsigned k = 0; k < nq; k++)
    pc_sendq_drain(&qs[k], SIZE_MAX, batch_take, c, &room);
}

int pc_test_sendq_retire_batch(unsigned queues, unsigned rounds, pc_test_retire_batch *out) {
  memset(out, 0, sizeof *out);
  pc_sendq *qs = calloc(queues, sizeof *qs);
  batch_check c = {calloc(queues, sizeof *c.next), 0, 0};
  pthread_barrier_t bar;
  int rc = qs != NULL && c.next != NULL && pthread_barrier_init(&bar, NULL, 2) == 0 ? 0 : -1;
  if (rc != 0) {
    free(qs);
    free(c.next);
    return -1;
  }
  for (unsigned k = 0; k < queues; k++)
    pc_sendq_init(&qs[k], 1000 / 8);
  /* In step: two rounds, with every queue retired between them. */
  batch_sender a = {qs, queues, 2, true, &bar, 0, false, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, batch_sender_main, &a) != 0) {
    rc = -1;
  } else {
    pthread_barrier_wait(&bar);
    batch_drain(qs, queues, &c);
    const long live = pc_sendq_live_rings();
    unsigned long fences = pc_test_sendq_fences();
    for (unsigned k = 0; k < queues; k++)
      out->first_defers += pc_sendq_retire_defer(&qs[k]) ? 1 : 0;
    out->step_freed = pc_sendq_retire_batch();
    out->step_fences = pc_test_sendq_fences() - fences;
    out->step_rings_given_back = live - pc_sendq_live_rings();
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar); /* the second round came through new rings */
    batch_drain(qs, queues, &c);
    out->step_received = c.received;
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    rc = a.rc;
  }
  /* Free running: the loop drains, defers every queue and runs the batch
   * while the sender keeps pushing. */
  batch_sender b = {qs, queues, rounds, false, NULL, 0, false, 0};
  size_t before = c.received;
  for (unsigned k = 0; k < queues; k++)
    c.next[k] = 0;
  if (rc == 0 && pthread_create(&t, NULL, batch_sender_main, &b) == 0) {
    unsigned long fences = pc_test_sendq_fences();
    /* The sender only ever waits for room, so this ends; a lost message
     * shows in the counts, not as a hang. */
    while (!atomic_load(&b.done) && b.rc == 0) {
      batch_drain(qs, queues, &c);
      for (unsigned k = 0; k < queues; k++)
        pc_sendq_retire_defer(&qs[k]);
      size_t freed = pc_sendq_retire_batch();
      out->race_freed += freed;
      out->race_batches++;
      atomic_fetch_add(&b.passes, 1);
    }
    pthread_join(t, NULL);
    batch_drain(qs, queues, &c);
    out->race_fences = pc_test_sendq_fences() - fences;
    rc = b.rc;
  } else {
    rc = -1;
  }
  out->race_received = c.received - before;
  out->race_disorder = c.disorder;
  for (unsigned k = 0; k < queues; k++)
    pc_sendq_destroy(&qs[k], drop_msg, NULL);
  pthread_barrier_destroy(&bar);
  free(qs);
  free(c.next);
  return rc;
}

#endif
