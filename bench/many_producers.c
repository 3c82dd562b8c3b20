/* pulsarc-many-producers: many producers on one client (issue #13 item 2).
 *
 * N producers on one topic each (or one producer on a topic of P
 * partitions), against the test broker. The broker runs in a forked child
 * process started before any thread exists, so the process's RSS and CPU
 * (getrusage) are the client's alone. Reports:
 *   - time to create them all (create_cb for all, then wait for every ready
 *     callback; --create-blocking: pulsarc_producer_create one after the
 *     other, as a simple program would);
 *   - RSS (VmRSS) before creation, idle after creation, and after every
 *     producer sent K messages (taken --settle-ms after the last receipt),
 *     as KiB per producer (per partition), and the peak (VmHWM);
 *   - client CPU while idle for --idle-s after the sends, as % of a core;
 *   - aggregate throughput of the 100 B messages spread over all of them;
 *   - with --duration-s D: send_cb round robin over all of them for D s, then
 *     wait for every receipt (tput_msgs_per_s, the figure the Java and Go
 *     peers of bench/many_producers.py report too), and the peak after it.
 * A partitioned topic's keyless messages go round robin per message (a
 * custom router, as the Go peer does) or, with --routing default, through
 * pulsarc's own round robin, which switches partition once per batch (as
 * Java's default router does).
 * Default options, no allocator tuning. One JSON line at the end.
 *
 *   pulsarc-many-producers [--producers N] [--partitions P] [--messages-each K]
 *       [--blocking|--async] [--threads T] [--create-blocking]
 *       [--settle-ms MS] [--idle-s S] [--duration-s D] [--topic NAME]
 *       [--routing per-message|default] [--service-url URL] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pulsarc/pulsarc.h"
#include "testbroker.h"

typedef struct opts {
  long producers, partitions, each, threads, settle_ms, idle_s;
  double duration_s;
  bool blocking, create_blocking, default_routing;
  const char *url, *topic;
} opts;

static atomic_long ready_ok, ready_failed, completed, failed;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* VmRSS or VmHWM in KiB. */
static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      v = atol(line + n + 1);
      break;
    }
  fclose(f);
  return v;
}

/* The broker's process: started before any thread, lives until the parent
 * closes its end of `hold`. */
static pid_t broker_fork(const opts *o, char *url, size_t url_len) {
  int up[2], hold[2];
  if (pipe(up) != 0 || pipe(hold) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    close(up[0]);
    close(hold[1]);
    pulsarc_tb_opts to = pulsarc_tb_opts_default();
    to.retain_bytes = 0;
    to.max_entry_records = 0;
    pulsarc_tb_partitions tp = {o->topic, (uint32_t)o->partitions};
    if (o->partitions > 0) {
      to.partitions = &tp;
      to.num_partitions = 1;
    }
    pulsarc_tb *tb = NULL;
    if (pulsarc_tb_start(&to, &tb) != 0)
      _exit(1);
    const char *u = pulsarc_tb_service_url(tb);
    if (write(up[1], u, strlen(u) + 1) < 0)
      _exit(1);
    close(up[1]);
    char c;
    while (read(hold[0], &c, 1) > 0) {
    }
    pulsarc_tb_free(tb);
    _exit(0);
  }
  close(up[1]);
  close(hold[0]);
  /* hold[1] stays open in this process until it exits. */
  size_t got = 0;
  ssize_t r;
  while (got < url_len - 1 && (r = read(up[0], url + got, url_len - 1 - got)) > 0) {
    got += (size_t)r;
    if (memchr(url, 0, got) != NULL)
      break;
  }
  url[got] = 0;
  close(up[0]);
  return got > 0 ? pid : -1;
}

static void on_ready(pulsarc_producer_t *p, pulsarc_err_t err, void *ctx) {
  (void)p;
  (void)ctx;
  atomic_fetch_add(err == PULSARC_OK ? &ready_ok : &ready_failed, 1);
}

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  (void)id;
  (void)ctx;
  if (err != PULSARC_OK)
    atomic_fetch_add(&failed, 1);
  atomic_fetch_add(&completed, 1);
}

static atomic_uint rr;
static int route_rr(const char *key, size_t key_len, int n, void *ctx) {
  (void)key;
  (void)key_len;
  (void)ctx;
  return (int)(atomic_fetch_add_explicit(&rr, 1, memory_order_relaxed) % (unsigned)n);
}

typedef struct sender_arg {
  pulsarc_producer_t **ps;
  long from, to; /* producers [from, to) */
  long msgs;     /* for one partitioned producer: messages to send */
  long each;
  bool blocking;
  long errors;
} sender_arg;

static void *sender_main(void *v) {
  sender_arg *a = v;
  char payload[100];
  memset(payload, 'x', sizeof payload);
  long n = a->msgs > 0 ? a->msgs : (a->to - a->from) * a->each;
  for (long i = 0; i < n; i++) {
    pulsarc_producer_t *p = a->msgs > 0 ? a->ps[0] : a->ps[a->from + i % (a->to - a->from)];
    memcpy(payload, &i, sizeof i);
    pulsarc_err_t e;
    if (a->blocking) {
      e = pulsarc_producer_send(p, payload, sizeof payload, NULL, NULL);
      atomic_fetch_add(&completed, 1);
    } else {
      while ((e = pulsarc_producer_send_cb(p, payload, sizeof payload, NULL, on_sent, NULL)) ==
             PULSARC_ERR_QUEUE_FULL)
        usleep(50);
    }
    if (e != PULSARC_OK)
      a->errors++;
  }
  return NULL;
}

static int usage(void) {
  fprintf(stderr, "usage: pulsarc-many-producers [--producers N] [--partitions P] "
                  "[--messages-each K] [--blocking|--async] [--threads T] [--create-blocking] "
                  "[--settle-ms MS] [--idle-s S] [--duration-s D] [--topic NAME] "
                  "[--routing per-message|default] [--service-url URL]\n");
  return 2;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){.producers = 10000, .each = 1, .threads = 1, .settle_ms = 2000, .idle_s = 10};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--blocking") == 0)
      o->blocking = true;
    else if (strcmp(a, "--async") == 0)
      o->blocking = false;
    else if (strcmp(a, "--create-blocking") == 0)
      o->create_blocking = true;
    else if (v == NULL)
      return -1;
    else if (strcmp(a, "--producers") == 0)
      o->producers = atol(argv[++i]);
    else if (strcmp(a, "--partitions") == 0)
      o->partitions = atol(argv[++i]);
    else if (strcmp(a, "--messages-each") == 0)
      o->each = atol(argv[++i]);
    else if (strcmp(a, "--threads") == 0)
      o->threads = atol(argv[++i]);
    else if (strcmp(a, "--settle-ms") == 0)
      o->settle_ms = atol(argv[++i]);
    else if (strcmp(a, "--idle-s") == 0)
      o->idle_s = atol(argv[++i]);
    else if (strcmp(a, "--service-url") == 0)
      o->url = argv[++i];
    else if (strcmp(a, "--topic") == 0)
      o->topic = argv[++i];
    else if (strcmp(a, "--duration-s") == 0)
      o->duration_s = atof(argv[++i]);
    else if (strcmp(a, "--routing") == 0 &&
             (strcmp(v, "default") == 0 || strcmp(v, "per-message") == 0))
      o->default_routing = strcmp(argv[++i], "default") == 0;
    else
      return -1;
  }
  if (o->topic == NULL)
    o->topic = o->partitions > 0 ? "many-part" : "many";
  if (o->partitions > 0)
    o->producers = 1;
  if (o->duration_s < 0 || o->producers <= 0 || o->each < 0 || o->threads <= 0 ||
      o->settle_ms < 0 || o->idle_s < 0)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  if (parse(argc, argv, &o) != 0)
    return usage();
  char url[256];
  pid_t broker = 0;
  if (o.url != NULL) {
    snprintf(url, sizeof url, "%s", o.url);
  } else if ((broker = broker_fork(&o, url, sizeof url)) < 0) {
    fprintf(stderr, "pulsarc-many-producers: cannot start the test broker\n");
    return 1;
  }
  long units = o.partitions > 0 ? o.partitions : o.producers; /* per-unit figures */
  long rss_start = status_kib("VmRSS");
  pulsarc_client_t *c = NULL;
  pulsarc_producer_conf_t *conf = pulsarc_producer_conf_new();
  pulsarc_producer_t **ps = calloc((size_t)o.producers, sizeof *ps);
  if (ps == NULL || conf == NULL || pulsarc_client_new(url, NULL, &c) != PULSARC_OK) {
    fprintf(stderr, "pulsarc-many-producers: setup failed\n");
    return 1;
  }
  if (o.partitions > 0 && !o.default_routing &&
      pulsarc_producer_conf_set_router(conf, route_rr, NULL) != PULSARC_OK) {
    fprintf(stderr, "pulsarc-many-producers: router: %s\n", pulsarc_last_error_text());
    return 1;
  }
  usleep(200 * 1000);
  long rss_before = status_kib("VmRSS");

  /* ---- creation ---- */
  double t0 = now_s();
  char topic[64];
  for (long i = 0; i < o.producers; i++) {
    if (o.partitions > 0)
      snprintf(topic, sizeof topic, "%s", o.topic);
    else
      snprintf(topic, sizeof topic, "%s-%ld", o.topic, i);
    pulsarc_err_t e = o.create_blocking
                          ? pulsarc_producer_create(c, topic, conf, &ps[i])
                          : pulsarc_producer_create_cb(c, topic, conf, on_ready, NULL, &ps[i]);
    if (e != PULSARC_OK) {
      fprintf(stderr, "pulsarc-many-producers: create %s: %s (%s)\n", topic, pulsarc_err_str(e),
              pulsarc_last_error_text());
      return 1;
    }
  }
  if (!o.create_blocking) {
    double give_up = now_s() + 300;
    while (atomic_load(&ready_ok) + atomic_load(&ready_failed) < o.producers && now_s() < give_up)
      usleep(1000);
    if (atomic_load(&ready_ok) != o.producers) {
      fprintf(stderr, "pulsarc-many-producers: %ld of %ld producers ready\n",
              atomic_load(&ready_ok), o.producers);
      return 1;
    }
  }
  double create_s = now_s() - t0;
  double cpu_a = cpu_s();
  double ta = now_s();
  usleep((useconds_t)o.settle_ms * 1000);
  double idle0_cpu = (cpu_s() - cpu_a) / (now_s() - ta);
  long rss_idle = status_kib("VmRSS");

  /* ---- one message (or K) on each ---- */
  long total = o.producers * o.each;
  if (o.partitions > 0)
    total = o.partitions * o.each;
  sender_arg *args = calloc((size_t)o.threads, sizeof *args);
  pthread_t *th = calloc((size_t)o.threads, sizeof *th);
  double t1 = now_s();
  for (long k = 0; k < o.threads; k++) {
    args[k] = (sender_arg){.ps = ps, .each = o.each, .blocking = o.blocking};
    if (o.partitions > 0) {
      args[k].msgs = total / o.threads + (k < total % o.threads ? 1 : 0);
    } else {
      args[k].from = o.producers * k / o.threads;
      args[k].to = o.producers * (k + 1) / o.threads;
    }
    if (args[k].msgs == 0 && args[k].from == args[k].to)
      continue;
    pthread_create(&th[k], NULL, sender_main, &args[k]);
  }
  long errors = 0;
  for (long k = 0; k < o.threads; k++) {
    if (th[k] != 0)
      pthread_join(th[k], NULL);
    errors += args[k].errors;
  }
  double give_up = now_s() + 600;
  while (atomic_load(&completed) + errors < total && now_s() < give_up)
    usleep(200);
  double send_s = now_s() - t1;
  errors += atomic_load(&failed);
  usleep((useconds_t)o.settle_ms * 1000);
  long rss_sent = status_kib("VmRSS");
  long hwm = status_kib("VmHWM");

  /* ---- idle CPU ---- */
  double cpu0 = cpu_s(), w0 = now_s();
  sleep((unsigned)o.idle_s);
  double idle_cpu = o.idle_s > 0 ? (cpu_s() - cpu0) / (now_s() - w0) : 0;

  /* ---- aggregate throughput for --duration-s ---- */
  long tput_msgs = 0;
  double tput_s = 0;
  if (o.duration_s > 0) {
    long base = atomic_load(&completed), failed0 = atomic_load(&failed);
    char payload[100];
    memset(payload, 'x', sizeof payload);
    double t2 = now_s(), end = t2 + o.duration_s;
    for (long i = 0;; i++) {
      if (i % 256 == 0 && now_s() >= end)
        break;
      pulsarc_producer_t *p = ps[o.partitions > 0 ? 0 : i % o.producers];
      pulsarc_err_t e;
      while ((e = pulsarc_producer_send_cb(p, payload, sizeof payload, NULL, on_sent, NULL)) ==
             PULSARC_ERR_QUEUE_FULL)
        usleep(50);
      if (e != PULSARC_OK)
        errors++;
      else
        tput_msgs++;
    }
    double bound = now_s() + 600;
    while (atomic_load(&completed) - base < tput_msgs && now_s() < bound)
      usleep(200);
    tput_s = now_s() - t2;
    errors += atomic_load(&failed) - failed0;
  }
  long hwm_end = status_kib("VmHWM");

  double kib_idle = (double)(rss_idle - rss_before) / (double)units;
  double kib_sent = (double)(rss_sent - rss_before) / (double)units;
  double kib_peak = (double)(hwm - rss_before) / (double)units;
  double rate = send_s > 0 ? (double)total / send_s : 0;
  fprintf(stderr,
          "%ld %s%s: created in %.3f s (%s); RSS %ld KiB at start, %ld before creation\n"
          "  idle: %.1f KiB per %s (CPU %.2f%% of a core over %.1f s)\n"
          "  %ld x 100 B %s from %ld thread(s): %.3f s, %.0f msg/s, %ld errors\n"
          "  %.1f s after the last receipt: %.1f KiB per %s; peak %.1f KiB per %s\n"
          "  idle CPU over %ld s after sending: %.2f%% of a core (client process only)\n",
          units, o.partitions > 0 ? "partitions" : "producers",
          o.partitions > 0 ? " (one producer)" : "", create_s,
          o.create_blocking ? "blocking creates" : "create_cb, all ready", rss_start, rss_before,
          kib_idle, o.partitions > 0 ? "partition" : "producer", 100 * idle0_cpu,
          (double)o.settle_ms / 1000, total, o.blocking ? "blocking sends" : "send_cb", o.threads,
          send_s, rate, errors, (double)o.settle_ms / 1000, kib_sent,
          o.partitions > 0 ? "partition" : "producer", kib_peak,
          o.partitions > 0 ? "partition" : "producer", o.idle_s, 100 * idle_cpu);
  if (tput_s > 0)
    fprintf(stderr, "  throughput over %.1f s (send_cb%s): %ld messages, %.0f msg/s\n",
            o.duration_s,
            o.partitions == 0   ? " round robin"
            : o.default_routing ? ", default routing"
                                : ", round robin per message",
            tput_msgs, (double)tput_msgs / tput_s);
  printf("{\"producers\":%ld,\"partitions\":%ld,\"messages_each\":%ld,\"mode\":\"%s\","
         "\"threads\":%ld,\"create_mode\":\"%s\",\"create_seconds\":%.3f,"
         "\"rss_before_kib\":%ld,\"rss_idle_kib\":%ld,\"rss_sent_kib\":%ld,\"rss_peak_kib\":%ld,"
         "\"kib_per_unit_idle\":%.2f,\"kib_per_unit_sent\":%.2f,\"kib_per_unit_peak\":%.2f,"
         "\"settle_ms\":%ld,\"send_seconds\":%.3f,\"msgs_per_s\":%.0f,\"errors\":%ld,"
         "\"idle_cpu_pct\":%.3f,\"idle_seconds\":%ld,\"idle_after_create_cpu_pct\":%.3f,"
         "\"tput_seconds\":%.3f,\"tput_messages\":%ld,\"tput_msgs_per_s\":%.0f,"
         "\"rss_peak_end_kib\":%ld,\"routing\":\"%s\",\"broker\":\"%s\"}\n",
         o.producers, o.partitions, o.each, o.blocking ? "blocking" : "async", o.threads,
         o.create_blocking ? "blocking" : "create_cb", create_s, rss_before, rss_idle, rss_sent,
         hwm, kib_idle, kib_sent, kib_peak, o.settle_ms, send_s, rate, errors, 100 * idle_cpu,
         o.idle_s, 100 * idle0_cpu, tput_s, tput_msgs, tput_s > 0 ? (double)tput_msgs / tput_s : 0,
         hwm_end,
         o.partitions == 0   ? "none"
         : o.default_routing ? "default"
                             : "per-message",
         broker ? "forked test broker" : "external");
  fflush(stdout);
  for (long i = 0; i < o.producers; i++)
    pulsarc_producer_destroy(ps[i]);
  pulsarc_client_destroy(c);
  pulsarc_producer_conf_destroy(conf);
  free(ps);
  free(args);
  free(th);
  if (broker > 0) {
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
  }
  return errors == 0 ? 0 : 1;
}
