/* Builders for every command the client sends. The codec owns the wire
 * form (which fields, which has_ flags); callers give plain values. No
 * sockets, threads, clocks or client types.
 *
 * A pc_cmd is caller storage (usually on the stack) for the BaseCommand and
 * its one sub-command: building allocates nothing and copies no strings or
 * bytes (the command points at the caller's, which must outlive the
 * packing). Each builder fully re-initialises what it uses and returns
 * &c->base, ready for pc_frame_append_command or a payload seal. */
#ifndef PULSARC_CODEC_COMMANDS_H
#define PULSARC_CODEC_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulsarc.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_cmd {
  Pulsarc__BaseCommand base;
  union {
    Pulsarc__CommandSend send;
    Pulsarc__CommandCloseProducer close_producer;
    Pulsarc__CommandPing ping;
    Pulsarc__CommandPong pong;
    Pulsarc__CommandLookupTopic lookup;
    Pulsarc__CommandPartitionedTopicMetadata partitioned_metadata;
    Pulsarc__CommandProducer producer;
    struct {
      Pulsarc__CommandConnect cmd;
      Pulsarc__FeatureFlags features;
    } connect;
    struct {
      Pulsarc__CommandAuthResponse cmd;
      Pulsarc__AuthData data;
    } auth_response;
    Pulsarc__CommandTcClientConnectRequest tc_connect;
    Pulsarc__CommandNewTxn new_txn;
    struct {
      Pulsarc__CommandAddPartitionToTxn cmd;
      char *partition[1];
    } add_partition;
    Pulsarc__CommandEndTxn end_txn;
  } u;
} pc_cmd;

/* SEND. num_messages == 0: one message (or a chunk of one when is_chunk);
 * otherwise a batch of num_messages whose last sequence id is
 * highest_sequence_id. The hot path: fills two small structs, nothing more. */
Pulsarc__BaseCommand *pc_cmd_send(pc_cmd *c, uint64_t producer_id, uint64_t sequence_id,
                                  int32_t num_messages, uint64_t highest_sequence_id,
                                  bool is_chunk);

Pulsarc__BaseCommand *pc_cmd_close_producer(pc_cmd *c, uint64_t producer_id, uint64_t request_id);

Pulsarc__BaseCommand *pc_cmd_ping(pc_cmd *c);
Pulsarc__BaseCommand *pc_cmd_pong(pc_cmd *c);

Pulsarc__BaseCommand *pc_cmd_lookup(pc_cmd *c, const char *topic, uint64_t request_id,
                                    bool authoritative);
Pulsarc__BaseCommand *pc_cmd_partitioned_metadata(pc_cmd *c, const char *topic,
                                                  uint64_t request_id);

/* CONNECT: always announces protocol_version and supports_auth_refresh;
 * auth_data is sent only when has_auth_data (an empty one is still sent).
 * auth_method and proxy_url may be NULL (field absent). */
typedef struct pc_cmd_connect_args {
  const char *client_version;
  int32_t protocol_version;
  const char *auth_method;
  bool has_auth_data;
  const uint8_t *auth_data;
  size_t auth_data_len;
  const char *proxy_url;
} pc_cmd_connect_args;
Pulsarc__BaseCommand *pc_cmd_connect(pc_cmd *c, const pc_cmd_connect_args *a);

/* AUTH_RESPONSE to a broker's AUTH_CHALLENGE: the fresh credentials. */
Pulsarc__BaseCommand *pc_cmd_auth_response(pc_cmd *c, const char *client_version,
                                           int32_t protocol_version, const char *auth_method,
                                           const uint8_t *auth_data, size_t auth_data_len);

/* PRODUCER (register a producer). name NULL: the broker assigns one.
 * topic_epoch only when has_topic_epoch; schema NULL: none sent. */
typedef struct pc_cmd_producer_args {
  const char *topic;
  uint64_t producer_id, request_id;
  const char *name;
  bool user_named; /* name came from the user, not from an earlier broker */
  uint64_t epoch;
  int access_mode; /* Pulsarc__ProducerAccessMode */
  bool has_topic_epoch;
  uint64_t topic_epoch;
  Pulsarc__Schema *schema;
  bool encrypted; /* end-to-end encryption on (a namespace may require it) */
} pc_cmd_producer_args;
Pulsarc__BaseCommand *pc_cmd_producer(pc_cmd *c, const pc_cmd_producer_args *a);

/* The transaction a SEND built by pc_cmd_send belongs to (the broker keeps
 * its messages hidden until the transaction commits). */
void pc_cmd_send_set_txn(pc_cmd *c, uint64_t txnid_most, uint64_t txnid_least);

/* Transaction-coordinator requests (client/txn.c). A transaction id is two
 * 64-bit halves; the most significant one is the coordinator's id. */
Pulsarc__BaseCommand *pc_cmd_tc_client_connect(pc_cmd *c, uint64_t request_id, uint64_t tc_id);
/* ttl_ms: the transaction's timeout, in milliseconds as the official clients
 * send it (the field was once named txn_ttl_seconds). */
Pulsarc__BaseCommand *pc_cmd_new_txn(pc_cmd *c, uint64_t request_id, uint64_t ttl_ms,
                                     uint64_t tc_id);
/* One partition (full topic name, borrowed) per request. */
Pulsarc__BaseCommand *pc_cmd_add_partition_to_txn(pc_cmd *c, uint64_t request_id,
                                                  uint64_t txnid_most, uint64_t txnid_least,
                                                  const char *partition);
Pulsarc__BaseCommand *pc_cmd_end_txn(pc_cmd *c, uint64_t request_id, uint64_t txnid_most,
                                     uint64_t txnid_least, bool commit);

/* The request id and the error (0 = none, else ServerError + 1) of a
 * coordinator's answer (NEW_TXN_RESPONSE, ADD_PARTITION_TO_TXN_RESPONSE,
 * END_TXN_RESPONSE, TC_CLIENT_CONNECT_RESPONSE); false for any other
 * command or one missing its sub-message. */
bool pc_cmd_txn_response(const Pulsarc__BaseCommand *cmd, uint64_t *request_id, int *error,
                         const char **message);

/* Key/value lists (message and schema properties) as protobuf-c wants
 * them: n pointers followed by n records, laid out in caller-provided
 * memory of pc_key_values_size(n) bytes (their count is the user's, so
 * never a stack array). The pointers are set and the records initialised;
 * the caller fills in ->key and ->value. */
size_t pc_key_values_size(size_t n);
Pulsarc__KeyValue **pc_key_values_init(void *mem, size_t n);

#ifdef __cplusplus
}
#endif

#endif
