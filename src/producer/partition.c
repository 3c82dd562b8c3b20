/* The partition state machine on the producer's I/O thread:
 *   INIT -> LOOKUP -> CONNECTING -> REGISTERING (-> WAITING) -> READY
 *   any of them <-> BACKOFF (lost broker, retryable error), -> FAILED;
 *   READY -> CLOSING -> CLOSED at close.
 * Every way out goes through pc_part_detach. Failing the producer as a whole
 * is here too: it is every partition going to FAILED. [loop] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/commands.h"
#include "common/clock.h"
#include "common/prng.h"
#include "producer/arena.h"
#include "producer/pipeline.h"

#define MS (1000000ull)

static const pc_logger *logger(pulsarc_producer_t *p) { return &p->client->conf.logger; }

/* Startup delay plus random jitter (spreads reconnect storms). */
uint64_t pc_producer_start_delay_ms(pulsarc_producer_t *p) {
  uint64_t d = p->conf.startup_delay_ms;
  if (p->conf.startup_jitter_ms > 0)
    d += pc_prng_below(&p->client->prng, (uint64_t)p->conf.startup_jitter_ms + 1);
  return d;
}

static void part_lookup(pc_part *part);

/* ----------------------------------------------------------------- state */

/* What the application sees of a partition in state s (-1: nothing new). */
static int told_state(const pc_part *part, pc_part_state s, pulsarc_err_t why) {
  switch (s) {
  case PS_LOOKUP:
  case PS_CONNECTING:
  case PS_REGISTERING:
  case PS_WAITING:
    return part->created_once ? PULSARC_PRODUCER_RECONNECTING : PULSARC_PRODUCER_CONNECTING;
  case PS_READY:
    return PULSARC_PRODUCER_READY;
  case PS_BACKOFF:
    /* A first creation's failed attempts are still "connecting". */
    return part->created_once ? PULSARC_PRODUCER_DISCONNECTED : PULSARC_PRODUCER_CONNECTING;
  case PS_FAILED:
    return why == PULSARC_ERR_BROKER_PRODUCER_FENCED    ? PULSARC_PRODUCER_FENCED
           : why == PULSARC_ERR_BROKER_TOPIC_TERMINATED ? PULSARC_PRODUCER_TERMINATED
                                                        : PULSARC_PRODUCER_FAILED;
  case PS_CLOSED:
    return PULSARC_PRODUCER_CLOSED;
  case PS_INIT:
  case PS_CLOSING:
    break;
  }
  return -1;
}

void pc_part_set_state(pc_part *part, pc_part_state state, pulsarc_err_t why) {
  pulsarc_producer_t *p = part->p;
  bool was_ready = part->state == PS_READY;
  part->state = state;
  if (was_ready != (state == PS_READY))
    atomic_fetch_add_explicit(&p->parts_ready, state == PS_READY ? 1 : -1, memory_order_acq_rel);
  int told = told_state(part, state, why);
  if (told < 0 || told == part->told)
    return;
  part->told = told;
  /* Only the states a failure leads to carry a reason. */
  bool has_reason = told != PULSARC_PRODUCER_CONNECTING && told != PULSARC_PRODUCER_READY &&
                    told != PULSARC_PRODUCER_RECONNECTING && told != PULSARC_PRODUCER_CLOSED;
  if (p->conf.state_cb != NULL && !p->destroyed)
    p->conf.state_cb(p, part->index, (pulsarc_producer_state_t)told, has_reason ? why : PULSARC_OK,
                     p->conf.state_ctx);
}

/* ------------------------------------------------------------- readiness */

void pc_producer_report_ready(pulsarc_producer_t *p, pulsarc_err_t err) {
  if (p->ready_reported || p->destroyed)
    return;
  p->ready_reported = true;
  if (err != PULSARC_OK) {
    /* The callback (and the blocking create behind it) reads this. */
    if (p->fail_detail[0] != '\0')
      pc_err_detail_copy(p->fail_detail);
    else
      pc_err_detail_set("producer on %s not created: %s", p->topic, pulsarc_err_str(err));
  }
  if (p->ready_cb != NULL)
    p->ready_cb(p, err, p->ready_ctx);
}

/* ------------------------------------------------------------- detaching */

bool pc_part_registered(const pc_part *part) {
  return part->state == PS_READY || part->state == PS_WAITING || part->state == PS_REGISTERING;
}

/* [loop] The one way a partition lets go of what it holds outside itself:
 * its request and registration on the connection (frames queued there are
 * taken back, for a resend elsewhere), its lookup, its pool request and its
 * timers. Fail, reconnect, close and destroy all go through here, so none
 * of them can leave a callback armed that would bring the partition back. */
void pc_part_detach(pc_part *part, int how) {
  pulsarc_producer_t *p = part->p;
  if (part->conn != NULL && !(how & PD_KEEP_CONN)) {
    pc_conn *c = part->conn;
    pc_conn_request_cancel(c, part->request_id);
    if ((how & PD_GOODBYE) && pc_part_registered(part)) {
      pc_cmd cmd;
      (void)pc_conn_send_command(
          c, pc_cmd_close_producer(&cmd, part->producer_id, pc_conn_next_request_id(c)));
    }
    pc_conn_detach_producer(c, part->producer_id);
    /* The connection may live on (broker-side close): take back frames it
     * has not started, so the resend on the next connection has them. */
    for (pc_entry *e = part->pending_head; e != NULL; e = e->next)
      if (e->in_conn && e->conn == c)
        pc_conn_withdraw(c, &e->wref);
    part->conn = NULL;
  }
  if (part->lookup != NULL) {
    pc_lookup_cancel(part->lookup);
    part->lookup = NULL;
  }
  if (part->pool_req != NULL) {
    pc_pool_cancel(p->client->pools[pc_loop_index(p->loop)], part->pool_req);
    part->pool_req = NULL;
  }
  pc_timer_cancel(p->loop, &part->timer);
  if (how & PD_FINAL) {
    pc_timer_cancel(p->loop, &part->create_timer);
    pc_timer_cancel(p->loop, &part->batch_timer);
  }
}

void pc_producer_fail(pulsarc_producer_t *p, pulsarc_err_t err, const char *detail) {
  int expected = atomic_load(&p->app_state);
  if (expected == PC_APP_FAILED)
    return;
  /* Only creation reads it: once ready was reported it stays as it is. */
  if (!p->ready_reported) {
    if (detail != NULL)
      snprintf(p->fail_detail, sizeof p->fail_detail, "%s", detail);
    else if (pulsarc_last_error_text()[0] != '\0')
      /* A connection's close is being reported on this thread: its sentence
       * (TLS rejection, missing credentials, ...) is the reason. */
      snprintf(p->fail_detail, sizeof p->fail_detail, "%s", pulsarc_last_error_text());
    else
      snprintf(p->fail_detail, sizeof p->fail_detail, "producer on %.300s failed: %s", p->topic,
               pulsarc_err_str(err));
  }
  atomic_store(&p->fail_err, (int)err);
  atomic_store(&p->app_state, PC_APP_FAILED);
  PC_ERROR(logger(p), "producer on %.300s failed: %s", p->topic,
           detail != NULL ? detail : pulsarc_err_str(err));
  if (p->meta_lookup != NULL) {
    pc_lookup_cancel(p->meta_lookup);
    p->meta_lookup = NULL;
  }
  pc_timer_cancel(p->loop, &p->start_timer);
  pc_timer_cancel(p->loop, &p->create_timer);
  pc_timer_cancel(p->loop, &p->update_timer);
  for (int i = 0; i < p->nparts; i++) {
    pc_part *part = p->parts[i];
    pc_part_detach(part, PD_GOODBYE | PD_FINAL);
    pc_part_set_state(part, PS_FAILED, err);
    pc_part_fail_all(part, err);
  }
  for (size_t i = 0; i < p->unrouted.n; i++)
    pc_msg_complete(p, pc_fifo_at(&p->unrouted, i), err, NULL);
  p->unrouted.n = 0;
  pc_producer_report_ready(p, err);
  pc_producer_check_flushes(p);
}

/* [loop] First creation ran out of the operation timeout. */
static void creation_timed_out(pc_part *part) {
  char detail[PC_ERR_DETAIL_MAX];
  pulsarc_err_t err = pc_part_creation_timeout(part, detail, sizeof detail);
  pc_producer_fail(part->p, err, detail);
}

/* [loop] create_timer of a partition. */
static void on_create_deadline(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pc_part *part = t->ctx;
  /* WaitForExclusive: queued by the broker, no timeout from then on. */
  if (part->created_once || part->state == PS_WAITING || part->state == PS_READY ||
      part->state >= PS_CLOSING)
    return;
  creation_timed_out(part);
}

/* --------------------------------------------------- connection handlers */

static void on_part_frame(pc_conn *c, const pc_frame *f, void *ctx) {
  (void)c;
  pc_part *part = ctx;
  switch (f->cmd->type) {
  case PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT:
    if (f->cmd->send_receipt != NULL)
      pc_part_on_receipt(part, f->cmd->send_receipt);
    break;
  case PULSARC__BASE_COMMAND__TYPE__SEND_ERROR:
    if (f->cmd->send_error != NULL) {
      pulsarc_err_t err;
      switch (pc_part_on_send_error(part, f->cmd->send_error, &err)) {
      case PC_SEND_ERROR_FAIL_PRODUCER:
        pc_producer_fail(part->p, err, NULL);
        break;
      case PC_SEND_ERROR_RECONNECT:
        pc_part_reconnect(part, err);
        break;
      case PC_SEND_ERROR_HANDLED:
        break;
      }
    }
    break;
  case PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER: {
    Pulsarc__CommandCloseProducer *cp = f->cmd->close_producer;
    const char *url = NULL;
    if (cp != NULL)
      url = part->p->client->service.tls ? cp->assigned_broker_service_url_tls
                                         : cp->assigned_broker_service_url;
    part->has_assigned =
        url != NULL && pc_host_port_parse(url, part->p->client->service.tls ? 6651 : 6650,
                                          &part->assigned) == PULSARC_OK;
    PC_INFO(logger(part->p), "broker closed producer on %s%s%s", part->topic,
            part->has_assigned ? ", new owner " : "", part->has_assigned ? url : "");
    pc_part_reconnect(part, PULSARC_ERR_DISCONNECTED);
    break;
  }
  default:
    break;
  }
}

static void on_part_conn_closed(pc_conn *c, pulsarc_err_t err, void *ctx) {
  (void)c;
  pc_part *part = ctx;
  part->conn = NULL; /* the conn already forgot us */
  if (part->state == PS_CLOSING) {
    pc_part_set_state(part, PS_CLOSED, PULSARC_OK);
    return;
  }
  if (part->state == PS_READY || part->state == PS_REGISTERING || part->state == PS_WAITING) {
    PC_INFO(logger(part->p), "connection of producer on %s lost (%s); reconnecting", part->topic,
            pulsarc_err_str(err));
    pc_part_reconnect(part, err);
  }
}

/* ------------------------------------------------------------ registering */

static bool fatal_on_create(pc_part *part, pulsarc_err_t err) {
  switch (err) {
  case PULSARC_ERR_BROKER_PRODUCER_FENCED:
  case PULSARC_ERR_BROKER_TOPIC_TERMINATED:
  case PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA:
  case PULSARC_ERR_BROKER_AUTHENTICATION:
  case PULSARC_ERR_BROKER_AUTHORIZATION:
  case PULSARC_ERR_BROKER_NOT_ALLOWED:
  case PULSARC_ERR_BROKER_TOPIC_NOT_FOUND:
  case PULSARC_ERR_BROKER_INVALID_TOPIC_NAME:
  case PULSARC_ERR_BROKER_UNSUPPORTED_VERSION:
    return true;
  case PULSARC_ERR_TLS:
    /* Certificate problems are for a human to fix; but once we have been
     * connected, a TLS session dying early can also be a broker restart. */
  case PULSARC_ERR_BROKER_PRODUCER_BUSY:
    /* Busy on a re-creation usually means the broker still holds our old
     * registration: retry. On first creation the name really is taken. */
    return !part->created_once;
  default:
    return !pc_err_retryable(err);
  }
}

static void part_ready(pc_part *part, const Pulsarc__CommandProducerSuccess *ok) {
  pulsarc_producer_t *p = part->p;
  if (part->name == NULL || strcmp(part->name, ok->producer_name) != 0) {
    char *n = strdup(ok->producer_name);
    if (n != NULL) {
      free(part->name);
      part->name = n;
    }
  }
  /* A topic without a schema answers an empty version; the official
   * clients then stamp nothing, and neither do we. */
  if (ok->has_schema_version && ok->schema_version.len > 0) {
    free(part->schema_version);
    part->schema_version = malloc(ok->schema_version.len ? ok->schema_version.len : 1);
    if (part->schema_version != NULL) {
      memcpy(part->schema_version, ok->schema_version.data, ok->schema_version.len);
      part->schema_version_len = ok->schema_version.len;
    }
  }
  if (ok->has_topic_epoch) {
    part->has_topic_epoch = true;
    part->topic_epoch = ok->topic_epoch;
  }
  if (!part->seq_known) {
    part->seq_known = true;
    if (p->conf.has_initial_sequence_id)
      part->next_seq = (uint64_t)p->conf.initial_sequence_id + 1; /* as Java and C++ */
    else
      part->next_seq = (uint64_t)(ok->last_sequence_id + 1);
    pc_producer_note_acked(p, (int64_t)part->next_seq - 1);
  }
  uint32_t broker_max = pc_conn_max_message_size(part->conn);
  uint64_t mx = p->conf.max_message_size < broker_max ? p->conf.max_message_size : broker_max;
  part->max_message_size = (uint32_t)mx;
  if (mx < atomic_load(&p->max_message_size))
    atomic_store(&p->max_message_size, (uint32_t)mx);
  if (part->index <= 0 && atomic_load(&p->name) == NULL)
    atomic_store_explicit(&p->name, part->name, memory_order_release);
  if (part->created_once)
    pc_stat_add(&part->stats.reconnects, 1);
  part->created_once = true;
  pc_timer_cancel(p->loop, &part->create_timer);
  part->backoff_ms = 0;
  part->has_assigned = false;
  PC_INFO(logger(p), "producer %s ready on %s (%s), next sequence id %llu", part->name, part->topic,
          pc_conn_peer(part->conn), (unsigned long long)part->next_seq);
  /* Resend what was pending, in order, before anything new. */
  pc_part_resend(part);
  if (part->resend_blocked)
    pc_part_activate(part); /* the poller resumes it once the frame is out */
  pc_part_set_state(part, PS_READY, PULSARC_OK);
  pc_part_seal(part, false);
  if (!p->ready_reported && ++p->ready_parts == (uint32_t)p->nparts)
    pc_producer_report_ready(p, PULSARC_OK);
}

static bool on_producer_response(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx) {
  pc_part *part = ctx;
  pulsarc_producer_t *p = part->p;
  if (err == PULSARC_OK && f->cmd->type == PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS &&
      f->cmd->producer_success != NULL) {
    Pulsarc__CommandProducerSuccess *ok = f->cmd->producer_success;
    if (ok->has_producer_ready && !ok->producer_ready) {
      /* WaitForExclusive: queued by the broker, no timeout from now on. */
      pc_part_set_state(part, PS_WAITING, PULSARC_OK);
      PC_INFO(logger(p), "producer on %s waits for exclusive access", part->topic);
      return true;
    }
    part_ready(part, ok);
    return false;
  }
  if (err == PULSARC_OK)
    err = f->cmd->error != NULL ? pc_server_error(f->cmd->error->error) : PULSARC_ERR_PROTOCOL;
  if (err == PULSARC_ERR_TIMEOUT && c != NULL) {
    /* The broker may still create it: tell it to drop that attempt. */
    pc_cmd cmd;
    (void)pc_conn_send_command(
        c, pc_cmd_close_producer(&cmd, part->producer_id, pc_conn_next_request_id(c)));
    err = PULSARC_ERR_REGISTER_TIMEOUT;
  }
  PC_WARN(logger(p), "creating producer on %s failed: %s", part->topic, pulsarc_err_str(err));
  pc_part_attempt_failed(part, err, PULSARC_ERR_REGISTER_TIMEOUT);
  if (err == PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA_EXCEPTION) {
    /* Backlog quota with the "exception" policy: what is pending fails now,
     * creation keeps being retried (the official clients do the same; the
     * "hold" policy just retries). */
    pc_part_fail_all(part, err);
    pc_producer_check_flushes(p);
  }
  if (fatal_on_create(part, err)) {
    pc_producer_fail(p, err, NULL);
    return false;
  }
  if (pc_part_creation_over(part)) {
    creation_timed_out(part);
    return false;
  }
  pc_part_reconnect(part, err);
  return false;
}

static void send_producer(pc_part *part) {
  pulsarc_producer_t *p = part->p;
  static const pc_conn_producer handler = {.on_frame = on_part_frame,
                                           .on_closed = on_part_conn_closed};
  pc_conn_producer h = handler;
  h.ctx = part;
  uint64_t id = part->producer_id;
  if (pc_conn_attach_producer(part->conn, &id, &h) != 0) {
    part->conn = NULL;
    pc_part_reconnect(part, PULSARC_ERR_NO_MEMORY);
    return;
  }
  part->request_id = pc_conn_next_request_id(part->conn);
  pc_cmd_producer_args args = {.topic = part->topic,
                               .producer_id = part->producer_id,
                               .request_id = part->request_id,
                               .name = part->name,
                               .user_named = part->user_named,
                               .epoch = part->epoch,
                               .access_mode = p->conf.access_mode,
                               .has_topic_epoch = part->has_topic_epoch,
                               .topic_epoch = part->topic_epoch,
                               .encrypted = p->crypto != NULL};
  /* Plain bytes send no schema, as the official clients do. */
  Pulsarc__Schema schema = PULSARC__SCHEMA__INIT;
  if (p->conf.schema_type >= 0) {
    schema.name = p->conf.schema_name != NULL ? p->conf.schema_name : (char *)"";
    schema.type = (Pulsarc__Schema__Type)p->conf.schema_type;
    schema.schema_data.data = p->conf.schema_definition;
    schema.schema_data.len = p->conf.schema_definition_len;
    /* The property count is the user's: the array lives in this thread's
     * scratch, valid until the request below is packed. */
    size_t nprops = p->conf.schema_properties.n;
    Pulsarc__KeyValue **ptrs = NULL;
    if (nprops != 0) {
      void *mem = pc_thread_scratch(pc_key_values_size(nprops));
      if (mem == NULL) {
        pc_conn_detach_producer(part->conn, part->producer_id);
        part->conn = NULL;
        pc_part_reconnect(part, PULSARC_ERR_NO_MEMORY);
        return;
      }
      ptrs = pc_key_values_init(mem, nprops);
      for (size_t i = 0; i < nprops; i++) {
        ptrs[i]->key = p->conf.schema_properties.items[i].key;
        ptrs[i]->value = p->conf.schema_properties.items[i].value;
      }
    }
    schema.n_properties = nprops;
    schema.properties = ptrs;
    args.schema = &schema;
  }
  pc_part_set_state(part, PS_REGISTERING, PULSARC_OK);
  pc_cmd cmd;
  if (pc_conn_request(part->conn, pc_cmd_producer(&cmd, &args), part->request_id,
                      p->client->conf.operation_timeout_ms, on_producer_response, part) != 0) {
    pc_conn_detach_producer(part->conn, part->producer_id);
    part->conn = NULL;
    pc_part_reconnect(part, PULSARC_ERR_DISCONNECTED);
  }
}

static void got_broker_conn(pc_conn *conn, pulsarc_err_t err, void *ctx) {
  pc_part *part = ctx;
  part->pool_req = NULL;
  /* Detaching cancels the request; this guards what it cannot see. A failed
   * or closed producer never registers again. */
  if (part->state != PS_CONNECTING || part->p->destroyed ||
      atomic_load(&part->p->app_state) == PC_APP_FAILED)
    return;
  if (conn == NULL) {
    if (err == PULSARC_ERR_DISCONNECTED)
      err = PULSARC_ERR_CONNECT; /* the peer hung up during the handshake */
    PC_WARN(logger(part->p), "connecting producer on %s failed: %s", part->topic,
            pulsarc_err_str(err));
    pc_part_attempt_failed(part, err, PULSARC_ERR_CONNECT_TIMEOUT);
    if (pc_part_creation_over(part)) {
      creation_timed_out(part);
      return;
    }
    pc_part_reconnect(part, err);
    return;
  }
  part->conn = conn;
  send_producer(part);
}

static void connect_to(pc_part *part, const pc_host_port *hp, const pc_host_port *via) {
  pc_pool *pool = part->p->client->pools[pc_loop_index(part->p->loop)];
  char proxy_to[300];
  const pc_host_port *target = hp;
  const char *proxy = NULL;
  if (via != NULL) {
    snprintf(proxy_to, sizeof proxy_to, "%s:%u", hp->host, hp->port);
    proxy = proxy_to;
    target = via;
  }
  pc_part_set_state(part, PS_CONNECTING, PULSARC_OK);
  if (pc_pool_get(pool, target, proxy, got_broker_conn, part, &part->pool_req) != 0)
    pc_part_reconnect(part, PULSARC_ERR_NO_MEMORY);
}

static void on_topic_lookup(pulsarc_err_t err, const pc_lookup_result *res, void *ctx) {
  pc_part *part = ctx;
  part->lookup = NULL;
  if (part->state != PS_LOOKUP)
    return;
  if (err != PULSARC_OK) {
    PC_WARN(logger(part->p), "lookup of %s failed: %s", part->topic, pulsarc_err_str(err));
    pc_part_attempt_failed(part, err, PULSARC_ERR_LOOKUP_TIMEOUT);
    if (fatal_on_create(part, err)) {
      pc_producer_fail(part->p, err, NULL);
      return;
    }
    if (pc_part_creation_over(part)) {
      creation_timed_out(part);
      return;
    }
    pc_part_reconnect(part, err);
    return;
  }
  part->proxied = res->proxy;
  if (res->proxy)
    part->proxy = res->via;
  connect_to(part, &res->broker, res->proxy ? &res->via : NULL);
}

static void part_lookup(pc_part *part) {
  pc_part_set_state(part, PS_LOOKUP, PULSARC_OK);
  part->lookup =
      pc_lookup_topic(part->p->client, part->p->loop, part->topic, on_topic_lookup, part);
  if (part->lookup == NULL)
    pc_part_reconnect(part, PULSARC_ERR_NO_MEMORY);
}

static void on_backoff_done(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pc_part *part = t->ctx;
  if (part->state != PS_BACKOFF)
    return;
  part->epoch++;
  if (part->has_assigned) {
    /* One attempt only: if the named owner fails us, the next attempt backs
     * off and looks up, rather than redialling it at once forever. */
    part->has_assigned = false;
    connect_to(part, &part->assigned, part->proxied ? &part->proxy : NULL);
  } else {
    part_lookup(part);
  }
}

void pc_part_reconnect(pc_part *part, pulsarc_err_t why) {
  pulsarc_producer_t *p = part->p;
  if (part->state == PS_FAILED || part->state == PS_CLOSED || p->destroyed)
    return;
  pc_part_detach(part, 0);
  pc_part_set_state(part, PS_BACKOFF, why);
  uint64_t delay_ms;
  if (part->has_assigned) {
    delay_ms = 0; /* the broker named the new owner: go now */
  } else {
    part->backoff_ms = part->backoff_ms == 0 ? p->conf.backoff_initial_ms : part->backoff_ms * 2;
    if (part->backoff_ms > p->conf.backoff_max_ms)
      part->backoff_ms = p->conf.backoff_max_ms;
    /* +-10% jitter so producers that lost the same broker do not return
     * in lock step; then the configured start delay and jitter. */
    uint64_t jitter = part->backoff_ms / 10;
    delay_ms =
        part->backoff_ms - jitter + (jitter ? pc_prng_below(&p->client->prng, 2 * jitter + 1) : 0);
    delay_ms += pc_producer_start_delay_ms(p);
  }
  if (!part->created_once) {
    /* First creation: no retry may start after its deadline. */
    uint64_t now = pc_loop_now(p->loop);
    uint64_t left_ms = part->create_deadline_ns > now ? (part->create_deadline_ns - now) / MS : 0;
    if (delay_ms > left_ms)
      delay_ms = left_ms;
  }
  pc_timer_start(p->loop, &part->timer, delay_ms * MS);
}

/* ------------------------------------------------------------ partitions */

pc_part *pc_part_new(pulsarc_producer_t *p, int index) {
  pc_part *part = calloc(1, sizeof *part);
  if (part == NULL)
    return NULL;
  part->p = p;
  part->index = index;
  if (index < 0)
    snprintf(part->topic, sizeof part->topic, "%s", p->topic);
  else if (pc_topic_partition_name(p->topic, index, part->topic, sizeof part->topic) != 0) {
    free(part);
    return NULL;
  }
  part->producer_id = atomic_fetch_add(&p->client->next_producer_id, 1);
  if (p->conf.name != NULL) {
    part->name = strdup(p->conf.name);
    part->user_named = true;
  }
  part->max_message_size = (uint32_t)p->conf.max_message_size;
  part->told = -1;
  part->seal_by_ns = UINT64_MAX;
  part->create_deadline_ns = UINT64_MAX; /* set when it starts */
  pc_timer_init(&part->timer, on_backoff_done, part);
  pc_timer_init(&part->create_timer, on_create_deadline, part);
  pc_timer_init(&part->batch_timer, pc_part_batch_timer, part);
  return part;
}

void pc_part_start_lazy(pc_part *part) {
  if (part->state == PS_INIT && part->lookup == NULL) {
    pc_part_arm_create_deadline(part, pc_loop_now(part->p->loop) +
                                          part->p->client->conf.operation_timeout_ms * MS);
    part_lookup(part);
  }
}

void pc_part_start(pc_part *part, uint64_t create_deadline_ns) {
  pc_part_arm_create_deadline(part, create_deadline_ns);
  part_lookup(part);
}

void pc_part_trim(pc_part *part) {
  while (part->free_entries != NULL) {
    pc_entry *e = part->free_entries;
    part->free_entries = e->next;
    pc_entry_free(e);
    part->entries_made--;
  }
  if (part->unsent.n == 0)
    pc_fifo_free(&part->unsent);
  pc_buf_free(&part->scratch);
  free(part->sel);
  part->sel = NULL;
  part->sel_cap = 0;
}

void pc_part_free(pc_part *part) {
  while (part->free_entries != NULL) {
    pc_entry *e = part->free_entries;
    part->free_entries = e->next;
    pc_entry_free(e);
  }
  pc_fifo_free(&part->unsent);
  pc_buf_free(&part->scratch);
  free(part->sel);
  free(part->schema_version);
  free(part->name);
  free(part);
}
