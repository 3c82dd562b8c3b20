/* The connection's write queue: one FIFO of pc_wref. Commands are encoded
 * into owned chunks (small commands share a chunk) that sit in the same FIFO
 * as the frames producers lend us, so bytes leave in queue order. A writer
 * poller flushes once per loop iteration, coalescing everything queued
 * during the iteration into one sendmsg(MSG_NOSIGNAL) of up to IOV_MAX
 * iovecs; EPOLLOUT is registered only after the kernel refused bytes and
 * removed once the queue is empty. Over TLS the same queue is copied into
 * one staging buffer of up to PC_CONN_TLS_STAGE bytes per SSL_write (one
 * copy, few records, and a stable buffer for OpenSSL's retry rule).
 * [loop] throughout. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "loop/conn_internal.h"

#define PC_CONN_CHUNK_MIN 4096
#define PC_CONN_MAX_IOV (IOV_MAX < 1024 ? IOV_MAX : 1024)
#define PC_CONN_TLS_STAGE (64u * 1024)

typedef struct out_chunk {
  pc_wref w;
  size_t cap;
  bool sealed; /* CONNECT: nothing may be appended behind it in the chunk */
  uint8_t data[];
} out_chunk;

static void chunk_done(pc_wref *w, bool written) {
  (void)written;
  free(PC_CONTAINER_OF(w, out_chunk, w));
}

/* Appends the unwritten bytes of w to iov (at most room entries); returns
 * how many entries were added, or -1 when w breaks its invariant (see
 * wref_broken). The check costs an addition per segment and catches every
 * broken reference before a byte of it reaches the socket on any path: the
 * segments are always walked to the end, unless room runs out first (then
 * nothing behind w shares this iov array and a later call checks). */
static int wref_iov(const pc_wref *w, struct iovec *iov, int room, size_t *total) {
  if (w->iov == NULL) {
    if (room < 1 || w->len == w->written)
      return 0;
    iov[0].iov_base = (void *)(w->data + w->written);
    iov[0].iov_len = w->len - w->written;
    *total += iov[0].iov_len;
    return 1;
  }
  size_t skip = w->written, added = 0;
  int n = 0, i = 0;
  for (; i < w->iovcnt && n < room; i++) {
    size_t seg = w->iov[i].iov_len;
    if (skip >= seg) {
      skip -= seg;
      continue;
    }
    iov[n].iov_base = (uint8_t *)w->iov[i].iov_base + skip;
    iov[n].iov_len = seg - skip;
    added += seg - skip;
    skip = 0;
    n++;
  }
  if (i == w->iovcnt && (w->written > w->len || added != w->len - w->written))
    return -1;
  *total += added;
  return n;
}

/* A write reference whose segments do not sum to its length is a bug of
 * its owner (a producer's frame with holes). Left alone it would spin the
 * plain-TCP flush forever (no bytes to send, never complete) or send the
 * bytes of the next frame in its name; the stream may already hold part of
 * it, so the connection cannot go on and closes with INTERNAL, naming the
 * invariant in an ERROR line.
 * What happens to the messages (decided here, tested by
 * ConnWriteInvariant.*): every queued frame, the broken one included, is
 * handed back with done(w, false) and the producers see their connection
 * close like any other loss, so their pending messages take the normal
 * reconnect and resend path; a reference that is broken again on the next
 * connection fails the same way each time (one ERROR line per attempt, with
 * backoff) until the messages' send timeout (30 s by default) fails them
 * with TIMEOUT; with send_timeout_ms = 0 it goes on, visibly, in the log.
 * Failing them with INTERNAL instead would need the conn to know whose
 * messages a frame carries, which it does not; the loop never spins either
 * way. */
static void wref_broken(pc_conn *c, const pc_wref *w) {
  size_t sum = 0;
  for (int i = 0; i < w->iovcnt; i++)
    sum += w->iov[i].iov_len;
  PC_ERROR(c->log,
           "conn %s: internal error: write reference breaks the invariant \"segments sum to "
           "len\" (%d segments, %zu bytes, len %zu, written %zu): closing the connection",
           c->peer, w->iovcnt, sum, w->len, w->written);
  pc_conn_close(c, PULSARC_ERR_INTERNAL);
}

/* Copies up to max unwritten bytes of w (from w->written on) to out. 0, -1
 * (out of memory) or -2 (w breaks its invariant). */
static int wref_copy(const pc_wref *w, pc_buf *out, size_t max) {
  struct iovec iov[64];
  size_t left = max, total = 0, done = 0;
  pc_wref probe = *w;
  while (left > 0 && probe.written < probe.len) {
    total = 0;
    int n = wref_iov(&probe, iov, 64, &total);
    if (n <= 0)
      return -2; /* n == 0 with bytes left also means segments shorter than len */
    for (int i = 0; i < n && left > 0; i++) {
      size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
      if (pc_buf_append(out, iov[i].iov_base, take) != 0)
        return -1;
      left -= take;
      done += take;
    }
    probe.written = w->written + done;
  }
  return 0;
}

static void queue_link(pc_conn *c, pc_wref *w, bool at_head) {
  w->queued = true;
  w->written = 0;
  if (at_head) {
    w->next = c->out_head;
    c->out_head = w;
    if (!c->out_tail)
      c->out_tail = w;
  } else {
    w->next = NULL;
    if (c->out_tail)
      c->out_tail->next = w;
    else
      c->out_head = w;
    c->out_tail = w;
  }
  c->out_bytes += w->len;
}

/* Encodes cmd into the tail chunk when it has room, else a new chunk.
 * at_head (CONNECT only) puts a sealed chunk in front of everything. */
int pc_conn_queue_command(pc_conn *c, const Pulsarc__BaseCommand *cmd, bool at_head) {
  pc_buf_reset(&c->scratch);
  if (pc_frame_append_command(&c->scratch, cmd) != 0)
    return -1;
  size_t n = c->scratch.len;
  pc_wref *t = c->out_tail;
  if (!at_head && t && t->done == chunk_done) {
    out_chunk *ch = PC_CONTAINER_OF(t, out_chunk, w);
    if (!ch->sealed && ch->cap - t->len >= n) {
      memcpy(ch->data + t->len, c->scratch.data, n);
      t->len += n;
      c->out_bytes += n;
      PC_CONN_COUNT(c, frames_out, 1);
      return 0;
    }
  }
  size_t cap = n > PC_CONN_CHUNK_MIN ? n : PC_CONN_CHUNK_MIN;
  out_chunk *ch = malloc(sizeof *ch + cap);
  if (ch == NULL)
    return -1;
  memcpy(ch->data, c->scratch.data, n);
  ch->cap = cap;
  ch->sealed = at_head;
  ch->w.data = ch->data;
  ch->w.iov = NULL;
  ch->w.iovcnt = 0;
  ch->w.len = n;
  ch->w.done = chunk_done;
  ch->w.ctx = NULL;
  queue_link(c, &ch->w, at_head);
  PC_CONN_COUNT(c, frames_out, 1);
  if (at_head)
    c->connect_w = &ch->w;
  return 0;
}

/* Before CONNECTED only the CONNECT chunk may go out: a broker must see
 * nothing else until it accepted the connection. */
static bool may_write(const pc_conn *c) {
  if (c->closing || c->fd < 0)
    return false;
  bool staged = c->tls != NULL && pc_conn_tls_staged(c) > 0;
  if (c->out_head == NULL && !staged)
    return false;
  if (c->tls != NULL && c->tls_write_wants_read)
    return false; /* on_io retries once input arrived */
  if (c->state == ST_READY)
    return true;
  return c->state == ST_HANDSHAKE && (staged || c->out_head == c->connect_w);
}

void pc_conn_set_out_interest(pc_conn *c, bool on) {
  if (c->out_armed == on)
    return;
  int rc = pc_io_mod(c->loop, &c->io, EPOLLIN | (on ? EPOLLOUT : 0));
  if (rc != 0) {
    PC_WARN(c->log, "conn %s: epoll_ctl: %s", c->peer, strerror(-rc));
    pc_conn_close(c, PULSARC_ERR_DISCONNECTED);
    return;
  }
  c->out_armed = on;
}

/* Completions last: a done callback may queue, withdraw or close. */
static void complete(pc_conn *c, pc_wref *done_head) {
  while (done_head) {
    pc_wref *w = done_head;
    done_head = w->next;
    w->next = NULL;
    w->queued = false;
    if (w == c->connect_w)
      c->connect_w = NULL;
    w->done(w, true);
  }
}

/* Copies queued bytes into the empty staging buffer; fully copied entries
 * leave the queue onto *done_tail (their bytes are ours now). Before
 * CONNECTED only the CONNECT chunk is taken. */
static void tls_stage(pc_conn *c, pc_wref ***done_tail) {
  pc_buf_reset(&c->tls_out);
  c->tls_off = 0;
  bool handshake = c->state != ST_READY;
  while (c->out_head && c->tls_out.len < PC_CONN_TLS_STAGE) {
    pc_wref *w = c->out_head;
    if (handshake && w != c->connect_w)
      break;
    size_t take = w->len - w->written;
    if (take > PC_CONN_TLS_STAGE - c->tls_out.len)
      take = PC_CONN_TLS_STAGE - c->tls_out.len;
    int rc = take > 0 ? wref_copy(w, &c->tls_out, take) : 0;
    if (rc == -2) {
      wref_broken(c, w);
      return;
    }
    if (rc != 0) {
      pc_conn_close(c, PULSARC_ERR_NO_MEMORY);
      return;
    }
    w->written += take;
    c->out_bytes -= take;
    if (w->written < w->len)
      break;
    c->out_head = w->next;
    if (!c->out_head)
      c->out_tail = NULL;
    w->next = NULL;
    **done_tail = w;
    *done_tail = &w->next;
    if (handshake)
      break;
  }
}

static bool flush_tls(pc_conn *c) {
  pc_wref *done_head = NULL, **done_tail = &done_head;
  bool wrote = false;
  while (may_write(c)) {
    if (pc_conn_tls_staged(c) == 0) {
      tls_stage(c, &done_tail);
      if (c->closing || pc_conn_tls_staged(c) == 0)
        break;
    }
    size_t n = 0;
    char why[320];
    pc_tls_status st = pc_tls_write(c->tls, c->tls_out.data + c->tls_off, pc_conn_tls_staged(c), &n,
                                    why, sizeof why);
    c->stats.writev_calls++;
    if (st == PC_TLS_OK) {
      c->tls_off += n;
      PC_CONN_COUNT(c, bytes_out, (uint64_t)n);
      wrote = true;
    } else if (st == PC_TLS_WANT_WRITE) {
      pc_conn_set_out_interest(c, true);
      break;
    } else if (st == PC_TLS_WANT_READ) {
      c->tls_write_wants_read = true;
      break;
    } else if (c->state != ST_READY) {
      /* Before CONNECTED, a TLS session that dies is a TLS failure: with TLS
       * 1.3 the broker judges our certificate after our side of the
       * handshake is done, and its refusal may arrive as a reset. Its alert
       * may still be readable and names the reason. */
      uint8_t scratch[256];
      size_t got = 0;
      char alert[320];
      if (pc_tls_read(c->tls, scratch, sizeof scratch, &got, alert, sizeof alert) == PC_TLS_ERROR)
        snprintf(why, sizeof why, "%s", alert);
      else
        pc_conn_tls_refusal_hint(c, why, sizeof why);
      PC_ERROR(c->log, "conn %s: %s", c->peer, why);
      pc_conn_close_detail(c, PULSARC_ERR_TLS, "broker %s: %s", c->peer, why);
      break;
    } else {
      PC_WARN(c->log, "conn %s: %s", c->peer, why);
      pc_conn_close(c, PULSARC_ERR_DISCONNECTED);
      break;
    }
  }
  if (c->out_head == NULL && pc_conn_tls_staged(c) == 0 && c->out_armed && !c->closing &&
      !c->tls_read_wants_write)
    pc_conn_set_out_interest(c, false);
  complete(c, done_head);
  return wrote;
}

/* [loop, inside enter/leave] Writes as much as the kernel takes. */
bool pc_conn_flush(pc_conn *c) {
  if (c->tls != NULL)
    return flush_tls(c);
  pc_wref *done_head = NULL, **done_tail = &done_head;
  bool wrote = false;
  while (may_write(c)) {
    struct iovec iov[PC_CONN_MAX_IOV];
    int n = 0;
    size_t total = 0;
    int limit = c->state == ST_READY ? PC_CONN_MAX_IOV : 1;
    pc_wref *broken = NULL;
    for (pc_wref *w = c->out_head; w && n < limit && !broken; w = w->next) {
      int k = wref_iov(w, iov + n, limit - n, &total);
      if (k < 0)
        broken = w;
      else
        n += k;
    }
    if (broken) {
      wref_broken(c, broken);
      break;
    }
    ssize_t r = 0;
    if (n > 0) {
      struct msghdr mh;
      memset(&mh, 0, sizeof mh);
      mh.msg_iov = iov;
      mh.msg_iovlen = (size_t)n;
      r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      c->stats.writev_calls++;
      if (r < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          pc_conn_set_out_interest(c, true);
          break;
        }
        PC_WARN(c->log, "conn %s: write failed: %s", c->peer, strerror(errno));
        pc_conn_close(c, PULSARC_ERR_DISCONNECTED);
        break;
      }
      wrote = true;
      PC_CONN_COUNT(c, bytes_out, (uint64_t)r);
      c->out_bytes -= (size_t)r;
    }
    /* Zero-length entries complete here too (rem == 0 <= left). */
    size_t left = (size_t)r;
    while (c->out_head) {
      pc_wref *w = c->out_head;
      size_t rem = w->len - w->written;
      if (rem > left) {
        w->written += left;
        break;
      }
      w->written = w->len;
      left -= rem;
      c->out_head = w->next;
      if (!c->out_head)
        c->out_tail = NULL;
      w->next = NULL;
      *done_tail = w;
      done_tail = &w->next;
    }
    if ((size_t)r < total) { /* short write: the socket buffer is full */
      pc_conn_set_out_interest(c, true);
      break;
    }
  }
  if (c->out_head == NULL && c->out_armed && !c->closing)
    pc_conn_set_out_interest(c, false);
  complete(c, done_head);
  return wrote;
}

bool pc_conn_writer_has_work(pc_poller *p) {
  pc_conn *c = p->ctx;
  return may_write(c) && !c->out_armed;
}

bool pc_conn_writer_poll(pc_loop *loop, pc_poller *p) {
  (void)loop;
  pc_conn *c = p->ctx;
  if (!pc_conn_writer_has_work(p))
    return false;
  pc_conn_enter(c);
  bool wrote = pc_conn_flush(c);
  pc_conn_leave(c);
  return wrote;
}

int pc_conn_send_command(pc_conn *c, const Pulsarc__BaseCommand *cmd) {
  if (c->closing)
    return -1;
  return pc_conn_queue_command(c, cmd, false);
}

int pc_conn_write_ref(pc_conn *c, pc_wref *w) {
  if (c->closing)
    return -1;
  queue_link(c, w, false);
  PC_CONN_COUNT(c, frames_out, 1);
  return 0;
}

bool pc_conn_withdraw(pc_conn *c, pc_wref *w) {
  if (!w->queued || w->written > 0)
    return false;
  pc_wref *prev = NULL;
  for (pc_wref *it = c->out_head; it; prev = it, it = it->next) {
    if (it != w)
      continue;
    if (prev)
      prev->next = w->next;
    else
      c->out_head = w->next;
    if (c->out_tail == w)
      c->out_tail = prev;
    c->out_bytes -= w->len;
    w->next = NULL;
    w->queued = false;
    pc_conn_enter(c);
    w->done(w, false);
    pc_conn_leave(c);
    return true;
  }
  return false;
}

size_t pc_conn_unwritten_bytes(const pc_conn *c) {
  return c->out_bytes + (c->tls != NULL ? pc_conn_tls_staged(c) : 0);
}
