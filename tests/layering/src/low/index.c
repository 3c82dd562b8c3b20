/* Reads store.c's low_capacity: sideways within the unit, not upward. */
#include "low/store.h"

int low_index_of(int v) { return v % low_capacity; }
