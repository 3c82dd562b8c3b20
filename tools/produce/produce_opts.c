/* pulsarc-produce: the command line. Everything is parsed and every file
 * read (or, with --lines, opened) before the library is touched, so usage
 * errors never cost a connection attempt. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "produce.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: pulsarc-produce --topic TOPIC (-m TEXT | -f FILE)... [options]\n"
      "       pulsarc-produce --topic TOPIC --lines [-f FILE]... [options] (stdin by default)\n"
      "Publishes messages to a Pulsar topic and prints one message id per line\n"
      "(ledger:entry:partition:batch_index), in the order the messages were given.\n"
      "\n"
      "  --service-url URL         broker service URL (default pulsar://127.0.0.1:6650)\n"
      "  -t, --topic TOPIC         topic to publish to (required)\n"
      "  -m, --message TEXT        a message (repeatable)\n"
      "  -f, --file PATH           a message made of the whole file, '-' = stdin (repeatable)\n"
      "      --lines               one message per line of every -m and -f instead (stdin\n"
      "                            when neither is given), sent as read; a trailing CR is\n"
      "                            dropped, empty lines are skipped\n"
      "      --key-separator SEP   with --lines: a line KEY<SEP>VALUE is sent as VALUE with\n"
      "                            partition key KEY (first SEP splits; e.g. $'\\t'); a line\n"
      "                            without SEP, or with an empty KEY, gets --key's key\n"
      "  -n, --num-produce N       send the given messages N times (default 1; with --lines\n"
      "                            files are read again, stdin cannot be)\n"
      "      --rate R              at most R messages per second (decimal; default 0 = as\n"
      "                            fast as possible)\n"
      "  -k, --key, --partition-key KEY\n"
      "                            partition key of every message (without a key of its own)\n"
      "      --ordering-key KEY    ordering key of every message\n"
      "  -p, --property K=V        message property (repeatable)\n"
      "      --event-time MS       event time, ms since the epoch\n"
      "      --deliver-after MS    delayed delivery: MS after sending\n"
      "      --deliver-at MS       delayed delivery: at MS since the epoch\n"
      "      --no-batching         send every message in its own entry\n"
      "      --batch-max-messages N\n"
      "      --batch-max-delay-ms N\n"
      "      --key-based-batching  one batch per partition key (for Key_Shared consumers)\n"
      "      --name NAME           producer name (default: assigned by the broker)\n"
      "      --access-mode MODE    shared (default), exclusive, wait_for_exclusive or\n"
      "                            exclusive_with_fencing ('-' or '_', any case, or the Java\n"
      "                            names: WaitForExclusive...)\n"
      "      --compression C       none|lz4|zlib|zstd|snappy (default none)\n"
      "      --chunking            split messages larger than the max message size\n"
      "                            into chunks (needs --no-batching)\n"
      "      --max-message-size N  bytes (1024..1073741824); the smaller of this and the\n"
      "                            broker's limit applies (default 5242880)\n"
      "      --schema-type TYPE    bytes (default), string, json, avro, protobuf, ... (the\n"
      "                            schema_type option); json, avro and protobuf need\n"
      "                            --schema-file\n"
      "      --schema-file FILE    the schema definition (e.g. an Avro or JSON schema)\n"
      "      --schema-name NAME    the schema's name\n"
      "      --routing MODE        partitioned topics, messages without a key: round_robin\n"
      "                            (default; switches partition once per batch) or\n"
      "                            single_partition\n"
      "      --hashing H           partition of a keyed message: java-string (default; Java's\n"
      "                            String.hashCode, as the Java and Go clients) or murmur3\n"
      "                            (Murmur3-32); hash(key) mod partitions\n"
      "      --conf KEY=VALUE      any producer option (docs/options.md), or a client option\n"
      "                            when KEY starts with \"client.\" (repeatable; applied\n"
      "                            after the flags, so it overrides them)\n"
      "      --json                print one JSON object per message instead of its id:\n"
      "                            {\"index\":0,\"topic\":...,\"partition\":-1,\"ledger\":...,\n"
      "                            \"entry\":...,\"batch_index\":...,\"batch_size\":...} (index:\n"
      "                            0-based, input order over all rounds; \"key\" when it has\n"
      "                            one), or {\"index\":...,\"error\":NAME,\"message\":...}\n");
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

/* Reads a whole file (or stdin for "-") into memory. */
static int read_file(const char *path, produce_src *p) {
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

/* Lower case without '-' and '_': "Wait-For_Exclusive" == "waitforexclusive". */
static void canon(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 1 < cap; s++)
    if (*s != '-' && *s != '_')
      out[n++] = (char)tolower((unsigned char)*s);
  out[n] = '\0';
}

typedef struct alias {
  const char *canon; /* as canon() writes it */
  const char *value; /* the library's name */
} alias;

static const alias access_modes[] = {{"shared", "shared"},
                                     {"exclusive", "exclusive"},
                                     {"waitforexclusive", "wait_for_exclusive"},
                                     {"exclusivewithfencing", "exclusive_with_fencing"},
                                     {NULL, NULL}};
static const alias routings[] = {{"roundrobin", "round_robin"},
                                 {"roundrobinpartition", "round_robin"},
                                 {"singlepartition", "single_partition"},
                                 {NULL, NULL}};
static const alias hashings[] = {{"javastring", "java_string"},   {"javastringhash", "java_string"},
                                 {"murmur3", "murmur3_32"},       {"murmur332", "murmur3_32"},
                                 {"murmur332hash", "murmur3_32"}, {NULL, NULL}};

static const char *lookup(const alias *t, const char *s) {
  char c[64];
  if (strlen(s) >= sizeof c)
    return NULL;
  canon(s, c, sizeof c);
  for (; t->canon; t++)
    if (!strcmp(t->canon, c))
      return t->value;
  return NULL;
}

static void pconf(produce_opts *o, const char *flag, const char *k, const char *v) {
  o->pflags[o->npconf] = flag;
  o->pkeys[o->npconf] = k;
  o->pvals[o->npconf++] = v;
}

static void cconf(produce_opts *o, const char *k, const char *v) {
  o->ckeys[o->ncconf] = k;
  o->cvals[o->ncconf++] = v;
}

static char *own(produce_opts *o, char *p) {
  if (p)
    o->owned[o->nowned++] = p;
  return p;
}

int produce_parse_args(int argc, char **argv, produce_opts *o) {
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
    O_LINES,
    O_KSEP,
    O_RATE,
    O_KBB,
    O_ACCESS,
    O_MAXSIZE,
    O_STYPE,
    O_SFILE,
    O_SNAME,
    O_ROUTING,
    O_HASHING,
    O_CONF,
    O_JSON,
    O_SEC /* the security flags: O_SEC + enum pc_cli_sec_flag */
  };
  static const struct option lo[] = {
      {"service-url", required_argument, NULL, O_URL},
      {"topic", required_argument, NULL, 't'},
      {"message", required_argument, NULL, 'm'},
      {"file", required_argument, NULL, 'f'},
      {"lines", no_argument, NULL, O_LINES},
      {"key-separator", required_argument, NULL, O_KSEP},
      {"num-produce", required_argument, NULL, 'n'},
      {"rate", required_argument, NULL, O_RATE},
      {"key", required_argument, NULL, 'k'},
      {"partition-key", required_argument, NULL, 'k'},
      {"ordering-key", required_argument, NULL, O_OKEY},
      {"property", required_argument, NULL, 'p'},
      {"event-time", required_argument, NULL, O_EVT},
      {"deliver-after", required_argument, NULL, O_AFTER},
      {"deliver-at", required_argument, NULL, O_AT},
      {"no-batching", no_argument, NULL, O_NOBATCH},
      {"batch-max-messages", required_argument, NULL, O_BMM},
      {"batch-max-delay-ms", required_argument, NULL, O_BMD},
      {"key-based-batching", no_argument, NULL, O_KBB},
      {"name", required_argument, NULL, O_NAME},
      {"access-mode", required_argument, NULL, O_ACCESS},
      {"compression", required_argument, NULL, O_COMP},
      {"chunking", no_argument, NULL, O_CHUNK},
      {"max-message-size", required_argument, NULL, O_MAXSIZE},
      {"schema-type", required_argument, NULL, O_STYPE},
      {"schema-file", required_argument, NULL, O_SFILE},
      {"schema-name", required_argument, NULL, O_SNAME},
      {"routing", required_argument, NULL, O_ROUTING},
      {"hashing", required_argument, NULL, O_HASHING},
      {"conf", required_argument, NULL, O_CONF},
      {"json", no_argument, NULL, O_JSON},
      PC_CLI_SEC_OPTIONS(O_SEC),
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->url = "pulsar://127.0.0.1:6650";
  o->repeat = 1;
  size_t n = (size_t)argc + 1;
  o->props = calloc(n, sizeof *o->props);
  o->srcs = calloc(n, sizeof *o->srcs);
  o->pflags = calloc(n, sizeof *o->pflags);
  o->pkeys = calloc(n, sizeof *o->pkeys);
  o->pvals = calloc(n, sizeof *o->pvals);
  o->ckeys = calloc(n, sizeof *o->ckeys);
  o->cvals = calloc(n, sizeof *o->cvals);
  o->owned = calloc(n + 2, sizeof *o->owned);
  if (!o->props || !o->srcs || !o->pflags || !o->pkeys || !o->pvals || !o->ckeys || !o->cvals ||
      !o->owned) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    return 1;
  }
  const char *key_pw_file = NULL, *schema_file = NULL;
  const char *sec[PC_CLI_NSEC] = {NULL};
  const char **conf_args = calloc(n, sizeof *conf_args);
  size_t nconf = 0;
  const char *v;
  int c;
  if (!conf_args) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    return 1;
  }
  own(o, (char *)conf_args);
#define USAGE(...) return usage_err(__VA_ARGS__)
  while ((c = getopt_long(argc, argv, "t:m:f:n:k:p:h", lo, NULL)) != -1) {
    if (c == O_SEC + PC_CLI_TLS_KEY_PW) {
      key_pw_file = optarg;
      continue;
    }
    if (c >= O_SEC && c < O_SEC + PC_CLI_NSEC) {
      sec[c - O_SEC] = pc_cli_sec_value(c - O_SEC, optarg);
      continue;
    }
    produce_src *s = &o->srcs[o->nsrcs];
    switch (c) {
    case O_URL:
      o->url = optarg;
      break;
    case 't':
      o->topic = optarg;
      break;
    case 'm':
      s->data = strdup(optarg);
      s->len = strlen(optarg);
      s->fd = -1;
      s->origin = s->label;
      snprintf(s->label, sizeof s->label, "-m #%zu", o->nsrcs + 1);
      if (!s->data) {
        fprintf(stderr, "pulsarc-produce: out of memory\n");
        return 1;
      }
      o->nsrcs++;
      break;
    case 'f':
      s->path = s->origin = optarg;
      o->nsrcs++;
      break;
    case O_LINES:
      o->lines = true;
      break;
    case O_KSEP:
      if (!*optarg)
        USAGE("%s", "--key-separator is empty");
      o->key_sep = optarg;
      break;
    case 'n':
      if (pc_cli_parse_u64(optarg, 1, 100000000, &o->repeat))
        USAGE("invalid --num-produce '%s'", optarg);
      break;
    case O_RATE:
      if (pc_cli_parse_secs(optarg, &o->rate))
        USAGE("invalid --rate '%s' (want messages per second, 0 to 1e7)", optarg);
      break;
    case 'k':
      o->key = optarg;
      break;
    case O_OKEY:
      o->okey = optarg;
      break;
    case 'p':
      if (!strchr(optarg, '=') || optarg[0] == '=')
        USAGE("invalid --property '%s' (want KEY=VALUE)", optarg);
      o->props[o->nprops++] = optarg;
      break;
    case O_EVT:
      if (pc_cli_parse_u64(optarg, 1, UINT64_MAX, &o->evt))
        USAGE("invalid --event-time '%s'", optarg);
      break;
    case O_AFTER:
      if (pc_cli_parse_i64(optarg, 0, INT64_MAX, &o->after))
        USAGE("invalid --deliver-after '%s'", optarg);
      o->has_after = true;
      break;
    case O_AT:
      if (pc_cli_parse_i64(optarg, 0, INT64_MAX, &o->at))
        USAGE("invalid --deliver-at '%s'", optarg);
      o->has_at = true;
      break;
    case O_NOBATCH:
      pconf(o, "--no-batching", "batching", "false");
      break;
    case O_BMM:
      pconf(o, "--batch-max-messages", "batch_max_messages", optarg);
      break;
    case O_BMD:
      pconf(o, "--batch-max-delay-ms", "batch_max_delay_ms", optarg);
      break;
    case O_KBB:
      pconf(o, "--key-based-batching", "key_based_batching", "true");
      break;
    case O_NAME:
      pconf(o, "--name", "name", optarg);
      break;
    case O_ACCESS:
      if (!(v = lookup(access_modes, optarg)))
        USAGE("invalid --access-mode '%s' (want shared, exclusive, wait_for_exclusive or "
              "exclusive_with_fencing)",
              optarg);
      pconf(o, "--access-mode", "access_mode", v);
      break;
    case O_COMP:
      pconf(o, "--compression", "compression", optarg);
      break;
    case O_CHUNK:
      pconf(o, "--chunking", "chunking", "true");
      break;
    case O_MAXSIZE:
      pconf(o, "--max-message-size", "max_message_size", optarg);
      break;
    case O_STYPE:
      pconf(o, "--schema-type", "schema_type", optarg);
      break;
    case O_SFILE:
      schema_file = optarg;
      break;
    case O_SNAME:
      pconf(o, "--schema-name", "schema_name", optarg);
      break;
    case O_ROUTING: {
      char cn[32] = "";
      if (strlen(optarg) < sizeof cn)
        canon(optarg, cn, sizeof cn);
      if (!strcmp(cn, "custom") || !strcmp(cn, "custompartition"))
        USAGE("--routing '%s' needs a router function (pulsarc_producer_conf_set_router): "
              "not available from the command line",
              optarg);
      if (!(v = lookup(routings, optarg)))
        USAGE("invalid --routing '%s' (want round_robin or single_partition)", optarg);
      pconf(o, "--routing", "routing_mode", v);
      break;
    }
    case O_HASHING:
      if (!(v = lookup(hashings, optarg)))
        USAGE("invalid --hashing '%s' (want java-string or murmur3)", optarg);
      pconf(o, "--hashing", "hashing", v);
      break;
    case O_CONF:
      if (!strchr(optarg, '=') || optarg[0] == '=')
        USAGE("invalid --conf '%s' (want KEY=VALUE)", optarg);
      conf_args[nconf++] = optarg;
      break;
    case O_JSON:
      o->json = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      fprintf(stderr, "pulsarc-produce: see --help\n");
      return 2;
    }
  }
#undef USAGE
  if (optind < argc)
    return usage_err("unexpected argument '%s'", argv[optind]);
  if (!o->topic)
    return usage_err("%s", "--topic is required");
  if (o->nsrcs == 0 && !o->lines)
    return usage_err("%s", "give at least one -m TEXT or -f FILE (or --lines to read stdin)");
  if (o->key_sep && !o->lines)
    return usage_err("%s", "--key-separator needs --lines");
  if (o->has_after && o->has_at)
    return usage_err("%s", "--deliver-after and --deliver-at cannot go together");
  /* "" would clear the option and connect without credentials. */
  if (pc_cli_sec_empty_token(PC_CLI_TOKEN, sec[PC_CLI_TOKEN]))
    return usage_err("%s", "--token is empty");
  if (pc_cli_sec_empty_token(PC_CLI_TOKEN_FILE, sec[PC_CLI_TOKEN_FILE]))
    return usage_err("%s", "--token-file is empty");
  if (schema_file) {
    produce_src sf = {0};
    if (read_file(schema_file, &sf))
      return 1;
    o->schema = own(o, sf.data);
    if (memchr(sf.data, '\0', sf.len))
      return usage_err("--schema-file %s holds a NUL byte (want the schema's text)", schema_file);
    char *z = realloc(sf.data, sf.len + 1);
    if (!z) {
      fprintf(stderr, "pulsarc-produce: out of memory\n");
      return 1;
    }
    o->owned[o->nowned - 1] = o->schema = z;
    z[sf.len] = '\0';
    pconf(o, "--schema-file", "schema_definition", o->schema);
  }
  for (size_t i = 0; i < PC_CLI_NSEC; i++)
    if (sec[i])
      cconf(o, pc_cli_sec_keys[i], sec[i]);
  /* --conf last, so it overrides the flags; keys are cut at '=' in copies. */
  for (size_t i = 0; i < nconf; i++) {
    char *k = own(o, strdup(conf_args[i]));
    if (!k) {
      fprintf(stderr, "pulsarc-produce: out of memory\n");
      return 1;
    }
    char *eq = strchr(k, '=');
    *eq = '\0';
    if (!strncmp(k, "client.", 7))
      cconf(o, k + 7, eq + 1);
    else
      pconf(o, "--conf", k, eq + 1);
  }
  for (size_t i = 0; i < o->ncconf; i++) {
    if (!strcmp(o->ckeys[i], "auth_token") || !strcmp(o->ckeys[i], "auth_token_file"))
      o->has_token = o->cvals[i][0] != '\0';
    if (!strcmp(o->ckeys[i], "tls_trust_certs_file") || !strcmp(o->ckeys[i], "tls_cert_file"))
      o->has_tls_files = o->cvals[i][0] != '\0';
  }
  bool has_def = false;
  for (size_t i = 0; i < o->npconf; i++)
    has_def = has_def || !strcmp(o->pkeys[i], "schema_definition");
  for (size_t i = 0; i < o->npconf; i++) {
    char ty[32] = "";
    if (strcmp(o->pkeys[i], "schema_type") || strlen(o->pvals[i]) >= sizeof ty)
      continue;
    canon(o->pvals[i], ty, sizeof ty);
    /* The library refuses them at creation; say so before connecting. */
    if (!has_def && (!strcmp(ty, "json") || !strcmp(ty, "avro") || !strcmp(ty, "protobuf")))
      return usage_err("--schema-type %s needs --schema-file (the schema definition)", o->pvals[i]);
  }
  if (key_pw_file) {
    if (pc_cli_read_secret_file("pulsarc-produce", key_pw_file, o->key_pw, sizeof o->key_pw))
      return 2;
    cconf(o, pc_cli_sec_keys[PC_CLI_TLS_KEY_PW], o->key_pw);
  }
  if (o->lines && o->nsrcs == 0)
    o->srcs[o->nsrcs++] = (produce_src){.path = "-", .origin = "-"};
  for (size_t i = 0; i < o->nsrcs; i++) {
    produce_src *s = &o->srcs[i];
    s->fd = -1;
    if (!s->path)
      continue;
    bool in = !strcmp(s->path, "-");
    if (in)
      s->origin = "stdin";
    if (in && o->lines && o->repeat > 1)
      return usage_err("%s", "-n with --lines cannot read stdin twice (give a file)");
    if (!o->lines) {
      if (read_file(s->path, s))
        return 1;
      continue;
    }
    s->fd = in ? 0 : open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
      fprintf(stderr, "pulsarc-produce: cannot open %s: %s\n", s->path, strerror(errno));
      return 1;
    }
  }
  return -1;
}

void produce_opts_free(produce_opts *o) {
  explicit_bzero(o->key_pw, sizeof o->key_pw);
  for (size_t i = 0; o->srcs && i < o->nsrcs; i++) {
    free(o->srcs[i].data);
    if (o->srcs[i].fd > 0)
      close(o->srcs[i].fd);
  }
  for (size_t i = 0; o->owned && i < o->nowned; i++)
    free(o->owned[i]);
  free(o->srcs);
  free(o->props);
  free(o->pflags);
  free(o->pkeys);
  free(o->pvals);
  free(o->ckeys);
  free(o->cvals);
  free(o->owned);
}
