/* Error names, sentences, retriability and the per-thread error detail.
 * Any thread; the detail is thread-local, so no locking. */
#include "common/err_detail.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct err_info {
  const char *name;
  const char *text;
} err_info;

#define E(code, sentence) [code] = {#code, sentence}
static const err_info local_errors[] = {
    E(PULSARC_OK, "success"),
    E(PULSARC_ERR_INVALID_ARGUMENT, "invalid argument"),
    E(PULSARC_ERR_INVALID_TOPIC, "invalid topic name"),
    E(PULSARC_ERR_INVALID_URL, "invalid service URL (expected pulsar://host:port[,host:port...])"),
    E(PULSARC_ERR_UNKNOWN_OPTION, "unknown configuration option"),
    E(PULSARC_ERR_NO_MEMORY, "out of memory"),
    E(PULSARC_ERR_TIMEOUT, "timed out before the message was written; it was not sent"),
    E(PULSARC_ERR_TIMEOUT_UNCONFIRMED,
      "timed out after the message was written; the broker may have stored it"),
    E(PULSARC_ERR_PENDING, "started in the background; the outcome comes later"),
    E(PULSARC_ERR_CLOSED, "producer or client is closed"),
    E(PULSARC_ERR_WRONG_THREAD, "blocking call made from a library thread (inside a callback)"),
    E(PULSARC_ERR_MESSAGE_TOO_BIG, "message is larger than the maximum message size"),
    E(PULSARC_ERR_QUEUE_FULL, "producer queue is full (max pending messages reached)"),
    E(PULSARC_ERR_MEMORY_LIMIT, "client memory limit reached"),
    E(PULSARC_ERR_RESOLVE, "host name could not be resolved"),
    E(PULSARC_ERR_CONNECT, "could not connect to the broker"),
    E(PULSARC_ERR_DISCONNECTED, "connection to the broker was lost"),
    E(PULSARC_ERR_PROTOCOL, "malformed or unexpected data from the peer"),
    E(PULSARC_ERR_TOO_MANY_REDIRECTS, "topic lookup was redirected too many times"),
    E(PULSARC_ERR_LOOKUP, "topic lookup failed"),
    E(PULSARC_ERR_NOT_SUPPORTED, "feature not supported by this version of pulsarc"),
    E(PULSARC_ERR_CONFLICT, "conflicting options"),
    E(PULSARC_ERR_TLS, "TLS error"),
    E(PULSARC_ERR_WAIT_TIMEOUT, "the wait ended before the operation completed"),
    E(PULSARC_ERR_CONNECT_TIMEOUT, "timed out connecting to the broker"),
    E(PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT, "timed out in the TLS handshake with the broker"),
    E(PULSARC_ERR_LOOKUP_TIMEOUT, "timed out looking up the topic"),
    E(PULSARC_ERR_REGISTER_TIMEOUT, "timed out registering the producer with the broker"),
    E(PULSARC_ERR_AUTH_DATA, "authentication data could not be obtained"),
    E(PULSARC_ERR_INTERNAL, "internal error in pulsarc (a bug; please report it)"),
    E(PULSARC_ERR_CRYPTO, "end-to-end encryption failed (public key unreadable or unusable)"),
    /* Java's TransactionHasOperationFailedException: commit found a failed
     * send, so the transaction was aborted, not committed. */
    E(PULSARC_ERR_TXN_SEND_FAILED, "a send of the transaction failed: it was aborted"),
};

#define B(code, sentence) [code - PULSARC_ERR_BROKER_BASE] = {#code, sentence}
static const err_info broker_errors[] = {
    B(PULSARC_ERR_BROKER_UNKNOWN, "broker: unknown error"),
    B(PULSARC_ERR_BROKER_METADATA, "broker: metadata error"),
    B(PULSARC_ERR_BROKER_PERSISTENCE, "broker: persistence error"),
    B(PULSARC_ERR_BROKER_AUTHENTICATION, "broker: authentication failed"),
    B(PULSARC_ERR_BROKER_AUTHORIZATION, "broker: not authorized"),
    B(PULSARC_ERR_BROKER_CONSUMER_BUSY, "broker: consumer busy"),
    B(PULSARC_ERR_BROKER_SERVICE_NOT_READY, "broker: service not ready"),
    B(PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA,
      "broker: producer blocked, backlog quota exceeded (hold)"),
    B(PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA_EXCEPTION,
      "broker: producer blocked, backlog quota exceeded"),
    B(PULSARC_ERR_BROKER_CHECKSUM, "broker: checksum error, message corrupted"),
    B(PULSARC_ERR_BROKER_UNSUPPORTED_VERSION, "broker: unsupported protocol version"),
    B(PULSARC_ERR_BROKER_TOPIC_NOT_FOUND, "broker: topic not found"),
    B(PULSARC_ERR_BROKER_SUBSCRIPTION_NOT_FOUND, "broker: subscription not found"),
    B(PULSARC_ERR_BROKER_CONSUMER_NOT_FOUND, "broker: consumer not found"),
    B(PULSARC_ERR_BROKER_TOO_MANY_REQUESTS, "broker: too many requests"),
    B(PULSARC_ERR_BROKER_TOPIC_TERMINATED, "broker: topic terminated"),
    B(PULSARC_ERR_BROKER_PRODUCER_BUSY,
      "broker: producer busy (name in use or exclusive access taken)"),
    B(PULSARC_ERR_BROKER_INVALID_TOPIC_NAME, "broker: invalid topic name"),
    B(PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA, "broker: incompatible schema"),
    B(PULSARC_ERR_BROKER_CONSUMER_ASSIGN, "broker: consumer assign error"),
    B(PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND, "broker: transaction coordinator not found"),
    B(PULSARC_ERR_BROKER_INVALID_TXN_STATUS, "broker: invalid transaction status"),
    B(PULSARC_ERR_BROKER_NOT_ALLOWED, "broker: operation not allowed"),
    B(PULSARC_ERR_BROKER_TXN_CONFLICT, "broker: transaction conflict"),
    B(PULSARC_ERR_BROKER_TXN_NOT_FOUND, "broker: transaction not found"),
    B(PULSARC_ERR_BROKER_PRODUCER_FENCED, "broker: producer fenced"),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const err_info *lookup(pulsarc_err_t err) {
  long v = (int)err;
  if (v >= 0 && (unsigned long)v < COUNT(local_errors))
    return &local_errors[v];
  v -= PULSARC_ERR_BROKER_BASE;
  if (v >= 0 && (unsigned long)v < COUNT(broker_errors))
    return &broker_errors[v];
  return NULL;
}

static bool in_broker_range(pulsarc_err_t err) {
  return (int)err >= PULSARC_ERR_BROKER_BASE && (int)err <= PULSARC_ERR_BROKER_LAST;
}

/* Codes this version does not know get a name made once per thread, so the
 * answer is still constant storage for the caller's purposes. */
static _Thread_local char unknown_name[48];
static _Thread_local char unknown_text[48];

const char *pulsarc_err_str(pulsarc_err_t err) {
  const err_info *e = lookup(err);
  if (e != NULL)
    return e->text;
  if (!in_broker_range(err))
    return "unknown error code";
  snprintf(unknown_text, sizeof unknown_text, "broker: error %ld",
           (long)(int)err - PULSARC_ERR_BROKER_BASE);
  return unknown_text;
}

const char *pulsarc_err_name(pulsarc_err_t err) {
  const err_info *e = lookup(err);
  if (e != NULL)
    return e->name;
  if (in_broker_range(err))
    snprintf(unknown_name, sizeof unknown_name, "PULSARC_ERR_BROKER_%ld",
             (long)(int)err - PULSARC_ERR_BROKER_BASE);
  else
    snprintf(unknown_name, sizeof unknown_name, "PULSARC_ERR_UNKNOWN_%d", (int)err);
  return unknown_name;
}

bool pulsarc_err_is_retriable(pulsarc_err_t err) {
  switch (err) {
  case PULSARC_ERR_TIMEOUT:
  case PULSARC_ERR_TIMEOUT_UNCONFIRMED:
  case PULSARC_ERR_QUEUE_FULL:
  case PULSARC_ERR_MEMORY_LIMIT:
  case PULSARC_ERR_RESOLVE:
  case PULSARC_ERR_CONNECT:
  case PULSARC_ERR_DISCONNECTED:
  case PULSARC_ERR_PROTOCOL:
  case PULSARC_ERR_LOOKUP:
  case PULSARC_ERR_WAIT_TIMEOUT:
  case PULSARC_ERR_CONNECT_TIMEOUT:
  case PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT:
  case PULSARC_ERR_LOOKUP_TIMEOUT:
  case PULSARC_ERR_REGISTER_TIMEOUT:
  case PULSARC_ERR_BROKER_UNKNOWN:
  case PULSARC_ERR_BROKER_METADATA:
  case PULSARC_ERR_BROKER_PERSISTENCE:
  case PULSARC_ERR_BROKER_SERVICE_NOT_READY:
  case PULSARC_ERR_BROKER_TOO_MANY_REQUESTS:
  case PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA:
  case PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA_EXCEPTION:
  case PULSARC_ERR_BROKER_TXN_COORDINATOR_NOT_FOUND:
    return true;
  default:
    return false;
  }
}

/* ------------------------------------------------------- per-thread detail */

static _Thread_local char detail[PC_ERR_DETAIL_MAX];

const char *pulsarc_last_error_text(void) { return detail; }

void pc_err_detail_set(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
}

void pc_err_detail_copy(const char *text) {
  if (text == NULL)
    text = "";
  if (text == detail)
    return;
  size_t n = strnlen(text, sizeof detail - 1);
  memmove(detail, text, n);
  detail[n] = '\0';
}

void pc_err_detail_clear(void) { detail[0] = '\0'; }
