/* A partitioned topic with keys. A message with a partition key goes to
 * hash(key) mod N (hashing=java_string by default, as the Java and Go
 * clients; murmur3_32 as an option), so every message of one key lands on
 * one partition, in order; messages without a key are spread round robin,
 * one batch at a time. The program checks that each key stayed on one
 * partition.
 *
 *   partitioned_keys [SERVICE_URL] [TOPIC] [KEYS] [PER_KEY]
 *
 * Defaults: pulsar://127.0.0.1:6650, "example-partitioned", 8 keys, 10
 * messages each. TOPIC must be a partitioned topic, e.g.
 *   pulsar-admin topics create-partitioned-topic example-partitioned -p 4
 * (or pulsarc-testbroker --partitions example-partitioned=4). */
#include <pulsarc/pulsarc.h>

#include <stdio.h>
#include <stdlib.h>

#define MAX_KEYS 64

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "partitioned_keys: %s: %s (%s): %s\n", what, pulsarc_err_str(err),
          pulsarc_err_name(err), pulsarc_last_error_text());
  return 1;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "pulsar://127.0.0.1:6650";
  const char *topic = argc > 2 ? argv[2] : "example-partitioned";
  int keys = argc > 3 ? atoi(argv[3]) : 8;
  int per_key = argc > 4 ? atoi(argv[4]) : 10;
  if (keys < 1 || keys > MAX_KEYS || per_key < 1) {
    fprintf(stderr, "partitioned_keys: KEYS must be 1..%d and PER_KEY at least 1\n", MAX_KEYS);
    return 2;
  }

  pulsarc_client_t *client = NULL;
  pulsarc_err_t err = pulsarc_client_new(url, NULL, &client);
  if (err)
    return fail("creating the client", err);

  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  char why[256];
  /* One batch per key, as Key_Shared consumers want. */
  err = pulsarc_producer_conf_set(conf, "key_based_batching", "true", why, sizeof why);
  if (err) {
    fprintf(stderr, "partitioned_keys: key_based_batching: %s\n", why);
    pulsarc_producer_conf_destroy(conf);
    pulsarc_client_destroy(client);
    return 1;
  }
  pulsarc_producer_t *producer = NULL;
  err = pulsarc_producer_create(client, topic, conf, &producer);
  pulsarc_producer_conf_destroy(conf);
  if (err) {
    fail("creating the producer", err);
    pulsarc_client_destroy(client);
    return 1;
  }

  int total = keys * per_key, rc = 0, started = 0;
  pulsarc_future_t **futures = calloc((size_t)total, sizeof *futures);
  pulsarc_msg_opts_t *opts = pulsarc_msg_opts_new();
  if (!futures || !opts) {
    fprintf(stderr, "partitioned_keys: out of memory\n");
    rc = 1;
  }
  for (; !rc && started < total; started++) {
    char key[32], payload[64];
    snprintf(key, sizeof key, "user-%d", started % keys);
    int len = snprintf(payload, sizeof payload, "event %d of %s", started / keys, key);
    /* The options are read during the call only: one object serves all. */
    err = pulsarc_msg_opts_set_partition_key(opts, key);
    if (!err)
      err = pulsarc_producer_send_async(producer, payload, (size_t)len, opts, &futures[started]);
    if (err) {
      rc = fail("sending", err);
      break;
    }
  }
  pulsarc_msg_opts_destroy(opts);

  int partition_of[MAX_KEYS];
  for (int k = 0; k < keys; k++)
    partition_of[k] = -2; /* not seen yet */
  for (int i = 0; i < started; i++) {
    pulsarc_msg_id_t id;
    err = pulsarc_future_wait(futures[i], 60000, &id);
    pulsarc_future_destroy(futures[i]);
    if (err) {
      if (!rc)
        rc = fail("waiting for a send", err);
      continue;
    }
    int k = i % keys;
    if (id.partition < 0) {
      fprintf(stderr, "partitioned_keys: %s is not a partitioned topic\n", topic);
      rc = 1;
    } else if (partition_of[k] == -2) {
      partition_of[k] = id.partition;
      printf("key user-%d -> partition %d\n", k, id.partition);
    } else if (partition_of[k] != id.partition) {
      fprintf(stderr, "partitioned_keys: key user-%d went to partitions %d and %d\n", k,
              partition_of[k], id.partition);
      rc = 1;
    }
  }
  free(futures);
  if (!rc)
    printf("%d messages on %s, every key on one partition\n", total,
           pulsarc_producer_topic(producer));

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
