/*
 * pulsarc-cluster-publish: the cluster scenarios' publisher (public API only).
 * One client, one producer, T application threads; thread t sends N unique
 * messages "t<t>-<i>" in order with pulsarc_producer_send_cb (send timeout
 * 0 unless told otherwise, so a message waits through any number of
 * reconnects).
 *
 * While running, stdout gets "progress RECEIPTS ERRORS" every 100 ms so a
 * driver can time its faults. At the end, every receipt is written to --out
 * as "THREAD INDEX REALTIME_NS LEDGER:ENTRY:PARTITION:BATCH ERR", and the
 * library's INFO log lines go to --log prefixed with their realtime ns.
 * Exit status 0 only if every message got a successful receipt.
 *
 * Usage: pulsarc-cluster-publish --service-url URL --topic T [--threads 4]
 *          [--count-per-thread 25000] [--rate MSGS_PER_S_TOTAL] [--name NAME]
 *          [--send-timeout-ms 0] [--conf key=value]... [--client-conf key=value]...
 *          [--log-level info] [--key-by-thread 1] --out FILE --log FILE
 * --conf sets a producer option, --client-conf a client option (TLS, token).
 * With --key-by-thread 1 thread t's messages carry the partition key "t<t>",
 * so on a partitioned topic each thread's messages share one partition.
 */
#include <pulsarc/pulsarc.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define MAX_CONF 32

struct receipt {
  int64_t ns; /* 0 until the callback ran */
  pulsarc_err_t err;
  pulsarc_msg_id_t id;
};

struct worker {
  pthread_t tid;
  int index;
  long count;
  struct receipt *receipts;
  pulsarc_err_t send_err; /* first refused send, if any */
};

static pulsarc_producer_t *producer;
static double rate_per_thread; /* 0: as fast as accepted */
static int key_by_thread;
static atomic_long n_receipts, n_errors;
static FILE *log_file;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(pulsarc_log_level_t level) {
  static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
  return (unsigned)level < 5 ? names[level] : "?";
}

static int64_t now_ns(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs on a library thread. */
static void on_log(pulsarc_log_level_t level, const char *line, void *ctx) {
  (void)ctx;
  pthread_mutex_lock(&log_mu);
  fprintf(log_file, "%" PRId64 " %s %s\n", now_ns(CLOCK_REALTIME), level_name(level), line);
  fflush(log_file);
  pthread_mutex_unlock(&log_mu);
}

/* Runs on an I/O thread, once per accepted send. */
static void on_receipt(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  struct receipt *r = ctx;
  r->err = err;
  if (err == PULSARC_OK && id)
    r->id = *id;
  else
    atomic_fetch_add(&n_errors, 1);
  r->ns = now_ns(CLOCK_REALTIME);
  atomic_fetch_add(&n_receipts, 1);
}

static void *run_worker(void *arg) {
  struct worker *w = arg;
  char payload[64];
  pulsarc_msg_opts_t *opts = NULL;
  if (key_by_thread) {
    char key[16];
    snprintf(key, sizeof key, "t%d", w->index);
    opts = pulsarc_msg_opts_new();
    if (!opts || pulsarc_msg_opts_set_partition_key(opts, key) != PULSARC_OK) {
      fprintf(stderr, "cluster-publish: thread %d: no message options\n", w->index);
      w->send_err = PULSARC_ERR_NO_MEMORY;
      pulsarc_msg_opts_destroy(opts);
      return NULL;
    }
  }
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < w->count; i++) {
    if (rate_per_thread > 0) {
      int64_t due = t0 + (int64_t)((double)i * 1e9 / rate_per_thread);
      int64_t wait = due - now_ns(CLOCK_MONOTONIC);
      if (wait > 0) {
        struct timespec ts = {wait / 1000000000, wait % 1000000000};
        nanosleep(&ts, NULL);
      }
    }
    int len = snprintf(payload, sizeof payload, "t%d-%ld", w->index, i);
    pulsarc_err_t e =
        pulsarc_producer_send_cb(producer, payload, (size_t)len, opts, on_receipt, &w->receipts[i]);
    if (e != PULSARC_OK) {
      fprintf(stderr, "cluster-publish: thread %d message %ld refused: %s\n", w->index, i,
              pulsarc_err_str(e));
      w->send_err = e;
      break;
    }
  }
  pulsarc_msg_opts_destroy(opts);
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: pulsarc-cluster-publish --service-url URL --topic T [--threads N]\n"
                  "  [--count-per-thread N] [--rate MSGS_PER_S] [--name NAME]\n"
                  "  [--send-timeout-ms MS] [--conf key=value]... [--client-conf key=value]...\n"
                  "  [--log-level LEVEL] [--key-by-thread 1] --out FILE --log FILE\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *url = NULL, *topic = NULL, *name = NULL, *out = NULL, *logp = NULL;
  const char *send_timeout = "0", *log_level = "info";
  const char *confs[MAX_CONF], *client_confs[MAX_CONF];
  int nconf = 0, nclient_conf = 0, nthreads = 4;
  long count = 25000;
  double rate = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--service-url"))
      url = v;
    else if (!strcmp(a, "--topic"))
      topic = v;
    else if (!strcmp(a, "--threads"))
      nthreads = atoi(v);
    else if (!strcmp(a, "--count-per-thread"))
      count = atol(v);
    else if (!strcmp(a, "--rate"))
      rate = atof(v);
    else if (!strcmp(a, "--name"))
      name = v;
    else if (!strcmp(a, "--send-timeout-ms"))
      send_timeout = v;
    else if (!strcmp(a, "--conf") && nconf < MAX_CONF)
      confs[nconf++] = v;
    else if (!strcmp(a, "--client-conf") && nclient_conf < MAX_CONF)
      client_confs[nclient_conf++] = v;
    else if (!strcmp(a, "--log-level"))
      log_level = v;
    else if (!strcmp(a, "--out"))
      out = v;
    else if (!strcmp(a, "--log"))
      logp = v;
    else if (!strcmp(a, "--key-by-thread"))
      key_by_thread = atoi(v);
    else
      usage();
  }
  if (!url || !topic || !out || !logp || nthreads < 1 || nthreads > MAX_THREADS || count < 1)
    usage();
  rate_per_thread = rate / nthreads;
  log_file = fopen(logp, "w");
  if (!log_file) {
    perror(logp);
    return 2;
  }

  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  if (pulsarc_client_conf_set(cc, "log_level", log_level, NULL, 0) != PULSARC_OK)
    usage();
  for (int i = 0; i < nclient_conf; i++) {
    char kv[1024];
    snprintf(kv, sizeof kv, "%s", client_confs[i]);
    char *eq = strchr(kv, '=');
    if (eq)
      *eq = 0;
    if (!eq || pulsarc_client_conf_set(cc, kv, eq + 1, NULL, 0) != PULSARC_OK) {
      fprintf(stderr, "cluster-publish: bad client option %s\n", kv);
      return 2;
    }
  }
  pulsarc_client_conf_set_logger(cc, on_log, NULL);
  pulsarc_client_t *client = NULL;
  pulsarc_err_t e = pulsarc_client_new(url, cc, &client);
  pulsarc_client_conf_destroy(cc);
  if (e != PULSARC_OK) {
    fprintf(stderr, "cluster-publish: client: %s\n", pulsarc_err_str(e));
    return 1;
  }
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  int bad = pulsarc_producer_conf_set(pc, "send_timeout_ms", send_timeout, NULL, 0) != PULSARC_OK ||
            pulsarc_producer_conf_set(pc, "block_if_queue_full", "true", NULL, 0) != PULSARC_OK ||
            (name && pulsarc_producer_conf_set(pc, "name", name, NULL, 0) != PULSARC_OK);
  for (int i = 0; i < nconf && !bad; i++) {
    char kv[256];
    snprintf(kv, sizeof kv, "%s", confs[i]);
    char *eq = strchr(kv, '=');
    if (!eq) {
      bad = 1;
      break;
    }
    *eq = 0;
    if (pulsarc_producer_conf_set(pc, kv, eq + 1, NULL, 0) != PULSARC_OK) {
      fprintf(stderr, "cluster-publish: bad option %s\n", confs[i]);
      bad = 1;
    }
  }
  if (bad)
    return 2;
  e = pulsarc_producer_create(client, topic, pc, &producer);
  pulsarc_producer_conf_destroy(pc);
  if (e != PULSARC_OK) {
    fprintf(stderr, "cluster-publish: producer on %s: %s (%s)\n", topic, pulsarc_err_str(e),
            pulsarc_last_error_text());
    return 1;
  }

  struct worker workers[MAX_THREADS];
  for (int t = 0; t < nthreads; t++) {
    workers[t] = (struct worker){.index = t, .count = count};
    workers[t].receipts = calloc((size_t)count, sizeof(struct receipt));
    if (!workers[t].receipts) {
      perror("calloc");
      return 2;
    }
  }
  int64_t start_ns = now_ns(CLOCK_REALTIME);
  printf("start %" PRId64 "\n", start_ns);
  fflush(stdout);
  for (int t = 0; t < nthreads; t++)
    pthread_create(&workers[t].tid, NULL, run_worker, &workers[t]);

  long total = (long)nthreads * count;
  for (;;) {
    long got = atomic_load(&n_receipts);
    printf("progress %ld %ld\n", got, atomic_load(&n_errors));
    fflush(stdout);
    if (got >= total)
      break;
    int refused = 0;
    for (int t = 0; t < nthreads; t++)
      refused |= workers[t].send_err != PULSARC_OK;
    if (refused)
      break;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
  }
  for (int t = 0; t < nthreads; t++)
    pthread_join(workers[t].tid, NULL);
  /* every accepted send has a receipt once flush returns (or close) */
  pulsarc_producer_close(producer);
  pulsarc_producer_destroy(producer);
  pulsarc_client_close(client);
  pulsarc_client_destroy(client);

  FILE *f = fopen(out, "w");
  if (!f) {
    perror(out);
    return 2;
  }
  long ok = 0, missing = 0;
  for (int t = 0; t < nthreads; t++) {
    for (long i = 0; i < count; i++) {
      struct receipt *r = &workers[t].receipts[i];
      char id[96] = "-";
      if (r->ns && r->err == PULSARC_OK)
        pulsarc_msg_id_format(&r->id, id, sizeof id);
      if (!r->ns)
        missing++;
      else if (r->err == PULSARC_OK)
        ok++;
      fprintf(f, "%d %ld %" PRId64 " %s %s\n", t, i, r->ns, id,
              r->ns ? pulsarc_err_name(r->err) : "NONE");
    }
    free(workers[t].receipts);
  }
  fclose(f);
  fclose(log_file);
  fprintf(stderr, "cluster-publish: %ld/%ld receipts OK, %ld failed, %ld without receipt, %.1fs\n",
          ok, total, total - ok - missing, missing,
          (double)(now_ns(CLOCK_REALTIME) - start_ns) / 1e9);
  printf("done %ld %ld\n", ok, total);
  return ok == total ? 0 : 1;
}
