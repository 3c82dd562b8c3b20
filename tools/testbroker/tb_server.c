/* Test broker: its own small epoll server loop (it must not use the client's
 * loop), connection I/O, deferred SEND answers, start and stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "tb_internal.h"

#define TB_READS_PER_EVENT 16 /* fairness between busy connections */
#define TB_READ_CHUNK (256 * 1024)

/* ------------------------------------------------------------------ output */

static void conn_update_events(pulsarc_tb *tb, tb_conn *c, bool want_out) {
  if (c->want_out == want_out)
    return;
  struct epoll_event ev = {.events = tb_fault_in_events(tb) | (want_out ? EPOLLOUT : 0u),
                           .data.ptr = c};
  if (epoll_ctl(tb->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
    c->want_out = want_out;
}

/* [tb] Writes as much pending output as the socket takes. */
static void conn_flush(pulsarc_tb *tb, tb_conn *c) {
  while (!c->closed && c->out_off < c->out.len) {
    ssize_t n = tb_sec_send(tb, c, c->out.data + c->out_off, c->out.len - c->out_off);
    if (n > 0) {
      c->out_off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      conn_update_events(tb, c, true);
      return;
    } else {
      tb_conn_close(tb, c, false);
      return;
    }
  }
  if (c->closed)
    return;
  c->out.len = 0;
  c->out_off = 0;
  conn_update_events(tb, c, false);
}

void tb_conn_send_cmd(pulsarc_tb *tb, tb_conn *c, const Pulsarc__BaseCommand *cmd) {
  if (c->closed)
    return;
  if (c->out.len - c->out_off > TB_MAX_OUT_BYTES) {
    tb_conn_close(tb, c, false);
    return;
  }
  if (c->out_off > 0 && c->out_off == c->out.len) {
    c->out.len = 0;
    c->out_off = 0;
  }
  size_t before = c->out.len;
  if (pc_frame_append_command(&c->out, cmd) != 0) {
    tb_conn_close(tb, c, false);
    return;
  }
  tb_fault_on_frame_out(tb, c->out.data + before, c->out.len - before);
  tb->st.frames_out++;
}

static uint64_t deferred_due(const pulsarc_tb *tb, const tb_deferred *d) {
  return tb->hold ? UINT64_MAX : d->t0_ns + tb->delay_ns;
}

/* [tb] Moves due SEND answers to the output, in arrival order. */
static void conn_release(pulsarc_tb *tb, tb_conn *c, uint64_t now) {
  while (c->dq_head && !c->closed && deferred_due(tb, c->dq_head) <= now) {
    tb_deferred *d = c->dq_head;
    c->dq_head = d->next;
    if (!c->dq_head)
      c->dq_tail = NULL;
    size_t before = c->out.len;
    if (pc_buf_append(&c->out, d->data, d->len) != 0) {
      free(d);
      tb_conn_close(tb, c, false);
      return;
    }
    tb_fault_on_frame_out(tb, c->out.data + before, d->len);
    tb->st.frames_out++;
    free(d);
  }
}

void tb_conn_send_answer(pulsarc_tb *tb, tb_conn *c, const Pulsarc__BaseCommand *cmd) {
  if (c->closed)
    return;
  if (!c->dq_head && !tb->hold && tb->delay_ns == 0) {
    tb_conn_send_cmd(tb, c, cmd);
    return;
  }
  pc_buf tmp = {0};
  if (pc_frame_append_command(&tmp, cmd) != 0) {
    tb_conn_close(tb, c, false);
    return;
  }
  tb_deferred *d = malloc(sizeof(*d) + tmp.len);
  if (!d) {
    pc_buf_free(&tmp);
    tb_conn_close(tb, c, false);
    return;
  }
  d->next = NULL;
  d->t0_ns = pc_mono_ns();
  d->len = tmp.len;
  memcpy(d->data, tmp.data, tmp.len);
  pc_buf_free(&tmp);
  if (c->dq_tail)
    c->dq_tail->next = d;
  else
    c->dq_head = d;
  c->dq_tail = d;
}

/* ------------------------------------------------------------- connections */

void tb_conn_close(pulsarc_tb *tb, tb_conn *c, bool protocol_error) {
  if (c->closed)
    return;
  c->closed = true;
  if (protocol_error)
    tb->st.protocol_errors++;
  tb_conn_forget_producers(tb, c);
  epoll_ctl(tb->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (c->prev)
    c->prev->next = c->next;
  else
    tb->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = NULL;
  c->next = tb->zombies;
  tb->zombies = c;
  tb->st.connections_open--;
}

static void conn_free(tb_conn *c) {
  while (c->dq_head) {
    tb_deferred *d = c->dq_head;
    c->dq_head = d->next;
    free(d);
  }
  tb_sec_conn_free(c);
  pc_decoder_free(&c->dec);
  pc_buf_free(&c->out);
  free(c->by_id);
  free(c);
}

static void free_zombies(pulsarc_tb *tb) {
  while (tb->zombies) {
    tb_conn *c = tb->zombies;
    tb->zombies = c->next;
    conn_free(c);
  }
}

static void on_accept(pulsarc_tb *tb) {
  for (;;) {
    int fd = accept4(tb->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN, or a transient error: wait for the next event */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tb_conn *c = calloc(1, sizeof(*c));
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    pc_decoder_init(&c->dec, tb->max_message_size + TB_FRAME_PADDING);
    struct epoll_event ev = {.events = tb_fault_in_events(tb), .data.ptr = c};
    if (epoll_ctl(tb->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      pc_decoder_free(&c->dec);
      free(c);
      close(fd);
      continue;
    }
    if (tb->ping_interval_ms)
      c->next_ping_ns = pc_mono_ns() + tb->ping_interval_ms * 1000000ull;
    c->next = tb->conns;
    if (tb->conns)
      tb->conns->prev = c;
    tb->conns = c;
    tb->st.connections++;
    tb->st.connections_open++;
    if (tb_sec_conn_new(tb, c) != 0)
      tb_conn_close(tb, c, false);
  }
}

static void on_readable(pulsarc_tb *tb, tb_conn *c) {
  for (int i = 0; i < TB_READS_PER_EVENT && !c->closed; i++) {
    size_t avail = 0;
    uint8_t *space = pc_decoder_space(&c->dec, TB_READ_CHUNK, &avail);
    if (!space) {
      tb_conn_close(tb, c, false);
      return;
    }
    ssize_t n = tb_sec_recv(tb, c, space, avail); /* TLS when on */
    if (n == 0) {
      tb_conn_close(tb, c, false);
      return;
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        tb_conn_close(tb, c, false);
      return;
    }
    pc_decoder_commit(&c->dec, (size_t)n);
    pc_frame f;
    int r = 0;
    while (!c->closed && (r = pc_decoder_next(&c->dec, &f)) == 1) {
      tb->st.frames_in++;
      if (!tb_sec_filter(tb, c, &f)) /* credential checks */
        tb_handle_frame(tb, c, &f);
      if (!c->closed)
        tb_fault_after_frame(tb, c, &f);
    }
    if (!c->closed && r < 0) {
      tb_conn_close(tb, c, true); /* malformed or oversized frame */
      return;
    }
    if ((size_t)n < avail && !c->sec)
      return; /* drained the socket (TLS reads one record at a time: go on) */
  }
}

static void send_ping(pulsarc_tb *tb, tb_conn *c) {
  pc_cmd cmd;
  tb_conn_send_cmd(tb, c, pc_cmd_ping(&cmd));
}

/* [tb] Releases due answers, sends pings, flushes; returns the epoll timeout. */
static int run_timers_and_flush(pulsarc_tb *tb) {
  uint64_t now = pc_mono_ns();
  uint64_t next = tb_consumers_tick(tb, now); /* delayed deliveries that came due */
  next = tb_sec_tick(tb, now, next);          /* AUTH_CHALLENGEs */
  for (tb_conn *c = tb->conns, *nx; c; c = nx) {
    nx = c->next;
    conn_release(tb, c, now);
    if (!c->closed && c->dq_head) {
      uint64_t due = deferred_due(tb, c->dq_head);
      if (due < next)
        next = due;
    }
    if (!c->closed && tb->ping_interval_ms && c->connected) {
      if (c->next_ping_ns <= now) {
        send_ping(tb, c);
        c->next_ping_ns = now + tb->ping_interval_ms * 1000000ull;
      }
      if (c->next_ping_ns < next)
        next = c->next_ping_ns;
    }
    if (!c->closed && c->out.len > c->out_off)
      conn_flush(tb, c);
  }
  if (next == UINT64_MAX)
    return -1;
  if (next <= now)
    return 0;
  uint64_t ms = (next - now + 999999) / 1000000;
  return ms > 60000 ? 60000 : (int)ms;
}

static void run_requests(pulsarc_tb *tb) {
  bool any = false;
  while (tb->reqs) {
    tb_req *r = tb->reqs;
    tb->reqs = r->next;
    if (r->kind == TB_REQ_DROP) {
      int n = 0;
      while (tb->conns) {
        tb_conn_close(tb, tb->conns, false);
        n++;
      }
      tb->fx.drops += (uint64_t)n;
      r->result = n;
    } else if (r->kind == TB_REQ_CLOSE_PRODUCERS) {
      r->result = tb_close_topic_producers(tb, r->topic);
    } else if (r->kind == TB_REQ_APPLY_READING) {
      tb_fault_apply_reading(tb);
    }
    r->done = true;
    any = true;
  }
  if (any)
    pthread_cond_broadcast(&tb->cond);
}

static void *broker_thread(void *arg) {
  pulsarc_tb *tb = arg;
  struct epoll_event evs[64];
  int timeout = -1;
  for (;;) {
    int n = epoll_wait(tb->epoll_fd, evs, 64, timeout);
    pthread_mutex_lock(&tb->mu);
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &tb->listen_fd) {
        on_accept(tb);
      } else if (p == &tb->wake_fd) {
        uint64_t v;
        ssize_t rr = read(tb->wake_fd, &v, sizeof(v));
        (void)rr;
      } else {
        tb_conn *c = p;
        if (c->closed)
          continue;
        if (tb->fx.stop_reading) {
          /* Reading is stopped on purpose: a dead peer is closed unread. */
          if (evs[i].events & (EPOLLERR | EPOLLHUP))
            tb_conn_close(tb, c, false);
        } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          on_readable(tb, c);
        }
        if (!c->closed && (evs[i].events & EPOLLOUT))
          conn_flush(tb, c);
      }
    }
    run_requests(tb);
    if (tb->stopping) {
      while (tb->conns)
        tb_conn_close(tb, tb->conns, false);
      free_zombies(tb);
      tb->stopped = true;
      pthread_cond_broadcast(&tb->cond);
      pthread_mutex_unlock(&tb->mu);
      return NULL;
    }
    timeout = run_timers_and_flush(tb);
    free_zombies(tb);
    pthread_cond_broadcast(&tb->cond); /* waiters re-check their condition */
    pthread_mutex_unlock(&tb->mu);
  }
}

/* ------------------------------------------------------------ start / stop */

pulsarc_tb_opts pulsarc_tb_opts_default(void) {
  pulsarc_tb_opts o;
  memset(&o, 0, sizeof(o));
  o.listen_host = "127.0.0.1";
  o.max_message_size = 5 * 1024 * 1024;
  o.retain_bytes = 256ull * 1024 * 1024;
  o.max_entry_records = 1024u * 1024;
  o.dedup = true;
  o.max_protocol_version = 19;
  return o;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int listen_on(pulsarc_tb *tb, const char *host, uint16_t port) {
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char portstr[8];
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
  int rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
  if (rc != 0)
    return -EINVAL;
  int err = -EADDRNOTAVAIL;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = -errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      err = -errno;
      close(fd);
      continue;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    tb->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    tb->listen_fd = fd;
    char shown[64];
    const char *h = host;
    if (!h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
      h = "127.0.0.1";
    if (strchr(h, ':'))
      snprintf(shown, sizeof(shown), "[%s]", h);
    else
      snprintf(shown, sizeof(shown), "%s", h);
    snprintf(tb->service_url, sizeof(tb->service_url), "pulsar://%s:%u", shown, (unsigned)tb->port);
    freeaddrinfo(res);
    return 0;
  }
  freeaddrinfo(res);
  return err;
}

static void tb_release(pulsarc_tb *tb) {
  if (tb->listen_fd >= 0)
    close(tb->listen_fd);
  if (tb->wake_fd >= 0)
    close(tb->wake_fd);
  if (tb->epoll_fd >= 0)
    close(tb->epoll_fd);
  tb->listen_fd = tb->wake_fd = tb->epoll_fd = -1;
}

void pulsarc_tb_free(pulsarc_tb *tb) {
  if (!tb)
    return;
  pulsarc_tb_stop(tb);
  tb_release(tb);
  TB_MAP_FOREACH(&tb->topics, i) tb_topic_free(tb->topics.vals[i]);
  tb_map_free(&tb->topics);
  TB_MAP_FOREACH(&tb->partitions, i) free((char *)tb->partitions.keys[i]);
  tb_map_free(&tb->partitions);
  tb_sec_free(tb);
  tb_txn_free(tb);
  free(tb->listen_host);
  free(tb->advertised_url);
  free(tb->redirect_to);
  free(tb->assign_to);
  pthread_mutex_destroy(&tb->mu);
  pthread_cond_destroy(&tb->cond);
  free(tb);
}

int pulsarc_tb_start(const pulsarc_tb_opts *opts, pulsarc_tb **out) {
  if (!opts || !out || opts->max_message_size == 0 ||
      opts->max_message_size > UINT32_MAX - 2 * TB_FRAME_PADDING)
    return -EINVAL;
  *out = NULL;
  pulsarc_tb *tb = calloc(1, sizeof(*tb));
  if (!tb)
    return -ENOMEM;
  tb->listen_fd = tb->wake_fd = tb->epoll_fd = -1;
  pthread_mutex_init(&tb->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&tb->cond, &ca);
  pthread_condattr_destroy(&ca);
  tb->listen_host = dup_or_null(opts->listen_host ? opts->listen_host : "127.0.0.1");
  tb->advertised_url = dup_or_null(opts->advertised_url);
  tb->redirect_to = dup_or_null(opts->redirect_to);
  tb->assign_to = dup_or_null(opts->assign_to);
  tb->proxy_through = opts->proxy_through;
  tb->dedup = opts->dedup;
  tb->max_message_size = opts->max_message_size;
  tb->retain_bytes = opts->retain_bytes;
  tb->max_entry_records = opts->max_entry_records;
  tb->ping_interval_ms = opts->ping_interval_ms;
  tb->max_protocol = opts->max_protocol_version > 0 ? opts->max_protocol_version : 19;
  tb->next_ledger_id = 1;
  tb->next_name = 0;
  tb->next_request_id = 1;
  int rc = -ENOMEM;
  if (!tb->listen_host || (opts->advertised_url && !tb->advertised_url) ||
      (opts->redirect_to && !tb->redirect_to) || (opts->assign_to && !tb->assign_to))
    goto fail;
  for (size_t i = 0; i < opts->num_partitions; i++) {
    if (!opts->partitions[i].topic) {
      rc = -EINVAL;
      goto fail;
    }
    if (tb_set_partitions_locked(tb, opts->partitions[i].topic, opts->partitions[i].partitions))
      goto fail;
  }
  rc = listen_on(tb, tb->listen_host, opts->port);
  if (rc == 0)
    rc = tb_sec_start(tb, opts); /* TLS / token options; pulsar+ssl:// URL */
  if (rc != 0)
    goto fail;
  tb->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  tb->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (tb->wake_fd < 0 || tb->epoll_fd < 0) {
    rc = -errno;
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tb->listen_fd};
  struct epoll_event ev2 = {.events = EPOLLIN, .data.ptr = &tb->wake_fd};
  if (epoll_ctl(tb->epoll_fd, EPOLL_CTL_ADD, tb->listen_fd, &ev) != 0 ||
      epoll_ctl(tb->epoll_fd, EPOLL_CTL_ADD, tb->wake_fd, &ev2) != 0) {
    rc = -errno;
    goto fail;
  }
  /* The broker thread must never take the embedding program's signals. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = -pthread_create(&tb->thread, NULL, broker_thread, tb);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    goto fail;
  tb->thread_started = true;
  *out = tb;
  return 0;
fail:
  pulsarc_tb_free(tb);
  return rc;
}

void tb_wake(pulsarc_tb *tb) {
  uint64_t one = 1;
  ssize_t w = write(tb->wake_fd, &one, sizeof(one));
  (void)w;
}

void pulsarc_tb_stop(pulsarc_tb *tb) {
  if (!tb || !tb->thread_started)
    return;
  pthread_mutex_lock(&tb->mu);
  tb->stopping = true;
  pthread_mutex_unlock(&tb->mu);
  tb_wake(tb);
  pthread_join(tb->thread, NULL);
  tb->thread_started = false;
  if (tb->listen_fd >= 0) {
    close(tb->listen_fd);
    tb->listen_fd = -1;
  }
}

const char *pulsarc_tb_service_url(const pulsarc_tb *tb) { return tb->service_url; }
uint16_t pulsarc_tb_port(const pulsarc_tb *tb) { return tb->port; }

/* [any] Runs a request on the broker thread and waits for its result. */
int tb_run_request(pulsarc_tb *tb, int kind, const char *topic) {
  tb_req r = {.kind = kind, .topic = topic};
  pthread_mutex_lock(&tb->mu);
  if (!tb->thread_started || tb->stopped) {
    pthread_mutex_unlock(&tb->mu);
    return 0;
  }
  r.next = tb->reqs;
  tb->reqs = &r;
  pthread_mutex_unlock(&tb->mu);
  tb_wake(tb);
  pthread_mutex_lock(&tb->mu);
  while (!r.done && !tb->stopped)
    pthread_cond_wait(&tb->cond, &tb->mu);
  if (!r.done) { /* stopped before it ran: unlink */
    for (tb_req **pp = &tb->reqs; *pp; pp = &(*pp)->next)
      if (*pp == &r) {
        *pp = r.next;
        break;
      }
  }
  pthread_mutex_unlock(&tb->mu);
  return r.result;
}
