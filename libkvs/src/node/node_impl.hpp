#pragma once

// Node::Impl: the state behind kvs::Node, shared by the translation units that implement
// Node's methods by concern: node.cpp (data), node_auth.cpp (users, groups, tokens,
// permissions), node_cluster.cpp (membership), node_replication.cpp, node_bootstrap.cpp,
// node_ops.cpp (operations) and node_audit.cpp. Internal.
//
// Every mutation goes through `keyspace`, the commit pipeline; the components that follow
// storage (the Merkle tree and push queues, the auth cache, the metrics) are its observers,
// registered at open. The members are declared in dependency order: each may use those above
// it, and is destroyed (stopping its threads) before them, so ~Node needs no hand-ordered
// shutdown.

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
#include <stop_token>
#include <thread>
#include <vector>

#include "auth/authority.hpp"
#include "cluster/driver.hpp"
#include "features/ttl_sweeper.hpp"
#include "http/peer_transport.hpp"
#include "keyspace/keyspace.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "storage/store.hpp"
#include "util/log_limiter.hpp"

namespace kvs {

struct Node::Impl {
  Config config;
  // NodeEnv::offline: an operator command's node. No membership, replication or bootstrap
  // starts, and no admin user is created.
  bool offline = false;
  const Clock* clock = nullptr;
  Random* random = nullptr;
  std::int64_t joined_ms = 0;
  std::chrono::steady_clock::time_point started_at;

  // The commit pipeline: the only way to commit or purge a version. Declared first, so it
  // closes last, once everything that writes through it has stopped.
  std::unique_ptr<keyspace::Keyspace> keyspace;
  // keyspace->store(), for reads.
  const storage::Store* store = nullptr;

  // ---- Authentication (node_auth.cpp) ----
  // Always present: it holds the cluster secret, which signs peer traffic even when client
  // authentication (config.auth_enabled) is off. Kept current with the reserved "_auth/"
  // versions by an observer of the keyspace.
  std::unique_ptr<auth::Authority> authority;
  struct AuthObserver;
  struct AuthObserverDeleter {
    void operator()(AuthObserver* observer) const noexcept;
  };
  std::unique_ptr<AuthObserver, AuthObserverDeleter> auth_observer;

  // ---- Change feed (node_watch.cpp) ----
  // The live half of Node::watch, an observer of the keyspace from open on; the log is the
  // store's. Declared after the authority, whose permission checks it borrows: its deleter
  // detaches both from every open Watch (which may outlive the Node) before they go.
  struct Feed;
  struct FeedDeleter {
    void operator()(Feed* feed) const noexcept;
  };
  std::unique_ptr<Feed, FeedDeleter> feed;
  // Creates `feed` and starts observing. Requires: the keyspace is open, nothing written yet.
  void open_feed();
  // The feed's cursor at `sequence` (RangeResult::cursor).
  std::string feed_cursor(std::uint64_t sequence) const;
  // What /metrics shows of the feed: open watches, resync_required events sent.
  struct WatchCounts {
    std::size_t open = 0;
    std::uint64_t resyncs = 0;
  };
  WatchCounts watch_counts() const;
  // Trims the change log to change_retention and change_retention_bytes, a bounded amount per
  // call (with each TTL sweep). Failures are logged.
  void trim_change_log();

  // Loads users, groups and revocations into the Authority, starts observing the keyspace for
  // them and, on first start with auth on, creates the admin user and writes its token to
  // <data_dir>/admin.token.
  Status open_auth();
  // With auth on and no user at all: creates the admin user and writes its token to
  // <data_dir>/admin.token. Runs at open, or when a bootstrapping node's pull is over.
  Status ensure_admin();
  // Writes a reserved-key version built by the Authority, with its audit entry: `actor`
  // (audit_actor) did `action` (features::audit_action).
  // `headroom` as for keyspace::Keyspace::write (revocations may use it).
  Result<Version> write_reserved(const auth::ReservedWrite& write, std::string actor, std::string_view action,
                                 storage::Headroom headroom = storage::Headroom::kKeep);
  // Whether calls made for `caller` are checked: auth on and not the embedding application.
  bool checked(const Caller& caller) const noexcept { return config.auth_enabled && !caller.trusted; }
  // Ok when `caller` (checked) may create `path`, which is absent or not live in `view`
  // (node.cpp): C on the nearest live ancestor key (or the write scope alone when there is
  // none) and, unless an admin, no live descendant owned by another user. kPermissionDenied
  // otherwise; a storage error as it comes.
  Status check_create(const Caller& caller, storage::WriteView& view, const std::string& path,
                      std::int64_t now_ms) const;

  // ---- Operations (node_ops.cpp) ----
  // Metrics (an observer of the keyspace: kvs_writes_total), the rate limiter and backups
  // (with their scheduler thread, stopped by its destructor). Defined in node_ops.cpp so that
  // this header does not carry the features headers.
  struct Ops;
  struct OpsDeleter {
    void operator()(Ops* ops) const noexcept;
  };
  std::unique_ptr<Ops, OpsDeleter> ops;
  // Creates `ops`, and starts the backup scheduler when backup_enabled and `scheduler`.
  // Requires: the keyspace is open.
  Status open_ops(bool scheduler);

  // ---- Audit log (node_audit.cpp) ----
  // Who a mutation is recorded as: the caller's user uuid, or "local" for the application.
  static std::string audit_actor(const Caller& caller);
  // The audit note of a mutation (storage::AuditNote), or nullopt when tamper_logging_enabled
  // is off. `value`, when given, is hashed here, on the caller's thread, not the writer's.
  std::optional<storage::AuditNote> audit_note(std::string actor, std::string_view action,
                                               std::optional<std::string_view> value = std::nullopt) const;
  // keyspace->write with the note's entry in the same transaction when there is a note.
  Result<std::optional<Version>> write(keyspace::Origin origin, storage::Decide decide,
                                       std::optional<storage::AuditNote> note,
                                       storage::Headroom headroom = storage::Headroom::kKeep);
  // An entry for an event that writes no version: a member joining or leaving (path
  // "members/<id>"), a change of mode (path: the new mode). Failures are logged, not returned:
  // the event has happened either way.
  void audit_event(std::string actor, std::string_view action, std::string_view path);
  // At open: an entry when the configured mode (read-only or normal) differs from the one the
  // node last ran in, remembered in meta.
  Status audit_mode_at_open();
  // Logs `head` (INFO "audit.head": seq, hash, context) when tamper_logging_enabled, so that
  // an operator has a head to verify against later (Node::verify_audit with a head). Each
  // backup logs the head it holds.
  void log_audit_head(const audit::AuditTip& head, std::string_view context) const;
  // Node::verify_audit's body, with the expected head when one was given.
  Result<AuditVerification> verify_audit(const Caller& caller, std::optional<audit::AuditTip> expected_head) const;

  // ---- Cluster (node_cluster.cpp) ----
  // `member_observer_mutex` guards `member_observer` (copied out, then called unlocked). Both
  // are declared before `cluster`, whose loop calls them until its destructor stops it.
  std::mutex member_observer_mutex;
  std::shared_ptr<const std::function<void(const MemberEvent&)>> member_observer;
  std::atomic<std::uint64_t> member_changes{0};
  // The node's one peer transport (node_peers.cpp), which signs, verifies and encrypts all
  // peer traffic: membership, push replication, anti-entropy and bootstrap each post on their
  // own lane, and close it when they stop. Declared before every user, so it goes after them.
  // Set by open_peer_transport, which start_cluster calls first; null when clustering is off.
  std::shared_ptr<http::PeerSecurity> peer_security;
  std::unique_ptr<net::PeerTransport> peer_transport;
  // kInvalidArgument when tls_ca_file cannot be read.
  Status open_peer_transport();
  // The membership loop; null when clustering_enabled is off. Its hooks use the keyspace, the
  // authority and the member observer; its destructor stops it.
  std::unique_ptr<cluster::Driver> cluster;

  // Peer requests refused for their signature, logged at most once per remote address per 10 s
  // (SPEC: a node with another cluster_secret knocks on every round).
  util::LogLimiter rejected_peer_log{std::chrono::seconds(10)};

  // Builds and starts the driver when clustering_enabled (open). kInvalidArgument for an id or
  // address peers could not use; storage errors reading the persisted SelfRecord.
  Status start_cluster();
  // Node::handle_peer_request's answer, before the refused signatures are logged.
  Result<PeerResponse> answer_peer_request(Node& node, const PeerRequest& request);
  // Live members, this node included (Health::member_count).
  std::size_t live_member_count() const;

  // ---- Replication (node_replication.cpp) ----
  // The Merkle tree (an observer of the keyspace), push replication and anti-entropy. Declared
  // after `cluster`, whose member list its threads read, and after `ops`, whose metrics they
  // count: the deleter stops its threads before anything above goes.
  struct Replication;
  struct ReplicationDeleter {
    void operator()(Replication* replication) const noexcept;
  };
  std::unique_ptr<Replication, ReplicationDeleter> replication;
  // Builds the Merkle tree from one scan of the store and starts observing the keyspace.
  // Requires: the keyspace is open, nothing has written yet.
  Status open_replication();
  // Starts push replication and anti-entropy when clustering_enabled; `node` applies the
  // versions peers send and must outlive them (`replication` is destroyed before the Node).
  void start_replication(Node& node);
  // What /metrics shows of replication (zero when clustering is off).
  struct ReplicationCounters {
    std::uint64_t queued = 0;           // pushes waiting, summed over peers
    std::int64_t oldest_queued_ms = 0;  // age of the oldest
  };
  ReplicationCounters replication_counters() const;
  // Counts one anti-entropy round in the metrics (node_ops.cpp).
  void count_anti_entropy_round(bool ok);
  // Counts one peer answer discarded for its signature (node_ops.cpp).
  void count_peer_answer_rejected();

  // ---- Bootstrap (node_bootstrap.cpp) ----
  // A node with seed_nodes that has never synced and holds no keys starts in mode "syncing":
  // client writes get kUnavailable until it has pulled the recent versions from a seed (or
  // given up after a bounded time). Replication from peers is applied meanwhile.
  std::atomic<bool> syncing{false};
  std::atomic<std::uint64_t> sync_keys{0};   // versions received by the bootstrap pull
  std::atomic<std::uint64_t> sync_bytes{0};  // their path and document bytes
  // A node that joins through seed_nodes needs the cluster's secret: kInvalidArgument, naming
  // cluster_secret and where to copy it from, when neither the config nor data_dir holds one
  // (generating one would only make a cluster of its own). Runs first at open.
  Status check_joining_secret() const;
  // Decides, at open, whether the node starts syncing. Requires: the keyspace is open.
  Status open_bootstrap();
  // Starts the pull thread when syncing; `node` applies the versions and outlives the thread.
  void start_bootstrap(Node& node);
  // Answers POST /sync/since: one page of the versions from the time index after a cursor.
  Result<std::string> answer_since(std::string_view body) const;
  // The pull thread: its destructor asks it to stop and joins it, before replication stops.
  std::condition_variable_any bootstrap_wakeup;
  std::mutex bootstrap_mutex;  // for bootstrap_wakeup's waits
  std::jthread bootstrapper;

  // ---- TTL ----
  // Purges expired keys and old tombstones through the keyspace. Declared last: its thread
  // stops before anything it purges through goes.
  std::unique_ptr<features::TtlSweeper> sweeper;

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
};

}  // namespace kvs
