/*
 * pulsarc: an Apache Pulsar producer client in C.
 *
 * Naming, once for the whole API:
 *  - A function ending in _async returns a future (pulsarc_future_t) to
 *    wait on or poll; one ending in _cb takes a callback that runs once on
 *    an I/O thread. The plain form of the same operation
 *    (pulsarc_producer_create, _send, _flush, _close) blocks until the
 *    outcome is known.
 *  - Objects are made by *_new or *_create* and released by *_destroy;
 *    there is no *_free.
 *  - "Timed out waiting" is always PULSARC_ERR_WAIT_TIMEOUT (the operation
 *    goes on); PULSARC_ERR_TIMEOUT and _TIMEOUT_UNCONFIRMED mean a message's
 *    own deadline passed (the message failed).
 *
 * Threads and ownership, once for the whole API:
 *  - Every handle is opaque.
 *  - Configuration objects are read when a client or producer is created and
 *    may be destroyed or reused right after; message options likewise are
 *    read during the send call only.
 *  - The client owns N I/O threads (library threads). Every callback the
 *    library calls (send callbacks, producer-ready callbacks, the logger)
 *    runs on one of them. A callback must not block: blocking calls made
 *    from a library thread (pulsarc_producer_send, _flush,
 *    pulsarc_producer_create, pulsarc_future_wait with a timeout other than
 *    0, pulsarc_client_close) return PULSARC_ERR_WRONG_THREAD instead of
 *    deadlocking. Their _cb and _async forms work there. pulsarc_producer_close
 *    called there starts an asynchronous close (PULSARC_ERR_PENDING), and
 *    destroy is deferred until the callback returns.
 *  - Data handed to a callback (message ids, error strings) is borrowed and
 *    valid only during the callback.
 *  - Send calls are safe from any number of application threads at once and
 *    never wait on each other: each thread enqueues into its own ring.
 *  - No signal ever reaches the application: sockets are written with
 *    MSG_NOSIGNAL and no signal handler is installed.
 *
 * Shutdown order: pulsarc_producer_flush (optional), pulsarc_producer_close,
 * pulsarc_producer_destroy for each producer, then pulsarc_client_close and
 * pulsarc_client_destroy. Destroying a client destroys producers still open.
 */
#ifndef PULSARC_PULSARC_H
#define PULSARC_PULSARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PULSARC_BUILDING) && defined(__GNUC__)
#define PULSARC_API __attribute__((visibility("default")))
#else
#define PULSARC_API
#endif

/* ------------------------------------------------------------------ version */

/* The version of this header. Within one major version the API and ABI
 * only grow: no function, type, enum value or struct layout changes. */
#define PULSARC_VERSION_MAJOR 1
#define PULSARC_VERSION_MINOR 0
#define PULSARC_VERSION_PATCH 0
#define PULSARC_VERSION_STRING "1.0.0"

/* The version of the library linked at run time, "MAJOR.MINOR.PATCH"
 * (equal to PULSARC_VERSION_STRING when header and library match).
 * Constant storage. */
PULSARC_API const char *pulsarc_version(void);

/* ------------------------------------------------------------------ errors */

/* One error enum for the whole library; 0 is success. Every value is fixed
 * and will never change meaning, so values may be stored and compared across
 * versions. Two ranges:
 *   1..99     local errors, raised by pulsarc itself;
 *   100..199  errors the broker reported: PULSARC_ERR_BROKER_BASE plus the
 *             protocol's ServerError code (PulsarApi.proto), so a code the
 *             broker adds later still maps to a stable number.
 * OS errors are wrapped (the detail is in pulsarc_last_error_text() and the
 * log). pulsarc_err_str() gives a constant English sentence,
 * pulsarc_err_name() the identifier, pulsarc_err_is_retriable() whether the
 * same call may succeed if made again later. */
typedef enum pulsarc_err {
  PULSARC_OK = 0,
  PULSARC_ERR_INVALID_ARGUMENT = 1, /* NULL handle, bad option value, misuse */
  PULSARC_ERR_INVALID_TOPIC = 2,    /* topic name rejected before any traffic */
  PULSARC_ERR_INVALID_URL = 3,      /* service URL not pulsar[+ssl]://host:port[,..] */
  PULSARC_ERR_UNKNOWN_OPTION = 4,   /* conf_set() with a key nobody knows */
  PULSARC_ERR_NO_MEMORY = 5,
  PULSARC_ERR_TIMEOUT = 6,                /* a message's deadline passed before it was
                                             written: it was never sent */
  PULSARC_ERR_TIMEOUT_UNCONFIRMED = 7,    /* a message's deadline passed after it was
                                             written: the broker may have stored it */
  PULSARC_ERR_PENDING = 8,                /* started in the background (close from a
                                             callback); the outcome comes later */
  PULSARC_ERR_CLOSED = 9,                 /* producer or client closed */
  PULSARC_ERR_WRONG_THREAD = 10,          /* blocking call from a library thread */
  PULSARC_ERR_MESSAGE_TOO_BIG = 11,       /* over min(max_message_size, broker's) */
  PULSARC_ERR_QUEUE_FULL = 12,            /* max pending messages reached, not blocking */
  PULSARC_ERR_MEMORY_LIMIT = 13,          /* client memory limit reached, not blocking */
  PULSARC_ERR_RESOLVE = 14,               /* host name did not resolve */
  PULSARC_ERR_CONNECT = 15,               /* TCP connect or handshake failed */
  PULSARC_ERR_DISCONNECTED = 16,          /* connection lost during a request */
  PULSARC_ERR_PROTOCOL = 17,              /* malformed or unexpected frame from peer */
  PULSARC_ERR_TOO_MANY_REDIRECTS = 18,    /* lookup redirected more than
                                             max_lookup_redirects times */
  PULSARC_ERR_LOOKUP = 19,                /* lookup answered Failed without a code */
  PULSARC_ERR_NOT_SUPPORTED = 20,         /* option or feature not implemented */
  PULSARC_ERR_CONFLICT = 21,              /* options that cannot go together */
  PULSARC_ERR_TLS = 22,                   /* TLS set-up or handshake failed */
  PULSARC_ERR_WAIT_TIMEOUT = 23,          /* a wait (pulsarc_future_wait, flush) ended
                                             before the operation completed; the
                                             operation itself goes on */
  PULSARC_ERR_CONNECT_TIMEOUT = 24,       /* no connection (TCP + CONNECT/CONNECTED)
                                             within the connect or operation timeout */
  PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT = 25, /* TCP connected, TLS handshake not
                                             done in time */
  PULSARC_ERR_LOOKUP_TIMEOUT = 26,        /* partitioned metadata or lookup not
                                             answered within the operation timeout */
  PULSARC_ERR_REGISTER_TIMEOUT = 27,      /* PRODUCER (registration) not answered
                                             within the operation timeout */
  PULSARC_ERR_AUTH_DATA = 28,             /* credentials could not be produced
                                             (token file unreadable or empty, token
                                             provider failed); not retried */
  PULSARC_ERR_INTERNAL = 29,              /* pulsarc broke one of its own invariants
                                             (a bug: please report it) */
  PULSARC_ERR_CRYPTO = 30,                /* end-to-end encryption failed: a public key
                                             could not be read, parsed or used, or the
                                             payload could not be encrypted */
  PULSARC_ERR_TXN_SEND_FAILED = 31,       /* a send of the transaction failed, so
                                             commit aborted it instead */

  /* Broker errors: PULSARC_ERR_BROKER_BASE + ServerError. */
  PULSARC_ERR_BROKER_BASE = 100,
  PULSARC_ERR_BROKER_UNKNOWN = 100,
  PULSARC_ERR_BROKER_METADATA = 101,
  PULSARC_ERR_BROKER_PERSISTENCE = 102,
  PULSARC_ERR_BROKER_AUTHENTICATION = 103,
  PULSARC_ERR_BROKER_AUTHORIZATION = 104,
  PULSARC_ERR_BROKER_CONSUMER_BUSY = 105,
  PULSARC_ERR_BROKER_SERVICE_NOT_READY = 106,
  PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA = 107,
  PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA_EXCEPTION = 108,
  PULSARC_ERR_BROKER_CHECKSUM = 109,
  PULSARC_ERR_BROKER_UNSUPPORTED_VERSION = 110,
  PULSARC_ERR_BROKER_TOPIC_NOT_FOUND = 111,
  PULSARC_ERR_BROKER_SUBSCRIPTION_NOT_FOUND = 112,
  PULSARC_ERR_BROKER_CONSUMER_NOT_FOUND = 113,
  PULSARC_ERR_BROKER_TOO_MANY_REQUESTS = 114,
  PULSARC_ERR_BROKER_TOPIC_TERMINATED = 115,
  PULSARC_ERR_BROKER_PRODUCER_BUSY = 116,
  PULSARC_ERR_BROKER_INVALID_TOPIC_NAME = 117,
  PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA = 118,
  PULSARC_ERR_BROKER_CONSUMER_ASSIGN = 119,
  PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND = 120,
  PULSARC_ERR_BROKER_INVALID_TXN_STATUS = 121,
  PULSARC_ERR_BROKER_NOT_ALLOWED = 122,
  PULSARC_ERR_BROKER_TXN_CONFLICT = 123,
  PULSARC_ERR_BROKER_TXN_NOT_FOUND = 124,
  PULSARC_ERR_BROKER_PRODUCER_FENCED = 125,
  PULSARC_ERR_BROKER_LAST = 199 /* end of the broker range */
} pulsarc_err_t;

/* A constant English sentence for err; never NULL ("unknown error code" for
 * a value this version does not know; a broker code it does not know reads
 * "broker: error N"). */
PULSARC_API const char *pulsarc_err_str(pulsarc_err_t err);

/* The identifier of err, e.g. "PULSARC_ERR_QUEUE_FULL"; never NULL
 * ("PULSARC_ERR_BROKER_<N>" or "PULSARC_ERR_UNKNOWN_<N>" for values this
 * version does not know). Constant storage. */
PULSARC_API const char *pulsarc_err_name(pulsarc_err_t err);

/* true when the same call may succeed if the application makes it again
 * later without changing anything (queue full, memory limit, timeouts,
 * connection trouble, a broker that is not ready or overloaded); false for
 * success, misuse, configuration errors and final broker answers (fenced,
 * terminated, not authorized, incompatible schema, ...). */
PULSARC_API bool pulsarc_err_is_retriable(pulsarc_err_t err);

/* The detail of the last error that a pulsarc call returned on the calling
 * thread: a sentence naming what failed and why (e.g. "operation timeout
 * 30000 ms passed while connecting to 127.0.0.1:6650: connection refused").
 * Inside a producer-ready or send callback it describes the error that
 * callback reports. "" when there is none. Valid until the next pulsarc
 * call on this thread; copy it to keep it. Never contains a token, key or
 * password. */
PULSARC_API const char *pulsarc_last_error_text(void);

/* ------------------------------------------------------------------ logging */

typedef enum pulsarc_log_level {
  PULSARC_LOG_DEBUG = 0,
  PULSARC_LOG_INFO = 1,
  PULSARC_LOG_WARN = 2,
  PULSARC_LOG_ERROR = 3,
  PULSARC_LOG_OFF = 4
} pulsarc_log_level_t;

/* Called on any thread (usually an I/O thread) with a NUL-terminated line
 * that is valid during the call only. Must not block for long and must not
 * call blocking pulsarc functions. The default logger writes WARN and ERROR
 * to stderr (level from the environment variable PULSARC_LOG_LEVEL:
 * debug|info|warn|error|off). */
typedef void (*pulsarc_log_fn)(pulsarc_log_level_t level, const char *line, void *ctx);

/* --------------------------------------------------------------- message id */

/* A message id as the broker assigned it. A plain value: copy it freely.
 * partition is -1 for a non-partitioned topic; batch_index is -1 for a
 * message sent alone. A deduplicated duplicate is acknowledged by the broker
 * with ledger_id = entry_id = -1 and still counts as success. For a chunked
 * message, first_chunk_* name the first chunk's entry and ledger_id/entry_id
 * the last chunk's; otherwise first_chunk_* equal -1.
 * The struct can grow without changing size: a future field takes bytes
 * from reserved, and sizeof(pulsarc_msg_id_t) never changes (pinned below).
 * Zero-initialise an id you build yourself ({0} or memset) so reserved is
 * zero; the library zeroes it in every id it writes. */
typedef struct pulsarc_msg_id {
  int64_t ledger_id;
  int64_t entry_id;
  int32_t partition;
  int32_t batch_index;
  int32_t batch_size;
  int64_t first_chunk_ledger_id;
  int64_t first_chunk_entry_id;
  uint8_t reserved[32];
} pulsarc_msg_id_t;

#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(pulsarc_msg_id_t) == 80, "pulsarc_msg_id_t must keep its size");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(pulsarc_msg_id_t) == 80, "pulsarc_msg_id_t must keep its size");
#endif

/* Writes "ledger:entry:partition:batch_index" into buf (NUL-terminated,
 * truncated to len). Returns the length it needed, like snprintf; -1 if id
 * is NULL. */
PULSARC_API int pulsarc_msg_id_format(const pulsarc_msg_id_t *id, char *buf, size_t len);

/* Orders ids as the broker stores messages: by ledger_id, then entry_id,
 * then partition, then batch_index (the official Java client's order).
 * Returns <0, 0 or >0. batch_size and first_chunk_* do not take part. NULL
 * sorts before any id. */
PULSARC_API int pulsarc_msg_id_compare(const pulsarc_msg_id_t *a, const pulsarc_msg_id_t *b);

/* Serializes id in the official clients' format (the protocol's
 * MessageIdData: ledger and entry ids, partition, batch index, batch size
 * and, for a chunked id (first_chunk_* other than -1), the first chunk's
 * id), the bytes MessageId.serialize / toByteArray of the official clients
 * produce and read. Writes into buf only if the result fits in len bytes
 * (buf may be NULL when len is 0). Returns the number of bytes needed, like
 * snprintf (the result was written if it is <= len), or -1 if id is NULL.
 * Not NUL-terminated: binary. */
PULSARC_API int pulsarc_msg_id_serialize(const pulsarc_msg_id_t *id, void *buf, size_t len);

/* Parses bytes made by pulsarc_msg_id_serialize or an official client.
 * Fields missing from the bytes take the protocol's defaults (partition and
 * batch_index -1, batch_size 0, first_chunk_* -1); reserved is zeroed.
 * PULSARC_ERR_INVALID_ARGUMENT (detail in pulsarc_last_error_text()) for
 * NULL arguments or bytes that are not a MessageIdData; *out is then
 * unchanged. */
PULSARC_API pulsarc_err_t pulsarc_msg_id_deserialize(const void *buf, size_t len,
                                                     pulsarc_msg_id_t *out);

/* ------------------------------------------------------------------ handles */

typedef struct pulsarc_client_conf pulsarc_client_conf_t;
typedef struct pulsarc_client pulsarc_client_t;
typedef struct pulsarc_producer_conf pulsarc_producer_conf_t;
typedef struct pulsarc_producer pulsarc_producer_t;
typedef struct pulsarc_msg_opts pulsarc_msg_opts_t;
typedef struct pulsarc_future pulsarc_future_t;

/* ------------------------------------------------------- client configuration */

PULSARC_API pulsarc_client_conf_t *pulsarc_client_conf_new(void);
PULSARC_API void pulsarc_client_conf_destroy(pulsarc_client_conf_t *conf);

/* Generic setter, so CLIs can pass options through and new options never
 * change the ABI. The keys, their defaults, bounds and meaning are listed
 * in docs/options.md (and README.md's option tables), both generated from
 * the one option table in src/conf/options.c. TLS options apply to
 * pulsar+ssl:// service URLs. Authentication precedence: token provider,
 * then auth_token_file, then auth_token; OAuth2 (oauth2_issuer_url or
 * oauth2_params) excludes all three. A string option set to "" is
 * cleared. On error writes a sentence into errbuf (if not NULL; never
 * echoing a secret) and returns PULSARC_ERR_UNKNOWN_OPTION or
 * PULSARC_ERR_INVALID_ARGUMENT; the conf is then unchanged. */
PULSARC_API pulsarc_err_t pulsarc_client_conf_set(pulsarc_client_conf_t *conf, const char *key,
                                                  const char *value, char *errbuf,
                                                  size_t errbuf_len);

/* Replaces the default logger. fn NULL restores the default. */
PULSARC_API void pulsarc_client_conf_set_logger(pulsarc_client_conf_t *conf, pulsarc_log_fn fn,
                                                void *ctx);

/* Supplies the authentication token on demand: fn writes the token into
 * buf (buf_len bytes; no NUL needed) and returns its length, or
 * a negative value on failure (producer creation then fails at once with
 * PULSARC_ERR_AUTH_DATA, not retried). If the token needs more room,
 * return its length: fn is called once more with a buffer that large. Called on an I/O thread
 * on every connect and every AUTH_CHALLENGE (token refresh), so it should
 * return quickly and must not call blocking pulsarc functions. ctx must
 * outlive every client created from this conf. Takes precedence over
 * auth_token and auth_token_file; fn NULL removes it. */
typedef int (*pulsarc_token_provider_fn)(char *buf, size_t buf_len, void *ctx);
PULSARC_API void pulsarc_client_conf_set_token_provider(pulsarc_client_conf_t *conf,
                                                        pulsarc_token_provider_fn fn, void *ctx);

/* ------------------------------------------------------------------- client */

/* Creates a client for service_url "pulsar://host:port[,host2:port2...]"
 * or "pulsar+ssl://..." (TLS on every broker connection; lookups then use
 * the brokers' TLS URLs). TLS files are loaded here: a bad file fails with
 * PULSARC_ERR_TLS (the log says why). Handshake failures (untrusted CA,
 * expired certificate, wrong host name) fail producer creation with
 * PULSARC_ERR_TLS and a log line naming the reason; refused credentials
 * with PULSARC_ERR_BROKER_AUTHENTICATION.
 * Starts the I/O threads; does not connect yet (connections are made when
 * producers need them). conf may be NULL for defaults. Not blocking,
 * except with OAuth2: then it fetches the first token here (OpenID
 * discovery and one grant, bounded by operation_timeout_ms; libcurl is
 * loaded at run time), so that no I/O thread ever waits for HTTP, and
 * fails with PULSARC_ERR_BROKER_AUTHENTICATION (the token endpoint refused
 * the credentials: asked once), PULSARC_ERR_AUTH_DATA (endpoint unreachable
 * or its answer unusable, libcurl missing), PULSARC_ERR_INVALID_ARGUMENT
 * (unreadable credentials, a non-https URL) or, from a callback,
 * PULSARC_ERR_WRONG_THREAD. */
PULSARC_API pulsarc_err_t pulsarc_client_new(const char *service_url,
                                             const pulsarc_client_conf_t *conf,
                                             pulsarc_client_t **out);

/* Closes every producer (flushing with each producer's close timeout) and
 * every connection. Blocking; WRONG_THREAD from a library thread. */
PULSARC_API pulsarc_err_t pulsarc_client_close(pulsarc_client_t *client);

/* Destroys the client: closes what is still open without flushing (pending
 * sends fail with PULSARC_ERR_CLOSED), joins the I/O threads and frees
 * everything. From a library thread the work is deferred. Never hangs. */
PULSARC_API void pulsarc_client_destroy(pulsarc_client_t *client);

/* ------------------------------------------------------ producer configuration */

typedef enum pulsarc_access_mode {
  PULSARC_ACCESS_SHARED = 0,
  PULSARC_ACCESS_EXCLUSIVE = 1,
  PULSARC_ACCESS_WAIT_FOR_EXCLUSIVE = 2,
  PULSARC_ACCESS_EXCLUSIVE_WITH_FENCING = 3
} pulsarc_access_mode_t;

typedef enum pulsarc_compression {
  PULSARC_COMPRESSION_NONE = 0,
  PULSARC_COMPRESSION_LZ4 = 1,
  PULSARC_COMPRESSION_ZLIB = 2,
  PULSARC_COMPRESSION_ZSTD = 3,
  PULSARC_COMPRESSION_SNAPPY = 4
} pulsarc_compression_t;

PULSARC_API pulsarc_producer_conf_t *pulsarc_producer_conf_new(void);
PULSARC_API void pulsarc_producer_conf_destroy(pulsarc_producer_conf_t *conf);

/* Generic setter, as pulsarc_client_conf_set: the keys are listed in
 * docs/options.md and README.md. schema_property adds one "key=value" per
 * call; chunking together with batching fails producer creation with
 * PULSARC_ERR_CONFLICT. */
PULSARC_API pulsarc_err_t pulsarc_producer_conf_set(pulsarc_producer_conf_t *conf, const char *key,
                                                    const char *value, char *errbuf,
                                                    size_t errbuf_len);

/* Reads an option back, as text that pulsarc_*_conf_set accepts
 * (numbers in decimal, booleans as true/false, names in lower case; an
 * unset option is ""; schema_property lists its pairs joined by commas).
 * Secrets (auth_token, tls_key_password) read back as "***" when set.
 * *len: in, the size of buf; out, the size the value needs including its
 * NUL. buf NULL asks for that size only (PULSARC_OK). A buf too small gets
 * the value cut short (NUL-terminated) and PULSARC_ERR_INVALID_ARGUMENT.
 * PULSARC_ERR_UNKNOWN_OPTION for a key the conf does not have. Never
 * allocates; any thread, as long as nobody sets the conf meanwhile. */
PULSARC_API pulsarc_err_t pulsarc_client_conf_get(const pulsarc_client_conf_t *conf,
                                                  const char *key, char *buf, size_t *len);
PULSARC_API pulsarc_err_t pulsarc_producer_conf_get(const pulsarc_producer_conf_t *conf,
                                                    const char *key, char *buf, size_t *len);

/* Called once per option by the dump functions. key and value belong to
 * the library and live only during the call: copy what you keep. */
typedef void (*pulsarc_conf_dump_fn)(const char *key, const char *value, void *ctx);
/* Calls fn for every option of the conf, in the order of docs/options.md,
 * with the value pulsarc_*_conf_get would give (secrets as "***").
 * PULSARC_ERR_INVALID_ARGUMENT for a NULL conf or fn; PULSARC_ERR_NO_MEMORY
 * if a value longer than 255 bytes could not be copied (fn was called for
 * the options before it). */
PULSARC_API pulsarc_err_t pulsarc_client_conf_dump(const pulsarc_client_conf_t *conf,
                                                   pulsarc_conf_dump_fn fn, void *ctx);
PULSARC_API pulsarc_err_t pulsarc_producer_conf_dump(const pulsarc_producer_conf_t *conf,
                                                     pulsarc_conf_dump_fn fn, void *ctx);

/* Custom partition router (routing_mode=custom): returns the partition for
 * a message, 0..num_partitions-1. key is the partition key (NULL if none).
 * Runs on the producer's I/O thread; must not block. */
typedef int (*pulsarc_router_fn)(const char *key, size_t key_len, int num_partitions, void *ctx);
PULSARC_API pulsarc_err_t pulsarc_producer_conf_set_router(pulsarc_producer_conf_t *conf,
                                                           pulsarc_router_fn fn, void *ctx);

/* What a producer (each partition of a partitioned one) is doing, as told
 * to a state callback. */
typedef enum pulsarc_producer_state {
  PULSARC_PRODUCER_CONNECTING = 0,   /* first lookup, connect and registration */
  PULSARC_PRODUCER_READY = 1,        /* registered: messages flow */
  PULSARC_PRODUCER_DISCONNECTED = 2, /* lost its broker (reason says why); messages wait */
  PULSARC_PRODUCER_RECONNECTING = 3, /* after the backoff: lookup, connect, register again */
  PULSARC_PRODUCER_FENCED = 4,       /* another producer took exclusive access: finished */
  PULSARC_PRODUCER_TERMINATED = 5,   /* the topic was terminated: finished */
  PULSARC_PRODUCER_CLOSED = 6,       /* closed by the application */
  PULSARC_PRODUCER_FAILED = 7        /* failed for good otherwise (reason says why) */
} pulsarc_producer_state_t;

/* The state's name ("ready", "disconnected", ...); "unknown" otherwise. */
PULSARC_API const char *pulsarc_producer_state_name(pulsarc_producer_state_t state);

/* Called on the producer's I/O thread each time a partition's state
 * changes (partition -1 for a non-partitioned topic), with the error that
 * caused it (PULSARC_OK for CONNECTING, READY, RECONNECTING and CLOSED).
 * Must not block; blocking calls there return PULSARC_ERR_WRONG_THREAD.
 * Not called after pulsarc_producer_destroy has begun. */
typedef void (*pulsarc_producer_state_cb)(pulsarc_producer_t *producer, int partition,
                                          pulsarc_producer_state_t state, pulsarc_err_t reason,
                                          void *ctx);
PULSARC_API pulsarc_err_t pulsarc_producer_conf_set_state_cb(pulsarc_producer_conf_t *conf,
                                                             pulsarc_producer_state_cb cb,
                                                             void *ctx);

/* --------------------------------------------------------------- encryption */

/* End-to-end encryption, wire-compatible with the official clients
 * (docs/encryption.md). Set the key names with the option encryption_keys
 * ("name1,name2"): every message is then encrypted with AES-256-GCM under a
 * random data key, and the data key travels in the message metadata,
 * wrapped for each named public key: RSA-OAEP (SHA-1, MGF1-SHA-1) for an
 * RSA key, the Java client's ECIES for an EC key (Java consumers only). The
 * data key is renewed every encryption_key_rotation_seconds and by
 * pulsarc_producer_rotate_encryption_key. Compression comes before
 * encryption; a batch is encrypted whole, each chunk separately. */

/* What a key reader fills for one key name: the public key (PEM, an RSA
 * or EC "PUBLIC KEY" in SubjectPublicKeyInfo form) and optional metadata that
 * travels with the wrapped data key (consumers' key readers receive it).
 * Owned by the library; valid only during the reader's call. */
typedef struct pulsarc_key_info pulsarc_key_info_t;
/* Copies the PEM bytes. PULSARC_ERR_INVALID_ARGUMENT for NULL or empty. */
PULSARC_API pulsarc_err_t pulsarc_key_info_set_key(pulsarc_key_info_t *info, const void *pem,
                                                   size_t len);
/* Copies one metadata pair. */
PULSARC_API pulsarc_err_t pulsarc_key_info_add_metadata(pulsarc_key_info_t *info, const char *key,
                                                        const char *value);

/* Reads the public key named key_name into info. Returns PULSARC_OK, or
 * an error that fails the sends (PULSARC_ERR_CRYPTO to them) until a later
 * rotation reads the key. Called on the producer's I/O thread at the first
 * message and at each data key rotation (not per message); must not block
 * for long and must not call blocking pulsarc functions. */
typedef pulsarc_err_t (*pulsarc_key_reader_fn)(const char *key_name, pulsarc_key_info_t *info,
                                               void *ctx);
/* Sets the key reader (NULL: the file reader on the option
 * encryption_public_key_file). ctx must outlive the producers made from
 * this conf. */
PULSARC_API pulsarc_err_t pulsarc_producer_conf_set_key_reader(pulsarc_producer_conf_t *conf,
                                                               pulsarc_key_reader_fn fn, void *ctx);
/* The file-based key reader: ctx is a NUL-terminated path of a PEM public
 * key, the same file for every key name. PULSARC_ERR_CRYPTO when the file
 * cannot be read (detail in the log). */
PULSARC_API pulsarc_err_t pulsarc_file_key_reader(const char *key_name, pulsarc_key_info_t *info,
                                                  void *ctx);

/* Asks for a new data key before the next message is sealed (as a
 * scheduled rotation does). Any thread, never blocks.
 * PULSARC_ERR_INVALID_ARGUMENT when producer is NULL or does not encrypt. */
PULSARC_API pulsarc_err_t pulsarc_producer_rotate_encryption_key(pulsarc_producer_t *producer);

/* ----------------------------------------------------------------- producer */

/* Called once on an I/O thread when the producer is registered with the
 * broker (err == PULSARC_OK) or creation failed for good. */
typedef void (*pulsarc_producer_ready_cb)(pulsarc_producer_t *producer, pulsarc_err_t err,
                                          void *ctx);

/* Creates a producer and returns its handle at once without blocking:
 * discovery and registration run on the producer's I/O thread, and sends
 * made meanwhile are queued. ready_cb (may be NULL) tells the outcome; on
 * failure the handle stays valid (sends fail) until pulsarc_producer_destroy.
 * Topic names: "t" means "persistent://public/default/t"; invalid names
 * fail here with PULSARC_ERR_INVALID_TOPIC before any traffic. conf may be
 * NULL. Usable from callbacks. */
PULSARC_API pulsarc_err_t pulsarc_producer_create_cb(pulsarc_client_t *client, const char *topic,
                                                     const pulsarc_producer_conf_t *conf,
                                                     pulsarc_producer_ready_cb ready_cb, void *ctx,
                                                     pulsarc_producer_t **out);

/* Blocking form of pulsarc_producer_create_cb: waits until the producer is
 * registered or failed (bounded by the operation timeout). On failure the
 * handle is destroyed and *out is NULL. WRONG_THREAD from a library thread. */
PULSARC_API pulsarc_err_t pulsarc_producer_create(pulsarc_client_t *client, const char *topic,
                                                  const pulsarc_producer_conf_t *conf,
                                                  pulsarc_producer_t **out);

/* The full topic name and the producer name (broker-assigned names are
 * known once ready; before that NULL). Valid until destroy. */
PULSARC_API const char *pulsarc_producer_topic(const pulsarc_producer_t *producer);
PULSARC_API const char *pulsarc_producer_name(const pulsarc_producer_t *producer);

/* Whether every partition is registered with a broker right now (a
 * snapshot: it may change at once). Any thread. */
PULSARC_API bool pulsarc_producer_is_connected(const pulsarc_producer_t *producer);

/* The highest sequence id the broker has acknowledged (over all
 * partitions), or, before any receipt, the one the broker reported at
 * registration (initial_sequence_id when set); -1 before that. For
 * exactly-once resume with explicit sequence ids. Any thread. */
PULSARC_API int64_t pulsarc_producer_last_sequence_id(const pulsarc_producer_t *producer);

/* ----------------------------------------------------------- message options */

/* Per-message options, built with setters and read during the send call
 * only: one options object may be reused for many sends. All strings and
 * bytes are copied. */
PULSARC_API pulsarc_msg_opts_t *pulsarc_msg_opts_new(void);
PULSARC_API void pulsarc_msg_opts_destroy(pulsarc_msg_opts_t *opts);
/* Forgets every option set so far. */
PULSARC_API void pulsarc_msg_opts_clear(pulsarc_msg_opts_t *opts);
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_partition_key(pulsarc_msg_opts_t *opts,
                                                             const char *key);
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_ordering_key(pulsarc_msg_opts_t *opts,
                                                            const void *key, size_t len);
PULSARC_API pulsarc_err_t pulsarc_msg_opts_add_property(pulsarc_msg_opts_t *opts, const char *key,
                                                        const char *value);
/* Milliseconds since the epoch; 0 = unset; negative: INVALID_ARGUMENT. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_event_time(pulsarc_msg_opts_t *opts,
                                                          int64_t event_time_ms);
/* Delayed delivery: absolute time in ms since the epoch, or a delay in ms
 * from the send call (negative: INVALID_ARGUMENT). Such messages are sent
 * alone (never batched), as the official clients do. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_deliver_at(pulsarc_msg_opts_t *opts,
                                                          int64_t deliver_at_ms);
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_deliver_after(pulsarc_msg_opts_t *opts,
                                                             int64_t delay_ms);
/* Replicate only to these clusters (geo-replication). */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_replication_clusters(pulsarc_msg_opts_t *opts,
                                                                    const char *const *clusters,
                                                                    size_t n);
/* Do not replicate this message to other clusters. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_disable_replication(pulsarc_msg_opts_t *opts);
/* Marks the message as a null value (a tombstone for compacted topics); the
 * payload must be empty. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_null_value(pulsarc_msg_opts_t *opts,
                                                          bool null_value);
/* Uses this sequence id instead of the producer's counter (the counter is
 * not changed). Ids at or below the broker's last stored id are dropped as
 * duplicates when deduplication is on. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_sequence_id(pulsarc_msg_opts_t *opts,
                                                           int64_t sequence_id);
/* This message's own deadline in ms from the send call (0 = none). Without
 * it the producer's send_timeout_ms applies, to every form of send. On
 * expiry the message fails exactly once with
 * PULSARC_ERR_TIMEOUT (never written, never sent) or
 * PULSARC_ERR_TIMEOUT_UNCONFIRMED (written; the broker may have stored it). */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_timeout(pulsarc_msg_opts_t *opts,
                                                       int64_t timeout_ms);

/* --------------------------------------------------------------------- send */

/* Result of one send. id is borrowed: copy it if needed. Runs on an I/O
 * thread, exactly once per accepted send. */
typedef void (*pulsarc_send_cb)(pulsarc_err_t err, const pulsarc_msg_id_t *id, void *ctx);

/* Called by the library when it no longer needs a payload handed over with
 * pulsarc_producer_send_nocopy_cb: once per accepted send, on an I/O thread,
 * possibly before the send callback (a payload copied into its batch frame
 * is released right away). */
typedef void (*pulsarc_free_fn)(void *data, void *free_ctx);

/* Blocking send: returns when the broker acknowledged the message (id filled
 * if not NULL) or it failed. Deadline: opts' timeout if set, else the
 * producer's send_timeout_ms (0 = none: then it waits as long as the message
 * is pending, through reconnects, until it succeeds or fails for good).
 * The payload is borrowed for the duration of the call (no copy until the
 * batch buffer). WRONG_THREAD from a library thread. */
PULSARC_API pulsarc_err_t pulsarc_producer_send(pulsarc_producer_t *producer, const void *data,
                                                size_t len, const pulsarc_msg_opts_t *opts,
                                                pulsarc_msg_id_t *id);

/* Asynchronous send with a callback. The payload is copied; cb (may be NULL)
 * runs once on an I/O thread. Returns an error (and cb is not called) if the
 * message could not be accepted: closed producer, too big, queue full in
 * non-blocking mode, bad arguments. When the queue is full and
 * block_if_queue_full is set, the call sleeps (never spins) until there is
 * room or the message's deadline passes; from a library thread it fails with
 * QUEUE_FULL instead of blocking. */
PULSARC_API pulsarc_err_t pulsarc_producer_send_cb(pulsarc_producer_t *producer, const void *data,
                                                   size_t len, const pulsarc_msg_opts_t *opts,
                                                   pulsarc_send_cb cb, void *ctx);

/* As pulsarc_producer_send_cb, but without copying the payload. When the
 * call returns PULSARC_OK the library owns data and calls
 * free_fn(data, free_ctx) (free_fn may be NULL) exactly once when done with
 * it. When the call returns an error, ownership stays with the caller:
 * free_fn is not called and data may be sent again, e.g. in a retry loop
 * on PULSARC_ERR_QUEUE_FULL. */
PULSARC_API pulsarc_err_t pulsarc_producer_send_nocopy_cb(pulsarc_producer_t *producer, void *data,
                                                          size_t len, pulsarc_free_fn free_fn,
                                                          void *free_ctx,
                                                          const pulsarc_msg_opts_t *opts,
                                                          pulsarc_send_cb cb, void *ctx);

/* Asynchronous send returning a future (payload copied). *out must be
 * released with pulsarc_future_destroy, before or after completion. */
PULSARC_API pulsarc_err_t pulsarc_producer_send_async(pulsarc_producer_t *producer,
                                                      const void *data, size_t len,
                                                      const pulsarc_msg_opts_t *opts,
                                                      pulsarc_future_t **out);

/* ------------------------------------------------------------------- future */

/* Waits up to timeout_ms (-1 = forever, 0 = poll) for completion. Returns
 * PULSARC_ERR_WAIT_TIMEOUT if not complete in time (also when polling; the
 * send goes on and the future may be waited on again), else the send's
 * result, with *id filled on success (id may be NULL). A non-zero wait from
 * a library thread on a future not yet complete returns WRONG_THREAD. */
PULSARC_API pulsarc_err_t pulsarc_future_wait(pulsarc_future_t *future, int64_t timeout_ms,
                                              pulsarc_msg_id_t *id);
/* Releases the future; safe before completion (the result is then dropped). */
PULSARC_API void pulsarc_future_destroy(pulsarc_future_t *future);

/* --------------------------------------------------------- flush and close */

/* Sends every open batch now and waits until every message accepted before
 * the call has completed, or timeout_ms (-1 = forever) passes (then
 * PULSARC_ERR_WAIT_TIMEOUT; the messages stay pending). Blocking;
 * WRONG_THREAD from a library thread. */
PULSARC_API pulsarc_err_t pulsarc_producer_flush(pulsarc_producer_t *producer, int64_t timeout_ms);

/* Callback form of flush, usable anywhere. cb (may be NULL) runs once on an
 * I/O thread when every message accepted before the call has completed. */
typedef void (*pulsarc_done_cb)(pulsarc_err_t err, void *ctx);
PULSARC_API pulsarc_err_t pulsarc_producer_flush_cb(pulsarc_producer_t *producer,
                                                    pulsarc_done_cb cb, void *ctx);

/* Graceful close: stops accepting sends, flushes pending messages for up to
 * close_timeout_ms (those still pending then fail with PULSARC_ERR_CLOSED;
 * close_timeout_ms=0 fails them at once instead of flushing), then
 * unregisters from the broker. Blocking; the handle stays valid until
 * pulsarc_producer_destroy. Later sends return PULSARC_ERR_CLOSED.
 * From a library thread (inside a callback) it cannot wait: it starts the
 * same close in the background and returns PULSARC_ERR_PENDING. */
PULSARC_API pulsarc_err_t pulsarc_producer_close(pulsarc_producer_t *producer);
/* Callback form of close, usable anywhere: cb (may be NULL) runs once on an
 * I/O thread with close's result. */
PULSARC_API pulsarc_err_t pulsarc_producer_close_cb(pulsarc_producer_t *producer,
                                                    pulsarc_done_cb cb, void *ctx);

/* Frees the handle. Closes first without flushing if still open (pending
 * sends fail with PULSARC_ERR_CLOSED). Never hangs; from a callback the
 * memory is freed after the callback returns. */
PULSARC_API void pulsarc_producer_destroy(pulsarc_producer_t *producer);

/* -------------------------------------------------------------------- stats */

/* Send latencies of the sends completed so far, successes and failures, in
 * microseconds: from the moment the I/O thread takes the message from its
 * sender's ring (normally within one poll of the send call; a send that
 * waited for room is not timed until it got in: see blocked_ns) to the
 * completion. Percentiles are the midpoints of logarithmic buckets (4 per
 * power of two), within 12.5% of the true value; max is exact. */
#define PULSARC_LATENCY_BUCKETS 24
typedef struct pulsarc_latency_stats {
  uint64_t count;  /* sends measured */
  uint64_t sum_us; /* their latencies added up */
  uint64_t p50_us, p99_us, p999_us, max_us;
  /* buckets[i], i < PULSARC_LATENCY_BUCKETS - 1, counts the sends whose
   * latency was below 2^(i + 6) us (64 us, 128 us, ... 2^28 us = 268 s) and
   * not counted in an earlier bucket; the last bucket counts the rest.
   * Not cumulative (Prometheus export accumulates them). */
  uint64_t buckets[PULSARC_LATENCY_BUCKETS];
} pulsarc_latency_stats_t;

/* One slot per error code (pulsarc_err_t values are all below this). */
#define PULSARC_STATS_ERRORS 200

/* Cumulative counters of a producer (all its partitions) or of one
 * partition, since the producer was created, plus two gauges (pending_*).
 * Each counter is exact, but they are read one after another while sends
 * go on, so two of them may be a few messages apart. The struct only ever
 * grows at its end: callers pass sizeof their struct, fields past that are
 * not written, and fields this library version does not know stay zero. */
typedef struct pulsarc_producer_stats {
  uint64_t msgs_accepted, bytes_accepted; /* sends that returned PULSARC_OK; payload bytes */
  uint64_t msgs_sent, bytes_sent;         /* first written to a connection (resends not
                                             counted again); payload bytes before compression */
  uint64_t msgs_acked, bytes_acked;       /* completed with a message id */
  uint64_t msgs_failed;                   /* completed with an error (timeouts included) */
  uint64_t msgs_timed_out;                /* of those: TIMEOUT or TIMEOUT_UNCONFIRMED */
  uint64_t pending_msgs, pending_bytes;   /* gauges: accepted and not completed, now */
  uint64_t batches_sent;                  /* SEND frames first written (a batch, a lone
                                             message or a chunk each) */
  double mean_batch_msgs;                 /* msgs_sent / batches_sent (0 before any) */
  uint64_t uncompressed_bytes;            /* payload bytes of the sent frames before
                                             compression ... */
  uint64_t compressed_bytes;              /* ... and after (equal when not compressing) */
  uint64_t reconnects;                    /* registrations after the first */
  uint64_t resent_batches;                /* SEND frames written again after a reconnect */
  uint64_t blocked_pending_limit;         /* sends that waited for pending room (the
                                             producer's, or a partition's share) */
  uint64_t blocked_memory_limit;          /* sends that waited for the client memory limit */
  uint64_t blocked_ns;                    /* time those sends spent waiting, added up */
  uint64_t rejected_pending_limit;        /* sends refused with PULSARC_ERR_QUEUE_FULL */
  uint64_t rejected_memory_limit;         /* sends refused with PULSARC_ERR_MEMORY_LIMIT */
  pulsarc_latency_stats_t latency;
  /* msgs_failed by the error they completed with: failed_by_error[err]. */
  uint64_t failed_by_error[PULSARC_STATS_ERRORS];
} pulsarc_producer_stats_t;

/* Fills *stats (size: sizeof *stats as the caller compiled it) with the
 * producer's stats, all partitions together. Any thread, any time until
 * destroy; never blocks on the I/O thread and never allocates.
 * PULSARC_ERR_INVALID_ARGUMENT for NULL arguments or a size below
 * offsetof(pulsarc_producer_stats_t, latency). */
PULSARC_API pulsarc_err_t pulsarc_producer_stats(const pulsarc_producer_t *producer,
                                                 pulsarc_producer_stats_t *stats, size_t size);

/* The number of partitions whose stats pulsarc_producer_partition_stats
 * gives (0 for a non-partitioned topic; it grows with the topic). */
PULSARC_API int pulsarc_producer_num_partitions(const pulsarc_producer_t *producer);

/* The same for one partition, 0..num_partitions-1 (sends accepted by the
 * producer count toward a partition once routed to it).
 * PULSARC_ERR_INVALID_ARGUMENT for a partition out of range. */
PULSARC_API pulsarc_err_t pulsarc_producer_partition_stats(const pulsarc_producer_t *producer,
                                                           int partition,
                                                           pulsarc_producer_stats_t *stats,
                                                           size_t size);

/* Client-wide counters (cumulative unless marked as a gauge); grows at its
 * end as pulsarc_producer_stats_t does. */
typedef struct pulsarc_client_stats {
  uint64_t producers;           /* gauge: producers not yet destroyed */
  uint64_t connections;         /* gauge: broker connections open now */
  uint64_t connections_opened;  /* connections that reached CONNECTED */
  uint64_t connections_failed;  /* connection attempts that failed */
  uint64_t connections_closed;  /* connections lost or closed after CONNECTED */
  uint64_t bytes_out, bytes_in; /* wire bytes (after TLS) */
  uint64_t frames_out, frames_in;
  uint64_t memory_used;        /* gauge: bytes held against memory_limit */
  uint64_t memory_limit;       /* the option's value (0 = none) */
  uint64_t lookups;            /* LOOKUP requests sent (redirects included) */
  uint64_t lookups_failed;     /* lookups that ended in an error */
  uint64_t partition_metadata; /* PARTITIONED_METADATA requests sent */
} pulsarc_client_stats_t;

/* Fills *stats; any thread; never blocks on an I/O thread.
 * PULSARC_ERR_INVALID_ARGUMENT for NULL arguments or size 0. */
PULSARC_API pulsarc_err_t pulsarc_client_stats(const pulsarc_client_t *client,
                                               pulsarc_client_stats_t *stats, size_t size);

/* Writes the stats of the client and of every producer on it in the
 * Prometheus text exposition format 0.0.4 (docs/metrics.md lists every
 * family): metric names pulsarc_client_* and pulsarc_producer_*, counters
 * ending in _total, the send latency as a histogram in seconds, labels
 * topic and producer, plus partition for a partitioned producer's
 * per-partition series (no total beside them: sum() over partitions).
 * fn receives the text in pieces, in order, on the calling thread (each
 * piece lives only during the call), with no library lock held: it may call
 * pulsarc. Any thread; does not wait on an I/O thread; allocates a copy of
 * the producers' stats (about 2 KiB per producer and partition).
 * PULSARC_ERR_INVALID_ARGUMENT for NULL client or fn. */
typedef void (*pulsarc_text_fn)(const char *text, size_t len, void *ctx);
PULSARC_API pulsarc_err_t pulsarc_client_metrics(pulsarc_client_t *client, pulsarc_text_fn fn,
                                                 void *ctx);

/* ------------------------------------------------------------- transactions */

/* A transaction on the producer side (Pulsar transactions, PIP-31): the
 * messages sent with it stay invisible to every consumer until it commits,
 * and are dropped if it aborts or times out. The cluster must run the
 * transaction coordinator (transactionCoordinatorEnabled=true). The
 * coordinator is found as the official clients find it: the partitions of
 * persistent://pulsar/system/transaction_coordinator_assign, one
 * coordinator each; requests a connection loss interrupted are sent again
 * on a new connection within operation_timeout_ms. docs/transactions.md. */
typedef struct pulsarc_txn pulsarc_txn_t;

/* Opens a transaction. timeout_ms: the coordinator aborts it if it is still
 * open then (0 = the client's transaction_timeout_ms, default 60000).
 * Blocking; WRONG_THREAD from a library thread. *out is set only on
 * success; release it with pulsarc_txn_destroy. No coordinator in the
 * cluster: PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND. */
PULSARC_API pulsarc_err_t pulsarc_txn_begin(pulsarc_client_t *client, int64_t timeout_ms,
                                            pulsarc_txn_t **out);
/* Asynchronous begin: *out is set at once (release it with
 * pulsarc_txn_destroy whatever the outcome) and may be used once *future
 * completed with PULSARC_OK. */
PULSARC_API pulsarc_err_t pulsarc_txn_begin_async(pulsarc_client_t *client, int64_t timeout_ms,
                                                  pulsarc_txn_t **out, pulsarc_future_t **future);

/* Attaches txn to the messages sent with these options (NULL detaches).
 * The transaction must be open (begun, neither committed nor aborted) when
 * the send is made, and the send must have no deadline: the producer's
 * send_timeout_ms and the option's timeout must be 0 (the official
 * clients' rule), else the send fails with PULSARC_ERR_INVALID_ARGUMENT.
 * Before a transaction's first message to a partition is written, the
 * partition is added to the transaction (ADD_PARTITION_TO_TXN); a batch
 * never holds messages of two transactions. */
PULSARC_API pulsarc_err_t pulsarc_msg_opts_set_txn(pulsarc_msg_opts_t *opts, pulsarc_txn_t *txn);

/* Commits: waits until every send made with the transaction has completed,
 * then asks the coordinator to commit. If any of those sends failed, the
 * transaction is aborted instead and commit returns
 * PULSARC_ERR_TXN_SEND_FAILED. A transaction the coordinator already
 * aborted (its timeout passed) fails with the broker's error
 * (PULSARC_ERR_BROKER_TXN_NOT_FOUND or _INVALID_TXN_STATUS). Blocking;
 * WRONG_THREAD from a library thread. A transaction not open:
 * PULSARC_ERR_INVALID_ARGUMENT. */
PULSARC_API pulsarc_err_t pulsarc_txn_commit(pulsarc_txn_t *txn);
PULSARC_API pulsarc_err_t pulsarc_txn_commit_async(pulsarc_txn_t *txn, pulsarc_future_t **future);

/* Aborts: waits until every send made with the transaction has completed,
 * then asks the coordinator to abort; its messages are never delivered. */
PULSARC_API pulsarc_err_t pulsarc_txn_abort(pulsarc_txn_t *txn);
PULSARC_API pulsarc_err_t pulsarc_txn_abort_async(pulsarc_txn_t *txn, pulsarc_future_t **future);

/* The transaction id the coordinator gave (most significant bits: the
 * coordinator's id). PULSARC_ERR_INVALID_ARGUMENT before begin completed. */
PULSARC_API pulsarc_err_t pulsarc_txn_id(const pulsarc_txn_t *txn, uint64_t *most_bits,
                                         uint64_t *least_bits);

/* Releases the handle. A transaction neither committed nor aborted is left
 * to its timeout (the coordinator then aborts it); sends still pending with
 * it keep it alive until they complete. */
PULSARC_API void pulsarc_txn_destroy(pulsarc_txn_t *txn);

#ifdef __cplusplus
}
#endif
#endif /* PULSARC_PULSARC_H */
