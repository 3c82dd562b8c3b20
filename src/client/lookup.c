/* Service discovery: PARTITIONED_METADATA and LOOKUP against the service URL,
 * following redirects. Everything here runs on the requesting producer's
 * loop. An op frees itself after its callback (or after a cancel). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "codec/commands.h"

enum op_kind { OP_PARTITIONS, OP_LOOKUP };

struct pc_lookup_op {
  pulsarc_client_t *client;
  pc_loop *loop;
  pc_pool *pool;
  enum op_kind kind;
  char topic[PC_TOPIC_MAX];
  pc_lookup_cb cb;
  void *ctx;
  int service_index; /* service host in use */
  int service_tried; /* how many service hosts failed to connect */
  int redirects;
  bool authoritative;
  bool at_service; /* target is the service host (not a redirect) */
  pc_host_port target;
  pc_pool_req *pool_req;
  pc_conn *conn; /* where the request is outstanding */
  uint64_t request_id;
  bool cancelled;
};

/* The broker range is PULSARC_ERR_BROKER_BASE + ServerError, so codes a later
 * broker adds still map to a stable number of their own. */
pulsarc_err_t pc_server_error(int code) {
  if (code < 0 || code > PULSARC_ERR_BROKER_LAST - PULSARC_ERR_BROKER_BASE)
    return PULSARC_ERR_BROKER_UNKNOWN;
  return (pulsarc_err_t)(PULSARC_ERR_BROKER_BASE + code);
}

/* Connecting, looking up and registering are retried for exactly the errors
 * an application could retry (pulsarc_err_is_retriable), less the outcomes
 * of a send or a wait, which no connection attempt produces. One policy, so
 * the two cannot drift. */
bool pc_err_retryable(pulsarc_err_t err) {
  switch (err) {
  case PULSARC_ERR_QUEUE_FULL:
  case PULSARC_ERR_MEMORY_LIMIT:
  case PULSARC_ERR_WAIT_TIMEOUT:
  case PULSARC_ERR_TIMEOUT_UNCONFIRMED:
    return false;
  default:
    return pulsarc_err_is_retriable(err);
  }
}

static void finish(pc_lookup_op *op, pulsarc_err_t err, const pc_lookup_result *res) {
  if (err != PULSARC_OK && op->kind == OP_LOOKUP && !op->cancelled)
    pc_stat_add(&pc_loop_counters_of(op->loop)->lookups_failed, 1);
  if (!op->cancelled)
    op->cb(err, res, op->ctx);
  free(op);
}

static void send_request(pc_lookup_op *op);

static void got_conn(pc_conn *conn, pulsarc_err_t err, void *ctx) {
  pc_lookup_op *op = ctx;
  op->pool_req = NULL;
  if (op->cancelled) {
    free(op);
    return;
  }
  if (conn == NULL) {
    /* A service host that cannot be reached: try the next one. */
    if (op->at_service && ++op->service_tried < op->client->service.count) {
      op->service_index = (op->service_index + 1) % op->client->service.count;
      op->target = op->client->service.hosts[op->service_index];
      if (pc_pool_get(op->pool, &op->target, NULL, got_conn, op, &op->pool_req) != 0)
        finish(op, PULSARC_ERR_NO_MEMORY, NULL);
      return;
    }
    /* No connection: a peer that hung up during the handshake failed it. */
    finish(op, err == PULSARC_OK || err == PULSARC_ERR_DISCONNECTED ? PULSARC_ERR_CONNECT : err,
           NULL);
    return;
  }
  op->conn = conn;
  send_request(op);
}

static void go_to(pc_lookup_op *op, const pc_host_port *hp, bool at_service) {
  op->target = *hp;
  op->at_service = at_service;
  op->conn = NULL;
  if (pc_pool_get(op->pool, hp, NULL, got_conn, op, &op->pool_req) != 0)
    finish(op, PULSARC_ERR_NO_MEMORY, NULL);
}

static pulsarc_err_t error_of(const pc_frame *f) {
  Pulsarc__CommandError *e = f->cmd->error;
  return e ? pc_server_error(e->error) : PULSARC_ERR_PROTOCOL;
}

static bool on_partitions(pc_lookup_op *op, const pc_frame *f) {
  if (f->cmd->type == PULSARC__BASE_COMMAND__TYPE__ERROR) {
    finish(op, error_of(f), NULL);
    return false;
  }
  Pulsarc__CommandPartitionedTopicMetadataResponse *r = f->cmd->partition_metadata_response;
  if (r == NULL) {
    finish(op, PULSARC_ERR_PROTOCOL, NULL);
    return false;
  }
  if (r->has_response &&
      r->response == PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__LOOKUP_TYPE__Failed) {
    finish(op, r->has_error ? pc_server_error(r->error) : PULSARC_ERR_LOOKUP, NULL);
    return false;
  }
  pc_lookup_result res = {.partitions = r->has_partitions ? (int)r->partitions : 0};
  finish(op, PULSARC_OK, &res);
  return false;
}

static bool on_lookup(pc_lookup_op *op, const pc_frame *f) {
  if (f->cmd->type == PULSARC__BASE_COMMAND__TYPE__ERROR) {
    finish(op, error_of(f), NULL);
    return false;
  }
  Pulsarc__CommandLookupTopicResponse *r = f->cmd->lookup_topic_response;
  if (r == NULL || !r->has_response) {
    finish(op, PULSARC_ERR_PROTOCOL, NULL);
    return false;
  }
  if (r->response == PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Failed) {
    finish(op, r->has_error ? pc_server_error(r->error) : PULSARC_ERR_LOOKUP, NULL);
    return false;
  }
  const char *url = op->client->service.tls ? r->broker_service_url_tls : r->broker_service_url;
  pc_host_port hp;
  if (url == NULL ||
      pc_host_port_parse(url, op->client->service.tls ? 6651 : 6650, &hp) != PULSARC_OK) {
    PC_WARN(&op->client->conf.logger, "lookup of %s answered an unusable broker URL \"%s\"",
            op->topic, url ? url : "(none)");
    finish(op, PULSARC_ERR_PROTOCOL, NULL);
    return false;
  }
  if (r->response == PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Redirect) {
    if (++op->redirects > op->client->conf.max_lookup_redirects) {
      finish(op, PULSARC_ERR_TOO_MANY_REDIRECTS, NULL);
      return false;
    }
    op->authoritative = r->has_authoritative && r->authoritative;
    PC_DEBUG(&op->client->conf.logger, "lookup of %s redirected to %s:%u", op->topic, hp.host,
             hp.port);
    if (r->has_proxy_through_service_url && r->proxy_through_service_url) {
      /* Redirects through a proxy keep asking the service host. */
      go_to(op, &op->client->service.hosts[op->service_index], true);
    } else {
      go_to(op, &hp, false);
    }
    return false;
  }
  pc_lookup_result res = {.broker = hp};
  if (r->has_proxy_through_service_url && r->proxy_through_service_url) {
    res.proxy = true;
    res.via = op->client->service.hosts[op->service_index];
  }
  finish(op, PULSARC_OK, &res);
  return false;
}

static bool on_response(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx) {
  (void)c;
  pc_lookup_op *op = ctx;
  op->conn = NULL;
  if (err != PULSARC_OK) {
    finish(op, err == PULSARC_ERR_TIMEOUT ? PULSARC_ERR_LOOKUP_TIMEOUT : err, NULL);
    return false;
  }
  return op->kind == OP_PARTITIONS ? on_partitions(op, f) : on_lookup(op, f);
}

static void send_request(pc_lookup_op *op) {
  /* The cluster tests count these to show a transfer needed no lookup. */
  PC_DEBUG(&op->client->conf.logger, "sending %s for %s to %s:%u",
           op->kind == OP_PARTITIONS ? "PARTITIONED_METADATA" : "LOOKUP", op->topic,
           op->target.host, op->target.port);
  op->request_id = pc_conn_next_request_id(op->conn);
  pc_cmd cmd;
  Pulsarc__BaseCommand *req =
      op->kind == OP_PARTITIONS ? pc_cmd_partitioned_metadata(&cmd, op->topic, op->request_id)
                                : pc_cmd_lookup(&cmd, op->topic, op->request_id, op->authoritative);
  pc_loop_counters *ctr = pc_loop_counters_of(op->loop);
  pc_stat_add(op->kind == OP_PARTITIONS ? &ctr->partition_metadata : &ctr->lookups, 1);
  if (pc_conn_request(op->conn, req, op->request_id, op->client->conf.operation_timeout_ms,
                      on_response, op) != 0) {
    op->conn = NULL;
    finish(op, PULSARC_ERR_DISCONNECTED, NULL);
  }
}

static void begin(pc_loop *loop, void *arg) {
  (void)loop;
  pc_lookup_op *op = arg;
  if (op->cancelled) {
    free(op);
    return;
  }
  go_to(op, &op->client->service.hosts[op->service_index], true);
}

static pc_pool *pool_of(pulsarc_client_t *client, pc_loop *loop) {
  return client->pools[pc_loop_index(loop)];
}

static pc_lookup_op *start(pulsarc_client_t *client, pc_loop *loop, const char *topic,
                           enum op_kind kind, pc_lookup_cb cb, void *ctx) {
  pc_lookup_op *op = calloc(1, sizeof *op);
  if (op == NULL)
    return NULL;
  op->client = client;
  op->loop = loop;
  op->pool = pool_of(client, loop);
  op->kind = kind;
  snprintf(op->topic, sizeof op->topic, "%s", topic);
  op->cb = cb;
  op->ctx = ctx;
  /* Spread lookups over the service hosts. */
  op->service_index = (int)(atomic_load(&client->next_loop) % (uint32_t)client->service.count);
  /* Start from a task so the callback never runs before the caller has
   * stored the op. */
  if (pc_loop_post(loop, begin, op) != 0) {
    free(op);
    return NULL;
  }
  return op;
}

pc_lookup_op *pc_lookup_partitions(pulsarc_client_t *client, pc_loop *loop, const char *topic,
                                   pc_lookup_cb cb, void *ctx) {
  return start(client, loop, topic, OP_PARTITIONS, cb, ctx);
}

pc_lookup_op *pc_lookup_topic(pulsarc_client_t *client, pc_loop *loop, const char *topic,
                              pc_lookup_cb cb, void *ctx) {
  return start(client, loop, topic, OP_LOOKUP, cb, ctx);
}

void pc_lookup_cancel(pc_lookup_op *op) {
  /* The op may be waiting for a pool connection or a response; either way
   * its callback fires later and frees it silently. */
  op->cancelled = true;
  if (op->pool_req != NULL) {
    pc_pool_cancel(op->pool, op->pool_req);
    free(op);
    return;
  }
  if (op->conn != NULL) {
    pc_conn_request_cancel(op->conn, op->request_id);
    free(op);
  }
}

pulsarc_err_t pc_lookup_stage(const pc_lookup_op *op, char *what, size_t len) {
  if (op->pool_req != NULL)
    return pc_pool_req_stage(op->pool, op->pool_req, what, len);
  const char *kind = op->kind == OP_PARTITIONS ? "partitioned metadata" : "lookup";
  if (op->conn != NULL)
    snprintf(what, len, "waiting for the %s answer from %s", kind, pc_conn_peer(op->conn));
  else
    snprintf(what, len, "%s not sent yet", kind);
  return PULSARC_ERR_LOOKUP_TIMEOUT;
}
