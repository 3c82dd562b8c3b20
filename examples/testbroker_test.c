/* A test of your own code with pulsarc's test broker, in-process: no JVM,
 * no network beyond loopback. It starts the broker, injects a fault (the
 * connection drops after the broker stored the messages but before the
 * client got its receipts) and asserts on what the broker stored: the
 * client reconnects and resends the same messages with the same sequence
 * ids, and deduplication keeps each one exactly once, in order.
 *
 *   testbroker_test        (exit 0: every check passed)
 *
 * Build: find_package(pulsarc 1 REQUIRED COMPONENTS testbroker) and link
 * pulsarc::pulsarc pulsarc::testbroker, or
 * pkg-config --cflags --libs pulsarc pulsarc-testbroker. */
#include <pulsarc/pulsarc.h>
#include <pulsarc/testbroker.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES 20
#define WAIT_MS 30000 /* every wait is bounded */

static int failures;
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "testbroker_test:%d: check failed: %s\n", __LINE__, #cond);                  \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

int main(void) {
  pulsarc_tb_opts opts = pulsarc_tb_opts_default(); /* dedup on, any free port */
  pulsarc_tb *tb = NULL;
  int rc = pulsarc_tb_start(&opts, &tb);
  if (rc != 0) {
    fprintf(stderr, "testbroker_test: starting the test broker: %s\n", strerror(-rc));
    return 1;
  }

  pulsarc_client_t *client = NULL;
  pulsarc_producer_t *producer = NULL;
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  char why[256];
  pulsarc_err_t err = pulsarc_client_new(pulsarc_tb_service_url(tb), NULL, &client);
  if (!err)
    err = pulsarc_producer_conf_set(conf, "name", "orders-writer", why, sizeof why);
  if (!err)
    err = pulsarc_producer_create(client, "orders", conf, &producer);
  pulsarc_producer_conf_destroy(conf);
  if (err) {
    fprintf(stderr, "testbroker_test: setting up: %s: %s\n", pulsarc_err_str(err),
            pulsarc_last_error_text());
    pulsarc_client_destroy(client);
    pulsarc_tb_free(tb);
    return 1;
  }

  /* The fault: the broker stores what arrives but keeps the receipts. */
  pulsarc_tb_hold_receipts(tb, true);
  pulsarc_future_t *futures[MESSAGES];
  int started = 0;
  for (; started < MESSAGES; started++) {
    char payload[32];
    int len = snprintf(payload, sizeof payload, "order %d", started);
    err = pulsarc_producer_send_async(producer, payload, (size_t)len, NULL, &futures[started]);
    CHECK(err == PULSARC_OK);
    if (err)
      break;
  }
  pulsarc_producer_flush_cb(producer, NULL, NULL); /* send the open batch now */
  CHECK(pulsarc_tb_wait_messages(tb, "orders", (uint64_t)started, WAIT_MS));
  /* ... then the connection drops with every receipt in it. */
  pulsarc_tb_drop_connections(tb);
  pulsarc_tb_hold_receipts(tb, false);

  /* The client reconnects and resends; every send succeeds. */
  for (int i = 0; i < started; i++) {
    pulsarc_msg_id_t id;
    err = pulsarc_future_wait(futures[i], WAIT_MS, &id);
    CHECK(err == PULSARC_OK);
    pulsarc_future_destroy(futures[i]);
  }

  /* What the broker stored: each message once, in order, and at least one
   * resent copy recognised as a duplicate. */
  pulsarc_tb_snapshot *snap = pulsarc_tb_snapshot_topic(tb, "orders");
  CHECK(snap != NULL);
  if (snap) {
    CHECK(snap->messages == (uint64_t)MESSAGES);
    CHECK(snap->duplicates > 0);
    int next = 0;
    for (size_t e = 0; e < snap->num_entries; e++) {
      const pulsarc_tb_entry *entry = &snap->entries[e];
      CHECK(strcmp(entry->producer_name, "orders-writer") == 0);
      for (size_t m = 0; m < entry->num_listed; m++) {
        char expected[32];
        snprintf(expected, sizeof expected, "order %d", next++);
        const pulsarc_tb_message *msg = &entry->messages[m];
        CHECK(msg->retained && msg->payload_len == strlen(expected) &&
              memcmp(msg->payload, expected, msg->payload_len) == 0);
      }
    }
    CHECK(next == MESSAGES);
    pulsarc_tb_snapshot_free(snap);
  }
  CHECK(pulsarc_tb_last_sequence_id(tb, "orders", "orders-writer") == MESSAGES - 1);

  CHECK(pulsarc_producer_close(producer) == PULSARC_OK);
  pulsarc_producer_destroy(producer);
  CHECK(pulsarc_client_close(client) == PULSARC_OK);
  pulsarc_client_destroy(client);
  pulsarc_tb_free(tb);

  if (failures) {
    fprintf(stderr, "testbroker_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("testbroker_test: %d messages stored once each across a dropped connection\n", MESSAGES);
  return 0;
}
