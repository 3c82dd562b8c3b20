/* Host name resolution off the I/O threads. A small process-wide pool of
 * resolver threads (at most PC_RESOLVER_MAX_THREADS, started on demand,
 * exiting after a while idle) runs getaddrinfo(AF_UNSPEC) and posts the
 * result back to the requesting loop. Private to src/loop. */
#ifndef PULSARC_LOOP_RESOLVER_H
#define PULSARC_LOOP_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"

#define PC_RESOLVER_MAX_THREADS 4

typedef struct pc_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} pc_addr;

typedef struct pc_resolve_job pc_resolve_job;

/* [loop] Outcome: gai_err == 0 and n >= 1 addresses in resolver order, or a
 * getaddrinfo error code (n == 0). addrs is borrowed for the call only. */
typedef void (*pc_resolve_cb)(pc_loop *loop, void *ctx, int gai_err, const pc_addr *addrs,
                              size_t n);

/* How a resolver thread hands the answer to the loop: pc_loop_post. The
 * caller passes it, so that the resolver, below the loop in src/LAYERS,
 * never calls up into it. 0, or -1 if it could not be posted. */
typedef int (*pc_resolve_post_fn)(pc_loop *loop, void (*fn)(pc_loop *loop, void *arg), void *arg);

/* [loop] Starts resolving host (name or literal) for a TCP connection to
 * port; cb runs later on loop's thread (through post) unless cancelled.
 * NULL when out of memory or no resolver thread could be started. */
pc_resolve_job *pc_resolve_start(pc_loop *loop, pc_resolve_post_fn post, const char *host,
                                 uint16_t port, pc_resolve_cb cb, void *ctx);
/* [loop] cb will not run; the job frees itself. The handle is dead after. */
void pc_resolve_cancel(pc_resolve_job *job);

/* [any] Numeric literal only (never blocks): fills up to max addresses.
 * Returns the count, or 0 if host is not a literal. */
size_t pc_resolve_numeric(const char *host, uint16_t port, pc_addr *out, size_t max);

/* [any, not the loop] Drops every job of a loop whose thread has been
 * joined: results still coming are discarded, never posted. */
void pc_resolver_forget_loop(pc_loop *loop);

#ifdef PULSARC_TEST_HOOKS
/* [any] Test hook (internal test library only): name resolves to the
 * comma-separated numeric addresses in csv, in that order, instead of
 * asking DNS. csv NULL removes it. */
void pc_resolver_set_alias(const char *name, const char *csv);
#endif

/* "host:port" with brackets around an IPv6 literal. */
void pc_addr_format(const pc_addr *a, char *buf, size_t len);

#endif
