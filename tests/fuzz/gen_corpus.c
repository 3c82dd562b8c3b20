/* Writes the seed corpus for the fuzz targets:
 *   gen_corpus <dir>  ->  <dir>/decoder/<name>, <dir>/proto/<name>
 * The committed tests/fuzz/corpus/ was produced by this program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/frame.h"

static const char *out_dir;

static void write_file(const char *sub, const char *name, const uint8_t *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", out_dir, sub);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

/* Decoder seeds start with a 4-byte split seed. */
static void decoder_seed(const char *name, uint32_t seed, const pc_buf *stream) {
  pc_buf b = {0};
  uint8_t s[4];
  pc_put_u32be(s, seed);
  if (pc_buf_append(&b, s, 4) || pc_buf_append(&b, stream->data, stream->len))
    exit(1);
  write_file("decoder", name, b.data, b.len);
  pc_buf_free(&b);
}

static void proto_seed(const char *name, uint8_t selector, const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *p = malloc(n + 1);
  p[0] = selector;
  protobuf_c_message_pack(m, p + 1);
  write_file("proto", name, p, n + 1);
  free(p);
}

static void append_send(pc_buf *stream, uint64_t seq, const Pulsarc__MessageMetadata *md,
                        const uint8_t *payload, size_t len) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  send.producer_id = 1;
  send.sequence_id = seq;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &send;
  pc_buf f = {0};
  size_t start;
  if (pc_buf_reserve(&f, 64) || (f.len = 64, pc_buf_append(&f, payload, len)) ||
      pc_frame_seal_payload(&f, 64, &cmd, md, &start) ||
      pc_buf_append(stream, f.data + start, f.len - start))
    exit(1);
  pc_buf_free(&f);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  mkdir(out_dir, 0755);

  Pulsarc__BaseCommand ping = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandPing ping_body = PULSARC__COMMAND_PING__INIT;
  ping.type = PULSARC__BASE_COMMAND__TYPE__PING;
  ping.ping = &ping_body;

  Pulsarc__BaseCommand conn = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandConnect c = PULSARC__COMMAND_CONNECT__INIT;
  Pulsarc__FeatureFlags ff = PULSARC__FEATURE_FLAGS__INIT;
  c.client_version = "pulsarc-fuzz";
  c.auth_method_name = "token";
  c.has_auth_data = 1;
  c.auth_data.data = (uint8_t *)"eyJhbGciOi.x.y";
  c.auth_data.len = 14;
  c.has_protocol_version = 1;
  c.protocol_version = 19;
  ff.has_supports_auth_refresh = 1;
  ff.supports_auth_refresh = 1;
  c.feature_flags = &ff;
  conn.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  conn.connect = &c;

  Pulsarc__BaseCommand prod = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandProducer p = PULSARC__COMMAND_PRODUCER__INIT;
  p.topic = "persistent://public/default/t";
  p.producer_id = 3;
  p.request_id = 4;
  p.producer_name = "fuzz-producer";
  prod.type = PULSARC__BASE_COMMAND__TYPE__PRODUCER;
  prod.producer = &p;

  Pulsarc__BaseCommand receipt = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSendReceipt r = PULSARC__COMMAND_SEND_RECEIPT__INIT;
  Pulsarc__MessageIdData mid = PULSARC__MESSAGE_ID_DATA__INIT;
  mid.ledger_id = 12;
  mid.entry_id = 34;
  r.producer_id = 3;
  r.sequence_id = 9;
  r.message_id = &mid;
  receipt.type = PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT;
  receipt.send_receipt = &r;

  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = "p";
  md.sequence_id = 0;
  md.publish_time = 1700000000000ull;

  pc_buf s = {0};
  /* Single frames. */
  pc_frame_append_command(&s, &ping);
  decoder_seed("ping", 1, &s);
  pc_buf_reset(&s);
  pc_frame_append_command(&s, &conn);
  decoder_seed("connect", 2, &s);
  pc_buf_reset(&s);
  append_send(&s, 0, &md, (const uint8_t *)"hello", 5);
  decoder_seed("send", 3, &s);

  /* A batch of three entries. */
  pc_buf body = {0};
  Pulsarc__SingleMessageMetadata smd = PULSARC__SINGLE_MESSAGE_METADATA__INIT;
  smd.partition_key = "k";
  pc_batch_append_plain(&body, 10, "one", 3);
  pc_batch_append(&body, &smd, "two", 3);
  pc_batch_append_plain(&body, 12, "three", 5);
  Pulsarc__MessageMetadata bmd = md;
  bmd.sequence_id = 10;
  bmd.has_num_messages_in_batch = 1;
  bmd.num_messages_in_batch = 3;
  pc_buf_reset(&s);
  append_send(&s, 10, &bmd, body.data, body.len);
  decoder_seed("batch", 4, &s);

  /* A mixed stream, split finely (odd seed = small pieces). */
  pc_buf_reset(&s);
  pc_frame_append_command(&s, &conn);
  pc_frame_append_command(&s, &prod);
  append_send(&s, 10, &bmd, body.data, body.len);
  pc_frame_append_command(&s, &receipt);
  pc_frame_append_command(&s, &ping);
  decoder_seed("stream", 0x10001, &s);
  decoder_seed("stream-small-limit", 0x10000, &s);

  /* Proto seeds: selector 0..3 = BaseCommand, MessageMetadata,
   * SingleMessageMetadata, BrokerEntryMetadata. */
  proto_seed("connect", 0, &conn.base);
  proto_seed("producer", 0, &prod.base);
  proto_seed("receipt", 0, &receipt.base);
  proto_seed("metadata", 1, &bmd.base);
  smd.payload_size = 3;
  smd.has_sequence_id = 1;
  smd.sequence_id = 11;
  proto_seed("single", 2, &smd.base);
  Pulsarc__BrokerEntryMetadata bem = PULSARC__BROKER_ENTRY_METADATA__INIT;
  bem.has_broker_timestamp = 1;
  bem.broker_timestamp = 1700000000123ull;
  bem.has_index = 1;
  bem.index = 77;
  proto_seed("broker-entry", 3, &bem.base);

  pc_buf_free(&s);
  pc_buf_free(&body);
  return 0;
}
