/* pulsarc-perf internals shared by perf.c (the run) and perf_opts.c
 * (command line, report formatting). Not a library: one program. */
#ifndef PULSARC_TOOLS_PERF_PERF_H
#define PULSARC_TOOLS_PERF_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "pulsarc/pulsarc.h"

#define PERF_MAX_CONF 64
/* Default latency sample of send_cb runs: two clock reads per stamped
 * message cost pulsarc-perf about a fifth of the client CPU per 100 B
 * message when every message was stamped. */
#define PERF_LATENCY_SAMPLE 64

typedef struct perf_opts {
  const char *service_url; /* NULL: embedded test broker */
  char topic[512];
  uint64_t messages; /* measured messages; 0 = by duration */
  double duration;   /* seconds of measurement; 0 = by messages */
  uint64_t size;
  unsigned producers, threads;
  /* Values as given (validated by the library) and as numbers for the
   * report; the library's defaults when not given. */
  const char *batch_max_messages_s, *batch_max_bytes_s, *batch_max_delay_ms_s;
  uint64_t batch_max_messages, batch_max_bytes, batch_max_delay_ms;
  bool batching;
  uint64_t max_pending;
  double rate; /* msgs/s over all threads, 0 = unlimited */
  double warmup;
  const char *compression;
  const char *compression_level; /* NULL: the library's default */
  bool text_payload;             /* --payload text (tools/perf/payload.h) */
  bool blocking;                 /* --blocking: pulsarc_producer_send */
  /* --latency-sample: stamp 1 in N messages (a power of two) at random;
   * 0 until parsed, then resolved (PERF_LATENCY_SAMPLE or 1). */
  uint64_t latency_sample;
  const char *io_threads;
  const char *conf[PERF_MAX_CONF]; /* "key=value" as given */
  unsigned nconf;
  bool json, quiet;
} perf_opts;

/* Figures of one run, filled by perf.c, printed by perf_report(). */
typedef struct perf_result {
  uint64_t messages;   /* successful sends made after the warmup */
  uint64_t errors;     /* failed sends, whole run (warmup included) */
  uint64_t sent_total; /* accepted by the library, whole run */
  double seconds;      /* first measured send -> last completion */
  pc_hist lat;         /* ns, measured successes in the latency sample */
  double client_cpu;   /* seconds over the measured window */
  double broker_cpu;   /* embedded broker thread(s), < 0 if unknown */
  const char *cpu_scope;
  const char *service_url;
  bool embedded;
  const char *first_error; /* pulsarc_err_str of the first failure, or NULL */
  int64_t wire_bytes;      /* TCP bytes the client sent (and had acked) over
                              the measured window; < 0 if unknown */
  /* Embedded broker only (has_batch): entries and messages it stored over
   * the measured window, so mean batch = stored_messages / entries. */
  bool has_batch;
  uint64_t entries, stored_messages;
  /* The library's own stats (pulsarc_producer_stats), whole run, warm-up
   * included: counters summed over the producers, latency percentiles the
   * worst producer's (percentiles do not add up). */
  pulsarc_producer_stats_t lib;
} perf_result;

/* Adds one producer's stats to r->lib. */
void perf_add_lib_stats(perf_result *r, const pulsarc_producer_stats_t *s);

/* Returns 0 to run, 1 after --help (exit 0), 2 on a usage error (message
 * already printed). */
int perf_parse_args(int argc, char **argv, perf_opts *o);

/* Summary on stdout (or stderr with --json), then the JSON line. */
void perf_report(const perf_opts *o, const perf_result *r);

/* Bytes acknowledged on this process's TCP connections whose peer port is
 * broker_port (0: every connected TCP socket), from TCP_INFO; -1 if none
 * found. wire.c. */
int64_t perf_wire_bytes(uint16_t broker_port);

#endif /* PULSARC_TOOLS_PERF_PERF_H */
