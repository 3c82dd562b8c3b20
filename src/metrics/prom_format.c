/* Prometheus text exposition format 0.0.4: families in a fixed order, each
 * with its # HELP and # TYPE once, then one sample per series. Counters end
 * in _total and times are in seconds (Prometheus' base unit); values are
 * printed exactly (fixed-point from integer micro- and nanoseconds), never
 * through a double. Any thread; pure. */
#include "metrics/prom_format.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct out {
  pulsarc_text_fn fn;
  void *ctx;
  size_t len;
  char buf[4096];
} out;

static void flush(out *o) {
  if (o->len > 0)
    o->fn(o->buf, o->len, o->ctx);
  o->len = 0;
}

static void put(out *o, const char *s, size_t n) {
  while (n > 0) {
    if (o->len == sizeof o->buf)
      flush(o);
    size_t k = sizeof o->buf - o->len;
    if (k > n)
      k = n;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    n -= k;
  }
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void putu(out *o, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%" PRIu64, v);
  put(o, t, (size_t)n);
}

/* v / 10^digits, exactly: 1500 with 3 digits is "1.500". */
static void put_fixed(out *o, uint64_t v, int digits) {
  uint64_t scale = 1;
  for (int i = 0; i < digits; i++)
    scale *= 10;
  char t[48];
  int n = snprintf(t, sizeof t, "%" PRIu64 ".%0*" PRIu64, v / scale, digits, v % scale);
  put(o, t, (size_t)n);
}

/* The three escapes the format defines for label values. */
static void put_escaped(out *o, const char *s) {
  for (; s != NULL && *s; s++) {
    if (*s == '\\')
      put(o, "\\\\", 2);
    else if (*s == '"')
      put(o, "\\\"", 2);
    else if (*s == '\n')
      put(o, "\\n", 2);
    else
      put(o, s, 1);
  }
}

static void header(out *o, const char *name, const char *type, const char *help) {
  puts_(o, "# HELP ");
  puts_(o, name);
  put(o, " ", 1);
  puts_(o, help);
  puts_(o, "\n# TYPE ");
  puts_(o, name);
  put(o, " ", 1);
  puts_(o, type);
  put(o, "\n", 1);
}

/* name{topic="...",producer="..."[,partition="N"][,k="v"]} and a space. */
static void series_start(out *o, const char *name, const char *suffix, const pc_prom_series *s,
                         const char *k, const char *v) {
  puts_(o, name);
  puts_(o, suffix);
  puts_(o, "{topic=\"");
  put_escaped(o, s->topic);
  puts_(o, "\",producer=\"");
  put_escaped(o, s->producer);
  put(o, "\"", 1);
  if (s->scope == PC_PROM_PARTITION) {
    puts_(o, ",partition=\"");
    putu(o, (uint64_t)s->partition);
    put(o, "\"", 1);
  }
  if (k != NULL) {
    put(o, ",", 1);
    puts_(o, k);
    puts_(o, "=\"");
    put_escaped(o, v);
    put(o, "\"", 1);
  }
  puts_(o, "} ");
}

#define PS(f) offsetof(pulsarc_producer_stats_t, f)
#define CS(f) offsetof(pulsarc_client_stats_t, f)

typedef struct family {
  const char *name;
  const char *type; /* "counter" or "gauge" */
  size_t off;       /* a uint64_t in the stats struct */
  const char *help;
} family;

static const family producer_families[] = {
    {"pulsarc_producer_messages_accepted_total", "counter", PS(msgs_accepted),
     "Sends that returned PULSARC_OK."},
    {"pulsarc_producer_accepted_bytes_total", "counter", PS(bytes_accepted),
     "Payload bytes of the accepted sends."},
    {"pulsarc_producer_messages_sent_total", "counter", PS(msgs_sent),
     "Messages first written to a broker connection (resends not counted again)."},
    {"pulsarc_producer_sent_bytes_total", "counter", PS(bytes_sent),
     "Payload bytes of the sent messages, before compression."},
    {"pulsarc_producer_messages_acked_total", "counter", PS(msgs_acked),
     "Messages completed with a message id."},
    {"pulsarc_producer_acked_bytes_total", "counter", PS(bytes_acked),
     "Payload bytes of the acknowledged messages."},
    {"pulsarc_producer_messages_timed_out_total", "counter", PS(msgs_timed_out),
     "Messages failed with TIMEOUT or TIMEOUT_UNCONFIRMED (also in messages_failed_total)."},
    {"pulsarc_producer_pending_messages", "gauge", PS(pending_msgs),
     "Messages accepted and not completed yet."},
    {"pulsarc_producer_pending_bytes", "gauge", PS(pending_bytes),
     "Payload bytes of the pending messages."},
    {"pulsarc_producer_batches_sent_total", "counter", PS(batches_sent),
     "SEND frames first written (a batch, a lone message or a chunk each)."},
    {"pulsarc_producer_uncompressed_bytes_total", "counter", PS(uncompressed_bytes),
     "Payload bytes of the sent frames before compression."},
    {"pulsarc_producer_compressed_bytes_total", "counter", PS(compressed_bytes),
     "Payload bytes of the sent frames after compression."},
    {"pulsarc_producer_reconnects_total", "counter", PS(reconnects),
     "Registrations with a broker after the first."},
    {"pulsarc_producer_resent_batches_total", "counter", PS(resent_batches),
     "SEND frames written again after a reconnect."},
};

static const family client_families[] = {
    {"pulsarc_client_producers", "gauge", CS(producers), "Producers not yet destroyed."},
    {"pulsarc_client_connections", "gauge", CS(connections), "Broker connections open now."},
    {"pulsarc_client_connections_opened_total", "counter", CS(connections_opened),
     "Broker connections that reached CONNECTED."},
    {"pulsarc_client_connections_failed_total", "counter", CS(connections_failed),
     "Broker connection attempts that failed."},
    {"pulsarc_client_connections_closed_total", "counter", CS(connections_closed),
     "Broker connections lost or closed after CONNECTED."},
    {"pulsarc_client_wire_sent_bytes_total", "counter", CS(bytes_out),
     "Bytes written to broker connections (after TLS)."},
    {"pulsarc_client_wire_received_bytes_total", "counter", CS(bytes_in),
     "Bytes read from broker connections (after TLS)."},
    {"pulsarc_client_frames_sent_total", "counter", CS(frames_out),
     "Protocol frames written to brokers."},
    {"pulsarc_client_frames_received_total", "counter", CS(frames_in),
     "Protocol frames read from brokers."},
    {"pulsarc_client_memory_used_bytes", "gauge", CS(memory_used),
     "Bytes held against the client memory limit."},
    {"pulsarc_client_memory_limit_bytes", "gauge", CS(memory_limit),
     "The memory_limit_bytes option (0 = no limit)."},
    {"pulsarc_client_lookups_total", "counter", CS(lookups),
     "LOOKUP requests sent (redirects included)."},
    {"pulsarc_client_lookups_failed_total", "counter", CS(lookups_failed),
     "Topic lookups that ended in an error."},
    {"pulsarc_client_partition_metadata_requests_total", "counter", CS(partition_metadata),
     "PARTITIONED_METADATA requests sent."},
};

static uint64_t field(const void *stats, size_t off) {
  uint64_t v;
  memcpy(&v, (const char *)stats + off, sizeof v);
  return v;
}

/* Whether series s feeds a per-partition family, or a per-producer one. */
static bool per_partition(const pc_prom_series *s) { return s->scope != PC_PROM_PRODUCER; }
static bool per_producer(const pc_prom_series *s) { return s->scope != PC_PROM_PARTITION; }

static void producer_plain(out *o, const family *f, const pc_prom_series *s, size_t n) {
  header(o, f->name, f->type, f->help);
  for (size_t i = 0; i < n; i++) {
    if (!per_partition(&s[i]))
      continue;
    series_start(o, f->name, "", &s[i], NULL, NULL);
    putu(o, field(s[i].stats, f->off));
    put(o, "\n", 1);
  }
}

/* A counter split by a "limit" label: the pending-messages limit and the
 * client memory limit. */
static void producer_by_limit(out *o, const char *name, const char *help, size_t pending_off,
                              size_t memory_off, const pc_prom_series *s, size_t n) {
  header(o, name, "counter", help);
  for (size_t i = 0; i < n; i++) {
    if (!per_producer(&s[i]))
      continue;
    series_start(o, name, "", &s[i], "limit", "pending_messages");
    putu(o, field(s[i].stats, pending_off));
    put(o, "\n", 1);
    series_start(o, name, "", &s[i], "limit", "memory");
    putu(o, field(s[i].stats, memory_off));
    put(o, "\n", 1);
  }
}

static void producer_failed(out *o, const pc_prom_series *s, size_t n) {
  static const char name[] = "pulsarc_producer_messages_failed_total";
  header(o, name, "counter",
         "Messages completed with an error (timeouts included), by error (pulsarc_err_name).");
  for (size_t i = 0; i < n; i++)
    for (int e = 1; e < PULSARC_STATS_ERRORS && per_producer(&s[i]); e++) {
      uint64_t v = s[i].stats->failed_by_error[e];
      if (v == 0)
        continue;
      series_start(o, name, "", &s[i], "error", pulsarc_err_name((pulsarc_err_t)e));
      putu(o, v);
      put(o, "\n", 1);
    }
}

static void producer_latency(out *o, const pc_prom_series *s, size_t n) {
  static const char name[] = "pulsarc_producer_send_latency_seconds";
  header(o, name, "histogram",
         "Time from the send call to the message's completion (success or failure).");
  for (size_t i = 0; i < n; i++) {
    if (!per_producer(&s[i]))
      continue;
    const pulsarc_latency_stats_t *l = &s[i].stats->latency;
    uint64_t cum = 0;
    for (int b = 0; b < PULSARC_LATENCY_BUCKETS; b++) {
      cum += l->buckets[b];
      char le[32];
      if (b < PULSARC_LATENCY_BUCKETS - 1) {
        uint64_t us = (uint64_t)1 << (b + 6);
        snprintf(le, sizeof le, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
      } else {
        snprintf(le, sizeof le, "+Inf");
      }
      series_start(o, name, "_bucket", &s[i], "le", le);
      putu(o, cum);
      put(o, "\n", 1);
    }
    series_start(o, name, "_sum", &s[i], NULL, NULL);
    put_fixed(o, l->sum_us, 6);
    put(o, "\n", 1);
    /* The buckets' total, not l->count: the two are read at different
     * moments, and the format wants _count equal to the +Inf bucket. */
    series_start(o, name, "_count", &s[i], NULL, NULL);
    putu(o, cum);
    put(o, "\n", 1);
  }
}

void pc_prom_format(const pulsarc_client_stats_t *client, const pc_prom_series *series, size_t n,
                    pulsarc_text_fn fn, void *ctx) {
  out o = {.fn = fn, .ctx = ctx};
  if (client != NULL)
    for (size_t f = 0; f < sizeof client_families / sizeof client_families[0]; f++) {
      const family *c = &client_families[f];
      header(&o, c->name, c->type, c->help);
      puts_(&o, c->name);
      put(&o, " ", 1);
      putu(&o, field(client, c->off));
      put(&o, "\n", 1);
    }
  if (n > 0) {
    for (size_t f = 0; f < sizeof producer_families / sizeof producer_families[0]; f++)
      producer_plain(&o, &producer_families[f], series, n);
    producer_failed(&o, series, n);
    producer_by_limit(&o, "pulsarc_producer_sends_blocked_total",
                      "Sends that waited for room under a limit.", PS(blocked_pending_limit),
                      PS(blocked_memory_limit), series, n);
    producer_by_limit(&o, "pulsarc_producer_sends_rejected_total",
                      "Sends refused because a limit was reached (QUEUE_FULL, MEMORY_LIMIT).",
                      PS(rejected_pending_limit), PS(rejected_memory_limit), series, n);
    header(&o, "pulsarc_producer_blocked_seconds_total", "counter",
           "Time the blocked sends spent waiting, added up.");
    for (size_t i = 0; i < n; i++) {
      if (!per_producer(&series[i]))
        continue;
      series_start(&o, "pulsarc_producer_blocked_seconds_total", "", &series[i], NULL, NULL);
      put_fixed(&o, series[i].stats->blocked_ns, 9);
      put(&o, "\n", 1);
    }
    producer_latency(&o, series, n);
  }
  flush(&o);
}
