#pragma once

// BackupService: what `POST /admin/backup`, `Node::backup_now()` and the backup scheduler share.
// It names each backup after its creation time, writes it with write_backup, applies retention
// afterwards, and updates the node's metrics. At most one backup runs at a time: a second
// request while one runs gets kUnavailable at once instead of queuing (a backup reads the whole
// environment; two in parallel only slow each other down).
//
// Node owns one (when backup_enabled). `run` blocks for the length of the backup, so call it
// from an admin request's thread or the node's backup timer thread, never from the cluster loop
// or the storage writer. Every method is safe from any thread. The clock and the metrics are
// borrowed and must outlive the service.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "features/backup.hpp"
#include "features/metrics.hpp"
#include "kvs/clock.hpp"
#include "kvs/status.hpp"

namespace kvs::features {

struct BackupSettings {
  std::filesystem::path dir;           // config backup_path
  std::int64_t retention_days = 7;     // config backup_retention; <= 0 keeps everything
  int compression_level = 3;           // config compression_level
  std::string node_id;                 // recorded in each backup's header
};

struct BackupOutcome {
  BackupInfo info;                             // with duration_ms: how long the backup took
  std::vector<std::filesystem::path> removed;  // deleted by retention after this backup
  Status retention;                            // retention's own result; the backup stands either way
};

class BackupService {
 public:
  // `metrics` may be null (an embedder without metrics).
  BackupService(BackupSettings settings, const Clock& clock, NodeMetrics* metrics);

  // Takes a backup now through `copy_env_to_fd` (see write_backup), then applies retention.
  // kUnavailable when a backup is already running; otherwise write_backup's codes.
  Result<BackupOutcome> run(const std::function<Status(int fd)>& copy_env_to_fd);

  // list_backups(settings.dir).
  Result<std::vector<BackupInfo>> list() const;

  bool running() const noexcept { return running_.load(); }
  const BackupSettings& settings() const noexcept { return settings_; }

 private:
  BackupSettings settings_;
  const Clock& clock_;
  NodeMetrics* metrics_;
  std::atomic<bool> running_{false};
};

}  // namespace kvs::features
