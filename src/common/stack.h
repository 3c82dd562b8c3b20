/* The lock-free stack hand-off the library uses between threads: any thread
 * pushes, one thread takes everything at once (the loop's task list, a
 * producer's newly registered send rings). ck's atomics are inline
 * assembly that ThreadSanitizer cannot see, so under TSan the same two
 * operations use compiler atomics on the ck_stack head with the same
 * orderings, and TSan sees the push-happens-before-pop edge. Any thread. */
#ifndef PULSARC_COMMON_STACK_H
#define PULSARC_COMMON_STACK_H

#include <ck_stack.h>
#include <stdbool.h>

#include "common/tsan.h"

#ifdef PC_TSAN
static inline void pc_stack_push(ck_stack_t *s, ck_stack_entry_t *e) {
  ck_stack_entry_t *old = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
  do {
    e->next = old;
  } while (
      !__atomic_compare_exchange_n(&s->head, &old, e, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}
static inline ck_stack_entry_t *pc_stack_pop_all(ck_stack_t *s) {
  return __atomic_exchange_n(&s->head, NULL, __ATOMIC_ACQUIRE);
}
static inline bool pc_stack_nonempty(ck_stack_t *s) {
  return __atomic_load_n(&s->head, __ATOMIC_RELAXED) != NULL;
}
#else
static inline void pc_stack_push(ck_stack_t *s, ck_stack_entry_t *e) { ck_stack_push_upmc(s, e); }
static inline ck_stack_entry_t *pc_stack_pop_all(ck_stack_t *s) {
  return ck_stack_batch_pop_upmc(s);
}
static inline bool pc_stack_nonempty(ck_stack_t *s) { return CK_STACK_FIRST(s) != NULL; }
#endif

#endif
