/* Futures: start many sends without waiting, then collect each result.
 * pulsarc_producer_send_async copies the payload and returns a future at
 * once; pulsarc_future_wait gives the message id or the error.
 *
 *   futures [SERVICE_URL] [TOPIC] [COUNT]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-futures", 100. */
#include <pulsarc/pulsarc.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "futures: %s: %s (%s): %s\n", what, pulsarc_err_str(err), pulsarc_err_name(err),
          pulsarc_last_error_text());
  return 1;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-futures";
  int count = argc > 3 ? atoi(argv[3]) : 100;
  if (count < 1) {
    fprintf(stderr, "futures: COUNT must be at least 1\n");
    return 2;
  }

  pulsarc_client_t *client = NULL;
  pulsarc_err_t err = pulsarc_client_new(url, NULL, &client);
  if (err)
    return fail("creating the client", err);

  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  char why[256];
  /* A short batch delay: the futures complete in batches. */
  err = pulsarc_producer_conf_set(conf, "batch_max_delay_ms", "5", why, sizeof why);
  if (err) {
    fprintf(stderr, "futures: batch_max_delay_ms: %s\n", why);
    pulsarc_producer_conf_destroy(conf);
    pulsarc_client_destroy(client);
    return 1;
  }
  pulsarc_producer_t *producer = NULL;
  err = pulsarc_producer_create(client, topic, conf, &producer);
  pulsarc_producer_conf_destroy(conf); /* the producer keeps its own copy */
  if (err) {
    fail("creating the producer", err);
    pulsarc_client_destroy(client);
    return 1;
  }

  pulsarc_future_t **futures = calloc((size_t)count, sizeof *futures);
  if (!futures) {
    fprintf(stderr, "futures: out of memory\n");
    pulsarc_producer_destroy(producer);
    pulsarc_client_destroy(client);
    return 1;
  }
  int rc = 0, started = 0;
  for (; started < count; started++) {
    char payload[64];
    int len = snprintf(payload, sizeof payload, "future %d", started);
    err = pulsarc_producer_send_async(producer, payload, (size_t)len, NULL, &futures[started]);
    if (err) { /* not accepted: no future to wait for */
      rc = fail("sending", err);
      break;
    }
  }

  int acknowledged = 0;
  for (int i = 0; i < started; i++) {
    pulsarc_msg_id_t id;
    /* Bounded wait: the send itself is bounded by send_timeout_ms (30 s). */
    err = pulsarc_future_wait(futures[i], 60000, &id);
    if (err == PULSARC_OK) {
      acknowledged++;
      if (i == 0 || i == started - 1) {
        char s[64];
        pulsarc_msg_id_format(&id, s, sizeof s);
        printf("message %d stored as %s\n", i, s);
      }
    } else if (!rc) {
      rc = fail("waiting for a send", err);
    }
    pulsarc_future_destroy(futures[i]);
  }
  free(futures);
  printf("%d of %d messages acknowledged\n", acknowledged, count);

  err = pulsarc_producer_close(producer);
  if (err && !rc)
    rc = fail("closing the producer", err);
  pulsarc_producer_destroy(producer);
  err = pulsarc_client_close(client);
  if (err && !rc)
    rc = fail("closing the client", err);
  pulsarc_client_destroy(client);
  return rc;
}
