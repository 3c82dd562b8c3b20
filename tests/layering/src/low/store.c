/* Calls index.c, which reads low_capacity from here: a unit on one line. */
#include "low/store.h"

int low_capacity = 7;

int low_put(int v) { return low_index_of(v) + 1; }
