/* The transactional publisher txn_interop.py drives: one client, commands
 * on stdin, one answer line each on stdout, so the script can look at the
 * official consumer between a transaction's sends and its commit.
 *
 *   begin [TIMEOUT_MS]      -> "ok MOST:LEAST" (the new current transaction)
 *   send TOPIC PAYLOAD      -> "ok" once the broker acknowledged (blocking
 *                              send inside the current transaction)
 *   sendasync TOPIC PAYLOAD -> "ok" once accepted (completes by commit)
 *   commit | abort          -> "ok", or "err NAME detail"
 *   quit
 * Every error line reads "err PULSARC_ERR_... detail". Public API only.
 *
 * Usage: pulsarc-txn-publish --service-url URL [--conf key=value ...]
 *   (client options, e.g. auth_token=...). Producers use send_timeout_ms=0
 *   and batching with a 10 ms delay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulsarc/pulsarc.h"

#define MAX_PRODUCERS 16

static struct {
  char topic[512];
  pulsarc_producer_t *p;
} prods[MAX_PRODUCERS];
static int nprods;

static void err_line(pulsarc_err_t e) {
  printf("err %s %s\n", pulsarc_err_name(e), pulsarc_last_error_text());
  fflush(stdout);
}

static pulsarc_producer_t *producer(pulsarc_client_t *c, const char *topic) {
  for (int i = 0; i < nprods; i++)
    if (strcmp(prods[i].topic, topic) == 0)
      return prods[i].p;
  if (nprods == MAX_PRODUCERS)
    return NULL;
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  char why[256];
  if (pulsarc_producer_conf_set(pc, "send_timeout_ms", "0", why, sizeof why) != PULSARC_OK ||
      pulsarc_producer_conf_set(pc, "batch_max_delay_ms", "10", why, sizeof why) != PULSARC_OK) {
    pulsarc_producer_conf_destroy(pc);
    return NULL;
  }
  pulsarc_producer_t *p = NULL;
  pulsarc_err_t e = pulsarc_producer_create(c, topic, pc, &p);
  pulsarc_producer_conf_destroy(pc);
  if (e != PULSARC_OK) {
    fprintf(stderr, "producer %s: %s\n", topic, pulsarc_err_str(e));
    return NULL;
  }
  snprintf(prods[nprods].topic, sizeof prods[nprods].topic, "%s", topic);
  prods[nprods++].p = p;
  return p;
}

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  (void)id;
  (void)ctx;
  if (err != PULSARC_OK)
    fprintf(stderr, "async send failed: %s\n", pulsarc_err_name(err));
}

int main(int argc, char **argv) {
  const char *url = NULL;
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--service-url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (strcmp(argv[i], "--conf") == 0 && i + 1 < argc) {
      char kv[1024];
      snprintf(kv, sizeof kv, "%s", argv[++i]);
      char *eq = strchr(kv, '=');
      char why[256] = "";
      if (eq == NULL) {
        fprintf(stderr, "--conf wants key=value\n");
        return 2;
      }
      *eq = '\0';
      if (pulsarc_client_conf_set(cc, kv, eq + 1, why, sizeof why) != PULSARC_OK) {
        fprintf(stderr, "--conf %s: %s\n", kv, why);
        return 2;
      }
    } else {
      fprintf(stderr, "usage: %s --service-url URL [--conf key=value ...]\n", argv[0]);
      return 2;
    }
  }
  if (url == NULL) {
    fprintf(stderr, "--service-url is required\n");
    return 2;
  }
  pulsarc_client_t *c = NULL;
  pulsarc_err_t e = pulsarc_client_new(url, cc, &c);
  pulsarc_client_conf_destroy(cc);
  if (e != PULSARC_OK) {
    fprintf(stderr, "client: %s\n", pulsarc_err_str(e));
    return 1;
  }
  pulsarc_txn_t *txn = NULL;
  pulsarc_msg_opts_t *opts = pulsarc_msg_opts_new();
  char line[4096];
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    char *save = NULL;
    char *cmd = strtok_r(line, " ", &save);
    if (cmd == NULL)
      continue;
    if (strcmp(cmd, "quit") == 0)
      break;
    if (strcmp(cmd, "begin") == 0) {
      char *ms = strtok_r(NULL, " ", &save);
      pulsarc_txn_destroy(txn);
      txn = NULL;
      e = pulsarc_txn_begin(c, ms ? atoll(ms) : 0, &txn);
      if (e != PULSARC_OK) {
        err_line(e);
        continue;
      }
      uint64_t most, least;
      pulsarc_txn_id(txn, &most, &least);
      pulsarc_msg_opts_set_txn(opts, txn);
      printf("ok %llu:%llu\n", (unsigned long long)most, (unsigned long long)least);
    } else if (strcmp(cmd, "send") == 0 || strcmp(cmd, "sendasync") == 0) {
      char *topic = strtok_r(NULL, " ", &save);
      char *payload = strtok_r(NULL, "", &save);
      pulsarc_producer_t *p = topic && payload ? producer(c, topic) : NULL;
      if (p == NULL) {
        printf("err PRODUCER %s\n", topic ? topic : "(no topic)");
        fflush(stdout);
        continue;
      }
      if (strcmp(cmd, "send") == 0)
        e = pulsarc_producer_send(p, payload, strlen(payload), opts, NULL);
      else
        e = pulsarc_producer_send_cb(p, payload, strlen(payload), opts, on_sent, NULL);
      if (e != PULSARC_OK) {
        err_line(e);
        continue;
      }
      printf("ok\n");
    } else if (strcmp(cmd, "commit") == 0 || strcmp(cmd, "abort") == 0) {
      e = txn == NULL                  ? PULSARC_ERR_INVALID_ARGUMENT
          : strcmp(cmd, "commit") == 0 ? pulsarc_txn_commit(txn)
                                       : pulsarc_txn_abort(txn);
      if (e != PULSARC_OK) {
        err_line(e);
        continue;
      }
      printf("ok\n");
    } else {
      printf("err UNKNOWN %s\n", cmd);
    }
    fflush(stdout);
  }
  pulsarc_msg_opts_destroy(opts);
  for (int i = 0; i < nprods; i++) {
    pulsarc_producer_close(prods[i].p);
    pulsarc_producer_destroy(prods[i].p);
  }
  pulsarc_txn_destroy(txn);
  pulsarc_client_close(c);
  pulsarc_client_destroy(c);
  return 0;
}
