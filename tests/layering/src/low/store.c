/* Calls index.c, listed below it. */
#include "low/store.h"

int low_put(int v) { return low_index_of(v) + 1; }
