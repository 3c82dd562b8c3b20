// Message ids as values (order, text, bytes) and the version functions.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "pulsarc/pulsarc.h"

namespace {

pulsarc_msg_id_t Id(int64_t ledger, int64_t entry, int32_t partition = -1, int32_t batch_index = -1,
                    int32_t batch_size = 0, int64_t first_ledger = -1, int64_t first_entry = -1) {
  pulsarc_msg_id_t id;
  std::memset(&id, 0, sizeof id);
  id.ledger_id = ledger;
  id.entry_id = entry;
  id.partition = partition;
  id.batch_index = batch_index;
  id.batch_size = batch_size;
  id.first_chunk_ledger_id = first_ledger;
  id.first_chunk_entry_id = first_entry;
  return id;
}

std::vector<uint8_t> Hex(const std::string &h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<uint8_t> Serialize(const pulsarc_msg_id_t &id) {
  int n = pulsarc_msg_id_serialize(&id, nullptr, 0);
  EXPECT_GT(n, 0);
  std::vector<uint8_t> buf(n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_EQ(pulsarc_msg_id_serialize(&id, buf.data(), buf.size()), n);
  return buf;
}

void ExpectSameId(const pulsarc_msg_id_t &a, const pulsarc_msg_id_t &b) {
  EXPECT_EQ(a.ledger_id, b.ledger_id);
  EXPECT_EQ(a.entry_id, b.entry_id);
  EXPECT_EQ(a.partition, b.partition);
  EXPECT_EQ(a.batch_index, b.batch_index);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.first_chunk_ledger_id, b.first_chunk_ledger_id);
  EXPECT_EQ(a.first_chunk_entry_id, b.first_chunk_entry_id);
}

TEST(MsgId, SizeNeverChanges) {
  // Also pinned by a static assertion in the header; this names the
  // promise where a reader of the tests looks for it.
  EXPECT_EQ(sizeof(pulsarc_msg_id_t), 80u);
  EXPECT_EQ(sizeof(((pulsarc_msg_id_t *)nullptr)->reserved), 32u);
}

// Vectors made by the official Python client, pulsar-client 3.13.0 (which
// wraps the official C++ client), with
//   ~/.cache/pulsarc/venv/bin/python -c 'import pulsar;
//     print(pulsar.MessageId(partition, ledger, entry, batch).serialize().hex())'
// and, for the last two rows (the Python constructor cannot set batch_size
// or a first chunk), bytes that pulsar.MessageId.deserialize(b).serialize()
// gives back unchanged.
struct Vector {
  const char *hex;
  pulsarc_msg_id_t id;
};

std::vector<Vector> OfficialVectors() {
  return {
      {"08001000", Id(0, 0)},
      {"087b102d", Id(123, 45)},
      {"08959aef3a10071803", Id(123456789, 7, 3)},
      {"0801100218002005", Id(1, 2, 0, 5)},
      // MessageId(-1, -1, -1, -1), also MessageId.earliest.
      {"08ffffffffffffffffff0110ffffffffffffffffff01", Id(-1, -1)},
      {"0880808080802010858080802020e707", Id(int64_t{1} << 40, (int64_t{1} << 33) + 5, -1, 999)},
      // MessageId.latest.
      {"08ffffffffffffffff7f10ffffffffffffffff7f", Id(INT64_MAX, INT64_MAX)},
      // Round-tripped by the official client: batch_size, and a chunked id.
      {"0807100818022003300a", Id(7, 8, 2, 3, 10)},
      {"0809101418023a06080910111802", Id(9, 20, 2, -1, 0, 9, 17)},
  };
}

TEST(MsgId, SerializeMatchesOfficialClientBytes) {
  for (const Vector &v : OfficialVectors()) {
    SCOPED_TRACE(v.hex);
    EXPECT_EQ(Serialize(v.id), Hex(v.hex));
  }
}

TEST(MsgId, DeserializesOfficialClientBytes) {
  for (const Vector &v : OfficialVectors()) {
    SCOPED_TRACE(v.hex);
    std::vector<uint8_t> b = Hex(v.hex);
    pulsarc_msg_id_t got;
    std::memset(&got, 0xab, sizeof got);
    ASSERT_EQ(pulsarc_msg_id_deserialize(b.data(), b.size(), &got), PULSARC_OK);
    ExpectSameId(got, v.id);
    for (uint8_t r : got.reserved)
      EXPECT_EQ(r, 0);
  }
}

TEST(MsgId, RoundTrip) {
  std::vector<pulsarc_msg_id_t> ids = {
      Id(0, 0),
      Id(1, 2, 3, 4, 5),
      Id(-1, -1, 7),
      Id(42, 0, -1, 0, 1),
      Id(5, 9, 0, -1, 0, 5, 3),
      Id(INT64_MAX, INT64_MAX, INT32_MAX, INT32_MAX),
  };
  for (const pulsarc_msg_id_t &id : ids) {
    std::vector<uint8_t> b = Serialize(id);
    pulsarc_msg_id_t back;
    ASSERT_EQ(pulsarc_msg_id_deserialize(b.data(), b.size(), &back), PULSARC_OK);
    ExpectSameId(back, id);
  }
}

TEST(MsgId, SerializeReportsNeededSizeLikeSnprintf) {
  pulsarc_msg_id_t id = Id(123456789, 7, 3);
  int n = pulsarc_msg_id_serialize(&id, nullptr, 0);
  ASSERT_EQ(n, 9);
  std::vector<uint8_t> small(static_cast<size_t>(n) - 1, 0xee);
  EXPECT_EQ(pulsarc_msg_id_serialize(&id, small.data(), small.size()), n);
  for (uint8_t c : small)
    EXPECT_EQ(c, 0xee) << "wrote into a buffer that was too small";
  EXPECT_EQ(pulsarc_msg_id_serialize(nullptr, small.data(), small.size()), -1);
  EXPECT_EQ(pulsarc_msg_id_serialize(&id, nullptr, 4), -1);
}

TEST(MsgId, MalformedBytesRejected) {
  pulsarc_msg_id_t keep = Id(1, 2, 3, 4);
  pulsarc_msg_id_t out = keep;
  std::vector<std::vector<uint8_t>> bad = {
      {},                // empty: no ledger, no entry
      Hex("0801"),       // entry_id missing
      Hex("1002"),       // ledger_id missing
      Hex("08"),         // truncated varint key
      Hex("08ffff"),     // varint runs off the end
      Hex("0801100218"), // field 3 without a value
      Hex("08011002"
          "3a0508"), // sub-message longer than the buffer
      Hex("08011002"
          "3a020801"), // first chunk without entry_id
      Hex("0f0102"),   // wire type 7 does not exist
  };
  for (size_t i = 0; i < bad.size(); i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(pulsarc_msg_id_deserialize(bad[i].data(), bad[i].size(), &out),
              PULSARC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(pulsarc_last_error_text()), "");
    ExpectSameId(out, keep);
  }
  std::vector<uint8_t> good = Hex("08001000");
  EXPECT_EQ(pulsarc_msg_id_deserialize(nullptr, 4, &out), PULSARC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pulsarc_msg_id_deserialize(good.data(), good.size(), nullptr),
            PULSARC_ERR_INVALID_ARGUMENT);
}

TEST(MsgId, CompareOrdersLedgerEntryPartitionBatch) {
  // Sorted ascending; each differs from the previous in one field, with a
  // later field going the other way, so only the field order explains it.
  std::vector<pulsarc_msg_id_t> sorted = {
      Id(-1, -1),     Id(0, 5, 9, 9), Id(1, 0, 9, 9),   Id(1, 1, -1, 9),  Id(1, 1, 0, -1),
      Id(1, 1, 0, 0), Id(1, 1, 0, 1), Id(1, 2, -1, -1), Id(2, 0, -1, -1), Id(INT64_MAX, 0),
  };
  for (size_t i = 0; i < sorted.size(); i++)
    for (size_t j = 0; j < sorted.size(); j++) {
      int c = pulsarc_msg_id_compare(&sorted[i], &sorted[j]);
      if (i < j)
        EXPECT_LT(c, 0) << i << " vs " << j;
      else if (i > j)
        EXPECT_GT(c, 0) << i << " vs " << j;
      else
        EXPECT_EQ(c, 0) << i;
    }
  // batch_size and the first chunk do not take part.
  pulsarc_msg_id_t a = Id(3, 4, 0, 1, 10), b = Id(3, 4, 0, 1, 20, 3, 1);
  EXPECT_EQ(pulsarc_msg_id_compare(&a, &b), 0);
  EXPECT_LT(pulsarc_msg_id_compare(nullptr, &a), 0);
  EXPECT_GT(pulsarc_msg_id_compare(&a, nullptr), 0);
  EXPECT_EQ(pulsarc_msg_id_compare(nullptr, nullptr), 0);
}

TEST(MsgId, FormatMovedUnchanged) {
  pulsarc_msg_id_t id = Id(12, 34, 1, 2);
  char buf[64];
  EXPECT_EQ(pulsarc_msg_id_format(&id, buf, sizeof buf), 9);
  EXPECT_STREQ(buf, "12:34:1:2");
  EXPECT_EQ(pulsarc_msg_id_format(nullptr, buf, sizeof buf), -1);
}

TEST(Version, FunctionMatchesHeaderMacros) {
  EXPECT_STREQ(pulsarc_version(), PULSARC_VERSION_STRING);
  std::string built = std::to_string(PULSARC_VERSION_MAJOR) + "." +
                      std::to_string(PULSARC_VERSION_MINOR) + "." +
                      std::to_string(PULSARC_VERSION_PATCH);
  EXPECT_EQ(built, PULSARC_VERSION_STRING);
  EXPECT_EQ(PULSARC_VERSION_MAJOR, 1);
  EXPECT_EQ(PULSARC_VERSION_MINOR, 0);
  EXPECT_EQ(PULSARC_VERSION_PATCH, 0);
}

} // namespace
