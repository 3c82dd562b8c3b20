/* pulsarc-produce: publishes the given messages and prints their ids, like
 * `pulsar-client produce`. Public API only. See --help.
 *
 * Every message goes out with pulsarc_producer_send_async before any result
 * is awaited, so batching works across them; the futures are then waited in
 * order, which is also the order of the printed ids. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pulsarc/pulsarc.h"

typedef struct payload {
  char *data;
  size_t len;
  const char *origin; /* "-m #2" or the file name, for error messages */
  char label[32];
} payload;

static void usage(FILE *f) {
  fprintf(f,
          "usage: pulsarc-produce --topic TOPIC (-m TEXT | -f FILE)... [options]\n"
          "Publishes messages to a Pulsar topic and prints one message id per line\n"
          "(ledger:entry:partition:batch_index), in the order the messages were given.\n"
          "\n"
          "  --service-url URL         broker service URL (default pulsar://127.0.0.1:6650)\n"
          "  -t, --topic TOPIC         topic to publish to (required)\n"
          "  -m, --message TEXT        a message (repeatable)\n"
          "  -f, --file PATH           a message made of the whole file, '-' = stdin (repeatable)\n"
          "  -n, --num-produce N       send the given messages N times (default 1)\n"
          "  -k, --key KEY             partition key of every message\n"
          "      --ordering-key KEY    ordering key of every message\n"
          "  -p, --property K=V        message property (repeatable)\n"
          "      --event-time MS       event time, ms since the epoch\n"
          "      --deliver-after MS    delayed delivery: MS after sending\n"
          "      --deliver-at MS       delayed delivery: at MS since the epoch\n"
          "      --no-batching         send every message in its own entry\n"
          "      --batch-max-messages N\n"
          "      --batch-max-delay-ms N\n"
          "      --name NAME           producer name (default: assigned by the broker)\n"
          "      --compression C       none|lz4|zlib|zstd|snappy (default none)\n"
          "      --chunking            split messages larger than the max message size\n"
          "                            into chunks (needs --no-batching)\n");
  pc_cli_sec_usage(f, 6, 28);
  fprintf(f, "  -h, --help                this text\n"
             "\n"
             "-m and -f may be mixed; messages keep the command-line order.\n"
             "A token or --tls-trust-cert with a plaintext pulsar:// URL gets a warning: the\n"
             "token then travels unencrypted.\n"
             "Exit status: 0 all sent, 1 a send or the set-up failed, 2 usage error.\n");
}

static int usage_err(const char *fmt, const char *arg) {
  fprintf(stderr, "pulsarc-produce: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Usage errors still free what was read, so leak checkers stay quiet. */
#define USAGE(...)                                                                                 \
  do {                                                                                             \
    usage_err(__VA_ARGS__);                                                                        \
    rc = 2;                                                                                        \
    goto out;                                                                                      \
  } while (0)

/* Reads a whole file (or stdin for "-") into memory. */
static int read_file(const char *path, payload *p) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) {
    fprintf(stderr, "pulsarc-produce: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  int err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (!buf || err) {
    fprintf(stderr, "pulsarc-produce: cannot read %s: %s\n", path,
            buf ? strerror(errno) : "out of memory");
    free(buf);
    return -1;
  }
  p->data = buf;
  p->len = len;
  p->origin = path;
  return 0;
}

/* Producer options from the command line; the library validates values. */
static int set_conf(pulsarc_producer_conf_t *pc, const char *key, const char *val) {
  char why[256] = "";
  pulsarc_err_t e = pulsarc_producer_conf_set(pc, key, val, why, sizeof why);
  if (e == PULSARC_OK)
    return 0;
  fprintf(stderr, "pulsarc-produce: invalid %s '%s': %s\n", key, val,
          why[0] ? why : pulsarc_err_str(e));
  return -1;
}

static int opt_err(const char *what, pulsarc_err_t e) {
  fprintf(stderr, "pulsarc-produce: %s: %s\n", what, pulsarc_err_str(e));
  return -1;
}

/* The error's sentence and, when the library left one, its detail: the
 * reason belongs on the final line, not only in a log line above it. */
static void print_failure(const char *what, pulsarc_err_t e) {
  const char *detail = pulsarc_last_error_text();
  fprintf(stderr, "pulsarc-produce: %s: %s%s%s\n", what, pulsarc_err_str(e), detail[0] ? ": " : "",
          detail);
}

int main(int argc, char **argv) {
  enum {
    O_URL = 256,
    O_OKEY,
    O_EVT,
    O_AFTER,
    O_AT,
    O_NOBATCH,
    O_BMM,
    O_BMD,
    O_NAME,
    O_COMP,
    O_CHUNK,
    O_SEC /* the security flags: O_SEC + enum pc_cli_sec_flag */
  };
  static const struct option lo[] = {
      {"service-url", required_argument, NULL, O_URL},
      {"topic", required_argument, NULL, 't'},
      {"message", required_argument, NULL, 'm'},
      {"file", required_argument, NULL, 'f'},
      {"num-produce", required_argument, NULL, 'n'},
      {"key", required_argument, NULL, 'k'},
      {"ordering-key", required_argument, NULL, O_OKEY},
      {"property", required_argument, NULL, 'p'},
      {"event-time", required_argument, NULL, O_EVT},
      {"deliver-after", required_argument, NULL, O_AFTER},
      {"deliver-at", required_argument, NULL, O_AT},
      {"no-batching", no_argument, NULL, O_NOBATCH},
      {"batch-max-messages", required_argument, NULL, O_BMM},
      {"batch-max-delay-ms", required_argument, NULL, O_BMD},
      {"name", required_argument, NULL, O_NAME},
      {"compression", required_argument, NULL, O_COMP},
      {"chunking", no_argument, NULL, O_CHUNK},
      PC_CLI_SEC_OPTIONS(O_SEC),
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *url = "pulsar://127.0.0.1:6650", *topic = NULL, *key = NULL, *okey = NULL;
  const char *bmm = NULL, *bmd = NULL, *name = NULL, *comp = NULL;
  bool chunking = false;
  /* Client (TLS / auth) options, indexed by enum pc_cli_sec_flag; last
   * wins. The key passphrase file is read after the usage checks. */
  const char *cvals[PC_CLI_NSEC] = {NULL};
  const char *key_pw_file = NULL;
  char key_pw[1024];
  const char **props = calloc((size_t)argc, sizeof *props);
  payload *msgs = calloc((size_t)argc, sizeof *msgs);
  size_t nprops = 0, nmsgs = 0;
  uint64_t repeat = 1, evt = 0;
  int64_t after = 0, at = 0;
  bool has_after = false, has_at = false, batching = true;
  int c, rc = 2;
  if (!props || !msgs) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    return 1;
  }
  /* Options are parsed fully (files read) before the library is touched,
   * so usage errors never cost a connection attempt. */
  while ((c = getopt_long(argc, argv, "t:m:f:n:k:p:h", lo, NULL)) != -1) {
    if (c == O_SEC + PC_CLI_TLS_KEY_PW) {
      key_pw_file = optarg;
      continue;
    }
    if (c >= O_SEC && c < O_SEC + PC_CLI_NSEC) {
      cvals[c - O_SEC] = pc_cli_sec_value(c - O_SEC, optarg);
      continue;
    }
    switch (c) {
    case O_URL:
      url = optarg;
      break;
    case 't':
      topic = optarg;
      break;
    case 'm':
      msgs[nmsgs].data = strdup(optarg);
      msgs[nmsgs].len = strlen(optarg);
      msgs[nmsgs].origin = msgs[nmsgs].label;
      snprintf(msgs[nmsgs].label, sizeof msgs[nmsgs].label, "-m #%zu", nmsgs + 1);
      if (!msgs[nmsgs++].data) {
        fprintf(stderr, "pulsarc-produce: out of memory\n");
        rc = 1;
        goto out;
      }
      break;
    case 'f':
      if (read_file(optarg, &msgs[nmsgs])) {
        rc = 1;
        goto out;
      }
      nmsgs++;
      break;
    case 'n':
      if (pc_cli_parse_u64(optarg, 1, 100000000, &repeat))
        USAGE("invalid --num-produce '%s'", optarg);
      break;
    case 'k':
      key = optarg;
      break;
    case O_COMP:
      comp = optarg;
      break;
    case O_CHUNK:
      chunking = true;
      break;
    case O_OKEY:
      okey = optarg;
      break;
    case 'p':
      if (!strchr(optarg, '=') || optarg[0] == '=')
        USAGE("invalid --property '%s' (want KEY=VALUE)", optarg);
      props[nprops++] = optarg;
      break;
    case O_EVT:
      if (pc_cli_parse_u64(optarg, 1, UINT64_MAX, &evt))
        USAGE("invalid --event-time '%s'", optarg);
      break;
    case O_AFTER:
      if (pc_cli_parse_i64(optarg, 0, INT64_MAX, &after))
        USAGE("invalid --deliver-after '%s'", optarg);
      has_after = true;
      break;
    case O_AT:
      if (pc_cli_parse_i64(optarg, 0, INT64_MAX, &at))
        USAGE("invalid --deliver-at '%s'", optarg);
      has_at = true;
      break;
    case O_NOBATCH:
      batching = false;
      break;
    case O_BMM:
      bmm = optarg;
      break;
    case O_BMD:
      bmd = optarg;
      break;
    case O_NAME:
      name = optarg;
      break;
    case 'h':
      usage(stdout);
      rc = 0;
      goto out;
    default:
      fprintf(stderr, "pulsarc-produce: see --help\n");
      goto out;
    }
  }
  if (optind < argc)
    USAGE("unexpected argument '%s'", argv[optind]);
  if (!topic)
    USAGE("%s", "--topic is required");
  if (nmsgs == 0)
    USAGE("%s", "give at least one -m TEXT or -f FILE");
  if (has_after && has_at)
    USAGE("%s", "--deliver-after and --deliver-at cannot go together");
  /* "" would clear the option and connect without credentials. */
  if (pc_cli_sec_empty_token(PC_CLI_TOKEN, cvals[PC_CLI_TOKEN]))
    USAGE("%s", "--token is empty");
  if (pc_cli_sec_empty_token(PC_CLI_TOKEN_FILE, cvals[PC_CLI_TOKEN_FILE]))
    USAGE("%s", "--token-file is empty");
  if (!pc_cli_url_is_tls(url))
    pc_cli_warn_plaintext("pulsarc-produce", url, cvals[PC_CLI_TOKEN] || cvals[PC_CLI_TOKEN_FILE],
                          cvals[PC_CLI_TLS_TRUST] || cvals[PC_CLI_TLS_CERT]);
  if (key_pw_file) {
    if (pc_cli_read_secret_file("pulsarc-produce", key_pw_file, key_pw, sizeof key_pw)) {
      rc = 2;
      goto out;
    }
    cvals[PC_CLI_TLS_KEY_PW] = key_pw;
  }

  rc = 1;
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  pulsarc_msg_opts_t *mo = pulsarc_msg_opts_new();
  pulsarc_client_t *client = NULL;
  pulsarc_producer_t *prod = NULL;
  size_t total = nmsgs * (size_t)repeat;
  pulsarc_future_t **futs = calloc(total, sizeof *futs);
  if (!pc || !mo || !futs) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    goto done;
  }
  if ((!batching && set_conf(pc, "batching", "false")) ||
      (bmm && set_conf(pc, "batch_max_messages", bmm)) ||
      (bmd && set_conf(pc, "batch_max_delay_ms", bmd)) || (name && set_conf(pc, "name", name)) ||
      (comp && set_conf(pc, "compression", comp)) ||
      (chunking && set_conf(pc, "chunking", "true"))) {
    rc = 2;
    goto done;
  }
  pulsarc_err_t e;
  if ((key && (e = pulsarc_msg_opts_set_partition_key(mo, key)) && opt_err("--key", e) < 0) ||
      (okey && (e = pulsarc_msg_opts_set_ordering_key(mo, okey, strlen(okey))) &&
       opt_err("--ordering-key", e) < 0) ||
      (evt && (e = pulsarc_msg_opts_set_event_time(mo, (int64_t)evt)) &&
       opt_err("--event-time", e) < 0) ||
      (has_after && (e = pulsarc_msg_opts_set_deliver_after(mo, after)) &&
       opt_err("--deliver-after", e) < 0) ||
      (has_at && (e = pulsarc_msg_opts_set_deliver_at(mo, at)) && opt_err("--deliver-at", e) < 0)) {
    rc = 2;
    goto done;
  }
  for (size_t i = 0; i < nprops; i++) {
    char *k = strdup(props[i]);
    if (!k)
      goto done;
    char *eq = strchr(k, '=');
    *eq = '\0';
    e = pulsarc_msg_opts_add_property(mo, k, eq + 1);
    free(k);
    if (e) {
      fprintf(stderr, "pulsarc-produce: property '%s': %s\n", props[i], pulsarc_err_str(e));
      goto done;
    }
  }

  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  if (!cc) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < PC_CLI_NSEC; i++) {
    char why[256] = "";
    if (cvals[i] &&
        (e = pulsarc_client_conf_set(cc, pc_cli_sec_keys[i], cvals[i], why, sizeof why))) {
      /* No value in the message: it may be the token. */
      fprintf(stderr, "pulsarc-produce: %s: %s\n", pc_cli_sec_keys[i],
              why[0] ? why : pulsarc_err_str(e));
      pulsarc_client_conf_destroy(cc);
      rc = 2;
      goto done;
    }
  }
  e = pulsarc_client_new(url, cc, &client);
  pulsarc_client_conf_destroy(cc);
  if (e) {
    char what[600];
    snprintf(what, sizeof what, "cannot create a client for '%s'", url);
    print_failure(what, e);
    goto done;
  }
  /* An invalid topic fails here, before any connection is attempted. */
  if ((e = pulsarc_producer_create(client, topic, pc, &prod))) {
    char what[900];
    snprintf(what, sizeof what, "cannot create a producer on topic '%s' at %s", topic, url);
    print_failure(what, e);
    goto done;
  }
  size_t queued = 0;
  for (uint64_t r = 0; r < repeat; r++)
    for (size_t i = 0; i < nmsgs; i++, queued++) {
      e = pulsarc_producer_send_async(prod, msgs[i].data, msgs[i].len, mo, &futs[queued]);
      if (e) {
        char what[160];
        snprintf(what, sizeof what, "cannot send message %zu (%s, round %" PRIu64 ")", queued + 1,
                 msgs[i].origin, r + 1);
        print_failure(what, e);
        goto wait;
      }
    }
wait:;
  size_t failed = queued < total ? 1 : 0;
  for (size_t q = 0; q < queued; q++) {
    pulsarc_msg_id_t id;
    e = pulsarc_future_wait(futs[q], -1, &id);
    if (e) {
      failed++;
      char what[160];
      snprintf(what, sizeof what, "message %zu (%s, round %zu) failed", q + 1,
               msgs[q % nmsgs].origin, q / nmsgs + 1);
      print_failure(what, e);
      continue;
    }
    char buf[96];
    pulsarc_msg_id_format(&id, buf, sizeof buf);
    puts(buf);
  }
  if (fflush(stdout) != 0) {
    fprintf(stderr, "pulsarc-produce: cannot write to stdout: %s\n", strerror(errno));
    failed++;
  }
  if ((e = pulsarc_producer_close(prod))) {
    fprintf(stderr, "pulsarc-produce: close: %s\n", pulsarc_err_str(e));
    failed++;
  }
  rc = failed ? 1 : 0;

done:
  for (size_t q = 0; futs && q < total; q++)
    if (futs[q])
      pulsarc_future_destroy(futs[q]);
  free(futs);
  if (prod)
    pulsarc_producer_destroy(prod);
  if (client) {
    pulsarc_client_close(client);
    pulsarc_client_destroy(client);
  }
  pulsarc_msg_opts_destroy(mo);
  pulsarc_producer_conf_destroy(pc);
out:
  explicit_bzero(key_pw, sizeof key_pw);
  for (size_t i = 0; i < nmsgs; i++)
    free(msgs[i].data);
  free(msgs);
  free(props);
  return rc;
}
