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
};
inline constexpr std::size_t kMaxRangeLimit = 10000;

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
};

// Optional seams for tests and embedders. Each pointer, when set, must outlive the Node.
struct NodeEnv {
  const Clock* clock = nullptr;               // default: system_clock()
  Random* random = nullptr;                   // default: system_random()
  bool background_sweeper = true;             // false: expiry purges run only via sweep_now()
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

  // Every stored version, tombstones included, in key order. `visit` returns false to stop.
  Status export_versions(const std::function<bool(const Version&)>& visit) const;

  Health health() const;
  const Config& config() const noexcept;

  // Purges expired keys and tombstones older than tombstone_ttl now; returns how many.
  Result<std::size_t> sweep_now();

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Validates and normalises a key: strips leading and trailing '/', then applies SPEC
// section 1. `allow_reserved` admits a first segment starting with '_' (internal keys).
KVS_EXPORT Result<std::string> normalize_key(std::string_view raw, bool allow_reserved = false);

// Checks that `json` is one complete JSON document.
KVS_EXPORT Status validate_json(std::string_view json);

// The library's version string ("0.1.0").
KVS_EXPORT std::string_view library_version() noexcept;

}  // namespace kvs
