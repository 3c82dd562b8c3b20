/* pulsarc test broker: a small in-process (or stand-alone) peer that speaks
 * the BROKER side of the Pulsar binary protocol on loopback, for tests, the
 * bench and users' own test suites. It stores what producers send and lets
 * the caller inspect it, and it can inject faults.
 *
 * Threads: pulsarc_tb_start() runs the broker on one background thread of
 * its own (all signals blocked there). Every function below may be called
 * from any thread, concurrently; none of them calls back into the caller.
 * Inspection functions return snapshot copies that the caller owns and
 * releases with the matching *_free function.
 *
 * What it implements:
 * CONNECT/CONNECTED, PING/PONG, PARTITIONED_METADATA, LOOKUP (Connect,
 * Redirect, proxy-through), PRODUCER with access modes, SEND with CRC32C
 * check, batch walking, chunk accounting, deduplication by producer name and
 * sequence id (as the Java broker does it), SEND_RECEIPT / SEND_ERROR,
 * CLOSE_PRODUCER in both directions, GET_OR_CREATE_SCHEMA.
 * Consumer side (tb_consumer.c): SUBSCRIBE (Exclusive, Shared, Failover,
 * Key_Shared; Earliest/Latest, reader start ids), FLOW permits (a batch entry
 * costs its message count), MESSAGE with the stored metadata and payload
 * re-checksummed, ACK (individual, cumulative; ACK_RESPONSE when asked),
 * REDELIVER_UNACKNOWLEDGED_MESSAGES, delayed delivery on Shared/Key_Shared,
 * CLOSE_CONSUMER, UNSUBSCRIBE, SEEK, GET_LAST_MESSAGE_ID, CONSUMER_STATS,
 * GET_SCHEMA (answers TopicNotFound: schema bodies are not kept). Only
 * entries whose payload was retained (retain_bytes, max_entry_records) can
 * be dispatched; subscriptions skip the others as if acknowledged.
 *
 * Memory is bounded: payloads are kept up to retain_bytes (then only
 * per-message CRC32C + length), entry records up to max_entry_records (then
 * only counters), unread output per connection to 64 MiB (then the
 * connection is dropped). */
#ifndef PULSARC_TESTBROKER_H
#define PULSARC_TESTBROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pulsarc_tb pulsarc_tb;

/* A topic with a fixed number of partitions (PARTITIONED_METADATA answer).
 * Topic: full name, or a short name completed to
 * persistent://public/default/<name>. */
typedef struct pulsarc_tb_partitions {
  const char *topic;
  uint32_t partitions;
} pulsarc_tb_partitions;

/* Options. Always start from pulsarc_tb_opts_default(): fields may be added
 * at the end in later versions. Strings and tables are copied by
 * pulsarc_tb_start; the caller keeps ownership. */
typedef struct pulsarc_tb_opts {
  const char *listen_host;                 /* default "127.0.0.1" */
  uint16_t port;                           /* 0 (default): any free port */
  const char *advertised_url;              /* URL given in LOOKUP answers; NULL: own service URL */
  const pulsarc_tb_partitions *partitions; /* table, may be NULL */
  size_t num_partitions;
  uint32_t max_message_size;    /* CONNECTED.max_message_size; default 5 MiB.
                                   Frames over this + 10 KiB close the connection */
  uint64_t retain_bytes;        /* payload bytes kept for inspection, default
                                   256 MiB. A prefix: from the first entry that
                                   does not fit on, entries keep CRC32C + length */
  uint64_t max_entry_records;   /* records kept for inspection, default 1 M
                                   (~150 MB at worst): an entry costs one per
                                   message. Later entries are only counted
                                   (0 = count only: fastest, for benches) */
  bool dedup;                   /* deduplication, default true */
  const char *redirect_to;      /* service URL of another instance: LOOKUPs
                                   without authoritative are answered Redirect
                                   there (authoritative=true). NULL: off */
  bool proxy_through;           /* LOOKUP Connect carries
                                   proxy_through_service_url=true */
  const char *assign_to;        /* CLOSE_PRODUCERs this broker sends name this
                                   URL as the new owner (assigned_broker_
                                   service_url and _tls), as a topic transfer
                                   does. NULL: they name none */
  uint32_t ping_interval_ms;    /* send PING to clients this often; 0 = never */
  int32_t max_protocol_version; /* CONNECTED.protocol_version = min(client, this); 19 */
  /* TLS and authentication (tb_tls.c). With tls_cert_file + tls_key_file
   * the listener speaks TLS only (service URL pulsar+ssl://..., LOOKUP
   * answers carry brokerServiceUrlTls). */
  const char *tls_cert_file;  /* PEM server certificate chain */
  const char *tls_key_file;   /* PEM private key */
  const char *tls_ca_file;    /* PEM CAs: clients MUST present a certificate
                                 signed by one of them (mutual TLS) */
  const char *require_token;  /* CONNECT must carry auth_method_name "token"
                                 and exactly this auth_data, else ERROR
                                 AuthenticationError and close; also checked
                                 in every AUTH_RESPONSE. NULL: no check */
  uint32_t auth_challenge_ms; /* send AUTH_CHALLENGE to every connected client
                                 this often; 0 = never */
} pulsarc_tb_opts;

pulsarc_tb_opts pulsarc_tb_opts_default(void);

/* Starts a broker on its own thread and returns once it accepts
 * connections. 0, or a negative errno (bind failure, -EINVAL for bad
 * options, -ENOMEM). Blocking (briefly). */
int pulsarc_tb_start(const pulsarc_tb_opts *opts, pulsarc_tb **out);
/* "pulsar://127.0.0.1:PORT" with the bound port; valid until _free. */
const char *pulsarc_tb_service_url(const pulsarc_tb *tb);
uint16_t pulsarc_tb_port(const pulsarc_tb *tb);
/* Closes every connection and the listener and joins the thread. The stored
 * data stays inspectable. Idempotent. Blocking. */
void pulsarc_tb_stop(pulsarc_tb *tb);
/* Stops (if needed) and frees everything. NULL is fine. */
void pulsarc_tb_free(pulsarc_tb *tb);

/* Absolute path of the built pulsarc-testbroker program (for tests that
 * spawn it). */
const char *pulsarc_tb_program_path(void);

/* Completes a short topic name to persistent://public/default/<name>
 * (a name with '/' but no "://" gets "persistent://"). Returns a malloc'd
 * string (free()), NULL on no memory. */
char *pulsarc_tb_full_topic(const char *topic);

/* ------------------------------------------------------------ inspection */

typedef struct pulsarc_tb_stats {
  uint64_t entries;           /* stored entries (SEND frames persisted) */
  uint64_t messages;          /* stored messages: batch members counted one by
                                 one, a chunked message once (on its last chunk) */
  uint64_t chunks;            /* stored entries that are chunks */
  uint64_t duplicates;        /* SENDs acknowledged -1:-1 (dedup) */
  uint64_t checksum_errors;   /* SENDs refused with ChecksumError */
  uint64_t send_errors;       /* SEND_ERRORs sent (checksum + injected) */
  uint64_t malformed_batches; /* batch bodies that did not walk cleanly */
  uint64_t frames_in;
  uint64_t frames_out;
  uint64_t connections; /* accepted since start */
  uint64_t connections_open;
  uint64_t protocol_errors;   /* connections closed for protocol violations */
  uint64_t producers_created; /* successful PRODUCER requests (retries excluded) */
  uint64_t producers_open;
  uint64_t lookups;
  uint64_t partition_lookups;
  uint64_t proxied_connects; /* CONNECTs carrying proxy_to_broker_url */
  uint64_t pongs;
  uint64_t bytes_stored;      /* payload bytes of stored entries */
  uint64_t bytes_retained;    /* of which kept in memory */
  uint64_t decompress_errors; /* compressed entries that did not decode to
                                 uncompressed_size (stored raw, not listed) */
} pulsarc_tb_stats;

void pulsarc_tb_get_stats(pulsarc_tb *tb, pulsarc_tb_stats *out);

typedef struct pulsarc_tb_topic_stats {
  bool exists; /* a producer was ever created on it */
  uint64_t entries, messages, chunks, duplicates;
  uint64_t producers_open;    /* active (ready) producers */
  uint64_t producers_waiting; /* WaitForExclusive producers queued */
  int64_t ledger_id;
  uint64_t topic_epoch;
} pulsarc_tb_topic_stats;

void pulsarc_tb_get_topic_stats(pulsarc_tb *tb, const char *topic, pulsarc_tb_topic_stats *out);

/* Highest sequence id stored for a producer name on a topic (what
 * ProducerSuccess.last_sequence_id would say with dedup on), -1 if none. */
int64_t pulsarc_tb_last_sequence_id(pulsarc_tb *tb, const char *topic, const char *producer_name);

/* Waits until the topic holds at least n messages (stats.messages meaning;
 * topic NULL: all topics together). true when reached, false on timeout.
 * timeout_ms < 0 waits forever. Blocking. */
bool pulsarc_tb_wait_messages(pulsarc_tb *tb, const char *topic, uint64_t n, int timeout_ms);
/* Waits until the topic has at least n active producers. */
bool pulsarc_tb_wait_producers(pulsarc_tb *tb, const char *topic, uint64_t n, int timeout_ms);

typedef struct pulsarc_tb_kv {
  const char *key;
  const char *value;
} pulsarc_tb_kv;

/* One message of an entry. For a non-batched entry there is exactly one,
 * covering the whole payload. */
typedef struct pulsarc_tb_message {
  bool retained;          /* payload bytes below are valid */
  const uint8_t *payload; /* NULL when not retained */
  size_t payload_len;
  uint32_t payload_crc32c; /* CRC32C of the payload, always valid */
  /* SingleMessageMetadata (batched entries whose payload was retained). */
  bool has_metadata;
  const char *partition_key; /* NULL if absent */
  bool has_ordering_key;
  const uint8_t *ordering_key;
  size_t ordering_key_len;
  const pulsarc_tb_kv *properties;
  size_t num_properties;
  uint64_t event_time; /* 0 if absent */
  bool has_sequence_id;
  uint64_t sequence_id;
  bool null_value;
} pulsarc_tb_message;

/* One stored entry (= one SEND frame that was persisted). */
typedef struct pulsarc_tb_entry {
  int64_t ledger_id;
  int64_t entry_id;
  const char *producer_name; /* the producer's registered name */
  uint64_t sequence_id;      /* CommandSend.sequence_id */
  bool has_highest_sequence_id;
  uint64_t highest_sequence_id; /* CommandSend.highest_sequence_id */
  bool is_batch;                /* metadata had num_messages_in_batch */
  int32_t num_messages;         /* num_messages_in_batch, 1 if not a batch */
  uint64_t publish_time;
  /* MessageMetadata fields that matter to a producer's tests. */
  const char *partition_key; /* NULL if absent */
  bool has_ordering_key;
  const uint8_t *ordering_key;
  size_t ordering_key_len;
  const pulsarc_tb_kv *properties;
  size_t num_properties;
  uint64_t event_time;
  bool has_deliver_at_time;
  int64_t deliver_at_time;
  int compression; /* 0 none, 1 LZ4, 2 ZLIB, 3 ZSTD, 4 SNAPPY */
  uint32_t uncompressed_size;
  bool is_chunk; /* metadata had chunk_id */
  const char *chunk_uuid;
  int32_t chunk_id, num_chunks, total_chunk_msg_size;
  bool has_schema_version;
  const uint8_t *schema_version;
  size_t schema_version_len;
  bool null_value;
  /* The raw entry payload as received (compressed when compressed). */
  bool payload_retained;
  const uint8_t *payload; /* NULL when not retained */
  size_t payload_len;
  uint32_t payload_crc32c; /* CRC32C of the raw payload, always valid */
  bool batch_malformed;    /* batch body did not walk cleanly */
  /* Messages inside (decompressed when the entry is compressed); empty when
   * a compressed payload does not decode (stats.decompress_errors). */
  const pulsarc_tb_message *messages;
  size_t num_listed;
  /* End-to-end encrypted (metadata had encryption_keys): payload is the
   * ciphertext and no message is listed. The raw MessageMetadata bytes are
   * there for tests that decrypt (NULL if not retained). */
  bool is_encrypted;
  const uint8_t *metadata;
  size_t metadata_len;
} pulsarc_tb_entry;

typedef struct pulsarc_tb_snapshot {
  const char *topic; /* full name */
  bool exists;
  const pulsarc_tb_entry *entries; /* recorded entries, in entry id order */
  size_t num_entries;
  uint64_t entries_not_recorded; /* over max_entry_records */
  uint64_t messages;             /* stats.messages for the topic */
  uint64_t duplicates;
  void *priv_; /* owned memory; do not touch */
} pulsarc_tb_snapshot;

/* Copy of everything stored for the topic. NULL only when out of memory;
 * an unknown topic gives exists == false and no entries. */
pulsarc_tb_snapshot *pulsarc_tb_snapshot_topic(pulsarc_tb *tb, const char *topic);
void pulsarc_tb_snapshot_free(pulsarc_tb_snapshot *s);

/* Names of every topic a producer was created on; *n gets the count. Free
 * with pulsarc_tb_strings_free(list, n). NULL with *n == 0 if none. */
char **pulsarc_tb_topics(pulsarc_tb *tb, size_t *n);
void pulsarc_tb_strings_free(char **list, size_t n);

/* ------------------------------------------------------- runtime settings */

/* Partition count answered for topic (0 = not partitioned). */
void pulsarc_tb_set_partitions(pulsarc_tb *tb, const char *topic, uint32_t partitions);
void pulsarc_tb_set_dedup(pulsarc_tb *tb, bool on);

/* -------------------------------------------------------- fault injection */

/* ServerError codes as on the wire, for the functions below. */
typedef enum pulsarc_tb_server_error {
  PULSARC_TB_UNKNOWN_ERROR = 0,
  PULSARC_TB_METADATA_ERROR = 1,
  PULSARC_TB_PERSISTENCE_ERROR = 2,
  PULSARC_TB_AUTHORIZATION_ERROR = 4,
  PULSARC_TB_SERVICE_NOT_READY = 6,
  PULSARC_TB_QUOTA_EXCEEDED_ERROR = 7,
  PULSARC_TB_QUOTA_EXCEEDED_EXCEPTION = 8,
  PULSARC_TB_CHECKSUM_ERROR = 9,
  PULSARC_TB_TOPIC_NOT_FOUND = 11,
  PULSARC_TB_TOO_MANY_REQUESTS = 14,
  PULSARC_TB_TOPIC_TERMINATED = 15,
  PULSARC_TB_PRODUCER_BUSY = 16,
  PULSARC_TB_INVALID_TOPIC_NAME = 17,
  PULSARC_TB_INCOMPATIBLE_SCHEMA = 18,
  PULSARC_TB_NOT_ALLOWED = 22,
  PULSARC_TB_PRODUCER_FENCED = 25
} pulsarc_tb_server_error;

/* While on, SEND receipts (and send errors) are stored but not written;
 * turning it off releases them in order. The entries are stored either way,
 * so a reconnect + resend shows up as duplicates. */
void pulsarc_tb_hold_receipts(pulsarc_tb *tb, bool hold);
/* Every SEND answer leaves ms after the SEND arrived (0 = at once). */
void pulsarc_tb_delay_receipts(pulsarc_tb *tb, uint32_t ms);
/* Closes every client connection now (no goodbye). Returns once done;
 * answers still held are lost. Blocking. */
void pulsarc_tb_drop_connections(pulsarc_tb *tb);
/* Sends CLOSE_PRODUCER to every producer (ready or waiting) of the topic and
 * forgets them, as a broker does on topic unload. Returns how many. Blocking. */
int pulsarc_tb_close_producers(pulsarc_tb *tb, const char *topic);
/* The next n SENDs that pass the checksum check are answered SEND_ERROR
 * with err and not stored. n = 0 cancels. */
void pulsarc_tb_fail_sends(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err);
/* The next n LOOKUPs are answered Failed with err (e.g.
 * PULSARC_TB_SERVICE_NOT_READY). n = 0 cancels. */
void pulsarc_tb_fail_lookups(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err);
/* The next n PRODUCER requests are answered ERROR err. n = 0 cancels. */
void pulsarc_tb_fail_producers(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err);
/* While set, every PRODUCER request for topic (a partition's own name, say
 * "t-partition-3") is answered ERROR err, as for a topic whose broker is
 * gone; NULL clears it. Producers already registered stay (close them with
 * pulsarc_tb_close_producers). */
void pulsarc_tb_refuse_producers(pulsarc_tb *tb, const char *topic, pulsarc_tb_server_error err);

/* ------------------------------------------- connection faults (tb_faults.c) */

/* Counting frames received on any connection from now, the connection that
 * receives the n-th is closed right after that frame was handled: whatever
 * was answered to it (a SEND's receipt: the entry IS stored) is lost, and so
 * are frames that arrived behind it. One shot; n = 0 cancels. */
void pulsarc_tb_drop_after_frames(pulsarc_tb *tb, uint64_t n);
/* Every received frame closes its connection (as above) with probability
 * per_million / 1e6, drawn from a generator seeded with seed (reproducible
 * for a given frame order). per_million = 0 turns it off. */
void pulsarc_tb_random_drops(pulsarc_tb *tb, uint64_t seed, uint32_t per_million);
/* The next n frames the broker writes (any command, on any connection) are
 * made undecodable: their command bytes are overwritten, the frame sizes
 * stay valid. n = 0 cancels. */
void pulsarc_tb_corrupt_next_frames(pulsarc_tb *tb, uint32_t n);
/* While stopped, the broker reads nothing from client sockets (it still
 * accepts and writes), so clients fill their socket buffers and meet
 * backpressure; a peer that resets is closed unread. Turning it off resumes
 * reading. Returns once applied. Blocking. */
void pulsarc_tb_stop_reading(pulsarc_tb *tb, bool stop);
/* Connections closed by injected faults since start: drop_after_frames,
 * random drops and pulsarc_tb_drop_connections (one per connection). */
uint64_t pulsarc_tb_drops(pulsarc_tb *tb);
typedef struct pulsarc_tb_fault_stats {
  uint64_t drops;            /* as pulsarc_tb_drops() */
  uint64_t drops_after_send; /* drops right after a SEND: its receipt was lost
                                (the client still had it pending) */
  uint64_t frames_corrupted; /* by pulsarc_tb_corrupt_next_frames */
} pulsarc_tb_fault_stats;
void pulsarc_tb_get_fault_stats(pulsarc_tb *tb, pulsarc_tb_fault_stats *out);
/* Waits until pulsarc_tb_drops() >= n; false on timeout (timeout_ms < 0:
 * forever) or when the broker stopped. Blocking. */
bool pulsarc_tb_wait_drops(pulsarc_tb *tb, uint64_t n, int timeout_ms);

/* ------------------------------------------------- TLS and auth (tb_tls.c) */

typedef struct pulsarc_tb_auth_stats {
  uint64_t tls_handshakes;     /* completed TLS handshakes */
  uint64_t tls_failures;       /* connections that failed during the handshake */
  uint64_t client_certs;       /* handshakes with a verified client certificate */
  uint64_t connects_ok;        /* CONNECTs that passed the credential check */
  uint64_t connects_rejected;  /* CONNECTs answered AuthenticationError */
  uint64_t challenges_sent;    /* AUTH_CHALLENGE frames written */
  uint64_t responses_ok;       /* AUTH_RESPONSEs with valid credentials */
  uint64_t responses_rejected; /* AUTH_RESPONSEs answered AuthenticationError */
  char last_method[32];        /* auth_method_name of the last CONNECT */
} pulsarc_tb_auth_stats;

void pulsarc_tb_get_auth_stats(pulsarc_tb *tb, pulsarc_tb_auth_stats *out);
/* Replaces the token CONNECT and AUTH_RESPONSE must carry (NULL: no check
 * from now on). Connections already accepted stay until challenged. */
void pulsarc_tb_set_required_token(pulsarc_tb *tb, const char *token);
/* Sends AUTH_CHALLENGE to every connected client now (as a broker does when
 * credentials expire); a wrong answer closes that connection. Returns how
 * many were challenged once the frames are queued. Blocking (briefly). */
int pulsarc_tb_auth_challenge(pulsarc_tb *tb);

/* ------------------------------------------------- transactions (tb_txn.c) */

/* The test broker is its own transaction coordinator: give
 * persistent://pulsar/system/transaction_coordinator_assign N partitions
 * (pulsarc_tb_set_partitions) and coordinator k (k < N) hands out the ids
 * k:1, k:2, ... Nothing is hidden from consumers: tests read the state. */
typedef struct pulsarc_tb_txn_stats {
  uint64_t tc_connects;      /* TC_CLIENT_CONNECT_REQUESTs answered */
  uint64_t new_txns;         /* transactions opened */
  uint64_t partitions_added; /* ADD_PARTITION_TO_TXN partitions (repeats too) */
  uint64_t commits, aborts;  /* END_TXN answered with success */
  uint64_t timed_out;        /* transactions aborted for their timeout */
  uint64_t end_errors;       /* END_TXNs refused (unknown, not open, timed out) */
  uint64_t txn_sends;        /* SENDs carrying a transaction id */
  uint64_t unadded_sends;    /* of them, to a partition not added to the
                                open transaction first (a client bug) */
  uint64_t last_ttl_ms;      /* txn_ttl_millis of the last NEW_TXN */
} pulsarc_tb_txn_stats;
void pulsarc_tb_get_txn_stats(pulsarc_tb *tb, pulsarc_tb_txn_stats *out);

typedef enum pulsarc_tb_txn_state {
  PULSARC_TB_TXN_UNKNOWN = 0,
  PULSARC_TB_TXN_OPEN = 1,
  PULSARC_TB_TXN_COMMITTED = 2,
  PULSARC_TB_TXN_ABORTED = 3
} pulsarc_tb_txn_state;
/* A transaction's state; a timed-out one reads ABORTED once its timeout
 * passed. */
pulsarc_tb_txn_state pulsarc_tb_txn_state_of(pulsarc_tb *tb, uint64_t most, uint64_t least);
/* The next n coordinator requests (TC_CLIENT_CONNECT, NEW_TXN,
 * ADD_PARTITION_TO_TXN, END_TXN) are answered with err (a ServerError code,
 * e.g. 20 TransactionCoordinatorNotFound), or, with err
 * PULSARC_TB_TXN_UNANSWERED, read and never answered on a connection that
 * stays up, or, with any other err < 0, dropped by closing their connection
 * without an answer. */
#define PULSARC_TB_TXN_UNANSWERED (-2)
void pulsarc_tb_fail_txn_requests(pulsarc_tb *tb, uint32_t n, int err);

#ifdef __cplusplus
}
#endif

#endif
