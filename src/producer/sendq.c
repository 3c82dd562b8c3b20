/* Per-thread SPSC rings behind one producer; see sendq.h. */
#include "producer/sendq.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ck's atomics are inline assembly that ThreadSanitizer cannot see, so it
 * reports every message handed through a ring as a race. Under TSan (the
 * same switch as common/stack.h) the ring uses compiler atomics with the
 * same orderings; ck elsewhere. */
#include "client/testing.h"
#include "common/stack.h"
#include "common/tsan.h"

#ifdef PC_TSAN
/* One slot stays empty, as in ck_ring: capacity is size - 1. tail is
 * written only by the sending thread, head only by the I/O thread; each
 * publishes with release and reads the other's with acquire. */
typedef struct sq_ring {
  _Atomic unsigned head; /* next slot to take */
  _Atomic unsigned tail; /* next slot to fill */
  unsigned mask;
} sq_ring;

static void sq_ring_init(sq_ring *q, unsigned size) {
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  q->mask = size - 1;
}

static bool sq_ring_push(sq_ring *q, pc_msg *slots, const pc_msg *m) {
  unsigned t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  unsigned h = atomic_load_explicit(&q->head, memory_order_acquire);
  if (((t + 1) & q->mask) == (h & q->mask))
    return false;
  slots[t & q->mask] = *m;
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
  return true;
}

static bool sq_ring_pop(sq_ring *q, pc_msg *slots, pc_msg *m) {
  unsigned h = atomic_load_explicit(&q->head, memory_order_relaxed);
  unsigned t = atomic_load_explicit(&q->tail, memory_order_acquire);
  if (h == t)
    return false;
  *m = slots[h & q->mask];
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
  return true;
}

static unsigned sq_ring_count(sq_ring *q) {
  unsigned h = atomic_load_explicit(&q->head, memory_order_acquire);
  unsigned t = atomic_load_explicit(&q->tail, memory_order_acquire);
  return (t - h) & q->mask;
}

#else
#include <ck_ring.h>

CK_RING_PROTOTYPE(pc_msg, pc_msg)

typedef ck_ring_t sq_ring;
#define sq_ring_init ck_ring_init
#define sq_ring_push(q, slots, m) ck_ring_enqueue_spsc_pc_msg((q), (slots), (pc_msg *)(m))
#define sq_ring_pop ck_ring_dequeue_spsc_pc_msg
#define sq_ring_count ck_ring_size
#endif

struct pc_sq_ring {
  sq_ring ring;
  ck_stack_entry_t link;    /* in pc_sendq.incoming until adopted */
  pc_sq_ring *next;         /* [loop] in pc_sendq.rings */
  _Atomic int refs;         /* the thread's reference + the queue's */
  _Atomic bool thread_gone; /* the sending thread pushes here no more (exited, or moved on) */
  _Atomic bool queue_gone;  /* the producer was destroyed */
  _Atomic bool was_full;    /* a push failed since the last drain */
  /* Retiring an idle ring (pc_sendq_retire_idle): the sender raises
   * in_push around each push and then reads `retired`; the loop sets
   * `retired`, runs membarrier() and frees the slots only if it then sees
   * no push under way. */
  _Atomic bool in_push;
  _Atomic bool retired;
  unsigned size;      /* slots */
  unsigned full_size; /* what the ring may grow to when it fills */
  unsigned large_cap; /* PC_SENDQ_LARGE_CAP if the ring holds more, else 0 */
  unsigned owed;      /* [loop] left of a turn the drain budget cut short */
  pc_msg *slots;
};

/* Rings holding slots (retired ones keep their small struct until the
 * sending thread lets go of it). */
static _Atomic long live_rings;
long pc_sendq_live_rings(void) { return atomic_load(&live_rings); }

static void ring_free_slots(pc_sq_ring *r) {
  if (r->slots != NULL) {
    free(r->slots);
    r->slots = NULL;
    atomic_fetch_sub(&live_rings, 1);
  }
}

static void ring_unref(pc_sq_ring *r) {
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
    ring_free_slots(r);
    free(r);
  }
}

/* ---- membarrier: the loop's half of the asymmetric fence ---- */

static pthread_once_t mb_once = PTHREAD_ONCE_INIT;
static bool mb_ok;

static void mb_register(void) {
  mb_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* A full fence on every thread of the process, or false if the kernel has
 * none to offer (then idle rings are simply kept). */
#ifdef PULSARC_TEST_HOOKS
static _Atomic unsigned long mb_calls;
#endif
static bool membarrier_all(void) {
#ifdef PULSARC_TEST_HOOKS
  atomic_fetch_add(&mb_calls, 1);
#endif
  pthread_once(&mb_once, mb_register);
  return mb_ok && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* ---- the sending thread's table of rings, one entry per producer used ---- */

typedef struct tls_slot {
  uint64_t uid;
  pc_sq_ring *ring;
} tls_slot;

/* A thread sending to many producers finds its ring through a hash index
 * (open addressing, slot number + 1, 0 = empty) once it has more than
 * TLS_LINEAR of them; below that a scan is faster. */
#define TLS_LINEAR 8

typedef struct tls_table {
  tls_slot *slots;
  size_t n, cap;
  uint32_t *index;
  size_t index_cap; /* power of two, at least 2 * cap; 0 = no index */
} tls_table;

static size_t tls_hash(uint64_t uid, size_t cap) {
  return (size_t)((uid * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static void tls_index_add(tls_table *t, size_t i) {
  size_t h = tls_hash(t->slots[i].uid, t->index_cap);
  while (t->index[h] != 0)
    h = (h + 1) & (t->index_cap - 1);
  t->index[h] = (uint32_t)i + 1;
}

/* Rebuilds the index for cap slots; -1 on no memory (then none is used). */
static int tls_reindex(tls_table *t) {
  free(t->index);
  t->index = NULL;
  t->index_cap = 0;
  if (t->cap <= TLS_LINEAR)
    return 0;
  size_t ic = 16;
  while (ic < 2 * t->cap)
    ic *= 2;
  if ((t->index = calloc(ic, sizeof *t->index)) == NULL)
    return -1;
  t->index_cap = ic;
  for (size_t i = 0; i < t->n; i++)
    tls_index_add(t, i);
  return 0;
}

static tls_slot *tls_find(tls_table *t, uint64_t uid) {
  if (t->index_cap == 0) {
    for (size_t i = 0; i < t->n; i++)
      if (t->slots[i].uid == uid)
        return &t->slots[i];
    return NULL;
  }
  for (size_t h = tls_hash(uid, t->index_cap); t->index[h] != 0; h = (h + 1) & (t->index_cap - 1))
    if (t->slots[t->index[h] - 1].uid == uid)
      return &t->slots[t->index[h] - 1];
  return NULL;
}

/* initial-exec: the library is a shared object, whose default TLS model
 * calls __tls_get_addr on every access (1.7% of client CPU at 100 B, one
 * producer). The static TLS block it needs instead is the few bytes glibc
 * keeps spare for libraries that do this, even when dlopen()ed. */
#define PC_TLS_IE __attribute__((tls_model("initial-exec")))

static __thread tls_table *tls PC_TLS_IE;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit: every ring this thread owned goes to its I/O thread
 * for draining and freeing. */
static void tls_destroy(void *p) {
  tls_table *t = p;
  for (size_t i = 0; i < t->n; i++) {
    atomic_store_explicit(&t->slots[i].ring->thread_gone, true, memory_order_release);
    ring_unref(t->slots[i].ring);
  }
  free(t->slots);
  free(t->index);
  free(t);
}

static void tls_key_make(void) { pthread_key_create(&tls_key, tls_destroy); }

static tls_table *tls_get(void) {
  if (tls != NULL)
    return tls;
  pthread_once(&tls_once, tls_key_make);
  tls_table *t = calloc(1, sizeof *t);
  if (t == NULL || pthread_setspecific(tls_key, t) != 0) {
    free(t);
    return NULL;
  }
  return tls = t;
}

/* Drops slots whose producer is gone, so long-lived threads do not keep
 * rings of destroyed producers alive. */
static void tls_prune(tls_table *t) {
  size_t w = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (atomic_load_explicit(&t->slots[i].ring->queue_gone, memory_order_acquire))
      ring_unref(t->slots[i].ring);
    else
      t->slots[w++] = t->slots[i];
  }
  if (w != t->n) {
    t->n = w;
    tls_reindex(t);
  }
}

#ifdef PULSARC_TEST_HOOKS
static _Atomic unsigned long rings_made;
unsigned long pc_test_sendq_rings_made(void) { return atomic_load(&rings_made); }
#endif

static pc_sq_ring *ring_new(unsigned size) {
#ifdef PULSARC_TEST_HOOKS
  atomic_fetch_add(&rings_made, 1);
#endif
  pc_sq_ring *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->slots = calloc(size, sizeof *r->slots);
  if (r->slots == NULL) {
    free(r);
    return NULL;
  }
  sq_ring_init(&r->ring, size);
  r->size = r->full_size = size;
  /* Born "in a push": the loop may adopt it (pc_sendq_retire_idle) before
   * the thread's first push, and must not free it under that push. The
   * thread clears it once its first message is in. */
  atomic_init(&r->in_push, true);
  r->large_cap = size - 1 > PC_SENDQ_LARGE_CAP ? PC_SENDQ_LARGE_CAP : 0;
  atomic_init(&r->refs, 2);
  atomic_fetch_add(&live_rings, 1);
  return r;
}

static unsigned pow2_floor(unsigned v) {
  unsigned p = 1;
  while (p <= v / 2)
    p <<= 1;
  return p;
}

/* The size of a ring made when it is the k-th live one (sendq.h). */
static unsigned ring_size_for(const pc_sendq *q, unsigned k) {
  unsigned floor = k == 1 ? PC_SENDQ_RING_FIRST_MIN : PC_SENDQ_RING_FLOOR;
  unsigned s = pow2_floor(q->ring_budget / k);
  return s < floor ? floor : s > PC_SENDQ_RING_MAX ? PC_SENDQ_RING_MAX : s;
}

/* A thread that feeds many producers starts each ring small (a thread can
 * only keep so many rings deep at once, and an idle producer should not
 * hold tens of KiB); a ring that fills grows (ring_replace) up to its full
 * size. The first PC_SENDQ_MANY producers of a thread get full rings. */
#define PC_SENDQ_MANY 8
#define PC_SENDQ_THREAD_SLOTS 4096
#define PC_SENDQ_RING_SMALL 16

static unsigned first_size(unsigned full, size_t producers) {
  if (producers < PC_SENDQ_MANY)
    return full;
  unsigned s = pow2_floor((unsigned)(PC_SENDQ_THREAD_SLOTS / (producers + 1)));
  if (s < PC_SENDQ_RING_SMALL)
    s = PC_SENDQ_RING_SMALL;
  return s < full ? s : full;
}

/* Gives the thread a new ring for q in place of old (NULL: its first): the
 * old one, if any, is left to the loop, which drains it before the new one
 * (the new ring joins the round behind it) and frees it once empty. */
static pc_sq_ring *ring_replace(pc_sendq *q, tls_slot *slot, unsigned size, unsigned full,
                                bool *new_ring) {
  atomic_fetch_add(&q->rings_live, 1);
  pc_sq_ring *r = ring_new(size);
  if (r == NULL) {
    atomic_fetch_sub(&q->rings_live, 1);
    return NULL;
  }
  r->full_size = full;
  pc_sq_ring *old = slot->ring;
  slot->ring = r;
  pc_stack_push(&q->incoming, &r->link);
  if (old != NULL) {
    atomic_store_explicit(&old->thread_gone, true, memory_order_release);
    ring_unref(old);
  }
  *new_ring = true;
  return r;
}

static tls_slot *slot_for_thread(pc_sendq *q, bool *new_ring) {
  tls_table *t = tls_get();
  if (t == NULL)
    return NULL;
  tls_slot *slot = tls_find(t, q->uid);
  if (slot != NULL)
    return slot;
  /* Pruning scans the table: only when it is full (amortised), or a
   * thread feeding thousands of producers would scan them all per new one. */
  if (t->n == t->cap)
    tls_prune(t);
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4;
    tls_slot *s = realloc(t->slots, cap * sizeof *s);
    if (s == NULL)
      return NULL;
    t->slots = s;
    t->cap = cap;
    if (tls_reindex(t) != 0)
      return NULL;
  }
  unsigned full = ring_size_for(q, atomic_load(&q->rings_live) + 1);
  slot = &t->slots[t->n];
  slot->uid = q->uid;
  slot->ring = NULL;
  if (ring_replace(q, slot, first_size(full, t->n), full, new_ring) == NULL)
    return NULL;
  if (t->index_cap != 0)
    tls_index_add(t, t->n);
  t->n++;
  return slot;
}

static _Atomic uint64_t next_uid = 1;

void pc_sendq_init(pc_sendq *q, unsigned budget) {
  /* membarrier's registration waits for an RCU grace period (8-12 ms
   * measured, far more on a loaded machine): done here, on the thread that
   * creates the first producer, not later on an I/O thread. */
  pthread_once(&mb_once, mb_register);
  memset(q, 0, sizeof *q);
  q->ring_budget = budget;
  q->uid = atomic_fetch_add(&next_uid, 1);
  ck_stack_init(&q->incoming);
}

int pc_sendq_push(pc_sendq *q, const pc_msg *m, bool *new_ring) {
  *new_ring = false;
  tls_slot *slot = slot_for_thread(q, new_ring);
  if (slot == NULL)
    return -1;
  pc_sq_ring *r = slot->ring;
  atomic_store_explicit(&r->in_push, true, memory_order_relaxed);
  /* Only the compiler must keep the store before the load: the loop's
   * membarrier() is the fence for both (see pc_sendq_retire_idle). */
  atomic_signal_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&r->retired, memory_order_relaxed)) {
    atomic_store_explicit(&r->in_push, false, memory_order_release);
    /* Back from idle: start small again, grow if busy. */
    unsigned full = r->full_size;
    if ((r = ring_replace(q, slot, PC_SENDQ_RING_SMALL < full ? PC_SENDQ_RING_SMALL : full, full,
                          new_ring)) == NULL)
      return -1;
    atomic_store_explicit(&r->in_push, true, memory_order_relaxed);
  }
  /* Large messages stop at PC_SENDQ_LARGE_CAP (sendq.h). */
  bool room =
      m->len < PC_SENDQ_LARGE_MSG || r->large_cap == 0 || sq_ring_count(&r->ring) < r->large_cap;
  if (room && sq_ring_push(&r->ring, r->slots, m)) {
    atomic_store_explicit(&r->in_push, false, memory_order_release);
    return 0;
  }
  atomic_store_explicit(&r->in_push, false, memory_order_release);
  if (r->size < r->full_size) {
    /* A small ring filled: this producer is busy after all. */
    unsigned size = r->size * 4 < r->full_size ? r->size * 4 : r->full_size;
    pc_sq_ring *g = ring_replace(q, slot, size, r->full_size, new_ring);
    if (g != NULL) {
      bool in = sq_ring_push(&g->ring, g->slots, m);
      atomic_store_explicit(&g->in_push, false, memory_order_release);
      if (in)
        return 0;
    }
  }
  atomic_store_explicit(&r->was_full, true, memory_order_relaxed);
  return 1;
}

/* [loop] Moves newly registered rings to the tail of the round, in the
 * order they registered (the stack hands them over newest first). */
static void adopt_incoming(pc_sendq *q) {
  ck_stack_entry_t *e = pc_stack_pop_all(&q->incoming);
  pc_sq_ring *fresh = NULL;
  while (e != NULL) {
    ck_stack_entry_t *next = e->next;
    pc_sq_ring *r = (pc_sq_ring *)((char *)e - offsetof(pc_sq_ring, link));
    r->next = fresh;
    fresh = r;
    e = next;
  }
  for (pc_sq_ring *r = fresh, *next; r != NULL; r = next) {
    next = r->next;
    r->next = NULL;
    if (q->tail != NULL)
      q->tail->next = r;
    else
      q->rings = r;
    q->tail = r;
  }
}

size_t pc_sendq_drain(pc_sendq *q, size_t budget, void (*fn)(void *ctx, pc_msg *m), void *ctx,
                      bool *made_room) {
  adopt_incoming(q);
  size_t taken = 0;
  pc_sq_ring **link = &q->rings;
  pc_sq_ring *last = NULL; /* the last ring visited and kept */
  while (*link != NULL && taken < budget) {
    pc_sq_ring *r = *link;
    pc_msg m;
    size_t before = taken;
    /* A turn takes what the ring holds; one the budget cut short resumes
     * first next time, for what the ring held then, so a ring at the head
     * is not sent to the back after one message. A drain to empty
     * (SIZE_MAX: a flush or close) takes all of it, owed or not: what was
     * pushed after the cut came before the flush too. */
    size_t limit = budget;
    if (r->owed > 0 && budget != SIZE_MAX && r->owed < budget - taken)
      limit = taken + r->owed;
    while (taken < limit && sq_ring_pop(&r->ring, r->slots, &m)) {
      fn(ctx, &m);
      taken++;
    }
    size_t got = taken - before;
    if (got > 0 && atomic_load_explicit(&r->was_full, memory_order_relaxed)) {
      atomic_store_explicit(&r->was_full, false, memory_order_relaxed);
      *made_room = true;
    }
    if (r->owed > 0)
      r->owed = got >= r->owed ? 0 : r->owed - (unsigned)got;
    else if (taken == budget)
      r->owed = sq_ring_count(&r->ring);
    if (r->owed > 0)
      break; /* taken == budget: r stays first */
    /* A departed thread's ring is freed once empty; the thread published
     * everything before it set thread_gone, so empty now means empty for
     * good. */
    if (atomic_load_explicit(&r->thread_gone, memory_order_acquire) &&
        sq_ring_count(&r->ring) == 0) {
      *link = r->next;
      if (q->tail == r)
        q->tail = last;
      atomic_fetch_sub(&q->rings_live, 1);
      ring_unref(r);
      continue;
    }
    last = r;
    link = &r->next;
  }
  /* The rings visited had their turn: they go behind the ones not reached. */
  if (last != NULL && last->next != NULL) {
    q->tail->next = q->rings;
    q->rings = last->next;
    last->next = NULL;
    q->tail = last;
  }
  return taken;
}

/* [loop] Marks every empty ring of a live thread retired; returns how many. */
static size_t retire_mark(pc_sendq *q) {
  adopt_incoming(q);
  size_t marked = 0;
  for (pc_sq_ring *r = q->rings; r != NULL; r = r->next)
    if (sq_ring_count(&r->ring) == 0 &&
        !atomic_load_explicit(&r->thread_gone, memory_order_relaxed)) {
      atomic_store_explicit(&r->retired, true, memory_order_relaxed);
      marked++;
    }
  return marked;
}

/* [loop] Frees the rings retire_mark marked (if fenced: a membarrier ran
 * after the marking) and the empty rings of departed threads. */
static size_t retire_finish(pc_sendq *q, bool fenced) {
  size_t freed = 0;
  pc_sq_ring **link = &q->rings, *last = NULL;
  while (*link != NULL) {
    pc_sq_ring *r = *link;
    bool gone = atomic_load_explicit(&r->thread_gone, memory_order_acquire);
    if ((gone || (fenced && atomic_load_explicit(&r->retired, memory_order_relaxed) &&
                  !atomic_load_explicit(&r->in_push, memory_order_acquire))) &&
        sq_ring_count(&r->ring) == 0) {
      *link = r->next;
      atomic_fetch_sub(&q->rings_live, 1);
      ring_free_slots(r);
      ring_unref(r);
      freed++;
      continue;
    }
    /* A push was under way: the ring stays (retired, so the sender leaves
     * it on its next push) and is drained and freed as a departed one. */
    last = r;
    link = &r->next;
  }
  q->tail = last;
  return freed;
}

size_t pc_sendq_retire_idle(pc_sendq *q) {
  /* After the fence every sender has passed a full fence since `retired`
   * was set: one that read false then has in_push visible now (or
   * finished, its message visible); any later push sees true and moves to
   * a new ring. Rings of departed threads need no fence. How long after
   * the marking the fence comes does not matter, which lets
   * pc_sendq_retire_batch share one among many queues. */
  bool fenced = retire_mark(q) > 0 && membarrier_all();
  return retire_finish(q, fenced);
}

/* This I/O thread's deferred queues (pc_sendq_retire_defer). A membarrier
 * costs about 9 us (strace, 2 cores): 10,000 producers going idle together
 * paid 10,000 of them, one per idle timer. */
static __thread pc_sendq *retire_list PC_TLS_IE;

static void retire_unlink(pc_sendq *q) {
  *q->retire_pprev = q->retire_next;
  if (q->retire_next != NULL)
    q->retire_next->retire_pprev = q->retire_pprev;
  q->retire_next = NULL;
  q->retire_pprev = NULL;
}

bool pc_sendq_retire_defer(pc_sendq *q) {
  if (retire_mark(q) == 0) {
    retire_finish(q, false);
    return false;
  }
  if (q->retire_pprev != NULL)
    return false;
  bool first = retire_list == NULL;
  q->retire_next = retire_list;
  if (retire_list != NULL)
    retire_list->retire_pprev = &q->retire_next;
  q->retire_pprev = &retire_list;
  retire_list = q;
  return first;
}

size_t pc_sendq_retire_batch(void) {
  if (retire_list == NULL)
    return 0;
  bool fenced = membarrier_all();
  size_t freed = 0;
  while (retire_list != NULL) {
    pc_sendq *q = retire_list;
    retire_unlink(q);
    freed += retire_finish(q, fenced);
  }
  return freed;
}

bool pc_sendq_has_work(pc_sendq *q) {
  if (pc_stack_nonempty(&q->incoming))
    return true;
  for (pc_sq_ring *r = q->rings; r != NULL; r = r->next)
    if (sq_ring_count(&r->ring) > 0 || atomic_load_explicit(&r->thread_gone, memory_order_relaxed))
      return true;
  return false;
}

void pc_sendq_destroy(pc_sendq *q, void (*fn)(void *ctx, pc_msg *m), void *ctx) {
  if (q->retire_pprev != NULL)
    retire_unlink(q);
  bool room;
  while (pc_sendq_drain(q, SIZE_MAX, fn, ctx, &room) > 0) {
  }
  pc_sq_ring *r = q->rings;
  while (r != NULL) {
    pc_sq_ring *next = r->next;
    atomic_store_explicit(&r->queue_gone, true, memory_order_release);
    ring_unref(r);
    r = next;
  }
  q->rings = q->tail = NULL;
}

/* ---- test probe (client/testing.h) ---- */
#ifdef PULSARC_TEST_HOOKS

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
} race_arg;

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

int pc_test_sendq_retire_race(unsigned pushes, size_t *retired, size_t *received,
                              size_t *disorder) {
  pc_sendq q;
  pc_sendq_init(&q, 1000 / 8);
  race_arg a = {&q, pushes, 0, false};
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
  batch_sender a = {qs, queues, 2, true, &bar, 0, false};
  pthread_t t;
  if (pthread_create(&t, NULL, batch_sender_main, &a) != 0) {
    rc = -1;
  } else {
    pthread_barrier_wait(&bar);
    batch_drain(qs, queues, &c);
    const long live = pc_sendq_live_rings();
    unsigned long fences = atomic_load(&mb_calls);
    for (unsigned k = 0; k < queues; k++)
      out->first_defers += pc_sendq_retire_defer(&qs[k]) ? 1 : 0;
    out->step_freed = pc_sendq_retire_batch();
    out->step_fences = atomic_load(&mb_calls) - fences;
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
  batch_sender b = {qs, queues, rounds, false, NULL, 0, false};
  size_t before = c.received;
  for (unsigned k = 0; k < queues; k++)
    c.next[k] = 0;
  if (rc == 0 && pthread_create(&t, NULL, batch_sender_main, &b) == 0) {
    unsigned long fences = atomic_load(&mb_calls);
    /* The sender only ever waits for room, so this ends; a lost message
     * shows in the counts, not as a hang. */
    while (!atomic_load(&b.done) && b.rc == 0) {
      batch_drain(qs, queues, &c);
      for (unsigned k = 0; k < queues; k++)
        pc_sendq_retire_defer(&qs[k]);
      size_t freed = pc_sendq_retire_batch();
      out->race_freed += freed;
      out->race_batches++;
    }
    pthread_join(t, NULL);
    batch_drain(qs, queues, &c);
    out->race_fences = atomic_load(&mb_calls) - fences;
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
