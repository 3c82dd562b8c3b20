/* The middle of the fixture. The layer above fills mid_events. */
#ifndef FIX_MID_WORK_H
#define FIX_MID_WORK_H
struct mid_events {
  void (*done)(int r);
};
int mid_work(const struct mid_events *ev, int v);
#endif
