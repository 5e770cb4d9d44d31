// Record formats 1 and 2 (storage/record_codec.cpp): records written before format 2 still read
// back identically, from the codec and from a store whose data directory holds them, and format
// 2's compact forms round-trip, the one without its path only with its key. The codec's other
// rules (compression, damage) are record_codec_test.cpp's; this file does not cover replication
// or the change feed beyond reading entries back.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/keys.hpp"
#include "storage/record_codec.hpp"
#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/stored_edit.hpp"
#include "support/temp_dir.hpp"
#include "util/hex.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

std::string unhex(std::string_view hex) {
  auto bytes = util::from_hex(hex);
  REQUIRE(bytes.has_value());
  return *bytes;
}

std::string repetitive(std::size_t size) {
  std::string text = "[";
  while (text.size() + 8 < size) text += "\"abcd\",";
  return text + "1]";
}

// Format 1 records as the encoder wrote them before format 2 (captured from that build's
// encode_record; do not regenerate), with the versions they hold.
struct V1Fixture {
  const char* name;
  std::string hex;
  Version version;
};

std::vector<V1Fixture> v1_fixtures() {
  std::vector<V1Fixture> fixtures;

  Version live;  // a live version with every field, an expiry, no compression
  live.path = "orders/2024/0001";
  live.uuid = "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5b";
  live.timestamp_ms = 1'700'000'000'001;
  live.data = R"({"item":"tea","qty":2})";
  live.origin_node_id = "node-b";
  live.origin_joined_ms = 1'650'000'000'000;
  live.expires_at_ms = 1'700'000'360'000;
  live.owner_uuid = "owner";
  live.group_uuid = "group";
  live.permissions = 0xABC;
  fixtures.push_back({"live",
                      "0102bc0a0168e5cf8b01000000f4a92b8001000040e6eacf8b010000100000006f72646572732f32"
                      "3032342f303030312400000036623064326135322d386634332d346335352d396131652d30633164"
                      "3265336634613562060000006e6f64652d62050000006f776e65720500000067726f757016000000"
                      "160000007b226974656d223a22746561222c22717479223a327d",
                      live});

  Version tombstone;  // a tombstone under a non-ASCII path
  tombstone.path = "caf\xC3\xA9/\xE6\x97\xA5\xE6\x9C\xAC";
  tombstone.uuid = "00000000-0000-4000-8000-000000000000";
  tombstone.timestamp_ms = 1'700'000'000'002;
  tombstone.origin_node_id = "node-a";
  tombstone.origin_joined_ms = 1;
  tombstone.deleted = true;
  fixtures.push_back({"tombstone",
                      "0101100f0268e5cf8b01000001000000000000000c000000636166c3a92fe697a5e69cac24000000"
                      "30303030303030302d303030302d343030302d383030302d30303030303030303030303006000000"
                      "6e6f64652d6100000000000000000000000000000000",
                      tombstone});

  Version compressed;  // a compressed document, a uuid that is not a uuid, empty strings
  compressed.path = "big";
  compressed.uuid = "u-1";
  compressed.timestamp_ms = 5;
  compressed.data = repetitive(600);
  fixtures.push_back({"compressed",
                      "0104100f050000000000000000000000000000000300000062696703000000752d31000000000000"
                      "000000000000560200001b00000028b52ffd6056018d0000505b2261626364222c315d0100495415"
                      "2e",
                      compressed});
  return fixtures;
}

TEST_CASE("records of format 1 written before format 2 decode to the versions they held", "[storage][codec]") {
  for (const V1Fixture& fixture : v1_fixtures()) {
    INFO(fixture.name);
    const std::string bytes = unhex(fixture.hex);
    REQUIRE(static_cast<std::uint8_t>(bytes[0]) == kRecordFormatV1);
    CHECK(decode_record(bytes).value() == fixture.version);
    // A key passed in changes nothing: a format 1 record always carries its path.
    CHECK(decode_record(bytes, RecordPart::kAll, "another/key").value() == fixture.version);
    Version metadata = fixture.version;
    metadata.data.clear();
    CHECK(decode_record(bytes, RecordPart::kMetadata).value() == metadata);
    auto summary = decode_summary(bytes);
    REQUIRE(summary.is_ok());
    CHECK(summary->path == fixture.version.path);
    CHECK(summary->uuid == fixture.version.uuid);
    CHECK(summary->timestamp_ms == fixture.version.timestamp_ms);
    CHECK(summary->expires_at_ms == fixture.version.expires_at_ms);
    CHECK(summary->deleted == fixture.version.deleted);
    // Every strict prefix is corrupt, and so is a format 1 record with a format 2 flag.
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      CHECK(decode_record(std::string_view(bytes).substr(0, size)).status().code() == Status::Code::kCorruption);
    }
    std::string with_v2_flag = bytes;
    with_v2_flag[1] = static_cast<char>(with_v2_flag[1] | 0x08);
    CHECK(decode_record(with_v2_flag, RecordPart::kAll, fixture.version.path).status().code() ==
          Status::Code::kCorruption);
  }
}

TEST_CASE("format 2 is what the encoder writes, and it is smaller than format 1", "[storage][codec]") {
  const V1Fixture live = v1_fixtures().front();
  const std::string record = encode_record(live.version, {false, 3});
  CHECK(static_cast<std::uint8_t>(record[0]) == kRecordFormatV2);
  CHECK(decode_record(record).value() == live.version);
  const std::string keyed = drop_path(record);
  CHECK(keyed.size() == record.size() - 1 - live.version.path.size());
  // Against format 1: the path and its length gone, the uuid as 16 bytes (24 saved), one-byte
  // lengths (3 saved on each of 4), no second length for a raw document (4 saved).
  CHECK(keyed.size() + 4 + live.version.path.size() + 24 + 12 + 4 == unhex(live.hex).size());
}

std::vector<Version> v2_cases() {
  std::vector<Version> cases;
  Version base = kvs::test::make_version("a", "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5b", 1, "");
  cases.push_back(base);  // empty document, live

  Version tombstone = base;
  tombstone.deleted = true;
  tombstone.expires_at_ms = -7;
  cases.push_back(tombstone);

  Version non_ascii = base;
  non_ascii.path = "caf\xC3\xA9/\xE6\x97\xA5\xE6\x9C\xAC";
  non_ascii.data = "{\"name\":\"\xC3\xA9t\xC3\xA9\"}";
  non_ascii.owner_uuid = "\xE2\x98\x83";
  cases.push_back(non_ascii);

  // Lengths of 128 and more take two varint bytes; the longest key takes them too.
  Version long_path = base;
  long_path.path = std::string(keys::kMaxInlinePath, 'p');
  long_path.data = std::string(200, 'd');
  long_path.origin_node_id = std::string(300, 'n');
  cases.push_back(long_path);
  Version longest = base;
  longest.path = std::string(1024, 'q');
  cases.push_back(longest);

  // Uuids that are not canonical lower-case text are stored as text and come back as sent.
  for (const char* uuid : {"", "u", "6B0D2A52-8F43-4C55-9A1E-0C1D2E3F4A5B", "6b0d2a52_8f43-4c55-9a1e-0c1d2e3f4a5b",
                           "6b0d2a528f434c559a1e0c1d2e3f4a5b0000", "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5g"}) {
    Version odd = base;
    odd.uuid = uuid;
    cases.push_back(odd);
  }
  Version nil = base;
  nil.uuid = "00000000-0000-0000-0000-000000000000";
  cases.push_back(nil);
  Version max = base;
  max.uuid = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  cases.push_back(max);

  Version compressed = base;
  compressed.data = repetitive(5000);
  compressed.expires_at_ms = 1'700'000'000'000;
  cases.push_back(compressed);
  return cases;
}

TEST_CASE("format 2 round-trips every field, with its path or without it given its key", "[storage][codec]") {
  for (const Version& version : v2_cases()) {
    INFO(version.path.substr(0, 20) << " uuid " << version.uuid);
    for (bool compress : {true, false}) {
      const std::string record = encode_record(version, {compress, 3});
      CHECK(decode_record(record).value() == version);
      auto summary = decode_summary(record);
      REQUIRE(summary.is_ok());
      CHECK(summary->path == version.path);
      CHECK(summary->uuid == version.uuid);
      CHECK(summary->deleted == version.deleted);

      if (version.path.size() > keys::kMaxInlinePath) continue;  // stored under a hashed key, with its path
      const std::string keyed = drop_path(record);
      CHECK(keyed.size() < record.size());
      CHECK(drop_path(keyed) == keyed);
      CHECK(decode_record(keyed, RecordPart::kAll, version.path).value() == version);
      Version into = kvs::test::make_version("stale/path", "stale", 9, repetitive(3000));
      REQUIRE(decode_record_into(keyed, into, RecordPart::kAll, version.path).is_ok());
      CHECK(into == version);
      auto keyed_summary = decode_summary(keyed, version.path);
      REQUIRE(keyed_summary.is_ok());
      CHECK(keyed_summary->path == version.path);
      CHECK(keyed_summary->uuid == version.uuid);
      CHECK(keyed_summary->timestamp_ms == version.timestamp_ms);
      CHECK(keyed_summary->expires_at_ms == version.expires_at_ms);
    }
  }
}

TEST_CASE("a record without its path is corrupt without a key that can be its path", "[storage][codec]") {
  Version version = kvs::test::make_version("k", "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5b", 1, "{}");
  const std::string keyed = drop_path(encode_record(version, {true, 3}));
  CHECK(decode_record(keyed).status().code() == Status::Code::kCorruption);
  CHECK(decode_summary(keyed).status().code() == Status::Code::kCorruption);
  // A hashed key (a long path's) is never a path.
  const std::string hashed = keys::path_key(std::string(keys::kMaxInlinePath + 1, 'k'));
  CHECK(decode_record(keyed, RecordPart::kAll, hashed).status().code() == Status::Code::kCorruption);
  for (std::size_t size = 0; size < keyed.size(); ++size) {
    CHECK(decode_record(std::string_view(keyed).substr(0, size), RecordPart::kAll, "k").status().code() ==
          Status::Code::kCorruption);
  }
  CHECK(decode_record(keyed + "x", RecordPart::kAll, "k").status().code() == Status::Code::kCorruption);
  // A length that runs past five varint bytes or 2^32 is refused, not wrapped.
  std::string overlong = encode_record(version, {true, 3});
  const std::size_t path_length_at = 20;
  overlong.replace(path_length_at, 1, "\xFF\xFF\xFF\xFF\x7F");
  CHECK(decode_record(overlong).status().code() == Status::Code::kCorruption);
  overlong.replace(path_length_at, 5, "\xFF\xFF\xFF\xFF\xFF\x01");
  CHECK(decode_record(overlong).status().code() == Status::Code::kCorruption);
}

// Writes `fixtures` into the store's directory as format 1 records under their paths (versions)
// and marks the directory as format 1, as a build before format 2 left it (revisions kept by
// path, as before the revision log).
void plant_v1_records(const StoreOptions& options, const std::vector<V1Fixture>& fixtures) {
  {
    auto store = open_store(options);
    for (const V1Fixture& fixture : fixtures) require_put(*store, fixture.version);
  }
  rewrite_as_format_2(options.dir);
  for (const V1Fixture& fixture : fixtures) {
    kvs::test::edit_stored_value(options.dir, "versions", fixture.version.path,
                                 [&](std::string) { return unhex(fixture.hex); });
  }
  kvs::test::edit_stored_value(options.dir, "meta", "format_version", [](std::string old) {
    CHECK(old == "2");
    return std::string("1");
  });
}

TEST_CASE("a store written before format 2 opens, reads its records and moves to the current format version",
          "[storage][codec]") {
  TempDir dir;
  auto options = options_in(dir);
  const std::vector<V1Fixture> fixtures = v1_fixtures();
  plant_v1_records(options, fixtures);

  auto store = open_store(options);
  CHECK(*store->get_meta("format_version") == std::optional<std::string>("4"));
  for (const V1Fixture& fixture : fixtures) {
    INFO(fixture.name);
    CHECK(require_get(*store, fixture.version.path) == fixture.version);
    Version into;
    auto found = store->get(fixture.version.path, into);
    REQUIRE(found.is_ok());
    CHECK(*found);
    CHECK(into == fixture.version);
  }
  std::vector<Version> scanned;
  REQUIRE(store->scan("", "", [&](const Version& version) {
    scanned.push_back(version);
    return true;
  }).is_ok());
  REQUIRE(scanned.size() == fixtures.size());
  std::vector<Version> since;
  REQUIRE(store->scan_since(0, [&](const Version& version) {
    since.push_back(version);
    return true;
  }).is_ok());
  CHECK(since.size() == fixtures.size());

  // Overwriting a format 1 record (its index entries found through it) writes format 2.
  Version next = fixtures.front().version;
  next.uuid = "7b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5b";
  next.timestamp_ms += 1;
  next.expires_at_ms.reset();
  require_put(*store, next);
  CHECK(require_get(*store, next.path) == next);
  CHECK(store->expired(std::numeric_limits<std::int64_t>::max(), 10)->empty());
  auto history = store->history(next.path);
  REQUIRE(history.is_ok());
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].version == next);
}

TEST_CASE("short and long paths read back alike through every read of the store", "[storage][codec]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  const std::string shared(keys::kMaxInlinePath, 'x');
  std::vector<Version> written;
  for (std::string path : {std::string("a"), std::string("caf\xC3\xA9"), shared, shared + "/2", shared + "/1"}) {
    Version version = kvs::test::make_version(path, "6b0d2a52-8f43-4c55-9a1e-0c1d2e3f4a5" + std::to_string(written.size()),
                                              10 + static_cast<std::int64_t>(written.size()), "{\"n\":1}");
    require_put(*store, version);
    written.push_back(version);
  }
  Version tombstone = written[1];
  tombstone.deleted = true;
  tombstone.data.clear();
  tombstone.timestamp_ms = 100;
  require_put(*store, tombstone);
  written[1] = tombstone;

  for (const Version& version : written) {
    INFO(version.path.size());
    CHECK(require_get(*store, version.path) == version);
    auto history = store->history(version.path);
    REQUIRE(history.is_ok());
    REQUIRE_FALSE(history->empty());
    CHECK(history->front().version == version);
  }
  std::vector<std::string> paths;
  REQUIRE(store->scan("", "", [&](const Version& version) {
    paths.push_back(version.path);
    return true;
  }).is_ok());
  CHECK(paths == std::vector<std::string>{"a", "caf\xC3\xA9", shared, shared + "/1", shared + "/2"});
  std::size_t since = 0;
  REQUIRE(store->scan_since(0, [&](const Version&) {
    ++since;
    return true;
  }).is_ok());
  CHECK(since == written.size());
  auto page = store->read_changes(0, 100, std::size_t{1} << 20);
  REQUIRE(page.is_ok());
  REQUIRE_FALSE(page->entries.empty());
  CHECK(page->entries.back().version.path == tombstone.path);
  CHECK(page->entries.back().version.deleted);
}

}  // namespace
}  // namespace kvs::storage::test
