// Node's operations (SPEC section 2, "Operations"): metrics, rate limiting and backups. The
// building blocks live in features/; this file owns their wiring into a Node: which settings
// they take from the Config, which thread runs scheduled backups, and who may call what.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "features/backup.hpp"
#include "features/backup_service.hpp"
#include "features/cron.hpp"
#include "features/metrics.hpp"
#include "features/rate_limiter.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "node/node_impl.hpp"
#include "storage/disk_timings.hpp"
#include "storage/lock_file.hpp"
#include "storage/store.hpp"

namespace kvs {
namespace {

// Backups and the backup list are admin business: the embedding application (trusted), or a
// token with the admin scope when auth is on.
Status check_admin(const Caller& caller, const Config& config, std::string_view what) {
  if (!config.auth_enabled || caller.trusted || auth::is_admin(caller.scopes)) return Status::ok();
  return Status::permission_denied(std::string(what) + " needs the admin scope");
}

}  // namespace

struct Node::Impl::Ops final : keyspace::Observer {
  // The registry outlives `metrics`, which holds references into it.
  features::MetricsRegistry registry;
  features::NodeMetrics metrics{registry};
  std::unique_ptr<features::RateLimiter> limiter;    // null when rate_limiting_enabled is off
  std::unique_ptr<features::BackupService> backups;  // null when backup_enabled is off

  // Held while an export snapshot is copied and opened, so that the sweep of copies left by a
  // crash never takes a fresh copy whose store has not locked it yet.
  std::mutex export_mutex;

  // The backup scheduler thread wakes every second and asks `scheduler` whether a backup is
  // due (a one-second poll, like the sweeper, so a wall clock that jumps is noticed soon).
  // `mutex` guards `stopping`.
  std::optional<features::BackupScheduler> scheduler;
  std::mutex mutex;
  std::condition_variable wakeup;
  bool stopping = false;
  std::thread thread;

  // kvs_writes_total{kind}: every version this node applies, by where it came from.
  features::Counter* local_puts = &metrics.writes.labels({"put"});
  features::Counter* local_deletes = &metrics.writes.labels({"delete"});
  features::Counter* replicated = &metrics.writes.labels({"replicated"});
  features::Counter* imported = &metrics.writes.labels({"import"});
  keyspace::Keyspace::Registration registration;

  void on_change(const keyspace::Change& change) override {
    if (change.kind != keyspace::Change::Kind::kWrite) return;
    switch (change.origin) {
      case keyspace::Origin::kLocal:
        (change.version->deleted ? local_deletes : local_puts)->inc();
        break;
      case keyspace::Origin::kPeer: replicated->inc(); break;
      case keyspace::Origin::kImport: imported->inc(); break;
      case keyspace::Origin::kExpiry:
      case keyspace::Origin::kTombstonePurge: break;
    }
  }

  // Takes a backup of `impl`'s store now, for Node::backup_now and the scheduler alike, and
  // logs it: `event` ("backup.done", "backup.scheduled") and the audit head the backup holds,
  // or "backup.failed". Returns the backup's info, or why it failed. Requires: `backups` set.
  Result<BackupInfo> run_backup(const Impl& impl, std::string_view event) {
    const storage::Store* store = impl.store;
    // Read before the copy begins, so the backup holds this head.
    const audit::AuditTip head = store->stats().audit_head;
    auto outcome = backups->run([store](int fd) { return store->copy_to_fd(fd); });
    if (!outcome.is_ok()) {
      log(LogLevel::kError, "backup.failed", {{"error", outcome.status().to_string()}});
      return outcome.status();
    }
    if (!outcome->retention.is_ok()) {
      log(LogLevel::kWarn, "backup.retention_failed", {{"error", outcome->retention.to_string()}});
    }
    log(LogLevel::kInfo, event,
        {{"path", outcome->info.path}, {"bytes", std::to_string(outcome->info.bytes)},
         {"duration_ms", std::to_string(outcome->info.duration_ms)},
         {"removed", std::to_string(outcome->removed.size())}});
    impl.log_audit_head(head, "backup " + outcome->info.path);
    return std::move(outcome->info);
  }

  ~Ops() {
    registration = {};
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wakeup.notify_all();
    // A scheduled backup that is running finishes first: its file is then complete.
    if (thread.joinable()) thread.join();
  }
};

void Node::Impl::OpsDeleter::operator()(Ops* ops) const noexcept { delete ops; }

Status Node::Impl::open_ops(bool scheduler) {
  ops.reset(new Ops());
  ops->registration = keyspace->observe(*ops);
  ops->metrics.read_only.set(config.read_only ? 1.0 : 0.0);
  // Series that are zero until something happens are created now, so that a scrape shows
  // them (and alerts on their rate work) from the start.
  for (const char* result : {"ok", "failed"}) {
    ops->metrics.backups.labels({result});
    ops->metrics.anti_entropy_rounds.labels({result});
  }

  if (config.rate_limiting_enabled) {
    features::RateLimiterOptions options;
    options.requests = config.rate_limit_requests;
    options.window = config.rate_limit_window;
    ops->limiter = std::make_unique<features::RateLimiter>(options);
  }

  if (config.backup_enabled) {
    features::BackupSettings settings;
    settings.dir = config.backup_path;
    settings.retention_days = config.backup_retention;
    settings.compression_level = config.compression_level;
    settings.node_id = config.node_id;
    ops->backups = std::make_unique<features::BackupService>(std::move(settings), *clock, &ops->metrics);

    auto schedule = features::CronSchedule::parse(config.backup_schedule);
    if (!schedule.is_ok()) return schedule.status().with_context("backup_schedule");
    if (scheduler) {
      ops->scheduler.emplace(std::move(*schedule));
      Impl* impl = this;
      Ops* state = ops.get();
      state->thread = std::thread([impl, state] {
        std::unique_lock lock(state->mutex);
        while (!state->stopping) {
          state->wakeup.wait_for(lock, std::chrono::seconds(1), [&] { return state->stopping; });
          if (state->stopping) break;
          if (!state->scheduler->due(impl->now_ms())) continue;
          // Unlocked while the backup runs, so that the destructor can ask it to stop and
          // waits only for this one backup.
          lock.unlock();
          // A failure is logged there; the next backup is tried at its own time.
          static_cast<void>(state->run_backup(*impl, "backup.scheduled"));
          lock.lock();
        }
      });
      log(LogLevel::kInfo, "backup.scheduler_started",
          {{"schedule", config.backup_schedule}, {"backup_path", config.backup_path},
           {"retention_days", std::to_string(config.backup_retention)}});
    }
  }
  return Status::ok();
}

Result<BackupInfo> Node::backup_now(const CallOptions& options) {
  if (Status allowed = check_admin(options.caller, impl_->config, "a backup"); !allowed.is_ok()) return allowed;
  if (!impl_->ops->backups) return Status::unavailable("backups are disabled (backup_enabled is false)");
  return impl_->ops->run_backup(*impl_, "backup.done");
}

Result<std::vector<BackupInfo>> Node::list_backups(const CallOptions& options) const {
  if (Status allowed = check_admin(options.caller, impl_->config, "the backup list"); !allowed.is_ok()) return allowed;
  if (!impl_->ops->backups) return Status::unavailable("backups are disabled (backup_enabled is false)");
  return impl_->ops->backups->list();
}

// ---- Online export ---------------------------------------------------------------------------

struct ExportSnapshot::Impl {
  std::filesystem::path dir;                   // <data_dir>/exports/<name>: the copy's own store
  std::unique_ptr<storage::Store> store;       // the copy, opened like any store (own LOCK)
  std::string start;                           // the next page begins at this path
  bool done = false;

  ~Impl() {
    store.reset();  // closes the copy and releases its LOCK before the files go
    std::error_code error;
    std::filesystem::remove_all(dir, error);
    if (error) log(LogLevel::kWarn, "export.cleanup_failed", {{"path", dir.string()}, {"error", error.message()}});
  }
};

ExportSnapshot::ExportSnapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExportSnapshot::~ExportSnapshot() = default;

Result<bool> ExportSnapshot::next(std::vector<Version>& out, std::size_t max_versions) {
  if (impl_->done) return false;
  if (max_versions == 0) return true;
  std::size_t taken = 0;
  std::string last;
  // One read transaction per page, on the copy: nothing is held while the caller sends it.
  Status scanned = impl_->store->scan(impl_->start, "", [&](const Version& version) {
    out.push_back(version);
    last = version.path;
    return ++taken < max_versions;
  });
  if (!scanned.is_ok()) return scanned.with_context("export");
  if (taken < max_versions) {
    impl_->done = true;
    return false;
  }
  // The smallest path after `last`: paths hold no control bytes, so nothing sorts between.
  impl_->start = last + '\0';
  return true;
}

namespace {

// Deletes export copies that no store holds: left behind by a process that died mid-export.
// A copy in use is locked by its store's LOCK file, which this cannot take.
void remove_abandoned_exports(const std::filesystem::path& exports) {
  std::error_code error;
  std::vector<std::filesystem::path> found;
  for (std::filesystem::directory_iterator it(exports, error), end; !error && it != end; it.increment(error)) {
    found.push_back(it->path());
  }
  for (const auto& dir : found) {
    auto lock = storage::LockFile::acquire(dir / "LOCK");
    if (!lock.is_ok()) continue;  // in use, or not ours to judge
    lock->reset();
    std::filesystem::remove_all(dir, error);
    if (!error) log(LogLevel::kInfo, "export.abandoned_copy_removed", {{"path", dir.string()}});
  }
}

}  // namespace

Status Node::check_export(const CallOptions& options) const {
  return check_admin(options.caller, impl_->config, "an export");
}

Result<std::unique_ptr<ExportSnapshot>> Node::export_snapshot(const CallOptions& options) const {
  if (Status allowed = check_export(options); !allowed.is_ok()) return allowed;
  static std::atomic<std::uint64_t> counter{0};
  const std::filesystem::path exports = std::filesystem::path(impl_->config.data_dir) / "exports";
  std::lock_guard lock(impl_->ops->export_mutex);
  remove_abandoned_exports(exports);

  auto snapshot = std::make_unique<ExportSnapshot::Impl>();
  snapshot->dir = exports / ("export-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter.fetch_add(1, std::memory_order_relaxed)));
  std::error_code error;
  std::filesystem::create_directories(snapshot->dir, error);
  // Like every folder kvs makes in data_dir: the copy holds every document and secret.
  if (!error) {
    std::filesystem::permissions(exports, std::filesystem::perms::owner_all, error);
    if (!error) std::filesystem::permissions(snapshot->dir, std::filesystem::perms::owner_all, error);
  }
  if (error) return Status::io_error("cannot create " + snapshot->dir.string() + ": " + error.message());

  const std::filesystem::path file = snapshot->dir / "data.mdb";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error("cannot create " + file.string() + ": " + std::strerror(errno));
  Status copied = impl_->store->copy_to_fd(fd);
  if (::close(fd) != 0 && copied.is_ok()) {
    copied = Status::io_error("cannot write " + file.string() + ": " + std::strerror(errno));
  }
  if (!copied.is_ok()) return copied.with_context("export copy");

  storage::StoreOptions store_options;
  store_options.dir = snapshot->dir;
  store_options.map_size_bytes = impl_->config.map_size_mb * std::size_t{1024} * 1024;
  store_options.max_queue = 1;  // nothing writes to the copy
  store_options.redo_log = false;
  auto store = storage::Store::open(store_options);
  if (!store.is_ok()) return store.status().with_context("export copy");
  snapshot->store = std::move(*store);
  return std::unique_ptr<ExportSnapshot>(new ExportSnapshot(std::move(snapshot)));
}

void Node::Impl::count_anti_entropy_round(bool ok) {
  if (ops) ops->metrics.anti_entropy_rounds.labels({ok ? "ok" : "failed"}).inc();
}

void Node::Impl::count_peer_answer_rejected() {
  if (ops) ops->metrics.peer_answers_rejected.inc();
}

std::string Node::metrics_text() const {
  features::NodeMetrics& metrics = impl_->ops->metrics;
  // Gauges that mirror state are refreshed just before rendering.
  storage::StoreStats stats = impl_->store->stats();
  metrics.keys.set(static_cast<double>(stats.live_keys));
  metrics.stored_bytes.set(static_cast<double>(stats.bytes));
  metrics.audit_last_seq.set(static_cast<double>(stats.audit_head.seq));
  const storage::DiskTimings& disk = impl_->store->disk_timings();
  metrics.disk_wal_fsync.assign(disk.log_sync.snapshot());
  metrics.disk_backend_commit.assign(disk.commit.snapshot());
  metrics.disk_checkpoint_sync.assign(disk.checkpoint_sync.snapshot());
  Health now = health();
  metrics.members_alive.set(static_cast<double>(now.member_count));
  metrics.read_only.set(impl_->config.read_only ? 1.0 : 0.0);
  metrics.uptime.set(static_cast<double>(now.uptime_s));
  // Replication: anti_entropy_rounds is counted as rounds end (count_anti_entropy_round).
  auto replication = impl_->replication_counters();
  metrics.replication_queue_depth.set(static_cast<double>(replication.queued));
  metrics.replication_lag.set(static_cast<double>(replication.oldest_queued_ms) / 1000.0);
  auto watches = impl_->watch_counts();
  metrics.watches_open.set(static_cast<double>(watches.open));
  metrics.watch_resyncs.set(static_cast<double>(watches.resyncs));
  metrics.sample_process();
  return impl_->ops->registry.render();
}

void Node::record_request(std::string_view route, std::string_view method, int status,
                          std::chrono::microseconds elapsed) {
  features::NodeMetrics& metrics = impl_->ops->metrics;
  if (route.empty()) route = "unmatched";  // no route: a 404 or a malformed request
  // Only known methods become label values: anything else would let a client mint series.
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"};
  std::string_view method_label = "other";
  for (std::string_view known : kMethods) {
    if (method == known) method_label = known;
  }
  std::string status_label = std::to_string(status);
  metrics.http_requests.labels({route, method_label, status_label}).inc();
  if (elapsed.count() >= 0) {
    metrics.http_request_duration.labels({route, method_label})
        .observe(std::chrono::duration<double>(elapsed).count());
  }
}

void Node::record_connection_refused(std::string_view reason) {
  static constexpr std::string_view kReasons[] = {"connection_cap", "headers_too_large", "body_too_large",
                                                  "header_timeout", "malformed"};
  std::string_view label = "other";
  for (std::string_view known : kReasons) {
    if (reason == known) label = known;
  }
  impl_->ops->metrics.connections_refused.labels({label}).inc();
}

RateLimitDecision Node::admit_request(const Caller& caller, std::string_view remote_address) {
  RateLimitDecision decision;
  features::RateLimiter* limiter = impl_->ops->limiter.get();
  if (limiter == nullptr) return decision;
  // The client is the token's user when there is one: all of a user's connections share its
  // allowance, wherever they come from. Otherwise the remote address.
  std::string key = features::rate_limit_key(caller.trusted ? std::string_view() : std::string_view(caller.user_uuid),
                                             remote_address);
  features::RateDecision checked = limiter->check(key, impl_->clock->monotonic_now());
  decision.allowed = checked.allowed;
  decision.limit = checked.limit;
  decision.remaining = checked.remaining;
  decision.retry_after = checked.retry_after;
  if (!checked.allowed) impl_->ops->metrics.rate_limited.inc();
  return decision;
}

Result<BackupInfo> verify_backup(const std::string& backup_path) {
  return features::verify_backup(backup_path);
}

Result<BackupInfo> restore_backup(const Config& config, const std::string& backup_path) {
  // restore_backup verifies the whole file before it touches data_dir, and holds the data_dir
  // lock while it works, so a node cannot start on a half-restored directory.
  return features::restore_backup(backup_path, config.data_dir);
}

}  // namespace kvs
