/* Callbacks with backpressure. pulsarc_producer_send_cb copies the payload
 * and calls back once on an I/O thread. At most max_pending_messages sends
 * are outstanding; what happens at that limit is the producer's choice:
 *
 *   block_if_queue_full=true (default): the send call sleeps until a
 *     receipt makes room (or the message's deadline passes);
 *   block_if_queue_full=false: the call fails at once with
 *     PULSARC_ERR_QUEUE_FULL (and the callback is not called), and the
 *     application decides: here it waits for a completion, then retries.
 *
 *   callbacks_backpressure [SERVICE_URL] [TOPIC] [COUNT]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-callbacks", 20000. The first
 * half is sent in non-blocking mode, the second half with a blocking
 * producer. Exit 0 when every message was acknowledged. */
#include <pulsarc/pulsarc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct counts {
  atomic_long acked;
  atomic_long failed;
  pthread_mutex_t lock;
  pthread_cond_t completed; /* signalled by every callback */
};

/* Runs on an I/O thread: keep it short and never call a blocking pulsarc
 * function here (they return PULSARC_ERR_WRONG_THREAD). */
static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  struct counts *c = ctx;
  (void)id; /* borrowed: copy it if it is needed after the callback */
  if (err == PULSARC_OK) {
    atomic_fetch_add(&c->acked, 1);
  } else if (atomic_fetch_add(&c->failed, 1) == 0) {
    /* Inside the callback, pulsarc_last_error_text() describes err. */
    fprintf(stderr, "callbacks_backpressure: first failed send: %s: %s\n", pulsarc_err_str(err),
            pulsarc_last_error_text());
  }
  pthread_mutex_lock(&c->lock);
  pthread_cond_broadcast(&c->completed);
  pthread_mutex_unlock(&c->lock);
}

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "callbacks_backpressure: %s: %s (%s): %s\n", what, pulsarc_err_str(err),
          pulsarc_err_name(err), pulsarc_last_error_text());
  return 1;
}

static pulsarc_err_t make_producer(pulsarc_client_t *client, const char *topic, const char *block,
                                   pulsarc_producer_t **out) {
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  char why[256];
  pulsarc_err_t err =
      pulsarc_producer_conf_set(conf, "max_pending_messages", "100", why, sizeof why);
  if (!err)
    err = pulsarc_producer_conf_set(conf, "block_if_queue_full", block, why, sizeof why);
  if (err) {
    fprintf(stderr, "callbacks_backpressure: configuration: %s\n", why);
  } else {
    err = pulsarc_producer_create(client, topic, conf, out);
    if (err)
      fail("creating the producer", err);
  }
  pulsarc_producer_conf_destroy(conf);
  return err;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-callbacks";
  long count = argc > 3 ? atol(argv[3]) : 20000;

  static struct counts c = {.lock = PTHREAD_MUTEX_INITIALIZER,
                            .completed = PTHREAD_COND_INITIALIZER};
  pulsarc_client_t *client = NULL;
  pulsarc_err_t err = pulsarc_client_new(url, NULL, &client);
  if (err)
    return fail("creating the client", err);

  int rc = 0;
  long sent = 0, queue_full = 0;
  for (int pass = 0; pass < 2 && !rc; pass++) {
    pulsarc_producer_t *producer = NULL;
    if (make_producer(client, topic, pass == 0 ? "false" : "true", &producer)) {
      rc = 1;
      break;
    }
    long end = pass == 0 ? count / 2 : count;
    while (sent < end) {
      char payload[64];
      int len = snprintf(payload, sizeof payload, "callback %ld", sent);
      pthread_mutex_lock(&c.lock);
      long done_before = atomic_load(&c.acked) + atomic_load(&c.failed);
      pthread_mutex_unlock(&c.lock);
      err = pulsarc_producer_send_cb(producer, payload, (size_t)len, NULL, on_sent, &c);
      if (err == PULSARC_OK) {
        sent++;
      } else if (err == PULSARC_ERR_QUEUE_FULL) {
        /* Only in non-blocking mode: wait (bounded) for any completion
         * after the failed attempt, then try the same message again. */
        queue_full++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        pthread_mutex_lock(&c.lock);
        while (atomic_load(&c.acked) + atomic_load(&c.failed) == done_before)
          if (pthread_cond_timedwait(&c.completed, &c.lock, &until))
            break;
        pthread_mutex_unlock(&c.lock);
      } else {
        rc = fail("sending", err);
        break;
      }
    }
    /* Closing flushes: every callback has run when it returns. */
    err = pulsarc_producer_close(producer);
    if (err && !rc)
      rc = fail("closing the producer", err);
    pulsarc_producer_destroy(producer);
  }

  printf("sent %ld, acknowledged %ld, failed %ld, QUEUE_FULL answers %ld\n", sent,
         atomic_load(&c.acked), atomic_load(&c.failed), queue_full);
  if (!rc && (atomic_load(&c.acked) != sent || atomic_load(&c.failed) != 0))
    rc = 1;

  err = pulsarc_client_close(client);
  if (err && !rc)
    rc = fail("closing the client", err);
  pulsarc_client_destroy(client);
  return rc;
}
