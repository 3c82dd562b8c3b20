/* Payload copies without a malloc per message: each sending thread carves
 * copies out of its current slab; a slab is reference counted by the
 * messages living in it and recycled through a lock-free free list once the
 * I/O thread has copied them all into frames. Large payloads (over an
 * eighth of a slab) fall back to malloc. */
#ifndef PULSARC_CLIENT_ARENA_H
#define PULSARC_CLIENT_ARENA_H

#include <stddef.h>

#include "pulsarc/pulsarc.h"

/* [app thread] Copies len bytes; returns the copy and, in *free_fn and
 * *free_ctx, how to release it (from any thread). NULL if out of memory. */
void *pc_arena_copy(const void *src, size_t len, pulsarc_free_fn *free_fn, void **free_ctx);

/* Slabs allocated and not yet freed, process-wide (for tests). */
long pc_arena_live_slabs(void);

#endif
