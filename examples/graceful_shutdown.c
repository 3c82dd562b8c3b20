/* Graceful shutdown with flush: a service that publishes until it is told
 * to stop (SIGINT or SIGTERM), then loses nothing it accepted:
 *
 *   1. stop sending;
 *   2. pulsarc_producer_flush: sends every open batch now and waits until
 *      every message accepted so far has completed (bounded wait);
 *   3. pulsarc_producer_close: unregisters (it would also flush, for up to
 *      close_timeout_ms, what step 2 left);
 *   4. pulsarc_client_close, then the _destroy calls.
 *
 *   graceful_shutdown [SERVICE_URL] [TOPIC] [MAX_MESSAGES]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-shutdown", 0 (= until a
 * signal). MAX_MESSAGES > 0 stops after that many, through the same
 * shutdown path. Exit 0 when every accepted message was acknowledged. */
#include <pulsarc/pulsarc.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1; /* only the flag: the shutdown runs on the main thread */
}

static atomic_long acked, failed;

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  (void)id;
  (void)ctx;
  if (err == PULSARC_OK)
    atomic_fetch_add(&acked, 1);
  else
    atomic_fetch_add(&failed, 1);
}

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "graceful_shutdown: %s: %s (%s): %s\n", what, pulsarc_err_str(err),
          pulsarc_err_name(err), pulsarc_last_error_text());
  return 1;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-shutdown";
  long max = argc > 3 ? atol(argv[3]) : 0;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

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
  long sent = 0;
  while (!stop_requested && (max == 0 || sent < max)) {
    char payload[64];
    int len = snprintf(payload, sizeof payload, "event %ld", sent);
    /* Blocks while max_pending_messages are outstanding (the default). */
    err = pulsarc_producer_send_cb(producer, payload, (size_t)len, NULL, on_sent, NULL);
    if (err) {
      rc = fail("sending", err);
      break;
    }
    sent++;
  }
  printf("stopping after %ld messages (%s)\n", sent, stop_requested ? "signal" : "limit");

  /* Bounded: a broker that stopped answering must not hang the shutdown.
   * On PULSARC_ERR_WAIT_TIMEOUT the messages are still pending; close
   * below gives them close_timeout_ms more, then fails them with
   * PULSARC_ERR_CLOSED (their callbacks say so). */
  err = pulsarc_producer_flush(producer, 10000);
  if (err && !rc)
    rc = fail("flushing", err);
  err = pulsarc_producer_close(producer);
  if (err && !rc)
    rc = fail("closing the producer", err);
  pulsarc_producer_destroy(producer);
  err = pulsarc_client_close(client);
  if (err && !rc)
    rc = fail("closing the client", err);
  pulsarc_client_destroy(client); /* I/O threads joined: every callback has run */

  printf("sent %ld, acknowledged %ld, failed %ld\n", sent, atomic_load(&acked),
         atomic_load(&failed));
  if (!rc && (atomic_load(&acked) != sent || atomic_load(&failed) != 0))
    rc = 1;
  return rc;
}
