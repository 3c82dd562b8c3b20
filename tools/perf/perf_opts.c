/* pulsarc-perf: command line and the final report. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
          "  --rate R                 total messages/s over all threads (default 0 = unlimited)\n"
          "  --warmup S               first S seconds not counted in the figures (default 0)\n"
          "  --compression C          none|lz4|zlib|zstd|snappy (default none)\n"
          "  --payload P              pattern (default: after the 16 unique bytes, a fixed\n"
          "                           pattern that compresses far beyond real data) or text\n"
          "                           (words, numbers and punctuation at a moving offset of a\n"
          "                           4 MiB pool: compresses about like logs or JSON)\n"
          "  --io-threads N           client io_threads (library default 1)\n"
          "  --conf KEY=VALUE         any producer option (pulsarc_producer_conf_set), or a\n"
          "                           client option when KEY starts with \"client.\"\n"
          "                           (repeatable; applied after the flags above)\n"
          "  --tls-trust-cert FILE    PEM CA certificates to trust (pulsar+ssl:// URLs)\n"
          "  --tls-cert FILE          client certificate (PEM) for mutual TLS\n"
          "  --tls-key FILE           its private key (PEM)\n"
          "  --tls-key-password-file FILE\n"
          "                           file holding the passphrase of an encrypted --tls-key\n"
          "                           (one trailing newline ignored; never prompted for)\n"
          "  --tls-allow-insecure     accept any broker certificate (tests only)\n"
          "  --tls-no-hostname-check  accept a broker certificate that does not name the host\n"
          "                           dialled (its chain is still verified)\n"
          "  --token TOKEN            authentication token (visible in ps: prefer --token-file)\n"
          "  --token-file FILE        file holding the token, read on every connect\n"
          "  --json                   last line of stdout: one JSON object with the results\n"
          "  --quiet                  no progress lines, no human summary\n"
          "  --help                   this text\n"
          "\n"
          "Progress (stderr, each second): msg/s, MB/s (10^6 bytes), pending (accepted -\n"
          "completed), p50/p99 latency of the interval. Latency is send call -> callback\n"
          "(--blocking: the whole call).\n"
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
  char *end;
  if (!s || !*s || *s == '-')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

static int parse_secs(const char *s, double *out) {
  char *end;
  if (!s || !*s)
    return -1;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !(v >= 0) || v > 1e7)
    return -1;
  *out = v;
  return 0;
}

/* Reads a key passphrase from path into buf (one trailing newline
 * dropped); 0 or -1 after a message. The caller wipes buf. */
static int read_secret_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "pulsarc-perf: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t n = fread(buf, 1, cap, f);
  int failed = ferror(f);
  fclose(f);
  if (failed || n == cap) {
    fprintf(stderr, "pulsarc-perf: cannot read %s%s\n", path, failed ? "" : ": too long");
    return -1;
  }
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '\r')
    buf[--n] = '\0';
  if (n == 0 || memchr(buf, '\0', n) != NULL) {
    fprintf(stderr, "pulsarc-perf: %s: %s\n", path,
            n == 0 ? "the passphrase file is empty" : "holds a NUL byte");
    return -1;
  }
  return 0;
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
    O_RATE,
    O_WARM,
    O_COMP,
    O_PAYLOAD,
    O_IOT,
    O_CONF,
    O_JSON,
    O_QUIET,
    O_HELP,
    O_TLS_TRUST,
    O_TLS_CERT,
    O_TLS_KEY,
    O_TLS_INSECURE,
    O_TOKEN,
    O_TOKEN_FILE,
    O_TLS_NOHOST,
    O_TLS_KEY_PW
  };
  /* TLS / auth flags become client.* conf pairs, indexed by O_x - O_TLS_TRUST. */
  static const char *const sec_keys[] = {
      "client.tls_trust_certs_file",  "client.tls_cert_file",   "client.tls_key_file",
      "client.tls_allow_insecure",    "client.auth_token",      "client.auth_token_file",
      "client.tls_validate_hostname", "client.tls_key_password"};
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
      {"rate", required_argument, NULL, O_RATE},
      {"warmup", required_argument, NULL, O_WARM},
      {"compression", required_argument, NULL, O_COMP},
      {"payload", required_argument, NULL, O_PAYLOAD},
      {"io-threads", required_argument, NULL, O_IOT},
      {"conf", required_argument, NULL, O_CONF},
      {"tls-trust-cert", required_argument, NULL, O_TLS_TRUST},
      {"tls-cert", required_argument, NULL, O_TLS_CERT},
      {"tls-key", required_argument, NULL, O_TLS_KEY},
      {"tls-allow-insecure", no_argument, NULL, O_TLS_INSECURE},
      {"token", required_argument, NULL, O_TOKEN},
      {"token-file", required_argument, NULL, O_TOKEN_FILE},
      {"tls-no-hostname-check", no_argument, NULL, O_TLS_NOHOST},
      {"tls-key-password-file", required_argument, NULL, O_TLS_KEY_PW},
      {"json", no_argument, NULL, O_JSON},
      {"quiet", no_argument, NULL, O_QUIET},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
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
      if (parse_u64(optarg, &o->messages) || o->messages == 0)
        return bad("--messages", optarg);
      break;
    case O_DUR:
      if (parse_secs(optarg, &o->duration) || o->duration <= 0)
        return bad("--duration", optarg);
      have_dur = true;
      break;
    case O_SIZE:
      if (parse_u64(optarg, &o->size) || o->size > (1u << 30))
        return bad("--size", optarg);
      break;
    case O_PRODS:
      if (parse_u64(optarg, &v) || v == 0 || v > 1024)
        return bad("--producers", optarg);
      o->producers = (unsigned)v;
      break;
    case O_THREADS:
      if (parse_u64(optarg, &v) || v == 0 || v > 1024)
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
      if (parse_u64(optarg, &o->max_pending) || o->max_pending == 0)
        return bad("--max-pending", optarg);
      break;
    case O_RATE:
      if (parse_secs(optarg, &o->rate))
        return bad("--rate", optarg);
      break;
    case O_WARM:
      if (parse_secs(optarg, &o->warmup))
        return bad("--warmup", optarg);
      break;
    case O_COMP:
      o->compression = optarg;
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
    case O_TLS_TRUST:
    case O_TLS_CERT:
    case O_TLS_KEY:
    case O_TLS_INSECURE:
    case O_TOKEN:
    case O_TOKEN_FILE:
    case O_TLS_NOHOST:
    case O_TLS_KEY_PW: {
      const char *k = sec_keys[c - O_TLS_TRUST], *v = optarg;
      char pw[1024];
      if (c == O_TLS_INSECURE)
        v = "true";
      else if (c == O_TLS_NOHOST)
        v = "false";
      else if ((c == O_TOKEN || c == O_TOKEN_FILE) && !*optarg) /* "" would clear it */
        return bad(c == O_TOKEN ? "--token (empty)" : "--token-file (empty)", optarg);
      else if (c == O_TLS_KEY_PW && read_secret_file(optarg, pw, sizeof pw))
        return 2;
      else if (c == O_TLS_KEY_PW)
        v = pw;
      if (o->nconf == PERF_MAX_CONF)
        return bad("option (too many --conf)", k + 7);
      /* Lives as long as the process, like argv. */
      char *kv = malloc(strlen(k) + strlen(v) + 2);
      if (!kv)
        return bad("option (out of memory)", k + 7);
      sprintf(kv, "%s=%s", k, v);
      o->conf[o->nconf++] = kv;
      if (v == pw)
        explicit_bzero(pw, sizeof pw);
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
  const char *url = o->service_url ? o->service_url : "the embedded broker (pulsar://)";
  if (!o->service_url || strncmp(o->service_url, "pulsar+ssl://", 13) != 0) {
    if (has_token)
      fprintf(stderr,
              "pulsarc-perf: warning: %s is plaintext: the token is sent unencrypted "
              "(use pulsar+ssl:// to protect it)\n",
              url);
    if (has_tls_files)
      fprintf(stderr,
              "pulsarc-perf: warning: %s is plaintext: the TLS options are not used and "
              "nothing is encrypted (use pulsar+ssl://)\n",
              url);
  }
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
    fprintf(f,
            "latency ms (send -> callback): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  "
            "mean %.3f\n",
            ms(pc_hist_percentile(h, 50)), ms(pc_hist_percentile(h, 99)),
            ms(pc_hist_percentile(h, 99.9)), ms(h->max), pc_hist_mean(h) / 1e6);
    if (r->wire_bytes >= 0)
      fprintf(f,
              "wire: %.2f MB/s sent by the client (TCP bytes acked, framing and "
              "compression included)\n",
              secs > 0 ? (double)r->wire_bytes / secs / 1e6 : 0.0);
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
  printf("\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
         us(pc_hist_percentile(h, 50)), us(pc_hist_percentile(h, 99)),
         us(pc_hist_percentile(h, 99.9)), us(h->max), pc_hist_mean(h) / 1e3);
  printf("\"size\":%llu,\"threads\":%u,\"producers\":%u,\"app_threads_total\":%u,"
         "\"batching\":%s,\"batch_max_messages\":%llu,\"batch_max_bytes\":%llu,"
         "\"batch_max_delay_ms\":%llu,\"max_pending\":%llu,\"rate\":%.1f,\"warmup\":%.3f,"
         "\"compression\":",
         (unsigned long long)o->size, o->threads, o->producers, o->threads * o->producers,
         o->batching ? "true" : "false", (unsigned long long)o->batch_max_messages,
         (unsigned long long)o->batch_max_bytes, (unsigned long long)o->batch_max_delay_ms,
         (unsigned long long)o->max_pending, o->rate, o->warmup);
  json_str(stdout, o->compression);
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
  printf(",\"embedded_broker\":%s,\"service_url\":", r->embedded ? "true" : "false");
  json_str(stdout, r->service_url ? r->service_url : "");
  printf(",\"topic\":");
  json_str(stdout, o->topic);
  printf("}\n");
  fflush(stdout);
}
