#include "storage/record_codec.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "storage/keys.hpp"

namespace kvs::storage {
namespace {

Version sample(std::string data) {
  Version version;
  version.path = "orders/2024/0001";
  version.uuid = "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5b";
  version.timestamp_ms = 1'700'000'000'001;
  version.data = std::move(data);
  version.origin_node_id = "node-b";
  version.origin_joined_ms = 1'650'000'000'000;
  version.expires_at_ms = -42;
  version.owner_uuid = "owner";
  version.group_uuid = "group";
  version.permissions = 0xABC;
  return version;
}

std::string repetitive(std::size_t size) {
  std::string text = "[";
  while (text.size() + 8 < size) text += "\"abcd\",";
  return text + "1]";
}

TEST_CASE("a record round-trips every field with compression on and off", "[storage][codec]") {
  for (bool compress : {true, false}) {
    for (const std::string& data : {std::string(), std::string("{}"), repetitive(4000)}) {
      Version version = sample(data);
      CHECK(decode_record(encode_record(version, {compress, 3})).value() == version);
      version.deleted = true;
      version.expires_at_ms.reset();
      CHECK(decode_record(encode_record(version, {compress, 19})).value() == version);
    }
  }
}

TEST_CASE("decoding into a used Version overwrites every field, the document too", "[storage][codec]") {
  for (bool compress : {true, false}) {
    Version stale = sample(repetitive(4000));
    stale.deleted = true;
    Version fresh = sample("{}");
    fresh.path = "a";
    fresh.uuid = "u";
    fresh.origin_node_id.clear();
    fresh.owner_uuid.clear();
    fresh.group_uuid = "g";
    fresh.expires_at_ms.reset();
    fresh.permissions = 0x001;
    Version out = stale;
    REQUIRE(decode_record_into(encode_record(fresh, {compress, 3}), out).is_ok());
    CHECK(out == fresh);

    // kMetadata clears the document left from the last decode rather than keeping it.
    out = stale;
    REQUIRE(decode_record_into(encode_record(fresh, {compress, 3}), out, RecordPart::kMetadata).is_ok());
    CHECK(out.data.empty());
    out.data = fresh.data;
    CHECK(out == fresh);

    Version whole = sample(repetitive(4000));
    out = fresh;
    REQUIRE(decode_record_into(encode_record(whole, {compress, 3}), out).is_ok());
    CHECK(out == whole);
  }
}

TEST_CASE("decoding a damaged record into a Version reports kCorruption", "[storage][codec]") {
  std::string bytes = encode_record(sample("{\"a\":1}"), {false, 3});
  Version out;
  Status truncated = decode_record_into(std::string_view(bytes).substr(0, bytes.size() - 3), out);
  CHECK(truncated.code() == Status::Code::kCorruption);
  bytes.push_back('x');
  CHECK(decode_record_into(bytes, out).code() == Status::Code::kCorruption);
}

TEST_CASE("a document is compressed only when it is at least kCompressMinBytes long and shrinks by 1/8",
          "[storage][codec]") {
  const std::string big = repetitive(4000);
  auto compressed = encode_record(sample(big), {true, 3});
  CHECK(decode_summary(compressed)->compressed);
  CHECK(compressed.size() < big.size() / 4);

  CHECK_FALSE(decode_summary(encode_record(sample(big), {false, 3}))->compressed);
  CHECK_FALSE(decode_summary(encode_record(sample(repetitive(kCompressMinBytes - 1)), {true, 3}))->compressed);
  CHECK(decode_summary(encode_record(sample(repetitive(kCompressMinBytes + 16)), {true, 3}))->compressed);
  std::string noise;
  std::uint32_t state = 12345;
  for (std::size_t i = 0; i < kCompressMinBytes * 2; ++i) {
    state = state * 1103515245 + 12345;
    noise.push_back(static_cast<char>(state >> 16));  // a byte of noise: zstd cannot shrink it
  }
  CHECK_FALSE(decode_summary(encode_record(sample(noise), {true, 3}))->compressed);
}

TEST_CASE("a record summary reads the index fields without the document", "[storage][codec]") {
  Version version = sample(repetitive(1000));
  std::string record = encode_record(version, {true, 3});
  auto summary = decode_summary(record);
  REQUIRE(summary.is_ok());
  CHECK(summary->path == version.path);
  CHECK(summary->uuid == version.uuid);
  CHECK(summary->timestamp_ms == version.timestamp_ms);
  CHECK(summary->expires_at_ms == version.expires_at_ms);
  CHECK_FALSE(summary->deleted);
}

TEST_CASE("a metadata-only decode gives every field but the document, compressed or raw", "[storage][codec]") {
  for (bool compress : {true, false}) {
    for (bool deleted : {false, true}) {
      Version version = sample(deleted ? std::string() : repetitive(3000));
      version.deleted = deleted;
      std::string record = encode_record(version, {compress, 3});
      auto metadata = decode_record(record, RecordPart::kMetadata);
      REQUIRE(metadata.is_ok());
      CHECK(metadata->data.empty());
      Version expected = version;
      expected.data.clear();
      CHECK(*metadata == expected);
      CHECK(decode_record(record, RecordPart::kAll).value() == version);
    }
  }
}

TEST_CASE("a metadata-only decode checks the record's structure but never opens the zstd frame",
          "[storage][codec]") {
  std::string record = encode_record(sample(repetitive(2000)), {true, 3});
  REQUIRE(decode_summary(record)->compressed);
  for (std::size_t size = 0; size < record.size(); ++size) {
    CHECK(decode_record(record.substr(0, size), RecordPart::kMetadata).status().code() ==
          Status::Code::kCorruption);
  }
  CHECK(decode_record(record + "x", RecordPart::kMetadata).status().code() == Status::Code::kCorruption);
  // Overwrite the frame's magic number: a full decode must refuse the record, while its
  // metadata still reads.
  const std::string magic = "\x28\xB5\x2F\xFD";  // zstd frame magic, little-endian 0xFD2FB528
  std::size_t at = record.find(magic);
  REQUIRE(at != std::string::npos);
  std::string bad_frame = record;
  bad_frame.replace(at, magic.size(), std::string(magic.size(), '\0'));
  CHECK(decode_record(bad_frame).status().code() == Status::Code::kCorruption);
  auto metadata = decode_record(bad_frame, RecordPart::kMetadata);
  REQUIRE(metadata.is_ok());
  CHECK(*metadata == decode_record(record, RecordPart::kMetadata).value());
}

TEST_CASE("a record begins with its format version byte and an unknown one is corruption", "[storage][codec]") {
  std::string record = encode_record(sample("{}"), {true, 3});
  CHECK(static_cast<std::uint8_t>(record[0]) == kRecordFormatV2);
  record[0] = 9;
  auto decoded = decode_record(record);
  CHECK(decoded.status().code() == Status::Code::kCorruption);
  CHECK(decoded.status().message().find("format version 9") != std::string::npos);
}

TEST_CASE("a damaged record decodes to kCorruption, never to garbage", "[storage][codec]") {
  std::string record = encode_record(sample(repetitive(2000)), {true, 3});
  for (std::size_t size = 0; size < record.size(); ++size) {
    CHECK(decode_record(record.substr(0, size)).status().code() == Status::Code::kCorruption);
  }
  CHECK(decode_record(record + "x").status().code() == Status::Code::kCorruption);
  std::string bad_flags = record;
  bad_flags[1] = static_cast<char>(bad_flags[1] | 0x80);
  CHECK(decode_record(bad_flags).status().code() == Status::Code::kCorruption);
  std::string bad_frame = record;
  bad_frame[bad_frame.size() - 5] = static_cast<char>(bad_frame[bad_frame.size() - 5] ^ 0x5A);
  auto decoded = decode_record(bad_frame);
  // A flipped byte in a zstd frame is caught by its checksum or its structure, or (if the
  // byte is in a literal run) yields a different document of the right length; never a crash.
  if (!decoded.is_ok()) CHECK(decoded.status().code() == Status::Code::kCorruption);
}

TEST_CASE("a versions record carries a revision reference that decoding a Version skips", "[storage][codec]") {
  const std::uint64_t kMax = ~std::uint64_t{0};
  for (const RevisionRef& ref : {RevisionRef{1, 1, 1}, RevisionRef{300, 1'000'000, 17}, RevisionRef{kMax, kMax, kMax}}) {
    for (bool short_path : {true, false}) {
      Version version = sample(repetitive(2000));
      std::string record = encode_record(version, {true, 3});
      std::string key;
      if (short_path) {
        record = drop_path(record);
        key = version.path;
      }
      const std::string with_ref = with_revision_ref(record, ref);
      INFO(ref.revision << " " << short_path);
      CHECK(decode_revision_ref(with_ref, key).value() == std::optional<RevisionRef>(ref));
      CHECK(decode_revision_ref(record, key).value() == std::nullopt);
      CHECK(decode_record(with_ref, RecordPart::kAll, key).value() == version);
      CHECK(decode_summary(with_ref, key).value().revision_ref == std::optional<RevisionRef>(ref));
      CHECK(decode_summary(with_ref, key).value().uuid == version.uuid);
      // Neither adds to a record that has one.
      CHECK(with_revision_ref(with_ref, RevisionRef{2, 2, 2}) == with_ref);
      CHECK(drop_path(with_ref) == with_ref);
      for (std::size_t size = 0; size < with_ref.size(); ++size) {
        CHECK(decode_record(with_ref.substr(0, size), RecordPart::kAll, key).status().code() ==
              Status::Code::kCorruption);
      }
    }
  }
  // A varint64 past 64 bits, or longer than 10 bytes, is corrupt.
  std::string record = with_revision_ref(encode_record(sample("{}"), {false, 3}), RevisionRef{kMax, 1, 1});
  const std::size_t ref_at = 20 + 8;  // the fixed fields and expires_at_ms
  REQUIRE(record.substr(ref_at, 10) == std::string(9, '\xFF') + '\x01');
  std::string past = record;
  past[ref_at + 9] = '\x02';
  CHECK(decode_revision_ref(past).status().code() == Status::Code::kCorruption);
  std::string longer = record;
  longer[ref_at + 9] = '\x81';
  CHECK(decode_revision_ref(longer).status().code() == Status::Code::kCorruption);
}

TEST_CASE("expiry keys sort by time, negative times first", "[storage][keys]") {
  CHECK(keys::expiry_key(-10, "a") < keys::expiry_key(0, "a"));
  CHECK(keys::expiry_key(0, "z") < keys::expiry_key(1, "a"));
  CHECK(keys::expiry_key(255, "a") < keys::expiry_key(256, "a"));
  CHECK(keys::expiry_time(keys::expiry_key(-10, "a")) == -10);
  CHECK(keys::expiry_time(keys::expiry_key(1'700'000'000'000, "a")) == 1'700'000'000'000);
}

TEST_CASE("a path longer than the inline limit gets a fixed-size hashed key", "[storage][keys]") {
  std::string shared(keys::kMaxInlinePath, 'a');
  std::string one = shared + "1";
  std::string two = shared + "2";
  CHECK(keys::path_key(shared) == shared);
  CHECK(keys::path_key(one).size() == keys::kHashedKeySize);
  CHECK(keys::path_key(one) != keys::path_key(two));
  CHECK(keys::path_key(one).substr(0, keys::kMaxInlinePath) == shared);
  CHECK(keys::is_hashed(keys::path_key(one)));
  CHECK_FALSE(keys::is_hashed(keys::path_key(shared)));
  CHECK(keys::revision_key(keys::path_key(one), 7).size() < 511);
  CHECK(keys::tindex_key(1'700'000'000'000, keys::path_key(std::string(1024, 'x'))).size() < 511);
}

}  // namespace
}  // namespace kvs::storage
