/* A broker connection (see conn.h): connecting, handshake, keepalive,
 * reading and dispatch, requests, producers, teardown. The write queue is
 * in conn_write.c, credentials in conn_auth.c, the TLS session in tls.c.
 * Everything here runs on the owning loop's thread.
 *
 * Re-entrancy: every entry from the loop (fd events, timers, the writer
 * poller, resolver results) is bracketed by pc_conn_enter/leave. Callbacks into
 * the owner, producers and requests run inside such a bracket, so a
 * pc_conn_close made from one of them only marks the conn closing; the
 * outermost pc_conn_leave does the teardown once the callback stack
 * unwinds. */
#include "loop/conn_internal.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "codec/commands.h"

#define PC_CONN_DEFAULT_MAX_MESSAGE (5u * 1024 * 1024)
#define PC_CONN_FRAME_PADDING (10u * 1024)
#define PC_CONN_READ_CHUNK (64u * 1024)
#define PC_CONN_READ_BUDGET (1024u * 1024) /* per fd event, for fairness */

static void connect_next(pc_conn *c);

static void fail(pc_conn *c, pulsarc_err_t err) { pc_conn_close(c, err); }

/* Saturates: an absurd timeout means "never", not an early wrap-around. */
static uint64_t ms_to_ns(uint64_t ms) {
  return ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
}

static const char *cmd_name(const Pulsarc__BaseCommand *cmd) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&pulsarc__base_command__type__descriptor, cmd->type);
  return v ? v->name : "UNKNOWN";
}

/* --------------------------------------------------------------- commands */

static int send_simple(pc_conn *c, Pulsarc__BaseCommand__Type type) {
  pc_cmd cmd;
  return pc_conn_send_command(c, type == PULSARC__BASE_COMMAND__TYPE__PING ? pc_cmd_ping(&cmd)
                                                                           : pc_cmd_pong(&cmd));
}

/* --------------------------------------------------------------- requests */

uint64_t pc_conn_next_request_id(pc_conn *c) { return c->next_request_id++; }

static void req_free(pc_conn *c, conn_req *r) {
  pc_timer_cancel(c->loop, &r->timer);
  free(r);
}

static void req_timeout(pc_loop *loop, pc_timer *t) {
  (void)loop;
  conn_req *r = t->ctx;
  pc_conn *c = r->c;
  pc_conn_enter(c);
  pc_idmap_remove(&c->reqs, r->node.id);
  PC_DEBUG(c->log, "conn %s: request %llu timed out", c->peer, (unsigned long long)r->node.id);
  r->cb(c, PULSARC_ERR_TIMEOUT, NULL, r->ctx);
  free(r);
  pc_conn_leave(c);
}

int pc_conn_request(pc_conn *c, const Pulsarc__BaseCommand *cmd, uint64_t request_id,
                    uint64_t timeout_ms, pc_request_cb cb, void *ctx) {
  if (c->closing)
    return -1;
  if (pc_idmap_find(&c->reqs, request_id)) {
    PC_ERROR(c->log, "conn %s: request id %llu already in use", c->peer,
             (unsigned long long)request_id);
    return -1;
  }
  conn_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->node.id = request_id;
  r->c = c;
  r->cb = cb;
  r->ctx = ctx;
  pc_timer_init(&r->timer, req_timeout, r);
  if (pc_idmap_insert(&c->reqs, &r->node) != 0) {
    free(r);
    return -1;
  }
  if (pc_conn_queue_command(c, cmd, false) != 0) {
    pc_idmap_remove(&c->reqs, request_id);
    free(r);
    return -1;
  }
  if (timeout_ms)
    pc_timer_start(c->loop, &r->timer, ms_to_ns(timeout_ms));
  return 0;
}

void pc_conn_request_cancel(pc_conn *c, uint64_t request_id) {
  pc_idnode *n = pc_idmap_remove(&c->reqs, request_id);
  if (n == NULL)
    return;
  conn_req *r = PC_CONTAINER_OF(n, conn_req, node);
  if (r->in_cb) { /* the dispatcher frees it when the callback returns */
    pc_timer_cancel(c->loop, &r->timer);
    r->cancelled = true;
  } else {
    req_free(c, r);
  }
}

static void route_request(pc_conn *c, uint64_t id, const pc_frame *f) {
  pc_idnode *n = pc_idmap_find(&c->reqs, id);
  if (n == NULL) {
    PC_INFO(c->log, "conn %s: %s for unknown request %llu ignored", c->peer, cmd_name(f->cmd),
            (unsigned long long)id);
    return;
  }
  conn_req *r = PC_CONTAINER_OF(n, conn_req, node);
  r->in_cb = true;
  bool keep = r->cb(c, PULSARC_OK, f, r->ctx);
  r->in_cb = false;
  if (r->cancelled) {
    free(r);
  } else if (!keep) {
    pc_idmap_remove(&c->reqs, id);
    req_free(c, r);
  } else {
    pc_timer_cancel(c->loop, &r->timer);
  }
}

/* -------------------------------------------------------------- producers */

int pc_conn_attach_producer(pc_conn *c, uint64_t *id_inout, const pc_conn_producer *h) {
  if (c->closing)
    return -1;
  uint64_t id = *id_inout;
  if (id == UINT64_MAX) {
    do {
      id = c->next_producer_id++;
    } while (id == UINT64_MAX || pc_idmap_find(&c->prods, id));
  } else if (pc_idmap_find(&c->prods, id)) {
    return -1;
  }
  conn_prod *p = calloc(1, sizeof *p);
  if (p == NULL)
    return -1;
  p->node.id = id;
  p->h = *h;
  if (pc_idmap_insert(&c->prods, &p->node) != 0) {
    free(p);
    return -1;
  }
  *id_inout = id;
  return 0;
}

void pc_conn_detach_producer(pc_conn *c, uint64_t id) {
  pc_idnode *n = pc_idmap_remove(&c->prods, id);
  if (n)
    free(PC_CONTAINER_OF(n, conn_prod, node));
}

static void route_producer(pc_conn *c, uint64_t id, const pc_frame *f) {
  pc_idnode *n = pc_idmap_find(&c->prods, id);
  if (n == NULL) {
    PC_INFO(c->log, "conn %s: %s for unknown producer %llu ignored", c->peer, cmd_name(f->cmd),
            (unsigned long long)id);
    return;
  }
  /* Copied: the handler may detach itself (freeing the node) meanwhile. */
  pc_conn_producer h = PC_CONTAINER_OF(n, conn_prod, node)->h;
  h.on_frame(c, f, h.ctx);
}

/* ---------------------------------------------------------------- reading */

static pulsarc_err_t handshake_error(int server_error) {
  switch (server_error) {
  case PULSARC__SERVER_ERROR__AuthenticationError:
    return PULSARC_ERR_BROKER_AUTHENTICATION;
  case PULSARC__SERVER_ERROR__AuthorizationError:
    return PULSARC_ERR_BROKER_AUTHORIZATION;
  case PULSARC__SERVER_ERROR__UnsupportedVersionError:
    return PULSARC_ERR_BROKER_UNSUPPORTED_VERSION;
  case PULSARC__SERVER_ERROR__ServiceNotReady:
    return PULSARC_ERR_BROKER_SERVICE_NOT_READY;
  case PULSARC__SERVER_ERROR__TooManyRequests:
    return PULSARC_ERR_BROKER_TOO_MANY_REQUESTS;
  default:
    return PULSARC_ERR_CONNECT;
  }
}

static void keepalive_tick(pc_loop *loop, pc_timer *t) {
  pc_conn *c = t->ctx;
  pc_conn_enter(c);
  if (c->ping_outstanding) {
    PC_WARN(c->log, "conn %s: no answer to PING within %llu ms, closing", c->peer,
            (unsigned long long)c->keepalive_ms);
    fail(c, PULSARC_ERR_DISCONNECTED);
  } else if (send_simple(c, PULSARC__BASE_COMMAND__TYPE__PING) == 0) {
    c->ping_outstanding = true;
    pc_timer_start(loop, t, ms_to_ns(c->keepalive_ms));
  }
  pc_conn_leave(c);
}

static void on_connected(pc_conn *c, const Pulsarc__CommandConnected *cd) {
  if (cd->has_max_message_size && cd->max_message_size > 0)
    c->max_message_size = (uint32_t)cd->max_message_size;
  c->protocol_version = cd->has_protocol_version ? cd->protocol_version : 0;
  c->dec.max_frame = c->max_message_size + PC_CONN_FRAME_PADDING;
  c->state = ST_READY;
  pc_stat_add(&c->ctr->conns_opened, 1);
  pc_timer_cancel(c->loop, &c->connect_timer);
  if (c->keepalive_ms)
    pc_timer_start(c->loop, &c->keepalive_timer, ms_to_ns(c->keepalive_ms));
  PC_INFO(c->log, "conn %s: connected (server %s, protocol %d, max message %u)", c->peer,
          cd->server_version ? cd->server_version : "?", (int)c->protocol_version,
          (unsigned)c->max_message_size);
  if (c->ev.on_ready)
    c->ev.on_ready(c, c->ev.ctx);
}

#define NEED(field)                                                                                \
  do {                                                                                             \
    if (cmd->field == NULL) {                                                                      \
      PC_WARN(c->log, "conn %s: %s without its body, closing", c->peer, cmd_name(cmd));            \
      fail(c, PULSARC_ERR_PROTOCOL);                                                               \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static void dispatch(pc_conn *c, const pc_frame *f) {
  const Pulsarc__BaseCommand *cmd = f->cmd;
  if (c->state != ST_READY) {
    if (cmd->type == PULSARC__BASE_COMMAND__TYPE__CONNECTED) {
      NEED(connected);
      on_connected(c, cmd->connected);
    } else if (cmd->type == PULSARC__BASE_COMMAND__TYPE__AUTH_CHALLENGE) {
      pc_conn_answer_auth_challenge(c);
    } else if (cmd->type == PULSARC__BASE_COMMAND__TYPE__ERROR && cmd->error) {
      pulsarc_err_t e = handshake_error(cmd->error->error);
      if (e == PULSARC_ERR_BROKER_AUTHENTICATION)
        PC_ERROR(c->log, "conn %s: broker refused our credentials (auth method \"%s\"): %s",
                 c->peer, c->auth_method, cmd->error->message ? cmd->error->message : "");
      else
        PC_WARN(c->log, "conn %s: handshake refused: error %d: %s", c->peer, (int)cmd->error->error,
                cmd->error->message ? cmd->error->message : "");
      fail(c, e);
    } else {
      PC_WARN(c->log, "conn %s: %s before CONNECTED, closing", c->peer, cmd_name(cmd));
      fail(c, PULSARC_ERR_PROTOCOL);
    }
    return;
  }
  switch (cmd->type) {
  case PULSARC__BASE_COMMAND__TYPE__PING:
    if (send_simple(c, PULSARC__BASE_COMMAND__TYPE__PONG) != 0)
      fail(c, PULSARC_ERR_NO_MEMORY);
    break;
  case PULSARC__BASE_COMMAND__TYPE__PONG:
    break; /* liveness already noted */
  case PULSARC__BASE_COMMAND__TYPE__SUCCESS:
    NEED(success);
    route_request(c, cmd->success->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__ERROR:
    NEED(error);
    if (cmd->error->error == PULSARC__SERVER_ERROR__AuthenticationError &&
        pc_idmap_find(&c->reqs, cmd->error->request_id) == NULL) {
      /* A refused AUTH_RESPONSE: the broker closes next; say why. */
      PC_ERROR(c->log, "conn %s: broker refused our refreshed credentials: %s", c->peer,
               cmd->error->message ? cmd->error->message : "");
      fail(c, PULSARC_ERR_BROKER_AUTHENTICATION);
      break;
    }
    route_request(c, cmd->error->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS:
    NEED(producer_success);
    route_request(c, cmd->producer_success->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__LOOKUP_RESPONSE:
    NEED(lookup_topic_response);
    route_request(c, cmd->lookup_topic_response->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA_RESPONSE:
    NEED(partition_metadata_response);
    route_request(c, cmd->partition_metadata_response->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__GET_SCHEMA_RESPONSE:
    NEED(get_schema_response);
    route_request(c, cmd->get_schema_response->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__GET_OR_CREATE_SCHEMA_RESPONSE:
    NEED(get_or_create_schema_response);
    route_request(c, cmd->get_or_create_schema_response->request_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__NEW_TXN_RESPONSE:
  case PULSARC__BASE_COMMAND__TYPE__ADD_PARTITION_TO_TXN_RESPONSE:
  case PULSARC__BASE_COMMAND__TYPE__END_TXN_RESPONSE:
  case PULSARC__BASE_COMMAND__TYPE__TC_CLIENT_CONNECT_RESPONSE: {
    uint64_t rid;
    int e;
    const char *msg;
    if (!pc_cmd_txn_response(cmd, &rid, &e, &msg)) {
      fail(c, PULSARC_ERR_PROTOCOL);
      break;
    }
    route_request(c, rid, f);
    break;
  }
  case PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT:
    NEED(send_receipt);
    route_producer(c, cmd->send_receipt->producer_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__SEND_ERROR:
    NEED(send_error);
    route_producer(c, cmd->send_error->producer_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER:
    NEED(close_producer);
    route_producer(c, cmd->close_producer->producer_id, f);
    break;
  case PULSARC__BASE_COMMAND__TYPE__AUTH_CHALLENGE:
    pc_conn_answer_auth_challenge(c);
    break;
  default:
    PC_WARN(c->log, "conn %s: unexpected %s (%d) ignored", c->peer, cmd_name(cmd), (int)cmd->type);
    break;
  }
}

static void decode_all(pc_conn *c) {
  while (!c->closing) {
    pc_frame f;
    int r = pc_decoder_next(&c->dec, &f);
    if (r == 0)
      return;
    if (r < 0) {
      PC_WARN(c->log, "conn %s: bad frame from peer (%s), closing", c->peer,
              r == PC_DEC_OVERSIZE ? "over the size limit"
              : r == PC_DEC_NOMEM  ? "out of memory"
                                   : "malformed");
      fail(c, r == PC_DEC_NOMEM ? PULSARC_ERR_NO_MEMORY : PULSARC_ERR_PROTOCOL);
      return;
    }
    PC_CONN_COUNT(c, frames_in, 1);
    c->ping_outstanding = false; /* any frame proves the peer alive */
    dispatch(c, &f);
  }
}

/* Over TLS: SSL_read until OpenSSL wants the socket again. Bytes buffered
 * inside OpenSSL are drained past the budget: epoll cannot report them. */
static void do_read_tls(pc_conn *c) {
  size_t budget = PC_CONN_READ_BUDGET;
  c->tls_read_wants_write = false;
  while (!c->closing && (budget > 0 || pc_tls_pending(c->tls))) {
    size_t avail = 0;
    uint8_t *p = pc_decoder_space(&c->dec, PC_CONN_READ_CHUNK, &avail);
    if (p == NULL) {
      fail(c, PULSARC_ERR_NO_MEMORY);
      return;
    }
    size_t n = 0;
    char why[320];
    pc_tls_status st = pc_tls_read(c->tls, p, avail, &n, why, sizeof why);
    if (st == PC_TLS_OK) {
      pc_decoder_commit(&c->dec, n);
      PC_CONN_COUNT(c, bytes_in, (uint64_t)n);
      budget = n >= budget ? 0 : budget - n;
      decode_all(c);
    } else if (st == PC_TLS_WANT_READ) {
      return;
    } else if (st == PC_TLS_WANT_WRITE) {
      c->tls_read_wants_write = true;
      pc_conn_set_out_interest(c, true);
      return;
    } else if (st == PC_TLS_CLOSED && c->state == ST_READY) {
      PC_INFO(c->log, "conn %s: closed by peer", c->peer);
      fail(c, PULSARC_ERR_DISCONNECTED);
      return;
    } else if (c->state != ST_READY) {
      /* TLS 1.3 lets the server judge our certificate after our side of the
       * handshake finished: its alert arrives here, or only an EOF/reset. */
      if (st != PC_TLS_ERROR)
        pc_conn_tls_refusal_hint(c, why, sizeof why);
      PC_ERROR(c->log, "conn %s: %s", c->peer, why);
      pc_conn_close_detail(c, PULSARC_ERR_TLS, "broker %s: %s", c->peer, why);
      return;
    } else {
      PC_WARN(c->log, "conn %s: %s", c->peer, why);
      fail(c, PULSARC_ERR_DISCONNECTED);
      return;
    }
  }
}

/* A plain connection whose peer speaks TLS: the record header of an alert
 * (0x15) or handshake (0x16), version 3.x, where the first Pulsar frame was
 * expected. A frame's first byte is the top byte of its size, which is 0
 * for any size the decoder accepts. */
static bool looks_like_tls(const uint8_t *p, size_t n) {
  return n >= 1 && (p[0] == 0x15 || p[0] == 0x16) && (n < 2 || p[1] == 0x03);
}

/* The first answer to CONNECT on a plain connection is TLS, or the broker
 * hung up without one (what a TLS-only port does with a plaintext hello:
 * OpenSSL and Netty close without an alert). The TLS answer means the
 * user needs pulsar+ssl://; a hang-up may also be a broker going away, or
 * a proxy whose broker is gone (seen in the cluster tests), so its text
 * names both. PULSARC_ERR_CONNECT: retried like any failed
 * handshake, within the operation timeout, since a restarting broker can
 * also hang up early; the detail says what to check. */
static void plain_handshake_refused(pc_conn *c, bool tls_bytes, const char *how) {
  if (tls_bytes) {
    PC_ERROR(c->log, "conn %s: the broker answered in TLS: TLS may be required (use pulsar+ssl://)",
             c->peer);
    pc_conn_close_detail(c, PULSARC_ERR_CONNECT,
                         "broker %s answered a plaintext CONNECT in TLS: TLS may be required "
                         "(use a pulsar+ssl:// service URL)",
                         c->peer);
  } else {
    PC_WARN(c->log,
            "conn %s: %s before answering CONNECT; TLS may be required, or the broker (or, "
            "through a proxy, the broker behind it) went away",
            c->peer, how);
    pc_conn_close_detail(c, PULSARC_ERR_CONNECT,
                         "broker %s %s before answering CONNECT: TLS may be required (if the "
                         "port expects TLS, use a pulsar+ssl:// service URL), or the broker "
                         "(or, through a proxy, the broker behind it) went away",
                         c->peer, how);
  }
}

static void do_read(pc_conn *c) {
  if (c->tls != NULL) {
    do_read_tls(c);
    return;
  }
  bool first = c->state == ST_HANDSHAKE && c->stats.bytes_in == 0;
  size_t budget = PC_CONN_READ_BUDGET;
  while (!c->closing && budget > 0) {
    size_t avail = 0;
    uint8_t *p = pc_decoder_space(&c->dec, PC_CONN_READ_CHUNK, &avail);
    if (p == NULL) {
      fail(c, PULSARC_ERR_NO_MEMORY);
      return;
    }
    ssize_t r = recv(c->fd, p, avail, MSG_DONTWAIT);
    if (r > 0 && first && looks_like_tls(p, (size_t)r)) {
      plain_handshake_refused(c, true, NULL);
      return;
    }
    if (r > 0) {
      pc_decoder_commit(&c->dec, (size_t)r);
      PC_CONN_COUNT(c, bytes_in, (uint64_t)r);
      budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
      decode_all(c);
      if ((size_t)r < avail)
        return; /* drained; level-triggered epoll says if more comes */
    } else if (r == 0 && first) {
      plain_handshake_refused(c, false, "closed the connection");
      return;
    } else if (r == 0) {
      PC_INFO(c->log, "conn %s: closed by peer", c->peer);
      fail(c, PULSARC_ERR_DISCONNECTED);
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (first && errno == ECONNRESET) {
      plain_handshake_refused(c, false, "reset the connection");
      return;
    } else {
      PC_INFO(c->log, "conn %s: read failed: %s", c->peer, strerror(errno));
      fail(c, PULSARC_ERR_DISCONNECTED);
      return;
    }
  }
}

/* ------------------------------------------------------------- connecting */

static void send_connect(pc_conn *c) {
  c->state = ST_HANDSHAKE;
  if (pc_conn_queue_connect(c) != 0) {
    fail(c, PULSARC_ERR_CONNECT);
    return;
  }
  PC_DEBUG(c->log, "conn %s: %s connected, sending CONNECT", c->peer, c->tls ? "TLS" : "TCP");
  pc_conn_flush(c);
}

/* Drives the TLS handshake; EPOLLIN stays on, EPOLLOUT follows WANT_WRITE. */
static void tls_step(pc_conn *c) {
  char why[400];
  pc_tls_status st = pc_tls_handshake(c->tls, why, sizeof why);
  if (st == PC_TLS_WANT_READ || st == PC_TLS_WANT_WRITE) {
    pc_conn_set_out_interest(c, st == PC_TLS_WANT_WRITE);
    return;
  }
  if (st != PC_TLS_OK) {
    PC_ERROR(c->log, "conn %s: %s", c->peer, why);
    pc_conn_close_detail(c, PULSARC_ERR_TLS, "broker %s: %s", c->peer, why);
    return;
  }
  pc_conn_set_out_interest(c, false);
  if (c->closing)
    return;
  char desc[128];
  pc_tls_describe(c->tls, desc, sizeof desc);
  PC_DEBUG(c->log, "conn %s: TLS established (%s)", c->peer, desc);
  send_connect(c);
}

static void tcp_connected(pc_conn *c) {
  if (pc_io_mod(c->loop, &c->io, EPOLLIN) != 0) {
    fail(c, PULSARC_ERR_CONNECT);
    return;
  }
  c->out_armed = false;
  if (c->tls_ctx == NULL) {
    send_connect(c);
    return;
  }
  c->state = ST_TLS;
  if ((c->tls = pc_tls_new(c->tls_ctx, c->fd, c->host)) == NULL) {
    PC_ERROR(c->log, "conn %s: cannot set up a TLS session", c->peer);
    fail(c, PULSARC_ERR_TLS);
    return;
  }
  tls_step(c);
}

static void on_io(pc_loop *loop, pc_io *io, uint32_t events) {
  (void)loop;
  pc_conn *c = io->ctx;
  pc_conn_enter(c);
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    if (err == 0 && (events & EPOLLOUT)) {
      tcp_connected(c);
    } else {
      if (err == 0)
        err = ECONNREFUSED;
      char a[80];
      pc_addr_format(&c->addrs[c->addr_next - 1], a, sizeof a);
      PC_INFO(c->log, "conn %s: connect to %s failed: %s", c->peer, a, strerror(err));
      pc_io_del(c->loop, &c->io);
      close(c->fd);
      c->fd = -1;
      connect_next(c);
    }
  } else if (c->state == ST_TLS) {
    tls_step(c);
  } else if (c->state == ST_HANDSHAKE || c->state == ST_READY) {
    bool readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
    if (readable || (c->tls_read_wants_write && (events & EPOLLOUT)))
      do_read(c);
    if (!c->closing && readable && c->tls_write_wants_read) {
      c->tls_write_wants_read = false;
      pc_conn_flush(c);
    }
    if (!c->closing && (events & EPOLLOUT))
      pc_conn_flush(c);
  }
  pc_conn_leave(c);
}

/* Tries the remaining addresses in resolver order; the first that does not
 * fail at once becomes the socket. */
static void connect_next(pc_conn *c) {
  while (c->addr_next < c->naddrs) {
    const pc_addr *a = &c->addrs[c->addr_next++];
    char as[80];
    pc_addr_format(a, as, sizeof as);
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      PC_INFO(c->log, "conn %s: socket for %s: %s", c->peer, as, strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    PC_DEBUG(c->log, "conn %s: connecting to %s", c->peer, as);
    int r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
    if (r != 0 && errno != EINPROGRESS) {
      PC_INFO(c->log, "conn %s: connect to %s failed: %s", c->peer, as, strerror(errno));
      close(fd);
      continue;
    }
    c->fd = fd;
    c->io.fd = fd;
    c->out_armed = false;
    if (pc_io_add(c->loop, &c->io, r == 0 ? EPOLLIN : EPOLLOUT) != 0) {
      close(fd);
      c->fd = -1;
      continue;
    }
    if (r == 0) {
      tcp_connected(c);
    } else {
      c->state = ST_CONNECTING;
    }
    return;
  }
  PC_WARN(c->log, "conn %s: could not connect to any address", c->peer);
  fail(c, PULSARC_ERR_CONNECT);
}

static void on_resolved(pc_loop *loop, void *ctx, int gai_err, const pc_addr *addrs, size_t n) {
  (void)loop;
  pc_conn *c = ctx;
  c->job = NULL;
  pc_conn_enter(c);
  if (gai_err != 0 || n == 0) {
    PC_WARN(c->log, "conn %s: cannot resolve %s: %s", c->peer, c->host,
            gai_err ? gai_strerror(gai_err) : "no address");
    fail(c, PULSARC_ERR_RESOLVE);
  } else if ((c->addrs = malloc(n * sizeof *addrs)) == NULL) {
    fail(c, PULSARC_ERR_NO_MEMORY);
  } else {
    memcpy(c->addrs, addrs, n * sizeof *addrs);
    c->naddrs = n;
    connect_next(c);
  }
  pc_conn_leave(c);
}

/* Runs on the first iteration after open, so that no outcome (not even an
 * immediate failure) reaches the owner before pc_conn_open returned. */
static void start_step(pc_loop *loop, pc_timer *t) {
  pc_conn *c = t->ctx;
  pc_conn_enter(c);
  pc_addr lit;
  if (pc_resolve_numeric(c->host, c->port, &lit, 1) == 1) {
    on_resolved(loop, c, 0, &lit, 1);
  } else {
    c->state = ST_RESOLVING;
    c->job = pc_resolve_start(loop, pc_loop_post, c->host, c->port, on_resolved, c);
    if (c->job == NULL)
      fail(c, PULSARC_ERR_RESOLVE);
  }
  pc_conn_leave(c);
}

static void connect_timeout(pc_loop *loop, pc_timer *t) {
  (void)loop;
  pc_conn *c = t->ctx;
  pc_conn_enter(c);
  /* Name the step that stalled: owners report it as the reason. */
  bool tls = c->state == ST_TLS;
  PC_WARN(c->log, "conn %s: %s within %llu ms", c->peer,
          tls ? "TLS handshake not finished" : "not connected",
          (unsigned long long)c->connect_timeout_ms);
  fail(c, tls ? PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT : PULSARC_ERR_CONNECT_TIMEOUT);
  pc_conn_leave(c);
}

/* ------------------------------------------------------------- lifecycle */

pc_conn *pc_conn_open(pc_loop *loop, const pc_conn_opts *opts, const pc_conn_events *ev,
                      const pc_logger *log) {
  pc_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->loop = loop;
  c->ctr = pc_loop_counters_of(loop);
  c->log = log ? log : pc_loop_logger(loop);
  c->host = strdup(opts->host ? opts->host : "");
  const char *method = opts->auth.method ? opts->auth.method : opts->auth_method_name;
  c->auth_method = strdup(method ? method : "none");
  c->auth = opts->auth;
  c->tls_ctx = opts->tls;
  c->proxy_url = opts->proxy_to_broker_url ? strdup(opts->proxy_to_broker_url) : NULL;
  if (!c->host || !c->auth_method || (opts->proxy_to_broker_url && !c->proxy_url)) {
    free(c->host);
    free(c->auth_method);
    free(c->proxy_url);
    free(c);
    return NULL;
  }
  c->port = opts->port;
  c->connect_timeout_ms = opts->connect_timeout_ms;
  c->keepalive_ms = opts->keepalive_interval_ms;
  if (ev)
    c->ev = *ev;
  bool v6 = strchr(c->host, ':') != NULL && c->host[0] != '[';
  snprintf(c->peer, sizeof c->peer, v6 ? "[%s]:%u" : "%s:%u", c->host, (unsigned)c->port);
  c->state = ST_STARTING;
  c->fd = -1;
  c->io.fd = -1;
  c->io.fn = on_io;
  c->io.ctx = c;
  c->writer.poll = pc_conn_writer_poll;
  c->writer.has_work = pc_conn_writer_has_work;
  c->writer.ctx = c;
  c->max_message_size = PC_CONN_DEFAULT_MAX_MESSAGE;
  c->next_request_id = 1;
  c->next_producer_id = 1;
  pc_decoder_init(&c->dec, PC_FRAME_DEFAULT_MAX);
  pc_timer_init(&c->start_timer, start_step, c);
  pc_timer_init(&c->connect_timer, connect_timeout, c);
  pc_timer_init(&c->keepalive_timer, keepalive_tick, c);
  pc_poller_add(loop, &c->writer);
  pc_timer_start(loop, &c->start_timer, 0);
  if (c->connect_timeout_ms)
    pc_timer_start(loop, &c->connect_timer, ms_to_ns(c->connect_timeout_ms));
  return c;
}

bool pc_conn_in_tls_handshake(const pc_conn *c) { return c->state == ST_TLS; }
bool pc_conn_is_ready(const pc_conn *c) { return c->state == ST_READY && !c->closing; }
uint32_t pc_conn_max_message_size(const pc_conn *c) { return c->max_message_size; }
int32_t pc_conn_protocol_version(const pc_conn *c) { return c->protocol_version; }
const char *pc_conn_peer(const pc_conn *c) { return c->peer; }
void pc_conn_get_stats(const pc_conn *c, pc_conn_stats *out) { *out = c->stats; }
