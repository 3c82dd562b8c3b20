/* Stats and metrics: send a few messages with futures, read the producer's
 * stats, then write everything the client knows in the Prometheus text
 * format, as a /metrics handler would answer a scrape.
 *
 *   stats_metrics [SERVICE_URL] [TOPIC] [COUNT]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-stats", 100. Exit 0 when every
 * message was acknowledged and the stats say so. */
#include <pulsarc/pulsarc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "stats_metrics: %s: %s (%s): %s\n", what, pulsarc_err_str(err),
          pulsarc_err_name(err), pulsarc_last_error_text());
  return 1;
}

/* A growing buffer: pulsarc_client_metrics hands the text over in pieces,
 * and an HTTP handler answers with the whole of it. */
typedef struct text {
  char *data;
  size_t len, cap;
  int failed;
} text;

static void append(const char *piece, size_t len, void *ctx) {
  text *t = ctx;
  if (t->failed)
    return;
  if (t->len + len > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + len)
      cap *= 2;
    char *d = realloc(t->data, cap);
    if (d == NULL) {
      t->failed = 1;
      return;
    }
    t->data = d;
    t->cap = cap;
  }
  memcpy(t->data + t->len, piece, len);
  t->len += len;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-stats";
  int count = argc > 3 ? atoi(argv[3]) : 100;
  if (count < 1 || count > 1000000) {
    fprintf(stderr, "stats_metrics: COUNT must be 1..1000000\n");
    return 2;
  }

  pulsarc_client_t *client = NULL;
  pulsarc_err_t err = pulsarc_client_new(url, NULL, &client);
  if (err)
    return fail("creating the client", err);
  pulsarc_producer_t *producer = NULL;
  err = pulsarc_producer_create(client, topic, NULL, &producer);
  if (err) {
    fail("creating the producer", err);
    pulsarc_client_destroy(client);
    return 1;
  }

  int rc = 0;
  pulsarc_future_t **futures = calloc((size_t)count, sizeof *futures);
  if (futures == NULL) {
    fprintf(stderr, "stats_metrics: out of memory\n");
    rc = 1;
  }
  int sent = 0;
  for (int i = 0; futures && i < count; i++) {
    char payload[64];
    int len = snprintf(payload, sizeof payload, "message %d", i);
    err = pulsarc_producer_send_async(producer, payload, (size_t)len, NULL, &futures[i]);
    if (err) {
      rc = fail("sending", err);
      break;
    }
    sent++;
  }
  int acked = 0;
  for (int i = 0; i < sent; i++) {
    pulsarc_msg_id_t id;
    err = pulsarc_future_wait(futures[i], 30000, &id);
    if (err == PULSARC_OK)
      acked++;
    else if (!rc)
      rc = fail("a send completed", err);
    pulsarc_future_destroy(futures[i]);
  }
  free(futures);

  /* Counters only grow and are exact: every send above has completed, so
   * msgs_acked counts each of them. */
  pulsarc_producer_stats_t st;
  err = pulsarc_producer_stats(producer, &st, sizeof st);
  if (err) {
    rc = fail("reading the stats", err);
  } else {
    fprintf(stderr,
            "stats_metrics: acknowledged %d; stats: accepted %llu, acked %llu, failed %llu, "
            "batches %llu (mean %.1f messages), latency p50 %llu us, p99 %llu us, max %llu us\n",
            acked, (unsigned long long)st.msgs_accepted, (unsigned long long)st.msgs_acked,
            (unsigned long long)st.msgs_failed, (unsigned long long)st.batches_sent,
            st.mean_batch_msgs, (unsigned long long)st.latency.p50_us,
            (unsigned long long)st.latency.p99_us, (unsigned long long)st.latency.max_us);
    if (st.msgs_acked != (unsigned long long)acked && !rc) {
      fprintf(stderr, "stats_metrics: the stats count %llu acknowledged, not %d\n",
              (unsigned long long)st.msgs_acked, acked);
      rc = 1;
    }
  }

  /* What a /metrics handler does: the whole text into a buffer, then
   * answered with Content-Type: text/plain; version=0.0.4. */
  text t = {0};
  err = pulsarc_client_metrics(client, append, &t);
  if (err || t.failed) {
    rc = err ? fail("writing the metrics", err) : 1;
  } else {
    fwrite(t.data, 1, t.len, stdout);
  }
  free(t.data);

  err = pulsarc_producer_close(producer);
  if (err && !rc)
    rc = fail("closing the producer", err);
  pulsarc_producer_destroy(producer);
  err = pulsarc_client_close(client);
  if (err && !rc)
    rc = fail("closing the client", err);
  pulsarc_client_destroy(client);
  return rc || acked != count;
}
