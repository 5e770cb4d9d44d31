#pragma once

// kvs::Node: one kvs node, in-process. It owns the node's LMDB environment (one per data_dir,
// held under an exclusive lock) and its background threads (the group-commit writer and the
// TTL/tombstone sweeper). Every method is safe to call from any thread; expected failures come
// back as a Status, never as an exception.
//
//   auto node = kvs::Node::open(config);
//   if (!node) { /* node.status() says why */ }
//   auto written = (*node)->put("users/john", R"({"age":42})");
//
// Writes are durable when they return: the data is fsynced. Concurrent writers share one LMDB
// transaction and one fsync (group commit).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/clock.hpp"
#include "kvs/config.hpp"
#include "kvs/export.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs {

// Token scopes, as bits.
enum Scope : std::uint8_t { kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4 };

// Who makes a call. The default is the embedding application itself, which may do anything;
// a REST request is made on behalf of the user its token names.
struct Caller {
  bool trusted{true};           // true: the local application; no checks
  std::string user_uuid;        // the token's `sub`
  std::uint8_t scopes{0};       // Scope bits of the token
  std::string token_id;         // the token's `jti`

  static Caller local() { return Caller{}; }
};

struct PutOptions {
  Caller caller;
  // Absent: the node's default_ttl. Zero: no expiry.
  std::optional<std::chrono::milliseconds> ttl;
  // Apply only while the current version has this uuid (kPreconditionFailed otherwise).
  std::optional<std::string> if_match;
  // Apply only when the key does not exist (kPreconditionFailed otherwise).
  bool if_none_match{false};
  // The group of a key this write creates (`X-KVS-Group`); ignored on replace.
  std::string group_uuid;
};

struct RemoveOptions {
  Caller caller;
  std::optional<std::string> if_match;
};

struct ReadOptions {
  Caller caller;
};

struct WriteResult {
  std::string uuid;
  std::int64_t timestamp_ms = 0;
};

// A live key as a reader sees it.
struct Entry {
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::string data;                           // JSON text
  std::optional<std::int64_t> expires_at_ms;
};

struct RangeQuery {
  Caller caller;
  std::string start_key;                      // inclusive; empty: from the first key
  std::string end_key;                        // exclusive; empty: to the last key
  std::string prefix;                         // non-empty: only keys starting with it
  std::size_t limit{100};                     // 1..kMaxRangeLimit
  bool values{false};                         // include each item's data
  std::size_t max_bytes{0};                   // page ends before its JSON passes this; 0: max_range_bytes
};
inline constexpr std::size_t kMaxRangeLimit = 10000;
inline constexpr std::size_t kMaxAuditLimit = 10000;

struct RangeItem {
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::string> data;            // set when the query asked for values
};

struct RangeResult {
  std::vector<RangeItem> items;
  std::optional<std::string> next_start_key;  // set when more keys follow
};

// One revision this node applied to a key. Revision numbers start at 1 per key.
struct Revision {
  std::uint64_t revision = 0;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::string> data;            // absent for a tombstone
  bool deleted = false;
};

struct History {
  std::string path;
  std::vector<Revision> revisions;            // newest first
};

struct KeyMeta {
  std::string owner_uuid;
  std::string group_uuid;
  std::uint16_t permissions = kDefaultPermissions;
};

struct MetaUpdate {
  std::optional<std::string> owner_uuid;
  std::optional<std::string> group_uuid;
  std::optional<std::uint16_t> permissions;
};

struct Health {
  std::string status{"ok"};
  std::string mode{"normal"};                 // "normal", "read-only" or "syncing"
  std::size_t member_count{1};
  std::string node_id;
  std::string version;
  std::int64_t uptime_s{0};
  std::uint64_t keys{0};
  // Bootstrap progress: versions and bytes (paths and documents) pulled from a seed so far.
  std::uint64_t sync_keys{0};
  std::uint64_t sync_bytes{0};
};

// A user (SPEC: /auth/users). Its tokens carry a subset of its scopes.
struct User {
  std::string uuid;
  std::string nickname;
  std::uint8_t scopes = 0;                    // Scope bits
  std::int64_t created_at_ms = 0;
};

// Changes to a user; absent members stay as they are.
struct UserChange {
  std::optional<std::string> nickname;
  std::optional<std::uint8_t> scopes;
};

struct Group {
  std::string uuid;
  std::string name;
  std::vector<std::string> members;           // user uuids, sorted
  std::int64_t created_at_ms = 0;
};

struct GroupChange {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> members;
};

// A minted token (SPEC: POST /auth/tokens).
struct Token {
  std::string token;                          // the compact JWT
  std::string token_id;                       // its jti
  std::int64_t expires_at_ms = 0;
};

// A backup file (SPEC: POST /admin/backup, GET /admin/backups).
struct BackupInfo {
  std::string path;
  std::uint64_t bytes = 0;                    // size of the backup file
  std::uint64_t uncompressed_bytes = 0;       // size of the LMDB copy inside
  std::int64_t created_at_ms = 0;
  std::string node_id;                        // the node it was taken from
  std::int64_t duration_ms = 0;               // backup_now only: how long it took
  std::string problem;                        // list_backups only: why the file looks unusable, else empty
};

// Whether the rate limiter lets one request through (SPEC: rate_limit_requests per
// rate_limit_window per client).
struct RateLimitDecision {
  bool allowed = true;
  std::uint32_t limit = 0;                    // rate_limit_requests
  std::uint32_t remaining = 0;                // requests still allowed now, after this one
  std::chrono::milliseconds retry_after{0};   // when refused: until one more is allowed
};

// One entry of the tamper-evident audit log (SPEC: GET /audit). Entry n carries the hash of
// entry n-1 and its own hash covers all of its fields, so an edited, removed or reordered entry
// breaks the chain there. Hashes are BLAKE2b-256 in lower-case hex.
struct AuditEntry {
  std::uint64_t seq = 0;                      // 1, 2, 3, ... with no gaps
  std::int64_t timestamp_ms = 0;              // wall-clock ms when the mutation was applied here
  std::string actor;                          // user uuid; "local" (the application), "system",
                                              // "node:<id>" (a version applied from elsewhere)
  std::string action;                         // "kv.put", "kv.delete", "kv.meta", "kv.replicated",
                                              // "auth.user.create", ... "auth.token.revoke"
  std::string path;                           // the key written (users, groups and revocations
                                              // are reserved "_auth/..." keys)
  std::string value_hash;                     // of the document written; empty when none (delete)
  std::string prev_hash;                      // hash of entry seq-1; 64 zeros for seq 1
  std::string hash;                           // this entry's hash
};

// The result of checking the whole audit chain (SPEC: GET /audit/verify).
struct AuditVerification {
  bool ok = true;
  std::uint64_t entries = 0;                  // entries that verified, in order
  std::optional<std::uint64_t> first_bad_seq; // set when !ok: the first entry that does not verify
  std::string reason;                         // why it did not, for logs
};

// The Merkle summary of every version a node holds, tombstones included (SPEC: GET
// /sync/merkle/root): two nodes holding the same versions report the same root.
struct MerkleRoot {
  std::string root;                           // 64 lower-case hex characters
  std::uint64_t keys = 0;                     // current versions, tombstones and reserved keys included
};

// A cluster member as this node sees it (SPEC: GET /members/).
struct Member {
  std::string id;
  std::string address;                        // "host:port" peers use to reach it
  std::int64_t last_seen_ms = 0;              // wall-clock ms it was last heard of (now, for itself)
  std::int64_t joined_timestamp_ms = 0;       // wall-clock ms of its very first start
  std::string status{"alive"};                // "alive" or "suspect"
  bool is_self = false;
};

// A membership change, as the cluster loop saw it.
struct MemberEvent {
  std::string kind;                           // "joined", "updated", "suspect", "alive", "removed", "left"
  Member member;
};

// Optional seams for tests and embedders. Each pointer, when set, must outlive the Node.
struct NodeEnv {
  const Clock* clock = nullptr;               // default: system_clock()
  Random* random = nullptr;                   // default: system_random()
  bool background_sweeper = true;             // false: expiry purges run only via sweep_now()
  bool backup_scheduler = true;               // false: no scheduled backups (backup_now still works)
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
  // kPreconditionFailed (If-Match / If-None-Match), kReadOnly, kPermissionDenied.
  Result<WriteResult> put(std::string_view path, std::string_view json, const PutOptions& options = {});

  // The live document at `path`. kNotFound when absent, deleted or expired.
  Result<Entry> get(std::string_view path, const ReadOptions& options = {}) const;

  // Writes a tombstone. kNotFound when the key is absent (or already deleted or expired).
  Status remove(std::string_view path, const RemoveOptions& options = {});

  // Live keys in key order, start inclusive, end exclusive.
  Result<RangeResult> range(const RangeQuery& query) const;

  // Revisions this node applied to `path`, newest first. kNotFound when there are none;
  // kUnavailable when revision history is disabled.
  Result<History> history(std::string_view path, const ReadOptions& options = {}) const;

  // One revision, in the shape of `get`. kNotFound for an unknown or deleted revision.
  Result<Entry> get_revision(std::string_view path, std::uint64_t revision,
                             const ReadOptions& options = {}) const;

  // Owner, group and permission bits of a live key.
  Result<KeyMeta> get_meta(std::string_view path, const ReadOptions& options = {}) const;
  // Changes them: owner or admin only.
  Status set_meta(std::string_view path, const MetaUpdate& update, const ReadOptions& options = {});

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
  Result<User> create_user(const Caller& caller, std::string_view nickname, std::uint8_t scopes);
  Result<User> get_user(const Caller& caller, std::string_view uuid) const;
  Result<User> update_user(const Caller& caller, std::string_view uuid, const UserChange& change);
  Status remove_user(const Caller& caller, std::string_view uuid);
  // Every user (admin only), by nickname.
  Result<std::vector<User>> list_users(const Caller& caller) const;

  Result<Group> create_group(const Caller& caller, std::string_view name, std::vector<std::string> members);
  Result<Group> get_group(const Caller& caller, std::string_view uuid) const;
  Result<Group> update_group(const Caller& caller, std::string_view uuid, const GroupChange& change);
  Status remove_group(const Caller& caller, std::string_view uuid);

  // A token for `user_uuid` with `scopes`, living `ttl` (default token_ttl). A user may mint
  // tokens for itself with a subset of its token's scopes; for others, admin only.
  Result<Token> mint_token(const Caller& caller, std::string_view user_uuid, std::uint8_t scopes,
                           std::optional<std::chrono::milliseconds> ttl = std::nullopt);
  // Revokes the token with this jti on every node: admin, or the token's own bearer.
  Status revoke_token(const Caller& caller, std::string_view token_id);
  // A token for the user with this nickname, with no permission check (the operator's
  // `kvs-server token`). `scopes` absent: every scope the user holds.
  Result<Token> issue_token(std::string_view nickname, std::optional<std::uint8_t> scopes = std::nullopt,
                            std::optional<std::chrono::milliseconds> ttl = std::nullopt);

  // ---- Peer authentication (cluster traffic; independent of auth_enabled) ------------------
  // The X-KVS-Peer-Signature value for an outgoing peer request: an HMAC under the cluster
  // secret over method, target, body and a timestamp.
  std::string sign_peer_request(std::string_view method, std::string_view target, std::string_view body) const;
  // kUnauthenticated for a missing, wrong, stale or replayed signature.
  Status verify_peer_request(std::string_view signature, std::string_view method, std::string_view target,
                             std::string_view body);

  // ---- Cluster membership (SPEC sections 2 "Cluster" and 3) ---------------------------------
  // With clustering_enabled, the node runs the membership protocol from open() until it is
  // destroyed: it joins through seed_nodes (unreachable seeds are retried with back-off),
  // gossips its member list and judges silent members suspect, then removed. Its address for
  // peers is advertise_address, else bind_address:port. Peer traffic is HTTP: an embedder serves
  // POST /members/join and /members/gossip by calling handle_peer_message. With clustering off,
  // members() is the node alone and the other calls answer kUnavailable.

  // This node and every alive or suspect member, ordered by id.
  std::vector<Member> members() const;
  // Joins (again) through `seed_address` ("host:port"; empty: the configured seed_nodes), e.g.
  // after leave(). Ok once the joins are sent; members arrive as seeds answer (members(), the
  // member observer). kInvalidArgument (malformed address), kUnavailable (clustering off, or
  // the cluster loop did not take the request in time).
  Status join(std::string_view seed_address = {});
  // Leaves gracefully: tells the members, which drop this node at once, then runs standalone
  // until join(). Needs the admin scope (any trusted caller may). kPermissionDenied, kUnavailable.
  Status leave(const Caller& caller = Caller::local());
  // Calls `observer` for each membership change, in order, on the cluster thread: it must be
  // quick and must not call join() or leave(). Replaces the previous observer; empty removes it.
  void set_member_observer(std::function<void(const MemberEvent&)> observer);
  // Membership changes since open: poll it to notice a change without an observer.
  std::uint64_t member_changes() const noexcept;
  // A request a peer sent to POST /members/join or /members/gossip: checks its
  // X-KVS-Peer-Signature (verify_peer_request), decodes the body and queues the message for the
  // cluster loop. Ok: queued (answer 202). kUnauthenticated: bad or missing signature, nothing
  // changed; kInvalidArgument: not a peer message for `target`; kTooLarge; kUnavailable:
  // clustering off or the queue is full (the peer tries again at its next round).
  Status handle_peer_message(std::string_view signature, std::string_view method, std::string_view target,
                             std::string_view body);

  // ---- Replication (SPEC section 3; node_replication.cpp) ---------------------------------
  // With clustering_enabled, every local write is pushed to the peers in the background and
  // a Merkle anti-entropy round with a random peer runs every sync_interval (catchup_interval
  // while the trees differ). Versions from peers are applied by the version order, also in
  // read-only mode.

  // The root of this node's Merkle tree. Cheap: the tree is kept current on every write.
  MerkleRoot merkle_root() const;
  // A request a peer POSTed under /sync/ (push, merkle/branches, merkle/leaves, bucket): checks
  // its X-KVS-Peer-Signature, then answers it. Ok: the JSON answer body (200).
  // kUnauthenticated: bad or missing signature, nothing changed; kInvalidArgument: a malformed
  // body or not a POST; kNotFound: an unknown /sync/ target; kUnavailable: clustering off.
  Result<std::string> handle_sync_request(std::string_view signature, std::string_view method,
                                          std::string_view target, std::string_view body);

  // Purges expired keys and tombstones older than tombstone_ttl now; returns how many.
  Result<std::size_t> sweep_now();

  // ---- Operations (SPEC section 2, "Operations"; node_ops.cpp) -----------------------------
  // Backups, metrics and rate limiting. Backup calls are admin only for a checked Caller
  // (kPermissionDenied otherwise); the rest have no caller to check.

  // Takes a hot, consistent, compacted and zstd-compressed backup of the data into
  // backup_path now, then deletes backups older than backup_retention days. Blocks for the
  // length of the backup; writers are not blocked. Codes: kUnavailable when backup_enabled is
  // off or a backup is already running, kPermissionDenied, kIOError.
  Result<BackupInfo> backup_now(const Caller& caller = Caller::local());
  // The backups in backup_path, newest first; a damaged file is listed with `problem` set.
  Result<std::vector<BackupInfo>> list_backups(const Caller& caller = Caller::local()) const;

  // Every metric of this node in the Prometheus text format (version 0.0.4).
  std::string metrics_text() const;
  // Counts one served HTTP request for the metrics: `route` is the route's name, never a raw
  // path, so the number of series stays bounded.
  void record_request(std::string_view route, std::string_view method, int status,
                      std::chrono::microseconds elapsed);

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

  // Up to `limit` (1..kMaxAuditLimit) entries with seq >= since, in seq order. kInvalidArgument
  // for a limit out of range; kCorruption when a stored entry does not decode.
  Result<std::vector<AuditEntry>> audit(const Caller& caller, std::uint64_t since, std::size_t limit) const;
  // Checks every entry of the chain in order and reports the first one that does not verify.
  Result<AuditVerification> verify_audit(const Caller& caller) const;

  struct KVS_NO_EXPORT Impl;  // internal: hidden from a shared libkvs

 private:
  // In-process access to the /sync/ handlers and one anti-entropy round, for the deterministic
  // replication simulation (libkvs/src/replication/node_access.hpp). Internal.
  friend struct NodeReplicationAccess;

  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Validates and normalises a key: strips leading and trailing '/', then applies SPEC
// section 1. `allow_reserved` admits a first segment starting with '_' (internal keys).
KVS_EXPORT Result<std::string> normalize_key(std::string_view raw, bool allow_reserved = false);

// Checks that `json` is one complete JSON document.
KVS_EXPORT Status validate_json(std::string_view json);

// Scope names as tokens and the REST interface spell them: "read", "write", "admin".
// nullopt for an unknown name (names are case-sensitive).
KVS_EXPORT std::optional<std::uint8_t> scope_from_name(std::string_view name) noexcept;
// The names of the bits set in `scopes`, in the order read, write, admin.
KVS_EXPORT std::vector<std::string_view> scope_names(std::uint8_t scopes);

// Checks a backup file completely (header, checksum, a full decompression). kNotFound when it
// is missing; kCorruption naming the fault (not a backup, truncated, checksum mismatch).
KVS_EXPORT Result<BackupInfo> verify_backup(const std::string& backup_path);

// Restores a backup into config.data_dir (`kvs-server restore`). The data_dir's data is
// replaced only once the whole backup has verified; the previous data.mdb is kept as
// data.mdb.before-restore. kUnavailable while a node holds the data_dir; verify_backup's codes.
KVS_EXPORT Result<BackupInfo> restore_backup(const Config& config, const std::string& backup_path);

// The library's version string ("0.1.0").
KVS_EXPORT std::string_view library_version() noexcept;

}  // namespace kvs
