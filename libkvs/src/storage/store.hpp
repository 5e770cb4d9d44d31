#pragma once

// storage::Store: the durable half of a node, on one LMDB environment per data_dir.
//
// Databases (LMDB named DBIs) and what they hold. A "path key" is the path itself, or for a
// path longer than 400 bytes its first 400 bytes + a 16-byte BLAKE2b hash (LMDB keys are at
// most 511 bytes; storage/keys.hpp has the details):
//   meta      "format_version" -> "4" (an unknown one fails open with kCorruption),
//             "stats.*" -> big-endian u64 counters (and stats.time_index_sweep -> the time index
//             key its sweep goes on from), "feed_id" -> the change feed's id (16 hex
//             digits, random per data directory), and the embedder's settings (put_meta)
//   versions  path key -> encoded current Version (tombstones included; storage/record_codec.cpp
//             documents the record field by field)
//   revision_log  big-endian u64 id -> revision log entry (each version applied while history
//             is on, with its revision number and the id of its path's revision before it;
//             storage/revision_log.hpp). A `versions` record names its path's newest entry
//   revisions path key \0 big-endian u64 revision -> encoded Version: revisions written before
//             the revision log, moved to it when their path is next written
//   expiry    big-endian i64 expires_at_ms (sign bit flipped), path key -> path (live versions
//             with a TTL; a tombstone keeps its expires_at_ms but has no entry)
//   tindex    "_ts:{timestamp, 13 digits zero-padded}:{path key}" -> empty (time index, bootstrap).
//             A write leaves its path's old entry; Tables::sweep_time_index deletes it later
//             and reads pass it over
//   changes   big-endian u64 sequence -> change log entry (every version this node applied,
//             and every expiry; storage/change_log.hpp). Sequence numbers are never reused:
//             the last one given out is a counter that trimming the log leaves alone
//   audit     big-endian u64 audit seq -> encoded audit::AuditEntry (only with
//             StoreOptions::audit_enabled; audit/chain.hpp describes the chain,
//             storage/audit_table.hpp how it is kept)
//
// Threading: reads run on the caller's thread in their own read transaction, begun and ended
// within the call. Writes (and purges, put_meta) are queued to one writer thread, which takes
// up to max_batch queued intents into one write transaction and commits it once (group
// commit); each `write` returns after the commit that holds it is durable and the commit
// observer (StoreOptions::commit_observer) has seen it. Durable means synced to disk: by the
// redo log (<dir>/redo, storage/redo_log.hpp), whose one sequential sync covers every batch
// committed meanwhile, or without it by LMDB's own synced commit. With the log, a batch is
// visible to readers from its commit, a moment before it is durable; the writer may also hold
// its LMDB transaction open across batches (StoreOptions::hold), and readers then see the
// batches through an overlay on their snapshot (storage/lmdb_env.hpp). A second
// process opening the same directory fails at once: the directory is held with an exclusive
// flock on `<dir>/LOCK`. Every method is safe from any thread; no exception leaves the Store.
// The Store must outlive every call into it.
//
// Files: store.cpp (this facade, the reads, recovery at open), writer.cpp (queue, batches,
// group commit, the redo log's syncer, commit observer), redo_log.cpp and checkpointer.cpp
// (the write-ahead log and its checkpoints), tables.cpp, tables_revisions.cpp and audit_table.cpp
// (the databases' upkeep), revision_log.cpp (its entries), lmdb_env.cpp and lmdb_cursor.cpp (the only code that talks to LMDB), record_codec.cpp and keys.cpp
// (value and key formats).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.hpp"
#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/change_log.hpp"
#include "storage/redo_log.hpp"
#include "storage/record_codec.hpp"
#include "storage/revision_log.hpp"
#include "storage/scan.hpp"

namespace kvs::storage {

struct DiskTimings;  // storage/disk_timings.hpp

// One mutation of a committed batch, as the commit observer sees it. The pointers are valid
// only during the observer's call.
struct Committed {
  enum class Kind : std::uint8_t { kWrite, kPurge };
  Kind kind = Kind::kWrite;
  std::uint8_t tag = 0;           // the tag of the write or purge that made it (opaque to the Store)
  // kWrite: the version's change sequence number; kPurge: the expiry's (a live version
  // purged), or 0 (a tombstone purged: no change).
  std::uint64_t sequence = 0;
  // kWrite: the version it replaced (tombstones included), or nullptr when the path held none.
  // Metadata only: its `data` is not decoded (empty). kPurge: nullptr.
  const Version* previous = nullptr;
  // kWrite: the version written, with its document. kPurge: the version removed, metadata only.
  const Version* version = nullptr;
};

// Told of every committed mutation, once per committed batch, in the writer's (commit) order:
// the writes that wrote a version and the purges that removed one. put_meta, append_audit, a
// Decide that wrote nothing, a purge that removed nothing and every intent of a rolled-back
// batch are not reported. It runs on the writer thread (with a redo log: on its syncer
// thread, batch by batch in commit order), after the batch is durable and before any caller of
// that batch is woken, so when write() or purge() returns the observer has seen its mutation. It must be quick (every writer waits for it), must not throw (an exception is
// logged and dropped), and must not call write, write_all, purge, put_meta or append_audit
// (they would wait for themselves: refused with kInternal). Reading the Store from it is fine.
using CommitObserver = std::function<void(std::span<const Committed> batch)>;

struct StoreOptions {
  std::filesystem::path dir;               // created when missing; holds data.mdb, lock.mdb, LOCK
  bool compression_enabled = true;         // zstd for documents >= 512 bytes when it saves 1/8
  int compression_level = 3;               // zstd level (clamped to zstd's range)
  bool revision_history_enabled = true;
  std::size_t max_revisions = 10;          // per key; 0 keeps none
  std::size_t map_size_bytes = std::size_t{1} << 30;  // LMDB map size; the file grows lazily
  std::size_t max_batch = 1024;            // intents per write transaction at most
  std::size_t max_queue = 65536;           // queued intents at most; beyond: kUnavailable
  bool audit_enabled = false;              // keep the audit chain (tamper_logging_enabled)
  // Seals new audit entries in the keyed format and verifies keyed entries; derived from the
  // cluster secret (auth::derive_audit_key). nullopt: new entries are unkeyed, as before the
  // chain was keyed, and keyed entries do not verify.
  std::optional<audit::AuditKey> audit_key;
  // Set once here, so it never races the writer thread; empty: nobody is told.
  CommitObserver commit_observer;
  // Stamps each change log entry with when it was applied (retention by age); null: the
  // system clock. Borrowed: must outlive the Store.
  const Clock* clock = nullptr;
  // Commits go through the redo log in <dir>/redo (storage/redo_log.hpp): one sequential sync
  // per group of batches instead of LMDB's two per batch. Off: every commit syncs LMDB, as for
  // a copy nothing writes to. Either way a write returns only once it is durable.
  bool redo_log = true;
  CheckpointPolicy checkpoint;
  // With the redo log: how long the writer may hold one LMDB write transaction open across
  // batches (storage/writer.hpp says why); zero commits every batch to LMDB.
  std::chrono::milliseconds hold{50};
};

// A page of the change log, read from one snapshot.
struct ChangePage {
  std::vector<ChangeEntry> entries;  // sequence > after, ascending, consecutive unless trimmed
  std::uint64_t last_sequence = 0;   // the last sequence given out, as of the snapshot
};

// The change log's extent, from one snapshot.
struct ChangeLogInfo {
  std::uint64_t first_sequence = 0;             // of the oldest entry kept; 0 when empty
  std::optional<std::int64_t> first_applied_ms;  // its applied_ms (nullopt: empty, or an old-format entry)
  std::uint64_t last_sequence = 0;              // the last sequence given out
  std::uint64_t bytes = 0;                      // keys and values of the entries kept
};

// What the audit entry of one write says besides what the written Version gives (its path and
// value). The writer thread adds seq and prev_hash from the chain tip, in the write's own
// transaction.
struct AuditNote {
  std::string actor;                       // user uuid, "local", "system" or "node:<id>"
  std::string action;                      // one of audit::action
  std::int64_t time_ms = 0;                // wall-clock ms when the mutation was made
  // The value's hash when the caller computed it beforehand (off the writer thread); nullopt:
  // the writer hashes the written version's data (all zero for a tombstone).
  std::optional<audit::AuditHash> value_hash;
};

// One page of the audit log.
struct AuditPage {
  std::vector<audit::AuditEntry> entries;   // seq >= since, ascending
  std::optional<std::uint64_t> next_since;     // where the next page starts; nullopt at the end
};

// A view of the store inside the writer's transaction: it sees what earlier intents of the
// same batch wrote. Valid only during the `Decide` call it is passed to.
class WriteView {
 public:
  virtual ~WriteView() = default;
  // The current version of `path` (tombstones included), or nullopt.
  virtual Result<std::optional<Version>> get(std::string_view path) = 0;
  // As Store::scan, inside the write transaction. `visit` runs on the writer thread while
  // every other writer waits: stop early (return false) rather than walk far.
  virtual Status scan(std::string_view start, std::string_view end,
                      const std::function<bool(const Version&)>& visit) = 0;
};

// Decides, inside the write transaction, what one intent writes. Returns the version to store;
// nullopt to write nothing (for example, a replicated version that loses by the order); or a
// non-ok status, which fails this intent alone and leaves the rest of the batch alone. An
// exception it throws fails its intent alone with kInternal. It runs on the writer thread and
// must not call write, purge or put_meta (that is refused with kInternal), nor block for long:
// every other writer waits for it. It may run more than once: a batch that runs out of space
// is rolled back and its intents run again one by one, so that the ones that fit (deletes
// above all) still commit; so it must depend only on the view and what it captures.
using Decide = std::function<Result<std::optional<Version>>(WriteView& view)>;

// Room for writes, in the LMDB map and on the filesystem under it (Store::space;
// storage/space.hpp says how it is measured and why a headroom is kept).
struct SpaceInfo {
  std::uint64_t map_bytes = 0;        // the map size (map_size_mb)
  std::uint64_t map_free_bytes = 0;   // free pages plus the unused map past the high-water mark
  std::uint64_t disk_free_bytes = 0;  // free space for data.mdb on its filesystem, its own slack included
  std::uint64_t free_bytes = 0;       // what writes can still use: the smaller of the two
  std::uint64_t headroom_bytes = 0;   // kept for deletes, purges, revocations, tombstones
  bool disk_limited = false;          // the filesystem, not the map, is what runs out first

  // True when client writes are refused.
  bool below_headroom() const noexcept { return free_bytes < headroom_bytes; }
  // Room for client writes before the headroom is reached (0 when below it).
  std::uint64_t client_room_bytes() const noexcept { return below_headroom() ? 0 : free_bytes - headroom_bytes; }
};

// Whether a write may use the headroom kept for when storage is nearly full. Tombstones always
// may, whatever is asked; so do purges, put_meta and audit events.
enum class Headroom : std::uint8_t {
  kKeep,    // refused with kInsufficientStorage when it would leave less than the headroom
  kMayUse,  // commits while there is any room (token revocations)
};

struct StoreStats {
  std::uint64_t keys = 0;                  // current versions held, tombstones included
  std::uint64_t live_keys = 0;             // not tombstones, not reserved ('_...') keys
  std::uint64_t bytes = 0;                 // bytes of encoded current versions
  std::uint64_t last_sequence = 0;         // of the change sequence
  audit::AuditTip audit_head;              // the audit chain's last entry (seq 0: none)
  std::uint64_t commits = 0;               // write transactions committed since open
  std::uint64_t intents = 0;               // intents completed by those commits since open
                                           // (writes, purges, put_meta; a Decide that wrote
                                           // nothing counts too)
};

class Store {
 public:
  // Opens or creates the environment in `options.dir`. kUnavailable when another process (or
  // another Store in this one) holds the directory, naming the holder's pid; kCorruption when
  // the on-disk format version is unknown; kIOError for file or LMDB trouble.
  static Result<std::unique_ptr<Store>> open(const StoreOptions& options);
  // Completes every queued intent, stops the writer thread, closes the environment and then
  // releases the directory lock.
  ~Store();

  // Runs `decide` on the writer thread inside a batched write transaction. If it returns a
  // version, that version becomes the current one for its path: the revision, expiry, time
  // index and change sequence entries are written in the same transaction. Returns the version
  // written (nullopt when `decide` chose to write nothing) after the commit is fsynced.
  // kUnavailable when the queue is full or the store is closing; `decide`'s own status when it
  // fails; kIOError when the transaction failed (a disk error): then no intent of that batch
  // was written. kInsufficientStorage when the write would leave less free space than the
  // headroom (unless it writes a tombstone or `headroom` is kMayUse), or when it alone does not
  // fit in the map or on the disk (a batch that runs out of space is run again one intent at a
  // time). `tag` is handed to the commit observer with the version, untouched.
  Result<std::optional<Version>> write(Decide decide, std::uint8_t tag = 0, Headroom headroom = Headroom::kKeep);
  // The same, and when `decide` returns a version and audit_enabled, appends the chained audit
  // entry described by `audit` (path and value from the version) in the same transaction: the
  // version commits with its entry or not at all. Without audit_enabled, `audit` is ignored.
  Result<std::optional<Version>> write(Decide decide, AuditNote audit, std::uint8_t tag = 0,
                                       Headroom headroom = Headroom::kKeep);

  // Appends an audit entry for an event that writes no version (a member joining or leaving,
  // a change of mode), chained like every other entry: `path` names its subject, the value
  // hash is note.value_hash or zero. A no-op without audit_enabled.
  Status append_audit(std::string_view path, const AuditNote& note);

  // One intent of write_all: `audit` as for write(decide, audit) when set; `tag` as for write.
  struct WriteRequest {
    Decide decide;
    std::optional<AuditNote> audit;
    std::uint8_t tag = 0;
    Headroom headroom = Headroom::kKeep;
  };
  // Queues every request at once, in order and back to back, so that the writer takes them
  // into one transaction (several only past max_batch): one fsync for the lot, and each
  // Decide sees what the requests before it wrote. Returns each request's outcome, as write
  // would have, once all are durable; a full queue or closing store fails every request.
  std::vector<Result<std::optional<Version>>> write_all(std::vector<WriteRequest> requests);

  // Removes the current version of `path` outright, with its expiry and time index entries,
  // only while its uuid is still `uuid` (purges of expired keys and old tombstones).
  // Its revisions go too: none is shown again (a key written again later starts again at
  // revision 1), and the revision log's sweep deletes them. A purge of a tombstone takes no
  // change sequence number; an expiry's does. Returns true when removed, false when the key is absent
  // or holds another uuid. Runs on the writer thread, so it is ordered with writes. `tag` is
  // handed to the commit observer with the removed version.
  Result<bool> purge(std::string_view path, std::string_view uuid, std::uint8_t tag = 0);

  // The current version of `path`, tombstones and expired versions included.
  Result<std::optional<Version>> get(std::string_view path) const;
  // The same into `out`, for the hot read path: true when `path` holds a version (then in
  // `out`), false when it holds none. `out`'s strings are reused, and no Version is moved.
  Result<bool> get(std::string_view path, Version& out) const;

  // Current versions with start <= path < end (empty end: no bound) in key order, tombstones
  // included. `visit` returns false to stop. It runs inside the read transaction, so it should
  // be quick: the snapshot (and the pages it pins) lives until the scan returns.
  Status scan(std::string_view start, std::string_view end,
              const std::function<bool(const Version&)>& visit) const;

  // As scan, but `visit` may also return kSkip after setting `skip_to` (greater than the path
  // it was given): the scan goes on at the first path >= skip_to, seeking past what lies
  // between instead of reading it (a one-level listing steps over whole subtrees this way).
  // `part`: kMetadata leaves each version's data empty and skips decompressing it.
  // `sequence`, when not null, receives the last change sequence number as of the scan's
  // snapshot: the change feed's position of exactly what the scan saw.
  Status scan_skipping(std::string_view start, std::string_view end, const ScanVisitor& visit,
                       RecordPart part = RecordPart::kAll, std::uint64_t* sequence = nullptr) const;

  // Revisions of `path`, newest first (at most max_revisions are kept).
  Result<std::vector<StoredRevision>> history(std::string_view path) const;
  Result<std::optional<StoredRevision>> revision(std::string_view path, std::uint64_t revision) const;

  // Paths whose expires_at_ms <= now_ms, oldest first, at most `limit`.
  Result<std::vector<std::string>> expired(std::int64_t now_ms, std::size_t limit) const;

  // Versions with timestamp_ms >= since_ms from the time index, oldest first, each once (the
  // index's entries of versions since replaced are passed over). `visit` returns false to
  // stop; it runs inside the read transaction, as for scan.
  Status scan_since(std::int64_t since_ms, const std::function<bool(const Version&)>& visit) const;

  // The change sequence: (sequence, path) after `after`, ascending, at most `limit`.
  Result<std::vector<std::pair<std::uint64_t, std::string>>> changes(std::uint64_t after,
                                                                     std::size_t limit) const;

  // ---- The change log (storage/change_log.hpp), which the change feed serves ----
  // The feed's id, fixed for the life of this data directory (a restored one gets a new one:
  // forget_feed_id).
  const std::string& feed_id() const noexcept;
  // Entries with sequence > after, ascending, from one snapshot: at most `limit` entries, and
  // fewer once they hold about `max_bytes` (at least one while any follow). `part` as for
  // decode_record. kCorruption for an entry that does not decode (an old-format entry too).
  Result<ChangePage> read_changes(std::uint64_t after, std::size_t limit, std::size_t max_bytes,
                                  RecordPart part = RecordPart::kAll) const;
  // The last change sequence number committed, read from a fresh snapshot (unlike stats(),
  // never behind a snapshot some reader already saw).
  Result<std::uint64_t> committed_sequence() const;
  Result<ChangeLogInfo> change_log_info() const;
  // Removes the oldest entries as `trim` says, in one write transaction; returns how many.
  // kUnavailable as for write.
  Result<std::size_t> trim_changes(const ChangeTrim& trim);

  // Small persistent settings (node identity and the like) in the meta database. put_meta is
  // durable when it returns (it goes through the writer like a write); the names
  // "format_version" and "stats.*" are reserved (kInvalidArgument).
  Result<std::optional<std::string>> get_meta(std::string_view name) const;
  Status put_meta(std::string_view name, std::string_view value);

  // Up to `limit` audit entries with seq >= since, from one read snapshot. kUnavailable
  // without audit_enabled; kCorruption when a stored entry does not decode (verify_audit then
  // says which).
  Result<AuditPage> audit_page(std::uint64_t since, std::size_t limit) const;
  // Checks the whole audit chain, entry by entry, from one read snapshot, and that it still
  // holds `expected_head` (a head recorded earlier) when given. kUnavailable without
  // audit_enabled.
  Result<audit::AuditVerifyResult> verify_audit(std::optional<audit::AuditTip> expected_head = std::nullopt) const;

  // Counters as of the last commit (kept in memory; never fails).
  StoreStats stats() const;
  // How long the store's threads have waited for the disk since open (disk_timings.hpp). Any
  // thread; valid while the Store lives.
  const DiskTimings& disk_timings() const;

  // Room for writes now: free map pages and disk space against the headroom. kIOError when
  // the file or its filesystem cannot be examined.
  Result<SpaceInfo> space() const;

  // Writes a consistent, compacted copy of the whole environment (a complete data.mdb) to
  // `fd`, which may be a pipe; does not close it. It reads from one read transaction
  // (mdb_env_copyfd2 with MDB_CP_COMPACT), so writers go on while it runs; the copy holds the
  // state of the last commit before it began. kIOError when LMDB or the write fails.
  Status copy_to_fd(int fd) const;

  // Intents waiting for the writer thread (not counting the batch it is running).
  std::size_t queued_for_testing() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Opens `file` (a lone data.mdb, such as a restored backup) read-only as an LMDB environment
// to be sure it is one. kCorruption when it is not.
Status check_environment_file(const std::filesystem::path& file);

// Removes the change feed id from `file` (a lone data.mdb that no Store has open, such as a
// backup being restored), so that the Store opening it makes a new one: cursors of the feed it
// was copied from must not resume on it, since its sequence numbers go on from the copy's
// and would name other changes. kIOError when the file cannot be written.
Status forget_feed_id(const std::filesystem::path& file);

}  // namespace kvs::storage
