/* Closing a connection, the last step of every connection's life on its
 * I/O thread: the close request (carried out at once, or by the outermost
 * pc_conn_leave when a callback is running), and the teardown that fails
 * queued writes and outstanding requests, tells attached producers and the
 * owner, and frees everything, wiping buffers that held credentials. [loop] */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err_detail.h"
#include "loop/conn_internal.h"

void pc_conn_wipe(pc_buf *b) {
  if (b->data != NULL && b->len > 0)
    OPENSSL_cleanse(b->data, b->len);
  pc_buf_free(b);
}

void pc_conn_fail_writes(pc_conn *c) {
  pc_wref *w = c->out_head;
  c->out_head = c->out_tail = NULL;
  c->connect_w = NULL;
  c->out_bytes = 0;
  while (w) {
    pc_wref *next = w->next;
    w->next = NULL;
    w->queued = false;
    w->done(w, false);
    w = next;
  }
}

void pc_conn_tls_refusal_hint(pc_conn *c, char *why, size_t len) {
  size_t n = strnlen(why, len);
  if (n + 1 >= len)
    return;
  snprintf(why + n, len - n, "%s",
           pc_tls_ctx_has_cert(c->tls_ctx)
               ? " (the broker ended the TLS session before the Pulsar handshake: it most likely "
                 "rejected our client certificate)"
               : " (the broker ended the TLS session before the Pulsar handshake: it most likely "
                 "requires a client certificate; set tls_cert_file and tls_key_file)");
}

void pc_conn_close_detail(pc_conn *c, pulsarc_err_t err, const char *fmt, ...) {
  if (!c->closing) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->close_detail, sizeof c->close_detail, fmt, ap);
    va_end(ap);
  }
  pc_conn_close(c, err);
}

void pc_conn_close(pc_conn *c, pulsarc_err_t err) {
  if (c->closing)
    return;
  c->closing = true;
  c->close_err = err;
  if (c->depth == 0)
    pc_conn_teardown(c);
}

void pc_conn_teardown(pc_conn *c) {
  c->depth++; /* nothing below may re-enter teardown */
  pc_stat_add(c->state == ST_READY ? &c->ctr->conns_closed : &c->ctr->conns_failed, 1);
  c->state = ST_CLOSED;
  pc_loop *loop = c->loop;
  if (c->job)
    pc_resolve_cancel(c->job);
  c->job = NULL;
  pc_timer_cancel(loop, &c->start_timer);
  pc_timer_cancel(loop, &c->connect_timer);
  pc_timer_cancel(loop, &c->keepalive_timer);
  pc_poller_del(loop, &c->writer);
  pc_tls_free(c->tls); /* no close_notify: nothing waits for it */
  c->tls = NULL;
  if (c->fd >= 0) {
    pc_io_del(loop, &c->io);
    close(c->fd);
    c->fd = -1;
  }
  pulsarc_err_t err = c->close_err == PULSARC_OK ? PULSARC_ERR_DISCONNECTED : c->close_err;
  PC_DEBUG(c->log, "conn %s: closing (%s)", c->peer, pulsarc_err_str(err));
  /* Everything below reports this close, synchronously on this thread: the
   * detail is this conn's (or none), never one left by an earlier failure. */
  pc_err_detail_copy(c->close_detail);

  pc_conn_fail_writes(c);
  for (pc_idnode *n; (n = pc_idmap_pop(&c->reqs)) != NULL;) {
    conn_req *r = PC_CONTAINER_OF(n, conn_req, node);
    pc_timer_cancel(loop, &r->timer);
    r->cb(c, err, NULL, r->ctx);
    free(r);
  }
  for (pc_idnode *n; (n = pc_idmap_pop(&c->prods)) != NULL;) {
    conn_prod *p = PC_CONTAINER_OF(n, conn_prod, node);
    pc_conn_producer h = p->h;
    free(p);
    if (h.on_closed)
      h.on_closed(c, err, h.ctx);
  }
  if (c->ev.on_closed)
    c->ev.on_closed(c, c->close_err, c->ev.ctx);

  pc_idmap_free(&c->reqs);
  pc_idmap_free(&c->prods);
  pc_decoder_free(&c->dec);
  pc_conn_wipe(&c->scratch); /* may hold the last CONNECT / AUTH_RESPONSE */
  pc_conn_wipe(&c->tls_out);
  free(c->addrs);
  free(c->host);
  free(c->auth_method);
  free(c->proxy_url);
  free(c);
  pc_err_detail_clear();
}
