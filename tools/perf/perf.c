/* pulsarc-perf: publishes as fast as allowed through the public API and
 * reports throughput, send latency and client CPU. See --help.
 *
 * Threads: P*T application threads call pulsarc_producer_send_cb; send
 * callbacks run on the library's I/O threads and record into per-callback-
 * thread state (found through a thread-local pointer), so no counter or
 * histogram is shared between writers. The main thread only reads (relaxed
 * atomic loads), prints progress and waits for signals. */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"
#include "perf.h"
#include "pulsarc/pulsarc.h"
#include "testbroker.h"

/* The send timestamp travels in the callback's ctx pointer, so the hot path
 * allocates nothing per message. A message left out of the latency sample
 * (--latency-sample) carries one of these two values instead: monotonic
 * stamps are never that small. */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "pulsarc-perf needs 64-bit pointers");
#define UNSTAMPED_WARMUP ((uintptr_t)0)
#define UNSTAMPED_MEASURED ((uintptr_t)1)

typedef _Atomic uint64_t au64;

/* One writer each, so increments are a relaxed load + store (plain moves
 * on x86) rather than locked read-modify-writes; readers use relaxed loads,
 * which keeps the concurrent progress reads free of data races. */
static inline void bump(au64 *a, uint64_t d) {
  atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + d, memory_order_relaxed);
}
static inline uint64_t rd(au64 *a) { return atomic_load_explicit(a, memory_order_relaxed); }

typedef struct ahist {
  au64 count, sum, max;
  au64 b[PC_HIST_BUCKETS];
} ahist;

static void ahist_record(ahist *h, uint64_t v) {
  bump(&h->b[pc_hist_index(v)], 1);
  bump(&h->sum, v);
  if (v > rd(&h->max))
    atomic_store_explicit(&h->max, v, memory_order_relaxed);
  bump(&h->count, 1);
}

/* Adds h into a plain histogram (min comes from the lowest bucket). */
static void ahist_snap(ahist *h, pc_hist *out) {
  uint64_t n = 0;
  for (unsigned i = 0; i < PC_HIST_BUCKETS; i++) {
    uint64_t c = rd(&h->b[i]);
    if (c && out->min > pc_hist_low(i))
      out->min = pc_hist_low(i);
    out->b[i] += c;
    n += c;
  }
  out->count += n;
  out->sum += rd(&h->sum);
  uint64_t mx = rd(&h->max);
  if (mx > out->max)
    out->max = mx;
}

/* State of one thread that runs send callbacks. */
typedef struct cb_state {
  au64 completed; /* callbacks run (release: readers then see the hists) */
  au64 errors, meas_ok;
  au64 ok;    /* every success, for the progress lines' rate */
  ahist live; /* every sampled success, for progress lines */
  ahist meas; /* sampled successes sent after the warmup */
  struct cb_state *next;
} cb_state;

typedef struct sender {
  pthread_t th;
  unsigned idx;
  pulsarc_producer_t *prod;
  uint64_t quota;   /* measured messages to send; 0 = until the deadline */
  au64 sent;        /* accepted by the library */
  au64 send_errors; /* refused by the send call itself */
  char pad[64];
} sender;

static struct {
  const perf_opts *o;
  uint64_t t0, measure_start, end; /* monotonic ns; end 0 = no deadline */
  atomic_bool stop;
  atomic_uint running;
  pthread_mutex_t reg_mu;
  cb_state *_Atomic cbs;
  _Atomic int first_err;
  uint8_t *text_pool; /* --payload text: read-only once the senders start */
} g = {.reg_mu = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local cb_state *tls_cb;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
  }
}

static void note_error(pulsarc_err_t err) {
  int zero = 0;
  atomic_compare_exchange_strong(&g.first_err, &zero, (int)err);
}

/* First callback on a thread: the mutex is taken once per I/O thread. */
static cb_state *cb_register(void) {
  cb_state *s = calloc(1, sizeof *s);
  if (!s) {
    fprintf(stderr, "pulsarc-perf: out of memory\n");
    abort();
  }
  pthread_mutex_lock(&g.reg_mu);
  s->next = atomic_load(&g.cbs);
  atomic_store(&g.cbs, s);
  pthread_mutex_unlock(&g.reg_mu);
  tls_cb = s;
  return s;
}

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  (void)id;
  uintptr_t sent_at = (uintptr_t)ctx;
  cb_state *s = tls_cb ? tls_cb : cb_register();
  if (err != PULSARC_OK) {
    note_error(err);
    bump(&s->errors, 1);
  } else {
    bool measured = sent_at == UNSTAMPED_MEASURED;
    bump(&s->ok, 1);
    if (sent_at > UNSTAMPED_MEASURED) {
      uint64_t t = now_ns(), lat = t > sent_at ? t - sent_at : 0;
      ahist_record(&s->live, lat);
      measured = sent_at >= g.measure_start;
      if (measured)
        ahist_record(&s->meas, lat);
    }
    if (measured)
      bump(&s->meas_ok, 1);
  }
  atomic_store_explicit(&s->completed, rd(&s->completed) + 1, memory_order_release);
}

/* Sums over the callback threads; live and meas (optional) get the sampled
 * latencies, *ok (optional) every success. */
static void cb_totals(uint64_t *completed, uint64_t *errors, uint64_t *meas_ok, pc_hist *live,
                      pc_hist *meas, uint64_t *ok) {
  *completed = *errors = *meas_ok = 0;
  if (ok)
    *ok = 0;
  for (cb_state *s = atomic_load(&g.cbs); s; s = s->next) {
    *completed += atomic_load_explicit(&s->completed, memory_order_acquire);
    *errors += rd(&s->errors);
    *meas_ok += rd(&s->meas_ok);
    if (ok)
      *ok += rd(&s->ok);
    if (live)
      ahist_snap(&s->live, live);
    if (meas)
      ahist_snap(&s->meas, meas);
  }
}

/* Only queue-full, memory-limit and timeout failures are worth another
 * send; anything else would fail the same way for every message. */
static bool worth_retrying(pulsarc_err_t e) {
  return e == PULSARC_ERR_QUEUE_FULL || e == PULSARC_ERR_TIMEOUT || e == PULSARC_ERR_MEMORY_LIMIT;
}

static void *sender_main(void *arg) {
  sender *sd = arg;
  const perf_opts *o = g.o;
  size_t size = (size_t)o->size;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fprintf(stderr, "pulsarc-perf: out of memory\n");
    atomic_store(&g.stop, true);
    atomic_fetch_sub(&g.running, 1);
    return NULL;
  }
  perf_pattern_fill(buf, size);
  double per_ns = o->rate > 0 ? o->rate / (o->producers * o->threads) / 1e9 : 0;
  uint64_t counter = 0, measured = 0;
  /* Which messages carry a stamp is drawn at random (xorshift64*, seeded
   * per thread) so that the sample cannot lock onto positions in a batch,
   * as every N-th message would with batches of a multiple of N. Without a
   * stamp the clock is still read every N messages (and after a failed
   * send) for the deadline and the warm-up boundary. */
  uint64_t mask = o->latency_sample - 1, rng = 0x9E3779B97F4A7C15ull * (sd->idx + 1), t = 0;
  bool need_clock = true;
  for (;;) {
    if (atomic_load_explicit(&g.stop, memory_order_relaxed))
      break;
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    bool stamp = ((rng * 0x2545F4914F6CDD1Dull) >> 40 & mask) == 0;
    if (stamp || need_clock || per_ns > 0 || (counter & mask) == 0)
      t = now_ns();
    need_clock = false;
    if (g.end && t >= g.end)
      break;
    bool in_meas = t >= g.measure_start;
    if (in_meas && sd->quota && measured >= sd->quota)
      break;
    if (per_ns > 0) {
      /* Pace against the start so a slow moment is caught up, not lost. */
      uint64_t due = g.t0 + (uint64_t)((double)counter / per_ns);
      if (due > t) {
        uint64_t wake = due;
        if (g.end && wake > g.end)
          wake = g.end;
        if (wake - t > 100000000u)
          wake = t + 100000000u; /* still see stop */
        sleep_until(wake);
        continue;
      }
    }
    /* Unique payloads (tools/perf/payload.h). */
    if (o->text_payload)
      perf_text_body(buf, size, g.text_pool, PERF_TEXT_POOL_BYTES, (uint64_t)sd->idx, counter);
    perf_payload_header(buf, size, (uint64_t)sd->idx, counter);
    if (o->blocking) {
      /* The whole call is the latency. It is recorded as a callback would
       * be, so that sent == completed as in the callback mode; a failure
       * is a failed message, counted by on_sent. */
      pulsarc_err_t e = pulsarc_producer_send(sd->prod, buf, size, NULL, NULL);
      on_sent(e, NULL,
              (void *)(stamp     ? (uintptr_t)t
                       : in_meas ? UNSTAMPED_MEASURED
                                 : UNSTAMPED_WARMUP));
      need_clock = e != PULSARC_OK;
      counter++;
      if (in_meas)
        measured++;
      bump(&sd->sent, 1);
      if (e != PULSARC_OK && !worth_retrying(e)) {
        atomic_store(&g.stop, true);
        break;
      }
      continue;
    }
    uintptr_t ctx = stamp ? (uintptr_t)t : in_meas ? UNSTAMPED_MEASURED : UNSTAMPED_WARMUP;
    pulsarc_err_t e = pulsarc_producer_send_cb(sd->prod, buf, size, NULL, on_sent, (void *)ctx);
    if (e != PULSARC_OK) {
      need_clock = true;
      note_error(e);
      bump(&sd->send_errors, 1);
      if (!worth_retrying(e)) {
        atomic_store(&g.stop, true);
        break;
      }
      continue;
    }
    counter++;
    if (in_meas)
      measured++;
    bump(&sd->sent, 1);
  }
  free(buf);
  atomic_fetch_sub(&g.running, 1);
  return NULL;
}

/* ------------------------------------------------------------ CPU time */

static double process_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#define MAX_TIDS 64
typedef struct tidset {
  long t[MAX_TIDS];
  int n;
} tidset;

static void list_tasks(tidset *s) {
  s->n = 0;
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) && s->n < MAX_TIDS)
    if (e->d_name[0] != '.')
      s->t[s->n++] = atol(e->d_name);
  closedir(d);
}

/* CPU seconds of one thread of this process, -1 if unreadable. schedstat
 * has ns resolution; stat (clock ticks) is the fallback. */
static double thread_cpu(long tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
  FILE *f = fopen(path, "r");
  unsigned long long ns;
  if (f) {
    int ok = fscanf(f, "%llu", &ns) == 1;
    fclose(f);
    if (ok)
      return (double)ns / 1e9;
  }
  snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
  if (!(f = fopen(path, "r")))
    return -1;
  char line[1024];
  double r = -1;
  if (fgets(line, sizeof line, f)) {
    char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
      r = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
  }
  fclose(f);
  return r;
}

static double tids_cpu(const tidset *s) {
  double sum = 0;
  for (int i = 0; i < s->n; i++) {
    double c = thread_cpu(s->t[i]);
    if (c < 0)
      return -1;
    sum += c;
  }
  return sum;
}

/* ------------------------------------------------------------ set-up */

static pulsarc_err_t set_conf(pulsarc_producer_conf_t *pc, pulsarc_client_conf_t *cc,
                              const char *key, const char *val) {
  char why[256] = "";
  pulsarc_err_t e;
  if (!strncmp(key, "client.", 7))
    e = pulsarc_client_conf_set(cc, key + 7, val, why, sizeof why);
  else
    e = pulsarc_producer_conf_set(pc, key, val, why, sizeof why);
  if (e != PULSARC_OK) /* a token or a password is never echoed */
    fprintf(stderr, "pulsarc-perf: option %s=%s: %s (%s)\n", key,
            (strstr(key, "token") && !strstr(key, "token_file")) || strstr(key, "password")
                ? "(hidden)"
                : val,
            why[0] ? why : "rejected", pulsarc_err_str(e));
  return e;
}

static int configure(const perf_opts *o, pulsarc_producer_conf_t *pc, pulsarc_client_conf_t *cc) {
  char num[32];
  int bad = 0;
  snprintf(num, sizeof num, "%" PRIu64, o->max_pending);
  bad |= set_conf(pc, cc, "max_pending_messages", num) != PULSARC_OK;
  bad |= set_conf(pc, cc, "block_if_queue_full", "true") != PULSARC_OK;
  if (!o->batching)
    bad |= set_conf(pc, cc, "batching", "false") != PULSARC_OK;
  if (o->batch_max_messages_s)
    bad |= set_conf(pc, cc, "batch_max_messages", o->batch_max_messages_s) != PULSARC_OK;
  if (o->batch_max_bytes_s)
    bad |= set_conf(pc, cc, "batch_max_bytes", o->batch_max_bytes_s) != PULSARC_OK;
  if (o->batch_max_delay_ms_s)
    bad |= set_conf(pc, cc, "batch_max_delay_ms", o->batch_max_delay_ms_s) != PULSARC_OK;
  if (strcmp(o->compression, "none"))
    bad |= set_conf(pc, cc, "compression", o->compression) != PULSARC_OK;
  if (o->compression_level)
    bad |= set_conf(pc, cc, "compression_level", o->compression_level) != PULSARC_OK;
  if (o->io_threads)
    bad |= set_conf(pc, cc, "client.io_threads", o->io_threads) != PULSARC_OK;
  for (unsigned i = 0; i < o->nconf && !bad; i++) {
    char key[128];
    const char *eq = strchr(o->conf[i], '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - o->conf[i]), o->conf[i]);
    bad |= set_conf(pc, cc, key, eq + 1) != PULSARC_OK;
  }
  return bad ? -1 : 0;
}

static void progress(double elapsed, uint64_t dmsgs, double dt, uint64_t pending, const pc_hist *iv,
                     uint64_t errors, bool warm) {
  const perf_opts *o = g.o;
  double rate = dt > 0 ? (double)dmsgs / dt : 0;
  fprintf(stderr,
          "[%6.1fs]%s %10.0f msg/s %9.2f MB/s  pending %7" PRIu64 "  p50 %8.3f ms  p99 %8.3f ms"
          "  errors %" PRIu64 "\n",
          elapsed, warm ? " warmup" : "", rate, rate * (double)o->size / 1e6, pending,
          (double)pc_hist_percentile(iv, 50) / 1e6, (double)pc_hist_percentile(iv, 99) / 1e6,
          errors);
}

int main(int argc, char **argv) {
  static perf_opts o;
  int rc = perf_parse_args(argc, argv, &o);
  if (rc)
    return rc == 1 ? 0 : 2;
  g.o = &o;
  if (o.text_payload) {
    if ((g.text_pool = malloc(PERF_TEXT_POOL_BYTES)) == NULL) {
      fprintf(stderr, "pulsarc-perf: out of memory\n");
      return 1;
    }
    perf_text_pool(g.text_pool, PERF_TEXT_POOL_BYTES, 1);
  }

  /* SIGINT/SIGTERM are taken synchronously by the main thread (every thread
   * started later inherits the mask), so library threads never see them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  pulsarc_tb *tb = NULL;
  tidset before, broker_tids = {.n = 0};
  perf_result r = {.broker_cpu = -1, .service_url = o.service_url, .wire_bytes = -1};
  uint16_t wire_port = 0; /* peer port of the client's sockets; 0 = any */
  int64_t wire0 = -1;
  if (!o.service_url) {
    /* Threads that appear across pulsarc_tb_start are the broker's: their
     * CPU is subtracted so the figure is the client's alone. */
    list_tasks(&before);
    pulsarc_tb_opts to = pulsarc_tb_opts_default();
    to.retain_bytes = 0; /* a perf run must not grow memory */
    to.max_entry_records = 0;
    int e = pulsarc_tb_start(&to, &tb);
    if (e) {
      fprintf(stderr, "pulsarc-perf: cannot start the embedded test broker: %s\n", strerror(-e));
      return 1;
    }
    tidset after;
    list_tasks(&after);
    for (int i = 0; i < after.n; i++) {
      bool old = false;
      for (int j = 0; j < before.n; j++)
        old |= after.t[i] == before.t[j];
      if (!old)
        broker_tids.t[broker_tids.n++] = after.t[i];
    }
    r.service_url = pulsarc_tb_service_url(tb);
    wire_port = pulsarc_tb_port(tb);
    r.embedded = true;
    fprintf(stderr, "pulsarc-perf: embedded test broker at %s\n", r.service_url);
  }
  bool broker_measured = tb && broker_tids.n > 0 && tids_cpu(&broker_tids) >= 0;
  r.cpu_scope = !tb               ? "process (client only: the broker is external)"
                : broker_measured ? "process minus embedded broker thread"
                                  : "process (includes the embedded broker)";

  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  pulsarc_client_t *client = NULL;
  unsigned nsend = o.producers * o.threads;
  pulsarc_producer_t **prods = calloc(o.producers, sizeof *prods);
  sender *sd = calloc(nsend, sizeof *sd);
  int exit_code = 1;
  if (!cc || !pc || !prods || !sd) {
    fprintf(stderr, "pulsarc-perf: out of memory\n");
    goto out;
  }
  if (configure(&o, pc, cc))
    goto out;
  pulsarc_err_t e = pulsarc_client_new(r.service_url, cc, &client);
  if (e) {
    const char *d = pulsarc_last_error_text();
    fprintf(stderr, "pulsarc-perf: cannot create a client for %s: %s%s%s\n", r.service_url,
            pulsarc_err_str(e), d[0] ? ": " : "", d);
    goto out;
  }
  for (unsigned i = 0; i < o.producers; i++) {
    e = pulsarc_producer_create(client, o.topic, pc, &prods[i]);
    if (e) {
      const char *d = pulsarc_last_error_text();
      fprintf(stderr, "pulsarc-perf: cannot create producer %u on topic %s: %s%s%s\n", i + 1,
              o.topic, pulsarc_err_str(e), d[0] ? ": " : "", d);
      goto out;
    }
  }

  g.t0 = now_ns();
  g.measure_start = g.t0 + (uint64_t)(o.warmup * 1e9);
  g.end = o.duration > 0 ? g.measure_start + (uint64_t)(o.duration * 1e9) : 0;
  bool measuring = false;
  double cpu0 = 0, bcpu0 = 0;
  pulsarc_tb_stats tb0 = {0};
  if (o.warmup <= 0) {
    measuring = true;
    wire0 = perf_wire_bytes(wire_port);
    cpu0 = process_cpu();
    if (broker_measured)
      bcpu0 = tids_cpu(&broker_tids);
    if (tb)
      pulsarc_tb_get_stats(tb, &tb0);
  }
  atomic_store(&g.running, nsend);
  for (unsigned i = 0; i < nsend; i++) {
    sd[i].idx = i;
    sd[i].prod = prods[i / o.threads];
    if (o.messages)
      sd[i].quota = o.messages / nsend + (i < o.messages % nsend);
    if (o.messages && sd[i].quota == 0) {
      atomic_fetch_sub(&g.running, 1);
      continue;
    }
    if (pthread_create(&sd[i].th, NULL, sender_main, &sd[i])) {
      fprintf(stderr, "pulsarc-perf: cannot start thread %u\n", i);
      atomic_store(&g.stop, true);
      atomic_fetch_sub(&g.running, nsend - i);
      nsend = i;
      break;
    }
  }

  /* Progress until every sender is done; 50 ms steps notice the end soon. */
  uint64_t last_t = g.t0, last_ok = 0, next_tick = g.t0 + 1000000000u;
  pc_hist *prev = malloc(sizeof *prev), *cur = malloc(sizeof *cur), *iv = malloc(sizeof *iv);
  if (!prev || !cur || !iv) {
    fprintf(stderr, "pulsarc-perf: out of memory\n");
    abort();
  }
  pc_hist_reset(prev);
  bool interrupted = false;
  while (atomic_load(&g.running) > 0) {
    struct timespec step = {0, 50000000};
    if (!interrupted && sigtimedwait(&sigs, NULL, &step) > 0) {
      interrupted = true;
      atomic_store(&g.stop, true);
      pthread_sigmask(SIG_UNBLOCK, &sigs, NULL); /* a second ^C kills */
      fprintf(stderr, "pulsarc-perf: interrupted, flushing\n");
    } else if (interrupted) {
      nanosleep(&step, NULL);
    }
    uint64_t t = now_ns();
    if (!measuring && t >= g.measure_start) {
      measuring = true;
      wire0 = perf_wire_bytes(wire_port);
      cpu0 = process_cpu();
      if (broker_measured)
        bcpu0 = tids_cpu(&broker_tids);
      if (tb)
        pulsarc_tb_get_stats(tb, &tb0);
    }
    if (t < next_tick || o.quiet)
      continue;
    next_tick += 1000000000u;
    uint64_t comp, errs, mok, ok, sent = 0;
    pc_hist_reset(cur);
    cb_totals(&comp, &errs, &mok, cur, NULL, &ok);
    for (unsigned i = 0; i < nsend; i++)
      sent += rd(&sd[i].sent), errs += rd(&sd[i].send_errors);
    pc_hist_diff(iv, cur, prev);
    progress((double)(t - g.t0) / 1e9, ok - last_ok, (double)(t - last_t) / 1e9,
             sent > comp ? sent - comp : 0, iv, errs, t < g.measure_start);
    pc_hist *tmp = prev;
    prev = cur;
    cur = tmp;
    last_ok = ok;
    last_t = t;
  }
  for (unsigned i = 0; i < nsend; i++)
    if (sd[i].th)
      pthread_join(sd[i].th, NULL);

  /* Everything accepted must complete before the clock stops. */
  for (unsigned i = 0; i < o.producers; i++) {
    e = pulsarc_producer_flush(prods[i], 120000);
    if (e)
      fprintf(stderr, "pulsarc-perf: flush of producer %u: %s\n", i + 1, pulsarc_err_str(e));
  }
  uint64_t sent = 0, send_errs = 0, comp, errs, mok;
  for (unsigned i = 0; i < nsend; i++)
    sent += rd(&sd[i].sent), send_errs += rd(&sd[i].send_errors);
  uint64_t wait_until = now_ns() + 10000000000u;
  for (;;) {
    cb_totals(&comp, &errs, &mok, NULL, NULL, NULL);
    if (comp >= sent || now_ns() > wait_until)
      break;
    struct timespec ms1 = {0, 1000000};
    nanosleep(&ms1, NULL);
  }
  uint64_t t_end = now_ns();
  double cpu1 = process_cpu();
  int64_t wire1 = perf_wire_bytes(wire_port);
  if (measuring && wire0 >= 0 && wire1 >= wire0)
    r.wire_bytes = wire1 - wire0;
  double bcpu1 = broker_measured ? tids_cpu(&broker_tids) : 0;
  if (tb && measuring) {
    /* Every receipt is in, so every entry of the window is stored. Entries
     * sealed across the warm-up boundary count on the side they were
     * stored, which shifts the mean by at most one entry's worth. */
    pulsarc_tb_stats tb1;
    pulsarc_tb_get_stats(tb, &tb1);
    r.has_batch = true;
    r.entries = tb1.entries - tb0.entries;
    r.stored_messages = tb1.messages - tb0.messages;
  }
  if (comp < sent) {
    fprintf(stderr, "pulsarc-perf: %" PRIu64 " sends never completed (counted as errors)\n",
            sent - comp);
    errs += sent - comp;
  }
  pc_hist_reset(&r.lat);
  uint64_t cb_errs;
  cb_totals(&comp, &cb_errs, &mok, NULL, &r.lat, NULL);
  r.messages = mok;
  r.errors = errs + send_errs;
  r.sent_total = sent;
  r.seconds = measuring ? (double)(t_end - g.measure_start) / 1e9 : 0;
  r.client_cpu = measuring ? (cpu1 - cpu0) - (broker_measured ? bcpu1 - bcpu0 : 0) : 0;
  if (broker_measured && measuring)
    r.broker_cpu = bcpu1 - bcpu0;
  int fe = atomic_load(&g.first_err);
  r.first_error = fe ? pulsarc_err_str((pulsarc_err_t)fe) : NULL;
  free(prev);
  free(cur);
  free(iv);

  for (unsigned i = 0; i < o.producers; i++) {
    pulsarc_producer_stats_t ps;
    if (pulsarc_producer_stats(prods[i], &ps, sizeof ps) == PULSARC_OK)
      perf_add_lib_stats(&r, &ps);
  }
  for (unsigned i = 0; i < o.producers; i++) {
    e = pulsarc_producer_close(prods[i]);
    if (e)
      fprintf(stderr, "pulsarc-perf: close of producer %u: %s\n", i + 1, pulsarc_err_str(e));
  }
  perf_report(&o, &r);
  exit_code = r.errors == 0 ? 0 : 1;

out:
  for (unsigned i = 0; prods && i < o.producers; i++)
    if (prods[i])
      pulsarc_producer_destroy(prods[i]);
  if (client) {
    pulsarc_client_close(client);
    pulsarc_client_destroy(client);
  }
  pulsarc_producer_conf_destroy(pc);
  pulsarc_client_conf_destroy(cc);
  pulsarc_tb_free(tb);
  free(prods);
  free(sd);
  for (cb_state *s = atomic_load(&g.cbs), *n; s; s = n) {
    n = s->next;
    free(s);
  }
  return exit_code;
}
