// The tables' upkeep (storage/tables.cpp) as seen through the Store: revisions, the expiry and
// time indexes, the change sequence, purges and the counters. Crash safety is crash_test.cpp's.

#include "storage/tables.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/keys.hpp"
#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/stored_edit.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

TEST_CASE("revisions are numbered from 1 per key and only the newest max_revisions are kept", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_revisions = 3;
  auto store = open_store(options);
  for (int i = 1; i <= 5; ++i) {
    require_put(*store, make_version("k", "u" + std::to_string(i), i, std::to_string(i)));
  }
  require_put(*store, make_version("other", "o1", 10, "10"));

  auto history = store->history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->size() == 3);
  CHECK((*history)[0].revision == 5);
  CHECK((*history)[0].version.uuid == "u5");
  CHECK((*history)[1].revision == 4);
  CHECK((*history)[2].revision == 3);
  CHECK((*history)[2].version.data == "3");

  auto other = store->history("other");
  REQUIRE(other.is_ok());
  REQUIRE(other->size() == 1);
  CHECK(other->front().revision == 1);

  auto fourth = store->revision("k", 4);
  REQUIRE(fourth.is_ok());
  REQUIRE(fourth->has_value());
  CHECK((*fourth)->revision == 4);
  CHECK((*fourth)->version.uuid == "u4");
  auto dropped = store->revision("k", 2);
  REQUIRE(dropped.is_ok());
  CHECK_FALSE(dropped->has_value());
  auto unknown = store->history("absent");
  REQUIRE(unknown.is_ok());
  CHECK(unknown->empty());
}

TEST_CASE("a tombstone is kept as a revision like any other version", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  require_put(*store, make_version("k", "u1", 1, "1"));
  Version tombstone = make_version("k", "u2", 2, "");
  tombstone.deleted = true;
  require_put(*store, tombstone);
  auto history = store->history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->size() == 2);
  CHECK(history->front().version.deleted);
  CHECK(history->back().version.data == "1");
}

TEST_CASE("no revisions are written when revision history is disabled", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  options.revision_history_enabled = false;
  auto store = open_store(options);
  require_put(*store, make_version("k", "u1", 1, "1"));
  require_put(*store, make_version("k", "u2", 2, "2"));
  auto history = store->history("k");
  REQUIRE(history.is_ok());
  CHECK(history->empty());
  CHECK(require_get(*store, "k")->uuid == "u2");
}

TEST_CASE("expired returns exactly the paths whose expiry has passed, oldest first", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  auto with_expiry = [](std::string path, std::int64_t expires_at_ms) {
    Version version = make_version(std::move(path), "u-" + std::to_string(expires_at_ms), 1, "1");
    version.expires_at_ms = expires_at_ms;
    return version;
  };
  require_put(*store, with_expiry("c", 3000));
  require_put(*store, with_expiry("a", 1000));
  require_put(*store, with_expiry("b", 2000));
  require_put(*store, with_expiry("neg", -5));
  require_put(*store, make_version("forever", "u-forever", 1, "1"));

  CHECK(expired_paths(*store, -6).empty());
  CHECK(expired_paths(*store, -5) == std::vector<std::string>{"neg"});
  CHECK(expired_paths(*store, 999) == std::vector<std::string>{"neg"});
  CHECK(expired_paths(*store, 2000) == std::vector<std::string>{"neg", "a", "b"});
  CHECK(expired_paths(*store, 1'000'000) == std::vector<std::string>{"neg", "a", "b", "c"});
  CHECK(expired_paths(*store, 1'000'000, 2) == std::vector<std::string>{"neg", "a"});

  SECTION("an overwrite removes the old expiry entry") {
    require_put(*store, with_expiry("a", 5000));
    CHECK(expired_paths(*store, 2000) == std::vector<std::string>{"neg", "b"});
    CHECK(expired_paths(*store, 5000) == std::vector<std::string>{"neg", "b", "c", "a"});
    require_put(*store, make_version("b", "u-b2", 2, "2"));  // no expiry any more
    CHECK(expired_paths(*store, 1'000'000) == std::vector<std::string>{"neg", "c", "a"});
  }
  SECTION("a purge removes the expiry entry") {
    auto purged = store->purge("a", "u-1000");
    REQUIRE(purged.is_ok());
    CHECK(*purged);
    CHECK(expired_paths(*store, 2000) == std::vector<std::string>{"neg", "b"});
  }
}

TEST_CASE("scan_since returns versions stamped at or after the cutoff, oldest first", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  require_put(*store, make_version("x", "u1", 1'700'000'000'300, "1"));
  require_put(*store, make_version("y", "u2", 1'700'000'000'100, "1"));
  require_put(*store, make_version("z", "u3", 1'700'000'000'200, "1"));
  require_put(*store, make_version("w", "u4", 1'700'000'000'200, "1"));

  CHECK(since_paths(*store, 0) == std::vector<std::string>{"y", "w", "z", "x"});
  CHECK(since_paths(*store, 1'700'000'000'200) == std::vector<std::string>{"w", "z", "x"});
  CHECK(since_paths(*store, 1'700'000'000'301).empty());

  SECTION("an overwrite moves the key to its new timestamp") {
    require_put(*store, make_version("y", "u5", 1'700'000'000'400, "2"));
    CHECK(since_paths(*store, 0) == std::vector<std::string>{"w", "z", "x", "y"});
  }
  SECTION("visit can stop the scan") {
    int seen = 0;
    Status scanned = store->scan_since(0, [&](const Version&) { return ++seen < 2; });
    REQUIRE(scanned.is_ok());
    CHECK(seen == 2);
  }
}

TEST_CASE("scan_since passes over time index entries of versions replaced or purged", "[storage][tindex]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    require_put(*store, make_version("a", "u1", 1'700'000'000'500, "1"));
    require_put(*store, make_version("b", "u2", 1'700'000'000'600, "1"));
  }
  // What the sweep has not reached yet: an entry of an older version of a, and one of a path
  // that holds no version.
  kvs::test::put_stored_value(options.dir, "tindex", keys::tindex_key(1'700'000'000'100, "a"), "");
  kvs::test::put_stored_value(options.dir, "tindex", keys::tindex_key(1'700'000'000'200, "gone"), "");
  REQUIRE(stored_entries(options.dir, "tindex") == 4);

  auto store = open_store(options);
  CHECK(since_paths(*store, 0) == std::vector<std::string>{"a", "b"});
  CHECK(since_paths(*store, 1'700'000'000'550) == std::vector<std::string>{"b"});
}

TEST_CASE("a write leaves its path's old time index entry to the sweep, which keeps the index near one entry a path",
          "[storage][tindex]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    std::int64_t timestamp = 1'700'000'000'000;
    for (int round = 0; round < 30; ++round) {
      for (int n = 0; n < 20; ++n) {
        const std::string path = "p/" + std::to_string(n);
        require_put(*store, make_version(path, path + "-" + std::to_string(round), ++timestamp, "1"));
      }
    }
    std::vector<std::string> expected;
    for (int n = 0; n < 20; ++n) expected.push_back("p/" + std::to_string(n));
    CHECK(since_paths(*store, 0) == expected);
    REQUIRE(store->purge("p/0", "p/0-29").is_ok());
    expected.erase(expected.begin());
    // Enough writes of other paths for the sweep to pass over the whole index again.
    for (int n = 0; n < 40; ++n) require_put(*store, make_version("q", "q-" + std::to_string(n), ++timestamp, "1"));
    expected.push_back("q");
    CHECK(since_paths(*store, 0) == expected);
  }
  // 640 entries were put for 20 paths; the sweep examined two for each write.
  const std::uint64_t left = stored_entries(options.dir, "tindex");
  INFO(left);
  CHECK(left <= 2 * 20 + 2);
}

TEST_CASE("a directory of on-disk format 3 opens as format 4", "[storage][tindex]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    require_put(*store, make_version("a", "u1", 1'700'000'000'500, "1"));
  }
  kvs::test::edit_stored_value(options.dir, "meta", "format_version", [](std::string old) {
    CHECK(old == "4");
    return std::string("3");
  });
  auto store = open_store(options);
  CHECK(*store->get_meta("format_version") == std::optional<std::string>("4"));
  CHECK(since_paths(*store, 0) == std::vector<std::string>{"a"});
}

TEST_CASE("the time index key is _ts: with a 13-digit zero-padded timestamp", "[storage]") {
  CHECK(keys::tindex_key(42, "a/b") == "_ts:0000000000042:a/b");
  CHECK(keys::tindex_key(1'700'000'000'000, "k") == "_ts:1700000000000:k");
  CHECK(keys::tindex_path_key("_ts:1700000000000:k") == "k");
  CHECK(keys::tindex_path_key("bogus").empty());
  CHECK(keys::tindex_names("_ts:1700000000000:k", 1'700'000'000'000));
  CHECK_FALSE(keys::tindex_names("_ts:1700000000000:k", 1'700'000'000'001));
  CHECK(keys::tindex_names(keys::tindex_key(-5, "k"), -1));  // both clamped to 0
  CHECK_FALSE(keys::tindex_names("_ts:1700000000000:", 1'700'000'000'000));  // no path key
}

TEST_CASE("every applied version gets the next change sequence number, across reopens", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  {
    auto store = open_store(options);
    require_put(*store, make_version("a", "u1", 1, "1"));
    require_put(*store, make_version("b", "u2", 2, "1"));
    require_put(*store, make_version("a", "u3", 3, "2"));
    // A Decide that writes nothing takes no sequence number.
    auto nothing = store->write([](WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(); });
    REQUIRE(nothing.is_ok());
    CHECK(store->stats().last_sequence == 3);
  }
  auto store = open_store(options);
  require_put(*store, make_version("c", "u4", 4, "1"));
  auto changes = store->changes(0, 100);
  REQUIRE(changes.is_ok());
  std::vector<std::pair<std::uint64_t, std::string>> expected{{1, "a"}, {2, "b"}, {3, "a"}, {4, "c"}};
  CHECK(*changes == expected);
  auto after_two = store->changes(2, 1);
  REQUIRE(after_two.is_ok());
  CHECK(*after_two == std::vector<std::pair<std::uint64_t, std::string>>{{3, "a"}});
  CHECK(store->stats().last_sequence == 4);
}

TEST_CASE("purge removes a version with its indexes and revisions only while the uuid matches", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  Version v1 = make_version("k", "u1", 10, "1");
  Version v2 = make_version("k", "u2", 11, "2");
  v2.expires_at_ms = 100;
  require_put(*store, v1);
  require_put(*store, v2);
  require_put(*store, make_version("other", "uo", 12, "1"));

  auto stale = store->purge("k", "u1");
  REQUIRE(stale.is_ok());
  CHECK_FALSE(*stale);
  CHECK(require_get(*store, "k") == v2);

  auto absent = store->purge("nothing", "u1");
  REQUIRE(absent.is_ok());
  CHECK_FALSE(*absent);

  auto purged = store->purge("k", "u2");
  REQUIRE(purged.is_ok());
  CHECK(*purged);
  CHECK(require_get(*store, "k") == std::nullopt);
  CHECK(store->history("k")->empty());
  CHECK(expired_paths(*store, 1000).empty());
  CHECK(since_paths(*store, 0) == std::vector<std::string>{"other"});
  CHECK(store->stats().keys == 1);
  CHECK(store->stats().live_keys == 1);
  CHECK(store->history("other")->size() == 1);

  // A key written again after a purge starts a fresh history.
  require_put(*store, make_version("k", "u3", 13, "3"));
  CHECK(store->history("k")->front().revision == 1);
}

TEST_CASE("stats count keys, live keys and stored bytes", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  require_put(*store, make_version("a", "u1", 1, "1"));
  require_put(*store, make_version("b", "u2", 1, "1"));
  Version tombstone = make_version("a", "u3", 2, "");
  tombstone.deleted = true;
  require_put(*store, tombstone);
  auto stats = store->stats();
  CHECK(stats.keys == 2);
  CHECK(stats.live_keys == 1);
  CHECK(stats.bytes > 0);
  CHECK(stats.commits == 3);
  CHECK(stats.intents == 3);
}

}  // namespace
}  // namespace kvs::storage::test
