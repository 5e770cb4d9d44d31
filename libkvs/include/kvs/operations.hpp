#pragma once

// What an operator sees of a node (SPEC section 2, "Operations"): its health and mode, backups,
// rate-limit decisions and the tamper-evident audit log. All are plain values, copies taken when
// the Node call returns; concurrent const use is safe. verify_backup and restore_backup work on
// files without a running Node (restore refuses while a Node holds the data_dir).
//
// States are enums; to_string gives the spelling the REST interface and the logs use, and is
// the only place that spelling lives.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/auth.hpp"
#include "kvs/config.hpp"
#include "kvs/export.hpp"
#include "kvs/status.hpp"

namespace kvs {

// ---- Health --------------------------------------------------------------------------------

// Whether the node takes client writes.
enum class Mode : std::uint8_t {
  kNormal,    // reads and writes
  kReadOnly,  // read_only is set: writes get kReadOnly (replication still applies)
  kSyncing,   // bootstrapping from a seed: writes get kUnavailable until the pull is over
};

// "normal", "read-only", "syncing" (GET /health's "mode").
constexpr std::string_view to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::kNormal: return "normal";
    case Mode::kReadOnly: return "read-only";
    case Mode::kSyncing: return "syncing";
  }
  return "unknown";
}

struct Health {
  std::string status{"ok"};
  Mode mode{Mode::kNormal};
  std::size_t member_count{1};
  std::string node_id;
  std::string version;
  std::int64_t uptime_s{0};
  std::uint64_t keys{0};
  // Bootstrap progress: versions and bytes (paths and documents) pulled from a seed so far.
  std::uint64_t sync_keys{0};
  std::uint64_t sync_bytes{0};
};

// Whether the node takes client writes now (SPEC: GET /ready). /health says the process is
// alive; this says whether to send it traffic.
struct Readiness {
  bool ready{true};
  Mode mode{Mode::kNormal};
  std::string reason;                         // when not ready: why, for operators
  // Free space for writes (the LMDB map or the disk under data_dir, whichever has less) and
  // the headroom kept below it for deletes: under the headroom, client writes get
  // kInsufficientStorage and the node is not ready. Both 0 when storage could not be measured.
  std::uint64_t storage_free_bytes{0};
  std::uint64_t storage_headroom_bytes{0};
};

// The library's version string ("0.1.0").
KVS_EXPORT std::string_view library_version() noexcept;
// The git commit the library was configured from (12 hex digits), or "unknown" when it was
// built outside a git checkout.
KVS_EXPORT std::string_view library_commit() noexcept;

// ---- Backups -------------------------------------------------------------------------------

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

// Checks a backup file completely (header, checksum, a full decompression). kNotFound when it
// is missing; kCorruption naming the fault (not a backup, truncated, checksum mismatch).
KVS_EXPORT Result<BackupInfo> verify_backup(const std::string& backup_path);

// Restores a backup into config.data_dir (`kvs-server restore`). The data_dir's data is
// replaced only once the whole backup has verified; the previous data.mdb is kept as
// data.mdb.before-restore. kUnavailable while a node holds the data_dir; verify_backup's codes.
KVS_EXPORT Result<BackupInfo> restore_backup(const Config& config, const std::string& backup_path);

// ---- Rate limiting -------------------------------------------------------------------------

// Whether the rate limiter lets one request through (SPEC: rate_limit_requests per
// rate_limit_window per client).
struct RateLimitDecision {
  bool allowed = true;
  std::uint32_t limit = 0;                    // rate_limit_requests
  std::uint32_t remaining = 0;                // requests still allowed now, after this one
  std::chrono::milliseconds retry_after{0};   // when refused: until one more is allowed
};

// ---- Audit log -----------------------------------------------------------------------------

inline constexpr std::size_t kMaxAuditLimit = 10000;

// Node::audit: a page of the log.
struct AuditQuery {
  Caller caller;
  std::uint64_t since{1};                     // the first seq wanted
  std::size_t limit{100};                     // 1..kMaxAuditLimit entries
};

// One entry of the tamper-evident audit log (SPEC: GET /audit). Entry n carries the hash of
// entry n-1 and its own hash covers all of its fields, so an edited, removed or reordered entry
// breaks the chain there. Hashes are BLAKE2b-256 in lower-case hex, keyed with a key derived
// from the cluster secret (entries written before the chain was keyed: unkeyed).
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

// The head of the audit chain: its last entry. Entries removed from the end of a chain leave
// a shorter chain that verifies on its own; a head recorded earlier (GET /audit/verify, or the
// INFO line "audit.head" logged on each backup) and passed back to Node::verify_audit reveals
// it: the chain must still hold that entry with that hash.
struct AuditHead {
  std::uint64_t seq = 0;                      // 0: the empty chain
  std::string hash;                           // lower-case hex, 64 characters
};

// The result of checking the whole audit chain (SPEC: GET /audit/verify).
struct AuditVerification {
  bool ok = true;
  std::uint64_t entries = 0;                  // entries that verified, in order
  std::optional<std::uint64_t> first_bad_seq; // set when !ok: the first entry that does not verify
                                              // (for a chain cut short of the expected head, the
                                              // first missing one)
  std::string reason;                         // why it did not, for logs
  std::uint64_t head_seq = 0;                 // the last entry that verified (0: none)
  std::string head_hash;                      // its hash, hex; 64 zeros for none
};

}  // namespace kvs
