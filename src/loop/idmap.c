/* See idmap_internal.h. Ids are mostly sequential, so a multiplicative hash
 * spreads them; the top bits index the table. */
#include <stdlib.h>

#include "loop/idmap_internal.h"

static size_t slot(const pc_idmap *m, uint64_t id) {
  return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (m->nbuckets - 1);
}

pc_idnode *pc_idmap_find(const pc_idmap *m, uint64_t id) {
  if (m->nbuckets == 0)
    return NULL;
  for (pc_idnode *n = m->buckets[slot(m, id)]; n; n = n->next)
    if (n->id == id)
      return n;
  return NULL;
}

static int grow(pc_idmap *m) {
  size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
  pc_idnode **b = calloc(nb, sizeof *b);
  if (b == NULL)
    return -1;
  pc_idmap old = *m;
  m->buckets = b;
  m->nbuckets = nb;
  for (size_t i = 0; i < old.nbuckets; i++) {
    for (pc_idnode *n = old.buckets[i], *next; n; n = next) {
      next = n->next;
      size_t s = slot(m, n->id);
      n->next = b[s];
      b[s] = n;
    }
  }
  free(old.buckets);
  return 0;
}

int pc_idmap_insert(pc_idmap *m, pc_idnode *n) {
  if (m->count >= m->nbuckets && grow(m) != 0) {
    if (m->nbuckets == 0)
      return -1; /* a full table still works, only slower */
  }
  size_t s = slot(m, n->id);
  n->next = m->buckets[s];
  m->buckets[s] = n;
  m->count++;
  return 0;
}

pc_idnode *pc_idmap_remove(pc_idmap *m, uint64_t id) {
  if (m->nbuckets == 0)
    return NULL;
  for (pc_idnode **pp = &m->buckets[slot(m, id)]; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      pc_idnode *n = *pp;
      *pp = n->next;
      n->next = NULL;
      m->count--;
      return n;
    }
  }
  return NULL;
}

pc_idnode *pc_idmap_pop(pc_idmap *m) {
  for (size_t i = 0; m->count > 0 && i < m->nbuckets; i++) {
    pc_idnode *n = m->buckets[i];
    if (n) {
      m->buckets[i] = n->next;
      n->next = NULL;
      m->count--;
      return n;
    }
  }
  return NULL;
}

void pc_idmap_free(pc_idmap *m) {
  free(m->buckets);
  m->buckets = NULL;
  m->nbuckets = m->count = 0;
}
