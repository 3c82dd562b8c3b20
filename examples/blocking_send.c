/* Blocking send: the simplest way to publish. Each pulsarc_producer_send
 * returns once the broker has stored the message (or it failed for good).
 *
 *   blocking_send [SERVICE_URL] [TOPIC] [COUNT]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-blocking", 10. Exit 0 when
 * every message was acknowledged. */
#include <pulsarc/pulsarc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, pulsarc_err_t err) {
  /* pulsarc_last_error_text() says why, on the thread that made the call. */
  fprintf(stderr, "blocking_send: %s: %s (%s): %s\n", what, pulsarc_err_str(err),
          pulsarc_err_name(err), pulsarc_last_error_text());
  return 1;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-blocking";
  int count = argc > 3 ? atoi(argv[3]) : 10;

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
  for (int i = 0; i < count; i++) {
    char payload[64];
    int len = snprintf(payload, sizeof payload, "message %d", i);
    pulsarc_msg_id_t id;
    err = pulsarc_producer_send(producer, payload, (size_t)len, NULL, &id);
    if (err) { /* check before using id: it is only filled on success */
      rc = fail("sending", err);
      break;
    }
    char s[64];
    pulsarc_msg_id_format(&id, s, sizeof s);
    printf("sent \"%s\" as %s\n", payload, s);
  }

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
