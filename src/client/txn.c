/* The transaction-coordinator client and the transaction handle (txn.h).
 * Every coordinator request is an op on the client's first loop: the
 * coordinators' count (partitioned metadata of PC_TC_ASSIGN_TOPIC, once),
 * the lookup of coordinator N's partition, a pool connection, a
 * TC_CLIENT_CONNECT on a connection not yet introduced (protocol >= 19, as
 * the official clients do), then the request. A connection lost or a
 * coordinator not ready yet sends the op round again after a backoff,
 * within operation_timeout_ms. */
#include "client/txn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/future.h"
#include "codec/commands.h"
#include "common/clock.h"
#include "common/err_detail.h"

enum txn_state { TS_BEGINNING, TS_OPEN, TS_ENDING, TS_COMMITTED, TS_ABORTED, TS_ERROR };
enum part_state { PT_ADDING, PT_ADDED, PT_FAILED };
enum op_kind { OP_NEW, OP_ADD, OP_END };

typedef struct txn_part {
  struct txn_part *next;
  int state;
  pulsarc_err_t err;
  char name[];
} txn_part;

typedef struct pc_txn_op pc_txn_op;

struct pulsarc_txn {
  pulsarc_client_t *client;
  _Atomic int refs;
  uint64_t ttl_ms;
  pthread_mutex_t mu; /* everything below */
  int state;
  uint64_t most, least;
  uint32_t pending; /* sends accepted and not completed */
  uint32_t failed;  /* sends completed with an error */
  txn_part *parts;
  pc_txn_op *end_waiting; /* commit or abort waiting for pending to reach 0 */
};

typedef struct tc_node {
  bool located;
  pc_host_port hp;
  bool proxy;
  pc_host_port via;
  pc_conn *hello_conn; /* the connection TC_CLIENT_CONNECT last succeeded on */
} tc_node;

struct pc_tc {
  pulsarc_client_t *client;
  pc_loop *loop;
  int n; /* coordinators; -1 before the metadata answered */
  tc_node *nodes;
  uint64_t rr;
  pc_txn_op *ops; /* in flight */
};

struct pc_txn_op {
  pc_txn_op *next, *prev;
  pc_tc *tc;
  pulsarc_txn_t *txn;
  enum op_kind kind;
  bool commit;
  pulsarc_err_t final_err; /* a commit turned into an abort reports this */
  uint64_t tc_id;
  uint64_t deadline_ns;
  uint64_t backoff_ms;
  pc_timer timer;
  pc_lookup_op *lookup;
  pc_pool_req *pool_req;
  pc_conn *conn;
  uint64_t request_id;
  bool hello; /* the outstanding request is TC_CLIENT_CONNECT */
  pulsarc_send_cb done;
  void *done_ctx;
  char partition[PC_TOPIC_MAX];
};

static const char *op_name(const pc_txn_op *op) {
  if (op->hello)
    return "TC_CLIENT_CONNECT";
  return op->kind == OP_NEW ? "NEW_TXN" : op->kind == OP_ADD ? "ADD_PARTITION_TO_TXN" : "END_TXN";
}

/* ------------------------------------------------------------ the handle */

static void txn_unref(pulsarc_txn_t *t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
    return;
  while (t->parts != NULL) {
    txn_part *p = t->parts;
    t->parts = p->next;
    free(p);
  }
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static pc_tc *tc_of(pulsarc_client_t *c) {
  pthread_mutex_lock(&c->lock);
  if (c->tc == NULL && !c->closed) {
    pc_tc *tc = calloc(1, sizeof *tc);
    if (tc != NULL) {
      tc->client = c;
      tc->loop = c->loops[0];
      tc->n = -1;
      c->tc = tc;
    }
  }
  pc_tc *tc = c->closed ? NULL : c->tc;
  pthread_mutex_unlock(&c->lock);
  return tc;
}

/* --------------------------------------------------------------- the ops */

static void op_run(pc_txn_op *op);

/* [loop] */
static void op_finish(pc_txn_op *op, pulsarc_err_t err) {
  pulsarc_txn_t *t = op->txn;
  pthread_mutex_lock(&t->mu);
  switch (op->kind) {
  case OP_NEW:
    t->state = err == PULSARC_OK ? TS_OPEN : TS_ERROR;
    break;
  case OP_ADD:
    for (txn_part *p = t->parts; p != NULL; p = p->next) {
      if (strcmp(p->name, op->partition) == 0) {
        p->state = err == PULSARC_OK ? PT_ADDED : PT_FAILED;
        p->err = err;
      }
    }
    break;
  case OP_END:
    if (err == PULSARC_OK) {
      t->state = op->commit ? TS_COMMITTED : TS_ABORTED;
      err = op->final_err;
    } else {
      t->state = TS_ERROR;
    }
    break;
  }
  pthread_mutex_unlock(&t->mu);
  if (err != PULSARC_OK && op->kind != OP_ADD)
    PC_WARN(&op->tc->client->conf.logger, "transaction %llu:%llu: %s failed: %s",
            (unsigned long long)t->most, (unsigned long long)t->least, op_name(op),
            pulsarc_err_str(err));
  if (op->prev != NULL)
    op->prev->next = op->next;
  else if (op->tc->ops == op)
    op->tc->ops = op->next;
  if (op->next != NULL)
    op->next->prev = op->prev;
  if (op->done != NULL)
    op->done(err, NULL, op->done_ctx);
  txn_unref(t);
  free(op);
}

/* Errors worth another round: the connection or the coordinator's state. */
static bool op_retryable(pulsarc_err_t err) {
  return err == PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND || pc_err_retryable(err);
}

static void op_timer(pc_loop *loop, pc_timer *t) {
  (void)loop;
  op_run(t->ctx);
}

/* [loop] */
static void op_retry(pc_txn_op *op, pulsarc_err_t err) {
  op->conn = NULL;
  uint64_t now = pc_mono_ns();
  if (!op_retryable(err) || now >= op->deadline_ns) {
    op_finish(op, err);
    return;
  }
  if (op->tc->n > 0 && op->tc_id < (uint64_t)op->tc->n) {
    tc_node *node = &op->tc->nodes[op->tc_id];
    node->located = false; /* look the coordinator up again: it may have moved */
    node->hello_conn = NULL;
  }
  PC_INFO(&op->tc->client->conf.logger, "transaction coordinator %llu: %s: %s; retrying",
          (unsigned long long)op->tc_id, op_name(op), pulsarc_err_str(err));
  op->hello = false;
  uint64_t delay = op->backoff_ms * 1000000ull;
  if (now + delay > op->deadline_ns)
    delay = op->deadline_ns - now;
  op->backoff_ms = op->backoff_ms * 2 > 1000 ? 1000 : op->backoff_ms * 2;
  pc_timer_start(op->tc->loop, &op->timer, delay);
}

static pulsarc_err_t error_of(const pc_frame *f) {
  if (f->cmd->type == PULSARC__BASE_COMMAND__TYPE__ERROR)
    return f->cmd->error ? pc_server_error(f->cmd->error->error) : PULSARC_ERR_PROTOCOL;
  uint64_t rid;
  int e;
  const char *msg;
  if (!pc_cmd_txn_response(f->cmd, &rid, &e, &msg))
    return PULSARC_ERR_PROTOCOL;
  if (e != 0 && msg != NULL)
    pc_err_detail_set("the transaction coordinator answered: %s", msg);
  return e == 0 ? PULSARC_OK : pc_server_error(e - 1);
}

static void op_send(pc_txn_op *op);

/* [loop] */
static bool on_response(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx) {
  pc_txn_op *op = ctx;
  if (err != PULSARC_OK) {
    /* Not answered in time: the request may have been applied, so it is
     * not sent again blindly. */
    if (err == PULSARC_ERR_TIMEOUT)
      op_finish(op, PULSARC_ERR_TIMEOUT);
    else
      op_retry(op, err);
    return false;
  }
  err = error_of(f);
  if (err != PULSARC_OK) {
    op_retry(op, err);
    return false;
  }
  if (op->hello) {
    op->hello = false;
    op->tc->nodes[op->tc_id].hello_conn = c;
    op_send(op);
    return false;
  }
  if (op->kind == OP_NEW) {
    const Pulsarc__CommandNewTxnResponse *r = f->cmd->new_txn_response;
    pthread_mutex_lock(&op->txn->mu);
    op->txn->most = r->txnid_most_bits;
    op->txn->least = r->txnid_least_bits;
    pthread_mutex_unlock(&op->txn->mu);
  }
  op_finish(op, PULSARC_OK);
  return false;
}

/* [loop] Sends the op's request (or first the TC_CLIENT_CONNECT) on op->conn. */
static void op_send(pc_txn_op *op) {
  pc_conn *conn = op->conn;
  tc_node *node = &op->tc->nodes[op->tc_id];
  pulsarc_txn_t *t = op->txn;
  op->request_id = pc_conn_next_request_id(conn);
  pc_cmd cmd;
  Pulsarc__BaseCommand *req;
  if (pc_conn_protocol_version(conn) >= 19 && node->hello_conn != conn) {
    op->hello = true;
    req = pc_cmd_tc_client_connect(&cmd, op->request_id, op->tc_id);
  } else if (op->kind == OP_NEW) {
    req = pc_cmd_new_txn(&cmd, op->request_id, t->ttl_ms, op->tc_id);
  } else if (op->kind == OP_ADD) {
    req = pc_cmd_add_partition_to_txn(&cmd, op->request_id, t->most, t->least, op->partition);
  } else {
    req = pc_cmd_end_txn(&cmd, op->request_id, t->most, t->least, op->commit);
  }
  PC_DEBUG(&op->tc->client->conf.logger, "transaction coordinator %llu: sending %s to %s",
           (unsigned long long)op->tc_id, op_name(op), pc_conn_peer(conn));
  if (pc_conn_request(conn, req, op->request_id, op->tc->client->conf.operation_timeout_ms,
                      on_response, op) != 0)
    op_retry(op, PULSARC_ERR_DISCONNECTED);
}

static void on_conn(pc_conn *conn, pulsarc_err_t err, void *ctx) {
  pc_txn_op *op = ctx;
  op->pool_req = NULL;
  if (conn == NULL) {
    op_retry(op, err == PULSARC_OK ? PULSARC_ERR_CONNECT : err);
    return;
  }
  op->conn = conn;
  op_send(op);
}

/* [loop] */
static void op_connect(pc_txn_op *op) {
  tc_node *node = &op->tc->nodes[op->tc_id];
  pulsarc_client_t *c = op->tc->client;
  char proxy_to[300];
  const pc_host_port *target = &node->hp;
  const char *proxy = NULL;
  if (node->proxy) {
    snprintf(proxy_to, sizeof proxy_to, "%s:%u", node->hp.host, node->hp.port);
    proxy = proxy_to;
    target = &node->via;
  }
  if (pc_pool_get(c->pools[0], target, proxy, on_conn, op, &op->pool_req) != 0)
    op_finish(op, PULSARC_ERR_NO_MEMORY);
}

static void on_lookup(pulsarc_err_t err, const pc_lookup_result *res, void *ctx) {
  pc_txn_op *op = ctx;
  op->lookup = NULL;
  if (err != PULSARC_OK) {
    op_retry(op, err);
    return;
  }
  tc_node *node = &op->tc->nodes[op->tc_id];
  node->located = true;
  node->hp = res->broker;
  node->proxy = res->proxy;
  node->via = res->via;
  op_connect(op);
}

static void on_meta(pulsarc_err_t err, const pc_lookup_result *res, void *ctx) {
  pc_txn_op *op = ctx;
  op->lookup = NULL;
  if (err != PULSARC_OK) {
    op_retry(op, err);
    return;
  }
  pc_tc *tc = op->tc;
  if (tc->n < 0) {
    if (res->partitions <= 0) {
      pc_err_detail_set("%s has no partitions: the cluster runs no transaction coordinator "
                        "(transactionCoordinatorEnabled=false?)",
                        PC_TC_ASSIGN_TOPIC);
      op_finish(op, PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND);
      return;
    }
    tc->nodes = calloc((size_t)res->partitions, sizeof *tc->nodes);
    if (tc->nodes == NULL) {
      op_finish(op, PULSARC_ERR_NO_MEMORY);
      return;
    }
    tc->n = res->partitions;
  }
  op_run(op);
}

/* [loop] One round of the op: whatever step is missing first. */
static void op_run(pc_txn_op *op) {
  pc_tc *tc = op->tc;
  pulsarc_client_t *c = tc->client;
  if (tc->n < 0) {
    op->lookup = pc_lookup_partitions(c, tc->loop, PC_TC_ASSIGN_TOPIC, on_meta, op);
    if (op->lookup == NULL)
      op_finish(op, PULSARC_ERR_NO_MEMORY);
    return;
  }
  if (op->kind == OP_NEW && op->tc_id == UINT64_MAX)
    op->tc_id = tc->rr++ % (uint64_t)tc->n;
  if (op->tc_id >= (uint64_t)tc->n) {
    pc_err_detail_set("transaction coordinator %llu is not one of the cluster's %d",
                      (unsigned long long)op->tc_id, tc->n);
    op_finish(op, PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND);
    return;
  }
  if (!tc->nodes[op->tc_id].located) {
    char topic[PC_TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s-partition-%llu", PC_TC_ASSIGN_TOPIC,
             (unsigned long long)op->tc_id);
    op->lookup = pc_lookup_topic(c, tc->loop, topic, on_lookup, op);
    if (op->lookup == NULL)
      op_finish(op, PULSARC_ERR_NO_MEMORY);
    return;
  }
  op_connect(op);
}

static void op_start_task(pc_loop *loop, void *arg) {
  (void)loop;
  pc_txn_op *op = arg;
  op->deadline_ns = pc_mono_ns() + op->tc->client->conf.operation_timeout_ms * 1000000ull;
  op->next = op->tc->ops;
  if (op->next != NULL)
    op->next->prev = op;
  op->tc->ops = op;
  op_run(op);
}

/* An op for txn (takes a reference), to start with op_post or from a task
 * on the coordinator loop. NULL if out of memory (nothing taken). */
static pc_txn_op *op_new(pc_tc *tc, pulsarc_txn_t *t, enum op_kind kind, pulsarc_send_cb done,
                         void *done_ctx) {
  pc_txn_op *op = calloc(1, sizeof *op);
  if (op == NULL)
    return NULL;
  op->tc = tc;
  op->txn = t;
  op->kind = kind;
  op->tc_id = UINT64_MAX;
  op->backoff_ms = 100;
  op->done = done;
  op->done_ctx = done_ctx;
  pc_timer_init(&op->timer, op_timer, op);
  atomic_fetch_add(&t->refs, 1);
  return op;
}

/* Starts op on the coordinator loop; on failure frees it and drops its
 * reference. */
static pulsarc_err_t op_post(pc_txn_op *op) {
  if (pc_loop_post(op->tc->loop, op_start_task, op) != 0) {
    txn_unref(op->txn);
    free(op);
    return PULSARC_ERR_NO_MEMORY;
  }
  return PULSARC_OK;
}

/* ----------------------------------------------------------- public API */

pulsarc_err_t pulsarc_txn_begin_async(pulsarc_client_t *client, int64_t timeout_ms,
                                      pulsarc_txn_t **out, pulsarc_future_t **future) {
  if (client == NULL || out == NULL || future == NULL || timeout_ms < 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_tc *tc = tc_of(client);
  if (tc == NULL)
    return PULSARC_ERR_CLOSED;
  pulsarc_txn_t *t = calloc(1, sizeof *t);
  pulsarc_future_t *f = pc_future_new();
  if (t == NULL || f == NULL) {
    free(t);
    free(f);
    return PULSARC_ERR_NO_MEMORY;
  }
  t->client = client;
  atomic_init(&t->refs, 1);
  t->ttl_ms = timeout_ms > 0 ? (uint64_t)timeout_ms : client->conf.transaction_timeout_ms;
  pthread_mutex_init(&t->mu, NULL);
  t->state = TS_BEGINNING;
  pc_txn_op *op = op_new(tc, t, OP_NEW, pc_future_complete, f);
  if (op == NULL || op_post(op) != PULSARC_OK) { /* op_post freed op */
    txn_unref(t);
    free(f);
    return PULSARC_ERR_NO_MEMORY;
  }
  *out = t;
  *future = f;
  return PULSARC_OK;
}

pulsarc_err_t pulsarc_txn_begin(pulsarc_client_t *client, int64_t timeout_ms, pulsarc_txn_t **out) {
  if (out == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  if (pc_on_library_thread())
    return PULSARC_ERR_WRONG_THREAD;
  pulsarc_txn_t *t;
  pulsarc_future_t *f;
  pulsarc_err_t err = pulsarc_txn_begin_async(client, timeout_ms, &t, &f);
  if (err != PULSARC_OK)
    return err;
  err = pulsarc_future_wait(f, -1, NULL);
  pulsarc_future_destroy(f);
  if (err != PULSARC_OK) {
    pulsarc_txn_destroy(t);
    return err;
  }
  *out = t;
  return PULSARC_OK;
}

/* [loop] The end op, once no send of the transaction is pending. */
static void end_go(pc_loop *loop, void *arg) {
  (void)loop;
  pc_txn_op *op = arg;
  pulsarc_txn_t *t = op->txn;
  pthread_mutex_lock(&t->mu);
  if (op->commit && t->failed > 0) {
    pc_err_detail_set("%u send(s) of transaction %llu:%llu failed: aborted instead of committed",
                      t->failed, (unsigned long long)t->most, (unsigned long long)t->least);
    op->commit = false;
    op->final_err = PULSARC_ERR_TXN_SEND_FAILED;
  }
  op->tc_id = t->most;
  pthread_mutex_unlock(&t->mu);
  op_start_task(loop, op);
}

static void end_start(pc_loop *loop, void *arg) {
  pc_txn_op *op = arg;
  pulsarc_txn_t *t = op->txn;
  pthread_mutex_lock(&t->mu);
  if (t->state != TS_OPEN) {
    pthread_mutex_unlock(&t->mu);
    pc_err_detail_set("the transaction is not open (begun and neither committed nor aborted)");
    op->done(PULSARC_ERR_INVALID_ARGUMENT, NULL, op->done_ctx);
    txn_unref(t);
    free(op);
    return;
  }
  t->state = TS_ENDING;
  bool wait = t->pending > 0;
  if (wait)
    t->end_waiting = op;
  pthread_mutex_unlock(&t->mu);
  if (!wait)
    end_go(loop, op);
}

static pulsarc_err_t end_async(pulsarc_txn_t *t, bool commit, pulsarc_future_t **future) {
  if (t == NULL || future == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pc_tc *tc = tc_of(t->client);
  if (tc == NULL)
    return PULSARC_ERR_CLOSED;
  pulsarc_future_t *f = pc_future_new();
  if (f == NULL)
    return PULSARC_ERR_NO_MEMORY;
  pc_txn_op *op = op_new(tc, t, OP_END, pc_future_complete, f);
  if (op == NULL) {
    free(f);
    return PULSARC_ERR_NO_MEMORY;
  }
  op->commit = commit;
  if (pc_loop_post(tc->loop, end_start, op) != 0) {
    txn_unref(t);
    free(op);
    free(f);
    return PULSARC_ERR_NO_MEMORY;
  }
  *future = f;
  return PULSARC_OK;
}

static pulsarc_err_t end_sync(pulsarc_txn_t *t, bool commit) {
  if (pc_on_library_thread())
    return PULSARC_ERR_WRONG_THREAD;
  pulsarc_future_t *f;
  pulsarc_err_t err = end_async(t, commit, &f);
  if (err != PULSARC_OK)
    return err;
  err = pulsarc_future_wait(f, -1, NULL);
  pulsarc_future_destroy(f);
  return err;
}

pulsarc_err_t pulsarc_txn_commit_async(pulsarc_txn_t *t, pulsarc_future_t **future) {
  return end_async(t, true, future);
}
pulsarc_err_t pulsarc_txn_abort_async(pulsarc_txn_t *t, pulsarc_future_t **future) {
  return end_async(t, false, future);
}
pulsarc_err_t pulsarc_txn_commit(pulsarc_txn_t *t) { return end_sync(t, true); }
pulsarc_err_t pulsarc_txn_abort(pulsarc_txn_t *t) { return end_sync(t, false); }

pulsarc_err_t pulsarc_txn_id(const pulsarc_txn_t *txn, uint64_t *most, uint64_t *least) {
  if (txn == NULL || most == NULL || least == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  pulsarc_txn_t *t = (pulsarc_txn_t *)txn;
  pthread_mutex_lock(&t->mu);
  bool known = t->state != TS_BEGINNING && !(t->state == TS_ERROR && t->most == 0 && t->least == 0);
  *most = t->most;
  *least = t->least;
  pthread_mutex_unlock(&t->mu);
  return known ? PULSARC_OK : PULSARC_ERR_INVALID_ARGUMENT;
}

void pulsarc_txn_destroy(pulsarc_txn_t *t) {
  if (t != NULL)
    txn_unref(t);
}

/* ------------------------------------------------------ for producers */

pulsarc_err_t pc_txn_enter(pulsarc_txn_t *t) {
  pthread_mutex_lock(&t->mu);
  int state = t->state;
  if (state == TS_OPEN) {
    t->pending++;
    atomic_fetch_add(&t->refs, 1);
  }
  pthread_mutex_unlock(&t->mu);
  if (state == TS_OPEN)
    return PULSARC_OK;
  pc_err_detail_set(state == TS_BEGINNING ? "the transaction is not begun yet (wait for "
                                            "pulsarc_txn_begin_async's future)"
                                          : "the transaction is no longer open (committed, "
                                            "aborted, ending or failed)");
  return PULSARC_ERR_INVALID_ARGUMENT;
}

void pc_txn_leave(pulsarc_txn_t *t, pulsarc_err_t err, bool counted) {
  pthread_mutex_lock(&t->mu);
  t->pending--;
  if (counted && err != PULSARC_OK)
    t->failed++;
  pc_txn_op *go = t->pending == 0 ? t->end_waiting : NULL;
  if (go != NULL)
    t->end_waiting = NULL;
  pthread_mutex_unlock(&t->mu);
  if (go != NULL && pc_loop_post(go->tc->loop, end_go, go) != 0) {
    /* Nothing else would ever end it: fail the commit or abort. */
    go->done(PULSARC_ERR_NO_MEMORY, NULL, go->done_ctx);
    txn_unref(t);
    free(go);
  }
  txn_unref(t);
}

void pc_txn_get_id(const pulsarc_txn_t *t, uint64_t *most, uint64_t *least) {
  /* Written before the state became open, under the mutex that
   * pc_txn_enter took since. */
  *most = t->most;
  *least = t->least;
}

int pc_txn_partition(pulsarc_txn_t *t, const char *partition, pulsarc_err_t *err) {
  pthread_mutex_lock(&t->mu);
  txn_part *p = t->parts;
  while (p != NULL && strcmp(p->name, partition) != 0)
    p = p->next;
  if (p != NULL) {
    int r = p->state == PT_ADDED ? 1 : p->state == PT_ADDING ? 0 : -1;
    *err = p->err;
    pthread_mutex_unlock(&t->mu);
    return r;
  }
  size_t len = strlen(partition) + 1;
  p = malloc(sizeof *p + len);
  pc_tc *tc = tc_of(t->client);
  pc_txn_op *op = p != NULL && tc != NULL ? op_new(tc, t, OP_ADD, NULL, NULL) : NULL;
  if (op == NULL) {
    pthread_mutex_unlock(&t->mu);
    free(p);
    *err = tc == NULL ? PULSARC_ERR_CLOSED : PULSARC_ERR_NO_MEMORY;
    return -1;
  }
  memcpy(p->name, partition, len);
  p->state = PT_ADDING;
  p->err = PULSARC_OK;
  p->next = t->parts;
  t->parts = p;
  op->tc_id = t->most;
  snprintf(op->partition, sizeof op->partition, "%s", partition);
  pthread_mutex_unlock(&t->mu);
  if (op_post(op) != PULSARC_OK) {
    pthread_mutex_lock(&t->mu);
    p->state = PT_FAILED;
    p->err = PULSARC_ERR_NO_MEMORY;
    pthread_mutex_unlock(&t->mu);
    *err = PULSARC_ERR_NO_MEMORY;
    return -1;
  }
  return 0;
}

void pc_tc_free(pc_tc *tc) {
  if (tc == NULL)
    return;
  /* The loops are gone: whatever an op waited for will never answer. */
  while (tc->ops != NULL) {
    pc_txn_op *op = tc->ops;
    tc->ops = op->next;
    op->prev = NULL;
    op->next = NULL;
    pc_txn_op *keep = tc->ops;
    op_finish(op, PULSARC_ERR_CLOSED);
    tc->ops = keep;
  }
  free(tc->nodes);
  free(tc);
}
