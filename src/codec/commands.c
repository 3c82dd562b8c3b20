/* Builders for the commands the client sends (see commands.h). */
#include "codec/commands.h"

static Pulsarc__BaseCommand *base(pc_cmd *c, Pulsarc__BaseCommand__Type type) {
  c->base = (Pulsarc__BaseCommand)PULSARC__BASE_COMMAND__INIT;
  c->base.type = type;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_send(pc_cmd *c, uint64_t producer_id, uint64_t sequence_id,
                                  int32_t num_messages, uint64_t highest_sequence_id,
                                  bool is_chunk) {
  Pulsarc__CommandSend *s = &c->u.send;
  *s = (Pulsarc__CommandSend)PULSARC__COMMAND_SEND__INIT;
  s->producer_id = producer_id;
  s->sequence_id = sequence_id;
  if (num_messages > 0) {
    s->has_num_messages = s->has_highest_sequence_id = true;
    s->num_messages = num_messages;
    s->highest_sequence_id = highest_sequence_id;
  }
  if (is_chunk)
    s->has_is_chunk = s->is_chunk = true;
  base(c, PULSARC__BASE_COMMAND__TYPE__SEND)->send = s;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_close_producer(pc_cmd *c, uint64_t producer_id, uint64_t request_id) {
  Pulsarc__CommandCloseProducer *cp = &c->u.close_producer;
  *cp = (Pulsarc__CommandCloseProducer)PULSARC__COMMAND_CLOSE_PRODUCER__INIT;
  cp->producer_id = producer_id;
  cp->request_id = request_id;
  base(c, PULSARC__BASE_COMMAND__TYPE__CLOSE_PRODUCER)->close_producer = cp;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_ping(pc_cmd *c) {
  c->u.ping = (Pulsarc__CommandPing)PULSARC__COMMAND_PING__INIT;
  base(c, PULSARC__BASE_COMMAND__TYPE__PING)->ping = &c->u.ping;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_pong(pc_cmd *c) {
  c->u.pong = (Pulsarc__CommandPong)PULSARC__COMMAND_PONG__INIT;
  base(c, PULSARC__BASE_COMMAND__TYPE__PONG)->pong = &c->u.pong;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_lookup(pc_cmd *c, const char *topic, uint64_t request_id,
                                    bool authoritative) {
  Pulsarc__CommandLookupTopic *lk = &c->u.lookup;
  *lk = (Pulsarc__CommandLookupTopic)PULSARC__COMMAND_LOOKUP_TOPIC__INIT;
  lk->topic = (char *)topic;
  lk->request_id = request_id;
  /* Always present: a redirect answered with authoritative=true must be
   * followed with it, and false is what a first lookup says. */
  lk->has_authoritative = true;
  lk->authoritative = authoritative;
  base(c, PULSARC__BASE_COMMAND__TYPE__LOOKUP)->lookup_topic = lk;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_partitioned_metadata(pc_cmd *c, const char *topic,
                                                  uint64_t request_id) {
  Pulsarc__CommandPartitionedTopicMetadata *pm = &c->u.partitioned_metadata;
  *pm = (Pulsarc__CommandPartitionedTopicMetadata)PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA__INIT;
  pm->topic = (char *)topic;
  pm->request_id = request_id;
  base(c, PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA)->partition_metadata = pm;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_connect(pc_cmd *c, const pc_cmd_connect_args *a) {
  Pulsarc__FeatureFlags *ff = &c->u.connect.features;
  *ff = (Pulsarc__FeatureFlags)PULSARC__FEATURE_FLAGS__INIT;
  ff->has_supports_auth_refresh = 1;
  ff->supports_auth_refresh = 1;
  Pulsarc__CommandConnect *cc = &c->u.connect.cmd;
  *cc = (Pulsarc__CommandConnect)PULSARC__COMMAND_CONNECT__INIT;
  cc->client_version = (char *)a->client_version;
  cc->auth_method_name = (char *)a->auth_method;
  if (a->has_auth_data) {
    cc->has_auth_data = 1;
    cc->auth_data.data = (uint8_t *)a->auth_data;
    cc->auth_data.len = a->auth_data_len;
  }
  cc->has_protocol_version = 1;
  cc->protocol_version = a->protocol_version;
  cc->proxy_to_broker_url = (char *)a->proxy_url;
  cc->feature_flags = ff;
  base(c, PULSARC__BASE_COMMAND__TYPE__CONNECT)->connect = cc;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_auth_response(pc_cmd *c, const char *client_version,
                                           int32_t protocol_version, const char *auth_method,
                                           const uint8_t *auth_data, size_t auth_data_len) {
  Pulsarc__AuthData *ad = &c->u.auth_response.data;
  *ad = (Pulsarc__AuthData)PULSARC__AUTH_DATA__INIT;
  ad->auth_method_name = (char *)auth_method;
  ad->has_auth_data = 1;
  ad->auth_data.data = (uint8_t *)auth_data;
  ad->auth_data.len = auth_data_len;
  Pulsarc__CommandAuthResponse *ar = &c->u.auth_response.cmd;
  *ar = (Pulsarc__CommandAuthResponse)PULSARC__COMMAND_AUTH_RESPONSE__INIT;
  ar->client_version = (char *)client_version;
  ar->response = ad;
  ar->has_protocol_version = 1;
  ar->protocol_version = protocol_version;
  base(c, PULSARC__BASE_COMMAND__TYPE__AUTH_RESPONSE)->auth_response = ar;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_producer(pc_cmd *c, const pc_cmd_producer_args *a) {
  Pulsarc__CommandProducer *pr = &c->u.producer;
  *pr = (Pulsarc__CommandProducer)PULSARC__COMMAND_PRODUCER__INIT;
  pr->topic = (char *)a->topic;
  pr->producer_id = a->producer_id;
  pr->request_id = a->request_id;
  if (a->name != NULL) {
    pr->producer_name = (char *)a->name;
    pr->has_user_provided_producer_name = true;
    pr->user_provided_producer_name = a->user_named;
  }
  pr->has_epoch = true;
  pr->epoch = a->epoch;
  pr->has_producer_access_mode = true;
  pr->producer_access_mode = (Pulsarc__ProducerAccessMode)a->access_mode;
  if (a->has_topic_epoch) {
    pr->has_topic_epoch = true;
    pr->topic_epoch = a->topic_epoch;
  }
  pr->schema = a->schema;
  if (a->encrypted) {
    pr->has_encrypted = true;
    pr->encrypted = true;
  }
  base(c, PULSARC__BASE_COMMAND__TYPE__PRODUCER)->producer = pr;
  return &c->base;
}

void pc_cmd_send_set_txn(pc_cmd *c, uint64_t txnid_most, uint64_t txnid_least) {
  Pulsarc__CommandSend *s = &c->u.send;
  s->has_txnid_most_bits = s->has_txnid_least_bits = true;
  s->txnid_most_bits = txnid_most;
  s->txnid_least_bits = txnid_least;
}

Pulsarc__BaseCommand *pc_cmd_tc_client_connect(pc_cmd *c, uint64_t request_id, uint64_t tc_id) {
  Pulsarc__CommandTcClientConnectRequest *r = &c->u.tc_connect;
  *r = (Pulsarc__CommandTcClientConnectRequest)PULSARC__COMMAND_TC_CLIENT_CONNECT_REQUEST__INIT;
  r->request_id = request_id;
  r->tc_id = tc_id;
  base(c, PULSARC__BASE_COMMAND__TYPE__TC_CLIENT_CONNECT_REQUEST)->tc_client_connect_request = r;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_new_txn(pc_cmd *c, uint64_t request_id, uint64_t ttl_ms,
                                     uint64_t tc_id) {
  Pulsarc__CommandNewTxn *r = &c->u.new_txn;
  *r = (Pulsarc__CommandNewTxn)PULSARC__COMMAND_NEW_TXN__INIT;
  r->request_id = request_id;
  r->has_txn_ttl_millis = r->has_tc_id = true;
  r->txn_ttl_millis = ttl_ms;
  r->tc_id = tc_id;
  base(c, PULSARC__BASE_COMMAND__TYPE__NEW_TXN)->new_txn = r;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_add_partition_to_txn(pc_cmd *c, uint64_t request_id,
                                                  uint64_t txnid_most, uint64_t txnid_least,
                                                  const char *partition) {
  Pulsarc__CommandAddPartitionToTxn *r = &c->u.add_partition.cmd;
  *r = (Pulsarc__CommandAddPartitionToTxn)PULSARC__COMMAND_ADD_PARTITION_TO_TXN__INIT;
  r->request_id = request_id;
  r->has_txnid_most_bits = r->has_txnid_least_bits = true;
  r->txnid_most_bits = txnid_most;
  r->txnid_least_bits = txnid_least;
  c->u.add_partition.partition[0] = (char *)partition;
  r->n_partitions = 1;
  r->partitions = c->u.add_partition.partition;
  base(c, PULSARC__BASE_COMMAND__TYPE__ADD_PARTITION_TO_TXN)->add_partition_to_txn = r;
  return &c->base;
}

Pulsarc__BaseCommand *pc_cmd_end_txn(pc_cmd *c, uint64_t request_id, uint64_t txnid_most,
                                     uint64_t txnid_least, bool commit) {
  Pulsarc__CommandEndTxn *r = &c->u.end_txn;
  *r = (Pulsarc__CommandEndTxn)PULSARC__COMMAND_END_TXN__INIT;
  r->request_id = request_id;
  r->has_txnid_most_bits = r->has_txnid_least_bits = true;
  r->txnid_most_bits = txnid_most;
  r->txnid_least_bits = txnid_least;
  r->has_txn_action = true;
  r->txn_action = commit ? PULSARC__TXN_ACTION__COMMIT : PULSARC__TXN_ACTION__ABORT;
  base(c, PULSARC__BASE_COMMAND__TYPE__END_TXN)->end_txn = r;
  return &c->base;
}

#define TXN_RESPONSE(field)                                                                        \
  do {                                                                                             \
    if (cmd->field == NULL)                                                                        \
      return false;                                                                                \
    *request_id = cmd->field->request_id;                                                          \
    *error = cmd->field->has_error ? (int)cmd->field->error + 1 : 0;                               \
    *message = cmd->field->message;                                                                \
    return true;                                                                                   \
  } while (0)

bool pc_cmd_txn_response(const Pulsarc__BaseCommand *cmd, uint64_t *request_id, int *error,
                         const char **message) {
  switch (cmd->type) {
  case PULSARC__BASE_COMMAND__TYPE__NEW_TXN_RESPONSE:
    TXN_RESPONSE(new_txn_response);
  case PULSARC__BASE_COMMAND__TYPE__ADD_PARTITION_TO_TXN_RESPONSE:
    TXN_RESPONSE(add_partition_to_txn_response);
  case PULSARC__BASE_COMMAND__TYPE__END_TXN_RESPONSE:
    TXN_RESPONSE(end_txn_response);
  case PULSARC__BASE_COMMAND__TYPE__TC_CLIENT_CONNECT_RESPONSE:
    TXN_RESPONSE(tc_client_connect_response);
  default:
    return false;
  }
}

size_t pc_key_values_size(size_t n) {
  return n * (sizeof(Pulsarc__KeyValue *) + sizeof(Pulsarc__KeyValue));
}

Pulsarc__KeyValue **pc_key_values_init(void *mem, size_t n) {
  Pulsarc__KeyValue **ptrs = mem;
  Pulsarc__KeyValue *kvs = (Pulsarc__KeyValue *)(ptrs + n);
  for (size_t i = 0; i < n; i++) {
    pulsarc__key_value__init(&kvs[i]);
    ptrs[i] = &kvs[i];
  }
  return ptrs;
}
