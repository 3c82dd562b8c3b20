/* The client: I/O threads, one connection pool per I/O thread, the registry
 * of its members (the producers, which register close/destroy ops: the
 * client never calls up into them), credentials, the client-wide memory
 * limit and service discovery. Thread rules are marked per function. */
#ifndef PULSARC_CLIENT_CLIENT_H
#define PULSARC_CLIENT_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>

#include "client/topic.h"
#include "conf/conf.h"
#include "loop/conn.h"
#include "loop/loop.h"
#include "loop/tls.h"

typedef struct pc_pool pc_pool;

/* Whatever lives on a client and must go when it does (the producers, a
 * layer above: the client cannot call them, so they register these). */
typedef struct pc_client_member pc_client_member;
/* What the periodic stats log reports of a member. */
typedef struct pc_member_stats {
  char topic[PC_TOPIC_MAX];
  char name[256]; /* "" before the broker named it */
  pulsarc_producer_stats_t stats;
} pc_member_stats;
typedef struct pc_client_member_ops {
  /* [app] Closes the member, waiting for it; PULSARC_OK or its error. */
  pulsarc_err_t (*close)(pc_client_member *m);
  /* [app] Destroys the member; it calls pc_client_leave first. */
  void (*destroy)(pc_client_member *m);
  /* [any, client->lock held] Fills *out for the periodic stats log; never
   * blocks or allocates. -1: nothing to report. */
  int (*stats)(pc_client_member *m, pc_member_stats *out);
} pc_client_member_ops;
struct pc_client_member {
  pc_client_member *next;   /* client->lock */
  pc_client_member **pprev; /* client->lock; NULL when not in the list (zeroed) */
  const pc_client_member_ops *ops;
  /* The previous stats line's counters, for its rates (stats_log.c) [the
   * stats timer's loop, client->lock held]. */
  uint64_t log_acked, log_acked_bytes, log_failed;
};

struct pulsarc_client {
  struct pulsarc_client_conf conf;
  pc_service_url service;
  int nloops;
  pc_loop **loops;
  pc_pool **pools;          /* pools[i] belongs to loops[i] */
  pc_tls_ctx *tls;          /* pulsar+ssl:// only; freed after the loops stopped */
  const char *auth_method;  /* "token", "tls" or NULL (none) */
  struct pc_oauth2 *oauth2; /* OAuth2 token cache + refresher, or NULL */
  struct pc_tc *tc;         /* transaction coordinators, made on first use (txn.c) */
  _Atomic uint32_t next_loop;
  _Atomic uint64_t next_producer_id;
  /* Jitter and random choices for this client's producers, instead of the
   * application's random() (common/prng.h); any thread, lock-free. */
  _Atomic uint64_t prng;
  /* Updated by every sender and loop: alone on its cache line, so the
   * read-mostly fields around it do not miss with it. */
  _Alignas(64) _Atomic int64_t memory_used; /* bytes granted to producers (memory.c) */
  _Alignas(64) _Atomic uint32_t mem_seq;    /* futex word bumped when memory is released */
  _Atomic uint32_t mem_waiters;
  pthread_mutex_t lock; /* guards members and closed */
  pc_client_member *members;
  _Atomic uint64_t nmembers; /* changed under lock, read without (client stats) */
  bool closed;
  /* stats_interval_seconds > 0: fires on loops[0] (stats_log.c). */
  pc_timer stats_timer;
  uint64_t stats_last_ns;
  struct pc_workers *workers; /* compression_threads > 0, else NULL */
};

/* ---- connection pool, one per loop: every function [loop] ---- */

/* Gives a ready connection to hp (through the service host when proxy_to is
 * set), opening one if needed. cb runs exactly once, later or right away,
 * unless the request is cancelled first. */
typedef void (*pc_pool_cb)(pc_conn *conn, pulsarc_err_t err, void *ctx);
typedef struct pc_pool_req pc_pool_req;
/* Returns 0 (cb has run or will run; *req is NULL if it already ran) or -1
 * (cb will not run). */
int pc_pool_get(pc_pool *pool, const pc_host_port *hp, const char *proxy_to, pc_pool_cb cb,
                void *ctx, pc_pool_req **req);
void pc_pool_cancel(pc_pool *pool, pc_pool_req *req);
/* What a request not answered yet waits for, as the timeout it would end
 * in (CONNECT_TIMEOUT or TLS_HANDSHAKE_TIMEOUT), with a phrase naming the
 * peer in what. */
pulsarc_err_t pc_pool_req_stage(pc_pool *pool, const pc_pool_req *req, char *what, size_t len);
pc_pool *pc_pool_new(pulsarc_client_t *client, pc_loop *loop);
/* Closes every connection (on the loop thread) and frees the pool. */
void pc_pool_free(pc_pool *pool);

/* ---- service discovery: [loop] ---- */

typedef struct pc_lookup_result {
  int partitions;      /* PARTITIONED_METADATA: 0 = not partitioned */
  pc_host_port broker; /* LOOKUP: the owning broker */
  bool proxy;          /* connect through the service host */
  pc_host_port via;    /* the service host to proxy through */
} pc_lookup_result;

typedef void (*pc_lookup_cb)(pulsarc_err_t err, const pc_lookup_result *res, void *ctx);
typedef struct pc_lookup_op pc_lookup_op;

/* Asks the service URL for the topic's partition count. */
pc_lookup_op *pc_lookup_partitions(pulsarc_client_t *client, pc_loop *loop, const char *topic,
                                   pc_lookup_cb cb, void *ctx);
/* Finds the broker owning topic, following at most max_lookup_redirects
 * redirects (carrying the authoritative flag). */
pc_lookup_op *pc_lookup_topic(pulsarc_client_t *client, pc_loop *loop, const char *topic,
                              pc_lookup_cb cb, void *ctx);
/* The callback will not run; the op frees itself. */
void pc_lookup_cancel(pc_lookup_op *op);
/* What the op waits for, as the timeout it would end in (CONNECT_TIMEOUT,
 * TLS_HANDSHAKE_TIMEOUT or LOOKUP_TIMEOUT), with a phrase naming the peer. */
pulsarc_err_t pc_lookup_stage(const pc_lookup_op *op, char *what, size_t len);

/* ---- members (client.c): [app] ---- */

/* Registers m and picks the I/O thread it will live on (*loop, written
 * before m is visible to a client close). -1 if the client is closed (m is
 * then not registered). */
int pc_client_join(pulsarc_client_t *c, pc_client_member *m, pc_loop **loop);
/* Unregisters m (no-op if it is not registered). */
void pc_client_leave(pulsarc_client_t *c, pc_client_member *m);

/* ---- stats_log.c: the members' stats ---- */

/* [any] Calls fn on every member with client->lock held (fn must not block,
 * take a library lock or call the application), newest first. */
void pc_client_members_each(pulsarc_client_t *c, void (*fn)(pc_client_member *m, void *arg),
                            void *arg);

/* [app] Starts the stats timer if stats_interval_seconds > 0. */
void pc_client_stats_log_start(pulsarc_client_t *c);
/* [app, not a loop] Stops it (before the loops stop). */
void pc_client_stats_log_stop(pulsarc_client_t *c);

/* ---- auth.c ---- */

/* [loop] pc_conn_auth.get_data for the client's connections: the token
 * from the provider, the file (read now) or the string. ctx = client. */
int pc_client_auth_data(void *client, pc_buf *out, char *why, size_t why_len);
/* [app] Checks the token file named in the configuration, if any, so that
 * a wrong path fails the client's creation, not every connection. */
pulsarc_err_t pc_client_check_token_file(const struct pulsarc_client_conf *cf);
/* [any] Whether the configuration carries a token (provider, file, string
 * or OAuth2). */
bool pc_client_has_token(const struct pulsarc_client_conf *cf);

/* ---- memory.c: the client-wide memory limit [any] ---- */

/* Bytes a producer asks for beyond its shortfall, to ask the client
 * less often (0: grants are exact). */
int64_t pc_client_memory_chunk(const pulsarc_client_t *c);
/* Takes n bytes from the limit; false if that would pass it. */
bool pc_client_take_memory(pulsarc_client_t *c, int64_t n);
/* Gives n bytes back to the limit. */
void pc_client_give_memory(pulsarc_client_t *c, int64_t n);
/* Wakes senders blocked on the memory limit (once per loop pass). */
void pc_client_wake_memory_waiters(pulsarc_client_t *c);

/* ServerError code -> our error. */
pulsarc_err_t pc_server_error(int code);
/* Errors worth retrying with backoff (the connection or the broker's state,
 * not the request, was at fault). */
bool pc_err_retryable(pulsarc_err_t err);

#endif
