#pragma once

// Node::Impl: the state behind kvs::Node, shared by the translation units that implement
// Node's methods by concern: node.cpp (data), node_auth.cpp (users, groups, tokens,
// permissions), node_cluster.cpp (membership), node_ops.cpp (operations). Internal.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/authority.hpp"
#include "cluster/driver.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "storage/store.hpp"

namespace kvs {

inline constexpr std::size_t kSweepBatch = 1000;

struct Node::Impl {
  Config config;
  const Clock* clock = nullptr;
  Random* random = nullptr;
  std::unique_ptr<storage::Store> store;
  std::int64_t joined_ms = 0;
  std::chrono::steady_clock::time_point started_at;

  // ---- Authentication (node_auth.cpp) ----
  // Always present: it holds the cluster secret, which signs peer traffic even when client
  // authentication (config.auth_enabled) is off.
  std::unique_ptr<auth::Authority> authority;

  // Loads users, groups and revocations into the Authority and, on first start with auth on,
  // creates the admin user and writes its token to <data_dir>/admin.token.
  Status open_auth();
  // With auth on and no user at all: creates the admin user and writes its token to
  // <data_dir>/admin.token. Runs at open, or when a bootstrapping node's pull is over.
  Status ensure_admin();
  // Tells the Authority about a reserved "_auth/" version that became current.
  void after_write(const Version& version);
  // Writes a reserved-key version built by the Authority, with its audit entry: `actor`
  // (audit_actor) did `action` (features::audit_action).
  Result<Version> write_reserved(const auth::ReservedWrite& write, std::string actor, std::string_view action);
  // Whether calls made for `caller` are checked: auth on and not the embedding application.
  bool checked(const Caller& caller) const noexcept { return config.auth_enabled && !caller.trusted; }
  // kPermissionDenied unless `caller` may read `path` as its current version stands (node.cpp).
  Status check_read_current(const Caller& caller, const std::string& path) const;

  // ---- Operations (node_ops.cpp) ----
  // Metrics, the rate limiter and backups (with their scheduler thread). Defined in
  // node_ops.cpp so that this header does not carry the features headers; its destructor
  // stops the scheduler, so ~Node resets `ops` before the store closes.
  struct Ops;
  struct OpsDeleter {
    void operator()(Ops* ops) const noexcept;
  };
  std::unique_ptr<Ops, OpsDeleter> ops;
  // Creates `ops`, and starts the backup scheduler when backup_enabled and `scheduler`.
  // Requires: the store is open.
  Status open_ops(bool scheduler);

  // ---- Audit log (node_audit.cpp) ----
  // Who a mutation is recorded as: the caller's user uuid, or "local" for the application.
  static std::string audit_actor(const Caller& caller);
  // The audit note of a mutation (storage::AuditNote), or nullopt when tamper_logging_enabled
  // is off. `value`, when given, is hashed here, on the caller's thread, not the writer's.
  std::optional<storage::AuditNote> audit_note(std::string actor, std::string_view action,
                                               std::optional<std::string_view> value = std::nullopt) const;
  // store->write with the note's entry in the same transaction when there is a note.
  Result<std::optional<Version>> write(storage::Decide decide, std::optional<storage::AuditNote> note);
  // An entry for an event that writes no version: a member joining or leaving (path
  // "members/<id>"), a change of mode (path: the new mode). Failures are logged, not returned:
  // the event has happened either way.
  void audit_event(std::string actor, std::string_view action, std::string_view path);
  // At open: an entry when the configured mode (read-only or normal) differs from the one the
  // node last ran in, remembered in meta.
  Status audit_mode_at_open();

  // ---- Cluster (node_cluster.cpp) ----
  // The membership loop; null when clustering_enabled is off. Declared after `store` and
  // `authority`, whose use its hooks make, so that it is destroyed first; ~Node stops it before
  // closing the store.
  std::unique_ptr<cluster::Driver> cluster;
  // `member_observer_mutex` guards `member_observer` (copied out, then called unlocked).
  std::mutex member_observer_mutex;
  std::shared_ptr<const std::function<void(const MemberEvent&)>> member_observer;
  std::atomic<std::uint64_t> member_changes{0};

  // Builds and starts the driver when clustering_enabled (open). kInvalidArgument for an id or
  // address peers could not use; storage errors reading the persisted SelfRecord.
  Status start_cluster();
  // Stops the driver (~Node, before the store closes). Idempotent.
  void stop_cluster();
  // Live members, this node included (Health::member_count).
  std::size_t live_member_count() const;

  // ---- Replication (node_replication.cpp) ----
  // The Merkle tree, push replication and anti-entropy. Declared after `cluster` so that it is
  // destroyed first (its threads read the member list); ~Node stops it before anything else.
  struct Replication;
  struct ReplicationDeleter {
    void operator()(Replication* replication) const noexcept;
  };
  std::unique_ptr<Replication, ReplicationDeleter> replication;
  // Builds the Merkle tree from one scan of the store. Requires: the store is open, nothing
  // has written yet.
  Status open_replication();
  // Starts push replication and anti-entropy when clustering_enabled; `node` applies the
  // versions peers send and must outlive them (stop_replication runs first in ~Node).
  void start_replication(Node& node);
  // Stops both. Idempotent.
  void stop_replication();
  // Every version that became current: `previous` is the version it replaced (nullopt when
  // none). Keeps the Merkle tree current and, for a `local` write, queues it for every peer.
  void on_version_committed(const std::optional<Version>& previous, const Version& current, bool local);
  // A version removed outright by a purge (expired key, old tombstone).
  void on_version_purged(const Version& purged);
  // What /metrics shows of replication (zero when clustering is off).
  struct ReplicationCounters {
    std::uint64_t queued = 0;           // pushes waiting, summed over peers
    std::int64_t oldest_queued_ms = 0;  // age of the oldest
  };
  ReplicationCounters replication_counters() const;
  // Counts one anti-entropy round in the metrics (node_ops.cpp).
  void count_anti_entropy_round(bool ok);

  // ---- Bootstrap (node_bootstrap.cpp) ----
  // A node with seed_nodes that has never synced and holds no keys starts in mode "syncing":
  // client writes get kUnavailable until it has pulled the recent versions from a seed (or
  // given up after a bounded time). Replication from peers is applied meanwhile.
  std::atomic<bool> syncing{false};
  std::atomic<std::uint64_t> sync_keys{0};   // versions received by the bootstrap pull
  std::atomic<std::uint64_t> sync_bytes{0};  // their path and document bytes
  std::mutex bootstrap_mutex;                // guards bootstrap_stopping
  std::condition_variable bootstrap_wakeup;
  bool bootstrap_stopping = false;
  std::thread bootstrapper;
  // Decides, at open, whether the node starts syncing. Requires: the store is open.
  Status open_bootstrap();
  // Starts the pull thread when syncing; `node` applies the versions and outlives the thread.
  void start_bootstrap(Node& node);
  // Stops and joins it (~Node, before replication stops). Idempotent.
  void stop_bootstrap();
  // Answers POST /sync/since: one page of the versions from the time index after a cursor.
  Result<std::string> answer_since(std::string_view body) const;

  // The sweeper thread purges expired keys and old tombstones. `sweep_mutex` guards
  // `stopping` and serialises sweeps.
  std::mutex sweep_mutex;
  std::condition_variable sweep_wakeup;
  bool stopping = false;
  std::thread sweeper;
  std::int64_t last_tombstone_sweep_ms = 0;

  std::int64_t now_ms() const { return clock->now_ms(); }

  // The timestamp of a local write: never below the held version's, so an overwrite always
  // wins against the version it replaces, whatever the clocks say.
  std::int64_t stamp(const std::optional<Version>& held) const {
    std::int64_t now = now_ms();
    return held ? std::max(now, held->timestamp_ms + 1) : now;
  }

  Version new_version(std::string path, const std::optional<Version>& held) {
    Version version;
    version.path = std::move(path);
    version.uuid = make_uuid_v4(*random);
    version.timestamp_ms = stamp(held);
    version.origin_node_id = config.node_id;
    version.origin_joined_ms = joined_ms;
    return version;
  }

  Status check_writable() const {
    if (config.read_only) return Status::read_only("the node is in read-only mode");
    if (syncing.load(std::memory_order_acquire)) {
      return Status::unavailable("the node is syncing from its peers (bootstrap); retry shortly");
    }
    return Status::ok();
  }

  Result<std::size_t> purge_expired(std::int64_t now) {
    std::size_t purged = 0;
    for (;;) {
      auto paths = store->expired(now, kSweepBatch);
      if (!paths.is_ok()) return paths.status();
      if (paths->empty()) break;
      std::size_t before = purged;
      for (const auto& path : *paths) {
        auto current = store->get(path);
        if (!current.is_ok()) return current.status();
        if (!current->has_value() || !is_expired(**current, now)) continue;
        auto removed = store->purge(path, (*current)->uuid);
        if (!removed.is_ok()) return removed.status();
        if (*removed) {
          on_version_purged(**current);
          ++purged;
        }
      }
      // A batch that purged nothing holds only entries that raced with overwrites: the next
      // call will not see them, since the overwrite replaced their index entries.
      if (paths->size() < kSweepBatch || purged == before) break;
    }
    return purged;
  }

  // Tombstones carry no expiry-index entry, so they are found by a scan of the keyspace. It
  // runs rarely (see sweep_loop); its cost is one pass over the keys.
  Result<std::size_t> purge_tombstones(std::int64_t now) {
    std::int64_t cutoff = now - config.tombstone_ttl.count();
    std::vector<Version> doomed;  // tombstones: no documents to copy
    Status scanned = store->scan("", "", [&](const Version& version) {
      if (version.deleted && version.timestamp_ms <= cutoff) doomed.push_back(version);
      return true;
    });
    if (!scanned.is_ok()) return scanned;
    std::size_t purged = 0;
    for (const auto& tombstone : doomed) {
      auto removed = store->purge(tombstone.path, tombstone.uuid);
      if (!removed.is_ok()) return removed.status();
      if (*removed) {
        on_version_purged(tombstone);
        ++purged;
      }
    }
    return purged;
  }

  Result<std::size_t> sweep(bool tombstones) {
    std::int64_t now = now_ms();
    auto expired = purge_expired(now);
    if (!expired.is_ok()) return expired;
    std::size_t total = *expired;
    if (authority) authority->forget_expired();
    if (tombstones) {
      auto purged = purge_tombstones(now);
      if (!purged.is_ok()) return purged;
      total += *purged;
      last_tombstone_sweep_ms = now;
    }
    return total;
  }

  void sweep_loop() {
    std::unique_lock lock(sweep_mutex);
    while (!stopping) {
      sweep_wakeup.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });
      if (stopping) break;
      // Tombstone scans run at most every tenth of tombstone_ttl (and at most hourly), so a
      // tombstone lives between tombstone_ttl and 1.1 x tombstone_ttl.
      auto period = std::min<std::int64_t>(config.tombstone_ttl.count() / 10, 3'600'000);
      bool tombstones = now_ms() - last_tombstone_sweep_ms >= period;
      auto swept = sweep(tombstones);
      if (!swept.is_ok()) {
        log(LogLevel::kWarn, "sweeper.failed", {{"error", swept.status().to_string()}});
      } else if (*swept > 0) {
        log(LogLevel::kDebug, "sweeper.purged", {{"versions", std::to_string(*swept)}});
      }
    }
  }
};

}  // namespace kvs
