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
 *   pulsarc-wakes [messages]     default 200000 (plus half as many warm-up) */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  if (n <= 0) {
    fprintf(stderr, "usage: pulsarc-wakes [messages]\n");
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
  pulsarc_producer_close(p);
  pulsarc_producer_destroy(p);
  pulsarc_client_destroy(c);
  pulsarc_tb_free(tb);
  if (rc != 0)
    return 1;
  printf("{\"messages\":%ld,\"errors\":%ld,\"eventfd_writes\":%llu,"
         "\"eventfd_writes_per_100_messages\":%.3f,\"seconds\":%.3f}\n",
         n, atomic_load(&failed), (unsigned long long)wakes, 100.0 * (double)wakes / (double)n,
         secs);
  return atomic_load(&failed) == 0 ? 0 : 1;
}
