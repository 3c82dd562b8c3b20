/* pulsarc-perf: command line and the final report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "perf.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: pulsarc-perf [options]\n"
          "Publishes as fast as allowed and reports throughput and send latency.\n"
          "\n"
          "  --service-url URL        broker to use; default: start the embedded test broker\n"
          "                           in-process on 127.0.0.1:0 (its URL is printed on stderr)\n"
          "  --topic T                topic (default perf-<pid>)\n"
          "  --messages N             stop after N measured messages (sent after the warmup)\n"
          "  --duration S             measure for S seconds (default 10 unless --messages);\n"
          "                           with both, whichever comes first\n"
          "  --size B                 payload bytes (default 100); the first 16 bytes carry\n"
          "                           (thread, counter), the rest a fixed pattern\n"
          "  --producers P            producers on the topic (default 1)\n"
          "  --threads T              application threads sharing EACH producer (default 1)\n"
          "  --batch-max-messages N   producer batch_max_messages (library default 1000)\n"
          "  --batch-max-bytes N      producer batch_max_bytes (library default 131072)\n"
          "  --batch-max-delay-ms N   producer batch_max_delay_ms (library default 10)\n"
          "  --no-batching            producer batching=false\n"
          "  --max-pending N          producer max_pending_messages (default 10000)\n"
          "  --blocking               each thread calls the blocking pulsarc_producer_send\n"
          "                           (one message in flight per thread; latency is the\n"
          "                           whole call) instead of pulsarc_producer_send_cb\n"
          "  --latency-sample N       stamp 1 in N messages, chosen at random, for the latency\n"
          "                           figures (N a power of two, 1 = every message); default\n"
          "                           %d, or 1 with --blocking, --rate or --max-pending < %d\n"
          "  --rate R                 total messages/s over all threads (default 0 = unlimited)\n"
          "  --warmup S               first S seconds not counted in the figures (default 0)\n"
          "  --compression C          none|lz4|zlib|zstd|snappy (default none)\n"
          "  --compression-level L    producer compression_level (default 0 = the codec's)\n"
          "  --payload P              pattern (default: after the 16 unique bytes, a fixed\n"
          "                           pattern that compresses far beyond real data) or text\n"
          "                           (words, numbers and punctuation at a moving offset of a\n"
          "                           4 MiB pool: compresses about like logs or JSON)\n"
          "  --io-threads N           client io_threads (library default 1)\n"
          "  --conf KEY=VALUE         any producer option (pulsarc_producer_conf_set), or a\n"
          "                           client option when KEY starts with \"client.\"\n"
          "                           (repeatable; applied after the flags above)\n",
          PERF_LATENCY_SAMPLE, PERF_LATENCY_SAMPLE);
  pc_cli_sec_usage(f, 2, 27);
  fprintf(f, "  --json                   last line of stdout: one JSON object with the results\n"
             "  --quiet                  no progress lines, no human summary\n"
             "  --help                   this text\n"
             "\n"
             "Progress (stderr, each second): msg/s, MB/s (10^6 bytes), pending (accepted -\n"
             "completed), p50/p99 latency of the interval. Latency is send call -> callback\n"
             "(--blocking: the whole call), over the sampled messages (--latency-sample):\n"
             "reading the clock twice per message costs more than a 100 B send itself.\n"
             "Throughput and CPU count every message.\n"
             "A token or --tls-trust-cert with a plaintext pulsar:// URL (or the embedded\n"
             "broker) gets a warning: the token then travels unencrypted.\n"
             "Exit status: 0 when no send failed, 1 otherwise or on set-up failure, 2 on\n"
             "usage errors. SIGINT stops sending early; the run is then flushed and reported.\n");
}

static int bad(const char *what, const char *v) {
  fprintf(stderr, "pulsarc-perf: invalid %s '%s' (see --help)\n", what, v);
  return 2;
}

static int parse_u64(const char *s, uint64_t *out) {
  return pc_cli_parse_u64(s, 0, UINT64_MAX, out);
}

/* Keeps the report's numbers in step with a --conf override of the same
 * option; the library validates the value itself. */
static void note_conf(perf_opts *o, const char *key, const char *val) {
  uint64_t v;
  if (!strcmp(key, "batching"))
    o->batching = !(strcmp(val, "false") == 0 || strcmp(val, "0") == 0 || strcmp(val, "no") == 0 ||
                    strcmp(val, "off") == 0);
  else if (!strcmp(key, "compression"))
    o->compression = val;
  else if (!strcmp(key, "compression_level"))
    o->compression_level = val;
  else if (!strcmp(key, "batch_max_messages") && !parse_u64(val, &v))
    o->batch_max_messages = v;
  else if (!strcmp(key, "batch_max_bytes") && !parse_u64(val, &v))
    o->batch_max_bytes = v;
  else if (!strcmp(key, "batch_max_delay_ms") && !parse_u64(val, &v))
    o->batch_max_delay_ms = v;
  else if (!strcmp(key, "max_pending_messages") && !parse_u64(val, &v))
    o->max_pending = v;
  else if (!strcmp(key, "client.io_threads"))
    o->io_threads = val;
}

int perf_parse_args(int argc, char **argv, perf_opts *o) {
  enum {
    O_URL = 256,
    O_TOPIC,
    O_MSGS,
    O_DUR,
    O_SIZE,
    O_PRODS,
    O_THREADS,
    O_BMM,
    O_BMB,
    O_BMD,
    O_NOBATCH,
    O_PEND,
    O_BLOCKING,
    O_LATSAMPLE,
    O_RATE,
    O_WARM,
    O_COMP,
    O_COMPLEVEL,
    O_PAYLOAD,
    O_IOT,
    O_CONF,
    O_JSON,
    O_QUIET,
    O_HELP,
    O_SEC /* the security flags: O_SEC + enum pc_cli_sec_flag */
  };
  static const struct option lo[] = {
      {"service-url", required_argument, NULL, O_URL},
      {"topic", required_argument, NULL, O_TOPIC},
      {"messages", required_argument, NULL, O_MSGS},
      {"duration", required_argument, NULL, O_DUR},
      {"size", required_argument, NULL, O_SIZE},
      {"producers", required_argument, NULL, O_PRODS},
      {"threads", required_argument, NULL, O_THREADS},
      {"batch-max-messages", required_argument, NULL, O_BMM},
      {"batch-max-bytes", required_argument, NULL, O_BMB},
      {"batch-max-delay-ms", required_argument, NULL, O_BMD},
      {"no-batching", no_argument, NULL, O_NOBATCH},
      {"max-pending", required_argument, NULL, O_PEND},
      {"blocking", no_argument, NULL, O_BLOCKING},
      {"latency-sample", required_argument, NULL, O_LATSAMPLE},
      {"rate", required_argument, NULL, O_RATE},
      {"warmup", required_argument, NULL, O_WARM},
      {"compression", required_argument, NULL, O_COMP},
      {"compression-level", required_argument, NULL, O_COMPLEVEL},
      {"payload", required_argument, NULL, O_PAYLOAD},
      {"io-threads", required_argument, NULL, O_IOT},
      {"conf", required_argument, NULL, O_CONF},
      PC_CLI_SEC_OPTIONS(O_SEC),
      {"json", no_argument, NULL, O_JSON},
      {"quiet", no_argument, NULL, O_QUIET},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  snprintf(o->topic, sizeof o->topic, "perf-%ld", (long)getpid());
  o->size = 100;
  o->producers = o->threads = 1;
  o->batching = true;
  o->batch_max_messages = 1000;
  o->batch_max_bytes = 131072;
  o->batch_max_delay_ms = 10;
  o->max_pending = 10000;
  o->compression = "none";
  bool have_dur = false;
  uint64_t v;
  int c;
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    if (c >= O_SEC && c < O_SEC + PC_CLI_NSEC) {
      /* TLS / auth flags become client.* conf pairs, in order with --conf. */
      int flag = c - O_SEC;
      const char *k = pc_cli_sec_keys[flag], *v = pc_cli_sec_value(flag, optarg);
      char pw[1024];
      if (pc_cli_sec_empty_token(flag, optarg))
        return bad(flag == PC_CLI_TOKEN ? "--token (empty)" : "--token-file (empty)", optarg);
      if (flag == PC_CLI_TLS_KEY_PW) {
        if (pc_cli_read_secret_file("pulsarc-perf", optarg, pw, sizeof pw))
          return 2;
        v = pw;
      }
      if (o->nconf == PERF_MAX_CONF)
        return bad("option (too many --conf)", k);
      /* Lives as long as the process, like argv. */
      char *kv = malloc(strlen("client.") + strlen(k) + strlen(v) + 2);
      if (!kv)
        return bad("option (out of memory)", k);
      sprintf(kv, "client.%s=%s", k, v);
      o->conf[o->nconf++] = kv;
      if (v == pw)
        explicit_bzero(pw, sizeof pw);
      continue;
    }
    switch (c) {
    case O_URL:
      o->service_url = optarg;
      break;
    case O_TOPIC:
      if (!*optarg || strlen(optarg) >= sizeof o->topic)
        return bad("--topic", optarg);
      snprintf(o->topic, sizeof o->topic, "%s", optarg);
      break;
    case O_MSGS:
      if (pc_cli_parse_u64(optarg, 1, UINT64_MAX, &o->messages))
        return bad("--messages", optarg);
      break;
    case O_DUR:
      if (pc_cli_parse_secs(optarg, &o->duration) || o->duration <= 0)
        return bad("--duration", optarg);
      have_dur = true;
      break;
    case O_SIZE:
      if (pc_cli_parse_u64(optarg, 0, 1u << 30, &o->size))
        return bad("--size", optarg);
      break;
    case O_PRODS:
      if (pc_cli_parse_u64(optarg, 1, 1024, &v))
        return bad("--producers", optarg);
      o->producers = (unsigned)v;
      break;
    case O_THREADS:
      if (pc_cli_parse_u64(optarg, 1, 1024, &v))
        return bad("--threads", optarg);
      o->threads = (unsigned)v;
      break;
    case O_BMM:
      if (parse_u64(optarg, &o->batch_max_messages))
        return bad("--batch-max-messages", optarg);
      o->batch_max_messages_s = optarg;
      break;
    case O_BMB:
      if (parse_u64(optarg, &o->batch_max_bytes))
        return bad("--batch-max-bytes", optarg);
      o->batch_max_bytes_s = optarg;
      break;
    case O_BMD:
      if (parse_u64(optarg, &o->batch_max_delay_ms))
        return bad("--batch-max-delay-ms", optarg);
      o->batch_max_delay_ms_s = optarg;
      break;
    case O_NOBATCH:
      o->batching = false;
      break;
    case O_PEND:
      if (pc_cli_parse_u64(optarg, 1, UINT64_MAX, &o->max_pending))
        return bad("--max-pending", optarg);
      break;
    case O_LATSAMPLE:
      if (pc_cli_parse_u64(optarg, 1, 65536, &o->latency_sample) ||
          (o->latency_sample & (o->latency_sample - 1)))
        return bad("--latency-sample (a power of two, 1..65536)", optarg);
      break;
    case O_RATE:
      if (pc_cli_parse_secs(optarg, &o->rate))
        return bad("--rate", optarg);
      break;
    case O_WARM:
      if (pc_cli_parse_secs(optarg, &o->warmup))
        return bad("--warmup", optarg);
      break;
    case O_COMP:
      o->compression = optarg;
      break;
    case O_COMPLEVEL:
      o->compression_level = optarg;
      break;
    case O_PAYLOAD:
      if (strcmp(optarg, "pattern") && strcmp(optarg, "text"))
        return bad("--payload", optarg);
      o->text_payload = !strcmp(optarg, "text");
      break;
    case O_IOT:
      o->io_threads = optarg;
      break;
    case O_CONF: {
      const char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg)
        return bad("--conf (want KEY=VALUE)", optarg);
      if (o->nconf == PERF_MAX_CONF)
        return bad("--conf (too many)", optarg);
      o->conf[o->nconf++] = optarg;
      break;
    }
    case O_JSON:
      o->json = true;
      break;
    case O_QUIET:
      o->quiet = true;
      break;
    case O_BLOCKING:
      o->blocking = true;
      break;
    case O_HELP:
    case 'h':
      usage(stdout);
      return 1;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pulsarc-perf: unexpected argument '%s' (see --help)\n", argv[optind]);
    return 2;
  }
  if (!have_dur && o->messages == 0)
    o->duration = 10;
  bool has_token = false, has_tls_files = false;
  for (unsigned i = 0; i < o->nconf; i++) {
    const char *eq = strchr(o->conf[i], '=');
    char key[128];
    size_t kl = (size_t)(eq - o->conf[i]);
    if (kl >= sizeof key)
      return bad("--conf key", o->conf[i]);
    memcpy(key, o->conf[i], kl);
    key[kl] = '\0';
    note_conf(o, key, eq + 1);
    if (!strcmp(key, "client.auth_token") || !strcmp(key, "client.auth_token_file"))
      has_token = has_token || eq[1] != '\0';
    if (!strcmp(key, "client.tls_trust_certs_file") || !strcmp(key, "client.tls_cert_file"))
      has_tls_files = true;
  }
  /* Sampling pays only when the client runs flat out; a blocking call, a
   * paced run or a small window measures latency, and is cheap to stamp. */
  if (o->latency_sample == 0)
    o->latency_sample = o->blocking || o->rate > 0 || o->max_pending < PERF_LATENCY_SAMPLE
                            ? 1
                            : PERF_LATENCY_SAMPLE;
  if (!pc_cli_url_is_tls(o->service_url))
    pc_cli_warn_plaintext("pulsarc-perf",
                          o->service_url ? o->service_url : "the embedded broker (pulsar://)",
                          has_token, has_tls_files);
  return 0;
}

/* Latency in ms (human lines) or us (JSON) from ns. */
static double ms(uint64_t ns) { return (double)ns / 1e6; }
static double us(uint64_t ns) { return (double)ns / 1e3; }

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

void perf_add_lib_stats(perf_result *r, const pulsarc_producer_stats_t *s) {
  pulsarc_producer_stats_t *l = &r->lib;
  l->msgs_accepted += s->msgs_accepted;
  l->msgs_sent += s->msgs_sent;
  l->msgs_acked += s->msgs_acked;
  l->msgs_failed += s->msgs_failed;
  l->batches_sent += s->batches_sent;
  l->uncompressed_bytes += s->uncompressed_bytes;
  l->compressed_bytes += s->compressed_bytes;
  l->reconnects += s->reconnects;
  l->resent_batches += s->resent_batches;
  l->mean_batch_msgs = l->batches_sent ? (double)l->msgs_sent / (double)l->batches_sent : 0.0;
  l->latency.count += s->latency.count;
  l->latency.sum_us += s->latency.sum_us;
#define WORST(f) l->latency.f = s->latency.f > l->latency.f ? s->latency.f : l->latency.f
  WORST(p50_us);
  WORST(p99_us);
  WORST(p999_us);
  WORST(max_us);
#undef WORST
}

static double lib_ratio(const pulsarc_producer_stats_t *l) {
  return l->uncompressed_bytes ? (double)l->compressed_bytes / (double)l->uncompressed_bytes : 0.0;
}

void perf_report(const perf_opts *o, const perf_result *r) {
  double secs = r->seconds > 0 ? r->seconds : 0;
  double rate = secs > 0 ? (double)r->messages / secs : 0;
  double mbps = rate * (double)o->size / 1e6;
  const pc_hist *h = &r->lat;
  if (!o->quiet) {
    FILE *f = o->json ? stderr : stdout;
    fprintf(f,
            "pulsarc-perf: %llu messages of %llu bytes in %.3f s: %.0f msg/s, %.2f MB/s, "
            "%llu errors\n",
            (unsigned long long)r->messages, (unsigned long long)o->size, secs, rate, mbps,
            (unsigned long long)r->errors);
    char sample[96];
    if (o->latency_sample > 1)
      snprintf(sample, sizeof sample, "1 in %llu messages at random, %llu samples",
               (unsigned long long)o->latency_sample, (unsigned long long)h->count);
    else
      snprintf(sample, sizeof sample, "every message");
    fprintf(f,
            "latency ms (%s, %s): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  "
            "mean %.3f\n",
            o->blocking ? "the whole blocking call" : "send -> callback", sample,
            ms(pc_hist_percentile(h, 50)), ms(pc_hist_percentile(h, 99)),
            ms(pc_hist_percentile(h, 99.9)), ms(h->max), pc_hist_mean(h) / 1e6);
    if (r->wire_bytes >= 0)
      fprintf(f,
              "wire: %.2f MB/s sent by the client (TCP bytes acked, framing and "
              "compression included)\n",
              secs > 0 ? (double)r->wire_bytes / secs / 1e6 : 0.0);
    if (r->has_batch)
      fprintf(f, "batches: %llu entries stored, mean batch %.2f messages per entry\n",
              (unsigned long long)r->entries,
              r->entries ? (double)r->stored_messages / (double)r->entries : 0.0);
    else
      fprintf(f, "batches: n/a (entry counts need the embedded broker)\n");
    const pulsarc_producer_stats_t *l = &r->lib;
    fprintf(f,
            "library stats (whole run): %llu batches, mean batch %.2f messages, compression "
            "ratio %.3f, %llu reconnects, %llu batches resent\n",
            (unsigned long long)l->batches_sent, l->mean_batch_msgs, lib_ratio(l),
            (unsigned long long)l->reconnects, (unsigned long long)l->resent_batches);
    fprintf(f,
            "library latency ms (taken in -> completed): p50 %.3f  p99 %.3f  p99.9 %.3f  "
            "max %.3f\n",
            (double)l->latency.p50_us / 1e3, (double)l->latency.p99_us / 1e3,
            (double)l->latency.p999_us / 1e3, (double)l->latency.max_us / 1e3);
    fprintf(f, "client CPU %.2f s (%s)", r->client_cpu, r->cpu_scope);
    if (r->broker_cpu >= 0)
      fprintf(f, ", embedded broker CPU %.2f s", r->broker_cpu);
    fputc('\n', f);
    if (r->first_error)
      fprintf(f, "first error: %s\n", r->first_error);
  }
  if (!o->json)
    return;
  printf("{\"messages\":%llu,\"errors\":%llu,\"sent_total\":%llu,\"seconds\":%.6f,"
         "\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.3f,",
         (unsigned long long)r->messages, (unsigned long long)r->errors,
         (unsigned long long)r->sent_total, secs, rate, mbps);
  printf("\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
         "\"latency_sample\":%llu,\"latency_samples\":%llu,",
         us(pc_hist_percentile(h, 50)), us(pc_hist_percentile(h, 99)),
         us(pc_hist_percentile(h, 99.9)), us(h->max), pc_hist_mean(h) / 1e3,
         (unsigned long long)o->latency_sample, (unsigned long long)h->count);
  printf("\"size\":%llu,\"threads\":%u,\"producers\":%u,\"app_threads_total\":%u,"
         "\"batching\":%s,\"batch_max_messages\":%llu,\"batch_max_bytes\":%llu,"
         "\"batch_max_delay_ms\":%llu,\"max_pending\":%llu,\"rate\":%.1f,\"warmup\":%.3f,"
         "\"compression\":",
         (unsigned long long)o->size, o->threads, o->producers, o->threads * o->producers,
         o->batching ? "true" : "false", (unsigned long long)o->batch_max_messages,
         (unsigned long long)o->batch_max_bytes, (unsigned long long)o->batch_max_delay_ms,
         (unsigned long long)o->max_pending, o->rate, o->warmup);
  json_str(stdout, o->compression);
  printf(",\"compression_level\":");
  json_str(stdout, o->compression_level ? o->compression_level : "0");
  printf(",\"payload\":\"%s\",\"blocking\":%s", o->text_payload ? "text" : "pattern",
         o->blocking ? "true" : "false");
  uint64_t iot = 1;
  if (o->io_threads)
    parse_u64(o->io_threads, &iot);
  printf(",\"io_threads\":%llu,\"client_cpu_seconds\":%.3f,\"cpu_scope\":", (unsigned long long)iot,
         r->client_cpu);
  json_str(stdout, r->cpu_scope);
  if (r->broker_cpu >= 0)
    printf(",\"broker_cpu_seconds\":%.3f", r->broker_cpu);
  if (r->wire_bytes >= 0)
    printf(",\"wire_bytes\":%lld,\"wire_mb_per_sec\":%.3f", (long long)r->wire_bytes,
           secs > 0 ? (double)r->wire_bytes / secs / 1e6 : 0.0);
  if (r->has_batch)
    printf(",\"entries\":%llu,\"stored_messages\":%llu,\"mean_batch\":%.3f",
           (unsigned long long)r->entries, (unsigned long long)r->stored_messages,
           r->entries ? (double)r->stored_messages / (double)r->entries : 0.0);
  else
    printf(",\"entries\":null,\"stored_messages\":null,\"mean_batch\":null");
  const pulsarc_producer_stats_t *l = &r->lib;
  printf(",\"lib\":{\"msgs_sent\":%llu,\"msgs_acked\":%llu,\"msgs_failed\":%llu,"
         "\"batches\":%llu,\"mean_batch\":%.3f,\"uncompressed_bytes\":%llu,"
         "\"compressed_bytes\":%llu,\"compression_ratio\":%.4f,\"reconnects\":%llu,"
         "\"resent_batches\":%llu,\"latency_us\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,"
         "\"p999\":%llu,\"max\":%llu}}",
         (unsigned long long)l->msgs_sent, (unsigned long long)l->msgs_acked,
         (unsigned long long)l->msgs_failed, (unsigned long long)l->batches_sent,
         l->mean_batch_msgs, (unsigned long long)l->uncompressed_bytes,
         (unsigned long long)l->compressed_bytes, lib_ratio(l), (unsigned long long)l->reconnects,
         (unsigned long long)l->resent_batches, (unsigned long long)l->latency.count,
         (unsigned long long)l->latency.p50_us, (unsigned long long)l->latency.p99_us,
         (unsigned long long)l->latency.p999_us, (unsigned long long)l->latency.max_us);
  printf(",\"embedded_broker\":%s,\"service_url\":", r->embedded ? "true" : "false");
  json_str(stdout, r->service_url ? r->service_url : "");
  printf(",\"topic\":");
  json_str(stdout, o->topic);
  printf("}\n");
  fflush(stdout);
}
