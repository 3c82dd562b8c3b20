/* The producer's types. A topic producer (pulsarc_producer_t) is pinned to
 * one I/O thread and owns one partition producer (pc_part) per partition
 * (one with index -1 for a non-partitioned topic). Application threads only
 * touch the fields marked [any]; everything else belongs to the loop. The
 * functions are in producer/pipeline.h, in the order a message meets them. */
#ifndef PULSARC_PRODUCER_PRODUCER_H
#define PULSARC_PRODUCER_PRODUCER_H

#include <stdatomic.h>

#include "client/client.h"
#include "client/topic.h"
#include "client/txn.h"
#include "client/workers.h"
#include "common/buf.h"
#include "common/err_detail.h"
#include "common/histogram.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "loop/conn.h"
#include "loop/loop.h"
#include "producer/sendq.h"

/* A growable ring of messages: unsent messages in arrival order. [loop] */
typedef struct pc_msgfifo {
  pc_msg *a;
  size_t head, n, cap; /* cap is a power of two */
} pc_msgfifo;

/* One SEND frame waiting for its receipt: a batch, or a single message. The
 * frame is kept exactly as sent so that a resend is byte-identical. */
typedef struct pc_entry {
  struct pc_entry *next;
  struct pc_part *part;
  uint64_t first_seq, last_seq;
  uint32_t count;      /* messages */
  uint32_t incomplete; /* messages whose callback has not run */
  bool batched;
  bool waited;         /* holds a message someone waits for (group commit) */
  bool ever_written;   /* fully handed to the kernel at least once */
  bool in_conn;        /* wref queued on a connection */
  bool dead;           /* left the pending queue while in_conn: free on done */
  uint32_t sent_round; /* the part's resend round it was last written in */
  pc_conn *conn;       /* where wref is queued, while in_conn */
  pc_buf frame;        /* frame bytes start at frame_start */
  size_t frame_start;
  size_t payload_off; /* where the (compressed) payload starts in frame.data */
  int codec;          /* compression of the payload */
  uint32_t uncompressed_size;
  int32_t chunk_id; /* chunks: 0..num_chunks-1; num_chunks 0 = not a chunk */
  int32_t num_chunks;
  uint64_t key_gen; /* encrypted under this data key generation, 0 = plain */
  uint8_t iv[12];   /* and this IV (unseal.c decrypts with them) */
  pc_wref wref;
  pc_msg *msgs; /* the messages, payload pointers cleared unless spliced */
  uint32_t msgs_cap;
  /* Large payloads are not copied into the frame: the frame has holes that
   * the messages' own copies fill, and is written as segments. */
  pc_frame_hole *holes;
  struct iovec *iov; /* 2 * nholes + 1 segments */
  uint32_t nholes, holes_cap;
  int iovcnt;
  size_t wire_len; /* frame bytes including the holes */
  /* For the stats once the frame is first written: its messages' payload
   * bytes, and its payload before and after compression. */
  uint64_t stat_msg_bytes, stat_raw, stat_wire;
  /* compression_threads: the batch body waits in zin while a worker
   * compresses it into frame; meanwhile the entry is on the part's zq, not
   * pending, and the loop touches neither buffer (seal.c). */
  pc_work zwork;
  pc_buf zin;
  int zlevel, zrc;
  uint8_t zstate; /* PC_Z_*: not on zq, on a worker, back and waiting its turn */
  bool zdead;     /* left zq while on a worker: freed when it comes back */
  bool zcrypto;   /* sealed with encryption on */
} pc_entry;

enum { PC_Z_NONE = 0, PC_Z_BUSY = 1, PC_Z_BACK = 2 };

/* The counters of one partition (or, in pulsarc_producer.xstats, of the
 * messages that completed before they were routed to one). Written by the
 * producer's I/O thread only (pc_stat_add), read from any thread;
 * docs/stats.md says when each one moves. */
typedef struct pc_part_stats {
  pc_stat accepted, bytes_accepted; /* routed here (xstats: taken in, never routed) */
  pc_stat sent, bytes_sent;         /* in an entry whose frame was first fully written */
  pc_stat acked, bytes_acked;
  pc_stat failed, bytes_failed, timed_out;
  pc_stat batches, uncompressed, compressed;
  pc_stat reconnects, resent;
} pc_part_stats;

/* The partitions' counters as readers on any thread find them: the loop
 * publishes a new directory when partitions are added and keeps the old
 * ones (prev) until the producer is freed, so a reader never sees one go. */
typedef struct pc_stats_dir {
  struct pc_stats_dir *prev;
  int n;
  bool partitioned;
  pc_part_stats *s[];
} pc_stats_dir;

typedef enum pc_part_state {
  PS_INIT,        /* waiting for the start delay or the partition count */
  PS_LOOKUP,      /* LOOKUP in flight */
  PS_CONNECTING,  /* waiting for a pool connection */
  PS_REGISTERING, /* PRODUCER sent */
  PS_WAITING,     /* WaitForExclusive: queued by the broker */
  PS_READY,
  PS_BACKOFF, /* waiting to reconnect */
  PS_CLOSING, /* CLOSE_PRODUCER sent */
  PS_CLOSED,
  PS_FAILED
} pc_part_state;

/* One partition producer. Grouped by the file that owns each part. */
typedef struct pc_part {
  pulsarc_producer_t *p;
  int index; /* partition, -1 if the topic is not partitioned */
  char topic[PC_TOPIC_MAX];

  /* partition.c: the state machine and the broker's registration */
  pc_part_state state;
  int told; /* pulsarc_producer_state_t last given to the state callback, -1: none */
  pc_lookup_op *lookup;
  pc_pool_req *pool_req;
  pc_conn *conn;        /* attached while registering/ready/closing */
  uint64_t producer_id; /* kept across reconnects */
  uint64_t request_id;  /* outstanding PRODUCER or CLOSE_PRODUCER */
  uint64_t epoch;
  bool created_once;
  bool has_topic_epoch;
  uint64_t topic_epoch;
  char *name; /* producer name (user's or the broker's) */
  bool user_named;
  uint8_t *schema_version;
  size_t schema_version_len;
  pc_timer timer; /* backoff */
  uint64_t backoff_ms;
  bool has_assigned; /* broker named the new owner in CLOSE_PRODUCER */
  pc_host_port assigned;
  /* The last lookup said proxy_through_service_url: the assigned owner is
   * then reached through this service host too, never dialled directly. */
  bool proxied;
  pc_host_port proxy;
  uint32_t max_message_size; /* min(conf, broker) */

  /* creation.c: the first creation's deadline */
  uint64_t create_deadline_ns; /* first creation gives up after this */
  pc_timer create_timer;       /* fires at create_deadline_ns */
  pulsarc_err_t last_err;      /* why the last creation attempt failed */
  pulsarc_err_t last_stage;    /* the *_TIMEOUT code that attempt counts toward */

  /* route.c, batch.c, seal.c: unsent messages and sealing */
  pc_msgfifo unsent;
  uint64_t unsent_bytes;
  pc_timer batch_timer;
  uint64_t seal_by_ns;      /* a queued message's deadline forces an early seal */
  bool throttled;           /* connection has too much unwritten data */
  uint32_t waited_inflight; /* pending entries holding a waited message */
  uint32_t *sel;            /* indexes of the next batch in unsent, reused */
  uint32_t sel_cap;
  /* The open batch as the last scan left it (batch.c, without key-based
   * batching): the next poll goes on from there instead of rescanning
   * what it already selected. Valid while the first and the last selected
   * messages are still where they were (see scan_resumes). */
  struct {
    bool valid, waited;
    uint32_t n;
    uint64_t bytes, limit, first_idx, last_idx;
  } scan;
  pc_buf scratch; /* batch body before compression */
  bool seq_known;
  uint64_t next_seq;
  /* The transaction last found added to this partition (batch.c): its id,
   * not its address, which a later transaction may reuse. */
  bool txn_added;
  uint64_t txn_most, txn_least;
  int64_t first_chunk_ledger, first_chunk_entry; /* receipt of chunk 0 */
  /* Entries sealed but still compressing or waiting for an older one to
   * finish (compression_threads): finished strictly in this order. */
  pc_entry *zq_head, *zq_tail;

  /* pending.c: sealed entries waiting for receipts, and the entry pool */
  pc_entry *pending_head, *pending_tail;
  pc_entry *free_entries;
  uint32_t entries_made;  /* entry pool size, grown geometrically */
  size_t frame_cap_hint;  /* largest reusable frame buffer seen */
  uint32_t msgs_cap_hint; /* largest batch seen */

  /* resend.c */
  uint32_t resend_round;    /* bumped at every re-registration */
  bool resend_blocked;      /* resend waits for a frame still in a connection */
  pc_entry *resend_blocker; /* that frame */
  bool resend_kick;         /* it is out: the poller resumes the resend */

  /* route.c: the producer's active list (see pulsarc_producer.active) */
  bool active;
  struct pc_part *active_next;

  /* stats.c and every file that counts */
  pc_part_stats stats;
} pc_part;

/* Upward events. Calls go only downward (src/LAYERS); this table is how
 * news travels back up: a lower file calls through it, lifecycle.c fills
 * it. [loop] */
typedef struct pc_producer_events {
  /* flush.c: a close is under way and nothing it waits for is in flight. */
  void (*close_drained)(pulsarc_producer_t *p);
} pc_producer_events;

typedef struct pc_flush_req {
  struct pc_flush_req *next;
  uint64_t target_idx; /* complete once every message below it completed */
  pulsarc_done_cb cb;
  void *ctx;
} pc_flush_req;

/* A partition's pending count, on a line of its own: senders of keys that
 * hash to it take slots here, the loop charges the rest when it routes
 * them and gives all back on completion (credit.c). */
typedef struct pc_part_slots {
  _Alignas(64) _Atomic uint32_t pending;
} pc_part_slots;

/* The per-partition pending limits of a partitioned topic as senders find
 * them: the loop publishes a new directory when partitions are added (the
 * counters carry over) and keeps the old ones (prev) until the producer is
 * freed, so a sender never sees one go. */
typedef struct pc_slot_dir {
  struct pc_slot_dir *prev;
  int n;
  uint32_t share; /* each partition's limit: min(max pending, across / n) */
  uint32_t total; /* the producer's: n * share */
  pc_part_slots *part[];
} pc_slot_dir;

enum { PC_APP_OPEN = 0, PC_APP_CLOSING = 1, PC_APP_CLOSED = 2, PC_APP_FAILED = 3 };

struct pulsarc_producer {
  pulsarc_client_t *client;
  pc_loop *loop;
  struct pulsarc_producer_conf conf;
  char topic[PC_TOPIC_MAX];

  /* [any] read by senders. Grouped by who writes them, a cache line per
   * group: senders should not miss on a line the loop writes per message. */
  _Alignas(64) _Atomic int app_state; /* read-mostly */
  _Atomic int fail_err;               /* why the producer failed */
  _Atomic uint32_t max_message_size;
  _Atomic(const char *) name;              /* published once known */
  _Atomic int parts_known;                 /* partitions made so far (nparts) */
  _Atomic int parts_ready;                 /* of them, registered right now */
  _Atomic int64_t last_seq_id;             /* highest acknowledged, see pulsarc.h */
  _Atomic(pc_slot_dir *) slot_dir;         /* NULL: not partitioned (yet), see credit.c */
  _Alignas(64) _Atomic uint32_t inflight;  /* accepted, not yet completed */
  _Atomic int64_t mem_credit;              /* client memory granted, not in use (credit.c) */
  _Alignas(64) _Atomic uint32_t space_seq; /* futex word bumped when room appears */
  _Atomic uint32_t space_waiters;
  _Alignas(64) pc_sendq q;
  /* [any] Senders update these only on slow paths (a refused send, a wait
   * for room), so an atomic add is fine; their own line keeps them away
   * from the lines every send touches. */
  _Alignas(64) _Atomic uint64_t blocked_pending, blocked_memory, blocked_ns;
  _Atomic uint64_t rejected_pending, rejected_memory;
  _Atomic(pc_stats_dir *) stats_dir; /* written by the loop, see pc_stats_dir */

  /* [loop] */
  _Alignas(64) pc_poller poller;
  /* Its own lines: senders touch the poller above (wake-ups). */
  _Alignas(64) pc_part_stats xstats; /* messages completed before routing */
  pc_hist latency;                   /* every completion, from its drain */
  /* Failures by pulsarc_err_t, for the producer as a whole (1.6 KiB each
   * partition would add up on partitioned topics). */
  pc_stat failed_by[PULSARC_STATS_ERRORS];
  pc_timer start_timer;
  pc_timer deadline_timer;
  const pc_producer_events *events;
  pc_lookup_op *meta_lookup;
  uint64_t meta_backoff_ms;
  pulsarc_err_t meta_last_err; /* why the last partition-count lookup failed */
  char attempt_detail[256];    /* sentence of the last failed creation attempt */
  uint64_t create_deadline_ns; /* first creation is bounded by the operation timeout */
  pc_timer create_timer;       /* fires then, until the partition count is known */
  /* What made creation fail, for pulsarc_last_error_text() of the creating
   * thread: written once, before the ready callback reports the failure. */
  char fail_detail[PC_ERR_DETAIL_MAX];
  int nparts; /* 0 until the partition count is known */
  pc_part **parts;
  pc_msgfifo unrouted;       /* drained before the partition count was known */
  uint64_t drained;          /* arrival counter for pc_msg.idx */
  uint32_t rr_part, rr_left; /* round robin: partition and messages left */
  bool rings_drained;        /* the last drain emptied every ring (group commit) */
  uint64_t active_ns;        /* the poller last did work (route.c parks it after a pause) */
  pc_timer idle_timer;       /* armed when the poller parks: gives back idle buffers */
  uint32_t kicks_seen;       /* pc_loop_kicks when the futures were last checked */
  uint32_t single_part;      /* routing_mode=single_partition: chosen at random */
  /* The partitions a poll looks at, so that it costs what has work, not
   * nparts: every partition with unsent messages or a blocked resend (only
   * a blocked one gets a resend kick) is on it, in the order they got work.
   * pc_part_activate adds one, the poller drops those with neither. */
  pc_part *active, *active_tail;
  uint32_t ready_parts;
  bool ready_reported;
  pulsarc_producer_ready_cb ready_cb;
  void *ready_ctx;
  pc_flush_req *flushes;
  bool closing; /* graceful close in progress */
  pc_timer close_timer;
  pc_timer update_timer; /* re-reads the partition count */
  pc_flush_req *close_waiters;
  uint32_t parts_closing;
  bool destroyed;
  bool wake_senders;       /* slots were released since the last wake */
  void *destroy_waiter;    /* pc_waiter of a blocking destroy, or NULL */
  pc_client_member member; /* the client's registry; client->lock */
  pc_crypto *crypto;       /* end-to-end encryption, NULL when off (seal.c) */
  bool slots_frozen;       /* a slot directory could not be made: none from now on */
};

/* Stop sealing while the connection holds this much unwritten data: the
 * socket is the bottleneck, and messages wait better unsealed (they can
 * still fail by deadline without ever being sent). */
#define PC_CONN_HIGH_WATER (4u << 20)

/* A poller with nothing to do for this long leaves the loop's list (a busy
 * producer stays on it: parking and coming back cost an atomic exchange),
 * and one parked this long gives back its rings and buffers. */
#define PC_PARK_AFTER_NS (1000000ull)
#define PC_IDLE_TRIM_MS 1000

/* [loop] Puts a partition that got unsent messages or a blocked resend
 * on its producer's active list (route.c). */
static inline void pc_part_activate(pc_part *part) {
  if (part->active)
    return;
  pulsarc_producer_t *p = part->p;
  part->active = true;
  part->active_next = NULL;
  if (p->active_tail != NULL)
    p->active_tail->active_next = part;
  else
    p->active = part;
  p->active_tail = part;
}

/* Messages with a delivery time travel alone (never batched). */
static inline bool pc_msg_travels_alone(const pc_msg *m) {
  return m->ext != NULL && m->ext->has_deliver_at;
}

#endif
