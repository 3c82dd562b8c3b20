/* Payload copies without a malloc per message: each sending thread carves
 * copies out of its current slab; a slab is reference counted by the
 * messages living in it and by its carving thread (a bias it settles when it
 * moves on, so a copy writes no shared counter), and recycled through a
 * lock-free free list once the thread has let go and the I/O thread has
 * copied them all into frames. Large payloads (over an
 * eighth of a slab) fall back to malloc. */
#ifndef PULSARC_PRODUCER_ARENA_H
#define PULSARC_PRODUCER_ARENA_H

#include <stddef.h>

#include "pulsarc/pulsarc.h"

/* [app thread] Copies len bytes; returns the copy and, in *free_fn and
 * *free_ctx, how to release it (from any thread). NULL if out of memory. */
void *pc_arena_copy(const void *src, size_t len, pulsarc_free_fn *free_fn, void **free_ctx);

/* [any] Scratch memory of the calling thread, for arrays whose length comes
 * from configuration or input (batch sizes, property counts) and so must not
 * live on the stack. At least bytes, aligned for any type, valid until the
 * next call on the same thread. It grows geometrically and is kept until the
 * thread exits, so steady state allocates nothing. NULL if out of memory. */
void *pc_thread_scratch(size_t bytes);

/* Slabs allocated and not yet freed, process-wide (for tests). */
long pc_arena_live_slabs(void);

#endif
