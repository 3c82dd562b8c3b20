/* The bottom of the fixture: a store and its index, one unit. */
#ifndef FIX_LOW_STORE_H
#define FIX_LOW_STORE_H
extern int low_capacity;
int low_put(int v);
int low_index_of(int v);
#endif
