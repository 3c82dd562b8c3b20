/* Sealing one entry on the producer's I/O thread: sequence ids (assigned
 * here, so they strictly increase on the wire), the batch body, compression,
 * MessageMetadata, the SEND frame with large payloads spliced in as
 * segments instead of copied, and chunking of a message too large for one
 * frame. The sealed entry joins the pending queue and is written. [loop] */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/commands.h"
#include "codec/compress.h"
#include "codec/frame.h"
#include "common/clock.h"
#include "producer/arena.h"
#include "producer/pipeline.h"

#define HEADROOM 256

/* ------------------------------------------------------------ metadata */

/* The message's properties as protobuf-c wants them, laid out in this
 * thread's scratch: the count is the user's, unbounded but for the maximum
 * message size, so never a stack array. Valid until the next scratch use on
 * this thread. 0 or -1 (out of memory). */
static int props_of(const pc_msg_ext *x, Pulsarc__KeyValue ***props) {
  size_t n = x->nprops;
  *props = NULL;
  if (n == 0)
    return 0;
  void *mem = pc_thread_scratch(pc_key_values_size(n));
  if (mem == NULL)
    return -1;
  Pulsarc__KeyValue **ptrs = pc_key_values_init(mem, n);
  for (size_t i = 0; i < n; i++) {
    ptrs[i]->key = (char *)x->prop_keys[i];
    ptrs[i]->value = (char *)x->prop_values[i];
  }
  *props = ptrs;
  return 0;
}

/* A message's sequence id: an explicit per-message id wins, and the
 * counter is untouched by it, as in the Java client. */
static uint64_t msg_seq(const pc_msg *m, uint64_t *counter) {
  const pc_msg_ext *x = m->ext;
  return (x != NULL && x->has_sequence_id) ? x->sequence_id : (*counter)++;
}

/* Appends one message of a batch body (without its payload when the
 * payload is spliced in as a hole). */
static int append_single(pc_buf *body, const pc_msg *m, uint64_t seq, bool spliced) {
  const pc_msg_ext *x = m->ext;
  const uint8_t *payload = spliced ? NULL : m->data;
  if (x == NULL)
    return pc_batch_append_plain(body, seq, payload, m->len);
  Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
  if (props_of(x, &smd.properties) != 0)
    return -1;
  smd.n_properties = x->nprops;
  smd.partition_key = (char *)x->partition_key;
  if (x->ordering_key != NULL) {
    smd.has_ordering_key = true;
    smd.ordering_key.data = (uint8_t *)x->ordering_key;
    smd.ordering_key.len = x->ordering_key_len;
  }
  if (x->event_time_ms != 0) {
    smd.has_event_time = true;
    smd.event_time = x->event_time_ms;
  }
  if (x->null_value) {
    smd.has_null_value = true;
    smd.null_value = true;
  }
  smd.payload_size = (int32_t)m->len;
  smd.has_sequence_id = true;
  smd.sequence_id = seq;
  return pc_batch_append(body, &smd, payload, m->len);
}

/* PC_SPLICE_MIN: at 16 KiB the copy into the frame was a quarter of the
 * I/O thread's time. Smaller payloads are copied: a segment per message
 * would cost more in sendmsg than the copy. */

/* Whether every payload of the batch may be spliced: large enough, not
 * compressed, and owned by the library (a borrowed payload, from a blocking
 * send, must not be read after its sender returned). */
static bool may_splice(const pc_msg *msgs, uint32_t n, int codec) {
  if (codec != 0)
    return false;
  for (uint32_t i = 0; i < n; i++)
    if (msgs[i].len < PC_SPLICE_MIN || msgs[i].free_fn == NULL || (msgs[i].flags & PC_MSG_CHUNKED))
      return false;
  return true;
}

/* Room for n holes and their segments. 0 or -1. */
static int reserve_holes(pc_entry *e, uint32_t n) {
  if (e->holes_cap >= n)
    return 0;
  pc_frame_hole *h = realloc(e->holes, n * sizeof *h);
  if (h == NULL)
    return -1;
  e->holes = h;
  struct iovec *v = realloc(e->iov, (2 * (size_t)n + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  e->iov = v;
  e->holes_cap = n;
  return 0;
}

/* After sealing: the frame as segments, buffer bytes and holes in turn. */
static void build_segments(pc_entry *e) {
  const uint8_t *body = e->frame.data + e->payload_off;
  const uint8_t *from = e->frame.data + e->frame_start;
  int n = 0;
  size_t total = 0;
  for (uint32_t i = 0; i < e->nholes; i++) {
    const uint8_t *to = body + e->holes[i].off;
    if (to > from)
      e->iov[n++] = (struct iovec){(void *)from, (size_t)(to - from)};
    e->iov[n++] = (struct iovec){(void *)e->holes[i].data, e->holes[i].len};
    total += (size_t)(to - from) + e->holes[i].len;
    from = to;
  }
  const uint8_t *end = e->frame.data + e->frame.len;
  if (end > from)
    e->iov[n++] = (struct iovec){(void *)from, (size_t)(end - from)};
  total += (size_t)(end - from);
  e->iovcnt = n;
  e->wire_len = total;
}

/* The parts of MessageMetadata every frame of an entry shares. The
 * properties live in this thread's scratch: pack md before the next use.
 * 0 or -1 (out of memory). */
static int fill_metadata(Pulsarc__MessageMetadata *md, const pc_part *part, const pc_msg_ext *x,
                         bool batched) {
  md->producer_name = part->name;
  md->publish_time = (uint64_t)pc_wall_ms();
  if (part->schema_version != NULL) {
    md->has_schema_version = true;
    md->schema_version.data = part->schema_version;
    md->schema_version.len = part->schema_version_len;
  }
  if (x == NULL)
    return 0;
  /* A batch carries its first message's key, as the official clients do:
   * the broker dispatches Key_Shared by it. */
  md->partition_key = (char *)x->partition_key;
  if (x->ordering_key != NULL) {
    md->has_ordering_key = true;
    md->ordering_key.data = (uint8_t *)x->ordering_key;
    md->ordering_key.len = x->ordering_key_len;
  }
  md->n_replicate_to = x->n_replicate_to;
  md->replicate_to = (char **)x->replicate_to;
  if (x->txn != NULL) { /* a batch never mixes transactions (batch.c) */
    md->has_txnid_most_bits = md->has_txnid_least_bits = true;
    pc_txn_get_id(x->txn, &md->txnid_most_bits, &md->txnid_least_bits);
  }
  if (batched)
    return 0;
  if (props_of(x, &md->properties) != 0)
    return -1;
  md->n_properties = x->nprops;
  if (x->event_time_ms != 0) {
    md->has_event_time = true;
    md->event_time = x->event_time_ms;
  }
  if (x->has_deliver_at) {
    md->has_deliver_at_time = true;
    md->deliver_at_time = x->deliver_at_ms;
  }
  if (x->null_value) {
    md->has_null_value = true;
    md->null_value = true;
  }
  return 0;
}

/* The entry's encryption: NULL for a plain entry. A data key that cannot
 * be made fails the entry (*err), or lets it go plain when the user chose
 * crypto_failure_action=send, as the official clients allow. */
static pc_crypto *entry_crypto(pc_part *part, pulsarc_err_t *err) {
  pulsarc_producer_t *p = part->p;
  *err = PULSARC_OK;
  if (p->crypto == NULL)
    return NULL;
  pulsarc_err_t e = pc_crypto_ready(p->crypto, pc_mono_ns());
  if (e == PULSARC_OK)
    return p->crypto;
  if (p->conf.crypto_failure_action != PC_CRYPTO_FAIL_SEND)
    *err = e;
  return NULL;
}

/* --------------------------------------------------------------- frames */

static void seal_finish(pc_part *part, pc_entry *e, pc_crypto *crypto, bool splice,
                        uint64_t spliced_bytes, int rc);
static void compress_work(pc_work *w);
static void compressed_task(pc_loop *loop, void *arg);

/* Removes the selected messages from unsent into dst (in order). */
static void take_selected(pc_part *part, const uint32_t *sel, uint32_t n, pc_msg *dst) {
  pc_msgfifo *f = &part->unsent;
  for (uint32_t i = 0; i < n; i++) {
    dst[i] = *pc_fifo_at(f, sel[i]);
    part->unsent_bytes -= dst[i].len;
  }
  /* Without key-based batching the selection is always the front of the
   * ring: pop it, instead of compacting the whole queue behind it (which
   * cost a pass over up to max_pending messages per batch). */
  if (sel[n - 1] == n - 1) {
    f->head = (f->head + n) & (f->cap - 1);
    f->n -= n;
    return;
  }
  /* Compact: keep the unselected ones in order. */
  size_t w = 0, k = 0;
  for (size_t i = 0; i < f->n; i++) {
    if (k < n && sel[k] == i) {
      k++;
      continue;
    }
    if (w != i)
      *pc_fifo_at(f, w) = *pc_fifo_at(f, i);
    w++;
  }
  f->n = w;
}

static void fail_msgs(pc_part *part, pc_msg *msgs, uint32_t n, pulsarc_err_t err) {
  for (uint32_t i = 0; i < n; i++)
    pc_msg_complete(part->p, &msgs[i], err, NULL);
}

/* Seals one frame whose payload is at e->frame[HEADROOM..len), with
 * e->holes spliced in. */
static int seal_frame(pc_entry *e, Pulsarc__BaseCommand *cmd, Pulsarc__MessageMetadata *md) {
  size_t inline_len = e->frame.len - HEADROOM;
  if (pc_frame_seal_gather(&e->frame, HEADROOM, cmd, md, e->holes, e->nholes, &e->frame_start) != 0)
    return -1;
  e->payload_off = e->frame.len - inline_len;
  if (e->nholes > 0)
    build_segments(e);
  return 0;
}

/* Writes a newly sealed entry. One finished after a worker compressed it
 * may come back while the partition is not registered or a resend is
 * still writing older entries: it then waits in pending for the resend,
 * which writes every entry not sent in its round, oldest first. */
static void write_sealed(pc_part *part, pc_entry *e) {
  if (part->state != PS_READY || part->resend_blocked) {
    e->sent_round = part->resend_round - 1;
    return;
  }
  pc_entry_write(part, e);
}

/* Sends a message too large for one frame as chunks: same sequence id on
 * every chunk, uuid "<name>-<seq>", the message completes on the last
 * chunk's receipt. The caller's payload stays with the message until then
 * (a never-written message can be unsealed whole). */
static void seal_chunks(pc_part *part, pc_msg *m, uint64_t seq, const uint8_t *payload,
                        size_t total, int codec, uint32_t uncompressed, size_t md_size,
                        pc_crypto *crypto) {
  pulsarc_producer_t *p = part->p;
  size_t chunk = part->max_message_size > md_size + 64 ? part->max_message_size - md_size - 64 : 0;
  if (chunk == 0) {
    pc_msg_complete(p, m, PULSARC_ERR_MESSAGE_TOO_BIG, NULL);
    return;
  }
  int32_t nchunks = (int32_t)((total + chunk - 1) / chunk);
  char uuid[PC_TOPIC_MAX + 32];
  snprintf(uuid, sizeof uuid, "%s-%llu", part->name, (unsigned long long)seq);
  m->flags |= PC_MSG_CHUNKED;
  const pc_msg_ext *x = m->ext;
  for (int32_t k = 0; k < nchunks; k++) {
    bool last = k == nchunks - 1;
    pc_entry *e = pc_entry_get(part, last ? 1 : 0);
    if (e == NULL) {
      /* Chunks already queued stay (harmless to the broker without the
       * last one); the message fails. */
      pc_msg_complete(p, m, PULSARC_ERR_NO_MEMORY, NULL);
      return;
    }
    size_t off = (size_t)k * chunk, len = last ? total - off : chunk;
    e->first_seq = e->last_seq = seq;
    e->chunk_id = k;
    e->num_chunks = nchunks;
    e->key_gen = 0; /* the last chunk's message kept its plain payload */
    e->codec = codec;
    e->uncompressed_size = uncompressed;
    e->count = e->incomplete = last ? 1 : 0;
    int rc = pc_buf_reserve(&e->frame, HEADROOM + len);
    e->frame.len = HEADROOM;
    if (rc == 0)
      rc = pc_buf_append(&e->frame, payload + off, len);
    /* Each chunk is encrypted alone, under its own IV, as the official
     * consumers decrypt chunks before joining them. */
    uint8_t iv[PC_CRYPTO_IV_LEN];
    if (rc == 0 && crypto != NULL)
      rc = pc_crypto_encrypt(crypto, &e->frame, HEADROOM, iv);
    Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
    if (rc == 0)
      rc = fill_metadata(&md, part, x, false);
    if (crypto != NULL)
      pc_crypto_fill_metadata(crypto, &md, iv);
    md.sequence_id = seq;
    md.uuid = uuid;
    md.has_num_chunks_from_msg = md.has_total_chunk_msg_size = md.has_chunk_id = true;
    md.num_chunks_from_msg = nchunks;
    md.total_chunk_msg_size = (int32_t)total;
    md.chunk_id = k;
    if (codec != 0) {
      md.has_compression = md.has_uncompressed_size = true;
      md.compression = (Pulsarc__CompressionType)codec;
      md.uncompressed_size = uncompressed;
    }
    pc_cmd cmd;
    if (rc == 0) {
      pc_cmd_send(&cmd, part->producer_id, seq, 0, 0, true);
      if (md.has_txnid_most_bits)
        pc_cmd_send_set_txn(&cmd, md.txnid_most_bits, md.txnid_least_bits);
      rc = seal_frame(e, &cmd.base, &md);
    }
    if (rc != 0) {
      e->count = 0;
      pc_entry_release(part, e);
      pc_msg_complete(p, m, PULSARC_ERR_NO_MEMORY, NULL);
      return;
    }
    if (last)
      e->msgs[0] = *m;
    e->stat_msg_bytes = last ? m->len : 0;
    e->stat_raw = k == 0 ? uncompressed : 0; /* the whole message, once */
    e->stat_wire = len;
    pc_pending_push(part, e);
    write_sealed(part, e);
  }
}

/* Encodes the selected messages into one SEND frame (or chunks), appends it
 * to the pending queue and writes it. Sequence ids are assigned here, on the
 * I/O thread, so they strictly increase on the wire. */
void pc_part_seal_one(pc_part *part, const uint32_t *sel, uint32_t n) {
  pulsarc_producer_t *p = part->p;
  pc_entry *e = pc_entry_get(part, n);
  if (e == NULL) {
    /* Out of memory: fail a bounded prefix of the selection (n is up to
     * batch_max_messages, too many for the stack); the rest stays queued
     * and is selected again on the next pass. */
    pc_msg tmp[64];
    uint32_t k = n < 64 ? n : 64;
    take_selected(part, sel, k, tmp);
    fail_msgs(part, tmp, k, PULSARC_ERR_NO_MEMORY);
    return;
  }
  take_selected(part, sel, n, e->msgs);
  pulsarc_err_t crypto_err;
  pc_crypto *crypto = entry_crypto(part, &crypto_err);
  if (crypto_err != PULSARC_OK) {
    fail_msgs(part, e->msgs, n, crypto_err);
    e->count = 0;
    pc_entry_release(part, e);
    return;
  }
  pc_msg *first = &e->msgs[0];
  bool batched = p->conf.batching && !pc_msg_travels_alone(first);
  int codec = (int)p->conf.compression;
  e->batched = batched;
  e->codec = codec;
  /* The ids are worked out twice, here for the range and again in the
   * body loop below, instead of kept in an array of batch_max_messages. */
  uint64_t seq_base = part->next_seq;
  uint64_t highest = 0, lowest_index_seq = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t seq = msg_seq(&e->msgs[i], &part->next_seq);
    if (i == 0)
      lowest_index_seq = seq;
    if (seq > highest)
      highest = seq;
  }
  e->first_seq = lowest_index_seq;
  e->last_seq = highest;

  /* The body goes straight into the frame, or into scratch when it will be
   * compressed into the frame; large payloads stay where they are. */
  pc_buf *body = codec != 0 ? &part->scratch : &e->frame;
  pc_buf_reset(&part->scratch);
  bool splice = crypto == NULL && may_splice(e->msgs, n, codec);
  uint64_t guess = 0, spliced_bytes = 0;
  uint64_t msg_bytes = 0;
  for (uint32_t i = 0; i < n; i++) {
    guess += (splice ? 0 : e->msgs[i].len) + 16;
    msg_bytes += e->msgs[i].len;
  }
  int rc = pc_buf_reserve(&e->frame, HEADROOM + guess);
  e->frame.len = HEADROOM;
  if (rc == 0 && codec != 0)
    rc = pc_buf_reserve(&part->scratch, guess);
  if (rc == 0 && splice)
    rc = reserve_holes(e, n);
  uint64_t counter = seq_base;
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    pc_msg *m = &e->msgs[i];
    uint64_t seq = msg_seq(m, &counter);
    if (batched)
      rc = append_single(body, m, seq, splice);
    else if (!splice)
      rc = pc_buf_append(body, m->data, m->len);
    if (splice && rc == 0) {
      e->holes[e->nholes++] = (pc_frame_hole){e->frame.len - HEADROOM, m->data, m->len,
                                              (m->flags & PC_MSG_HAS_CRC) != 0, m->crc};
      spliced_bytes += m->len;
    }
  }
  size_t raw_len = codec != 0 ? part->scratch.len : e->frame.len - HEADROOM + spliced_bytes;
  e->uncompressed_size = (uint32_t)raw_len;
  e->stat_msg_bytes = msg_bytes;
  if (rc == 0 && codec != 0 && p->client->workers != NULL) {
    /* The body moves to the entry (scratch takes the entry's old buffer)
     * and a worker compresses it; the entry is finished when it is back
     * and every older one is (compressed_task). */
    pc_buf t = e->zin;
    e->zin = part->scratch;
    part->scratch = t;
    e->zlevel = (int)p->conf.compression_level;
    e->zcrypto = crypto != NULL;
    e->zstate = PC_Z_BUSY;
    e->zwork.run = compress_work;
    e->zwork.done = compressed_task;
    e->zwork.loop = p->loop;
    pc_zq_push(part, e);
    pc_workers_submit(p->client->workers, &e->zwork);
    return;
  }
  if (rc == 0 && codec != 0)
    rc = pc_compress_level(codec, (int)p->conf.compression_level, part->scratch.data,
                           part->scratch.len, &e->frame);
  seal_finish(part, e, crypto, splice, spliced_bytes, rc);
}

/* The rest of sealing, once the payload is in the frame (compressed, or
 * held in holes): metadata, the size rule (chunks), encryption, the SEND
 * frame, then pending and the write. rc: the earlier steps' outcome. */
static void seal_finish(pc_part *part, pc_entry *e, pc_crypto *crypto, bool splice,
                        uint64_t spliced_bytes, int rc) {
  pulsarc_producer_t *p = part->p;
  uint32_t n = e->count;
  bool batched = e->batched;
  int codec = e->codec;
  size_t raw_len = e->uncompressed_size;
  pc_msg *first = &e->msgs[0];
  const pc_msg_ext *x = first->ext;
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  if (rc == 0)
    rc = fill_metadata(&md, part, x, batched);
  uint8_t *iv = e->iv;
  _Static_assert(sizeof e->iv == PC_CRYPTO_IV_LEN, "IV size");
  if (crypto != NULL)
    pc_crypto_fill_metadata(crypto, &md, iv);
  md.sequence_id = e->first_seq;
  if (codec != 0) {
    md.has_compression = md.has_uncompressed_size = true;
    md.compression = (Pulsarc__CompressionType)codec;
    md.uncompressed_size = (uint32_t)raw_len;
  }
  pc_cmd cmd;
  pc_cmd_send(&cmd, part->producer_id, e->first_seq, batched ? (int32_t)n : 0, e->last_seq, false);
  if (md.has_txnid_most_bits)
    pc_cmd_send_set_txn(&cmd, md.txnid_most_bits, md.txnid_least_bits);
  if (batched) {
    md.has_num_messages_in_batch = true;
    md.num_messages_in_batch = (int32_t)n;
    md.has_highest_sequence_id = true;
    md.highest_sequence_id = e->last_seq;
  }
  if (rc != 0) {
    e->nholes = 0;
    fail_msgs(part, e->msgs, n, PULSARC_ERR_NO_MEMORY);
    e->count = 0;
    pc_entry_release(part, e);
    return;
  }
  /* The size rule of the official clients: metadata plus the (compressed)
   * payload against min(max_message_size, broker's). Only a single
   * compressed or chunked message can exceed it here; plain ones were
   * refused by the send call. */
  size_t payload_len = e->frame.len - HEADROOM + spliced_bytes;
  size_t md_size = pulsarc__message_metadata__get_packed_size(&md);
  size_t tag = crypto != NULL ? PC_CRYPTO_TAG_LEN : 0;
  if (md_size + payload_len + tag > part->max_message_size) {
    if (p->conf.chunking && !batched && n == 1) {
      pc_msg m = e->msgs[0];
      e->count = 0;
      e->nholes = 0;
      /* The frame buffer (or, spliced, the message) holds the payload to
       * split; seal_chunks copies slices out, so release e only afterwards. */
      seal_chunks(part, &m, e->first_seq, splice ? m.data : e->frame.data + HEADROOM, payload_len,
                  codec, (uint32_t)raw_len, md_size + 64 + tag, crypto);
      pc_entry_release(part, e);
      return;
    }
    e->nholes = 0;
    fail_msgs(part, e->msgs, n, PULSARC_ERR_MESSAGE_TOO_BIG);
    e->count = 0;
    pc_entry_release(part, e);
    return;
  }
  e->key_gen = crypto != NULL ? pc_crypto_generation(crypto) : 0;
  if ((crypto != NULL && pc_crypto_encrypt(crypto, &e->frame, HEADROOM, iv) != 0) ||
      seal_frame(e, &cmd.base, &md) != 0) {
    e->nholes = 0;
    fail_msgs(part, e->msgs, n, PULSARC_ERR_NO_MEMORY);
    e->count = 0;
    pc_entry_release(part, e);
    return;
  }
  /* Copied payloads now live in the frame: release the callers' buffers.
   * Spliced ones stay until the entry is released. */
  for (uint32_t i = 0; i < n; i++) {
    if (splice)
      e->msgs[i].flags |= PC_MSG_SPLICED;
    else
      pc_msg_release_payload(&e->msgs[i]);
  }
  for (uint32_t i = 0; i < n && !e->waited; i++)
    e->waited = (e->msgs[i].flags & PC_MSG_WAITED) != 0;
  if (e->waited)
    part->waited_inflight++; /* pending.c counts it down on release */
  e->stat_raw = raw_len;
  e->stat_wire = payload_len;
  pc_pending_push(part, e);
  write_sealed(part, e);
}

/* On a worker: only the entry's zin, frame (from HEADROOM), codec and
 * level are touched, which the loop leaves alone until it is back. */
static void compress_work(pc_work *w) {
  pc_entry *e = (pc_entry *)((char *)w - offsetof(pc_entry, zwork));
  e->zrc = pc_compress_level(e->codec, e->zlevel, e->zin.data, e->zin.len, &e->frame);
}

/* A worker is done with an entry: finishes the entries at the head of zq
 * that are back, in order, so ids reach the wire in the order assigned.
 * [loop] */
static void compressed_task(pc_loop *loop, void *arg) {
  (void)loop;
  pc_entry *e = (pc_entry *)((char *)arg - offsetof(pc_entry, zwork));
  if (e->zdead) { /* unsealed, failed or destroyed meanwhile */
    pc_entry_free(e);
    return;
  }
  e->zstate = PC_Z_BACK;
  pc_part *part = e->part;
  while (part->zq_head != NULL && part->zq_head->zstate == PC_Z_BACK) {
    e = pc_zq_pop(part);
    e->zstate = PC_Z_NONE;
    seal_finish(part, e, e->zcrypto ? part->p->crypto : NULL, false, 0, e->zrc);
  }
  pc_producer_check_flushes(part->p);
}
