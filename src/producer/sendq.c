/* Per-thread SPSC rings behind one producer; see sendq.h. */
#include "producer/sendq.h"

#include <linux/membarrier.h>
#include <pthread.h>
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

static unsigned sq_ring_count(sq_ring *q) {
  unsigned h = atomic_load_explicit(&q->head, memory_order_acquire);
  unsigned t = atomic_load_explicit(&q->tail, memory_order_acquire);
  return (t - h) & q->mask;
}

/* sq_ring_pop_n below, with the same orderings. */
static unsigned sq_ring_head(sq_ring *q) {
  return atomic_load_explicit(&q->head, memory_order_relaxed);
}
static unsigned sq_ring_tail(sq_ring *q) {
  return atomic_load_explicit(&q->tail, memory_order_acquire);
}
static void sq_ring_set_head(sq_ring *q, unsigned h) {
  atomic_store_explicit(&q->head, h, memory_order_release);
}

#else
#include <ck_ring.h>

CK_RING_PROTOTYPE(pc_msg, pc_msg)

typedef ck_ring_t sq_ring;
#define sq_ring_init ck_ring_init
#define sq_ring_push(q, slots, m) ck_ring_enqueue_spsc_pc_msg((q), (slots), (pc_msg *)(m))
#define sq_ring_count ck_ring_size

/* ck has no batch dequeue for SPSC rings: sq_ring_pop_n takes the ring's
 * indexes the way ck_ring_dequeue_spsc does (ck_ring.h: c_head is the
 * consumer's, p_tail the producer's, both free running) and fences them as
 * acquire and release. */
static unsigned sq_ring_head(ck_ring_t *q) { return q->c_head; }
static unsigned sq_ring_tail(ck_ring_t *q) {
  unsigned t = ck_pr_load_uint(&q->p_tail);
  ck_pr_fence_load();
  return t;
}
static void sq_ring_set_head(ck_ring_t *q, unsigned h) {
  ck_pr_fence_release(); /* the slots' copies are done before the sender may reuse them */
  ck_pr_store_uint(&q->c_head, h);
}
#endif

/* How many messages a drain takes before it gives their slots back. The
 * sender reads the head on every push, and the drain the tail on every
 * pop: moving them once per message made both cache lines cross between
 * the two cores for every message. Giving slots back every few dozen keeps
 * a sender that filled its ring waiting no longer than that. */
#define SQ_POP_GROUP 32u

/* Takes up to max messages from q into fn, in order; returns how many. fn
 * gets the slot itself, not a copy: it is the loop's until the head moves
 * past it. */
static size_t sq_ring_pop_n(sq_ring *q, pc_msg *slots, size_t max, void (*fn)(void *ctx, pc_msg *m),
                            void *ctx) {
  unsigned h = sq_ring_head(q), t = sq_ring_tail(q), mask = q->mask;
  size_t n = (t - h) & mask, done = 0;
  if (n > max)
    n = max;
  while (done < n) {
    size_t group = n - done < SQ_POP_GROUP ? n - done : SQ_POP_GROUP;
    for (size_t i = 0; i < group; i++)
      fn(ctx, &slots[(h + (unsigned)(done + i)) & mask]);
    done += group;
    sq_ring_set_head(q, h + (unsigned)done);
  }
  return done;
}

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
unsigned long pc_test_sendq_fences(void) { return atomic_load(&mb_calls); }
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
  /* The old ring is marked before the new one is published: a loop that
   * has adopted the new ring sees the old one gone, and so empties it
   * before it takes anything of the new (pc_sendq_drain). */
  if (old != NULL) {
    atomic_store_explicit(&old->thread_gone, true, memory_order_release);
    ring_unref(old);
  }
  pc_stack_push(&q->incoming, &r->link);
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
    size_t before = taken;
    /* A turn takes what the ring holds; one the budget cut short resumes
     * first next time, for what the ring held then, so a ring at the head
     * is not sent to the back after one message. It takes all of it,
     * owed or not, in a drain to empty (SIZE_MAX: a flush or close; what
     * was pushed after the cut came before the flush too) and when its
     * thread has moved to a new ring, which may follow in this round: the
     * thread's older messages go first. */
    bool gone = atomic_load_explicit(&r->thread_gone, memory_order_acquire);
    size_t limit = budget;
    if (r->owed > 0 && budget != SIZE_MAX && !gone && r->owed < budget - taken)
      limit = taken + r->owed;
    taken += sq_ring_pop_n(&r->ring, r->slots, limit - taken, fn, ctx);
    size_t got = taken - before;
    if (got > 0 && atomic_load_explicit(&r->was_full, memory_order_relaxed)) {
      atomic_store_explicit(&r->was_full, false, memory_order_relaxed);
      *made_room = true;
    }
    if (r->owed > 0)
      r->owed = got >= r->owed ? 0 : r->owed - (unsigned)got;
    if (r->owed == 0 && taken == budget)
      r->owed = sq_ring_count(&r->ring);
    if (r->owed > 0)
      break; /* taken == budget: r stays first (before a newer ring of its thread) */
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
