/* Test broker: a transaction coordinator, enough to test a producer's side
 * fast: ids per coordinator, the partitions each transaction was given,
 * commit and abort, and the timeout. Messages are not hidden from
 * consumers; tests read the states. Broker thread, tb->mu held, unless
 * marked [any]. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_internal.h"

#define BC(t) PULSARC__BASE_COMMAND__TYPE__##t
#define SE(e) PULSARC__SERVER_ERROR__##e

typedef struct tb_txn {
  uint64_t most, least;
  int state; /* pulsarc_tb_txn_state */
  uint64_t deadline_ns;
  char **parts;
  size_t nparts;
} tb_txn;

struct tb_txns {
  tb_txn *a;
  size_t n, cap;
  uint64_t next_least;
  pulsarc_tb_txn_stats st;
  tb_fault fail;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct tb_txns *txns(pulsarc_tb *tb) {
  if (tb->txns == NULL)
    tb->txns = calloc(1, sizeof *tb->txns);
  return tb->txns;
}

/* A transaction past its timeout is aborted, as the coordinator does. */
static tb_txn *find(pulsarc_tb *tb, uint64_t most, uint64_t least) {
  struct tb_txns *x = txns(tb);
  if (x == NULL)
    return NULL;
  for (size_t i = 0; i < x->n; i++) {
    tb_txn *t = &x->a[i];
    if (t->most != most || t->least != least)
      continue;
    if (t->state == PULSARC_TB_TXN_OPEN && now_ns() >= t->deadline_ns) {
      t->state = PULSARC_TB_TXN_ABORTED;
      x->st.timed_out++;
    }
    return t;
  }
  return NULL;
}

static bool has_part(const tb_txn *t, const char *topic) {
  for (size_t i = 0; i < t->nparts; i++)
    if (strcmp(t->parts[i], topic) == 0)
      return true;
  return false;
}

void tb_txn_on_send(pulsarc_tb *tb, const char *topic, uint64_t most, uint64_t least) {
  struct tb_txns *x = txns(tb);
  if (x == NULL)
    return;
  x->st.txn_sends++;
  tb_txn *t = find(tb, most, least);
  if (t == NULL || t->state != PULSARC_TB_TXN_OPEN || !has_part(t, topic))
    x->st.unadded_sends++;
}

/* Every answer has the same shape: request id, txn id, error, message. */
static void answer(pulsarc_tb *tb, tb_conn *c, int type, uint64_t request_id, uint64_t most,
                   uint64_t least, int err, const char *msg) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = (Pulsarc__BaseCommand__Type)type;
  Pulsarc__CommandNewTxnResponse nt = PULSARC__COMMAND_NEW_TXN_RESPONSE__INIT;
  Pulsarc__CommandAddPartitionToTxnResponse ap =
      PULSARC__COMMAND_ADD_PARTITION_TO_TXN_RESPONSE__INIT;
  Pulsarc__CommandEndTxnResponse et = PULSARC__COMMAND_END_TXN_RESPONSE__INIT;
  Pulsarc__CommandTcClientConnectResponse tc = PULSARC__COMMAND_TC_CLIENT_CONNECT_RESPONSE__INIT;
#define FILL(r)                                                                                    \
  do {                                                                                             \
    (r).request_id = request_id;                                                                   \
    if (err >= 0) {                                                                                \
      (r).has_error = 1;                                                                           \
      (r).error = (Pulsarc__ServerError)err;                                                       \
      (r).message = (char *)msg;                                                                   \
    }                                                                                              \
  } while (0)
#define IDS(r)                                                                                     \
  do {                                                                                             \
    (r).has_txnid_most_bits = (r).has_txnid_least_bits = 1;                                        \
    (r).txnid_most_bits = most;                                                                    \
    (r).txnid_least_bits = least;                                                                  \
  } while (0)
  switch (type) {
  case BC(NEW_TXN_RESPONSE):
    FILL(nt);
    IDS(nt);
    cmd.new_txn_response = &nt;
    break;
  case BC(ADD_PARTITION_TO_TXN_RESPONSE):
    FILL(ap);
    IDS(ap);
    cmd.add_partition_to_txn_response = &ap;
    break;
  case BC(END_TXN_RESPONSE):
    FILL(et);
    IDS(et);
    cmd.end_txn_response = &et;
    break;
  default:
    FILL(tc);
    cmd.tc_client_connect_response = &tc;
    break;
  }
  tb_conn_send_cmd(tb, c, &cmd);
}

static bool coordinator_ok(pulsarc_tb *tb, uint64_t tc_id) {
  char *full = pulsarc_tb_full_topic("persistent://pulsar/system/transaction_coordinator_assign");
  uint32_t n = full ? tb_partitions_of(tb, full) : 0;
  free(full);
  return tc_id < n;
}

static void new_txn(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandNewTxn *r) {
  struct tb_txns *x = txns(tb);
  if (!coordinator_ok(tb, r->tc_id)) {
    answer(tb, c, BC(NEW_TXN_RESPONSE), r->request_id, 0, 0, SE(TransactionCoordinatorNotFound),
           "no such transaction coordinator");
    return;
  }
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 16;
    tb_txn *a = realloc(x->a, cap * sizeof *a);
    if (a == NULL) {
      answer(tb, c, BC(NEW_TXN_RESPONSE), r->request_id, 0, 0, SE(UnknownError), "no memory");
      return;
    }
    x->a = a;
    x->cap = cap;
  }
  tb_txn *t = &x->a[x->n++];
  memset(t, 0, sizeof *t);
  t->most = r->tc_id;
  t->least = ++x->next_least;
  t->state = PULSARC_TB_TXN_OPEN;
  uint64_t ttl = r->has_txn_ttl_millis ? r->txn_ttl_millis : 0;
  t->deadline_ns = now_ns() + (ttl ? ttl : 60000) * 1000000ull;
  x->st.new_txns++;
  x->st.last_ttl_ms = ttl;
  answer(tb, c, BC(NEW_TXN_RESPONSE), r->request_id, t->most, t->least, -1, NULL);
}

static void add_partition(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandAddPartitionToTxn *r) {
  struct tb_txns *x = txns(tb);
  tb_txn *t = find(tb, r->txnid_most_bits, r->txnid_least_bits);
  int type = BC(ADD_PARTITION_TO_TXN_RESPONSE);
  if (t == NULL || t->state != PULSARC_TB_TXN_OPEN) {
    answer(tb, c, type, r->request_id, r->txnid_most_bits, r->txnid_least_bits,
           t == NULL ? SE(TransactionNotFound) : SE(InvalidTxnStatus), "transaction not open");
    return;
  }
  for (size_t i = 0; i < r->n_partitions; i++) {
    x->st.partitions_added++;
    if (has_part(t, r->partitions[i]))
      continue;
    char **a = realloc(t->parts, (t->nparts + 1) * sizeof *a);
    if (a == NULL)
      break;
    t->parts = a;
    if ((t->parts[t->nparts] = strdup(r->partitions[i])) != NULL)
      t->nparts++;
  }
  answer(tb, c, type, r->request_id, t->most, t->least, -1, NULL);
}

static void end_txn(pulsarc_tb *tb, tb_conn *c, const Pulsarc__CommandEndTxn *r) {
  struct tb_txns *x = txns(tb);
  tb_txn *t = find(tb, r->txnid_most_bits, r->txnid_least_bits);
  int type = BC(END_TXN_RESPONSE);
  if (t == NULL || t->state != PULSARC_TB_TXN_OPEN) {
    x->st.end_errors++;
    answer(tb, c, type, r->request_id, r->txnid_most_bits, r->txnid_least_bits,
           t == NULL ? SE(TransactionNotFound) : SE(InvalidTxnStatus),
           t == NULL ? "transaction not found" : "transaction is not open (timed out or ended)");
    return;
  }
  bool commit = !r->has_txn_action || r->txn_action == PULSARC__TXN_ACTION__COMMIT;
  t->state = commit ? PULSARC_TB_TXN_COMMITTED : PULSARC_TB_TXN_ABORTED;
  if (commit)
    x->st.commits++;
  else
    x->st.aborts++;
  answer(tb, c, type, r->request_id, t->most, t->least, -1, NULL);
}

bool tb_txn_handle(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  const Pulsarc__BaseCommand *cmd = f->cmd;
  uint64_t rid;
  int type;
  switch (cmd->type) {
  case BC(TC_CLIENT_CONNECT_REQUEST):
    if (!cmd->tc_client_connect_request)
      goto malformed;
    rid = cmd->tc_client_connect_request->request_id;
    type = BC(TC_CLIENT_CONNECT_RESPONSE);
    break;
  case BC(NEW_TXN):
    if (!cmd->new_txn)
      goto malformed;
    rid = cmd->new_txn->request_id;
    type = BC(NEW_TXN_RESPONSE);
    break;
  case BC(ADD_PARTITION_TO_TXN):
    if (!cmd->add_partition_to_txn)
      goto malformed;
    rid = cmd->add_partition_to_txn->request_id;
    type = BC(ADD_PARTITION_TO_TXN_RESPONSE);
    break;
  case BC(END_TXN):
    if (!cmd->end_txn)
      goto malformed;
    rid = cmd->end_txn->request_id;
    type = BC(END_TXN_RESPONSE);
    break;
  default:
    return false;
  }
  struct tb_txns *x = txns(tb);
  if (x == NULL) {
    tb_conn_close(tb, c, false);
    return true;
  }
  if (x->fail.n > 0) {
    x->fail.n--;
    if (x->fail.err == PULSARC_TB_TXN_UNANSWERED)
      return true; /* read, never answered: the connection stays up */
    if (x->fail.err < 0)
      tb_conn_close(tb, c, false);
    else
      answer(tb, c, type, rid, 0, 0, x->fail.err, "injected coordinator failure");
    return true;
  }
  switch (cmd->type) {
  case BC(TC_CLIENT_CONNECT_REQUEST):
    if (!coordinator_ok(tb, cmd->tc_client_connect_request->tc_id)) {
      answer(tb, c, type, rid, 0, 0, SE(TransactionCoordinatorNotFound),
             "no such transaction coordinator");
      break;
    }
    x->st.tc_connects++;
    answer(tb, c, type, rid, 0, 0, -1, NULL);
    break;
  case BC(NEW_TXN):
    new_txn(tb, c, cmd->new_txn);
    break;
  case BC(ADD_PARTITION_TO_TXN):
    add_partition(tb, c, cmd->add_partition_to_txn);
    break;
  default:
    end_txn(tb, c, cmd->end_txn);
    break;
  }
  return true;
malformed:
  tb_conn_close(tb, c, true);
  return true;
}

void tb_txn_free(pulsarc_tb *tb) {
  struct tb_txns *x = tb->txns;
  if (x == NULL)
    return;
  for (size_t i = 0; i < x->n; i++) {
    for (size_t k = 0; k < x->a[i].nparts; k++)
      free(x->a[i].parts[k]);
    free(x->a[i].parts);
  }
  free(x->a);
  free(x);
  tb->txns = NULL;
}

void pulsarc_tb_get_txn_stats(pulsarc_tb *tb, pulsarc_tb_txn_stats *out) {
  pthread_mutex_lock(&tb->mu);
  struct tb_txns *x = txns(tb);
  if (x != NULL) {
    /* Timeouts count when they are seen: look at every open one now. */
    for (size_t i = 0; i < x->n; i++)
      (void)find(tb, x->a[i].most, x->a[i].least);
    *out = x->st;
  } else {
    memset(out, 0, sizeof *out);
  }
  pthread_mutex_unlock(&tb->mu);
}

pulsarc_tb_txn_state pulsarc_tb_txn_state_of(pulsarc_tb *tb, uint64_t most, uint64_t least) {
  pthread_mutex_lock(&tb->mu);
  tb_txn *t = find(tb, most, least);
  int s = t ? t->state : PULSARC_TB_TXN_UNKNOWN;
  pthread_mutex_unlock(&tb->mu);
  return (pulsarc_tb_txn_state)s;
}

void pulsarc_tb_fail_txn_requests(pulsarc_tb *tb, uint32_t n, int err) {
  pthread_mutex_lock(&tb->mu);
  struct tb_txns *x = txns(tb);
  if (x != NULL) {
    x->fail.n = n;
    x->fail.err = err;
  }
  pthread_mutex_unlock(&tb->mu);
}
