/* The broker's answers to SEND on the producer's I/O thread: a receipt
 * completes the oldest pending entry (receipts come in order; one that
 * does not match means we are out of step, and the connection is closed to
 * resend everything); a send error fails that entry or tells the caller to
 * reconnect or fail the producer. [loop] */
#include "client/future.h"
#include "producer/pipeline.h"

static void complete_entry(pc_part *part, pc_entry *e, pulsarc_err_t err, int64_t ledger,
                           int64_t entry_id) {
  pulsarc_producer_t *p = part->p;
  pulsarc_msg_id_t id = {.ledger_id = ledger,
                         .entry_id = entry_id,
                         .partition = part->index,
                         .batch_index = -1,
                         .batch_size = e->batched ? (int32_t)e->count : 0,
                         .first_chunk_ledger_id = e->num_chunks ? part->first_chunk_ledger : -1,
                         .first_chunk_entry_id = e->num_chunks ? part->first_chunk_entry : -1};
  /* The counters senders contend on are given back once per entry, not
   * per message: each update moves their cache line between cores. And
   * before the callbacks run: a sender that a callback wakes (say, after
   * PULSARC_ERR_QUEUE_FULL) must find the room that callback stands for. */
  uint32_t slots = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < e->count; i++)
    if (!(e->msgs[i].flags & PC_MSG_COMPLETED)) {
      slots++;
      bytes += e->msgs[i].len;
    }
  pc_part_slots_release(p, e->msgs[0].route, slots);
  pc_producer_give_back(p, slots, bytes);
  for (uint32_t i = 0; i < e->count; i++) {
    if (e->batched)
      id.batch_index = (int32_t)i;
    pc_msg_complete_once(p, &e->msgs[i], err, err == PULSARC_OK ? &id : NULL);
  }
  pc_waiters_wake_deferred(); /* the entry's blocking senders: one wake (future.h) */
  pc_entry_release(part, e);
}

void pc_part_on_receipt(pc_part *part, const Pulsarc__CommandSendReceipt *r) {
  pc_entry *head = part->pending_head;
  if (head == NULL || r->sequence_id < head->first_seq) {
    /* A receipt for something already failed by its deadline. */
    PC_DEBUG(&part->p->client->conf.logger, "ignoring stale receipt %llu on %s",
             (unsigned long long)r->sequence_id, part->topic);
    return;
  }
  if (r->sequence_id > head->first_seq) {
    /* Out of step with the broker: reconnect and resend everything. */
    PC_WARN(&part->p->client->conf.logger,
            "receipt %llu on %s does not match the oldest pending %llu; reconnecting",
            (unsigned long long)r->sequence_id, part->topic, (unsigned long long)head->first_seq);
    if (part->conn != NULL)
      pc_conn_close(part->conn, PULSARC_ERR_PROTOCOL);
    return;
  }
  pc_pending_pop(part);
  int64_t ledger = -1, entry = -1;
  if (r->message_id != NULL) {
    ledger = (int64_t)r->message_id->ledger_id;
    entry = (int64_t)r->message_id->entry_id;
  }
  if (head->num_chunks > 0 && head->chunk_id == 0) {
    part->first_chunk_ledger = ledger;
    part->first_chunk_entry = entry;
  }
  pc_producer_note_acked(part->p, (int64_t)head->last_seq);
  complete_entry(part, head, PULSARC_OK, ledger, entry);
  if (part->p->flushes != NULL || part->p->closing)
    pc_producer_check_flushes(part->p);
}

pc_send_error_action pc_part_on_send_error(pc_part *part, const Pulsarc__CommandSendError *se,
                                           pulsarc_err_t *err_out) {
  pulsarc_producer_t *p = part->p;
  pulsarc_err_t err = pc_server_error(se->error);
  *err_out = err;
  PC_WARN(&p->client->conf.logger, "broker refused message %llu on %s: %s (%s)",
          (unsigned long long)se->sequence_id, part->topic, pulsarc_err_str(err),
          se->message ? se->message : "");
  pc_entry *head = part->pending_head;
  switch (err) {
  case PULSARC_ERR_BROKER_CHECKSUM:
  case PULSARC_ERR_BROKER_NOT_ALLOWED:
    /* Only that entry is refused. */
    if (head != NULL && se->sequence_id >= head->first_seq && se->sequence_id <= head->last_seq) {
      pc_pending_pop(part);
      complete_entry(part, head, err, -1, -1);
      pc_producer_check_flushes(p);
    }
    return PC_SEND_ERROR_HANDLED;
  case PULSARC_ERR_BROKER_TOPIC_TERMINATED:
  case PULSARC_ERR_BROKER_PRODUCER_FENCED:
    return PC_SEND_ERROR_FAIL_PRODUCER;
  default:
    /* Transient (persistence, metadata, service not ready ...): re-create
     * this producer and resend what is pending. Only this producer: the
     * connection carries others (current Java behaviour; C++ and Go close
     * the whole connection). */
    return PC_SEND_ERROR_RECONNECT;
  }
}

void pc_part_fail_all(pc_part *part, pulsarc_err_t err) {
  pc_entry *e;
  while ((e = pc_pending_pop(part)) != NULL) {
    pc_entry_withdraw(e);
    complete_entry(part, e, err, -1, -1);
  }
  pc_part_zq_fail(part, err);
  for (size_t i = 0; i < part->unsent.n; i++)
    pc_msg_complete(part->p, pc_fifo_at(&part->unsent, i), err, NULL);
  part->unsent.n = 0;
  part->unsent_bytes = 0;
}
