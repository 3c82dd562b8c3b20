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
  struct tb_producer *next_topic; /* topic->active or topic->waiting */
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
  uint64_t recent_closed[TB_RECENT_CLOSED];
  unsigned n_recent;
  tb_deferred *dq_head, *dq_tail;
  uint64_t next_ping_ns;
  struct tb_conn *prev, *next;
} tb_conn;

/* ---------------------------------------------------------------- requests */

enum { TB_REQ_DROP = 1, TB_REQ_CLOSE_PRODUCERS };

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
  tb_req *reqs;
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

#endif
