/* Private to src/loop/conn*.c: the connection struct and the helpers the
 * connection files share. [loop] throughout. */
#ifndef PULSARC_LOOP_CONN_INTERNAL_H
#define PULSARC_LOOP_CONN_INTERNAL_H

#include "common/err_detail.h"
#include "loop/conn.h"
#include "loop/idmap_internal.h"
#include "loop/resolver.h"

typedef enum conn_state {
  ST_STARTING,
  ST_RESOLVING,
  ST_CONNECTING,
  ST_TLS,       /* TCP up, TLS handshake in progress */
  ST_HANDSHAKE, /* CONNECT sent, waiting for CONNECTED */
  ST_READY,
  ST_CLOSED
} conn_state;

struct pc_conn {
  pc_loop *loop;
  const pc_logger *log;
  char *host;
  uint16_t port;
  char *proxy_url;
  char *auth_method;
  pc_conn_auth auth;
  uint64_t connect_timeout_ms, keepalive_ms;
  pc_conn_events ev;
  char peer[280];

  conn_state state;
  int fd;
  pc_io io;
  pc_poller writer;
  pc_resolve_job *job;
  pc_addr *addrs;
  size_t naddrs, addr_next;

  pc_timer start_timer, connect_timer, keepalive_timer;
  bool ping_outstanding;

  pc_decoder dec;
  uint32_t max_message_size;
  int32_t protocol_version;

  pc_wref *out_head, *out_tail;
  pc_wref *connect_w; /* the CONNECT chunk until fully written */
  size_t out_bytes;
  bool out_armed;
  pc_buf scratch;

  /* TLS (tls == NULL on plain TCP). Plaintext is copied from the queue into
   * tls_out and handed to SSL_write from there; a retry after WANT_* passes
   * the same bytes again. */
  pc_tls_ctx *tls_ctx;
  pc_tls *tls;
  pc_buf tls_out;
  size_t tls_off;
  bool tls_read_wants_write; /* SSL_read needs EPOLLOUT */
  bool tls_write_wants_read; /* SSL_write waits for input */

  pc_idmap reqs, prods;
  uint64_t next_request_id, next_producer_id;

  int depth;
  bool closing;
  pulsarc_err_t close_err;
  char close_detail[PC_ERR_DETAIL_MAX]; /* why, for pulsarc_last_error_text(); "" if none */
  pc_conn_stats stats;
  pc_loop_counters *ctr; /* the loop's totals, which PC_CONN_COUNT keeps too */
};

/* A request waiting for its answer, and a producer attached to the conn. */
typedef struct conn_req {
  pc_idnode node;
  pc_conn *c;
  pc_request_cb cb;
  void *ctx;
  pc_timer timer;
  bool in_cb, cancelled;
} conn_req;

typedef struct conn_prod {
  pc_idnode node;
  pc_conn_producer h;
} conn_prod;

/* Re-entrancy bracket around every entry from the loop; a close requested
 * inside it is carried out by the outermost pc_conn_leave, after which the
 * conn may be gone. */
static inline void pc_conn_enter(pc_conn *c) { c->depth++; }
void pc_conn_teardown(pc_conn *c);
static inline void pc_conn_leave(pc_conn *c) {
  if (--c->depth == 0 && c->closing)
    pc_conn_teardown(c);
}

/* Encodes cmd into the write queue (at_head: CONNECT, in front of all). */
int pc_conn_queue_command(pc_conn *c, const Pulsarc__BaseCommand *cmd, bool at_head);
/* Writes as much as the kernel takes; true if bytes went out. Inside a
 * bracket only (completions run callbacks). */
bool pc_conn_flush(pc_conn *c);
/* The writer poller's two hooks. */
bool pc_conn_writer_has_work(pc_poller *p);
bool pc_conn_writer_poll(pc_loop *loop, pc_poller *p);

/* Counts on the connection and in its loop's totals (client stats). */
#define PC_CONN_COUNT(c, field, n)                                                                 \
  do {                                                                                             \
    (c)->stats.field += (n);                                                                       \
    pc_stat_add(&(c)->ctr->field, (n));                                                            \
  } while (0)
/* conn_auth.c: CONNECT (queued at the head) with fresh credentials; 0 or
 * -1 (no credentials: logged, and the conn closed with
 * PULSARC_ERR_AUTH_DATA). */
int pc_conn_queue_connect(pc_conn *c);
/* Answers an AUTH_CHALLENGE with freshly fetched credentials (closes the
 * conn if there are none). */
void pc_conn_answer_auth_challenge(pc_conn *c);
/* conn_close.c: the broker ended a TLS session after our side of the handshake
 * and before CONNECTED without a readable alert: appends to why (a
 * sentence of len bytes) which side most likely refused what. */
void pc_conn_tls_refusal_hint(pc_conn *c, char *why, size_t len);
/* conn_close.c: pc_conn_close with a sentence (never a secret) that the owner's
 * callbacks read from pulsarc_last_error_text() during the teardown. */
void pc_conn_close_detail(pc_conn *c, pulsarc_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Zeroes then frees a buffer that may have held credentials. */
void pc_conn_wipe(pc_buf *b);
/* Turns EPOLLOUT interest on or off (closes the conn if epoll refuses). */
void pc_conn_set_out_interest(pc_conn *c, bool on);
/* Bytes staged for TLS but not yet taken by SSL_write. */
static inline size_t pc_conn_tls_staged(const pc_conn *c) { return c->tls_out.len - c->tls_off; }
/* Drops the queue, calling done(w, false) on every entry (teardown). */
void pc_conn_fail_writes(pc_conn *c);

#endif
