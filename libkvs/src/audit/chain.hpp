#pragma once

// The tamper-evident audit log: one entry per mutation, chained by BLAKE2b-256 hashes
// (libsodium crypto_generichash, 32-byte output). Entry n carries the hash of entry n-1, and
// its own hash covers every field including that one, so editing, reordering or removing an
// entry breaks the chain at that entry (or the next) and `AuditVerifier` reports the first
// sequence number that does not verify.
//
// Two entry formats, told apart by their first byte:
//   kAuditFormatUnkeyed (1): entry_hash is unkeyed BLAKE2b. Anyone with the file can rewrite
//       such a chain and hash it again, so it only shows accidents. Written before the chain
//       was keyed; such entries still verify.
//   kAuditFormatKeyed (2): entry_hash is BLAKE2b keyed with the AuditKey, which derives from
//       the cluster secret (auth/secret.hpp), so without the secret nobody can forge an entry.
// A keyed entry is never followed by an unkeyed one: the verifier refuses that downgrade, so
// an intruder cannot append or re-chain unkeyed entries after the keyed ones.
//
// Removing entries from the END leaves a shorter chain that verifies: no chain can see what
// is missing after its last entry. An operator who records the head (seq, hash) elsewhere (it
// is logged on each backup) passes it back as the expected head, and the verifier then reports
// a chain that ends before it or holds another entry at that seq. With the expected head, an
// unkeyed (old) chain that was rewritten is caught too, at the head at the latest.
//
// This is the chain alone: entry encoding, hashing and verification. It depends on nothing in
// kvs but the public status header, so storage (which keeps the chain, see
// storage/audit_table.hpp) and features (which renders it as JSON, see features/audit.hpp) can
// both use it. Storage keeps it in an LMDB database `audit`, key = `audit_key(seq)` (8-byte
// big-endian, so key order is sequence order), value = `encode_audit_entry(entry)`, each entry
// in the SAME write transaction as the mutation it records, so no mutation commits without its
// entry.
//
// Everything here is a pure function of its arguments or a value type: safe from any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kvs/status.hpp"

namespace kvs::audit {

inline constexpr std::size_t kAuditHashBytes = 32;
using AuditHash = std::array<std::uint8_t, kAuditHashBytes>;

// The first byte of every encoded entry. Append-only: a new layout gets a new number.
inline constexpr std::uint8_t kAuditFormatUnkeyed = 1;
inline constexpr std::uint8_t kAuditFormatKeyed = 2;
// The format this code writes (with a key).
inline constexpr std::uint8_t kAuditFormatVersion = kAuditFormatKeyed;

// The key of the keyed format: 32 bytes derived from the cluster secret
// (auth::derive_audit_key). A chain can only be verified with the key it was written with.
inline constexpr std::size_t kAuditKeyBytes = 32;
using AuditKey = std::array<std::uint8_t, kAuditKeyBytes>;

// Action names. Append-only: they are stored in entries and hashed.
namespace action {
inline constexpr std::string_view kKvPut = "kv.put";
inline constexpr std::string_view kKvDelete = "kv.delete";
inline constexpr std::string_view kKvMeta = "kv.meta";           // owner, group or permissions changed
inline constexpr std::string_view kKvReplicated = "kv.replicated";  // a peer's version applied here
inline constexpr std::string_view kKvImport = "kv.import";
inline constexpr std::string_view kUserCreate = "auth.user.create";
inline constexpr std::string_view kUserUpdate = "auth.user.update";
inline constexpr std::string_view kUserDelete = "auth.user.delete";
inline constexpr std::string_view kGroupCreate = "auth.group.create";
inline constexpr std::string_view kGroupUpdate = "auth.group.update";
inline constexpr std::string_view kGroupDelete = "auth.group.delete";
inline constexpr std::string_view kTokenCreate = "auth.token.create";
inline constexpr std::string_view kTokenRevoke = "auth.token.revoke";
inline constexpr std::string_view kMemberJoin = "member.join";
inline constexpr std::string_view kMemberLeave = "member.leave";
inline constexpr std::string_view kModeChange = "node.mode";     // path: the new mode
inline constexpr std::string_view kRestore = "node.restore";
}  // namespace action

struct AuditEntry {
  std::uint8_t format = kAuditFormatUnkeyed;  // kAuditFormatUnkeyed or kAuditFormatKeyed
  std::uint64_t seq = 0;        // 1, 2, 3, ... with no gaps
  std::int64_t time_ms = 0;     // ms since the Unix epoch, when the mutation was applied
  std::string actor;            // user uuid; "node:<id>" for replication; "system"; "anonymous"
  std::string action;           // one of audit::action
  std::string path;             // the key, or the user/group/token/member id acted on
  AuditHash value_hash{};       // BLAKE2b-256 of the value written; all zero when there is none
  AuditHash prev_hash{};        // entry_hash of entry seq-1; all zero for seq 1
  AuditHash entry_hash{};       // BLAKE2b-256 of audit_canonical_bytes(*this), keyed in format 2

  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

// The end of a chain: what the next entry links to. AuditTip{} starts a new chain.
struct AuditTip {
  std::uint64_t seq = 0;
  AuditHash hash{};
  friend bool operator==(const AuditTip&, const AuditTip&) = default;
};

inline AuditTip audit_tip(const AuditEntry& entry) { return {entry.seq, entry.entry_hash}; }

// BLAKE2b-256 of a value (the document bytes exactly as stored).
AuditHash audit_value_hash(std::string_view value);

// The next entry after `tip`: seq tip.seq+1, prev_hash tip.hash, value_hash of `value` (zero
// when nullopt, e.g. a delete), entry_hash computed. With `key`, the keyed format; without
// (nullptr), the unkeyed one, as entries were written before the chain was keyed.
AuditEntry make_audit_entry(const AuditTip& tip, std::int64_t time_ms, std::string actor, std::string action,
                            std::string path, std::optional<std::string_view> value,
                            const AuditKey* key = nullptr);

// The bytes that entry_hash covers, in this order (integers big-endian):
//   u8  format (entry.format: 1 unkeyed, 2 keyed)
//   u64 seq
//   i64 time_ms (two's complement)
//   u32 length of actor,  then its bytes
//   u32 length of action, then its bytes
//   u32 length of path,   then its bytes
//   32  value_hash
//   32  prev_hash
// Length prefixes make the encoding unambiguous: no two entries share their bytes.
std::string audit_canonical_bytes(const AuditEntry& entry);
// The hash entry_hash must hold: unkeyed BLAKE2b-256 of the canonical bytes for format 1,
// keyed with `key` for format 2. nullopt for a keyed entry without a key (it cannot be checked).
std::optional<AuditHash> compute_audit_entry_hash(const AuditEntry& entry, const AuditKey* key = nullptr);

// Stored form: audit_canonical_bytes(entry) followed by the 32-byte entry_hash.
std::string encode_audit_entry(const AuditEntry& entry);

// Sets entry.format (keyed with `key`, unkeyed without) and entry.entry_hash, and returns the
// stored form, building the canonical bytes only once (the writer's hot path: make the entry
// with make_audit_entry's fields, then seal it).
std::string seal_audit_entry(AuditEntry& entry, const AuditKey* key = nullptr);
// Parses the stored form. kCorruption when the version is unknown or the bytes are truncated
// or too long. It does not check the hash: that is the verifier's job.
Result<AuditEntry> decode_audit_entry(std::string_view bytes);

// The database key of `seq`: 8 bytes big-endian.
std::string audit_key(std::uint64_t seq);
// kCorruption unless `key` is 8 bytes.
Result<std::uint64_t> parse_audit_key(std::string_view key);

struct AuditVerifyResult {
  bool ok = true;
  std::uint64_t entries = 0;                   // entries that verified, in order
  std::optional<std::uint64_t> first_bad_seq;  // set when !ok
  std::string reason;                          // why that entry failed, for logs
  AuditTip last;                               // the last verified entry (the head when ok)
};

// Checks a chain entry by entry, streaming: feed entries in key order as a cursor yields them,
// without holding them all in memory. For each entry it checks, in order: that it decodes; that
// its key matches its seq; that seq is the previous seq + 1; that prev_hash is the previous
// entry's hash; that it is not unkeyed after a keyed one; that entry_hash is the (keyed) hash
// of its fields; and, at the expected head's seq, that its hash is the expected one. finish()
// then checks that the chain reached the expected head. The first failure fixes first_bad_seq
// (for a missing entry, the seq that should have come next) and later entries are ignored.
class AuditVerifier {
 public:
  // `anchor`: the entry just before the first one fed (AuditTip{} for a whole chain). `key`:
  // for keyed entries (nullptr: a keyed entry fails). `expected_head`: a head recorded
  // earlier, which the chain must still hold. `key` must outlive the verifier.
  explicit AuditVerifier(AuditTip anchor = {}, const AuditKey* key = nullptr,
                         std::optional<AuditTip> expected_head = std::nullopt)
      : expected_(anchor), key_(key), expected_head_(expected_head) {}

  // Feeds one stored record (key and value as in the `audit` database). Returns false once the
  // chain is broken (then stop feeding).
  bool add_record(std::string_view key, std::string_view value);
  // Feeds one decoded entry.
  bool add(const AuditEntry& entry);
  // Call after the last entry: fails when the chain ended before the expected head (entries
  // were removed from its end); first_bad_seq is then the first missing seq.
  void finish();

  const AuditVerifyResult& result() const noexcept { return result_; }

 private:
  bool fail(std::uint64_t seq, std::string reason);

  AuditTip expected_;
  const AuditKey* key_;
  std::optional<AuditTip> expected_head_;
  bool keyed_seen_ = false;  // a keyed entry verified: no unkeyed one may follow
  AuditVerifyResult result_;
};

// Feeds `entries` and finishes.
AuditVerifyResult verify_audit_chain(std::span<const AuditEntry> entries, AuditTip anchor = {},
                                     const AuditKey* key = nullptr,
                                     std::optional<AuditTip> expected_head = std::nullopt);

// Lower-case hex of a hash.
std::string to_hex(const AuditHash& hash);

}  // namespace kvs::audit
