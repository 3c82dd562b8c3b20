/* pulsarc-crosscore: how long one cache line takes to go from one core to
 * another and back, on this machine, now.
 *
 * Every message pulsarc sends crosses cores at least twice (the sender's
 * ring slot and payload copy, read by the I/O thread), so its CPU per
 * message follows this figure. On the 2-core development VM it moved
 * between about 110 ns and 470 ns from one hour to the next (the host
 * places the two vCPUs near each other or far apart), and pulsarc-perf's
 * CPU per message moved about 3x with it; bench/run.py records it before
 * and after a run so that figures from different runs can be compared.
 *
 * Two threads pinned to CPUs 0 and 1 hand one cache line back and forth
 * (a flag each sets for the other). Prints one JSON line:
 *   {"tool":"crosscore","cpus":[0,1],"round_trips":N,"round_trip_ns":X}
 * or {"tool":"crosscore","status":"error: ..."} when the machine has one
 * CPU or the threads cannot be pinned.
 *
 *   pulsarc-crosscore [round_trips]   (default 300000) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static _Alignas(64) _Atomic int turn;      /* 1: the far thread's, 0: the near one's */
static _Alignas(64) _Atomic int far_ready; /* 1 pinned, -1 could not pin */
static long rounds = 300000;

static int pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *far_side(void *arg) {
  (void)arg;
  if (pin(1) != 0) {
    atomic_store(&far_ready, -1);
    return NULL;
  }
  atomic_store(&far_ready, 1);
  for (long i = 0; i < rounds; i++) {
    while (atomic_load_explicit(&turn, memory_order_acquire) != 1)
      ;
    atomic_store_explicit(&turn, 0, memory_order_release);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1 && (rounds = atol(argv[1])) <= 0) {
    fprintf(stderr, "usage: pulsarc-crosscore [round_trips]\n");
    return 2;
  }
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || pin(0) != 0) {
    printf("{\"tool\":\"crosscore\",\"status\":\"error: needs CPUs 0 and 1\"}\n");
    return 1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, far_side, NULL) != 0)
    return 1;
  while (atomic_load(&far_ready) == 0)
    ;
  if (atomic_load(&far_ready) < 0) {
    pthread_join(t, NULL);
    printf("{\"tool\":\"crosscore\",\"status\":\"error: cannot pin a thread to CPU 1\"}\n");
    return 1;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < rounds; i++) {
    atomic_store_explicit(&turn, 1, memory_order_release);
    while (atomic_load_explicit(&turn, memory_order_acquire) == 1)
      ;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, NULL);
  double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
  printf("{\"tool\":\"crosscore\",\"cpus\":[0,1],\"round_trips\":%ld,\"round_trip_ns\":%.1f}\n",
         rounds, ns / (double)rounds);
  return 0;
}
