/* Private to src/loop/conn*.c: the connection struct and the helpers the
 * connection files share. [loop] throughout. */
#ifndef PULSARC_LOOP_CONN_INTERNAL_H
#define PULSARC_LOOP_CONN_INTERNAL_H

#include "loop/conn.h"
#include "loop/idmap_internal.h"
#include "loop/resolver.h"

typedef enum conn_state {
  ST_STARTING,
  ST_RESOLVING,
  ST_CONNECTING,
  ST_HANDSHAKE,
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

  pc_idmap reqs, prods;
  uint64_t next_request_id, next_producer_id;

  int depth;
  bool closing;
  pulsarc_err_t close_err;
  pc_conn_stats stats;
};

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
/* Drops the queue, calling done(w, false) on every entry (teardown). */
void pc_conn_fail_writes(pc_conn *c);

#endif
