#include "features/ttl_sweeper.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kvs/log.hpp"

namespace kvs::features {

TtlSweeper::TtlSweeper(keyspace::Keyspace& keyspace, const Clock& clock, TtlSweeperOptions options)
    : keyspace_(keyspace), clock_(clock), options_(std::move(options)) {}

TtlSweeper::~TtlSweeper() { stop(); }

void TtlSweeper::start() {
  MutexLock lock(thread_mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void TtlSweeper::stop() {
  {
    MutexLock lock(thread_mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::size_t> TtlSweeper::sweep_now(bool tombstones) {
  MutexLock lock(sweep_mutex_);
  return sweep(tombstones);
}

Result<std::size_t> TtlSweeper::sweep(bool tombstones) {
  std::int64_t now = clock_.now_ms();
  auto expired = purge_expired(now);
  if (!expired.is_ok()) return expired;
  std::size_t total = *expired;
  if (options_.after_sweep) options_.after_sweep();
  if (tombstones) {
    auto purged = purge_tombstones(now);
    if (!purged.is_ok()) return purged;
    total += *purged;
    last_tombstone_sweep_ms_ = now;
  }
  return total;
}

Result<std::size_t> TtlSweeper::purge_expired(std::int64_t now) {
  const storage::Store& store = keyspace_.store();
  std::size_t purged = 0;
  for (;;) {
    auto paths = store.expired(now, options_.batch);
    if (!paths.is_ok()) return paths.status();
    if (paths->empty()) break;
    std::size_t before = purged;
    for (const auto& path : *paths) {
      auto current = store.get(path);
      if (!current.is_ok()) return current.status();
      if (!current->has_value() || !is_expired(**current, now)) continue;
      // Only while the expired version is still the current one: an overwrite that raced
      // with this sweep stands.
      auto removed = keyspace_.purge(keyspace::Origin::kExpiry, path, (*current)->uuid);
      if (!removed.is_ok()) return removed.status();
      if (*removed) ++purged;
    }
    // A batch that purged nothing holds only entries that raced with overwrites: the next
    // read will not see them, since the overwrite replaced their index entries.
    if (paths->size() < options_.batch || purged == before) break;
  }
  return purged;
}

Result<std::size_t> TtlSweeper::purge_tombstones(std::int64_t now) {
  std::int64_t cutoff = now - options_.tombstone_ttl.count();
  std::vector<Version> doomed;  // tombstones: no documents to copy
  Status scanned = keyspace_.store().scan("", "", [&](const Version& version) {
    if (version.deleted && version.timestamp_ms <= cutoff) doomed.push_back(version);
    return true;
  });
  if (!scanned.is_ok()) return scanned;
  std::size_t purged = 0;
  for (const auto& tombstone : doomed) {
    auto removed = keyspace_.purge(keyspace::Origin::kTombstonePurge, tombstone.path, tombstone.uuid);
    if (!removed.is_ok()) return removed.status();
    if (*removed) ++purged;
  }
  return purged;
}

void TtlSweeper::run() {
  for (;;) {
    {
      MutexLock lock(thread_mutex_);
      if (lock.wait_for(wakeup_, options_.period, [&]() KVS_REQUIRES(thread_mutex_) { return stopping_; })) break;
    }
    Result<std::size_t> swept = std::size_t{0};
    {
      MutexLock sweep_lock(sweep_mutex_);
      auto period = std::min<std::int64_t>(options_.tombstone_ttl.count() / 10, 3'600'000);
      bool tombstones = clock_.now_ms() - last_tombstone_sweep_ms_ >= period;
      swept = sweep(tombstones);
    }
    if (!swept.is_ok()) {
      log(LogLevel::kWarn, "sweeper.failed", {{"error", swept.status().to_string()}});
    } else if (*swept > 0) {
      log(LogLevel::kDebug, "sweeper.purged", {{"versions", std::to_string(*swept)}});
    }
  }
}

}  // namespace kvs::features
