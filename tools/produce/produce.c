/* pulsarc-produce: publishes the given messages and prints their ids, like
 * `pulsar-client produce`. Public API only. See --help; the command line is
 * in produce_opts.c.
 *
 * Messages go out with pulsarc_producer_send_async, at most WINDOW ahead of
 * the oldest one not yet reported, so batching works across them and memory
 * stays bounded whatever the input's size; the futures are waited in order,
 * which is also the order of the printed ids. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* One message to send: a view into its source's text or line buffer, valid
 * until the send call returns (the library copies payload and key). */
typedef struct msg {
  const char *data;
  size_t len;
  const char *key; /* per-line key (--key-separator); NULL: --key's, if any */
} msg;

/* Where a message in flight came from, for its report. */
typedef struct slot {
  pulsarc_future_t *fut;
  uint32_t src, line; /* line: 1-based with --lines, else 0 */
  uint64_t round;     /* 0-based */
  char *key;          /* its own key (--json reports it), else NULL */
} slot;

typedef struct run {
  const produce_opts *o;
  pulsarc_producer_t *prod;
  pulsarc_msg_opts_t *mo, *mo_key; /* every message's options; plus a per-line key */
  const char *topic;               /* full name */
  slot slots[WINDOW];
  size_t head, inflight; /* slots[head] holds message done */
  size_t done;           /* messages reported */
  size_t sent;           /* messages accepted (the next one's index) */
  size_t failed;
  uint64_t start_ns; /* of the first send, for --rate */
} run;

/* "<pre>message 3 (in.txt, line 2, round 1)<post>" */
static void describe(const run *r, size_t k, const slot *s, const char *pre, const char *post,
                     char *buf, size_t cap) {
  char line[32] = "";
  if (s->line)
    snprintf(line, sizeof line, ", line %" PRIu32, s->line);
  snprintf(buf, cap, "%smessage %zu (%s%s, round %" PRIu64 ")%s", pre, k + 1,
           r->o->srcs[s->src].origin, line, s->round + 1, post);
}

/* Reports message k's failure on stderr and, with --json, on stdout. */
static void fail(run *r, size_t k, const slot *s, pulsarc_err_t e, const char *detail,
                 const char *pre, const char *post) {
  char what[300];
  describe(r, k, s, pre, post, what, sizeof what);
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
static void report(run *r, size_t k, const slot *s, pulsarc_err_t e, const pulsarc_msg_id_t *id) {
  if (e) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s", pulsarc_last_error_text());
    fail(r, k, s, e, detail, "", " failed");
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
  const char *key = s->key ? s->key : r->o->key;
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
  slot *s = &r->slots[r->head];
  pulsarc_err_t e = pulsarc_future_wait(s->fut, block ? -1 : 0, &id);
  if (e == PULSARC_ERR_WAIT_TIMEOUT && !block)
    return false;
  report(r, r->done++, s, e, &id);
  pulsarc_future_destroy(s->fut);
  free(s->key);
  *s = (slot){0};
  r->head = (r->head + 1) % WINDOW;
  r->inflight--;
  return true;
}

static void complete_all(run *r) {
  while (r->inflight > 0)
    complete_oldest(r, true);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Message k leaves no earlier than start + k / rate. */
static void pace(run *r, size_t k) {
  if (r->o->rate <= 0)
    return;
  if (k == 0)
    r->start_ns = now_ns();
  uint64_t at = r->start_ns + (uint64_t)((double)k * 1e9 / r->o->rate);
  if (at > now_ns())
    fflush(stdout); /* ids reported so far show up while we wait */
  struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Sends one message and reports whatever has completed. false when it was
 * refused: the run stops there, as later ones would skip it. */
static bool send_one(run *r, const msg *m, uint32_t src, uint32_t line, uint64_t round) {
  size_t k = r->sent;
  pace(r, k);
  if (r->inflight == WINDOW)
    complete_oldest(r, true);
  slot *s = &r->slots[(r->head + r->inflight) % WINDOW];
  *s = (slot){NULL, src, line, round, NULL};
  pulsarc_err_t e = PULSARC_OK;
  if (m->key) {
    e = pulsarc_msg_opts_set_partition_key(r->mo_key, m->key);
    if (r->o->json && !(s->key = strdup(m->key)))
      e = PULSARC_ERR_NO_MEMORY;
  }
  if (e == PULSARC_OK)
    e = pulsarc_producer_send_async(r->prod, m->data, m->len, m->key ? r->mo_key : r->mo, &s->fut);
  if (e) {
    /* The detail is copied first: reporting the earlier ones overwrites it. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", pulsarc_last_error_text());
    slot me = *s;
    *s = (slot){0};
    complete_all(r);
    fail(r, k, &me, e, detail, "cannot send ", "");
    free(me.key);
    return false;
  }
  r->sent++;
  r->inflight++;
  while (r->inflight > 0 && complete_oldest(r, false))
    ;
  return true;
}

/* A source read line by line: from fd, or from memory (fd -1, eof set). */
typedef struct reader {
  int fd;
  char *buf;
  size_t cap, beg, end;
  bool eof;
} reader;

/* The next line (without its newline; NUL-free is not promised) in *line,
 * writable until the next call. 1, 0 at the end, -1 on a read error (after
 * a message). Before blocking on an empty pipe or terminal it reports what
 * is in flight, so an interactive user sees each id as the line is sent. */
static int next_line(run *r, reader *rd, const char *origin, char **line, size_t *len) {
  for (;;) {
    char *p = rd->buf + rd->beg;
    char *nl = memchr(p, '\n', rd->end - rd->beg);
    if (nl || (rd->eof && rd->beg < rd->end)) {
      *line = p;
      *len = nl ? (size_t)(nl - p) : rd->end - rd->beg;
      rd->beg = nl ? (size_t)(nl + 1 - rd->buf) : rd->end;
      return 1;
    }
    if (rd->eof)
      return 0;
    memmove(rd->buf, p, rd->end - rd->beg);
    rd->end -= rd->beg;
    rd->beg = 0;
    if (rd->end == rd->cap) {
      char *nb = realloc(rd->buf, rd->cap * 2);
      if (!nb) {
        fprintf(stderr, "pulsarc-produce: %s: line too long: out of memory\n", origin);
        return -1;
      }
      rd->buf = nb;
      rd->cap *= 2;
    }
    struct pollfd pf = {rd->fd, POLLIN, 0};
    if (poll(&pf, 1, 0) == 0) {
      complete_all(r);
      fflush(stdout); /* a pipe's stdout is fully buffered */
    }
    ssize_t n = read(rd->fd, rd->buf + rd->end, rd->cap - rd->end);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, "pulsarc-produce: cannot read %s: %s\n", origin, strerror(errno));
      return -1;
    }
    if (n == 0)
      rd->eof = true;
    rd->end += (size_t)n;
  }
}

/* Sends every line of source i (round: 0-based). false to stop the run. */
static bool send_lines(run *r, uint32_t i, uint64_t round) {
  const produce_opts *o = r->o;
  const produce_src *src = &o->srcs[i];
  reader rd = {-1, NULL, 4096, 0, 0, false};
  if (!src->path) { /* -m: a copy, as keys are cut in place */
    rd.cap = src->len + 1;
    rd.end = src->len;
    rd.eof = true;
  } else if (round == 0 || !strcmp(src->path, "-")) {
    rd.fd = src->fd;
  } else if ((rd.fd = open(src->path, O_RDONLY | O_CLOEXEC)) < 0) {
    fprintf(stderr, "pulsarc-produce: cannot open %s: %s\n", src->path, strerror(errno));
    return false;
  }
  bool ok = (rd.buf = malloc(rd.cap)) != NULL;
  if (!ok)
    fprintf(stderr, "pulsarc-produce: out of memory\n");
  else if (!src->path)
    memcpy(rd.buf, src->data, src->len);
  size_t seplen = o->key_sep ? strlen(o->key_sep) : 0;
  char *p;
  size_t len;
  int got = 0;
  for (uint32_t line = 1; ok && (got = next_line(r, &rd, src->origin, &p, &len)) == 1; line++) {
    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (len == 0)
      continue;
    msg m = {p, len, NULL};
    char *sep = seplen ? memmem(p, len, o->key_sep, seplen) : NULL;
    if (sep) {
      if (sep > p && memchr(p, '\0', (size_t)(sep - p))) {
        fprintf(stderr, "pulsarc-produce: %s, line %" PRIu32 ": the key holds a NUL byte\n",
                src->origin, line);
        ok = false;
        break;
      }
      if (sep > p) {
        *sep = '\0';
        m.key = p;
      }
      m.data = sep + seplen;
      m.len = (size_t)(p + len - m.data);
    }
    ok = send_one(r, &m, i, line, round);
  }
  if (got < 0)
    ok = false;
  if (rd.fd > 0 && rd.fd != src->fd)
    close(rd.fd);
  free(rd.buf);
  return ok;
}

/* Sends every message, reporting as results come in. false when the run
 * stopped early (a refused send, an unreadable input). */
static bool send_all(run *r) {
  const produce_opts *o = r->o;
  for (uint64_t round = 0; round < o->repeat; round++)
    for (uint32_t i = 0; i < o->nsrcs; i++) {
      msg m = {o->srcs[i].data, o->srcs[i].len, NULL};
      if (!(o->lines ? send_lines(r, i, round) : send_one(r, &m, i, 0, round))) {
        complete_all(r);
        return false;
      }
    }
  complete_all(r);
  return true;
}

int main(int argc, char **argv) {
  produce_opts o;
  int rc = produce_parse_args(argc, argv, &o);
  if (rc >= 0) {
    produce_opts_free(&o);
    return rc;
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
  r->mo = mo;
  r->mo_key = mo_key;
  r->topic = pulsarc_producer_topic(r->prod);
  if (!send_all(r) && r->failed == 0)
    r->failed++; /* the input failed; its message is out */
  if (r->sent == 0 && r->failed == 0)
    fprintf(stderr, "pulsarc-produce: no message in the input: nothing sent\n");
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
