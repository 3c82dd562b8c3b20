/* Error strings. Any thread. */
#include "pulsarc/pulsarc.h"

static const char *const messages[PULSARC_ERR__COUNT] = {
    [PULSARC_OK] = "success",
    [PULSARC_ERR_INVALID_ARGUMENT] = "invalid argument",
    [PULSARC_ERR_INVALID_TOPIC] = "invalid topic name",
    [PULSARC_ERR_INVALID_URL] = "invalid service URL (expected pulsar://host:port[,host:port...])",
    [PULSARC_ERR_UNKNOWN_OPTION] = "unknown configuration option",
    [PULSARC_ERR_NO_MEMORY] = "out of memory",
    [PULSARC_ERR_TIMEOUT] = "timed out before the message was written; it was not sent",
    [PULSARC_ERR_TIMEOUT_UNCONFIRMED] =
        "timed out after the message was written; the broker may have stored it",
    [PULSARC_ERR_PENDING] = "not complete yet",
    [PULSARC_ERR_CLOSED] = "producer or client is closed",
    [PULSARC_ERR_WRONG_THREAD] = "blocking call made from a library thread (inside a callback)",
    [PULSARC_ERR_MESSAGE_TOO_BIG] = "message is larger than the maximum message size",
    [PULSARC_ERR_QUEUE_FULL] = "producer queue is full (max pending messages reached)",
    [PULSARC_ERR_MEMORY_LIMIT] = "client memory limit reached",
    [PULSARC_ERR_RESOLVE] = "host name could not be resolved",
    [PULSARC_ERR_CONNECT] = "could not connect to the broker",
    [PULSARC_ERR_DISCONNECTED] = "connection to the broker was lost",
    [PULSARC_ERR_PROTOCOL] = "malformed or unexpected data from the peer",
    [PULSARC_ERR_TOO_MANY_REDIRECTS] = "topic lookup was redirected too many times",
    [PULSARC_ERR_LOOKUP] = "topic lookup failed",
    [PULSARC_ERR_NOT_SUPPORTED] = "feature not supported by this version of pulsarc",
    [PULSARC_ERR_CONFLICT] = "conflicting options",
    [PULSARC_ERR_TLS] = "TLS error",
    [PULSARC_ERR_BROKER_UNKNOWN] = "broker: unknown error",
    [PULSARC_ERR_BROKER_METADATA] = "broker: metadata error",
    [PULSARC_ERR_BROKER_PERSISTENCE] = "broker: persistence error",
    [PULSARC_ERR_BROKER_AUTHENTICATION] = "broker: authentication failed",
    [PULSARC_ERR_BROKER_AUTHORIZATION] = "broker: not authorized",
    [PULSARC_ERR_BROKER_CONSUMER_BUSY] = "broker: consumer busy",
    [PULSARC_ERR_BROKER_SERVICE_NOT_READY] = "broker: service not ready",
    [PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA] =
        "broker: producer blocked, backlog quota exceeded (hold)",
    [PULSARC_ERR_BROKER_PRODUCER_BLOCKED_QUOTA_EXCEPTION] =
        "broker: producer blocked, backlog quota exceeded",
    [PULSARC_ERR_BROKER_CHECKSUM] = "broker: checksum error, message corrupted",
    [PULSARC_ERR_BROKER_UNSUPPORTED_VERSION] = "broker: unsupported protocol version",
    [PULSARC_ERR_BROKER_TOPIC_NOT_FOUND] = "broker: topic not found",
    [PULSARC_ERR_BROKER_SUBSCRIPTION_NOT_FOUND] = "broker: subscription not found",
    [PULSARC_ERR_BROKER_CONSUMER_NOT_FOUND] = "broker: consumer not found",
    [PULSARC_ERR_BROKER_TOO_MANY_REQUESTS] = "broker: too many requests",
    [PULSARC_ERR_BROKER_TOPIC_TERMINATED] = "broker: topic terminated",
    [PULSARC_ERR_BROKER_PRODUCER_BUSY] =
        "broker: producer busy (name in use or exclusive access taken)",
    [PULSARC_ERR_BROKER_INVALID_TOPIC_NAME] = "broker: invalid topic name",
    [PULSARC_ERR_BROKER_INCOMPATIBLE_SCHEMA] = "broker: incompatible schema",
    [PULSARC_ERR_BROKER_NOT_ALLOWED] = "broker: operation not allowed",
    [PULSARC_ERR_BROKER_PRODUCER_FENCED] = "broker: producer fenced",
    [PULSARC_ERR_BROKER_TRANSACTION] = "broker: transaction error",
};

const char *pulsarc_err_str(pulsarc_err_t err) {
  if ((unsigned)err >= PULSARC_ERR__COUNT || messages[err] == NULL)
    return "unknown error code";
  return messages[err];
}
