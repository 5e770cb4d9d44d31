#pragma once

// kvs::Node: one kvs node, in-process. It owns the node's LMDB environment (one per data_dir,
// held under an exclusive lock) and its background threads (the group-commit writer and the
// TTL/tombstone sweeper; with clustering, the membership loop and replication). Every method is
// safe to call from any thread; expected failures come back as a Status, never as an exception.
// The values it takes and returns are declared by concern: kvs/types.hpp (documents, ranges,
// history, options), kvs/auth.hpp (callers, users, groups, tokens), kvs/cluster.hpp (members,
// peer traffic) and kvs/operations.hpp (health, backups, audit).
//
//   auto node = kvs::Node::open(config);
//   if (!node) { /* node.status() says why */ }
//   auto written = (*node)->put("users/john", R"({"age":42})");
//
// Writes are durable when they return: the data is fsynced. Concurrent writers share one LMDB
// transaction and one fsync (group commit).
//
// Every call that checks its caller takes, as its last parameter, an options struct whose first
// member is that Caller, defaulted to `{}`: the embedding application, never checked.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/auth.hpp"
#include "kvs/clock.hpp"
#include "kvs/cluster.hpp"
#include "kvs/config.hpp"
#include "kvs/export.hpp"
#include "kvs/operations.hpp"
#include "kvs/status.hpp"
#include "kvs/types.hpp"
#include "kvs/version.hpp"
#include "kvs/watch.hpp"

namespace kvs {

namespace detail {
class NodeAccess;  // internal (libkvs/src/node/node_access.hpp)
}  // namespace detail

// Optional seams for tests and embedders. Each pointer, when set, must outlive the Node.
struct NodeEnv {
  const Clock* clock = nullptr;               // default: system_clock()
  Random* random = nullptr;                   // default: system_random()
  bool background_sweeper = true;             // false: expiry purges run only via sweep_now()
  bool backup_scheduler = true;               // false: no scheduled backups (backup_now still works)
  // true: open the data directory alone, for an operator command on a stopped node (export,
  // import, token): no membership, replication or bootstrap, and no admin user created, so the
  // node never contacts a peer, is never seen by one, and never writes a user of its own.
  bool offline = false;
};

// A consistent copy of a running node's versions, for an online export (GET /admin/export):
// a compacted copy of the store, taken as a backup is (writers go on meanwhile), opened apart
// from the live store and read a page at a time. No read transaction on the live store lasts
// longer than the copy, and none on the copy lasts longer than one next(), so a slow reader at
// the other end of a network holds back neither the node's writer nor its free pages. The
// copy lives under <data_dir>/exports/ and is deleted when the snapshot is destroyed (one left
// behind by a crash is deleted by the next export). Not for concurrent use; it may outlive
// neither the Node nor its data_dir.
class KVS_EXPORT ExportSnapshot {
 public:
  ~ExportSnapshot();
  ExportSnapshot(const ExportSnapshot&) = delete;
  ExportSnapshot& operator=(const ExportSnapshot&) = delete;

  // Appends up to `max_versions` further versions (every stored version, tombstones included,
  // in key order: what Node::export_versions visits) to `out`. Returns false once the last
  // version has been appended, true while more may follow. kIOError or kCorruption on storage
  // trouble.
  Result<bool> next(std::vector<Version>& out, std::size_t max_versions);

  struct Impl;

 private:
  friend class Node;
  explicit ExportSnapshot(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class KVS_EXPORT Node {
 public:
  // Opens (creating when needed) the node's data_dir. Fails with kUnavailable when another
  // process holds the data_dir, kInvalidArgument for a bad config, kIOError/kCorruption for
  // storage trouble.
  static Result<std::unique_ptr<Node>> open(const Config& config, NodeEnv env = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Creates or replaces the document at `path`. On success: the new version's uuid and
  // timestamp. Codes: kInvalidArgument (key, JSON or TTL), kTooLarge (over max_json_size),
  // kPreconditionFailed (If-Match / If-None-Match), kReadOnly, kPermissionDenied. Permission
  // is checked before the preconditions: a caller that may not write gets kPermissionDenied,
  // never kPreconditionFailed. Creating a key under live descendants owned by another user
  // needs admin.
  Result<WriteResult> put(std::string_view path, std::string_view json, const PutOptions& options = {});

  // The live document at `path`. kNotFound when absent, deleted or expired.
  Result<Entry> get(std::string_view path, const ReadOptions& options = {}) const;

  // Writes a tombstone. kNotFound when the key is absent (or already deleted or expired).
  Status remove(std::string_view path, const RemoveOptions& options = {});

  // Live keys in key order, start inclusive, end exclusive.
  Result<RangeResult> range(const RangeQuery& query) const;

  // Revisions this node applied to `path`, newest first. Each is checked against its own
  // owner, group and bits (those stored with that revision, not the current version's): the
  // ones the caller may not read are left out. kNotFound when there are none;
  // kPermissionDenied when there are some but the caller may read none; kUnavailable when
  // revision history is disabled.
  Result<History> history(std::string_view path, const ReadOptions& options = {}) const;

  // One revision, in the shape of `get`, checked against its own owner, group and bits.
  // kNotFound for an unknown revision or a readable tombstone; kPermissionDenied for a
  // revision the caller may not read (checked before whether it is a tombstone).
  Result<Entry> get_revision(std::string_view path, std::uint64_t revision,
                             const ReadOptions& options = {}) const;

  // Owner, group and permission bits of a live key.
  Result<KeyMeta> get_meta(std::string_view path, const ReadOptions& options = {}) const;
  // Changes them: owner or admin only; a non-admin owner may name only a group it belongs to
  // (as chgrp; keeping the key's current group is always allowed). On success: the metadata
  // written, also when the caller may no longer read the key (it gave it away). Codes:
  // kNotFound (absent, deleted or expired), kPermissionDenied, kInvalidArgument (bits over
  // 0xFFF, an unknown user or group), kReadOnly.
  Result<KeyMeta> set_meta(std::string_view path, const MetaUpdate& update, const ReadOptions& options = {});

  // Applies a version made elsewhere (a peer, or `import`) by the conflict order. Returns true
  // when it became the current version, false when the held version wins.
  Result<bool> apply_version(const Version& version);
  // Applies a batch of such versions (a replication page), in order, as apply_version would
  // one by one, but in one storage transaction where possible (one fsync for the batch).
  // Duplicates and versions out of order settle by the conflict order, so the greatest version
  // of each path stands. Returns each version's outcome, in the same order.
  std::vector<Result<bool>> apply_versions(const std::vector<Version>& versions);

  // Every stored version, tombstones included, in key order. `visit` returns false to stop.
  Status export_versions(const std::function<bool(const Version&)>& visit) const;

  Health health() const;
  // Ready in normal and read-only mode; not ready while syncing, or while free map or disk
  // space is below the headroom kept for deletes (ready again once a client write would
  // succeed). Measures storage afresh (an fstat and a statvfs; near full, a pass over LMDB's
  // freelist): cheap enough for a load balancer's probe.
  Readiness readiness() const;
  const Config& config() const noexcept;

  // ---- Authentication and access control (SPEC section 2) ---------------------------------
  // With auth_enabled, every data call made for a non-trusted Caller is checked (scopes and
  // the key's permission bits; kPermissionDenied when refused) and reserved keys are out of
  // its reach. The embedding application's own calls (Caller::local()) are never checked.
  // With auth disabled, the calls below answer kUnavailable, except authenticate, which
  // answers every token with a trusted Caller.

  bool auth_enabled() const noexcept;

  // The Caller a bearer token stands for. kUnauthenticated (the reason in the message) for a
  // malformed, badly signed, expired or revoked token or a deleted user. Touches no disk.
  Result<Caller> authenticate(std::string_view token) const;

  // Users and groups: admin only, except that a user may read itself. Codes: kPermissionDenied,
  // kInvalidArgument, kConflict (nickname taken), kNotFound, kPreconditionFailed (the change
  // would leave no admin), kReadOnly.
  Result<User> create_user(std::string_view nickname, std::uint8_t scopes, const CallOptions& options = {});
  Result<User> get_user(std::string_view uuid, const CallOptions& options = {}) const;
  Result<User> update_user(std::string_view uuid, const UserChange& change, const CallOptions& options = {});
  Status remove_user(std::string_view uuid, const CallOptions& options = {});
  // Every user (admin only), by nickname.
  Result<std::vector<User>> list_users(const CallOptions& options = {}) const;

  Result<Group> create_group(std::string_view name, std::vector<std::string> members, const CallOptions& options = {});
  Result<Group> get_group(std::string_view uuid, const CallOptions& options = {}) const;
  Result<Group> update_group(std::string_view uuid, const GroupChange& change, const CallOptions& options = {});
  Status remove_group(std::string_view uuid, const CallOptions& options = {});

  // A token for `user_uuid` with `scopes`, living options.ttl (default token_ttl). A user may
  // mint tokens for itself with a subset of its token's scopes; for others, admin only.
  Result<Token> mint_token(std::string_view user_uuid, std::uint8_t scopes, const TokenOptions& options = {});
  // Revokes the token with this jti on every node: admin, or the token's own bearer.
  Status revoke_token(std::string_view token_id, const CallOptions& options = {});
  // A token for the user with this nickname, with no permission check (the operator's
  // `kvs-server token`). `scopes` absent: every scope the user holds.
  Result<Token> issue_token(std::string_view nickname, std::optional<std::uint8_t> scopes = std::nullopt,
                            std::optional<std::chrono::milliseconds> ttl = std::nullopt);

  // ---- Cluster membership (SPEC sections 2 "Cluster" and 3) ---------------------------------
  // With clustering_enabled, the node runs the membership protocol from open() until it is
  // destroyed: it joins through seed_nodes (unreachable seeds are retried with back-off),
  // gossips its member list and judges silent members suspect, then removed. Its address for
  // peers is advertise_address, else bind_address:port. Peer traffic is HTTP: an embedder serves
  // POST /members/join, /members/gossip and /sync/... by calling handle_peer_request. With
  // clustering off, members() is the node alone and the other calls answer kUnavailable.

  // This node and every alive or suspect member, ordered by id.
  std::vector<Member> members() const;
  // Joins (again) through `seed_address` ("host:port"; empty: the configured seed_nodes), e.g.
  // after leave(). Ok once the joins are sent; members arrive as seeds answer (members(), the
  // member observer). kInvalidArgument (malformed address), kUnavailable (clustering off, or
  // the cluster loop did not take the request in time).
  Status join(std::string_view seed_address = {});
  // Leaves gracefully: tells the members, which drop this node at once, then runs standalone
  // until join(). Returns once the members have answered, or after about a second when some do
  // not (they then suspect this node as usual). Needs the admin scope (any trusted caller may).
  // kPermissionDenied, kUnavailable.
  Status leave(const CallOptions& options = {});
  // Leaves as leave() does, for a process about to close this node (kvs-server on SIGTERM): the
  // members drop it at once rather than suspect it, and its next start rejoins through them.
  // Not a client's call: no permission check. kUnavailable (clustering off, or the cluster loop
  // did not take the request in time).
  Status leave_before_close();
  // Calls `observer` for each membership change, in order, on the cluster thread: it must be
  // quick and must not call join() or leave(). Replaces the previous observer; empty removes it.
  void set_member_observer(std::function<void(const MemberEvent&)> observer);
  // Membership changes since open: poll it to notice a change without an observer.
  std::uint64_t member_changes() const noexcept;
  // A request a peer sent. First checks its signature (an HMAC under the cluster secret over
  // method, target, body and a timestamp; independent of auth_enabled), then:
  // - POST /members/join and /members/gossip: decodes the message and queues it for the cluster
  //   loop. Ok: {202, "{}"} once queued. kInvalidArgument: not a peer message for the target;
  //   kTooLarge; kUnavailable: the queue is full (the peer tries again at its next round).
  // - POST /sync/... (push, since, merkle/branches, merkle/leaves, bucket): answers it. Ok: {200,
  //   the JSON answer}. kInvalidArgument: a malformed body; kNotFound: an unknown /sync/ target.
  // Any target: kUnauthenticated for a missing, wrong, stale or replayed signature (nothing
  // changed); kInvalidArgument when not a POST; kNotFound for a target outside /members/ and
  // /sync/; kUnavailable when clustering is off.
  Result<PeerResponse> handle_peer_request(const PeerRequest& request);
  // The headers that authenticate an answer with `status` and `body` to `request`, whatever
  // the answer (errors and 401s included): X-KVS-Peer-Node (this node's id) and
  // X-KVS-Peer-Answer (an HMAC over the request's nonce, the status, the id and the body). The
  // embedder adds them to every answer it gives a peer request, after the body is final; a
  // peer discards an answer without them. Empty when the request carried no well-formed
  // signature header, or clustering is off.
  std::vector<PeerAnswerHeader> peer_answer_headers(const PeerRequest& request, int status,
                                                    std::string_view body) const;

  // ---- Replication (SPEC section 3; node_replication.cpp) ---------------------------------
  // With clustering_enabled, every local write is pushed to the peers in the background and
  // a Merkle anti-entropy round with a random peer runs every sync_interval (catchup_interval
  // while the trees differ). Versions from peers are applied by the version order, also in
  // read-only mode.

  // The root of this node's Merkle tree. Cheap: the tree is kept current on every write.
  MerkleRoot merkle_root() const;
  // Peers' /sync/ requests arrive through handle_peer_request.

  // Purges expired keys and tombstones older than tombstone_ttl now; returns how many.
  Result<std::size_t> sweep_now();

  // ---- Operations (SPEC section 2, "Operations"; node_ops.cpp) -----------------------------
  // Backups, metrics and rate limiting. Backup calls are admin only for a checked Caller
  // (kPermissionDenied otherwise); the rest have no caller to check.

  // Takes a hot, consistent, compacted and zstd-compressed backup of the data into
  // backup_path now, then deletes backups older than backup_retention days. Blocks for the
  // length of the backup; writers are not blocked. Codes: kUnavailable when backup_enabled is
  // off or a backup is already running, kPermissionDenied, kIOError.
  Result<BackupInfo> backup_now(const CallOptions& options = {});
  // The backups in backup_path, newest first; a damaged file is listed with `problem` set.
  Result<std::vector<BackupInfo>> list_backups(const CallOptions& options = {}) const;

  // Takes a consistent copy of every stored version for an online export (see ExportSnapshot).
  // Admin only for a checked Caller; works whether backup_enabled or not. Codes:
  // kPermissionDenied, kIOError (the copy could not be written: disk full, permissions).
  Result<std::unique_ptr<ExportSnapshot>> export_snapshot(const CallOptions& options = {}) const;
  // The check export_snapshot makes before its copy, alone: ok when the caller may export,
  // kPermissionDenied otherwise. For HEAD /admin/export, which answers without a copy.
  Status check_export(const CallOptions& options = {}) const;

  // ---- Change feed (SPEC section 2, "Watch"; see kvs/watch.hpp) --------------------------

  // Subscribes to the change feed (kvs/watch.hpp). Codes: kUnavailable when max_watches
  // watches are open or the node is closing its watches; kInvalidArgument for a `since` that is
  // not a cursor's shape (a well-formed one the feed cannot serve gets kResyncRequired instead).
  Result<std::unique_ptr<Watch>> watch(const WatchOptions& options);
  // Ends every open watch and refuses new ones (a server shutting down). Idempotent.
  void close_watches();

  // Every metric of this node in the Prometheus text format (version 0.0.4).
  std::string metrics_text() const;
  // Counts one served HTTP request for the metrics: `route` is the route's name, never a raw
  // path, so the number of series stays bounded.
  void record_request(std::string_view route, std::string_view method, int status,
                      std::chrono::microseconds elapsed);
  // Counts one connection or request that the server's connection layer refused before
  // routing, by `reason` (kvs_connections_refused_total{reason}): connection_cap,
  // headers_too_large, body_too_large, header_timeout or malformed; any other reason counts
  // as "other", so the number of series stays bounded.
  void record_connection_refused(std::string_view reason);

  // Counts one request against the rate limit of its client: the caller's user when it is
  // not trusted (an authenticated token), else `remote_address`. Always allowed when
  // rate_limiting_enabled is off. Memory is bounded however many clients appear.
  RateLimitDecision admit_request(const Caller& caller, std::string_view remote_address);

  // ---- Audit log (SPEC section 2, "Operations"; node_audit.cpp) ----------------------------
  // With tamper_logging_enabled, every mutation this node applies appends one AuditEntry in the
  // same storage transaction as the mutation itself, so no mutation commits without its entry:
  // put, remove, set_meta, user/group changes and token revocations (minting writes nothing),
  // and versions applied from peers or an import (apply_version). Refused or failed writes leave
  // none. Both calls are admin only for a checked Caller (kPermissionDenied otherwise) and answer
  // kUnavailable when tamper_logging_enabled is off.

  // Up to query.limit (1..kMaxAuditLimit) entries with seq >= query.since, in seq order.
  // kInvalidArgument for a limit out of range; kCorruption when a stored entry does not decode.
  Result<std::vector<AuditEntry>> audit(const AuditQuery& query = {}) const;
  // Checks every entry of the chain in order and reports the first one that does not verify,
  // and the head.
  Result<AuditVerification> verify_audit(const CallOptions& options = {}) const;
  // The same, and the chain must still hold `expected_head`: one that ends before it
  // (truncated) or holds another entry there (rewritten) does not verify. kInvalidArgument
  // when its hash is not 64 hex digits.
  Result<AuditVerification> verify_audit(const CallOptions& options, const AuditHead& expected_head) const;

 private:
  struct KVS_NO_EXPORT Impl;  // internal: hidden from a shared libkvs
  // The one way internal code and tests reach the Impl (libkvs/src/node/node_access.hpp).
  friend class detail::NodeAccess;

  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvs
