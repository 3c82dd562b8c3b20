/*
 * pulsarc-interop-publish: publishes N messages with the PUBLIC pulsarc API
 * only, so the interop driver (run_interop.py) can compare what a real broker
 * stored and what the official client reads back.
 *
 * Prints one JSON line per message, in index order, after every send has
 * completed:
 *   {"index":i,"payload":"msg-i","mode":"cb","message_id":"l:e:p:b",
 *    "ledger_id":l,"entry_id":e,"partition":p,"batch_index":b,"error":null}
 * "error" is the pulsarc_err_str() sentence on failure. A summary goes to
 * stderr. Exit status 0 only if every message succeeded.
 *
 * Templates (--payload-pattern, --key-pattern, --ordering-key-pattern and
 * --property values) replace every "{i}" with the message index.
 */
#include <pulsarc/pulsarc.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum send_mode { MODE_SYNC, MODE_ASYNC, MODE_CB, MODE_MIXED };

static const char *const mode_names[] = {"sync", "async", "cb", "mixed"};

#define MAX_PROPS 32
#define MAX_CONFS 16

struct options {
  const char *service_url;
  const char *topic;
  long count;
  const char *batching; /* NULL: library default */
  const char *batch_max_messages;
  const char *batch_max_delay_ms;
  const char *compression;
  const char *key_pattern;
  const char *ordering_key_pattern;
  const char *prop_keys[MAX_PROPS];
  const char *prop_values[MAX_PROPS];
  int nprops;
  int64_t event_time;
  int64_t deliver_after_ms; /* -1: unset */
  const char *payload_pattern;
  const char *name;
  const char *send_timeout_ms;
  enum send_mode mode;
  /* Feature flags (compression, chunking, schemas, routing). */
  const char *chunking;
  const char *max_message_size;
  const char *schema_type;
  const char *schema_definition;
  const char *schema_name;
  const char *routing_mode;
  const char *hashing;
  long payload_size;        /* 0: the pattern as is; else padded with filler to this size */
  const char *payload_file; /* one base64 payload per line (no NUL bytes) */
  /* Any producer option (encryption and later ones) as key=value. */
  const char *conf_keys[MAX_CONFS];
  const char *conf_values[MAX_CONFS];
  int nconfs;
  long rotate_every; /* pulsarc_producer_rotate_encryption_key before every Nth message */
  /* --public-key NAME=FILE: a PEM per key name (RSA and EC keys on one
   * producer), through a key reader instead of encryption_public_key_file. */
  const char *pub_names[MAX_CONFS];
  const char *pub_files[MAX_CONFS];
  int npubs;
  /* --client-conf key=value: a client option (auth_token for a broker with
   * token authentication on). */
  const char *client_conf[MAX_CONFS];
  int nclient_confs;
};

/* Outcome of one message; written by callbacks on an I/O thread, read by
 * main once `done` says every callback has run. */
struct result {
  enum send_mode mode;
  int completed;
  pulsarc_err_t err;
  pulsarc_msg_id_t id;
  pulsarc_future_t *future;
};

struct tracker {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long outstanding_cb;
  struct result *results;
};

struct cb_ctx {
  struct tracker *t;
  long index;
};

static void usage(FILE *f) {
  fputs("usage: pulsarc-interop-publish --service-url URL --topic T [-n N]\n"
        "  [--batching on|off] [--batch-max-messages N] [--batch-max-delay-ms MS]\n"
        "  [--compression none|lz4|zlib|zstd|snappy]\n"
        "  [--key-pattern 'k-{i}'] [--ordering-key-pattern 'ok-{i}']\n"
        "  [--property k=v]... [--event-time MS] [--deliver-after-ms MS]\n"
        "  [--payload-pattern 'msg-{i}'] [--name NAME] [--send-timeout-ms MS]\n"
        "  [--mode sync|async|cb|mixed]\n"
        "  [--chunking on|off] [--max-message-size B] [--payload-size B]\n"
        "  [--schema-type T] [--schema-definition TEXT] [--schema-name NAME]\n"
        "  [--routing round_robin|single_partition] [--hashing java_string|murmur3_32]\n"
        "  [--payload-file F (line i = base64 payload of message i)]\n"
        "  [--conf key=value]... [--rotate-every N (new data key before message N, 2N, ...)]\n"
        "  [--public-key NAME=PEM_FILE]... (per key name, with --conf encryption_keys=...)\n"
        "  [--client-conf key=value]... (a client option, e.g. auth_token=JWT)\n",
        f);
}

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end)
    return -1;
  *out = v;
  return 0;
}

/* Expands "{i}" in pattern; returns a malloc'd string. */
static char *expand(const char *pattern, long i) {
  char num[32];
  int nlen = snprintf(num, sizeof num, "%ld", i);
  size_t cap = strlen(pattern) + 1;
  for (const char *p = pattern; (p = strstr(p, "{i}")) != NULL; p += 3)
    cap += (size_t)nlen;
  char *out = malloc(cap);
  if (!out) {
    perror("malloc");
    exit(2);
  }
  char *o = out;
  for (const char *p = pattern; *p;) {
    if (strncmp(p, "{i}", 3) == 0) {
      memcpy(o, num, (size_t)nlen);
      o += nlen;
      p += 3;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

/* Pads (or cuts) p to size bytes with letters from a generator seeded by
 * the index: printable (JSON-safe) and poor to compress, so that a large
 * payload still needs chunks under any codec. Frees p. */
static char *pad_payload(char *p, size_t size, long i) {
  char *out = malloc(size + 1);
  if (!out) {
    perror("malloc");
    exit(2);
  }
  size_t have = strlen(p);
  if (have > size)
    have = size;
  memcpy(out, p, have);
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
  for (size_t k = have; k < size; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[k] = alnum[x % 62];
  }
  out[size] = '\0';
  free(p);
  return out;
}

/* Line i of path, base64-decoded (binary payloads such as Avro records; a
 * NUL byte is refused since payloads are handled as C strings here). */
static char *file_payload(const char *path, long i) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(2);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = -1;
  for (long k = 0; k <= i; k++)
    if ((n = getline(&line, &cap, f)) < 0) {
      fprintf(stderr, "%s: no line %ld\n", path, i);
      exit(2);
    }
  fclose(f);
  char *out = malloc((size_t)n + 1);
  if (!out) {
    perror("malloc");
    exit(2);
  }
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (ssize_t k = 0; k < n; k++) {
    char c = line[k];
    const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *pos = c ? strchr(b64, c) : NULL;
    if (!pos)
      continue; /* '=', newline */
    acc = (acc << 6) | (uint32_t)(pos - b64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
      if (out[o - 1] == '\0') {
        fprintf(stderr, "%s line %ld: NUL byte in payload\n", path, i);
        exit(2);
      }
    }
  }
  out[o] = '\0';
  free(line);
  return out;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

static int parse_args(int argc, char **argv, struct options *o) {
  memset(o, 0, sizeof *o);
  o->count = 10;
  o->deliver_after_ms = -1;
  o->payload_pattern = "msg-{i}";
  o->mode = MODE_CB;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "missing value for %s\n", a);
      return -1;
    }
    const char *v = argv[++i];
    long n;
    if (!strcmp(a, "--service-url")) {
      o->service_url = v;
    } else if (!strcmp(a, "--topic")) {
      o->topic = v;
    } else if (!strcmp(a, "-n")) {
      if (parse_long(v, &o->count) || o->count < 0)
        goto bad;
    } else if (!strcmp(a, "--batching")) {
      if (strcmp(v, "on") && strcmp(v, "off"))
        goto bad;
      o->batching = strcmp(v, "on") ? "false" : "true";
    } else if (!strcmp(a, "--batch-max-messages")) {
      o->batch_max_messages = v;
    } else if (!strcmp(a, "--batch-max-delay-ms")) {
      o->batch_max_delay_ms = v;
    } else if (!strcmp(a, "--compression")) {
      o->compression = v;
    } else if (!strcmp(a, "--key-pattern")) {
      o->key_pattern = v;
    } else if (!strcmp(a, "--ordering-key-pattern")) {
      o->ordering_key_pattern = v;
    } else if (!strcmp(a, "--property")) {
      const char *eq = strchr(v, '=');
      if (!eq || o->nprops == MAX_PROPS)
        goto bad;
      char *k = strndup(v, (size_t)(eq - v));
      if (!k)
        return -1;
      o->prop_keys[o->nprops] = k;
      o->prop_values[o->nprops++] = eq + 1;
    } else if (!strcmp(a, "--event-time")) {
      if (parse_long(v, &n) || n < 0)
        goto bad;
      o->event_time = (int64_t)n;
    } else if (!strcmp(a, "--deliver-after-ms")) {
      if (parse_long(v, &n) || n < 0)
        goto bad;
      o->deliver_after_ms = n;
    } else if (!strcmp(a, "--payload-pattern")) {
      o->payload_pattern = v;
    } else if (!strcmp(a, "--name")) {
      o->name = v;
    } else if (!strcmp(a, "--send-timeout-ms")) {
      if (parse_long(v, &n) || n < 0)
        goto bad;
      o->send_timeout_ms = v;
    } else if (!strcmp(a, "--mode")) {
      int m;
      for (m = 0; m < 4 && strcmp(v, mode_names[m]); m++) {
      }
      if (m == 4)
        goto bad;
      o->mode = (enum send_mode)m;
    } else if (!strcmp(a, "--chunking")) {
      if (strcmp(v, "on") && strcmp(v, "off"))
        goto bad;
      o->chunking = strcmp(v, "on") ? "false" : "true";
    } else if (!strcmp(a, "--max-message-size")) {
      o->max_message_size = v;
    } else if (!strcmp(a, "--payload-size")) {
      if (parse_long(v, &o->payload_size) || o->payload_size < 0)
        goto bad;
    } else if (!strcmp(a, "--schema-type")) {
      o->schema_type = v;
    } else if (!strcmp(a, "--schema-definition")) {
      o->schema_definition = v;
    } else if (!strcmp(a, "--schema-name")) {
      o->schema_name = v;
    } else if (!strcmp(a, "--routing")) {
      o->routing_mode = v;
    } else if (!strcmp(a, "--hashing")) {
      o->hashing = v;
    } else if (!strcmp(a, "--payload-file")) {
      o->payload_file = v;
    } else if (!strcmp(a, "--conf")) {
      const char *eq = strchr(v, '=');
      if (!eq || eq == v || o->nconfs == MAX_CONFS)
        goto bad;
      o->conf_keys[o->nconfs] = strndup(v, (size_t)(eq - v));
      o->conf_values[o->nconfs++] = eq + 1;
    } else if (!strcmp(a, "--client-conf")) {
      if (!strchr(v, '=') || *v == '=' || o->nclient_confs == MAX_CONFS)
        goto bad;
      o->client_conf[o->nclient_confs++] = v;
    } else if (!strcmp(a, "--public-key")) {
      const char *eq = strchr(v, '=');
      if (!eq || eq == v || o->npubs == MAX_CONFS)
        goto bad;
      o->pub_names[o->npubs] = strndup(v, (size_t)(eq - v));
      o->pub_files[o->npubs++] = eq + 1;
    } else if (!strcmp(a, "--rotate-every")) {
      if (parse_long(v, &o->rotate_every) || o->rotate_every <= 0)
        goto bad;
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return -1;
    }
    continue;
  bad:
    fprintf(stderr, "bad value for %s: '%s'\n", a, v);
    return -1;
  }
  if (!o->service_url || !o->topic) {
    fprintf(stderr, "--service-url and --topic are required\n");
    return -1;
  }
  return 0;
}

static void on_sent(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx) {
  struct cb_ctx *c = ctx;
  struct tracker *t = c->t;
  pthread_mutex_lock(&t->mu);
  struct result *r = &t->results[c->index];
  r->err = err;
  if (id)
    r->id = *id;
  r->completed = 1;
  if (--t->outstanding_cb == 0)
    pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

static int set_conf(pulsarc_producer_conf_t *pc, const char *key, const char *value) {
  char errbuf[256] = "";
  if (!value)
    return 0;
  pulsarc_err_t e = pulsarc_producer_conf_set(pc, key, value, errbuf, sizeof errbuf);
  if (e != PULSARC_OK) {
    fprintf(stderr, "producer conf %s=%s: %s (%s)\n", key, value, pulsarc_err_str(e), errbuf);
    return -1;
  }
  return 0;
}

/* The key reader behind --public-key: the file given for this name. */
static pulsarc_err_t read_named_key(const char *name, pulsarc_key_info_t *info, void *ctx) {
  const struct options *o = ctx;
  for (int k = 0; k < o->npubs; k++)
    if (!strcmp(o->pub_names[k], name))
      return pulsarc_file_key_reader(name, info, (void *)o->pub_files[k]);
  return PULSARC_ERR_CRYPTO;
}

/* Fills opts for message i. */
static int build_opts(const struct options *o, long i, pulsarc_msg_opts_t *opts) {
  pulsarc_err_t e = PULSARC_OK;
  pulsarc_msg_opts_clear(opts);
  if (o->key_pattern) {
    char *k = expand(o->key_pattern, i);
    e = pulsarc_msg_opts_set_partition_key(opts, k);
    free(k);
  }
  if (!e && o->ordering_key_pattern) {
    char *k = expand(o->ordering_key_pattern, i);
    e = pulsarc_msg_opts_set_ordering_key(opts, k, strlen(k));
    free(k);
  }
  for (int p = 0; !e && p < o->nprops; p++) {
    char *v = expand(o->prop_values[p], i);
    e = pulsarc_msg_opts_add_property(opts, o->prop_keys[p], v);
    free(v);
  }
  if (!e && o->event_time)
    e = pulsarc_msg_opts_set_event_time(opts, o->event_time);
  if (!e && o->deliver_after_ms >= 0)
    e = pulsarc_msg_opts_set_deliver_after(opts, o->deliver_after_ms);
  /* pulsarc_producer_send would otherwise use its own 5 s default. */
  if (!e && o->send_timeout_ms)
    e = pulsarc_msg_opts_set_timeout(opts, atol(o->send_timeout_ms));
  if (e)
    fprintf(stderr, "message %ld options: %s\n", i, pulsarc_err_str(e));
  return e ? -1 : 0;
}

int main(int argc, char **argv) {
  struct options o;
  if (parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }

  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  if (!cc)
    return 2;
  for (int c = 0; c < o.nclient_confs; c++) {
    const char *kv = o.client_conf[c], *eq = strchr(kv, '=');
    char key[128], errbuf[256] = "";
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    pulsarc_err_t ce = pulsarc_client_conf_set(cc, key, eq + 1, errbuf, sizeof errbuf);
    if (ce != PULSARC_OK) {
      fprintf(stderr, "client conf %s: %s (%s)\n", key, pulsarc_err_str(ce), errbuf);
      pulsarc_client_conf_destroy(cc);
      return 2;
    }
  }
  pulsarc_client_t *client = NULL;
  pulsarc_err_t e = pulsarc_client_new(o.service_url, cc, &client);
  pulsarc_client_conf_destroy(cc);
  if (e) {
    fprintf(stderr, "client_new: %s\n", pulsarc_err_str(e));
    return 1;
  }
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  if (!pc || set_conf(pc, "name", o.name) || set_conf(pc, "batching", o.batching) ||
      set_conf(pc, "batch_max_messages", o.batch_max_messages) ||
      set_conf(pc, "batch_max_delay_ms", o.batch_max_delay_ms) ||
      set_conf(pc, "compression", o.compression) ||
      set_conf(pc, "send_timeout_ms", o.send_timeout_ms) || set_conf(pc, "chunking", o.chunking) ||
      set_conf(pc, "max_message_size", o.max_message_size) ||
      set_conf(pc, "schema_type", o.schema_type) ||
      set_conf(pc, "schema_definition", o.schema_definition) ||
      set_conf(pc, "schema_name", o.schema_name) || set_conf(pc, "routing_mode", o.routing_mode) ||
      set_conf(pc, "hashing", o.hashing)) {
    pulsarc_client_destroy(client);
    return 2;
  }
  for (int c = 0; c < o.nconfs; c++)
    if (set_conf(pc, o.conf_keys[c], o.conf_values[c])) {
      pulsarc_client_destroy(client);
      return 2;
    }
  if (o.npubs > 0 && pulsarc_producer_conf_set_key_reader(pc, read_named_key, &o) != PULSARC_OK) {
    pulsarc_client_destroy(client);
    return 2;
  }
  pulsarc_producer_t *producer = NULL;
  e = pulsarc_producer_create(client, o.topic, pc, &producer);
  pulsarc_producer_conf_destroy(pc);
  if (e) {
    fprintf(stderr, "producer_create %s: %s\n", o.topic, pulsarc_err_str(e));
    pulsarc_client_destroy(client);
    return 1;
  }

  struct tracker t;
  pthread_mutex_init(&t.mu, NULL);
  pthread_cond_init(&t.cv, NULL);
  t.outstanding_cb = 0;
  t.results = calloc((size_t)o.count + 1, sizeof *t.results);
  struct cb_ctx *ctxs = calloc((size_t)o.count + 1, sizeof *ctxs);
  char **payloads = calloc((size_t)o.count + 1, sizeof *payloads);
  pulsarc_msg_opts_t *opts = pulsarc_msg_opts_new();
  if (!t.results || !ctxs || !payloads || !opts) {
    perror("alloc");
    return 2;
  }

  int failed = 0;
  for (long i = 0; i < o.count; i++) {
    struct result *r = &t.results[i];
    r->mode = o.mode == MODE_MIXED ? (enum send_mode)(i % 3) : o.mode;
    payloads[i] = o.payload_file ? file_payload(o.payload_file, i) : expand(o.payload_pattern, i);
    if (o.payload_size > 0)
      payloads[i] = pad_payload(payloads[i], (size_t)o.payload_size, i);
    size_t len = strlen(payloads[i]);
    if (build_opts(&o, i, opts))
      return 2;
    if (o.rotate_every > 0 && i > 0 && i % o.rotate_every == 0 &&
        (e = pulsarc_producer_rotate_encryption_key(producer)) != PULSARC_OK) {
      fprintf(stderr, "rotate_encryption_key: %s\n", pulsarc_err_str(e));
      return 1;
    }
    switch (r->mode) {
    case MODE_SYNC:
      e = pulsarc_producer_send(producer, payloads[i], len, opts, &r->id);
      r->err = e;
      r->completed = 1;
      break;
    case MODE_ASYNC:
      e = pulsarc_producer_send_async(producer, payloads[i], len, opts, &r->future);
      if (e) {
        r->err = e;
        r->completed = 1;
      }
      break;
    default:
      ctxs[i].t = &t;
      ctxs[i].index = i;
      pthread_mutex_lock(&t.mu);
      t.outstanding_cb++;
      pthread_mutex_unlock(&t.mu);
      e = pulsarc_producer_send_cb(producer, payloads[i], len, opts, on_sent, &ctxs[i]);
      if (e) {
        /* Not accepted: the callback will not run. */
        pthread_mutex_lock(&t.mu);
        t.outstanding_cb--;
        r->err = e;
        r->completed = 1;
        pthread_mutex_unlock(&t.mu);
      }
      break;
    }
  }
  pulsarc_msg_opts_destroy(opts);

  e = pulsarc_producer_flush(producer, 120000);
  if (e) {
    fprintf(stderr, "flush: %s\n", pulsarc_err_str(e));
    failed = 1;
  }
  for (long i = 0; i < o.count; i++) {
    struct result *r = &t.results[i];
    if (r->mode == MODE_ASYNC && r->future) {
      r->err = pulsarc_future_wait(r->future, 120000, &r->id);
      r->completed = r->err != PULSARC_ERR_WAIT_TIMEOUT;
      pulsarc_future_destroy(r->future);
      r->future = NULL;
    }
  }
  pthread_mutex_lock(&t.mu);
  while (t.outstanding_cb > 0)
    pthread_cond_wait(&t.cv, &t.mu);
  pthread_mutex_unlock(&t.mu);

  long ok = 0;
  for (long i = 0; i < o.count; i++) {
    struct result *r = &t.results[i];
    int good = r->completed && r->err == PULSARC_OK;
    ok += good;
    printf("{\"index\":%ld,\"payload\":", i);
    json_string(stdout, payloads[i]);
    printf(",\"mode\":\"%s\"", mode_names[r->mode]);
    if (good) {
      char idbuf[96];
      pulsarc_msg_id_format(&r->id, idbuf, sizeof idbuf);
      printf(",\"message_id\":\"%s\",\"ledger_id\":%" PRId64 ",\"entry_id\":%" PRId64
             ",\"partition\":%" PRId32 ",\"batch_index\":%" PRId32
             ",\"first_chunk_ledger_id\":%" PRId64 ",\"first_chunk_entry_id\":%" PRId64
             ",\"error\":null}\n",
             idbuf, r->id.ledger_id, r->id.entry_id, r->id.partition, r->id.batch_index,
             r->id.first_chunk_ledger_id, r->id.first_chunk_entry_id);
    } else {
      printf(",\"message_id\":null,\"error\":");
      json_string(stdout, r->completed ? pulsarc_err_str(r->err) : "not completed");
      printf("}\n");
    }
    free(payloads[i]);
  }
  fflush(stdout);

  const char *pname = pulsarc_producer_name(producer);
  fprintf(stderr, "interop-publish: %s producer=%s: %ld/%ld sent (mode %s)%s\n",
          pulsarc_producer_topic(producer), pname ? pname : "?", ok, o.count, mode_names[o.mode],
          ok == o.count && !failed ? " OK" : " FAILED");
  e = pulsarc_producer_close(producer);
  if (e) {
    fprintf(stderr, "producer_close: %s\n", pulsarc_err_str(e));
    failed = 1;
  }
  pulsarc_producer_destroy(producer);
  e = pulsarc_client_close(client);
  if (e) {
    fprintf(stderr, "client_close: %s\n", pulsarc_err_str(e));
    failed = 1;
  }
  pulsarc_client_destroy(client);

  for (int p = 0; p < o.nprops; p++)
    free((void *)o.prop_keys[p]);
  free(payloads);
  free(ctxs);
  free(t.results);
  pthread_cond_destroy(&t.cv);
  pthread_mutex_destroy(&t.mu);
  return ok == o.count && !failed ? 0 : 1;
}
