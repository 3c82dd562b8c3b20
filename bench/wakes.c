/* pulsarc-wakes: how often application threads wake the I/O thread.
 *
 * One sender, non-blocking send_cb of 100-byte messages (batching and
 * pending limit as in bench/run.py's defaults) against the embedded test
 * broker; after a warm-up it counts the eventfd writes made to wake the
 * I/O thread (the client's test probe) for the measured messages, and
 * prints one JSON line. The figure used to be asserted by the hot-path
 * test (at most one write per 100 messages); it depends on scheduling, so
 * it is measured here and never asserted.
 *
 *   pulsarc-wakes [messages]     default 200000 (plus half as many warm-up)
 *
 * With --blocking T, T threads make blocking sends (default batching, as
 * bench/run.py's blocking rows) and it prints, per message: eventfd writes
 * to the I/O thread, wake syscalls made by completions of the blocked
 * senders (client/future.c), and the process's context switches
 * (getrusage: the in-process test broker's included), with the mean batch.
 *
 *   pulsarc-wakes --blocking T [messages]   default 200000 in all */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "client/testing.h"
#include "pulsarc/pulsarc.h"
#include "testbroker.h"

static atomic_long completed, failed;

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  (void)id;
  (void)ctx;
  if (err != PULSARC_OK)
    atomic_fetch_add(&failed, 1);
  atomic_fetch_add(&completed, 1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends n messages and waits (at most 120 s) for their callbacks. */
static int send_n(pulsarc_producer_t *p, long n) {
  char payload[100];
  memset(payload, 'x', sizeof payload);
  long target = atomic_load(&completed) + n;
  for (long i = 0; i < n; i++) {
    memcpy(payload, &i, sizeof i);
    pulsarc_err_t e;
    while ((e = pulsarc_producer_send_cb(p, payload, sizeof payload, NULL, on_sent, NULL)) ==
           PULSARC_ERR_QUEUE_FULL)
      usleep(50);
    if (e != PULSARC_OK) {
      fprintf(stderr, "pulsarc-wakes: send: %s\n", pulsarc_err_str(e));
      return -1;
    }
  }
  double give_up = now_s() + 120;
  while (atomic_load(&completed) < target) {
    if (now_s() > give_up) {
      fprintf(stderr, "pulsarc-wakes: sends did not complete\n");
      return -1;
    }
    usleep(1000);
  }
  return 0;
}

typedef struct blocking_arg {
  pulsarc_producer_t *p;
  long n;
  long failed;
} blocking_arg;

static void *blocking_sender(void *arg) {
  blocking_arg *a = arg;
  char payload[100];
  memset(payload, 'x', sizeof payload);
  for (long i = 0; i < a->n; i++) {
    memcpy(payload, &i, sizeof i);
    if (pulsarc_producer_send(a->p, payload, sizeof payload, NULL, NULL) != PULSARC_OK)
      a->failed++;
  }
  return NULL;
}

/* T threads, n/T blocking sends each (a tenth of that first as warm-up). */
static int blocking_round(pulsarc_producer_t *p, int threads, long each, long *failed) {
  blocking_arg a[64];
  pthread_t t[64];
  for (int i = 0; i < threads; i++) {
    a[i] = (blocking_arg){.p = p, .n = each};
    if (pthread_create(&t[i], NULL, blocking_sender, &a[i]) != 0)
      return -1;
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    *failed += a[i].failed;
  }
  return 0;
}

static long switches(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* Closes and frees what a run started, producer first. */
static void stop_all(pulsarc_producer_t *p, pulsarc_client_t *c, pulsarc_tb *tb) {
  pulsarc_producer_close(p);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(c);
  pulsarc_tb_free(tb);
}

static int blocking_main(int threads, long n) {
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 0;
  o.max_entry_records = 0;
  pulsarc_tb *tb = NULL;
  pulsarc_client_t *c = NULL;
  pulsarc_producer_t *p = NULL;
  if (pulsarc_tb_start(&o, &tb) != 0 ||
      pulsarc_client_new(pulsarc_tb_service_url(tb), NULL, &c) != PULSARC_OK ||
      pulsarc_producer_create(c, "wakes-blocking", NULL, &p) != PULSARC_OK) {
    fprintf(stderr, "pulsarc-wakes: setup failed\n");
    return 1;
  }
  long each = n / threads, failed = 0;
  int rc = blocking_round(p, threads, each / 10 > 0 ? each / 10 : 1, &failed);
  pulsarc_producer_stats_t s0, s1;
  pulsarc_producer_stats(p, &s0, sizeof s0);
  uint64_t ev0 = pc_test_client_wakes(c), wk0 = pc_test_waiter_wakes();
  long cs0 = switches();
  double t0 = now_s();
  if (rc == 0)
    rc = blocking_round(p, threads, each, &failed);
  double secs = now_s() - t0;
  long cs = switches() - cs0;
  uint64_t ev = pc_test_client_wakes(c) - ev0, wk = pc_test_waiter_wakes() - wk0;
  pulsarc_producer_stats(p, &s1, sizeof s1);
  stop_all(p, c, tb);
  if (rc != 0)
    return 1;
  double msgs = (double)(each * threads);
  uint64_t batches = s1.batches_sent - s0.batches_sent;
  printf("{\"blocking_threads\":%d,\"messages\":%.0f,\"errors\":%ld,\"msgs_per_sec\":%.0f,"
         "\"mean_batch\":%.2f,\"eventfd_writes_per_message\":%.3f,"
         "\"waiter_wakes_per_message\":%.3f,\"context_switches_per_message\":%.3f,"
         "\"seconds\":%.3f}\n",
         threads, msgs, failed, msgs / secs,
         batches ? (double)(s1.msgs_sent - s0.msgs_sent) / (double)batches : 0.0, (double)ev / msgs,
         (double)wk / msgs, (double)cs / msgs, secs);
  return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--blocking") == 0) {
    int threads = atoi(argv[2]);
    long n = argc > 3 ? atol(argv[3]) : 200000;
    if (threads <= 0 || threads > 64 || n < threads) {
      fprintf(stderr, "usage: pulsarc-wakes --blocking threads(1-64) [messages]\n");
      return 2;
    }
    return blocking_main(threads, n);
  }
  long n = argc > 1 ? atol(argv[1]) : 200000;
  if (n <= 0) {
    fprintf(stderr, "usage: pulsarc-wakes [messages] | --blocking threads [messages]\n");
    return 2;
  }
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  o.retain_bytes = 0;
  o.max_entry_records = 0;
  pulsarc_tb *tb = NULL;
  pulsarc_client_t *c = NULL;
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  pulsarc_producer_t *p = NULL;
  if (pulsarc_tb_start(&o, &tb) != 0 ||
      pulsarc_client_new(pulsarc_tb_service_url(tb), NULL, &c) != PULSARC_OK || conf == NULL ||
      pulsarc_producer_conf_set(conf, "max_pending_messages", "10000", NULL, 0) != PULSARC_OK ||
      pulsarc_producer_conf_set(conf, "block_if_queue_full", "false", NULL, 0) != PULSARC_OK ||
      pulsarc_producer_create(c, "wakes", conf, &p) != PULSARC_OK) {
    fprintf(stderr, "pulsarc-wakes: setup failed\n");
    return 1;
  }
  pulsarc_producer_conf_destroy(conf);
  int rc = send_n(p, n / 2);
  uint64_t before = pc_test_client_wakes(c);
  double t0 = now_s();
  if (rc == 0)
    rc = send_n(p, n);
  double secs = now_s() - t0;
  uint64_t wakes = pc_test_client_wakes(c) - before;
  stop_all(p, c, tb);
  if (rc != 0)
    return 1;
  printf("{\"messages\":%ld,\"errors\":%ld,\"eventfd_writes\":%llu,"
         "\"eventfd_writes_per_100_messages\":%.3f,\"seconds\":%.3f}\n",
         n, atomic_load(&failed), (unsigned long long)wakes, 100.0 * (double)wakes / (double)n,
         secs);
  return atomic_load(&failed) == 0 ? 0 : 1;
}
