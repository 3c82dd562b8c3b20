/* The client's compression workers (compression_threads): a mutex and a
 * condition variable guard one FIFO of work; a worker takes one piece,
 * runs it unlocked and posts its done half to the submitting loop. The
 * lock and the wake-up are per batch (one piece of work), never per
 * message. [any] */
#include "client/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "client/testing.h"
#include "common/thread.h"

#ifdef PULSARC_TEST_HOOKS
#include <stdatomic.h>
static _Atomic int test_hold;
static _Atomic long test_pending;
void pc_test_workers_hold(int hold) { atomic_store(&test_hold, hold); }
long pc_test_workers_pending(void) { return atomic_load(&test_pending); }
static void test_gate(void) {
  while (atomic_load(&test_hold)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}
#define TEST_PENDING(d) atomic_fetch_add(&test_pending, (d))
#else
#define test_gate() ((void)0)
#define TEST_PENDING(d) ((void)0)
#endif

struct pc_workers {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pc_work *head, *tail;
  int idle; /* workers waiting on cond */
  bool stop;
  int n;
  pthread_t threads[];
};

static void hand_back(pc_work *w) {
  /* pc_loop_post fails only without memory; the loop must get the work
   * back (it owns it), so wait for memory rather than lose it. */
  while (pc_loop_post(w->loop, w->done, w) != 0) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

static void *worker_main(void *arg) {
  pc_workers *ws = arg;
  pthread_mutex_lock(&ws->lock);
  for (;;) {
    while (ws->head == NULL && !ws->stop) {
      ws->idle++;
      pthread_cond_wait(&ws->cond, &ws->lock);
      ws->idle--;
    }
    pc_work *w = ws->head;
    if (w == NULL)
      break; /* stopping, and everything queued has run */
    ws->head = w->next;
    if (ws->head == NULL)
      ws->tail = NULL;
    pthread_mutex_unlock(&ws->lock);
    test_gate();
    w->run(w);
    hand_back(w);
    TEST_PENDING(-1);
    pthread_mutex_lock(&ws->lock);
  }
  pthread_mutex_unlock(&ws->lock);
  return NULL;
}

pc_workers *pc_workers_new(int n) {
  pc_workers *ws = calloc(1, sizeof *ws + (size_t)n * sizeof(pthread_t));
  if (ws == NULL)
    return NULL;
  pthread_mutex_init(&ws->lock, NULL);
  pthread_cond_init(&ws->cond, NULL);
  pthread_attr_t a;
  if (pc_thread_attr_init(&a) != 0) {
    free(ws);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (pthread_create(&ws->threads[i], &a, worker_main, ws) != 0)
      break;
    pthread_setname_np(ws->threads[i], "pulsarc-zip");
    ws->n++;
  }
  pthread_attr_destroy(&a);
  if (ws->n == 0) {
    pthread_mutex_destroy(&ws->lock);
    pthread_cond_destroy(&ws->cond);
    free(ws);
    return NULL;
  }
  return ws;
}

void pc_workers_submit(pc_workers *ws, pc_work *w) {
  TEST_PENDING(1);
  w->next = NULL;
  pthread_mutex_lock(&ws->lock);
  if (ws->tail != NULL)
    ws->tail->next = w;
  else
    ws->head = w;
  ws->tail = w;
  bool wake = ws->idle > 0;
  pthread_mutex_unlock(&ws->lock);
  if (wake)
    pthread_cond_signal(&ws->cond);
}

void pc_workers_free(pc_workers *ws) {
  if (ws == NULL)
    return;
  pthread_mutex_lock(&ws->lock);
  ws->stop = true;
  pthread_mutex_unlock(&ws->lock);
  pthread_cond_broadcast(&ws->cond);
  for (int i = 0; i < ws->n; i++)
    pthread_join(ws->threads[i], NULL);
  pthread_mutex_destroy(&ws->lock);
  pthread_cond_destroy(&ws->cond);
  free(ws);
}
