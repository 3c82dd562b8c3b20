/* Message ids as values: text form, order, and the official clients' byte
 * form (the protocol's MessageIdData), so an id stored by one client can be
 * read by another. [any] thread; nothing here touches a producer. */
#include <stdio.h>
#include <string.h>

#include "common/err_detail.h"
#include "pulsarc.pb-c.h"
#include "pulsarc/pulsarc.h"

int pulsarc_msg_id_format(const pulsarc_msg_id_t *id, char *buf, size_t len) {
  if (id == NULL)
    return -1;
  return snprintf(buf, len, "%lld:%lld:%d:%d", (long long)id->ledger_id, (long long)id->entry_id,
                  id->partition, id->batch_index);
}

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

int pulsarc_msg_id_compare(const pulsarc_msg_id_t *a, const pulsarc_msg_id_t *b) {
  if (a == NULL || b == NULL)
    return (a != NULL) - (b != NULL);
  int c;
  if ((c = cmp_i64(a->ledger_id, b->ledger_id)) != 0 ||
      (c = cmp_i64(a->entry_id, b->entry_id)) != 0 ||
      (c = cmp_i64(a->partition, b->partition)) != 0)
    return c;
  return cmp_i64(a->batch_index, b->batch_index);
}

/* Optional fields are written only when they differ from the protocol's
 * defaults, as the official C++ client (and so the Python one) does: equal
 * ids then serialize to equal bytes in every client. The ledger and entry
 * ids are uint64 on the wire; the duplicate marker -1 travels as 2^64-1 and
 * comes back as -1. */
int pulsarc_msg_id_serialize(const pulsarc_msg_id_t *id, void *buf, size_t len) {
  if (id == NULL || (buf == NULL && len > 0))
    return -1;
  Pulsarc__MessageIdData d = PULSARC__MESSAGE_ID_DATA__INIT;
  Pulsarc__MessageIdData first = PULSARC__MESSAGE_ID_DATA__INIT;
  d.ledger_id = (uint64_t)id->ledger_id;
  d.entry_id = (uint64_t)id->entry_id;
  d.has_partition = id->partition != -1;
  d.partition = id->partition;
  d.has_batch_index = id->batch_index != -1;
  d.batch_index = id->batch_index;
  d.has_batch_size = id->batch_size != 0;
  d.batch_size = id->batch_size;
  if (id->first_chunk_ledger_id != -1 || id->first_chunk_entry_id != -1) {
    first.ledger_id = (uint64_t)id->first_chunk_ledger_id;
    first.entry_id = (uint64_t)id->first_chunk_entry_id;
    first.has_partition = d.has_partition;
    first.partition = id->partition;
    d.first_chunk_message_id = &first;
  }
  size_t need = pulsarc__message_id_data__get_packed_size(&d);
  if (need > (size_t)INT32_MAX)
    return -1;
  if (need <= len)
    pulsarc__message_id_data__pack(&d, buf);
  return (int)need;
}

pulsarc_err_t pulsarc_msg_id_deserialize(const void *buf, size_t len, pulsarc_msg_id_t *out) {
  if (buf == NULL || out == NULL) {
    pc_err_detail_set("pulsarc_msg_id_deserialize: %s is NULL", buf == NULL ? "buf" : "out");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  Pulsarc__MessageIdData *d = pulsarc__message_id_data__unpack(NULL, len, buf);
  if (d == NULL) {
    pc_err_detail_set("%zu bytes are not a serialized message id (MessageIdData with ledger "
                      "and entry ids)",
                      len);
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  pulsarc_msg_id_t id;
  memset(&id, 0, sizeof id);
  id.ledger_id = (int64_t)d->ledger_id;
  id.entry_id = (int64_t)d->entry_id;
  id.partition = d->has_partition ? d->partition : -1;
  id.batch_index = d->has_batch_index ? d->batch_index : -1;
  id.batch_size = d->has_batch_size ? d->batch_size : 0;
  id.first_chunk_ledger_id = -1;
  id.first_chunk_entry_id = -1;
  if (d->first_chunk_message_id != NULL) {
    id.first_chunk_ledger_id = (int64_t)d->first_chunk_message_id->ledger_id;
    id.first_chunk_entry_id = (int64_t)d->first_chunk_message_id->entry_id;
  }
  pulsarc__message_id_data__free_unpacked(d, NULL);
  *out = id;
  return PULSARC_OK;
}
