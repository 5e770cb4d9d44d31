// storage::DiskTimings: the store times what its threads wait for on the disk. With the redo
// log, each durable write's log sync is counted, and so are the held transaction's commits and
// the checkpoints' syncs of data.mdb; without it, each write's own synced commit is.

#include "storage/disk_timings.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

constexpr int kWrites = 20;

// One write per batch: each returns only after its own sync.
void write_one_by_one(Store& store) {
  for (int i = 0; i < kWrites; ++i) {
    Version version = make_version("timed/k" + std::to_string(i), "u" + std::to_string(i), 1000 + i, "{\"i\":1}");
    auto written = store.write(writes(version));
    INFO(written.status().to_string());
    REQUIRE(written.is_ok());
  }
}

// Waits up to 10 s for `histogram` to count at least `count` observations.
bool counts_at_least(const util::Histogram& histogram, std::uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (histogram.snapshot().count < count) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_CASE("with the redo log, the store times its log syncs, its commits and its checkpoint syncs",
          "[storage][redo][metrics]") {
  kvs::test::TempDir dir;
  StoreOptions options = options_in(dir);
  options.hold = std::chrono::milliseconds(20);
  options.checkpoint.interval = std::chrono::milliseconds(50);
  auto store = open_store(options);
  const DiskTimings& timings = store->disk_timings();
  // Opening takes the first checkpoint, synchronously.
  CHECK(timings.checkpoint_sync.snapshot().count >= 1);
  CHECK(timings.log_sync.snapshot().count == 0);

  write_one_by_one(*store);
  const util::Histogram::Snapshot syncs = timings.log_sync.snapshot();
  CHECK(syncs.count >= kWrites);
  CHECK(syncs.sum > 0);
  // The held transaction commits once it has been open 20 ms, writes or none.
  CHECK(counts_at_least(timings.commit, 1));
  CHECK(timings.commit.snapshot().sum > 0);
  // A checkpoint begins at a commit once 50 ms have passed since the last one: one more write,
  // later than that, makes the next commit begin one, which syncs data.mdb in the background.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  auto written = store->write(writes(make_version("timed/late", "u-late", 2000, "{\"i\":2}")));
  REQUIRE(written.is_ok());
  CHECK(counts_at_least(timings.commit, 2));
  CHECK(counts_at_least(timings.checkpoint_sync, 2));
}

TEST_CASE("without the redo log, each write's synced commit is timed and no log sync is",
          "[storage][metrics]") {
  kvs::test::TempDir dir;
  StoreOptions options = options_in(dir);
  options.redo_log = false;
  auto store = open_store(options);
  const DiskTimings& timings = store->disk_timings();
  const std::uint64_t before = timings.commit.snapshot().count;  // open may commit its setup

  write_one_by_one(*store);
  CHECK(timings.commit.snapshot().count >= before + kWrites);
  CHECK(timings.log_sync.snapshot().count == 0);
  CHECK(timings.checkpoint_sync.snapshot().count == 0);
}

}  // namespace
}  // namespace kvs::storage::test
