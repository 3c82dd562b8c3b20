/* Peer baseline for bench/peer_clients.py: the official C++ client's
 * blocking send (its C API, pulsar_producer_send) from N threads on one
 * producer, timed as pulsarc-perf --blocking times pulsarc_producer_send:
 * the whole call, message creation included. Prints one JSON line.
 *
 * No headers of the official client are needed: the C API is opaque
 * handles and plain functions, declared in pulsar_c_api.h, and the program links
 * against the libpulsar shared object that the pulsar-client Python wheel
 * carries (peer_clients.py finds it and passes it to cc). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h" /* tools/perf/hist.h: the same percentiles as pulsarc-perf */

#include "pulsar_c_api.h"

/* --- the run --- */
typedef struct sender {
  pthread_t th;
  pc_hist hist; /* measured successes; one writer, read after join */
  uint64_t ok_total, errors;
} sender;

static struct {
  pulsar_producer_t *prod;
  size_t size;
  uint64_t measure_start, end;
  _Atomic int first_err;
} g;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Its INFO lines would interleave with the JSON line: warnings and errors only. */
static void quiet_logger(int level, const char *file, int line, const char *message, void *ctx) {
  (void)ctx;
  if (level >= 2)
    fprintf(stderr, "cpp-client %s:%d: %s\n", file, line, message);
}

static void *sender_main(void *arg) {
  sender *s = arg;
  char *buf = malloc(g.size ? g.size : 1);
  if (!buf)
    return NULL;
  for (size_t i = 0; i < g.size; i++)
    buf[i] = (char)('a' + i % 26);
  for (;;) {
    uint64_t t = now_ns();
    if (t >= g.end)
      break;
    pulsar_message_t *m = pulsar_message_create();
    pulsar_message_set_content(m, buf, g.size);
    pulsar_result r = pulsar_producer_send(g.prod, m);
    pulsar_message_free(m);
    uint64_t done = now_ns();
    if (r != 0) {
      int zero = 0;
      atomic_compare_exchange_strong(&g.first_err, &zero, r);
      s->errors++;
      if (s->errors > 1000)
        break; /* a broken producer: do not spin */
      continue;
    }
    s->ok_total++;
    if (t >= g.measure_start)
      pc_hist_record(&s->hist, done - t);
  }
  free(buf);
  return NULL;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name))
      return argv[i + 1];
  return dflt;
}

static int has_flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], name))
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  const char *url = arg_str(argc, argv, "--service-url", NULL);
  const char *topic = arg_str(argc, argv, "--topic", "cpp-blocking");
  if (!url || has_flag(argc, argv, "--help")) {
    fprintf(stderr,
            "usage: %s --service-url URL [--topic T] [--threads N] [--size B] [--duration S]\n"
            "  [--warmup S] [--batch-max-messages N] [--batch-max-bytes B]\n"
            "  [--batch-max-delay-ms MS] [--max-pending N] [--no-batching]\n",
            argv[0]);
    return 2;
  }
  unsigned nthreads = (unsigned)atoi(arg_str(argc, argv, "--threads", "1"));
  g.size = (size_t)atol(arg_str(argc, argv, "--size", "100"));
  double dur = atof(arg_str(argc, argv, "--duration", "10"));
  double warm = atof(arg_str(argc, argv, "--warmup", "1"));
  if (nthreads < 1 || nthreads > 256 || dur <= 0 || warm < 0) {
    fprintf(stderr, "bad --threads, --duration or --warmup\n");
    return 2;
  }

  pulsar_client_configuration_t *cc = pulsar_client_configuration_create();
  pulsar_client_configuration_set_io_threads(cc, 1);
  pulsar_client_configuration_set_logger(cc, quiet_logger, NULL);
  pulsar_client_t *client = pulsar_client_create(url, cc);
  pulsar_producer_configuration_t *pc = pulsar_producer_configuration_create();
  pulsar_producer_configuration_set_batching_enabled(pc, !has_flag(argc, argv, "--no-batching"));
  pulsar_producer_configuration_set_batching_max_messages(
      pc, (unsigned)atol(arg_str(argc, argv, "--batch-max-messages", "1000")));
  pulsar_producer_configuration_set_batching_max_allowed_size_in_bytes(
      pc, (unsigned long)atol(arg_str(argc, argv, "--batch-max-bytes", "131072")));
  pulsar_producer_configuration_set_batching_max_publish_delay_ms(
      pc, (unsigned long)atol(arg_str(argc, argv, "--batch-max-delay-ms", "10")));
  pulsar_producer_configuration_set_max_pending_messages(
      pc, atoi(arg_str(argc, argv, "--max-pending", "10000")));
  pulsar_producer_configuration_set_block_if_queue_full(pc, 1);
  pulsar_result r = pulsar_client_create_producer(client, topic, pc, &g.prod);
  if (r != 0) {
    fprintf(stderr, "cannot create a producer on %s at %s: %s\n", topic, url, pulsar_result_str(r));
    return 1;
  }

  sender *sd = calloc(nthreads, sizeof *sd);
  if (!sd)
    return 1;
  uint64_t t0 = now_ns();
  g.measure_start = t0 + (uint64_t)(warm * 1e9);
  g.end = g.measure_start + (uint64_t)(dur * 1e9);
  unsigned started = 0;
  for (; started < nthreads; started++) {
    pc_hist_reset(&sd[started].hist);
    if (pthread_create(&sd[started].th, NULL, sender_main, &sd[started]))
      break;
  }
  pc_hist h;
  pc_hist_reset(&h);
  uint64_t ok_total = 0, errors = 0;
  for (unsigned i = 0; i < started; i++) {
    pthread_join(sd[i].th, NULL);
    pc_hist_merge(&h, &sd[i].hist);
    ok_total += sd[i].ok_total;
    errors += sd[i].errors;
  }
  /* Blocking sends: every counted message had its receipt when its call
   * returned, so the window ends with the last call. */
  double secs = (double)(now_ns() - g.measure_start) / 1e9;
  pulsar_producer_close(g.prod);
  pulsar_producer_free(g.prod);
  pulsar_producer_configuration_free(pc);
  pulsar_client_close(client);
  pulsar_client_free(client);
  pulsar_client_configuration_free(cc);
  int fe = atomic_load(&g.first_err);
  printf("{\"client\":\"cpp\",\"api\":\"C API pulsar_producer_send (blocking)\",\"threads\":%u,"
         "\"messages\":%" PRIu64 ",\"sent_total\":%" PRIu64 ",\"seconds\":%.6f,"
         "\"msgs_per_sec\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
         "\"errors\":%" PRIu64 ",\"first_error\":\"%s\"}\n",
         started, h.count, ok_total, secs, secs > 0 ? (double)h.count / secs : 0.0,
         (double)pc_hist_percentile(&h, 50) / 1e3, (double)pc_hist_percentile(&h, 99) / 1e3,
         (double)pc_hist_percentile(&h, 99.9) / 1e3, errors, fe ? pulsar_result_str(fe) : "");
  free(sd);
  return started == nthreads && errors == 0 ? 0 : 1;
}
