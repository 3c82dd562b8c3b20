/* Resolver pool. getaddrinfo blocks (DNS timeouts run to seconds), so it
 * never runs on an I/O thread. Several threads, so that one slow name does
 * not hold up connections to other hosts; few, because lookups are rare.
 *
 * Job ownership, all under `mu`: QUEUED and RUNNING jobs belong to the pool;
 * a POSTED job belongs to the completion task on its loop, which frees it
 * (calling cb unless cancelled). A loop that is stopped and joined has its
 * jobs dropped by pc_resolver_forget_loop: queued/posted ones freed there,
 * running ones flagged so their worker frees them instead of posting. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "loop/resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/thread.h"

#define PC_RESOLVER_IDLE_SEC 30
#define PC_RESOLVER_MAX_ADDRS 32

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_POSTED };

struct pc_resolve_job {
  pc_resolve_job *prev, *next; /* all jobs, submit order */
  enum job_state state;
  bool cancelled; /* loop asked not to call cb */
  bool orphaned;  /* loop gone: worker frees the job */
  pc_loop *loop;
  pc_resolve_post_fn post;
  pc_resolve_cb cb;
  void *ctx;
  uint16_t port;
  int gai_err;
  size_t n;
  pc_addr *addrs;
  char host[];
};

#ifdef PULSARC_TEST_HOOKS
typedef struct alias {
  struct alias *next;
  char *name, *csv;
} alias;
static alias *aliases;
#endif

/* One pool for the process, not one per client, on purpose: lookups are
 * rare (connects and reconnects) and a per-client pool would multiply
 * threads by clients for nothing; no job refers to a client, only to a loop
 * (and pc_resolver_forget_loop drops a loop's jobs before the loop is
 * freed), so clients cannot see each other through it. Bounded: at most
 * PC_RESOLVER_MAX_THREADS workers, started on demand, each exiting after
 * PC_RESOLVER_IDLE_SEC idle; queued jobs are one per connect in flight.
 * Workers are detached and may outlive the last client by up to
 * PC_RESOLVER_IDLE_SEC (valgrind may show their stacks then). The price of
 * sharing: a client whose DNS hangs can hold all workers, delaying other
 * clients' lookups by up to the resolver timeout; connect timeouts still
 * bound every caller's wait. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pc_resolve_job *jobs_head, *jobs_tail;
static int workers, idle_workers;

static void job_unlink(pc_resolve_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    jobs_head = j->next;
  if (j->next)
    j->next->prev = j->prev;
  else
    jobs_tail = j->prev;
  j->prev = j->next = NULL;
}

static void job_free(pc_resolve_job *j) {
  free(j->addrs);
  free(j);
}

static pc_resolve_job *first_queued(void) {
  for (pc_resolve_job *j = jobs_head; j; j = j->next)
    if (j->state == JOB_QUEUED)
      return j;
  return NULL;
}

size_t pc_resolve_numeric(const char *host, uint16_t port, pc_addr *out, size_t max) {
  if (max == 0)
    return 0;
  memset(&out[0], 0, sizeof out[0]);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&out[0].ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out[0].ss;
  char buf[INET6_ADDRSTRLEN + 2];
  size_t hl = strlen(host);
  /* Accept "[::1]" as well as "::1". */
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof buf) {
    memcpy(buf, host + 1, hl - 2);
    buf[hl - 2] = '\0';
    host = buf;
  }
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out[0].len = sizeof *v4;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out[0].len = sizeof *v6;
    return 1;
  }
  return 0;
}

/* [resolver thread, mu held] */
static const char *alias_find(const char *name) {
#ifdef PULSARC_TEST_HOOKS
  for (alias *a = aliases; a; a = a->next)
    if (strcmp(a->name, name) == 0)
      return a->csv;
#else
  (void)name; /* shipped libraries: no alias table, always DNS */
#endif
  return NULL;
}

/* [resolver thread] Fills j->addrs / j->n / j->gai_err. */
static void resolve(pc_resolve_job *j, char *alias_csv) {
  pc_addr *out = calloc(PC_RESOLVER_MAX_ADDRS, sizeof *out);
  if (out == NULL) {
    j->gai_err = EAI_MEMORY;
    return;
  }
  size_t n = 0;
  if (alias_csv) {
    char *save = NULL;
    for (char *tok = strtok_r(alias_csv, ",", &save); tok && n < PC_RESOLVER_MAX_ADDRS;
         tok = strtok_r(NULL, ",", &save))
      n += pc_resolve_numeric(tok, j->port, &out[n], PC_RESOLVER_MAX_ADDRS - n);
    j->gai_err = n ? 0 : EAI_NONAME;
  } else {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    /* No AI_ADDRCONFIG: it hides ::1 on hosts with only link-local IPv6,
     * and a failing address costs one refused connect before the next. */
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)j->port);
    j->gai_err = getaddrinfo(j->host, port, &hints, &res);
    for (struct addrinfo *ai = res; ai && n < PC_RESOLVER_MAX_ADDRS; ai = ai->ai_next) {
      if (ai->ai_addrlen > sizeof out[n].ss)
        continue;
      memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
      out[n].len = ai->ai_addrlen;
      n++;
    }
    if (res)
      freeaddrinfo(res);
    if (j->gai_err == 0 && n == 0)
      j->gai_err = EAI_NONAME;
  }
  j->addrs = out;
  j->n = n;
}

/* [loop] */
static void job_complete(pc_loop *loop, void *arg) {
  pc_resolve_job *j = arg;
  pthread_mutex_lock(&mu);
  job_unlink(j);
  bool cancelled = j->cancelled;
  pthread_mutex_unlock(&mu);
  if (!cancelled)
    j->cb(loop, j->ctx, j->gai_err, j->addrs, j->n);
  job_free(j);
}

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    pc_resolve_job *j = first_queued();
    if (j == NULL) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += PC_RESOLVER_IDLE_SEC;
      idle_workers++;
      int rc = pthread_cond_timedwait(&cv, &mu, &until);
      idle_workers--;
      if (rc == ETIMEDOUT && first_queued() == NULL)
        break;
      continue;
    }
    j->state = JOB_RUNNING;
    const char *a = alias_find(j->host);
    char *csv = a ? strdup(a) : NULL;
    pthread_mutex_unlock(&mu);

    resolve(j, csv);
    free(csv);

    pthread_mutex_lock(&mu);
    if (j->orphaned || j->cancelled) {
      job_unlink(j);
      job_free(j);
      continue;
    }
    j->state = JOB_POSTED;
    /* Posting under mu keeps forget_loop from freeing the loop meanwhile. */
    if (j->post(j->loop, job_complete, j) != 0) {
      job_unlink(j);
      job_free(j); /* the owner's connect timeout reports it */
    }
  }
  workers--;
  pthread_mutex_unlock(&mu);
  return NULL;
}

pc_resolve_job *pc_resolve_start(pc_loop *loop, pc_resolve_post_fn post, const char *host,
                                 uint16_t port, pc_resolve_cb cb, void *ctx) {
  size_t hl = strlen(host);
  pc_resolve_job *j = calloc(1, sizeof *j + hl + 1);
  if (j == NULL)
    return NULL;
  memcpy(j->host, host, hl + 1);
  j->loop = loop;
  j->post = post;
  j->cb = cb;
  j->ctx = ctx;
  j->port = port;
  j->state = JOB_QUEUED;

  pthread_mutex_lock(&mu);
  j->prev = jobs_tail;
  if (jobs_tail)
    jobs_tail->next = j;
  else
    jobs_head = j;
  jobs_tail = j;
  if (idle_workers == 0 && workers < PC_RESOLVER_MAX_THREADS) {
    pthread_t t;
    pthread_attr_t attr;
    if (pc_thread_attr_init(&attr) == 0) {
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      if (pthread_create(&t, &attr, worker_main, NULL) == 0) {
        workers++;
        pthread_setname_np(t, "pulsarc-dns");
      }
      pthread_attr_destroy(&attr);
    }
    if (workers == 0) {
      job_unlink(j);
      pthread_mutex_unlock(&mu);
      free(j);
      return NULL;
    }
  } else {
    pthread_cond_signal(&cv);
  }
  pthread_mutex_unlock(&mu);
  return j;
}

void pc_resolve_cancel(pc_resolve_job *j) {
  pthread_mutex_lock(&mu);
  if (j->state == JOB_QUEUED) {
    job_unlink(j);
    job_free(j);
  } else {
    j->cancelled = true;
  }
  pthread_mutex_unlock(&mu);
}

void pc_resolver_forget_loop(pc_loop *loop) {
  pthread_mutex_lock(&mu);
  for (pc_resolve_job *j = jobs_head, *next; j; j = next) {
    next = j->next;
    if (j->loop != loop)
      continue;
    if (j->state == JOB_RUNNING) {
      j->orphaned = true;
    } else {
      job_unlink(j);
      job_free(j);
    }
  }
  pthread_mutex_unlock(&mu);
}

#ifdef PULSARC_TEST_HOOKS
void pc_resolver_set_alias(const char *name, const char *csv) {
  pthread_mutex_lock(&mu);
  for (alias **pp = &aliases; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->name, name) == 0) {
      alias *a = *pp;
      *pp = a->next;
      free(a->name);
      free(a->csv);
      free(a);
      break;
    }
  }
  if (csv) {
    alias *a = calloc(1, sizeof *a);
    if (a) {
      a->name = strdup(name);
      a->csv = strdup(csv);
      if (a->name && a->csv) {
        a->next = aliases;
        aliases = a;
      } else {
        free(a->name);
        free(a->csv);
        free(a);
      }
    }
  }
  pthread_mutex_unlock(&mu);
}
#endif

void pc_addr_format(const pc_addr *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
    inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(v6->sin6_port));
  } else {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(v4->sin_port));
  }
}
