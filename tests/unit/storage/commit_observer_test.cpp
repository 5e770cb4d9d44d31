// The Store's commit observer (StoreOptions::commit_observer), which the writer
// (storage/writer.cpp) calls once per committed batch. These tests record what it is told and
// compare it with what was written; they do not cover the observers the node registers.

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

// A copy of one Committed, made inside the observer call (the pointers die with it).
struct Seen {
  Committed::Kind kind = Committed::Kind::kWrite;
  std::uint8_t tag = 0;
  std::uint64_t sequence = 0;
  std::optional<Version> previous;
  Version version;
  std::size_t batch = 0;  // which observer call it came in, from 0
};

// Records every committed mutation. The observer runs on the writer thread; the test reads
// after its writes returned, and the mutex keeps that visible to ThreadSanitizer too.
class Recorder {
 public:
  CommitObserver observer() {
    return [this](std::span<const Committed> batch) {
      std::lock_guard lock(mutex_);
      for (const Committed& committed : batch) {
        Seen seen{committed.kind, committed.tag, committed.sequence, std::nullopt, *committed.version, batches_};
        if (committed.previous != nullptr) seen.previous = *committed.previous;
        seen_.push_back(std::move(seen));
      }
      batches_ += 1;
    };
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
  std::size_t batches_ = 0;
};

Version without_data(Version version) {
  version.data.clear();
  return version;
}

}  // namespace

TEST_CASE("the commit observer sees every write, batch write and purge once, in commit order", "[storage][observer]") {
  TempDir dir;
  Recorder recorder;
  auto options = options_in(dir);
  options.audit_enabled = true;
  options.commit_observer = recorder.observer();
  auto store = open_store(options);

  // A document large enough to be stored compressed: the previous version must come back
  // without it all the same.
  const Version first = make_version("a", "ua1", 10, compressible_document(4000));
  const Version second = make_version("a", "ua2", 20, R"({"v":2})");
  Version tombstone = make_version("a", "ua3", 30, "");
  tombstone.deleted = true;

  REQUIRE(store->write(writes(first), 1).is_ok());
  REQUIRE(store->write(writes(second), AuditNote{"local", "kv.put", 20, std::nullopt}, 2).is_ok());
  REQUIRE(store->write(writes(tombstone), 3).is_ok());

  // One batch: the Decide that writes nothing and the one that fails are not reported.
  std::vector<Store::WriteRequest> requests;
  requests.push_back({writes(make_version("b", "ub", 40, "1")), std::nullopt, 4});
  requests.push_back({[](WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(); },
                      std::nullopt, 5});
  requests.push_back(
      {[](WriteView&) -> Result<std::optional<Version>> { return Status::invalid_argument("no"); }, std::nullopt, 6});
  requests.push_back({writes(make_version("c", "uc", 50, "2")), std::nullopt, 7});
  for (auto& outcome : store->write_all(std::move(requests))) (void)outcome;

  // Intents that change no version are not reported either.
  REQUIRE(store->put_meta("node_id", "n1").is_ok());
  REQUIRE(store->append_audit("members/x", AuditNote{"system", "member.join", 60, std::nullopt}).is_ok());
  auto other_uuid = store->purge("a", "not-its-uuid", 8);
  REQUIRE(other_uuid.is_ok());
  CHECK_FALSE(*other_uuid);
  auto absent = store->purge("nothing-here", "u", 9);
  REQUIRE(absent.is_ok());
  CHECK_FALSE(*absent);

  auto purged = store->purge("a", "ua3", 10);
  REQUIRE(purged.is_ok());
  CHECK(*purged);

  const auto seen = recorder.seen();
  REQUIRE(seen.size() == 6);
  using Kind = Committed::Kind;

  CHECK(seen[0].kind == Kind::kWrite);
  CHECK(seen[0].tag == 1);
  CHECK(seen[0].sequence == 1);
  CHECK_FALSE(seen[0].previous.has_value());
  CHECK(seen[0].version == first);

  CHECK(seen[1].tag == 2);
  CHECK(seen[1].sequence == 2);
  REQUIRE(seen[1].previous.has_value());
  CHECK(*seen[1].previous == without_data(first));  // metadata only
  CHECK(seen[1].version == second);

  CHECK(seen[2].tag == 3);
  CHECK(seen[2].sequence == 3);
  REQUIRE(seen[2].previous.has_value());
  CHECK(*seen[2].previous == without_data(second));
  CHECK(seen[2].version == tombstone);

  // write_all: the two that wrote, in request order, in one observer call.
  CHECK(seen[3].tag == 4);
  CHECK(seen[3].version.path == "b");
  CHECK(seen[3].sequence == 4);
  CHECK(seen[4].tag == 7);
  CHECK(seen[4].version.path == "c");
  CHECK(seen[4].sequence == 5);
  CHECK(seen[3].batch == seen[4].batch);
  CHECK(seen[4].batch == seen[2].batch + 1);

  // The purge: the removed tombstone, metadata only, with no sequence and no previous.
  CHECK(seen[5].kind == Kind::kPurge);
  CHECK(seen[5].tag == 10);
  CHECK(seen[5].sequence == 0);
  CHECK_FALSE(seen[5].previous.has_value());
  CHECK(seen[5].version == without_data(tombstone));

  // The sequence numbers are the store's own change sequence.
  auto changes = store->changes(0, 10);
  REQUIRE(changes.is_ok());
  REQUIRE(changes->size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK((*changes)[i].first == seen[i].sequence);
    CHECK((*changes)[i].second == seen[i].version.path);
  }
  // No observer call was made for batches that changed no version.
  CHECK(recorder.batches() == 5);
}

TEST_CASE("the commit observer is not told of a rolled-back batch", "[storage][observer]") {
  TempDir dir;
  Recorder recorder;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  options.commit_observer = recorder.observer();
  auto store = open_store(options);
  REQUIRE(store->write(writes(make_version("before", "u0", 1, "1")), 1).is_ok());

  // The batch rolls back; its intents run again alone, and only "small" fits.
  auto results = write_batch_overflowing_map(*store);
  CHECK(results[0].get().is_ok());
  CHECK(results[1].get().status().code() == Status::Code::kInsufficientStorage);

  REQUIRE(store->write(writes(make_version("after", "u3", 4, "1")), 2).is_ok());
  const auto seen = recorder.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].version.path == "before");
  CHECK(seen[1].version.path == "small");
  CHECK(seen[1].sequence == 2);  // the rolled-back batch took no sequence numbers
  CHECK(seen[2].version.path == "after");
  CHECK(seen[2].sequence == 3);
}

TEST_CASE("a write returns only after the commit observer has seen it", "[storage][observer]") {
  TempDir dir;
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<bool> finished{false};
  std::atomic<std::size_t> batch_size{0};
  auto options = options_in(dir);
  options.commit_observer = [&](std::span<const Committed> batch) {
    batch_size = batch.size();
    entered = true;
    spin_until([&] { return release.load(); });
    finished = true;
  };
  auto store = open_store(options);

  auto result = std::async(std::launch::async, [&] { return store->write(writes(make_version("k", "u", 1, "1"))); });
  spin_until([&] { return entered.load(); });
  // The commit is durable, but its caller has not been woken while the observer runs.
  CHECK(result.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  CHECK(require_get(*store, "k").has_value());
  release = true;
  auto written = result.get();
  CHECK(written.is_ok());
  CHECK(finished.load());
  CHECK(batch_size.load() == 1);
}

TEST_CASE("a write from inside the commit observer is refused rather than deadlocking", "[storage][observer]") {
  TempDir dir;
  std::optional<Status> refused;
  Store* raw = nullptr;
  auto options = options_in(dir);
  options.commit_observer = [&](std::span<const Committed>) {
    if (refused) return;
    refused = raw->write(writes(make_version("nested", "u2", 2, "1"))).status();
  };
  auto store = open_store(options);
  raw = store.get();
  REQUIRE(store->write(writes(make_version("k", "u", 1, "1"))).is_ok());
  REQUIRE(refused.has_value());
  CHECK(refused->code() == Status::Code::kInternal);
  CHECK_FALSE(require_get(*store, "nested").has_value());
}

}  // namespace kvs::storage::test
