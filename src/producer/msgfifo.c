/* The growable ring of messages that hold a partition's unsent messages
 * (and the producer's, before its partition count is known). [loop] */
#include <stdlib.h>
#include <string.h>

#include "producer/pipeline.h"

static int fifo_grow(pc_msgfifo *f) {
  /* Small at first: thousands of producers may each hold a few. */
  size_t cap = f->cap ? f->cap * 2 : 8;
  pc_msg *a = malloc(cap * sizeof *a);
  if (a == NULL)
    return -1;
  for (size_t i = 0; i < f->n; i++)
    a[i] = *pc_fifo_at(f, i);
  free(f->a);
  f->a = a;
  f->head = 0;
  f->cap = cap;
  return 0;
}

int pc_fifo_push(pc_msgfifo *f, const pc_msg *m) {
  if (f->n == f->cap && fifo_grow(f) != 0)
    return -1;
  f->a[(f->head + f->n) & (f->cap - 1)] = *m;
  f->n++;
  return 0;
}

int pc_fifo_push_front(pc_msgfifo *f, const pc_msg *m) {
  if (f->n == f->cap && fifo_grow(f) != 0)
    return -1;
  f->head = (f->head + f->cap - 1) & (f->cap - 1);
  f->a[f->head] = *m;
  f->n++;
  return 0;
}

void pc_fifo_free(pc_msgfifo *f) {
  free(f->a);
  memset(f, 0, sizeof *f);
}
