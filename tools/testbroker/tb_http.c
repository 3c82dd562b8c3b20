/* Test broker: a tiny admin-style REST endpoint, so that tools written
 * against a real broker's admin API read the same per-entry facts here:
 *
 *   GET /admin/v2/persistent/{tenant}/{ns}/{topic}/ledger/{l}/entry/{e}
 *       200, body = the entry payload (uncompressed, as the real broker
 *       serves it; a batch is its whole body), and the stored metadata in
 *       the X-Pulsar-* headers the real broker uses (names, value formats).
 *       404 {"reason": ...} for an unknown topic or entry, and for an entry
 *       whose payload was not retained (retain_bytes).
 *   GET /admin/v2/persistent/{tenant}/{ns}/{topic}/internalStats
 *       a small subset of the real JSON: entry counts, lastConfirmedEntry,
 *       one ledger, cursors with their positions.
 *
 * One thread of its own, blocking accept, one request per connection
 * (Connection: close). Broker state is read under tb->mu. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tb_internal.h"

struct tb_http {
  pulsarc_tb *tb;
  int fd;
  pthread_t thread;
};

/* ------------------------------------------------------------------ output */

static void put(pc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(pc_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || pc_buf_reserve(b, (size_t)n + 1) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void put_json_str(pc_buf *b, const char *s) {
  put(b, "\"");
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      put(b, "\\%c", ch);
    else if (ch < 0x20)
      put(b, "\\u%04x", ch);
    else
      pc_buf_append(b, &ch, 1);
  }
  put(b, "\"");
}

static void put_b64(pc_buf *b, const uint8_t *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                 i + 2 < n ? tab[v & 63] : '='};
    pc_buf_append(b, q, 4);
  }
}

/* Java's ISO_OFFSET_DATE_TIME in UTC, as the real broker prints times: the
 * fraction is left out when zero and has no trailing zeros. */
static void put_time(pc_buf *b, int64_t ms) {
  time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int frac = (int)(ms - (int64_t)s * 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  put(b, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
      tm.tm_min, tm.tm_sec);
  if (frac) {
    char f[8];
    snprintf(f, sizeof(f), "%03d", frac);
    for (int i = 2; i > 0 && f[i] == '0'; i--)
      f[i] = '\0';
    put(b, ".%s", f);
  }
  put(b, "Z");
}

static const char *compression_name(int c) {
  static const char *names[] = {"NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"};
  return c >= 0 && c < 5 ? names[c] : "UNKNOWN";
}

static void respond(pc_buf *out, int status, const char *reason, const pc_buf *hdrs,
                    const char *ctype, const void *body, size_t len) {
  put(out, "HTTP/1.1 %d %s\r\n", status, reason);
  if (hdrs && hdrs->len)
    pc_buf_append(out, hdrs->data, hdrs->len);
  put(out, "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", ctype, len);
  if (len)
    pc_buf_append(out, body, len);
}

static void respond_error(pc_buf *out, int status, const char *reason, const char *msg) {
  pc_buf body = {0};
  put(&body, "{\"reason\":");
  put_json_str(&body, msg);
  put(&body, "}");
  respond(out, status, reason, NULL, "application/json", body.data, body.len);
  pc_buf_free(&body);
}

/* ------------------------------------------------------------------ routes */

static void entry_headers(pc_buf *h, const tb_topic *t, const tb_entry *e,
                          const Pulsarc__MessageMetadata *md) {
  put(h, "X-Pulsar-Message-ID: %lld:%lld\r\n", (long long)t->ledger_id, (long long)e->entry_id);
  put(h, "X-Pulsar-PROPERTY: {");
  for (size_t i = 0; i < md->n_properties; i++) {
    put(h, i ? "," : "");
    put_json_str(h, md->properties[i]->key ? md->properties[i]->key : "");
    put(h, ":");
    put_json_str(h, md->properties[i]->value ? md->properties[i]->value : "");
  }
  put(h, "}\r\nX-Pulsar-publish-time: ");
  put_time(h, (int64_t)md->publish_time);
  if (md->has_event_time) {
    put(h, "\r\nX-Pulsar-event-time: ");
    put_time(h, (int64_t)md->event_time);
  }
  if (md->has_deliver_at_time) {
    put(h, "\r\nX-Pulsar-deliver-at-time: ");
    put_time(h, md->deliver_at_time);
  }
  put(h, "\r\n");
  if (md->has_num_messages_in_batch) /* batch-size: entry bytes minus metadata */
    put(h, "X-Pulsar-num-batch-message: %d\r\nX-Pulsar-batch-size: %u\r\n",
        (int)md->num_messages_in_batch, 10u + e->payload_len);
  put(h, "X-Pulsar-Is-Encrypted: %s\r\n", md->n_encryption_keys ? "true" : "false");
  put(h, "X-Pulsar-producer-name: %s\r\n", md->producer_name ? md->producer_name : "");
  put(h, "X-Pulsar-sequence-id: %llu\r\n", (unsigned long long)md->sequence_id);
  if (md->replicated_from)
    put(h, "X-Pulsar-replicated-from: %s\r\n", md->replicated_from);
  for (size_t i = 0; i < md->n_replicate_to; i++)
    put(h, "X-Pulsar-replicated-to: %s\r\n", md->replicate_to[i]);
  if (md->partition_key)
    put(h, "X-Pulsar-partition-key: %s\r\n", md->partition_key);
  if (md->has_compression)
    put(h, "X-Pulsar-compression: %s\r\n", compression_name((int)md->compression));
  if (md->has_uncompressed_size)
    put(h, "X-Pulsar-uncompressed-size: %u\r\n", md->uncompressed_size);
  if (md->encryption_algo)
    put(h, "X-Pulsar-encryption-algo: %s\r\n", md->encryption_algo);
  if (md->has_partition_key_b64_encoded)
    put(h, "X-Pulsar-partition-key-b64-encoded: %s\r\n",
        md->partition_key_b64_encoded ? "true" : "false");
  if (md->has_ordering_key) {
    put(h, "X-Pulsar-Base64-ordering-key: ");
    put_b64(h, md->ordering_key.data, md->ordering_key.len);
    put(h, "\r\n");
  }
  if (md->has_schema_version) {
    put(h, "X-Pulsar-Base64-schema-version: ");
    put_b64(h, md->schema_version.data, md->schema_version.len);
    put(h, "\r\n");
  }
  if (md->has_encryption_param) {
    put(h, "X-Pulsar-Base64-encryption-param: ");
    put_b64(h, md->encryption_param.data, md->encryption_param.len);
    put(h, "\r\n");
  }
  if (md->has_marker_type)
    put(h, "X-Pulsar-marker-type: %d\r\n", (int)md->marker_type);
  if (md->has_txnid_least_bits)
    put(h, "X-Pulsar-txnid-least-bits: %llu\r\n", (unsigned long long)md->txnid_least_bits);
  if (md->has_txnid_most_bits)
    put(h, "X-Pulsar-txnid-most-bits: %llu\r\n", (unsigned long long)md->txnid_most_bits);
  if (md->has_highest_sequence_id)
    put(h, "X-Pulsar-highest-sequence-id: %llu\r\n", (unsigned long long)md->highest_sequence_id);
  if (md->uuid)
    put(h, "X-Pulsar-uuid: %s\r\n", md->uuid);
  if (md->has_num_chunks_from_msg)
    put(h, "X-Pulsar-num-chunks-from-msg: %d\r\n", (int)md->num_chunks_from_msg);
  if (md->has_total_chunk_msg_size)
    put(h, "X-Pulsar-total-chunk-msg-size: %d\r\n", (int)md->total_chunk_msg_size);
  if (md->has_chunk_id)
    put(h, "X-Pulsar-chunk-id: %d\r\n", (int)md->chunk_id);
  if (md->has_null_partition_key)
    put(h, "X-Pulsar-null-partition-key: %s\r\n", md->null_partition_key ? "true" : "false");
  put(h, "X-Pulsar-txn-uncommitted: false\r\n");
}

static void route_entry(pulsarc_tb *tb, pc_buf *out, const char *full, int64_t ledger,
                        int64_t entry) {
  pthread_mutex_lock(&tb->mu);
  tb_topic *t = tb_topic_get(tb, full, false);
  const tb_entry *e = t && ledger == t->ledger_id ? tb_topic_find_entry(t, entry) : NULL;
  Pulsarc__MessageMetadata *md = e ? pc_metadata_unpack(e->data, e->md_len) : NULL;
  if (!t) {
    char msg[600];
    snprintf(msg, sizeof(msg), "Topic %s not found", full);
    respond_error(out, 404, "Not Found", msg);
  } else if (!e || !md) {
    respond_error(out, 404, "Not Found", "Message not found");
  } else if (!e->retained) {
    respond_error(out, 404, "Not Found", "Entry payload not retained by the test broker");
  } else {
    pc_buf h = {0}, plain = {0};
    entry_headers(&h, t, e, md);
    const uint8_t *body = e->data + e->md_len;
    size_t len = e->payload_len;
    bool compressed = md->has_compression && md->compression != PULSARC__COMPRESSION_TYPE__NONE;
    if (compressed) {
      if (tb_decompress((int)md->compression, body, len, md->uncompressed_size, &plain) == 0) {
        body = plain.data;
        len = plain.len;
      } else { /* served as stored; say so outside the X-Pulsar-* names */
        put(&h, "X-Testbroker-Body: compressed\r\n");
      }
    }
    respond(out, 200, "OK", &h, "application/octet-stream", body, len);
    pc_buf_free(&h);
    pc_buf_free(&plain);
  }
  if (md)
    pulsarc__message_metadata__free_unpacked(md, NULL);
  pthread_mutex_unlock(&tb->mu);
}

static void route_internal_stats(pulsarc_tb *tb, pc_buf *out, const char *full) {
  pthread_mutex_lock(&tb->mu);
  tb_topic *t = tb_topic_get(tb, full, false);
  if (!t) {
    char msg[600];
    snprintf(msg, sizeof(msg), "Topic %s not found", full);
    respond_error(out, 404, "Not Found", msg);
    pthread_mutex_unlock(&tb->mu);
    return;
  }
  uint64_t size = 0;
  for (size_t i = 0; i < t->n_entries; i++)
    size += 10u + t->entries[i].md_len + t->entries[i].payload_len;
  long long n = (long long)t->next_entry_id, l = (long long)t->ledger_id;
  pc_buf b = {0};
  put(&b,
      "{\"entriesAddedCounter\":%lld,\"numberOfEntries\":%lld,\"totalSize\":%llu,"
      "\"currentLedgerEntries\":%lld,\"currentLedgerSize\":%llu,"
      "\"lastConfirmedEntry\":\"%lld:%lld\",\"state\":\"LedgerOpened\","
      "\"ledgers\":[{\"ledgerId\":%lld,\"entries\":%lld,\"size\":%llu,\"offloaded\":false}],"
      "\"cursors\":{",
      n, n, (unsigned long long)size, n, (unsigned long long)size, l, n - 1, l, n,
      (unsigned long long)size);
  bool first = true;
  for (const tb_sub *s = t->subs; s; s = s->next) {
    if (s->gone)
      continue;
    int64_t md = s->base; /* first entry not acknowledged */
    while (md < s->cursor && (s->ents[md - s->base].state == TB_SE_ACKED ||
                              s->ents[md - s->base].state == TB_SE_SKIP))
      md++;
    put(&b, first ? "" : ",");
    first = false;
    put_json_str(&b, s->name);
    put(&b, ":{\"markDeletePosition\":\"%lld:%lld\",\"readPosition\":\"%lld:%lld\"}", l,
        (long long)md - 1, l, (long long)s->cursor);
  }
  put(&b, "}}");
  pthread_mutex_unlock(&tb->mu);
  respond(out, 200, "OK", NULL, "application/json", b.data, b.len);
  pc_buf_free(&b);
}

/* Decodes %XX in place. */
static void unescape(char *s) {
  char *w = s;
  for (; *s; s++) {
    unsigned v;
    if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
      *w++ = (char)v;
      s += 2;
    } else {
      *w++ = *s;
    }
  }
  *w = '\0';
}

static void route(pulsarc_tb *tb, char *path, pc_buf *out) {
  char *q = strchr(path, '?');
  if (q)
    *q = '\0';
  const char *prefix = "/admin/v2/persistent/";
  char *seg[8];
  int n = 0;
  if (strncmp(path, prefix, strlen(prefix)) == 0) {
    for (char *p = path + strlen(prefix), *save = NULL, *tok; n < 8; p = NULL) {
      if (!(tok = strtok_r(p, "/", &save)))
        break;
      unescape(tok);
      seg[n++] = tok;
    }
  }
  char full[512];
  if (n >= 4)
    snprintf(full, sizeof(full), "persistent://%s/%s/%s", seg[0], seg[1], seg[2]);
  char *end1 = NULL, *end2 = NULL;
  if (n == 7 && strcmp(seg[3], "ledger") == 0 && strcmp(seg[5], "entry") == 0) {
    long long l = strtoll(seg[4], &end1, 10), e = strtoll(seg[6], &end2, 10);
    if (*end1 || *end2)
      respond_error(out, 400, "Bad Request", "bad ledger or entry id");
    else
      route_entry(tb, out, full, l, e);
  } else if (n == 4 && strcmp(seg[3], "internalStats") == 0) {
    route_internal_stats(tb, out, full);
  } else {
    respond_error(out, 404, "Not Found", "not served by the test broker");
  }
}

static void serve(pulsarc_tb *tb, int fd) {
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char req[8192];
  size_t len = 0;
  while (len < sizeof(req) - 1) {
    ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
    if (r <= 0)
      return;
    len += (size_t)r;
    req[len] = '\0';
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  pc_buf out = {0};
  char method[16], path[4096];
  if (sscanf(req, "%15s %4095s", method, path) != 2)
    respond_error(&out, 400, "Bad Request", "bad request line");
  else if (strcmp(method, "GET") != 0)
    respond_error(&out, 405, "Method Not Allowed", "only GET");
  else
    route(tb, path, &out);
  for (size_t off = 0; off < out.len;) {
    ssize_t w = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  pc_buf_free(&out);
}

static void *http_thread(void *arg) {
  tb_http *h = arg;
  for (;;) {
    int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
        continue;
      return NULL; /* shut down by tb_http_stop */
    }
    serve(h->tb, fd);
    close(fd);
  }
}

int tb_http_start(pulsarc_tb *tb, const char *host, uint16_t port, tb_http **out, uint16_t *bound) {
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char portstr[8];
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
  if (getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res) != 0)
    return -EINVAL;
  int fd = -1, err = -EADDRNOTAVAIL;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = -errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      err = -errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    return err;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
  tb_http *h = calloc(1, sizeof(*h));
  if (!h) {
    close(fd);
    return -ENOMEM;
  }
  h->tb = tb;
  h->fd = fd;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&h->thread, NULL, http_thread, h);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    close(fd);
    free(h);
    return -rc;
  }
  *out = h;
  return 0;
}

void tb_http_stop(tb_http *h) {
  if (!h)
    return;
  shutdown(h->fd, SHUT_RDWR); /* wakes the blocking accept */
  pthread_join(h->thread, NULL);
  close(h->fd);
  free(h);
}
