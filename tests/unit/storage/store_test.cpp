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
#include <lmdb.h>

#include "storage/keys.hpp"
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

std::string compressible_document(std::size_t size) {
  std::string doc = "{\"items\":[";
  while (doc.size() + 40 < size) doc += R"({"name":"widget","price":12.5},)";
  doc += R"({"end":true}]})";
  return doc;
}

std::string incompressible_document(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string doc = "\"";
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (doc.size() + 1 < size) doc.push_back(alphabet[random() % alphabet.size()]);
  doc.push_back('"');
  return doc;
}

std::vector<std::string> scan_paths(const Store& store, std::string_view start = {}, std::string_view end = {}) {
  std::vector<std::string> paths;
  Status scanned = store.scan(start, end, [&](const Version& version) {
    paths.push_back(version.path);
    return true;
  });
  INFO(scanned.to_string());
  REQUIRE(scanned.is_ok());
  return paths;
}

std::vector<std::string> since_paths(const Store& store, std::int64_t since_ms) {
  std::vector<std::string> paths;
  Status scanned = store.scan_since(since_ms, [&](const Version& version) {
    paths.push_back(version.path);
    return true;
  });
  INFO(scanned.to_string());
  REQUIRE(scanned.is_ok());
  return paths;
}

std::vector<std::string> expired_paths(const Store& store, std::int64_t now_ms, std::size_t limit = 100) {
  auto paths = store.expired(now_ms, limit);
  INFO(paths.status().to_string());
  REQUIRE(paths.is_ok());
  return *paths;
}

Decide writes(Version version) {
  return [version = std::move(version)](WriteView&) -> Result<std::optional<Version>> {
    return std::optional<Version>(version);
  };
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

TEST_CASE("the time index key is _ts: with a 13-digit zero-padded timestamp", "[storage]") {
  CHECK(keys::tindex_key(42, "a/b") == "_ts:0000000000042:a/b");
  CHECK(keys::tindex_key(1'700'000'000'000, "k") == "_ts:1700000000000:k");
  CHECK(keys::tindex_path_key("_ts:1700000000000:k") == "k");
  CHECK(keys::tindex_path_key("bogus").empty());
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

TEST_CASE("a Decide that returns nullopt, an error or throws writes nothing and leaves the rest of its batch alone",
          "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  auto commits_before = store->stats().commits;

  std::vector<std::future<Result<std::optional<Version>>>> results;
  {
    WriterHold hold(*store);
    auto enqueue = [&](Decide decide) {
      std::size_t queued = results.size() + 1;
      results.push_back(write_async(*store, std::move(decide)));
      spin_until([&] { return store->queued_for_testing() == queued; });
    };
    enqueue(writes(make_version("a", "ua", 1, "\"a\"")));
    enqueue([](WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(); });
    enqueue([](WriteView&) -> Result<std::optional<Version>> {
      return Status::precondition_failed("key b is not at version x");
    });
    enqueue([](WriteView&) -> Result<std::optional<Version>> { throw std::runtime_error("boom"); });
    // A later intent sees what an earlier one of the same batch wrote.
    enqueue([](WriteView& view) -> Result<std::optional<Version>> {
      auto a = view.get("a");
      if (!a.is_ok()) return a.status();
      if (!a->has_value()) return Status::not_found("a is not visible in the batch");
      return std::optional<Version>(make_version("e", "ue", 2, (*a)->data));
    });
    enqueue(writes(make_version("f", "uf", 3, "\"f\"")));
  }  // releases the writer: the six intents run as one batch

  auto a = results[0].get();
  REQUIRE(a.is_ok());
  CHECK((*a)->uuid == "ua");
  auto nothing = results[1].get();
  REQUIRE(nothing.is_ok());
  CHECK_FALSE(nothing->has_value());
  auto failed = results[2].get();
  CHECK(failed.status().code() == Status::Code::kPreconditionFailed);
  auto threw = results[3].get();
  CHECK(threw.status().code() == Status::Code::kInternal);
  CHECK(threw.status().message().find("boom") != std::string::npos);
  auto e = results[4].get();
  INFO(e.status().to_string());
  REQUIRE(e.is_ok());
  CHECK((*e)->data == "\"a\"");
  CHECK(results[5].get().is_ok());

  CHECK(store->stats().commits - commits_before == 2);  // the held intent, then the batch
  CHECK(scan_paths(*store) == std::vector<std::string>{"a", "e", "f"});
  CHECK(store->stats().last_sequence == 3);
}

TEST_CASE("a write from inside a Decide is refused rather than deadlocking", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  Status inner;
  auto outer = store->write([&](WriteView&) -> Result<std::optional<Version>> {
    inner = store->put_meta("x", "y");
    return std::optional<Version>();
  });
  REQUIRE(outer.is_ok());
  CHECK(inner.code() == Status::Code::kInternal);
}

TEST_CASE("many threads writing concurrently all succeed and share commits", "[storage][group-commit]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  constexpr int kThreads = 16;
  constexpr int kWritesEach = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesEach; ++i) {
        std::string path = "t" + std::to_string(t) + "/k" + std::to_string(i);
        if (!put(*store, make_version(path, path, i + 1, "{}")).is_ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  auto stats = store->stats();
  CHECK(stats.intents == std::uint64_t{kThreads * kWritesEach});
  CHECK(stats.keys == std::uint64_t{kThreads * kWritesEach});
  CHECK(stats.last_sequence == std::uint64_t{kThreads * kWritesEach});
  CHECK(stats.commits < stats.intents);
  CHECK(scan_paths(*store).size() == std::size_t{kThreads * kWritesEach});
}

TEST_CASE("intents queued while the writer is busy share one commit, up to max_batch", "[storage][group-commit]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_batch = 4;
  auto store = open_store(options);
  std::vector<std::future<Result<std::optional<Version>>>> results;
  {
    WriterHold hold(*store);
    for (int i = 0; i < 10; ++i) {
      results.push_back(write_async(*store, writes(make_version("k" + std::to_string(i), "u", 1, "1"))));
      spin_until([&] { return store->queued_for_testing() == results.size(); });
    }
  }
  for (auto& result : results) CHECK(result.get().is_ok());
  // The held intent's commit, then 10 intents in batches of 4, 4 and 2.
  CHECK(store->stats().commits == 4);
  CHECK(store->stats().intents == 11);
}

TEST_CASE("a full write queue answers kUnavailable at once", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_queue = 2;
  auto store = open_store(options);
  std::vector<std::future<Result<std::optional<Version>>>> results;
  {
    WriterHold hold(*store);
    for (int i = 0; i < 2; ++i) {
      results.push_back(write_async(*store, writes(make_version("k" + std::to_string(i), "u", 1, "1"))));
      spin_until([&] { return store->queued_for_testing() == results.size(); });
    }
    auto refused = put(*store, make_version("k2", "u", 1, "1"));
    CHECK(refused.status().code() == Status::Code::kUnavailable);
    CHECK(refused.status().message().find("full") != std::string::npos);
  }
  for (auto& result : results) CHECK(result.get().is_ok());
  CHECK(require_get(*store, "k2") == std::nullopt);
}

TEST_CASE("a transaction that fails in LMDB fails every intent of its batch and writes nothing", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  auto store = open_store(options);
  require_put(*store, make_version("before", "u0", 1, "1"));
  auto stats_before = store->stats();

  std::vector<std::future<Result<std::optional<Version>>>> results;
  {
    WriterHold hold(*store);
    results.push_back(write_async(*store, writes(make_version("small", "u1", 2, "1"))));
    spin_until([&] { return store->queued_for_testing() == 1; });
    results.push_back(
        write_async(*store, writes(make_version("huge", "u2", 3, incompressible_document(std::size_t{4} << 20, 1)))));
    spin_until([&] { return store->queued_for_testing() == 2; });
  }
  for (auto& future : results) {
    auto result = future.get();
    CHECK(result.status().code() == Status::Code::kIOError);
    CHECK(result.status().message().find("MDB_MAP_FULL") != std::string::npos);
  }
  CHECK(require_get(*store, "small") == std::nullopt);
  CHECK(require_get(*store, "huge") == std::nullopt);
  auto stats_after = store->stats();
  CHECK(stats_after.keys == stats_before.keys);
  CHECK(stats_after.last_sequence == stats_before.last_sequence);
  CHECK(stats_after.commits == stats_before.commits + 1);  // only the held intent's

  // The store keeps working.
  require_put(*store, make_version("after", "u3", 4, "1"));
  CHECK(scan_paths(*store) == std::vector<std::string>{"after", "before"});
  auto changes = store->changes(0, 10);
  REQUIRE(changes.is_ok());
  CHECK(changes->size() == 2);
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
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      auto second = Store::open(options);
      std::string message = second.is_ok() ? "opened" : second.status().to_string();
      [[maybe_unused]] auto written = ::write(pipe_fds[1], message.data(), message.size());
      ::_exit(!second.is_ok() && second.status().code() == Status::Code::kUnavailable ? 0 : 1);
    }
    ::close(pipe_fds[1]);
    std::string message;
    char buffer[512];
    for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
      message.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(pipe_fds[0]);
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

  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
  REQUIRE(mdb_env_open(env, options.dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi meta = 0;
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  std::string name = "format_version";
  std::string value = "99";
  MDB_val key{name.size(), name.data()};
  MDB_val data{value.size(), value.data()};
  REQUIRE(mdb_put(txn, meta, &key, &data, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);

  auto reopened = Store::open(options);
  REQUIRE_FALSE(reopened.is_ok());
  CHECK(reopened.status().code() == Status::Code::kCorruption);
  CHECK(reopened.status().message().find("99") != std::string::npos);
  // The failed open released the lock: a fixed directory opens again.
  auto again = Store::open(options);
  CHECK(again.status().code() == Status::Code::kCorruption);
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

TEST_CASE("meta values round-trip and the store's own names are reserved", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  REQUIRE(store->put_meta("cluster_secret", "s3cret").is_ok());
  CHECK(*store->get_meta("cluster_secret") == std::optional<std::string>("s3cret"));
  CHECK(*store->get_meta("absent") == std::nullopt);
  CHECK(*store->get_meta("format_version") == std::optional<std::string>("1"));
  CHECK(store->put_meta("format_version", "2").code() == Status::Code::kInvalidArgument);
  CHECK(store->put_meta("stats.keys", "2").code() == Status::Code::kInvalidArgument);
}

TEST_CASE("a version with an empty path is refused for its intent alone", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  auto refused = put(*store, make_version("", "u", 1, "1"));
  CHECK(refused.status().code() == Status::Code::kInvalidArgument);
  require_put(*store, make_version("fine", "u", 1, "1"));
}

TEST_CASE("closing the store completes every queued write first", "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  auto store = open_store(options);
  std::vector<std::future<Result<std::optional<Version>>>> results;
  auto hold = std::make_unique<WriterHold>(*store);
  for (int i = 0; i < 5; ++i) {
    results.push_back(write_async(*store, writes(make_version("k" + std::to_string(i), "u", 1, "1"))));
    spin_until([&] { return store->queued_for_testing() == results.size(); });
  }
  // The destructor runs while five intents wait behind the held one.
  std::thread closer([&] { store.reset(); });
  hold->release();
  closer.join();
  hold.reset();
  for (auto& result : results) CHECK(result.get().is_ok());
  auto reopened = open_store(options);
  CHECK(reopened->stats().keys == 5);
}

}  // namespace
TEST_CASE("write_all commits a batch in one transaction and each Decide sees the ones before it", "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  std::uint64_t commits_before = store->stats().commits;
  std::vector<Store::WriteRequest> requests;
  for (int i = 0; i < 10; ++i) {
    requests.push_back({writes(make_version("k" + std::to_string(i % 3), "u" + std::to_string(i), 1'000 + i, "{}")), {}});
  }
  // Writes only when the key is still absent: the second and later intents for a key see the
  // first one's write, in the same transaction.
  requests.push_back({[](WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get("k0");
    if (!held.is_ok()) return held.status();
    if (held->has_value()) return std::optional<Version>();
    return std::optional<Version>(make_version("k0", "never", 1, "{}"));
  }, {}});
  auto outcomes = store->write_all(std::move(requests));
  REQUIRE(outcomes.size() == 11);
  for (std::size_t i = 0; i < 10; ++i) {
    REQUIRE(outcomes[i].is_ok());
    CHECK(outcomes[i]->has_value());
  }
  REQUIRE(outcomes[10].is_ok());
  CHECK_FALSE(outcomes[10]->has_value());
  CHECK(store->stats().commits == commits_before + 1);
  CHECK(store->stats().keys == 3);
  CHECK((*store->get("k0"))->uuid == "u9");
}

}  // namespace kvs::storage::test
