#include "features/ttl_sweeper.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kvs/log.hpp"

namespace kvs::features {

Version expiry_tombstone(Version expired) {
  expired.deleted = true;
  expired.data.clear();
  return expired;
}

std::int64_t tombstone_time(const Version& tombstone) noexcept {
  return std::max(tombstone.timestamp_ms, tombstone.expires_at_ms.value_or(tombstone.timestamp_ms));
}

TtlSweeper::TtlSweeper(keyspace::Keyspace& keyspace, const Clock& clock, TtlSweeperOptions options)
    : keyspace_(keyspace), clock_(clock), options_(std::move(options)) {}

TtlSweeper::~TtlSweeper() { stop(); }

void TtlSweeper::start() { thread_.start([this] { run(); }); }

void TtlSweeper::stop() { thread_.stop(); }

Result<std::size_t> TtlSweeper::sweep_now(bool tombstones) {
  MutexLock lock(sweep_mutex_);
  return sweep(tombstones);
}

Result<std::size_t> TtlSweeper::sweep(bool tombstones) {
  std::int64_t now = clock_.now_ms();
  auto expired = expire(now);
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

Result<std::size_t> TtlSweeper::expire(std::int64_t now) {
  const storage::Store& store = keyspace_.store();
  std::size_t expired = 0;
  for (;;) {
    auto paths = store.expired(now, options_.batch);
    if (!paths.is_ok()) return paths.status();
    if (paths->empty()) break;
    const std::size_t found = paths->size();
    std::vector<storage::Store::WriteRequest> requests(found);
    for (std::size_t i = 0; i < found; ++i) {
      // Decided inside the write transaction: an overwrite that raced with this sweep stands
      // (the Decide then finds a version that has not expired and writes nothing).
      requests[i].decide = [path = std::move((*paths)[i]),
                            now](storage::WriteView& view) -> Result<std::optional<Version>> {
        auto held = view.get(path);
        if (!held.is_ok()) return held.status();
        if (!held->has_value() || (*held)->deleted || !is_expired(**held, now)) return std::optional<Version>();
        return std::optional<Version>(expiry_tombstone(std::move(**held)));
      };
    }
    // One batch, one commit. No audit entry: an expiry is nobody's act (it never had one).
    std::size_t before = expired;
    for (auto& written : keyspace_.write_all(keyspace::Origin::kExpiry, std::move(requests))) {
      if (!written.is_ok()) return written.status();
      if (written->has_value()) ++expired;
    }
    // A batch that expired nothing holds only entries that raced with overwrites: the next
    // read will not see them, since the overwrite replaced their index entries.
    if (found < options_.batch || expired == before) break;
  }
  return expired;
}

Result<std::size_t> TtlSweeper::purge_tombstones(std::int64_t now) {
  std::int64_t cutoff = now - options_.tombstone_ttl.count();
  std::vector<Version> doomed;  // tombstones: no documents to copy
  Status scanned = keyspace_.store().scan("", "", [&](const Version& version) {
    if (version.deleted && tombstone_time(version) <= cutoff) doomed.push_back(version);
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
  // Nothing calls wake(): only stop() ends a period early.
  while (thread_.wait_for(options_.period)) {
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
