/* Transactions: the transaction-coordinator client (NEW_TXN,
 * ADD_PARTITION_TO_TXN, END_TXN, TC_CLIENT_CONNECT) and the state a
 * transaction shares with the producers that send in it. Coordinator
 * requests run on the client's first I/O thread; the functions below for
 * producers may be called from any thread. */
#ifndef PULSARC_CLIENT_TXN_H
#define PULSARC_CLIENT_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

/* The coordinators' topic: partition N is coordinator N. */
#define PC_TC_ASSIGN_TOPIC "persistent://pulsar/system/transaction_coordinator_assign"

typedef struct pc_tc pc_tc;

/* [any] A send with txn is being accepted: the transaction must be open.
 * Takes a reference and counts the send as pending until pc_txn_leave.
 * PULSARC_OK, or INVALID_ARGUMENT with pulsarc_last_error_text() set. */
pulsarc_err_t pc_txn_enter(pulsarc_txn_t *txn);
/* [any] The send completed with err (or, counted false, was refused after
 * pc_txn_enter and never existed for the transaction). */
void pc_txn_leave(pulsarc_txn_t *txn, pulsarc_err_t err, bool counted);
/* [any] The id, fixed once the transaction is open. */
void pc_txn_get_id(const pulsarc_txn_t *txn, uint64_t *most, uint64_t *least);
/* [any] Whether partition (a full topic name) was added to txn: 1 added,
 * 0 not yet (the first call starts ADD_PARTITION_TO_TXN), -1 the add
 * failed (*err says why). */
int pc_txn_partition(pulsarc_txn_t *txn, const char *partition, pulsarc_err_t *err);

/* [app] After the client's loops stopped: fails what is still in flight
 * with PULSARC_ERR_CLOSED and frees the coordinator client. */
void pc_tc_free(pc_tc *tc);

#endif
