/* Taking never-written entries back on the producer's I/O thread: their
 * messages return to the front of the unsent queue, with their payloads
 * recovered from the frame (decompressed, split out of the batch) and their
 * sequence ids undone, none of them having reached the wire. Rare (a
 * deadline passed while the socket was full or the connection gone), so it
 * may allocate. [loop] */
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"
#include "codec/frame.h"
#include "producer/pipeline.h"

static void free_copy(void *data, void *ctx) {
  (void)ctx;
  free(data);
}

/* Gives a message back its payload, copied out of a frame being unsealed. */
static int restore_payload(pc_msg *m, const uint8_t *payload, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return -1;
  memcpy(copy, payload, len);
  m->data = copy;
  m->len = (uint32_t)len;
  m->free_fn = free_copy;
  m->free_ctx = NULL;
  return 0;
}

/* Recovers the messages of one never-written entry into out (in order).
 * Rare path (a deadline passed while the socket was full or the connection
 * gone), so it may allocate. */
static void unseal_entry(pc_part *part, pc_entry *e, pc_msgfifo *out) {
  pc_buf plain = {0};
  const uint8_t *body = e->frame.data + e->payload_off;
  size_t body_len = e->frame.len - e->payload_off;
  bool ok = true;
  if (e->num_chunks > 0) {
    /* Only the last chunk holds the message, and it kept its payload. */
    for (uint32_t i = 0; i < e->count; i++)
      if (!(e->msgs[i].flags & PC_MSG_COMPLETED)) {
        pc_msg m = e->msgs[i];
        m.flags &= ~PC_MSG_CHUNKED;
        if (pc_fifo_push(out, &m) != 0)
          pc_msg_complete(part->p, &e->msgs[i], PULSARC_ERR_NO_MEMORY, NULL);
      }
    return;
  }
  if (e->nholes > 0) {
    /* Spliced: every message still holds its own payload. */
    for (uint32_t i = 0; i < e->count; i++) {
      pc_msg *m = &e->msgs[i];
      if (m->flags & PC_MSG_COMPLETED) {
        /* Timed out earlier; the frame will never be written now. */
        if (m->flags & PC_MSG_SPLICED) {
          m->flags &= ~PC_MSG_SPLICED;
          pc_msg_release_payload(m);
        }
        continue;
      }
      pc_msg back = *m;
      back.flags &= ~PC_MSG_SPLICED;
      if (pc_fifo_push(out, &back) != 0) {
        m->flags &= ~PC_MSG_SPLICED;
        pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
        continue;
      }
      m->flags &= ~PC_MSG_SPLICED; /* the copy in `out` owns it now */
      m->data = NULL;
    }
    return;
  }
  pc_buf dec = {0};
  if (e->key_gen != 0) {
    /* Encrypted: back to the (compressed) plaintext first. */
    ok = pc_buf_append(&dec, body, body_len) == 0 &&
         pc_crypto_decrypt(part->p->crypto, e->key_gen, e->iv, &dec, 0) == 0;
    body = dec.data;
    body_len = dec.len;
  }
  if (ok && e->codec != 0) {
    ok = pc_decompress(e->codec, body, body_len, e->uncompressed_size, &plain) == 0;
    body = plain.data;
    body_len = plain.len;
  }
  size_t off = 0;
  for (uint32_t i = 0; i < e->count; i++) {
    pc_msg m = e->msgs[i];
    const uint8_t *payload = body;
    size_t plen = body_len;
    if (ok && e->batched) {
      const uint8_t *smd;
      size_t smd_len;
      ok = pc_batch_next(body, body_len, &off, &smd, &smd_len, &payload, &plen) == 1;
    }
    if (m.flags & PC_MSG_COMPLETED)
      continue;
    if (!ok || restore_payload(&m, payload, plen) != 0 || pc_fifo_push(out, &m) != 0) {
      if (m.free_fn == free_copy && m.data != NULL && m.data != e->msgs[i].data)
        free((void *)m.data);
      pc_msg_complete(part->p, &e->msgs[i], ok ? PULSARC_ERR_NO_MEMORY : PULSARC_ERR_PROTOCOL,
                      NULL);
    }
  }
  pc_buf_free(&plain);
  pc_buf_free(&dec);
}

/* Entries on zq from `from` (NULL: the head) to the tail: their messages
 * still hold their payloads (released only once sealing finishes), so they
 * go back as they are. */
static void unseal_zq(pc_part *part, pc_entry *from, pc_msgfifo *out) {
  pc_entry **link = &part->zq_head, *prev = NULL;
  if (from == NULL)
    from = part->zq_head;
  while (*link != from) {
    prev = *link;
    link = &(*link)->next;
  }
  *link = NULL;
  part->zq_tail = prev;
  for (pc_entry *e = from, *next; e != NULL; e = next) {
    next = e->next;
    for (uint32_t i = 0; i < e->count; i++)
      if (!(e->msgs[i].flags & PC_MSG_COMPLETED) && pc_fifo_push(out, &e->msgs[i]) != 0)
        pc_msg_complete(part->p, &e->msgs[i], PULSARC_ERR_NO_MEMORY, NULL);
    pc_zq_drop(part, e);
  }
}

/* Takes every never-written entry from `from` to the tail out of the pending
 * queue (and every entry after them still compressing on zq; `from` may be
 * one of those) and puts its messages back at the front of unsent, undoing
 * their sequence ids (none of them reached the wire). */
void pc_part_unseal_from(pc_part *part, pc_entry *from) {
  /* Counter-assigned ids restart where this entry's began. */
  if (from->first_seq < part->next_seq)
    part->next_seq = from->first_seq;
  pc_msgfifo back = {0};
  if (from->zstate != PC_Z_NONE) {
    unseal_zq(part, from, &back);
  } else {
    pc_entry **link = &part->pending_head, *prev = NULL;
    while (*link != from) {
      prev = *link;
      link = &(*link)->next;
    }
    *link = NULL;
    part->pending_tail = prev;
    for (pc_entry *e = from, *next; e != NULL; e = next) {
      next = e->next;
      pc_entry_withdraw(e);
      unseal_entry(part, e, &back);
      e->count = 0;
      pc_entry_release(part, e);
    }
    if (part->zq_head != NULL)
      unseal_zq(part, NULL, &back);
  }
  for (size_t i = back.n; i-- > 0;) {
    pc_msg *m = pc_fifo_at(&back, i);
    if (pc_fifo_push_front(&part->unsent, m) != 0)
      pc_msg_complete(part->p, m, PULSARC_ERR_NO_MEMORY, NULL);
    else
      part->unsent_bytes += m->len;
  }
  pc_fifo_free(&back);
  if (part->unsent.n > 0) {
    pc_part_activate(part);
    pc_poller_unpark(part->p->loop, &part->p->poller); /* the poller seals them again */
  }
}
