#pragma once

// Helpers shared by the storage tests: opening a store in a temp dir, writing fixed versions,
// and holding the writer thread so that a test decides exactly which intents share a batch.

#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/keys.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"
#include "support/versions.hpp"

namespace kvs::storage::test {

inline StoreOptions options_in(const kvs::test::TempDir& dir) {
  StoreOptions options;
  options.dir = dir.path() / "data";
  return options;
}

inline std::unique_ptr<Store> open_store(const StoreOptions& options) {
  auto store = Store::open(options);
  INFO(store.status().to_string());
  REQUIRE(store.is_ok());
  return std::move(*store);
}

using kvs::test::make_version;

// Writes `version` unconditionally.
inline Result<std::optional<Version>> put(Store& store, const Version& version) {
  return store.write(
      [version](WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(version); });
}

inline void require_put(Store& store, const Version& version) {
  auto written = put(store, version);
  INFO(written.status().to_string());
  REQUIRE(written.is_ok());
  REQUIRE(written->has_value());
}

inline std::optional<Version> require_get(const Store& store, std::string_view path) {
  auto held = store.get(path);
  INFO(held.status().to_string());
  REQUIRE(held.is_ok());
  return *held;
}

// Spins (yielding) until `done` holds. Used to wait for another thread to reach a point that
// the store reports; never a timed sleep.
template <class Predicate>
void spin_until(Predicate done) {
  while (!done()) std::this_thread::yield();
}

// Runs `decide` as a write on its own thread and returns the future of its result. The caller
// usually waits with spin_until(queued_for_testing() == n) so the queue order is known.
inline std::future<Result<std::optional<Version>>> write_async(Store& store, Decide decide) {
  return std::async(std::launch::async, [&store, decide = std::move(decide)]() mutable {
    return store.write(std::move(decide));
  });
}

inline std::string compressible_document(std::size_t size) {
  std::string doc = "{\"items\":[";
  while (doc.size() + 40 < size) doc += R"({"name":"widget","price":12.5},)";
  doc += R"({"end":true}]})";
  return doc;
}

// A JSON string of `size` bytes that zstd cannot shrink by 1/8, so it is stored raw.
inline std::string incompressible_document(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string doc = "\"";
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (doc.size() + 1 < size) doc.push_back(alphabet[random() % alphabet.size()]);
  doc.push_back('"');
  return doc;
}

inline std::vector<std::string> scan_paths(const Store& store, std::string_view start = {}, std::string_view end = {}) {
  std::vector<std::string> paths;
  Status scanned = store.scan(start, end, [&](const Version& version) {
    paths.push_back(version.path);
    return true;
  });
  INFO(scanned.to_string());
  REQUIRE(scanned.is_ok());
  return paths;
}

inline std::vector<std::string> since_paths(const Store& store, std::int64_t since_ms) {
  std::vector<std::string> paths;
  Status scanned = store.scan_since(since_ms, [&](const Version& version) {
    paths.push_back(version.path);
    return true;
  });
  INFO(scanned.to_string());
  REQUIRE(scanned.is_ok());
  return paths;
}

inline std::vector<std::string> expired_paths(const Store& store, std::int64_t now_ms, std::size_t limit = 100) {
  auto paths = store.expired(now_ms, limit);
  INFO(paths.status().to_string());
  REQUIRE(paths.is_ok());
  return *paths;
}

// A Decide that writes `version` unconditionally.
inline Decide writes(Version version) {
  return [version = std::move(version)](WriteView&) -> Result<std::optional<Version>> {
    return std::optional<Version>(version);
  };
}

// Occupies the writer thread with an intent whose Decide waits for release(): intents queued
// meanwhile all land in the next batch (up to max_batch). The held intent writes nothing.
class WriterHold {
 public:
  explicit WriterHold(Store& store) {
    result_ = write_async(store, [this](WriteView&) -> Result<std::optional<Version>> {
      holding_ = true;
      spin_until([this] { return released_.load(); });
      return std::optional<Version>();
    });
    spin_until([this] { return holding_.load(); });
  }
  ~WriterHold() { release(); }
  WriterHold(const WriterHold&) = delete;
  WriterHold& operator=(const WriterHold&) = delete;

  void release() {
    released_ = true;
    if (result_.valid()) (void)result_.get();
  }

 private:
  std::atomic<bool> holding_{false};
  std::atomic<bool> released_{false};
  std::future<Result<std::optional<Version>>> result_;
};

// Writes of "k0" .. "k<count - 1>", sent one at a time, each once the last is queued: behind a
// WriterHold they wait in the queue, in that order. Their results, in that order.
inline std::vector<std::future<Result<std::optional<Version>>>> queue_writes(Store& store, int count) {
  std::vector<std::future<Result<std::optional<Version>>>> results;
  for (int i = 0; i < count; ++i) {
    results.push_back(write_async(store, writes(make_version("k" + std::to_string(i), "u", 1, "1"))));
    spin_until([&] { return store.queued_for_testing() == results.size(); });
  }
  return results;
}

// One batch that runs out of space: "small" (uuid u1, timestamp 2, fits) and "huge" (u2, 3: a
// 4 MiB incompressible document, larger than a 1 MiB map, and allowed the headroom so that it
// reaches LMDB), queued behind a WriterHold so that they share a batch. The batch fails with
// MDB_MAP_FULL and rolls back; its intents run again alone. Returns the two results in that order.
// Requires: a store with a 1 MiB map and compression off.
inline std::vector<std::future<Result<std::optional<Version>>>> write_batch_overflowing_map(Store& store) {
  std::vector<std::future<Result<std::optional<Version>>>> results;
  WriterHold hold(store);
  results.push_back(write_async(store, writes(make_version("small", "u1", 2, "1"))));
  spin_until([&] { return store.queued_for_testing() == 1; });
  Version huge = make_version("huge", "u2", 3, incompressible_document(std::size_t{4} << 20, 1));
  results.push_back(std::async(std::launch::async, [&store, huge] {
    return store.write(writes(huge), 0, Headroom::kMayUse);
  }));
  spin_until([&] { return store.queued_for_testing() == 2; });
  return results;
}

// Turns the closed store in `dir` into what a build of on-disk format version "2" left: the
// revisions of each path under path keys in "revisions" (each version's record as it was, with
// its path), `versions` records without a revision reference, no revision log, and
// format_version "2". Records are encoded again with default codec options.
inline void rewrite_as_format_2(const std::filesystem::path& dir) {
  auto env = lmdb::Env::open(dir, std::size_t{1} << 30);
  INFO(env.status().to_string());
  REQUIRE(env.is_ok());
  lmdb::WriteTxn txn;
  REQUIRE(txn.begin(**env).is_ok());
  auto meta = txn.open_db("meta");
  auto versions = txn.open_db("versions");
  auto log = txn.open_db("revision_log");
  auto by_path = txn.open_db("revisions");
  REQUIRE((meta.is_ok() && versions.is_ok() && log.is_ok() && by_path.is_ok()));
  {
    lmdb::Cursor cursor;
    REQUIRE(cursor.open(txn, *log, "revision_log").is_ok());
    for (bool at = cursor.first(); at; at = cursor.first()) {
      auto entry = decode_revision_entry(cursor.value());
      REQUIRE(entry.is_ok());
      auto version = decode_record(entry->record);
      REQUIRE(version.is_ok());
      REQUIRE(txn.put(*by_path, keys::revision_key(keys::path_key(version->path), entry->revision), entry->record,
                      lmdb::What{"revision"})
                  .is_ok());
      REQUIRE(cursor.del("move").is_ok());
    }
  }
  std::vector<std::pair<std::string, std::string>> records;
  {
    lmdb::Cursor cursor;
    REQUIRE(cursor.open(txn, *versions, "versions").is_ok());
    for (bool at = cursor.first(); at; at = cursor.next()) {
      auto version = decode_record(cursor.value(), RecordPart::kAll, cursor.key());
      REQUIRE(version.is_ok());
      std::string record = encode_record(*version, CodecOptions{});
      if (!keys::is_hashed(cursor.key())) record = drop_path(record);
      records.emplace_back(std::string(cursor.key()), std::move(record));
    }
  }
  for (const auto& [key, record] : records) REQUIRE(txn.put(*versions, key, record, lmdb::What{"version"}).is_ok());
  for (const char* name : {"stats.last_revision_id", "stats.revision_sweep"}) {
    REQUIRE(txn.del(*meta, name, lmdb::What{"counter"}).is_ok());
  }
  REQUIRE(txn.put(*meta, "format_version", "2", lmdb::What{"format"}).is_ok());
  REQUIRE(txn.commit().is_ok());
}

// The number of entries in the named database of the closed store in `dir`.
inline std::uint64_t stored_entries(const std::filesystem::path& dir, const char* database) {
  auto env = lmdb::Env::open(dir, std::size_t{1} << 30);
  REQUIRE(env.is_ok());
  lmdb::WriteTxn txn;
  REQUIRE(txn.begin(**env).is_ok());
  auto dbi = txn.open_db(database);
  REQUIRE(dbi.is_ok());
  auto entries = txn.entries(*dbi, lmdb::What{database});
  REQUIRE(entries.is_ok());
  txn.abort();
  return *entries;
}

}  // namespace kvs::storage::test
