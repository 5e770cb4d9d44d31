#include "features/backup_service.hpp"

#include <chrono>
#include <utility>

namespace kvs::features {

BackupService::BackupService(BackupSettings settings, const Clock& clock, NodeMetrics* metrics)
    : settings_(std::move(settings)), clock_(clock), metrics_(metrics) {}

Result<BackupOutcome> BackupService::run(const std::function<Status(int fd)>& copy_env_to_fd) {
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true)) {
    return Status::unavailable("a backup is already running; try again when it is done");
  }
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false); }
  } release{running_};

  const auto started = clock_.monotonic_now();
  BackupWriteOptions options;
  options.created_at_ms = clock_.now_ms();
  options.node_id = settings_.node_id;
  options.compression_level = settings_.compression_level;
  auto written = write_backup(settings_.dir / backup_file_name(options.created_at_ms), copy_env_to_fd, options);
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic_now() - started).count();
  if (!written) {
    if (metrics_ != nullptr) metrics_->backups.labels({"failed"}).inc();
    return written.status();
  }

  BackupOutcome outcome;
  outcome.info = std::move(*written);
  outcome.info.duration_ms = static_cast<std::int64_t>(duration_ms);
  if (metrics_ != nullptr) {
    metrics_->backups.labels({"ok"}).inc();
    metrics_->backup_last_success.set(static_cast<double>(outcome.info.created_at_ms) / 1000.0);
    metrics_->backup_last_bytes.set(static_cast<double>(outcome.info.bytes));
    metrics_->backup_last_duration.set(static_cast<double>(outcome.info.duration_ms) / 1000.0);
  }
  auto removed = apply_retention(settings_.dir, settings_.retention_days, clock_.now_ms());
  if (removed) {
    outcome.removed = std::move(*removed);
  } else {
    outcome.retention = removed.status();
  }
  return outcome;
}

Result<std::vector<BackupInfo>> BackupService::list() const { return list_backups(settings_.dir); }

}  // namespace kvs::features
