/* Values the configuration holds: secrets that are wiped before they are
 * freed, and key/value lists (schema properties). Any thread. */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

void pc_free_secret(char *s) {
  if (s != NULL) {
    volatile char *p = s; /* not optimised away before free */
    while (*p)
      *p++ = '\0';
    free(s);
  }
}

void pc_kv_list_free(pc_kv_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->items[i].key);
    free(l->items[i].value);
  }
  free(l->items);
  memset(l, 0, sizeof *l);
}

int pc_kv_list_add(pc_kv_list *l, const char *k, size_t klen, const char *v) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    pc_kv *p = realloc(l->items, cap * sizeof *p);
    if (p == NULL)
      return -1;
    l->items = p;
    l->cap = cap;
  }
  char *kk = strndup(k, klen), *vv = strdup(v);
  if (kk == NULL || vv == NULL) {
    free(kk);
    free(vv);
    return -1;
  }
  l->items[l->n].key = kk;
  l->items[l->n].value = vv;
  l->n++;
  return 0;
}
