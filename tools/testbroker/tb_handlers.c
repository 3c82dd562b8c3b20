/* Test broker: what it answers to each command. All functions run on the
 * broker thread with tb->mu held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "tb_internal.h"

#define BC(t) PULSARC__BASE_COMMAND__TYPE__##t
#define SE(e) PULSARC__SERVER_ERROR__##e

/* ------------------------------------------------------------------ replies */

void tb_send_error(pulsarc_tb *tb, tb_conn *c, uint64_t request_id, int err, const char *msg) {
  Pulsarc__CommandError e = PULSARC__COMMAND_ERROR__INIT;
  e.request_id = request_id;
  e.error = (Pulsarc__ServerError)err;
  e.message = (char *)msg;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(ERROR);
  cmd.error = &e;
  tb_conn_send_cmd(tb, c, &cmd);
}

void tb_send_success(pulsarc_tb *tb, tb_conn *c, uint64_t request_id) {
  Pulsarc__CommandSuccess s = PULSARC__COMMAND_SUCCESS__INIT;
  s.request_id = request_id;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(SUCCESS);
  cmd.success = &s;
  tb_conn_send_cmd(tb, c, &cmd);
}

static void put_i64be(uint8_t *p, int64_t v) {
  pc_put_u32be(p, (uint32_t)((uint64_t)v >> 32));
  pc_put_u32be(p + 4, (uint32_t)v);
}

static void send_producer_success(pulsarc_tb *tb, tb_producer *p, uint64_t request_id) {
  Pulsarc__CommandProducerSuccess s = PULSARC__COMMAND_PRODUCER_SUCCESS__INIT;
  s.request_id = request_id;
  s.producer_name = (char *)p->name;
  tb_seq *seq = tb_topic_seq(p->topic, p->name, false);
  s.has_last_sequence_id = 1;
  s.last_sequence_id = (tb->dedup && seq) ? seq->highest : -1;
  uint8_t ver[8];
  /* The real broker always sends the field (empty without a schema); the
   * Java client refuses a PRODUCER_SUCCESS that lacks it. */
  s.has_schema_version = 1;
  s.schema_version.data = ver;
  s.schema_version.len = 0;
  if (p->has_schema) {
    put_i64be(ver, p->schema_version); /* opaque 8 bytes, like the Java broker's long */
    s.schema_version.len = sizeof(ver);
  }
  if (p->access_mode != PULSARC__PRODUCER_ACCESS_MODE__Shared && p->ready) {
    s.has_topic_epoch = 1;
    s.topic_epoch = p->topic->topic_epoch;
  }
  s.has_producer_ready = 1;
  s.producer_ready = p->ready;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(PRODUCER_SUCCESS);
  cmd.producer_success = &s;
  tb_conn_send_cmd(tb, p->conn, &cmd);
}

static void send_close_producer(pulsarc_tb *tb, tb_producer *p) {
  pc_cmd cmd;
  Pulsarc__BaseCommand *c = pc_cmd_close_producer(&cmd, p->producer_id, tb->next_request_id++);
  c->close_producer->assigned_broker_service_url = tb->assign_to;
  c->close_producer->assigned_broker_service_url_tls = tb->assign_to;
  tb_conn_send_cmd(tb, p->conn, c);
}

/* ---------------------------------------------------------------- producers */

static size_t id_bucket(uint64_t producer_id, size_t cap) {
  return (size_t)((producer_id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static tb_producer *conn_find(tb_conn *c, uint64_t producer_id) {
  if (c->by_id_cap == 0)
    return NULL;
  for (tb_producer *p = c->by_id[id_bucket(producer_id, c->by_id_cap)]; p; p = p->next_id)
    if (p->producer_id == producer_id)
      return p;
  return NULL;
}

/* 0, or -1 when the index cannot grow (then the producer is refused). */
static int conn_index_add(tb_conn *c, tb_producer *p) {
  if (c->by_id_n >= c->by_id_cap) {
    size_t cap = c->by_id_cap ? c->by_id_cap * 2 : 16;
    tb_producer **b = calloc(cap, sizeof *b);
    if (!b)
      return -1;
    for (size_t i = 0; i < c->by_id_cap; i++)
      for (tb_producer *q = c->by_id[i], *next; q; q = next) {
        next = q->next_id;
        size_t h = id_bucket(q->producer_id, cap);
        q->next_id = b[h];
        b[h] = q;
      }
    free(c->by_id);
    c->by_id = b;
    c->by_id_cap = cap;
  }
  size_t h = id_bucket(p->producer_id, c->by_id_cap);
  p->next_id = c->by_id[h];
  c->by_id[h] = p;
  c->by_id_n++;
  return 0;
}

static void conn_index_del(tb_conn *c, tb_producer *p) {
  for (tb_producer **pp = &c->by_id[id_bucket(p->producer_id, c->by_id_cap)]; *pp;
       pp = &(*pp)->next_id)
    if (*pp == p) {
      *pp = p->next_id;
      c->by_id_n--;
      return;
    }
}

static bool recently_closed(const tb_conn *c, uint64_t producer_id) {
  unsigned n = c->n_recent < TB_RECENT_CLOSED ? c->n_recent : TB_RECENT_CLOSED;
  for (unsigned i = 0; i < n; i++)
    if (c->recent_closed[i] == producer_id)
      return true;
  return false;
}

/* A topic's lists are short (one exclusive producer, or the few sharing it). */
static void topic_list_unlink(tb_producer **head, tb_producer *p) {
  for (tb_producer **pp = head; *pp; pp = &(*pp)->next_topic) {
    if (*pp == p) {
      *pp = p->next_topic;
      return;
    }
  }
}

static void topic_recompute_exclusive(tb_topic *t) {
  t->exclusive = false;
  for (tb_producer *q = t->active; q; q = q->next_topic)
    if (q->access_mode != PULSARC__PRODUCER_ACCESS_MODE__Shared)
      t->exclusive = true;
}

/* Unlinks p everywhere and frees it; does not grant waiters. */
static void producer_remove(pulsarc_tb *tb, tb_producer *p, bool remember) {
  tb_topic *t = p->topic;
  if (p->ready) {
    topic_list_unlink(&t->active, p);
    tb->st.producers_open--;
  } else {
    topic_list_unlink(&t->waiting, p);
  }
  /* Constant time: a scan made closing 10,000 producers of one
   * connection quadratic. */
  *p->prev_conn = p->next_conn;
  if (p->next_conn)
    p->next_conn->prev_conn = p->prev_conn;
  conn_index_del(p->conn, p);
  if (remember)
    p->conn->recent_closed[p->conn->n_recent++ % TB_RECENT_CLOSED] = p->producer_id;
  topic_recompute_exclusive(t);
  free(p);
}

static void grant_exclusive(tb_topic *t, tb_producer *p, bool has_epoch, uint64_t epoch) {
  if (has_epoch && epoch >= t->topic_epoch)
    t->topic_epoch = epoch;
  else
    t->topic_epoch++;
  (void)p;
}

/* A topic without active producers hands exclusivity to its first waiter. */
static void grant_waiters(pulsarc_tb *tb, tb_topic *t) {
  if (t->active || !t->waiting)
    return;
  tb_producer *p = t->waiting;
  t->waiting = p->next_topic;
  p->next_topic = NULL;
  p->ready = true;
  t->active = p;
  t->exclusive = true;
  grant_exclusive(t, p, false, 0);
  tb->st.producers_open++;
  tb->st.producers_created++;
  send_producer_success(tb, p, p->request_id); /* same request id, now ready */
}

static void grant_all(pulsarc_tb *tb) {
  TB_MAP_FOREACH(&tb->topics, i) grant_waiters(tb, tb->topics.vals[i]);
}

void tb_conn_forget_producers(pulsarc_tb *tb, tb_conn *c) {
  tb_conn_forget_consumers(tb, c); /* the connection is going: its consumers too */
  if (!c->producers)
    return;
  while (c->producers)
    producer_remove(tb, c->producers, false);
  grant_all(tb);
}

/* Broker-side close (unload), optionally remembering the names as fenced. */
static int kick_all(pulsarc_tb *tb, tb_topic *t, bool fence) {
  int n = 0;
  while (t->active || t->waiting) {
    tb_producer *p = t->active ? t->active : t->waiting;
    if (fence) {
      char **nf = realloc(t->fenced, (t->n_fenced + 1) * sizeof(*nf));
      char *name = strdup(p->name);
      if (nf)
        t->fenced = nf;
      if (nf && name)
        t->fenced[t->n_fenced++] = name;
      else
        free(name);
    }
    send_close_producer(tb, p);
    producer_remove(tb, p, true);
    n++;
  }
  return n;
}

int tb_close_topic_producers(pulsarc_tb *tb, const char *topic) {
  char *full = pulsarc_tb_full_topic(topic);
  tb_topic *t = full ? tb_topic_get(tb, full, false) : NULL;
  free(full);
  return t ? kick_all(tb, t, false) : 0;
}

static bool is_fenced(const tb_topic *t, const char *name) {
  for (size_t i = 0; i < t->n_fenced; i++)
    if (strcmp(t->fenced[i], name) == 0)
      return true;
  return false;
}

static tb_producer *find_by_name(tb_topic *t, const char *name) {
  for (tb_producer *p = t->active; p; p = p->next_topic)
    if (strcmp(p->name, name) == 0)
      return p;
  for (tb_producer *p = t->waiting; p; p = p->next_topic)
    if (strcmp(p->name, name) == 0)
      return p;
  return NULL;
}

/* Same schema bytes and type -> same version, like a schema registry. */
static int64_t schema_version_for(tb_topic *t, const Pulsarc__Schema *sc) {
  uint8_t type[4];
  pc_put_u32be(type, (uint32_t)sc->type);
  uint32_t h = pc_crc32c(pc_crc32c(0, type, 4), sc->schema_data.data, sc->schema_data.len);
  for (size_t i = 0; i < t->n_schemas; i++)
    if (t->schemas[i].hash == h && t->schemas[i].len == sc->schema_data.len)
      return t->schemas[i].version;
  tb_schema *ns = realloc(t->schemas, (t->n_schemas + 1) * sizeof(*ns));
  if (!ns)
    return 0;
  t->schemas = ns;
  t->schemas[t->n_schemas] = (tb_schema){h, (uint32_t)sc->schema_data.len, (int64_t)t->n_schemas};
  return (int64_t)t->n_schemas++;
}

static void handle_producer(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandProducer *pc) {
  tb_producer *ex = conn_find(c, pc->producer_id);
  if (ex) {
    if (ex->ready)
      send_producer_success(tb, ex, pc->request_id);
    else
      tb_send_error(tb, c, pc->request_id, SE(ServiceNotReady),
                    "Producer is already present on the connection");
    return;
  }
  if (tb->fail_producers.n > 0) {
    tb->fail_producers.n--;
    tb_send_error(tb, c, pc->request_id, tb->fail_producers.err, "injected producer failure");
    return;
  }
  if (!pc->topic || !*pc->topic) {
    tb_send_error(tb, c, pc->request_id, SE(InvalidTopicName), "empty topic name");
    return;
  }
  char *full = pulsarc_tb_full_topic(pc->topic);
  if (full && tb->refuse_topic[0] && strcmp(full, tb->refuse_topic) == 0) {
    free(full);
    tb_send_error(tb, c, pc->request_id, tb->refuse_err, "injected: topic refused");
    return;
  }
  tb_topic *t = full ? tb_topic_get(tb, full, true) : NULL;
  free(full);
  if (!t) {
    tb_send_error(tb, c, pc->request_id, SE(ServiceNotReady), "test broker out of memory");
    return;
  }
  char gen[64];
  const char *name = pc->producer_name;
  if (!name || !*name) {
    do
      snprintf(gen, sizeof(gen), "tb-%u-%llu", (unsigned)tb->port,
               (unsigned long long)tb->next_name++);
    while (tb_topic_seq(t, gen, false));
    name = gen;
  }
  if (is_fenced(t, name)) {
    tb_send_error(tb, c, pc->request_id, SE(ProducerFenced), "producer was fenced");
    return;
  }
  uint64_t epoch = pc->has_epoch ? pc->epoch : 0;
  tb_producer *same = find_by_name(t, name);
  if (same) {
    /* The Java broker's successor rule: same connection, same id, newer epoch. */
    if (same->conn == c && same->producer_id == pc->producer_id && epoch > same->epoch) {
      producer_remove(tb, same, false);
    } else {
      tb_send_error(tb, c, pc->request_id, SE(ProducerBusy),
                    "Producer with the same name is already connected to the topic");
      return;
    }
  }
  int mode = pc->has_producer_access_mode ? (int)pc->producer_access_mode
                                          : PULSARC__PRODUCER_ACCESS_MODE__Shared;
  bool queue = false;
  switch (mode) {
  case PULSARC__PRODUCER_ACCESS_MODE__Shared:
    if (t->exclusive || t->waiting) {
      tb_send_error(tb, c, pc->request_id, SE(ProducerBusy), "Topic has an exclusive producer");
      return;
    }
    break;
  case PULSARC__PRODUCER_ACCESS_MODE__Exclusive:
    if (t->active || t->waiting) {
      tb_send_error(tb, c, pc->request_id, SE(ProducerBusy), "Topic has existing producers");
      return;
    }
    if (pc->has_topic_epoch && pc->topic_epoch < t->topic_epoch) {
      tb_send_error(tb, c, pc->request_id, SE(ProducerFenced), "Topic epoch has moved on");
      return;
    }
    break;
  case PULSARC__PRODUCER_ACCESS_MODE__WaitForExclusive:
    if (pc->has_topic_epoch && pc->topic_epoch < t->topic_epoch) {
      tb_send_error(tb, c, pc->request_id, SE(ProducerFenced), "Topic epoch has moved on");
      return;
    }
    queue = t->active != NULL || t->waiting != NULL;
    break;
  case PULSARC__PRODUCER_ACCESS_MODE__ExclusiveWithFencing:
    kick_all(tb, t, true);
    break;
  default:
    tb_send_error(tb, c, pc->request_id, SE(NotAllowedError), "unknown access mode");
    return;
  }
  tb_seq *seq = tb_topic_seq(t, name, true);
  tb_producer *p = seq ? calloc(1, sizeof(*p)) : NULL;
  if (!p) {
    tb_send_error(tb, c, pc->request_id, SE(ServiceNotReady), "test broker out of memory");
    return;
  }
  p->conn = c;
  p->topic = t;
  p->producer_id = pc->producer_id;
  p->request_id = pc->request_id;
  p->epoch = epoch;
  p->name = seq->name;
  p->access_mode = mode;
  if (pc->schema) {
    p->has_schema = true;
    p->schema_version = schema_version_for(t, pc->schema);
  }
  if (conn_index_add(c, p) != 0) {
    free(p);
    tb_send_error(tb, c, pc->request_id, SE(ServiceNotReady), "test broker out of memory");
    return;
  }
  p->next_conn = c->producers;
  p->prev_conn = &c->producers;
  if (c->producers)
    c->producers->prev_conn = &p->next_conn;
  c->producers = p;
  if (queue) {
    tb_producer **pp = &t->waiting;
    while (*pp)
      pp = &(*pp)->next_topic;
    *pp = p;
    send_producer_success(tb, p, pc->request_id); /* producer_ready = false */
    return;
  }
  p->ready = true;
  p->next_topic = t->active;
  t->active = p;
  if (mode != PULSARC__PRODUCER_ACCESS_MODE__Shared) {
    t->exclusive = true;
    bool fencing = mode == PULSARC__PRODUCER_ACCESS_MODE__ExclusiveWithFencing;
    grant_exclusive(t, p, pc->has_topic_epoch && !fencing, pc->topic_epoch);
  }
  tb->st.producers_open++;
  tb->st.producers_created++;
  send_producer_success(tb, p, pc->request_id);
}

static void handle_close_producer(pulsarc_tb *tb, tb_conn *c,
                                  const Pulsarc__CommandCloseProducer *cp) {
  tb_producer *p = conn_find(c, cp->producer_id);
  if (p) {
    tb_topic *t = p->topic;
    producer_remove(tb, p, true);
    grant_waiters(tb, t);
  }
  tb_send_success(tb, c, cp->request_id);
}

/* --------------------------------------------------------------------- send */

static void send_receipt(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandSend *s, int64_t ledger,
                         int64_t entry) {
  Pulsarc__MessageIdData id = PULSARC__MESSAGE_ID_DATA__INIT;
  id.ledger_id = (uint64_t)ledger;
  id.entry_id = (uint64_t)entry;
  Pulsarc__CommandSendReceipt r = PULSARC__COMMAND_SEND_RECEIPT__INIT;
  r.producer_id = s->producer_id;
  r.sequence_id = s->sequence_id;
  r.message_id = &id;
  if (s->has_highest_sequence_id) {
    r.has_highest_sequence_id = 1;
    r.highest_sequence_id = s->highest_sequence_id;
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(SEND_RECEIPT);
  cmd.send_receipt = &r;
  tb_conn_send_answer(tb, c, &cmd);
}

static void send_send_error(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandSend *s, int err,
                            const char *msg) {
  Pulsarc__CommandSendError e = PULSARC__COMMAND_SEND_ERROR__INIT;
  e.producer_id = s->producer_id;
  e.sequence_id = s->sequence_id;
  e.error = (Pulsarc__ServerError)err;
  e.message = (char *)msg;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(SEND_ERROR);
  cmd.send_error = &e;
  tb->st.send_errors++;
  tb_conn_send_answer(tb, c, &cmd);
}

static void handle_send(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  const Pulsarc__CommandSend *s = f->cmd->send;
  tb_producer *p = conn_find(c, s->producer_id);
  if (!p) {
    /* In flight when we closed the producer: ignored, as the Java broker does. */
    if (!recently_closed(c, s->producer_id))
      tb_conn_close(tb, c, true);
    return;
  }
  if (!p->ready || !f->has_payload) {
    tb_conn_close(tb, c, true);
    return;
  }
  if (f->has_checksum && !f->checksum_ok) {
    tb->st.checksum_errors++;
    send_send_error(tb, c, s, SE(ChecksumError), "Checksum failed on the broker");
    return;
  }
  if (tb->fail_sends.n > 0) {
    tb->fail_sends.n--;
    send_send_error(tb, c, s, tb->fail_sends.err, "injected send failure");
    return;
  }
  Pulsarc__MessageMetadata *md = pc_metadata_unpack(f->metadata, f->metadata_len);
  if (!md) {
    tb_conn_close(tb, c, true);
    return;
  }
  tb_topic *t = p->topic;
  if (s->has_txnid_most_bits || s->has_txnid_least_bits)
    tb_txn_on_send(tb, t->name, s->txnid_most_bits, s->txnid_least_bits);
  tb_seq *seq = tb_topic_seq(t, p->name, false);
  /* Deduplication as the Java broker does it: of a chunked message only the
   * last chunk is checked; a duplicate is any id <= the highest stored. */
  bool chunk = md->has_chunk_id && md->has_num_chunks_from_msg;
  bool checked = !chunk || md->chunk_id == md->num_chunks_from_msg - 1;
  int64_t sid = (int64_t)s->sequence_id;
  int64_t hid = s->has_highest_sequence_id && (int64_t)s->highest_sequence_id > sid
                    ? (int64_t)s->highest_sequence_id
                    : sid;
  if (checked && tb->dedup && seq->highest >= 0 && sid <= seq->highest) {
    pulsarc__message_metadata__free_unpacked(md, NULL);
    tb->st.duplicates++;
    t->duplicates++;
    send_receipt(tb, c, s, -1, -1);
    return;
  }
  int64_t entry = tb_store_entry(tb, t, p->name, s, md, f);
  pulsarc__message_metadata__free_unpacked(md, NULL);
  if (entry < 0) {
    send_send_error(tb, c, s, SE(PersistenceError), "test broker out of memory");
    return;
  }
  if (checked && hid > seq->highest)
    seq->highest = hid;
  send_receipt(tb, c, s, t->ledger_id, entry);
  tb_topic_dispatch(tb, t);
}

/* ------------------------------------------------------------ lookup & co */

static void handle_connect(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandConnect *cc) {
  c->connected = true;
  c->client_protocol = cc->has_protocol_version ? cc->protocol_version : 0;
  if (cc->proxy_to_broker_url && *cc->proxy_to_broker_url)
    tb->st.proxied_connects++;
  Pulsarc__CommandConnected r = PULSARC__COMMAND_CONNECTED__INIT;
  r.server_version = TB_SERVER_VERSION;
  r.has_protocol_version = 1;
  r.protocol_version =
      c->client_protocol < tb->max_protocol ? c->client_protocol : tb->max_protocol;
  r.has_max_message_size = 1;
  r.max_message_size = (int32_t)tb->max_message_size;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(CONNECTED);
  cmd.connected = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

static void handle_pmeta(pulsarc_tb *tb, tb_conn *c,
                         const Pulsarc__CommandPartitionedTopicMetadata *pm) {
  tb->st.partition_lookups++;
  char *full = pulsarc_tb_full_topic(pm->topic ? pm->topic : "");
  Pulsarc__CommandPartitionedTopicMetadataResponse r =
      PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__INIT;
  r.request_id = pm->request_id;
  r.has_response = 1;
  if (full && pm->topic && *pm->topic) {
    r.response = PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__LOOKUP_TYPE__Success;
    r.has_partitions = 1;
    r.partitions = tb_partitions_of(tb, full);
  } else {
    r.response = PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__LOOKUP_TYPE__Failed;
    r.has_error = 1;
    r.error = SE(InvalidTopicName);
    r.message = "invalid topic name";
  }
  free(full);
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(PARTITIONED_METADATA_RESPONSE);
  cmd.partition_metadata_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

static void handle_lookup(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandLookupTopic *lk) {
  tb->st.lookups++;
  Pulsarc__CommandLookupTopicResponse r = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__INIT;
  r.request_id = lk->request_id;
  r.has_response = 1;
  bool authoritative = lk->has_authoritative && lk->authoritative;
  if (tb->fail_lookups.n > 0) {
    tb->fail_lookups.n--;
    r.response = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Failed;
    r.has_error = 1;
    r.error = (Pulsarc__ServerError)tb->fail_lookups.err;
    r.message = "injected lookup failure";
  } else if (tb->redirect_to && !authoritative) {
    r.response = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Redirect;
    r.broker_service_url = tb->redirect_to;
    r.has_authoritative = 1;
    r.authoritative = 1;
  } else {
    r.response = PULSARC__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect;
    r.broker_service_url = tb->advertised_url ? tb->advertised_url : tb->service_url;
    r.has_authoritative = 1;
    r.authoritative = authoritative;
    if (tb->proxy_through) {
      r.has_proxy_through_service_url = 1;
      r.proxy_through_service_url = 1;
    }
  }
  if (tb_sec_tls(tb)) /* TLS clients read brokerServiceUrlTls */
    r.broker_service_url_tls = r.broker_service_url;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(LOOKUP_RESPONSE);
  cmd.lookup_topic_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

static void handle_get_or_create_schema(pulsarc_tb *tb, tb_conn *c,
                                        const Pulsarc__CommandGetOrCreateSchema *g) {
  Pulsarc__CommandGetOrCreateSchemaResponse r =
      PULSARC__COMMAND_GET_OR_CREATE_SCHEMA_RESPONSE__INIT;
  r.request_id = g->request_id;
  char *full = g->topic ? pulsarc_tb_full_topic(g->topic) : NULL;
  tb_topic *t = full ? tb_topic_get(tb, full, true) : NULL;
  free(full);
  uint8_t ver[8];
  if (t && g->schema) {
    put_i64be(ver, schema_version_for(t, g->schema));
    r.has_schema_version = 1;
    r.schema_version.data = ver;
    r.schema_version.len = sizeof(ver);
  } else {
    r.has_error_code = 1;
    r.error_code = SE(IncompatibleSchema);
    r.error_message = "missing topic or schema";
  }
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = BC(GET_OR_CREATE_SCHEMA_RESPONSE);
  cmd.get_or_create_schema_response = &r;
  tb_conn_send_cmd(tb, c, &cmd);
}

/* Each command must carry its sub-message; a missing one is malformed. */
#define NEED(field)                                                                                \
  do {                                                                                             \
    if (!cmd->field) {                                                                             \
      tb_conn_close(tb, c, true);                                                                  \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

void tb_handle_frame(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  const Pulsarc__BaseCommand *cmd = f->cmd;
  static int trace = -1; /* PULSARC_TB_TRACE=1: log every command type received */
  if (trace < 0)
    trace = getenv("PULSARC_TB_TRACE") != NULL;
  if (trace)
    fprintf(stderr, "pulsarc-testbroker: fd %d command %d\n", c->fd, (int)cmd->type);
  if (!c->connected) {
    /* Nothing but CONNECT is legal first. */
    if (cmd->type != BC(CONNECT) || !cmd->connect) {
      tb_conn_close(tb, c, true);
      return;
    }
    handle_connect(tb, c, cmd->connect);
    return;
  }
  switch (cmd->type) {
  case BC(PING): {
    pc_cmd r;
    tb_conn_send_cmd(tb, c, pc_cmd_pong(&r));
    break;
  }
  case BC(PONG):
    tb->st.pongs++;
    break;
  case BC(PARTITIONED_METADATA):
    NEED(partition_metadata);
    handle_pmeta(tb, c, cmd->partition_metadata);
    break;
  case BC(LOOKUP):
    NEED(lookup_topic);
    handle_lookup(tb, c, cmd->lookup_topic);
    break;
  case BC(PRODUCER):
    NEED(producer);
    handle_producer(tb, c, cmd->producer);
    break;
  case BC(SEND):
    NEED(send);
    handle_send(tb, c, f);
    break;
  case BC(CLOSE_PRODUCER):
    NEED(close_producer);
    handle_close_producer(tb, c, cmd->close_producer);
    break;
  case BC(GET_OR_CREATE_SCHEMA):
    NEED(get_or_create_schema);
    handle_get_or_create_schema(tb, c, cmd->get_or_create_schema);
    break;
  case BC(CONNECT): /* a second CONNECT is a protocol violation */
    tb_conn_close(tb, c, true);
    break;
  default:
    /* Consumer side: tb_consumer.c, transactions: tb_txn.c. Anything else
     * (topic watches) is ignored rather than answered with a guess. */
    if (!tb_consumer_handle(tb, c, f) && !tb_txn_handle(tb, c, f) && getenv("PULSARC_TB_TRACE"))
      fprintf(stderr, "pulsarc-testbroker: ignored command type %d\n", (int)cmd->type);
    break;
  }
}
