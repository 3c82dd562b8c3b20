/* One connection pool per I/O thread: connections keyed by broker address
 * (and proxy target), shared by every producer pinned to that thread. All
 * functions run on the pool's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/future.h"
#include "client/testing.h"

struct pc_pool_req {
  pc_pool_cb cb;
  void *ctx;
  struct pc_pool_req *next;
  bool cancelled; /* cancelled by an earlier callback of the same delivery */
};

typedef struct pool_entry {
  char key[600];
  pc_conn *conn;
  bool ready;
  pc_pool_req *waiters;
  struct pool_entry *next;
} pool_entry;

struct pc_pool {
  pulsarc_client_t *client;
  pc_loop *loop;
  pool_entry *entries;
  bool closing;
};

pc_pool *pc_pool_new(pulsarc_client_t *client, pc_loop *loop) {
  pc_pool *p = calloc(1, sizeof *p);
  if (p != NULL) {
    p->client = client;
    p->loop = loop;
  }
  return p;
}

static pool_entry *find_by_conn(pc_pool *p, pc_conn *c, pool_entry ***link_out) {
  for (pool_entry **l = &p->entries; *l; l = &(*l)->next)
    if ((*l)->conn == c) {
      if (link_out)
        *link_out = l;
      return *l;
    }
  return NULL;
}

static void on_ready(pc_conn *c, void *ctx) {
  pc_pool *p = ctx;
  pool_entry *e = find_by_conn(p, c, NULL);
  if (e == NULL)
    return;
  e->ready = true;
  pc_pool_req *w = e->waiters;
  e->waiters = NULL;
  while (w != NULL) {
    pc_pool_req *next = w->next;
    if (!w->cancelled)
      w->cb(c, PULSARC_OK, w->ctx);
    free(w);
    w = next;
  }
}

static void on_closed(pc_conn *c, pulsarc_err_t err, void *ctx) {
  pc_pool *p = ctx;
  pool_entry **link;
  pool_entry *e = find_by_conn(p, c, &link);
  if (e == NULL)
    return;
  *link = e->next;
  pc_pool_req *w = e->waiters;
  free(e);
  while (w != NULL) {
    pc_pool_req *next = w->next;
    if (!w->cancelled)
      w->cb(NULL, err, w->ctx);
    free(w);
    w = next;
  }
  if (p->closing && p->entries == NULL)
    free(p);
}

int pc_pool_get(pc_pool *p, const pc_host_port *hp, const char *proxy_to, pc_pool_cb cb, void *ctx,
                pc_pool_req **req_out) {
  *req_out = NULL;
  pc_pool_req *req = calloc(1, sizeof *req);
  if (req == NULL)
    return -1;
  req->cb = cb;
  req->ctx = ctx;
  char key[600];
  snprintf(key, sizeof key, "%s:%u|%s", hp->host, hp->port, proxy_to ? proxy_to : "");
  pool_entry *e;
  for (e = p->entries; e; e = e->next)
    if (strcmp(e->key, key) == 0)
      break;
  if (e == NULL) {
    if (p->closing || (e = calloc(1, sizeof *e)) == NULL) {
      free(req);
      return -1;
    }
    snprintf(e->key, sizeof e->key, "%s", key);
    const struct pulsarc_client_conf *cf = &p->client->conf;
    pc_conn_opts o = {
        .host = hp->host,
        .port = hp->port,
        .proxy_to_broker_url = proxy_to,
        .connect_timeout_ms = cf->connect_timeout_ms,
        .keepalive_interval_ms = cf->keepalive_interval_ms,
        .auth = {.method = p->client->auth_method,
                 /* "tls" sends no data: the certificate is the credential */
                 .get_data = p->client->auth_method && strcmp(p->client->auth_method, "token") == 0
                                 ? pc_client_auth_data
                                 : NULL,
                 .ctx = p->client},
        .tls = p->client->tls};
    pc_conn_events ev = {.on_ready = on_ready, .on_closed = on_closed, .ctx = p};
    e->next = p->entries;
    p->entries = e;
    e->conn = pc_conn_open(p->loop, &o, &ev, &cf->logger);
    if (e->conn == NULL) {
      p->entries = e->next;
      free(e);
      free(req);
      return -1;
    }
  }
  if (e->ready) {
    /* Answer right away; the caller must cope with a synchronous callback. */
    free(req);
    cb(e->conn, PULSARC_OK, ctx);
    return 0;
  }
  req->next = e->waiters;
  e->waiters = req;
  *req_out = req;
  return 0;
}

void pc_pool_cancel(pc_pool *p, pc_pool_req *req) {
  for (pool_entry *e = p->entries; e; e = e->next)
    for (pc_pool_req **l = &e->waiters; *l; l = &(*l)->next)
      if (*l == req) {
        *l = req->next;
        free(req);
        return;
      }
  /* Not waiting in any entry: a callback of the delivery that holds it is
   * running (a request that already ran is never cancelled: its owner
   * forgot it in the callback). The delivery skips and frees it. */
  req->cancelled = true;
}

pulsarc_err_t pc_pool_req_stage(pc_pool *p, const pc_pool_req *req, char *what, size_t len) {
  for (pool_entry *e = p->entries; e; e = e->next)
    for (pc_pool_req *w = e->waiters; w; w = w->next)
      if (w == req) {
        bool tls = pc_conn_in_tls_handshake(e->conn);
        snprintf(what, len, "%s %s", tls ? "TLS handshake with" : "connecting to",
                 pc_conn_peer(e->conn));
        return tls ? PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT : PULSARC_ERR_CONNECT_TIMEOUT;
      }
  snprintf(what, len, "connecting");
  return PULSARC_ERR_CONNECT_TIMEOUT;
}

void pc_pool_free(pc_pool *p) {
  p->closing = true;
  if (p->entries == NULL) {
    free(p);
    return;
  }
  /* Each close ends in on_closed, which unlinks its entry and frees the
   * pool after the last one (possibly later, if a close is deferred): take
   * the next entry before each close, and touch nothing after the last.
   * No copy of the list: its length is the broker count, not ours to bound
   * on the stack. */
  for (pool_entry *e = p->entries, *next; e != NULL; e = next) {
    next = e->next;
    pc_conn_close(e->conn, PULSARC_ERR_CLOSED);
  }
}

/* ---- test probe (client/testing.h), only in the test build ---- */
#ifdef PULSARC_TEST_HOOKS

typedef struct pool_probe {
  pc_pool *pool;
  pc_loop *loop;
  pc_host_port hp;
  pc_pool_req *a;
  int a_runs, b_runs;
  pc_waiter *w;
} pool_probe;

static void probe_done(pc_loop *loop, void *arg) {
  (void)loop;
  pool_probe *pr = arg;
  pc_waiter_complete(PULSARC_OK, NULL, pr->w);
}

static void probe_a(pc_conn *c, pulsarc_err_t err, void *ctx) {
  (void)c;
  (void)err;
  ((pool_probe *)ctx)->a_runs++;
}

static void probe_b(pc_conn *c, pulsarc_err_t err, void *ctx) {
  (void)c;
  (void)err;
  pool_probe *pr = ctx;
  pr->b_runs++;
  pc_pool_cancel(pr->pool, pr->a);
  /* A task runs after this delivery is over. */
  if (pc_loop_post(pr->loop, probe_done, pr) != 0)
    pc_waiter_complete(PULSARC_ERR_NO_MEMORY, NULL, pr->w);
}

static void probe_start(pc_loop *loop, void *arg) {
  (void)loop;
  pool_probe *pr = arg;
  pc_pool_req *b = NULL;
  /* Waiters are answered newest first: b, then a. */
  if (pc_pool_get(pr->pool, &pr->hp, NULL, probe_a, pr, &pr->a) != 0 || pr->a == NULL ||
      pc_pool_get(pr->pool, &pr->hp, NULL, probe_b, pr, &b) != 0 || b == NULL)
    pc_waiter_complete(PULSARC_ERR_INTERNAL, NULL, pr->w);
}

int pc_test_pool_cancel_in_delivery(pulsarc_client_t *client, const char *host, uint16_t port,
                                    int *cancelled_runs) {
  pc_waiter w;
  pc_waiter_init(&w);
  pool_probe pr = {.pool = client->pools[0], .loop = client->loops[0], .w = &w};
  snprintf(pr.hp.host, sizeof pr.hp.host, "%s", host);
  pr.hp.port = port;
  if (pc_loop_post(pr.loop, probe_start, &pr) != 0)
    return -1;
  if (pc_waiter_wait(&w, -1, NULL) != PULSARC_OK)
    return -1;
  *cancelled_runs = pr.a_runs;
  return pr.b_runs == 1 ? 0 : -1;
}
#endif /* PULSARC_TEST_HOOKS */
