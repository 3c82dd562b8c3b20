/* Peer for bench/run.py --real-broker: the official C++ client's ASYNC send
 * (its C API, pulsar_producer_send_async) from one application thread on
 * one producer, as fast as the producer accepts (block_if_queue_full, so
 * max-pending bounds what is in flight). Runs until --duration seconds have
 * passed or SIGTERM/SIGINT, then flushes, closes and prints one JSON line.
 *
 * The bench measures throughput and CPU from outside (the broker's message
 * counter, /proc/<pid>/stat), the same way for every client, so this
 * program only has to publish; its own counts are a cross-check.
 *
 * Built like blocking_send.c: no headers of the official client, the few
 * C functions are declared in pulsar_c_api.h, linked against the libpulsar shared
 * object of the pulsar-client Python wheel (bench/peer_clients.py). */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pulsar_c_api.h"

static atomic_uint_fast64_t acked, failed;
static _Atomic int first_err;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs on the client's I/O thread. */
static void on_sent(pulsar_result r, pulsar_message_id_t *id, void *ctx) {
  (void)ctx;
  if (id)
    pulsar_message_id_free(id);
  if (r == 0) {
    atomic_fetch_add_explicit(&acked, 1, memory_order_relaxed);
  } else {
    int zero = 0;
    atomic_compare_exchange_strong(&first_err, &zero, r);
    atomic_fetch_add_explicit(&failed, 1, memory_order_relaxed);
  }
}

/* Its INFO lines are of no use here: warnings and errors only. */
static void quiet_logger(int level, const char *file, int line, const char *message, void *ctx) {
  (void)ctx;
  if (level >= 2)
    fprintf(stderr, "cpp-client %s:%d: %s\n", file, line, message);
}

static const char *arg_str(int argc, char **argv, const char *name, const char *dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name))
      return argv[i + 1];
  return dflt;
}

int main(int argc, char **argv) {
  const char *url = arg_str(argc, argv, "--service-url", NULL);
  const char *topic = arg_str(argc, argv, "--topic", "cpp-async");
  if (!url) {
    fprintf(stderr,
            "usage: %s --service-url URL [--topic T] [--size B] [--duration S]\n"
            "  [--batch-max-messages N] [--batch-max-bytes B] [--batch-max-delay-ms MS]\n"
            "  [--max-pending N]\n",
            argv[0]);
    return 2;
  }
  size_t size = (size_t)atol(arg_str(argc, argv, "--size", "100"));
  double dur = atof(arg_str(argc, argv, "--duration", "60"));
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  pulsar_client_configuration_t *cc = pulsar_client_configuration_create();
  pulsar_client_configuration_set_io_threads(cc, 1);
  pulsar_client_configuration_set_logger(cc, quiet_logger, NULL);
  pulsar_client_t *client = pulsar_client_create(url, cc);
  pulsar_producer_configuration_t *pc = pulsar_producer_configuration_create();
  pulsar_producer_configuration_set_batching_enabled(pc, 1);
  pulsar_producer_configuration_set_batching_max_messages(
      pc, (unsigned)atol(arg_str(argc, argv, "--batch-max-messages", "1000")));
  pulsar_producer_configuration_set_batching_max_allowed_size_in_bytes(
      pc, (unsigned long)atol(arg_str(argc, argv, "--batch-max-bytes", "131072")));
  pulsar_producer_configuration_set_batching_max_publish_delay_ms(
      pc, (unsigned long)atol(arg_str(argc, argv, "--batch-max-delay-ms", "10")));
  pulsar_producer_configuration_set_max_pending_messages(
      pc, atoi(arg_str(argc, argv, "--max-pending", "10000")));
  pulsar_producer_configuration_set_block_if_queue_full(pc, 1);
  pulsar_producer_t *prod = NULL;
  pulsar_result r = pulsar_client_create_producer(client, topic, pc, &prod);
  if (r != 0) {
    fprintf(stderr, "cannot create a producer on %s at %s: %s\n", topic, url, pulsar_result_str(r));
    return 1;
  }
  char *buf = malloc(size ? size : 1);
  if (!buf)
    return 1;
  for (size_t i = 0; i < size; i++)
    buf[i] = (char)('a' + i % 26);

  double t0 = now_s(), end = t0 + dur;
  uint64_t sent = 0;
  /* The clock is read every 1024 sends: the loop itself stays the client's. */
  while (!stop && atomic_load_explicit(&failed, memory_order_relaxed) < 1000) {
    if ((sent & 1023) == 0 && now_s() >= end)
      break;
    pulsar_message_t *m = pulsar_message_create();
    pulsar_message_set_content(m, buf, size);
    pulsar_producer_send_async(prod, m, on_sent, NULL);
    pulsar_message_free(m);
    sent++;
  }
  pulsar_producer_flush(prod);
  double secs = now_s() - t0;
  pulsar_producer_close(prod);
  pulsar_producer_free(prod);
  pulsar_producer_configuration_free(pc);
  pulsar_client_close(client);
  pulsar_client_free(client);
  pulsar_client_configuration_free(cc);
  free(buf);
  int fe = atomic_load(&first_err);
  printf("{\"client\":\"cpp\",\"api\":\"C API pulsar_producer_send_async\",\"sent\":%" PRIu64
         ",\"acked\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"seconds\":%.3f,\"first_error\":\"%s\"}\n",
         sent, (uint64_t)atomic_load(&acked), (uint64_t)atomic_load(&failed), secs,
         fe ? pulsar_result_str(fe) : "");
  return atomic_load(&failed) ? 1 : 0;
}
