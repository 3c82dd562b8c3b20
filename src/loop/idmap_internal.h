/* A tiny intrusive hash map from uint64 ids to nodes embedded in the
 * caller's structs (requests, producers of one connection). Chained
 * buckets, power-of-two table doubled at load 1. Single-owner (the loop). */
#ifndef PULSARC_LOOP_IDMAP_INTERNAL_H
#define PULSARC_LOOP_IDMAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct pc_idnode {
  uint64_t id;
  struct pc_idnode *next;
} pc_idnode;

typedef struct pc_idmap {
  pc_idnode **buckets;
  size_t nbuckets; /* 0 or a power of two */
  size_t count;
} pc_idmap;

pc_idnode *pc_idmap_find(const pc_idmap *m, uint64_t id);
/* Inserts n (n->id set, not present yet). 0 or -1 (no memory). */
int pc_idmap_insert(pc_idmap *m, pc_idnode *n);
/* Unlinks and returns the node with id, or NULL. */
pc_idnode *pc_idmap_remove(pc_idmap *m, uint64_t id);
/* Unlinks and returns any node, NULL when empty (for teardown). */
pc_idnode *pc_idmap_pop(pc_idmap *m);
void pc_idmap_free(pc_idmap *m);

#define PC_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
