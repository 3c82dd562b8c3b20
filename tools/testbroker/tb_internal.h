/* Test broker internals shared by its .c files.
 *
 * Threads: one broker thread runs the epoll loop ([tb] below). All state is
 * guarded by tb->mu: the broker thread holds it while it handles events,
 * API calls take it to read or change state. Connections are only ever
 * touched (written, closed, freed) by the broker thread; API calls that need
 * that post a tb_req and wait for it. */
#ifndef PULSARC_TESTBROKER_INTERNAL_H
#define PULSARC_TESTBROKER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/commands.h"
#include "codec/frame.h"
#include "common/buf.h"
#include "testbroker.h"

#define TB_SERVER_VERSION "pulsarc-testbroker"
#define TB_FRAME_PADDING (10 * 1024)
#define TB_MAX_OUT_BYTES (64u * 1024 * 1024) /* a client that reads nothing is dropped */
#define TB_RECENT_CLOSED 16

/* ---------------------------------------------------------------- string map */

/* Open-addressing map from NUL-terminated string to pointer. Keys are
 * borrowed: they must live as long as the entry (usually inside the value). */
typedef struct tb_map {
  const char **keys;
  void **vals;
  size_t cap, len;
} tb_map;

void *tb_map_get(const tb_map *m, const char *key);
int tb_map_put(tb_map *m, const char *key, void *val); /* 0 or -1 */
void tb_map_free(tb_map *m);                           /* keys/values not freed */
#define TB_MAP_FOREACH(m, i)                                                                       \
  for (size_t i = 0; i < (m)->cap; i++)                                                            \
    if ((m)->keys[i])

/* ---------------------------------------------------------------- store */

typedef struct tb_seq {
  int64_t highest; /* highest stored sequence id for this name, -1 none */
  char name[];
} tb_seq;

typedef struct tb_sum {
  uint32_t crc, len;
} tb_sum;

enum {
  TB_ENTRY_HAS_HIGHEST = 1,
  TB_ENTRY_MALFORMED = 2,
  TB_ENTRY_BATCH = 4,
  TB_ENTRY_CHUNK = 8,
  TB_ENTRY_WALKABLE = 16, /* not compressed, or decompressed at store time */
};

typedef struct tb_entry {
  int64_t entry_id;
  uint64_t sequence_id, highest_sequence_id;
  const char *producer_name; /* tb_seq name, lives as long as the topic */
  uint8_t *data;             /* metadata bytes, then payload when retained */
  uint32_t md_len;
  uint32_t payload_len;
  uint32_t payload_crc; /* of the raw payload, when not retained */
  uint32_t n_sums;      /* per message, when the payload is not retained */
  tb_sum one;           /* n_sums == 1 */
  tb_sum *sums;         /* n_sums > 1 */
  int32_t num_messages;
  uint8_t flags;
  bool retained;
} tb_entry;

typedef struct tb_schema {
  uint32_t hash, len;
  int64_t version;
} tb_schema;

struct tb_producer;
struct tb_sub; /* tb_consumer.c */

typedef struct tb_topic {
  char *name;
  int64_t ledger_id;
  int64_t next_entry_id;
  tb_entry *entries; /* records */
  size_t n_entries, cap_entries;
  uint64_t not_recorded, messages, chunks, duplicates;
  tb_map seqs;                 /* producer name -> tb_seq */
  struct tb_producer *active;  /* ready producers */
  struct tb_producer *waiting; /* WaitForExclusive queue, FIFO */
  uint64_t topic_epoch;
  bool exclusive; /* active holds an exclusive producer */
  char **fenced;  /* names fenced by ExclusiveWithFencing */
  size_t n_fenced;
  tb_schema *schemas;
  size_t n_schemas;
  struct tb_sub *subs; /* subscriptions (tb_consumer.c) */
} tb_topic;

/* ---------------------------------------------------------------- connections */

typedef struct tb_producer {
  struct tb_conn *conn;
  tb_topic *topic;
  uint64_t producer_id, request_id, epoch;
  const char *name; /* tb_seq name */
  int access_mode;
  bool ready;
  bool has_schema;
  int64_t schema_version;
  struct tb_producer *next_conn;  /* conn->producers */
  struct tb_producer **prev_conn; /* the link to this one: removal in constant time */
  struct tb_producer *next_topic; /* topic->active or topic->waiting */
  struct tb_producer *next_id;    /* conn->by_id bucket */
} tb_producer;

typedef struct tb_deferred {
  struct tb_deferred *next;
  uint64_t t0_ns; /* when the SEND arrived */
  size_t len;
  uint8_t data[];
} tb_deferred;

typedef struct tb_conn {
  int fd;
  bool connected; /* CONNECT seen */
  bool closed;    /* on the zombie list, freed at the end of the iteration */
  int32_t client_protocol;
  pc_decoder dec;
  pc_buf out;
  size_t out_off;
  bool want_out; /* EPOLLOUT registered */
  tb_producer *producers;
  /* producers by id (tb_handlers.c): a SEND finds its producer without
   * walking a list of thousands on a client with many producers */
  tb_producer **by_id;
  size_t by_id_cap, by_id_n;
  struct tb_consumer *consumers; /* tb_consumer.c */
  uint64_t recent_closed[TB_RECENT_CLOSED];
  unsigned n_recent;
  tb_deferred *dq_head, *dq_tail;
  uint64_t next_ping_ns;
  struct tb_sec_conn *sec; /* tb_tls.c: TLS session; NULL on plain TCP */
  struct tb_conn *prev, *next;
} tb_conn;

/* ---------------------------------------------------------------- requests */

enum { TB_REQ_DROP = 1, TB_REQ_CLOSE_PRODUCERS, TB_REQ_APPLY_READING };

typedef struct tb_req {
  int kind;
  const char *topic;
  int result;
  bool done;
  struct tb_req *next;
} tb_req;

typedef struct tb_fault {
  uint32_t n;
  int err;
} tb_fault;

/* ---------------------------------------------------------------- broker */

struct pulsarc_tb {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* broadcast when stored data or requests change */
  pthread_t thread;
  bool thread_started;
  bool stopping, stopped;

  /* options (copied) */
  char *listen_host;
  char *advertised_url;
  char *redirect_to;
  char *assign_to;
  bool proxy_through;
  bool dedup;
  uint32_t max_message_size;
  uint64_t retain_bytes;
  uint64_t max_entry_records;
  uint32_t ping_interval_ms;
  int32_t max_protocol;
  tb_map partitions; /* full topic name -> (uintptr_t)partitions + 1 */

  uint16_t port;
  char service_url[96];
  int listen_fd, wake_fd, epoll_fd;

  tb_conn *conns;   /* open */
  tb_conn *zombies; /* closed this iteration */
  tb_map topics;    /* full name -> tb_topic */
  size_t consumers; /* open, over all topics: none, no dispatch tick */
  int64_t next_ledger_id;
  uint64_t next_name;
  uint64_t next_request_id;
  uint64_t records;
  bool retention_full; /* an entry did not fit in retain_bytes */
  pulsarc_tb_stats st;

  /* faults */
  bool hold;
  uint64_t delay_ns;
  tb_fault fail_sends, fail_lookups, fail_producers;
  char refuse_topic[512]; /* PRODUCER for it answered refuse_err; "": none */
  int refuse_err;
  tb_req *reqs;
  struct tb_faults {     /* tb_faults.c */
    uint64_t drop_after; /* frames still to receive before a drop; 0 off */
    uint32_t drop_per_million;
    uint64_t rng;          /* xorshift64 state for random drops */
    uint32_t corrupt_next; /* outgoing frames still to corrupt */
    bool stop_reading;
    uint64_t drops;            /* connections closed by injected faults */
    uint64_t drops_after_send; /* of which right after a SEND (receipt lost) */
    uint64_t corrupted;        /* frames corrupted */
  } fx;
  struct tb_sec *sec;   /* tb_tls.c: TLS context, token, challenges */
  struct tb_txns *txns; /* tb_txn.c: the transaction coordinator */
};

/* tb_server.c [tb] */
void tb_conn_send_cmd(pulsarc_tb *tb, tb_conn *c, const Pulsarc__BaseCommand *cmd);
/* Queues an answer to a SEND (receipt or error) behind held/delayed ones. */
void tb_conn_send_answer(pulsarc_tb *tb, tb_conn *c, const Pulsarc__BaseCommand *cmd);
void tb_conn_close(pulsarc_tb *tb, tb_conn *c, bool protocol_error);
/* [any] */
void tb_wake(pulsarc_tb *tb);
/* [any, not under mu] Runs a TB_REQ_* on the broker thread, waits, returns its result. */
int tb_run_request(pulsarc_tb *tb, int kind, const char *topic);

/* tb_handlers.c [tb] */
void tb_handle_frame(pulsarc_tb *tb, tb_conn *c, const pc_frame *f);
void tb_conn_forget_producers(pulsarc_tb *tb, tb_conn *c);
int tb_close_topic_producers(pulsarc_tb *tb, const char *topic);

/* tb_faults.c */
/* [tb] After a received frame was handled: closes c if a drop is due. */
void tb_fault_after_frame(pulsarc_tb *tb, tb_conn *c, const pc_frame *f);
/* [tb] The frame [p, p+len) was just queued for output: corrupts it if due. */
void tb_fault_on_frame_out(pulsarc_tb *tb, uint8_t *p, size_t len);
/* [tb] Epoll input interest for connections (none while reading is stopped). */
uint32_t tb_fault_in_events(const pulsarc_tb *tb);
/* [tb] Re-registers every connection after stop_reading changed. */
void tb_fault_apply_reading(pulsarc_tb *tb);

/* tb_tls.c: TLS and authentication. Cheap no-ops when neither TLS nor a
 * token is configured (a token and challenges may be set at run time). */
/* [start, before the thread] Copies the options, builds the TLS context and
 * turns service_url into pulsar+ssl://. 0 or negative errno. */
int tb_sec_start(pulsarc_tb *tb, const pulsarc_tb_opts *o);
void tb_sec_free(pulsarc_tb *tb);
/* [any, under mu] The listener speaks TLS. */
bool tb_sec_tls(const pulsarc_tb *tb);
/* [tb] A new connection; 0, or -1 (close it). */
int tb_sec_conn_new(pulsarc_tb *tb, tb_conn *c);
void tb_sec_conn_free(tb_conn *c);
/* [tb] recv/send through TLS when on: >0 bytes, 0 EOF, -1 with errno
 * (EAGAIN: retry on the next event). */
ssize_t tb_sec_recv(pulsarc_tb *tb, tb_conn *c, void *buf, size_t len);
ssize_t tb_sec_send(pulsarc_tb *tb, tb_conn *c, const void *buf, size_t len);
/* [tb] Credential checks on CONNECT / AUTH_RESPONSE before the handlers see
 * them. true: consumed (answered, maybe closed). */
bool tb_sec_filter(pulsarc_tb *tb, tb_conn *c, const pc_frame *f);
/* [tb] Sends due AUTH_CHALLENGEs; returns min(next, next due time). */
uint64_t tb_sec_tick(pulsarc_tb *tb, uint64_t now_ns, uint64_t next);

/* tb_store.c [tb] unless noted */
tb_topic *tb_topic_get(pulsarc_tb *tb, const char *name, bool create);
tb_seq *tb_topic_seq(tb_topic *t, const char *producer_name, bool create);
/* Stores one entry; returns its entry id, or -1 when out of memory. */
int64_t tb_store_entry(pulsarc_tb *tb, tb_topic *t, const char *producer_name,
                       const Pulsarc__CommandSend *send, const Pulsarc__MessageMetadata *md,
                       const pc_frame *f);
void tb_topic_free(tb_topic *t);
/* [any, under mu] 0 or -1 (no memory). */
int tb_set_partitions_locked(pulsarc_tb *tb, const char *topic, uint32_t n);
/* [any, under mu] partitions configured for a full topic name, 0 if none. */
uint32_t tb_partitions_of(const pulsarc_tb *tb, const char *full_topic);
/* [any] Decompresses a payload into out. 0, or -1 (not supported yet: TODO). */
int tb_decompress(int codec, const uint8_t *in, size_t len, uint32_t uncompressed_size,
                  pc_buf *out);
/* [any, under mu] builds the inspection copy. */
pulsarc_tb_snapshot *tb_snapshot_build(pulsarc_tb *tb, const char *full_topic);

/* ---------------------------------------------------------------- consumers */

/* Per subscription, per entry id: where that entry stands. */
enum { TB_SE_NEW = 0, TB_SE_READY, TB_SE_OUT, TB_SE_ACKED, TB_SE_SKIP };

typedef struct tb_sub_ent {
  uint8_t state;
  bool meta_known;           /* deliver_at / key_hash filled */
  uint32_t redeliveries;     /* CommandMessage.redelivery_count */
  uint32_t key_hash;         /* Key_Shared routing */
  int64_t deliver_at;        /* ms since epoch, 0 = at once */
  struct tb_consumer *owner; /* TB_SE_OUT only */
} tb_sub_ent;

typedef struct tb_sub {
  char *name;
  tb_topic *topic;
  int type;     /* Pulsarc__CommandSubscribe__SubType */
  bool durable; /* non-durable (readers) go away with their last consumer */
  bool gone;    /* such a sub after that: a husk, freed with the topic */
  int64_t base; /* entry id of ents[0] */
  tb_sub_ent *ents;
  size_t cap;
  int64_t cursor;                /* first entry id not looked at yet */
  size_t n_ready;                /* TB_SE_READY entries (redeliveries, delayed) */
  struct tb_consumer *consumers; /* subscribe order; head is the active one */
  uint64_t rr;                   /* Shared round robin */
  struct tb_sub *next;
} tb_sub;

typedef struct tb_consumer {
  struct tb_conn *conn;
  tb_sub *sub;
  uint64_t consumer_id;
  char *name;
  int64_t permits;
  uint64_t unacked; /* entries out */
  bool has_epoch;
  uint64_t epoch;
  struct tb_consumer *next_conn, *next_sub;
} tb_consumer;

/* tb_consumer.c [tb] */
/* Handles SUBSCRIBE, FLOW, ACK, ... (every consumer-side command). true if
 * the command was one of them. */
bool tb_consumer_handle(pulsarc_tb *tb, tb_conn *c, const pc_frame *f);

/* tb_txn.c: the transaction coordinator (NEW_TXN, ADD_PARTITION_TO_TXN,
 * END_TXN, TC_CLIENT_CONNECT). [tb] true: the command was one of them. */
bool tb_txn_handle(pulsarc_tb *tb, tb_conn *c, const pc_frame *f);
/* [tb] A SEND carrying a transaction id to topic (full name): counts it,
 * and a violation when the partition was not added to an open transaction
 * first. */
void tb_txn_on_send(pulsarc_tb *tb, const char *topic, uint64_t most, uint64_t least);
void tb_txn_free(pulsarc_tb *tb);
/* A new entry was stored on t: dispatch it to subscribers with permits. */
void tb_topic_dispatch(pulsarc_tb *tb, tb_topic *t);
/* Closes c's consumers (connection gone); their unacked entries go back. */
void tb_conn_forget_consumers(pulsarc_tb *tb, tb_conn *c);
/* Delayed deliveries that came due; returns the next due time (monotonic
 * ns), UINT64_MAX if none. */
uint64_t tb_consumers_tick(pulsarc_tb *tb, uint64_t now_ns);
/* [tb or after stop] frees a topic's subscriptions. */
void tb_topic_free_subs(tb_topic *t);
/* [any, under mu] the recorded entry with that id, or NULL. */
const tb_entry *tb_topic_find_entry(const tb_topic *t, int64_t entry_id);

/* tb_http.c: the admin-style REST endpoint (own thread, blocking accept). */
typedef struct tb_http tb_http;
/* [any] 0 or negative errno; *out receives the server, *port the bound port. */
int tb_http_start(pulsarc_tb *tb, const char *host, uint16_t port, tb_http **out, uint16_t *bound);
/* [any] stops and joins the thread; before pulsarc_tb_free. NULL is fine. */
void tb_http_stop(tb_http *h);

/* [broker thread] ERROR / SUCCESS replies to a request (tb_handlers.c). */
void tb_send_error(pulsarc_tb *tb, tb_conn *c, uint64_t request_id, int err, const char *msg);
void tb_send_success(pulsarc_tb *tb, tb_conn *c, uint64_t request_id);

#endif
