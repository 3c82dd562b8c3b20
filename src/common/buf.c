/* Growable byte buffer. Single owner: any thread, one at a time. */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

int pc_buf_reserve(pc_buf *b, size_t extra) {
  if (b->cap - b->len >= extra)
    return 0;
  if (extra > SIZE_MAX / 2 - b->len)
    return -1;
  size_t need = b->len + extra;
  /* Doubling keeps appends amortised O(1); 256 avoids tiny reallocs. */
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pc_buf_append(pc_buf *b, const void *src, size_t n) {
  if (n == 0)
    return 0;
  if (pc_buf_reserve(b, n) != 0)
    return -1;
  memcpy(b->data + b->len, src, n);
  b->len += n;
  return 0;
}

void pc_buf_free(pc_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
