// The writer (storage/writer.cpp) as seen through the Store: Decide outcomes, group commit,
// the queue bound, rolled-back batches and draining on close. The commit observer has its own
// file, commit_observer_test.cpp.

#include "storage/writer.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

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

TEST_CASE("a caller is woken by its own batch's commit, not by the batch before it", "[storage][group-commit]") {
  // The writer wakes callers with one broadcast per batch: a caller whose intent is in a later
  // batch wakes too, and must go back to waiting until its own batch has committed.
  TempDir dir;
  auto store = open_store(options_in(dir));
  std::atomic<bool> deciding{false};
  std::atomic<bool> gate{false};
  std::future<Result<std::optional<Version>>> later;
  {
    WriterHold hold(*store);
    later = write_async(*store, [&](WriteView&) -> Result<std::optional<Version>> {
      deciding = true;
      spin_until([&] { return gate.load(); });
      return std::optional<Version>(make_version("later", "u-later", 1, "{}"));
    });
    spin_until([&] { return store->queued_for_testing() == 1; });
  }  // the held batch commits and its callers are woken; the later intent runs next
  spin_until([&] { return deciding.load(); });
  CHECK(later.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout);
  auto before = store->get("later");
  REQUIRE(before.is_ok());
  CHECK_FALSE(before->has_value());

  gate = true;
  auto written = later.get();
  REQUIRE(written.is_ok());
  REQUIRE(written->has_value());
  CHECK((*written)->uuid == "u-later");
  // Returned only once committed: the write is there for the next reader.
  auto after = store->get("later");
  REQUIRE(after.is_ok());
  REQUIRE(after->has_value());
  CHECK((*after)->uuid == "u-later");
}

TEST_CASE("intents queued while the writer is busy share one commit, up to max_batch", "[storage][group-commit]") {
  TempDir dir;
  auto options = options_in(dir);
  options.max_batch = 4;
  auto store = open_store(options);
  std::vector<std::future<Result<std::optional<Version>>>> results;
  {
    WriterHold hold(*store);
    results = queue_writes(*store, 10);
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
    results = queue_writes(*store, 2);
    auto refused = put(*store, make_version("k2", "u", 1, "1"));
    CHECK(refused.status().code() == Status::Code::kUnavailable);
    CHECK(refused.status().message().find("full") != std::string::npos);
  }
  for (auto& result : results) CHECK(result.get().is_ok());
  CHECK(require_get(*store, "k2") == std::nullopt);
}

TEST_CASE("a batch that runs out of space is rolled back and its intents run again alone: those that fit commit",
          "[storage]") {
  TempDir dir;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  auto store = open_store(options);
  require_put(*store, make_version("before", "u0", 1, "1"));
  auto stats_before = store->stats();

  auto results = write_batch_overflowing_map(*store);
  auto small = results[0].get();
  INFO(small.status().to_string());
  CHECK(small.is_ok());
  auto huge = results[1].get();
  CHECK(huge.status().code() == Status::Code::kInsufficientStorage);
  CHECK(huge.status().message().find("MDB_MAP_FULL") != std::string::npos);
  CHECK(huge.status().message().find("map_size_mb") != std::string::npos);
  CHECK(require_get(*store, "small").has_value());
  CHECK(require_get(*store, "huge") == std::nullopt);
  auto stats_after = store->stats();
  CHECK(stats_after.keys == stats_before.keys + 1);
  CHECK(stats_after.last_sequence == stats_before.last_sequence + 1);
  CHECK(stats_after.commits == stats_before.commits + 2);  // the held intent's, then "small" alone

  // The store keeps working.
  require_put(*store, make_version("after", "u3", 4, "1"));
  CHECK(scan_paths(*store) == std::vector<std::string>{"after", "before", "small"});
  auto changes = store->changes(0, 10);
  REQUIRE(changes.is_ok());
  CHECK(changes->size() == 3);
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

}  // namespace
}  // namespace kvs::storage::test
