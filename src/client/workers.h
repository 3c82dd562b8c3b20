/* The client's compression workers: threads that run a piece of work off
 * the I/O threads and hand it back to the loop that submitted it (through
 * pc_loop_post, which wakes that loop). The work knows nothing of the
 * producer: the submitter fills run and done, so this file never names
 * the files above it. */
#ifndef PULSARC_CLIENT_WORKERS_H
#define PULSARC_CLIENT_WORKERS_H

#include "loop/loop.h"

typedef struct pc_work {
  struct pc_work *next;
  void (*run)(struct pc_work *w);       /* on a worker */
  void (*done)(pc_loop *loop, void *w); /* then on loop, with w */
  pc_loop *loop;
} pc_work;

typedef struct pc_workers pc_workers;

/* n threads (n >= 1); NULL if none could be started. */
pc_workers *pc_workers_new(int n);
/* [any] Queues w: one lock and at most one wake-up per call. */
void pc_workers_submit(pc_workers *ws, pc_work *w);
/* Runs what is queued, hands it back, joins the threads, frees. Call
 * while the loops still run (their done tasks then run before they stop). */
void pc_workers_free(pc_workers *ws);

#endif
