/* The bottom of the fixture: owns low_capacity, calls nothing. */
#include "low/store.h"

int low_capacity = 7;

int low_index_of(int v) { return v % low_capacity; }
