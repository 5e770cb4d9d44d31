// The Store facade (storage/store.cpp): open and its refusals (the directory lock, an unknown
// format version), reopening, the reads (get, scan) and meta. What the writer and the tables do
// behind it is in writer_test.cpp, tables_test.cpp and commit_observer_test.cpp.

#include "storage/store.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/keys.hpp"
#include "support/forked_child.hpp"
#include "support/stored_edit.hpp"
#include "support/temp_dir.hpp"
#include "store_support.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

Version full_version() {
  Version version = make_version("users/john/profile", "3f1c2a4e-0000-4000-8000-000000000001", 1'700'000'000'123,
                                 R"({"name":"John","age":42})");
  version.origin_node_id = "node-7";
  version.origin_joined_ms = 1'690'000'000'000;
  version.expires_at_ms = 1'700'000'060'000;
  version.owner_uuid = "owner-uuid";
  version.group_uuid = "group-uuid";
  version.permissions = 0xF31;
  return version;
}

TEST_CASE("a version round-trips every field through the store and a reopen", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  Version version = full_version();
  Version tombstone = make_version("users/jane", "3f1c2a4e-0000-4000-8000-000000000002", 1'700'000'000'500, "");
  tombstone.deleted = true;
  tombstone.owner_uuid = "someone";
  tombstone.permissions = 0x000;
  {
    auto store = open_store(options);
    auto written = put(*store, version);
    REQUIRE(written.is_ok());
    REQUIRE(**written == version);
    require_put(*store, tombstone);
    CHECK(require_get(*store, "users/john/profile") == version);
    CHECK(require_get(*store, "users/jane") == tombstone);
    CHECK(require_get(*store, "users/nobody") == std::nullopt);
  }
  auto store = open_store(options);
  CHECK(require_get(*store, "users/john/profile") == version);
  CHECK(require_get(*store, "users/jane") == tombstone);
}

TEST_CASE("get into a Version reads what get reads, and says when there is nothing", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  Version version = full_version();
  Version tombstone = make_version("users/jane", "3f1c2a4e-0000-4000-8000-000000000002", 1'700'000'000'500, "");
  tombstone.deleted = true;
  Version long_path = make_version(std::string(600, 'p'), "3f1c2a4e-0000-4000-8000-000000000003", 1'700'000'000'600,
                                   std::string(3000, 'x'));
  require_put(*store, version);
  require_put(*store, tombstone);
  require_put(*store, long_path);

  Version out = long_path;  // a used target: every field must be overwritten
  auto held = store->get("users/john/profile", out);
  REQUIRE(held.is_ok());
  CHECK(*held);
  CHECK(out == version);
  held = store->get("users/jane", out);
  REQUIRE(held.is_ok());
  CHECK(*held);
  CHECK(out == tombstone);
  held = store->get(long_path.path, out);
  REQUIRE(held.is_ok());
  CHECK(*held);
  CHECK(out == long_path);
  held = store->get("users/nobody", out);
  REQUIRE(held.is_ok());
  CHECK_FALSE(*held);
}

TEST_CASE("concurrent readers each see whole versions while a writer replaces them", "[storage]") {
  // Read transactions are recycled between threads through the reader pool; every read must
  // still be one consistent snapshot, of a version that was written.
  TempDir dir;
  auto store = open_store(options_in(dir));
  constexpr int kKeys = 8;
  for (int k = 0; k < kKeys; ++k) {
    require_put(*store, make_version("k/" + std::to_string(k), "u-0", 1, "{\"k\":" + std::to_string(k) + ",\"n\":0}"));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      Version out;
      for (std::uint64_t i = 0; !stop.load() || i < 200; ++i) {
        std::string path = "k/" + std::to_string((static_cast<int>(i) + t) % kKeys);
        auto held = store->get(path, out);
        if (!held.is_ok() || !*held || out.path != path) {
          ++bad;
          continue;
        }
        // The uuid and the document were written together: "u-N" with "n":N.
        std::string n = out.uuid.substr(2);
        if (out.data.find("\"n\":" + n + "}") == std::string::npos) ++bad;
        ++reads;
      }
    });
  }
  for (int n = 1; n <= 50; ++n) {
    for (int k = 0; k < kKeys; ++k) {
      require_put(*store, make_version("k/" + std::to_string(k), "u-" + std::to_string(n), 1 + n,
                                       "{\"k\":" + std::to_string(k) + ",\"n\":" + std::to_string(n) + "}"));
    }
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  CHECK(bad.load() == 0);
  CHECK(reads.load() >= 800);
}

TEST_CASE("a store written with compression on reads back the same bytes with it off, and the other way round",
          "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  const std::string big = compressible_document(8192);
  const std::string noise = incompressible_document(600, 7);
  const std::string small = R"({"a":1})";
  const std::string big2 = compressible_document(5000) + " ";

  options.compression_enabled = true;
  {
    auto store = open_store(options);
    require_put(*store, make_version("big", "u1", 1, big));
    // Compression really happened: the whole store holds far fewer bytes than the document.
    CHECK(store->stats().bytes < big.size() / 4);
    require_put(*store, make_version("noise", "u2", 2, noise));
    require_put(*store, make_version("small", "u3", 3, small));
  }
  options.compression_enabled = false;
  {
    auto store = open_store(options);
    CHECK(require_get(*store, "big")->data == big);
    CHECK(require_get(*store, "noise")->data == noise);
    CHECK(require_get(*store, "small")->data == small);
    auto bytes_before = store->stats().bytes;
    require_put(*store, make_version("big2", "u4", 4, big2));
    CHECK(store->stats().bytes - bytes_before > big2.size());  // stored raw
    auto history = store->history("big");
    REQUIRE(history.is_ok());
    REQUIRE(history->size() == 1);
    CHECK(history->front().version.data == big);
  }
  options.compression_enabled = true;
  auto store = open_store(options);
  CHECK(require_get(*store, "big")->data == big);
  CHECK(require_get(*store, "big2")->data == big2);
  CHECK(require_get(*store, "noise")->data == noise);
  CHECK(require_get(*store, "small")->data == small);
}

TEST_CASE("a second open of the same data_dir is refused at once and the first keeps working", "[storage][lock]") {
  TempDir dir;
  auto options = options_in(dir);
  auto first = open_store(options);

  SECTION("from the same process") {
    auto second = Store::open(options);
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == Status::Code::kUnavailable);
    CHECK(second.status().message().find(options.dir.string()) != std::string::npos);
    CHECK(second.status().message().find(std::to_string(::getpid())) != std::string::npos);
  }
  SECTION("from another process") {
    auto [child, read_fd] = kvs::test::fork_child([&](int write_fd) {
      auto second = Store::open(options);
      std::string message = second.is_ok() ? "opened" : second.status().to_string();
      [[maybe_unused]] auto written = ::write(write_fd, message.data(), message.size());
      ::_exit(!second.is_ok() && second.status().code() == Status::Code::kUnavailable ? 0 : 1);
    });
    std::string message;
    char buffer[512];
    for (ssize_t got; (got = ::read(read_fd, buffer, sizeof buffer)) > 0;) {
      message.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(read_fd);
    int wait_status = 0;
    REQUIRE(::waitpid(child, &wait_status, 0) == child);
    INFO(message);
    CHECK(WIFEXITED(wait_status));
    CHECK(WEXITSTATUS(wait_status) == 0);
    CHECK(message.find("unavailable") != std::string::npos);
    CHECK(message.find("in use by another process (pid " + std::to_string(::getpid()) + ")") != std::string::npos);
  }

  require_put(*first, make_version("still", "u1", 1, "1"));
  CHECK(require_get(*first, "still")->uuid == "u1");
}

TEST_CASE("the lock is released when the store closes", "[storage][lock]") {
  TempDir dir;
  auto options = options_in(dir);
  open_store(options).reset();
  auto again = open_store(options);
  CHECK(again != nullptr);
}

TEST_CASE("reopening keeps versions, revisions, indexes, counters and meta", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  Version a = make_version("a", "ua2", 20, "2");
  a.expires_at_ms = 500;
  {
    auto store = open_store(options);
    require_put(*store, make_version("a", "ua1", 10, "1"));
    require_put(*store, a);
    Version b = make_version("b", "ub", 15, "");
    b.deleted = true;
    require_put(*store, b);
    REQUIRE(store->put_meta("joined_timestamp", "1234").is_ok());
  }
  auto store = open_store(options);
  CHECK(require_get(*store, "a") == a);
  CHECK(require_get(*store, "b")->deleted);
  auto history = store->history("a");
  REQUIRE(history.is_ok());
  CHECK(history->size() == 2);
  CHECK(expired_paths(*store, 1000) == std::vector<std::string>{"a"});
  CHECK(since_paths(*store, 0) == std::vector<std::string>{"b", "a"});
  auto stats = store->stats();
  CHECK(stats.keys == 2);
  CHECK(stats.live_keys == 1);
  CHECK(stats.last_sequence == 3);
  CHECK(stats.bytes > 0);
  CHECK(stats.commits == 0);
  auto joined = store->get_meta("joined_timestamp");
  REQUIRE(joined.is_ok());
  CHECK(*joined == std::optional<std::string>("1234"));
  // The next write continues the numbering.
  require_put(*store, make_version("a", "ua3", 30, "3"));
  CHECK(store->history("a")->front().revision == 3);
  CHECK(store->stats().last_sequence == 4);
}

TEST_CASE("an unknown on-disk format version fails open with kCorruption", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  open_store(options).reset();

  kvs::test::edit_stored_value(options.dir, "meta", "format_version", [](std::string old) {
    CHECK(old == "4");
    return std::string("99");
  });

  auto reopened = Store::open(options);
  REQUIRE_FALSE(reopened.is_ok());
  CHECK(reopened.status().code() == Status::Code::kCorruption);
  CHECK(reopened.status().message().find("99") != std::string::npos);
  // The failed open released the lock: a fixed directory opens again.
  auto again = Store::open(options);
  CHECK(again.status().code() == Status::Code::kCorruption);
}

TEST_CASE("scan visits current versions in key order within start and end", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  for (std::string path : {"b", "a/2", "a/1", "c", "a", "ab"}) require_put(*store, make_version(path, path, 1, "1"));
  Version tombstone = make_version("bb", "t", 2, "");
  tombstone.deleted = true;
  require_put(*store, tombstone);

  CHECK(scan_paths(*store) == std::vector<std::string>{"a", "a/1", "a/2", "ab", "b", "bb", "c"});
  CHECK(scan_paths(*store, "a/", "a0") == std::vector<std::string>{"a/1", "a/2"});
  CHECK(scan_paths(*store, "ab", "") == std::vector<std::string>{"ab", "b", "bb", "c"});
  CHECK(scan_paths(*store, "b", "b").empty());
  int seen = 0;
  REQUIRE(store->scan("", "", [&](const Version&) { return ++seen < 3; }).is_ok());
  CHECK(seen == 3);
}

TEST_CASE("keys longer than LMDB's key limit are stored, scanned in order and purged", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  const std::string shared(450, 'p');
  std::vector<std::string> paths = {shared + std::string(574, 'z'), shared + "/b", shared + "/a",
                                    shared.substr(0, 400),          shared + "/c/" + std::string(500, 'x'),
                                    std::string(600, 'q'),          "m"};
  std::int64_t timestamp = 1;
  for (const auto& path : paths) {
    Version version = make_version(path, "u" + std::to_string(timestamp), timestamp, "\"" + path + "\"");
    version.expires_at_ms = 1000 + timestamp;
    ++timestamp;
    require_put(*store, version);
  }
  std::vector<std::string> sorted = paths;
  std::sort(sorted.begin(), sorted.end());
  CHECK(scan_paths(*store) == sorted);
  CHECK(scan_paths(*store, shared + "/b", shared + "/c0") ==
        std::vector<std::string>{shared + "/b", shared + "/c/" + std::string(500, 'x')});
  CHECK(scan_paths(*store, shared + "/b", shared + "/b0") == std::vector<std::string>{shared + "/b"});
  for (const auto& path : paths) {
    auto held = require_get(*store, path);
    REQUIRE(held.has_value());
    CHECK(held->path == path);
    auto history = store->history(path);
    REQUIRE(history.is_ok());
    CHECK(history->size() == 1);
  }
  CHECK(expired_paths(*store, 5000) == paths);
  CHECK(since_paths(*store, 0) == paths);

  auto purged = store->purge(paths[0], "u1");
  REQUIRE(purged.is_ok());
  CHECK(*purged);
  CHECK(require_get(*store, paths[0]) == std::nullopt);
  CHECK(require_get(*store, paths[1]).has_value());
  CHECK(store->history(paths[1])->size() == 1);
}

TEST_CASE("meta values round-trip and the store's own names are reserved", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  REQUIRE(store->put_meta("cluster_secret", "s3cret").is_ok());
  CHECK(*store->get_meta("cluster_secret") == std::optional<std::string>("s3cret"));
  CHECK(*store->get_meta("absent") == std::nullopt);
  CHECK(*store->get_meta("format_version") == std::optional<std::string>("4"));
  CHECK(store->put_meta("format_version", "4").code() == Status::Code::kInvalidArgument);
  CHECK(store->put_meta("stats.keys", "2").code() == Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace kvs::storage::test
