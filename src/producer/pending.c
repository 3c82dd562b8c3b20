/* Entries and the pending queue on the producer's I/O thread: a pool of
 * entries (frames and message arrays kept for reuse), the queue of sealed
 * entries waiting for their receipts, in sequence order, and handing a
 * frame to the connection by reference (it is kept as sent, for a
 * byte-identical resend). [loop] */
#include <stdlib.h>

#include "producer/pipeline.h"

/* Adds spare entries to the pool, as many as exist already (at least one):
 * growing geometrically means a producer allocates entries only about
 * log2(peak batches in flight) times in its life, not at every new peak.
 * Spares get buffers as large as the largest frame and batch seen, so
 * taking one later allocates nothing. */
static void grow_entry_pool(pc_part *part) {
  uint32_t n = part->entries_made ? part->entries_made : 1;
  for (uint32_t i = 0; i < n; i++) {
    pc_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
      return;
    if ((part->frame_cap_hint && pc_buf_reserve(&e->frame, part->frame_cap_hint) != 0) ||
        (part->msgs_cap_hint &&
         (e->msgs = malloc(part->msgs_cap_hint * sizeof *e->msgs)) == NULL)) {
      pc_buf_free(&e->frame);
      free(e);
      return;
    }
    e->msgs_cap = e->msgs ? part->msgs_cap_hint : 0;
    e->next = part->free_entries;
    part->free_entries = e;
    part->entries_made++;
  }
}

pc_entry *pc_entry_get(pc_part *part, uint32_t count) {
  if (part->free_entries == NULL)
    grow_entry_pool(part);
  pc_entry *e = part->free_entries;
  if (e == NULL)
    return NULL;
  part->free_entries = e->next;
  if (count > part->msgs_cap_hint)
    part->msgs_cap_hint = count;
  if (e->msgs_cap < count) {
    pc_msg *m = realloc(e->msgs, count * sizeof *m);
    if (m == NULL) {
      e->next = part->free_entries;
      part->free_entries = e;
      return NULL;
    }
    e->msgs = m;
    e->msgs_cap = count;
  }
  e->next = NULL;
  e->part = part;
  e->count = e->incomplete = count;
  e->ever_written = e->in_conn = e->dead = e->waited = false;
  e->sent_round = part->resend_round;
  e->codec = 0;
  e->uncompressed_size = 0;
  e->chunk_id = e->num_chunks = 0;
  e->stat_msg_bytes = e->stat_raw = e->stat_wire = 0;
  e->payload_off = 0;
  e->nholes = 0;
  e->iovcnt = 0;
  e->conn = NULL;
  e->zstate = PC_Z_NONE;
  e->zdead = false;
  pc_buf_reset(&e->frame);
  return e;
}

/* The frame no longer needs the payloads it was written from. */
static void drop_spliced(pc_entry *e) {
  if (e->nholes == 0)
    return;
  for (uint32_t i = 0; i < e->count; i++)
    if (e->msgs[i].flags & PC_MSG_SPLICED) {
      e->msgs[i].flags &= ~PC_MSG_SPLICED;
      pc_msg_release_payload(&e->msgs[i]);
    }
  e->nholes = 0;
  e->iovcnt = 0;
}

void pc_entry_free(pc_entry *e) {
  drop_spliced(e);
  pc_buf_free(&e->frame);
  pc_buf_free(&e->zin);
  free(e->msgs);
  free(e->holes);
  free(e->iov);
  free(e);
}

void pc_entry_release(pc_part *part, pc_entry *e) {
  if (e->waited) {
    e->waited = false;
    part->waited_inflight--;
  }
  if (part->resend_blocker == e) {
    part->resend_blocker = NULL;
    part->resend_kick = true;
    pc_poller_unpark(part->p->loop, &part->p->poller);
  }
  if (e->in_conn) {
    /* The connection still references the frame: free when it lets go. */
    e->dead = true;
    return;
  }
  if (part->p->destroyed) {
    pc_entry_free(e);
    return;
  }
  drop_spliced(e);
  /* Keep buffers for reuse, but do not hoard huge ones. */
  if (e->frame.cap > (8u << 20))
    pc_buf_free(&e->frame);
  else if (e->frame.cap > part->frame_cap_hint)
    part->frame_cap_hint = e->frame.cap;
  if (e->zin.cap > (8u << 20))
    pc_buf_free(&e->zin);
  e->next = part->free_entries;
  part->free_entries = e;
}

static void on_entry_written(pc_wref *w, bool written) {
  pc_entry *e = w->ctx;
  e->in_conn = false;
  e->conn = NULL;
  if (written && !e->ever_written && !e->dead) {
    /* A dead entry's partition may be gone (destroy): not counted. */
    pc_part_stats *s = &e->part->stats;
    pc_stat_add(&s->sent, e->count);
    pc_stat_add(&s->bytes_sent, e->stat_msg_bytes);
    pc_stat_add(&s->batches, 1);
    pc_stat_add(&s->uncompressed, e->stat_raw);
    pc_stat_add(&s->compressed, e->stat_wire);
  }
  if (written)
    e->ever_written = true;
  if (e->dead) {
    pc_entry_free(e);
    return;
  }
  if (e->part->resend_blocker == e) {
    /* The resend was waiting for this frame to leave its connection. Resume
     * from the poller, not from inside the connection's write path. */
    e->part->resend_blocker = NULL;
    e->part->resend_kick = true;
    pc_poller_unpark(e->part->p->loop, &e->part->p->poller);
  }
}

/* Takes an entry's frame back from the connection it is queued on. */
void pc_entry_withdraw(pc_entry *e) {
  if (e->in_conn && e->conn != NULL)
    pc_conn_withdraw(e->conn, &e->wref);
}

void pc_entry_write(pc_part *part, pc_entry *e) {
  e->wref.data = e->frame.data + e->frame_start;
  e->wref.len = e->frame.len - e->frame_start;
  e->wref.iov = NULL;
  e->wref.iovcnt = 0;
  if (e->nholes > 0) {
    e->wref.data = NULL;
    e->wref.len = e->wire_len;
    e->wref.iov = e->iov;
    e->wref.iovcnt = e->iovcnt;
  }
  e->wref.written = 0;
  e->wref.done = on_entry_written;
  e->wref.ctx = e;
  if (part->conn != NULL && pc_conn_write_ref(part->conn, &e->wref) == 0) {
    e->in_conn = true;
    e->conn = part->conn;
  }
}

void pc_pending_push(pc_part *part, pc_entry *e) {
  if (part->pending_tail != NULL)
    part->pending_tail->next = e;
  else
    part->pending_head = e;
  part->pending_tail = e;
}

pc_entry *pc_pending_pop(pc_part *part) {
  pc_entry *e = part->pending_head;
  if (e != NULL) {
    part->pending_head = e->next;
    if (part->pending_head == NULL)
      part->pending_tail = NULL;
    e->next = NULL;
  }
  return e;
}

void pc_zq_push(pc_part *part, pc_entry *e) {
  e->next = NULL;
  if (part->zq_tail != NULL)
    part->zq_tail->next = e;
  else
    part->zq_head = e;
  part->zq_tail = e;
}

pc_entry *pc_zq_pop(pc_part *part) {
  pc_entry *e = part->zq_head;
  if (e != NULL) {
    part->zq_head = e->next;
    if (part->zq_head == NULL)
      part->zq_tail = NULL;
    e->next = NULL;
  }
  return e;
}

void pc_zq_drop(pc_part *part, pc_entry *e) {
  bool busy = e->zstate == PC_Z_BUSY;
  e->zstate = PC_Z_NONE;
  e->count = 0;
  if (busy) {
    /* A worker still writes its frame: the entry is freed when it comes
     * back (seal.c), whether or not its partition still exists. */
    e->zdead = true;
    return;
  }
  pc_entry_release(part, e);
}

void pc_part_zq_fail(pc_part *part, pulsarc_err_t err) {
  pc_entry *e;
  while ((e = pc_zq_pop(part)) != NULL) {
    for (uint32_t i = 0; i < e->count; i++)
      pc_msg_complete(part->p, &e->msgs[i], err, NULL);
    pc_zq_drop(part, e);
  }
}
