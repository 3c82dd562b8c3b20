/* pulsarc-produce: publishes the given messages and prints their ids, like
 * `pulsar-client produce`. Public API only. See --help; the command line is
 * in produce_opts.c.
 *
 * Messages go out with pulsarc_producer_send_async, at most WINDOW ahead of
 * the oldest one not yet reported, so batching works across them and memory
 * stays bounded whatever the input's size; the futures are waited in order,
 * which is also the order of the printed ids. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "produce.h"
#include "pulsarc/pulsarc.h"

#define WINDOW 4096

/* Producer or client option from a flag or --conf (named by flag); the
 * library validates. */
static int set_opt(const char *flag,
                   pulsarc_err_t (*set)(void *, const char *, const char *, char *, size_t),
                   void *conf, const char *key, const char *val) {
  char why[256] = "";
  pulsarc_err_t e = set(conf, key, val, why, sizeof why);
  if (e == PULSARC_OK)
    return 0;
  /* A client option's value may be a secret: name the key only. */
  if (!flag)
    fprintf(stderr, "pulsarc-produce: invalid client option %s: %s (see --help)\n", key,
            why[0] ? why : pulsarc_err_str(e));
  else if (!strcmp(flag, "--conf"))
    fprintf(stderr, "pulsarc-produce: invalid --conf %s=%s: %s (see --help)\n", key, val,
            why[0] ? why : pulsarc_err_str(e));
  else
    fprintf(stderr, "pulsarc-produce: invalid %s '%s': %s (see --help)\n", flag,
            strcmp(flag, "--schema-file") ? val : "(the file)", why[0] ? why : pulsarc_err_str(e));
  return -1;
}

static pulsarc_err_t pset(void *c, const char *k, const char *v, char *why, size_t n) {
  return pulsarc_producer_conf_set(c, k, v, why, n);
}

static pulsarc_err_t cset(void *c, const char *k, const char *v, char *why, size_t n) {
  return pulsarc_client_conf_set(c, k, v, why, n);
}

static int opt_err(const char *what, pulsarc_err_t e) {
  fprintf(stderr, "pulsarc-produce: %s: %s\n", what, pulsarc_err_str(e));
  return -1;
}

/* The options every message gets (a per-line key is set on top). */
static int msg_opts(const produce_opts *o, pulsarc_msg_opts_t *mo) {
  pulsarc_err_t e;
  if ((o->key && (e = pulsarc_msg_opts_set_partition_key(mo, o->key)) && opt_err("--key", e)) ||
      (o->okey && (e = pulsarc_msg_opts_set_ordering_key(mo, o->okey, strlen(o->okey))) &&
       opt_err("--ordering-key", e)) ||
      (o->evt && (e = pulsarc_msg_opts_set_event_time(mo, (int64_t)o->evt)) &&
       opt_err("--event-time", e)) ||
      (o->has_after && (e = pulsarc_msg_opts_set_deliver_after(mo, o->after)) &&
       opt_err("--deliver-after", e)) ||
      (o->has_at && (e = pulsarc_msg_opts_set_deliver_at(mo, o->at)) && opt_err("--deliver-at", e)))
    return 2;
  for (size_t i = 0; i < o->nprops; i++) {
    char *k = strdup(o->props[i]);
    if (!k)
      return 1;
    char *eq = strchr(k, '=');
    *eq = '\0';
    e = pulsarc_msg_opts_add_property(mo, k, eq + 1);
    free(k);
    if (e) {
      fprintf(stderr, "pulsarc-produce: property '%s': %s\n", o->props[i], pulsarc_err_str(e));
      return 2;
    }
  }
  return 0;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else
    return 0;
  if ((size_t)(end - s) < n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

/* A JSON string: escapes what JSON requires, and bytes that are not UTF-8
 * become U+FFFD, so every line parses with a strict parser. */
static void json_str(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);
  fputc('"', f);
  while (s < end) {
    unsigned c = *s;
    if (c == '"' || c == '\\') {
      fprintf(f, "\\%c", c);
      s++;
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\u%04x", c);
      s++;
    } else if (c < 0x80) {
      fputc((int)c, f);
      s++;
    } else {
      size_t n = utf8_len(s, end);
      if (n)
        fwrite(s, 1, n, f);
      else
        fputs("\\ufffd", f);
      s += n ? n : 1;
    }
  }
  fputc('"', f);
}

/* The error's name, sentence and, when the library left one, its detail:
 * the reason belongs on the final line, not only in a log line above it. */
static void print_failure(const char *what, pulsarc_err_t e, const char *detail) {
  fprintf(stderr, "pulsarc-produce: %s: %s%s%s (%s)\n", what, pulsarc_err_str(e),
          detail[0] ? ": " : "", detail, pulsarc_err_name(e));
}

typedef struct run {
  const produce_opts *o;
  pulsarc_producer_t *prod;
  const char *topic; /* full name */
  pulsarc_future_t *futs[WINDOW];
  size_t head, inflight; /* futs[head] is message done */
  size_t done;           /* messages reported */
  size_t failed;
} run;

static const produce_msg *msg_of(const run *r, size_t k) { return &r->o->msgs[k % r->o->nmsgs]; }

/* "<pre>message 3 (-f in.txt, line 2, round 1)<post>" */
static void describe(const run *r, size_t k, const char *pre, const char *post, char *buf,
                     size_t cap) {
  const produce_msg *m = msg_of(r, k);
  char line[32] = "";
  if (m->line)
    snprintf(line, sizeof line, ", line %" PRIu32, m->line);
  snprintf(buf, cap, "%smessage %zu (%s%s, round %zu)%s", pre, k + 1, r->o->srcs[m->src].origin,
           line, k / r->o->nmsgs + 1, post);
}

/* Reports message k's failure on stderr and, with --json, on stdout. */
static void fail(run *r, size_t k, pulsarc_err_t e, const char *detail, const char *pre,
                 const char *post) {
  char what[300];
  describe(r, k, pre, post, what, sizeof what);
  r->failed++;
  print_failure(what, e, detail);
  if (!r->o->json)
    return;
  printf("{\"index\":%zu,\"error\":", k);
  json_str(stdout, pulsarc_err_name(e));
  printf(",\"message\":");
  json_str(stdout, pulsarc_err_str(e));
  if (detail[0]) {
    printf(",\"detail\":");
    json_str(stdout, detail);
  }
  printf("}\n");
}

/* Reports message k's result, on stdout (id or JSON) and stderr (failure). */
static void report(run *r, size_t k, pulsarc_err_t e, const pulsarc_msg_id_t *id) {
  const produce_msg *m = msg_of(r, k);
  if (e) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", pulsarc_last_error_text());
    fail(r, k, e, detail, "", " failed");
    return;
  }
  if (!r->o->json) {
    char buf[96];
    pulsarc_msg_id_format(id, buf, sizeof buf);
    puts(buf);
    return;
  }
  printf("{\"index\":%zu,\"topic\":", k);
  json_str(stdout, r->topic);
  printf(",\"partition\":%" PRId32 ",\"ledger\":%" PRId64 ",\"entry\":%" PRId64
         ",\"batch_index\":%" PRId32 ",\"batch_size\":%" PRId32,
         id->partition, id->ledger_id, id->entry_id, id->batch_index, id->batch_size);
  const char *key = m->key ? m->key : r->o->key;
  if (key) {
    printf(",\"key\":");
    json_str(stdout, key);
  }
  printf("}\n");
}

/* Waits for the oldest message in flight (forever when block, else only if
 * it is complete) and reports it. false when it was not complete. */
static bool complete_oldest(run *r, bool block) {
  pulsarc_msg_id_t id;
  pulsarc_future_t *f = r->futs[r->head];
  pulsarc_err_t e = pulsarc_future_wait(f, block ? -1 : 0, &id);
  if (e == PULSARC_ERR_WAIT_TIMEOUT && !block)
    return false;
  report(r, r->done++, e, &id);
  pulsarc_future_destroy(f);
  r->futs[r->head] = NULL;
  r->head = (r->head + 1) % WINDOW;
  r->inflight--;
  return true;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Message k leaves no earlier than start + k / rate. */
static void pace(const run *r, uint64_t start, size_t k) {
  if (r->o->rate <= 0)
    return;
  uint64_t at = start + (uint64_t)((double)k * 1e9 / r->o->rate);
  struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Sends every message, reporting as results come in. */
static void send_all(run *r, pulsarc_msg_opts_t *mo, pulsarc_msg_opts_t *mo_key) {
  const produce_opts *o = r->o;
  size_t total = o->nmsgs * (size_t)o->repeat;
  uint64_t start = now_ns();
  for (size_t k = 0; k < total; k++) {
    const produce_msg *m = msg_of(r, k);
    pace(r, start, k);
    if (r->inflight == WINDOW)
      complete_oldest(r, true);
    pulsarc_msg_opts_t *opts = m->key ? mo_key : mo;
    pulsarc_err_t e = m->key ? pulsarc_msg_opts_set_partition_key(mo_key, m->key) : PULSARC_OK;
    size_t slot = (r->head + r->inflight) % WINDOW;
    if (e == PULSARC_OK)
      e = pulsarc_producer_send_async(r->prod, m->data, m->len, opts, &r->futs[slot]);
    if (e) {
      /* Stop at the first refused message: later ones would skip it. The
       * detail is copied first: reporting the earlier ones overwrites it. */
      char detail[512];
      snprintf(detail, sizeof detail, "%s", pulsarc_last_error_text());
      while (r->inflight > 0)
        complete_oldest(r, true);
      fail(r, k, e, detail, "cannot send ", "");
      return;
    }
    r->inflight++;
    while (r->inflight > 0 && complete_oldest(r, false))
      ;
  }
  while (r->inflight > 0)
    complete_oldest(r, true);
}

int main(int argc, char **argv) {
  produce_opts o;
  int rc = produce_parse_args(argc, argv, &o);
  if (rc >= 0) {
    produce_opts_free(&o);
    return rc;
  }
  if (o.nmsgs == 0) {
    fprintf(stderr, "pulsarc-produce: no message in the input: nothing sent\n");
    produce_opts_free(&o);
    return 0;
  }
  if (!pc_cli_url_is_tls(o.url))
    pc_cli_warn_plaintext("pulsarc-produce", o.url, o.has_token, o.has_tls_files);

  rc = 1;
  pulsarc_producer_conf_t *pc = pulsarc_producer_conf_new();
  pulsarc_client_conf_t *cc = pulsarc_client_conf_new();
  pulsarc_msg_opts_t *mo = pulsarc_msg_opts_new(), *mo_key = pulsarc_msg_opts_new();
  pulsarc_client_t *client = NULL;
  run *r = calloc(1, sizeof *r);
  pulsarc_err_t e;
  if (!pc || !cc || !mo || !mo_key || !r) {
    fprintf(stderr, "pulsarc-produce: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < o.npconf; i++)
    if (set_opt(o.pflags[i], pset, pc, o.pkeys[i], o.pvals[i])) {
      rc = 2;
      goto done;
    }
  for (size_t i = 0; i < o.ncconf; i++)
    if (set_opt(NULL, cset, cc, o.ckeys[i], o.cvals[i])) {
      rc = 2;
      goto done;
    }
  if ((rc = msg_opts(&o, mo)) != 0 || (rc = msg_opts(&o, mo_key)) != 0)
    goto done;
  rc = 1;
  e = pulsarc_client_new(o.url, cc, &client);
  if (e) {
    char what[600];
    snprintf(what, sizeof what, "cannot create a client for '%s'", o.url);
    print_failure(what, e, pulsarc_last_error_text());
    goto done;
  }
  /* An invalid topic fails here, before any connection is attempted. */
  if ((e = pulsarc_producer_create(client, o.topic, pc, &r->prod))) {
    char what[900];
    snprintf(what, sizeof what, "cannot create a producer on topic '%s' at %s", o.topic, o.url);
    print_failure(what, e, pulsarc_last_error_text());
    goto done;
  }
  r->o = &o;
  r->topic = pulsarc_producer_topic(r->prod);
  send_all(r, mo, mo_key);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "pulsarc-produce: cannot write to stdout: %s\n", strerror(errno));
    r->failed++;
  }
  if ((e = pulsarc_producer_close(r->prod))) {
    fprintf(stderr, "pulsarc-produce: close: %s\n", pulsarc_err_str(e));
    r->failed++;
  }
  rc = r->failed ? 1 : 0;

done:
  if (r && r->prod)
    pulsarc_producer_destroy(r->prod);
  free(r);
  if (client) {
    pulsarc_client_close(client);
    pulsarc_client_destroy(client);
  }
  pulsarc_client_conf_destroy(cc);
  pulsarc_msg_opts_destroy(mo);
  pulsarc_msg_opts_destroy(mo_key);
  pulsarc_producer_conf_destroy(pc);
  produce_opts_free(&o);
  return rc;
}
