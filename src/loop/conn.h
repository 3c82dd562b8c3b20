/* A broker connection: resolve (off the I/O thread), connect (every
 * address in turn, IPv6 included), CONNECT/CONNECTED handshake, PING/PONG
 * keepalive, writes (owned command bytes plus frames borrowed from producers,
 * via sendmsg(MSG_NOSIGNAL), or SSL_write of coalesced bytes over TLS),
 * incremental reads, authentication (CONNECT credentials, AUTH_CHALLENGE), request/response
 * matching by request_id with timeouts, and dispatch of producer-addressed commands by producer_id.
 *
 * A connection belongs to one loop; every function here is [loop] unless
 * marked otherwise. Callbacks run on the loop thread. */
#ifndef PULSARC_LOOP_CONN_H
#define PULSARC_LOOP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "codec/frame.h"
#include "common/buf.h"
#include "loop/loop.h"
#include "loop/tls.h"
#include "pulsarc/pulsarc.h"

typedef struct pc_conn pc_conn;

/* Protocol version we advertise: we implement nothing newer (v20 would let
 * the broker send TOPIC_MIGRATED). */
#define PC_PROTOCOL_VERSION 19
#define PC_CLIENT_VERSION "pulsarc-0.1"

/* Credentials for CONNECT, asked again for every AUTH_CHALLENGE so that a
 * refreshed token goes out. */
typedef struct pc_conn_auth {
  const char *method; /* auth_method_name ("token", "tls"); NULL = "none"; copied */
  /* [loop] Appends fresh auth data to out. 0, or -1 with a reason in why
   * (never the secret itself). NULL: no data. */
  int (*get_data)(void *ctx, pc_buf *out, char *why, size_t why_len);
  void *ctx; /* must outlive the connection */
} pc_conn_auth;

typedef struct pc_conn_opts {
  const char *host; /* copied */
  uint16_t port;
  const char *proxy_to_broker_url; /* "host:port" or NULL; copied */
  uint64_t connect_timeout_ms;     /* covers resolve + connect + handshake */
  uint64_t keepalive_interval_ms;  /* 0 = no keepalive */
  const char *auth_method_name;    /* NULL = "none"; copied (auth.method wins) */
  pc_conn_auth auth;
  /* TLS: handshake right after TCP connect, then everything inside TLS.
   * NULL = plain TCP. Borrowed: must outlive the connection. */
  pc_tls_ctx *tls;
} pc_conn_opts;

/* Events of the connection as a whole, for its owner (the pool). */
typedef struct pc_conn_events {
  /* CONNECTED arrived; max message size and protocol version now known. */
  void (*on_ready)(pc_conn *c, void *ctx);
  /* The connection is closed (err says why: CONNECT, RESOLVE, DISCONNECTED,
   * PROTOCOL, TIMEOUT, TLS, BROKER_AUTHENTICATION...). Every request callback and every producer's
   * on_closed has already run. The conn is freed right after this returns. */
  void (*on_closed)(pc_conn *c, pulsarc_err_t err, void *ctx);
  void *ctx;
} pc_conn_events;

/* Starts connecting. Resolution runs on a resolver thread; the result comes
 * back to the loop. NULL only on allocation failure (errors later arrive
 * through on_closed). */
pc_conn *pc_conn_open(pc_loop *loop, const pc_conn_opts *opts, const pc_conn_events *ev,
                      const pc_logger *log);
/* Closes now: fails outstanding requests with err, tells producers, then
 * on_closed. Safe to call from inside any callback of this conn (the actual
 * teardown is deferred until the callback returns). */
void pc_conn_close(pc_conn *c, pulsarc_err_t err);

bool pc_conn_is_ready(const pc_conn *c);
/* True while the TLS handshake runs (TCP is connected, CONNECT not sent). */
bool pc_conn_in_tls_handshake(const pc_conn *c);
/* From CONNECTED (default 5 MiB until then). */
uint32_t pc_conn_max_message_size(const pc_conn *c);
int32_t pc_conn_protocol_version(const pc_conn *c);
const char *pc_conn_peer(const pc_conn *c); /* "host:port" for logs */

/* ---- writes ---- */

/* Encodes and queues a simple command. 0 or -1 (then the conn is closing). */
int pc_conn_send_command(pc_conn *c, const Pulsarc__BaseCommand *cmd);

/* A frame owned by someone else (a producer's pending entry), written with
 * sendmsg without copying. The owner must keep data alive until `done` runs:
 * done(w, true) after the last byte was handed to the kernel, or
 * done(w, false) when the connection closed first or the frame was
 * withdrawn before its first byte was written. */
typedef struct pc_wref pc_wref;
struct pc_wref {
  const uint8_t *data;     /* the bytes, when iov is NULL */
  size_t len;              /* total bytes */
  const struct iovec *iov; /* else the bytes as segments summing to len */
  int iovcnt;
  size_t written; /* managed by the conn */
  void (*done)(pc_wref *w, bool written);
  void *ctx;
  pc_wref *next; /* managed by the conn */
  bool queued;   /* managed by the conn */
};
/* Queues w behind everything queued so far. 0 or -1 (closing: done is not
 * called, w is not queued). */
int pc_conn_write_ref(pc_conn *c, pc_wref *w);
/* Withdraws w if none of its bytes were written yet: returns true and calls
 * done(w, false). Returns false if it is partly or fully written (it will
 * complete normally). */
bool pc_conn_withdraw(pc_conn *c, pc_wref *w);
/* Bytes queued but not yet handed to the kernel (for backpressure/stats). */
size_t pc_conn_unwritten_bytes(const pc_conn *c);

/* ---- requests ---- */

/* A fresh request id, unique on this connection. */
uint64_t pc_conn_next_request_id(pc_conn *c);

/* Outcome of a request: err == PULSARC_OK with the response frame (SUCCESS,
 * ERROR, LOOKUP_RESPONSE, PARTITIONED_METADATA_RESPONSE, PRODUCER_SUCCESS,
 * ...; an ERROR frame is delivered as a frame, the callee maps it), or
 * err = TIMEOUT / DISCONNECTED with f == NULL. Return true to keep the
 * request open for another response with no timeout (PRODUCER_SUCCESS with
 * producer_ready = false); false to finish it. */
typedef bool (*pc_request_cb)(pc_conn *c, pulsarc_err_t err, const pc_frame *f, void *ctx);

/* Sends cmd (whose request_id field the caller set from
 * pc_conn_next_request_id) and calls cb exactly once (or more while it
 * returns true) with the response carrying request_id, or with TIMEOUT after
 * timeout_ms, or DISCONNECTED. 0, or -1 if the conn is closing (cb not
 * called). */
int pc_conn_request(pc_conn *c, const Pulsarc__BaseCommand *cmd, uint64_t request_id,
                    uint64_t timeout_ms, pc_request_cb cb, void *ctx);
/* Forgets a request without calling its callback (owner went away). */
void pc_conn_request_cancel(pc_conn *c, uint64_t request_id);

/* ---- producers ---- */

/* Commands addressed to a producer id: SEND_RECEIPT, SEND_ERROR and
 * CLOSE_PRODUCER from the broker. on_closed: the connection went away. */
typedef struct pc_conn_producer {
  void (*on_frame)(pc_conn *c, const pc_frame *f, void *ctx);
  void (*on_closed)(pc_conn *c, pulsarc_err_t err, void *ctx);
  void *ctx;
} pc_conn_producer;

/* Registers a handler under a producer id unique on this connection
 * (*id_inout == UINT64_MAX picks a fresh one; otherwise keeps the given id,
 * which must not be in use: producers keep their id across re-creation on
 * the same connection). 0 or -1. */
int pc_conn_attach_producer(pc_conn *c, uint64_t *id_inout, const pc_conn_producer *h);
void pc_conn_detach_producer(pc_conn *c, uint64_t id);

/* For tests: queue-level counters. */
typedef struct pc_conn_stats {
  uint64_t frames_in, frames_out, bytes_in, bytes_out, writev_calls;
} pc_conn_stats;
void pc_conn_get_stats(const pc_conn *c, pc_conn_stats *out);

#endif
