/* Per-thread slabs for payload copies; see arena.h. */
#include "producer/arena.h"

#include <ck_stack.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tsan.h"

/* Process-wide on purpose, not per client. The slab is found through the
 * sending thread's TLS with no key: one pointer load and a bump per copy.
 * Scoping it to the client would mean a (thread, client) lookup per
 * message, or a slab per thread per client, for no gain: a slab holds only
 * payload bytes, never client state, and a thread sending to producers of
 * two clients would fill two half-used slabs instead of one.
 *
 * Bounded: besides the slabs holding live messages (those count against
 * the clients' memory limits), each thread that ever copied a payload keeps
 * its current slab until it exits (SLAB_BYTES), and the free list keeps at
 * most MAX_FREE_SLABS for reuse (4 MiB); slabs beyond are freed. Nothing
 * frees the free list at exit, so valgrind reports up to MAX_FREE_SLABS
 * slabs of SLAB_BYTES (+ header) as "still reachable" from free_stack:
 * expected, not a leak. pc_arena_live_slabs() counts them all. */
#define SLAB_BYTES (256 * 1024)
#define MAX_INLINE (SLAB_BYTES / 8)
#define MAX_FREE_SLABS 16

/* The carving thread does not count each copy in refs: a cache line that
 * both the sender (one increment per copy) and the I/O thread (one
 * decrement per message framed) write bounces between their cores on every
 * message. Instead a slab starts with HELD_BIAS references on behalf of
 * its carving thread, which counts its copies in its own cache line and,
 * when it moves on, gives back the bias less the copies it handed out.
 * Until then refs stays above zero however many messages were framed. */
#define HELD_BIAS (LONG_MAX / 2)

typedef struct slab {
  ck_stack_entry_t link;
  _Atomic long refs; /* messages framed so far subtracted from HELD_BIAS, then the rest */
  /* [owning thread] on a line of their own */
  _Alignas(64) size_t used;
  long handed; /* copies made while carving */
  _Alignas(64) uint8_t data[SLAB_BYTES];
} slab;

static _Atomic long live_slabs, free_count;
long pc_arena_live_slabs(void) { return atomic_load(&live_slabs); }

/* The free list. Pushes are ck's UPMC push; a thread needing a slab takes
 * the whole list with one atomic exchange (batch pop: no ABA problem, and
 * no generation counter kept in a pointer, which UBSan rightly flags in
 * ck_stack_pop_mpmc), keeps one and pushes the rest back. Refills happen
 * once per 256 KiB of payload, not per message. ThreadSanitizer cannot see
 * ck's inline assembly, so that build uses a mutex instead. */
#ifdef PC_TSAN
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static slab *free_head;
static void free_push(slab *s) {
  pthread_mutex_lock(&free_lock);
  s->link.next = (ck_stack_entry_t *)free_head;
  free_head = s;
  pthread_mutex_unlock(&free_lock);
}
static slab *free_pop(void) {
  pthread_mutex_lock(&free_lock);
  slab *s = free_head;
  if (s != NULL)
    free_head = (slab *)s->link.next;
  pthread_mutex_unlock(&free_lock);
  return s;
}
#else
static ck_stack_t free_stack = CK_STACK_INITIALIZER;
static void free_push(slab *s) { ck_stack_push_upmc(&free_stack, &s->link); }
static slab *free_pop(void) {
  ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&free_stack);
  if (e == NULL)
    return NULL;
  for (ck_stack_entry_t *rest = e->next, *next; rest != NULL; rest = next) {
    next = rest->next;
    ck_stack_push_upmc(&free_stack, rest);
  }
  return (slab *)((char *)e - offsetof(slab, link));
}
#endif

static void slab_unref_n(slab *s, long n) {
  if (atomic_fetch_sub_explicit(&s->refs, n, memory_order_acq_rel) != n)
    return;
  if (atomic_fetch_add(&free_count, 1) < MAX_FREE_SLABS) {
    free_push(s);
  } else {
    atomic_fetch_sub(&free_count, 1);
    atomic_fetch_sub(&live_slabs, 1);
    free(s);
  }
}

static void arena_free(void *data, void *ctx) {
  (void)data;
  slab_unref_n(ctx, 1);
}

/* The carving thread lets go of s: its bias, less the copies it made,
 * which their own frees give back. */
static void slab_release_held(slab *s) { slab_unref_n(s, HELD_BIAS - s->handed); }

static void plain_free(void *data, void *ctx) {
  (void)ctx;
  free(data);
}

/* initial-exec, as sendq.c's table: no __tls_get_addr call per copy. */
#define PC_TLS_IE __attribute__((tls_model("initial-exec")))

static __thread slab *current PC_TLS_IE;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* At thread exit the thread's hold on its slab ends. */
static void on_thread_exit(void *s) { slab_release_held(s); }
static void make_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static slab *fresh_slab(void) {
  slab *s = free_pop();
  if (s != NULL) {
    atomic_fetch_sub(&free_count, 1);
  } else {
    if ((s = aligned_alloc(64, sizeof *s)) == NULL)
      return NULL;
    atomic_fetch_add(&live_slabs, 1);
  }
  s->used = 0;
  s->handed = 0;
  atomic_store_explicit(&s->refs, HELD_BIAS, memory_order_relaxed);
  return s;
}

void *pc_arena_copy(const void *src, size_t len, pulsarc_free_fn *free_fn, void **free_ctx) {
  if (len > MAX_INLINE) {
    void *p = malloc(len);
    if (p != NULL)
      memcpy(p, src, len);
    *free_fn = plain_free;
    *free_ctx = NULL;
    return p;
  }
  size_t need = (len + 7) & ~(size_t)7;
  if (current == NULL || current->used + need > SLAB_BYTES) {
    slab *s = fresh_slab();
    if (s == NULL)
      return NULL;
    pthread_once(&exit_once, make_key);
    if (current != NULL)
      slab_release_held(current);
    current = s;
    pthread_setspecific(exit_key, s);
  }
  uint8_t *p = current->data + current->used;
  current->used += need;
  current->handed++;
  memcpy(p, src, len);
  *free_fn = arena_free;
  *free_ctx = current;
  return p;
}

static __thread void *scratch PC_TLS_IE;
static __thread size_t scratch_cap PC_TLS_IE;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

void *pc_thread_scratch(size_t bytes) {
  if (bytes <= scratch_cap)
    return scratch;
  size_t cap = scratch_cap ? scratch_cap : 4096;
  while (cap < bytes)
    cap = cap > SIZE_MAX / 2 ? bytes : cap * 2;
  /* The old contents are dead: a fresh block beats realloc's copy. */
  void *p = malloc(cap);
  if (p == NULL)
    return NULL;
  pthread_once(&scratch_once, make_scratch_key);
  free(scratch);
  scratch = p;
  scratch_cap = cap;
  pthread_setspecific(scratch_key, p);
  return p;
}
