// The revision log (storage/revision_log.hpp): its entry format, each path's chain read back
// through Store::history and Store::revision, the sweep that bounds it, and the move of
// revisions kept by path (on-disk format "2") to the log.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/revision_log.hpp"
#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

std::vector<std::uint64_t> revision_numbers(const Store& store, std::string_view path) {
  auto history = store.history(path);
  INFO(history.status().to_string());
  REQUIRE(history.is_ok());
  std::vector<std::uint64_t> numbers;
  for (const StoredRevision& revision : *history) numbers.push_back(revision.revision);
  return numbers;
}

std::string uuid_of(std::string_view path, int n) { return std::string(path) + "-" + std::to_string(n); }

// Writes revisions first..last of `path`, each with a uuid and document that name it.
void write_revisions(Store& store, std::string_view path, int first, int last) {
  for (int n = first; n <= last; ++n) {
    require_put(store, make_version(std::string(path), uuid_of(path, n), n, std::to_string(n)));
  }
}

TEST_CASE("a revision log entry round-trips and a malformed one is corrupt", "[storage][revisions]") {
  const std::string record = encode_record(make_version("a/b", "u1", 5, "{\"x\":1}"), CodecOptions{});
  const std::string bytes = encode_revision_entry(7, 12345678901234ULL, record);
  auto entry = decode_revision_entry(bytes);
  REQUIRE(entry.is_ok());
  CHECK(entry->revision == 7);
  CHECK(entry->previous == 12345678901234ULL);
  CHECK(entry->record == record);

  CHECK(decode_revision_entry("").status().code() == Status::Code::kCorruption);
  CHECK(decode_revision_entry(bytes.substr(0, 16)).status().code() == Status::Code::kCorruption);
  std::string other_format = bytes;
  other_format[0] = 2;
  CHECK(decode_revision_entry(other_format).status().code() == Status::Code::kCorruption);
}

TEST_CASE("history reads each path's chain newest first, as far back as max_revisions", "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_revisions = 3;
  auto store = open_store(options);
  write_revisions(*store, "a", 1, 5);
  write_revisions(*store, "b", 1, 2);
  write_revisions(*store, "a", 6, 7);

  CHECK(revision_numbers(*store, "a") == std::vector<std::uint64_t>{7, 6, 5});
  CHECK(revision_numbers(*store, "b") == std::vector<std::uint64_t>{2, 1});
  auto history = store->history("a");
  REQUIRE(history.is_ok());
  CHECK((*history)[0].version.uuid == uuid_of("a", 7));
  CHECK((*history)[2].version.data == "5");

  auto five = store->revision("a", 5);
  REQUIRE(five.is_ok());
  REQUIRE(five->has_value());
  CHECK((*five)->version.uuid == uuid_of("a", 5));
  for (std::uint64_t gone : {0, 1, 4, 8}) {
    INFO(gone);
    auto absent = store->revision("a", gone);
    REQUIRE(absent.is_ok());
    CHECK_FALSE(absent->has_value());
  }
  CHECK(store->history("never")->empty());
  CHECK_FALSE(store->revision("never", 1)->has_value());
}

TEST_CASE("the sweep removes what no path keeps, so the log stays near what the paths keep",
          "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_revisions = 2;
  constexpr int kPaths = 20;
  constexpr int kRounds = 30;
  {
    auto store = open_store(options);
    for (int round = 1; round <= kRounds; ++round) {
      for (int p = 0; p < kPaths; ++p) write_revisions(*store, "p/" + std::to_string(p), round, round);
    }
    for (int p = 0; p < kPaths; ++p) {
      CHECK(revision_numbers(*store, "p/" + std::to_string(p)) == std::vector<std::uint64_t>{kRounds, kRounds - 1});
    }
  }
  // 600 entries appended, 40 kept. Two entries are examined per change, so a pass over a log
  // of L entries takes L/2 changes: what is left is what is kept and what became unkept since
  // the last pass began, bounded by about 40 + 2 * 40 here, far below 600.
  const std::uint64_t left = stored_entries(options.dir, "revision_log");
  CHECK(left >= 2 * kPaths);
  CHECK(left <= 4 * 2 * kPaths);

  // The sweep kept exactly what history shows.
  auto store = open_store(options);
  for (int p = 0; p < kPaths; ++p) {
    auto history = store->history("p/" + std::to_string(p));
    REQUIRE(history.is_ok());
    CHECK(history->size() == 2);
  }
}

TEST_CASE("a purged path's next write starts a new chain, and the old one is neither shown nor kept",
          "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    write_revisions(*store, "k", 1, 4);
    auto purged = store->purge("k", uuid_of("k", 4));
    REQUIRE(purged.is_ok());
    CHECK(*purged);
    CHECK(store->history("k")->empty());
    require_put(*store, make_version("k", "k-new", 10, "\"new\""));
    CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{1});
    CHECK(store->history("k")->front().version.uuid == "k-new");
    CHECK_FALSE(store->revision("k", 2)->has_value());
    // Enough other writes for the sweep to pass over the old chain.
    for (int n = 0; n < 20; ++n) write_revisions(*store, "other", n + 1, n + 1);
  }
  // k keeps 1 and other keeps its newest 10 of 20; the old chain of k is gone.
  CHECK(stored_entries(options.dir, "revision_log") <= 1 + 20);
  auto store = open_store(options);
  CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{1});
}

TEST_CASE("max_revisions may change between opens: what the sweep has not taken shows again",
          "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_revisions = 5;
  {
    auto store = open_store(options);
    write_revisions(*store, "k", 1, 5);
  }
  options.max_revisions = 2;
  {
    auto store = open_store(options);
    CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{5, 4});
    CHECK_FALSE(store->revision("k", 3)->has_value());
  }
  options.max_revisions = 5;
  {
    // No write since: nothing was swept.
    auto store = open_store(options);
    CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{5, 4, 3, 2, 1});
  }
  options.max_revisions = 2;
  {
    auto store = open_store(options);
    for (int n = 1; n <= 10; ++n) write_revisions(*store, "other/" + std::to_string(n), 1, 1);
  }
  options.max_revisions = 5;
  auto store = open_store(options);
  // The sweep took 1-3 of k while two were kept; the chain ends where it did.
  CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{5, 4});
  CHECK_FALSE(store->revision("k", 3)->has_value());
  write_revisions(*store, "k", 6, 6);
  CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{6, 5, 4});
}

TEST_CASE("a write with revision history off ends the path's chain", "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    write_revisions(*store, "k", 1, 2);
  }
  options.revision_history_enabled = false;
  {
    auto store = open_store(options);
    write_revisions(*store, "k", 3, 3);
    for (int n = 1; n <= 5; ++n) write_revisions(*store, "other/" + std::to_string(n), 1, 1);
  }
  CHECK(stored_entries(options.dir, "revision_log") == 0);
  options.revision_history_enabled = true;
  auto store = open_store(options);
  CHECK(store->history("k")->empty());
  write_revisions(*store, "k", 4, 4);
  CHECK(revision_numbers(*store, "k") == std::vector<std::uint64_t>{1});
  CHECK(store->history("k")->front().version.uuid == uuid_of("k", 4));
}

TEST_CASE("revisions kept by path (format 2) read on, and move to the log at their path's next write",
          "[storage][revisions]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_revisions = 4;
  {
    auto store = open_store(options);
    write_revisions(*store, "a", 1, 3);
    write_revisions(*store, "b", 1, 2);
    write_revisions(*store, std::string(600, 'l'), 1, 2);  // a hashed path key
  }
  rewrite_as_format_2(options.dir);
  REQUIRE(stored_entries(options.dir, "revisions") == 7);
  REQUIRE(stored_entries(options.dir, "revision_log") == 0);

  {
    auto store = open_store(options);
    CHECK(*store->get_meta("format_version") == std::optional<std::string>("4"));
    CHECK(revision_numbers(*store, "a") == std::vector<std::uint64_t>{3, 2, 1});
    CHECK(revision_numbers(*store, std::string(600, 'l')) == std::vector<std::uint64_t>{2, 1});
    auto two = store->revision("a", 2);
    REQUIRE(two.is_ok());
    REQUIRE(two->has_value());
    CHECK((*two)->version.uuid == uuid_of("a", 2));

    // a's next write moves its three to the log and numbers on from them.
    write_revisions(*store, "a", 4, 5);
    CHECK(revision_numbers(*store, "a") == std::vector<std::uint64_t>{5, 4, 3, 2});
    auto three = store->revision("a", 3);
    REQUIRE(three->has_value());
    CHECK((*three)->version.uuid == uuid_of("a", 3));
    write_revisions(*store, std::string(600, 'l'), 3, 3);
    CHECK(revision_numbers(*store, std::string(600, 'l')) == std::vector<std::uint64_t>{3, 2, 1});

    // A purge of b drops its revisions kept by path.
    auto purged = store->purge("b", uuid_of("b", 2));
    REQUIRE(purged.is_ok());
    CHECK(*purged);
    CHECK(store->history("b")->empty());
  }
  CHECK(stored_entries(options.dir, "revisions") == 0);
}

}  // namespace
}  // namespace kvs::storage::test
