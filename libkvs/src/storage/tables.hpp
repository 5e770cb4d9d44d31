#pragma once

// storage::Tables: the layout of the store's named databases (store.hpp lists them and what
// they hold) and their upkeep: writing a version with every index entry that goes with it
// (revisions, expiry, time index, change sequence, counters), purging one, and reading a
// version and its revisions back. The audit database is kept by audit_table.hpp; the revision
// log's upkeep is in tables_revisions.cpp.
//
// Tables holds no transaction and no mutable state: every call works inside the transaction it
// is given, on that transaction's thread. The writer thread calls the write side; any thread
// may call the read side with its own read transaction. An open Tables is immutable, so it is
// safe to share between threads.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/change_log.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/record_codec.hpp"
#include "storage/revision_log.hpp"
#include "storage/scan.hpp"

namespace kvs::storage {

// The named databases, opened once at open and valid for every transaction after.
struct Dbs {
  lmdb::Dbi meta = 0;
  lmdb::Dbi versions = 0;
  lmdb::Dbi revision_log = 0;
  lmdb::Dbi path_revisions = 0;  // "revisions": the layout before the revision log, read until
                                 // each path's next write moves its revisions to the log
  lmdb::Dbi expiry = 0;
  lmdb::Dbi tindex = 0;
  lmdb::Dbi changes = 0;
  lmdb::Dbi audit = 0;  // opened only with TableOptions::audit_enabled
};

// The counters kept in meta and updated in every write transaction.
struct Counters {
  std::uint64_t keys = 0;       // current versions, tombstones included
  std::uint64_t live_keys = 0;  // not tombstones, not reserved ('_...') paths
  std::uint64_t bytes = 0;      // of encoded current versions
  std::uint64_t sequence = 0;   // the last change sequence number given out (never reused,
                                // also once the change log is trimmed)
  std::uint64_t change_bytes = 0;  // keys and values of the change log's entries
  std::uint64_t revision_id = 0;   // the last revision log id given out (never reused)
  std::uint64_t revision_sweep = 0;  // the revision log id the sweep goes on from
  std::string time_index_sweep;      // the time index key the sweep goes on from ("": the first)
};


struct TableOptions {
  CodecOptions codec;
  bool revision_history_enabled = true;
  std::size_t max_revisions = 10;  // per key; 0 keeps none
  bool audit_enabled = false;      // open the audit database
  const Clock* clock = nullptr;    // stamps change log entries (applied_ms); null: system_clock()
};

// The meta name of the change feed's id (Tables::open makes one when missing).
inline constexpr std::string_view kFeedIdName = "feed_id";

// True for the meta names the store keeps for itself ("format_version", "stats.*", "feed_id").
bool is_reserved_meta(std::string_view name);

// Decodes a stored record of `path`, checking that it really is that path's record.
// kCorruption otherwise.
Result<Version> decode_for(std::string_view bytes, std::string_view path);
// The same, into `out` (decode_record_into).
Status decode_for_into(std::string_view bytes, std::string_view path, Version& out);

class Tables {
 public:
  // Opens (creating when missing) every database inside `txn`, which the caller then commits.
  // A new environment gets the format version and zero counters; an existing one must carry
  // this build's format version, or "1" or "2", which it moves to this one (tables.cpp says why). An environment without a change feed id (new, from before
  // the feed, or restored: see forget_feed_id) gets a fresh random one. kCorruption naming `dir` for an unknown format version (or
  // versions without one); LMDB's error otherwise.
  static Result<Tables> open(lmdb::WriteTxn& txn, const TableOptions& options, std::string_view dir);

  const Dbs& dbs() const noexcept { return dbs_; }

  // The current version of `path` (tombstones included), or nullopt.
  Result<std::optional<Version>> read_version(const lmdb::Txn& txn, std::string_view path) const;
  // The same into `out`: true when `path` holds a version (decoded into `out`), false when it
  // holds none (`out` untouched). The read path's form: it moves no Version.
  Result<bool> read_version_into(const lmdb::Txn& txn, std::string_view path, Version& out) const;

  // Visits the current versions (tombstones and expired ones included) with start <= path <
  // end (empty end: no bound) in path order, inside `txn`, as `visit` directs: the one scan
  // loop behind Store::scan, Store::scan_skipping and WriteView::scan. Long paths that share
  // their first kMaxInlinePath bytes are stored under hashed keys in hash order; they are
  // gathered and re-sorted so that `visit` still sees path order. `part`: kMetadata leaves each
  // version's data empty and skips decompressing it. LMDB errors as a status; kCorruption for
  // a record that does not decode. May throw what LMDB's wrapper throws; callers catch.
  Status scan_versions(const lmdb::Txn& txn, std::string_view start, std::string_view end, const ScanVisitor& visit,
                       RecordPart part = RecordPart::kAll) const;

  Result<Counters> read_counters(const lmdb::Txn& txn) const;
  // The last change sequence number as of `txn` (Counters::sequence alone).
  Result<std::uint64_t> read_sequence(const lmdb::Txn& txn) const;
  // The change feed's id: 16 lower-case hex digits.
  Result<std::string> read_feed_id(const lmdb::Txn& txn) const;
  Status write_counters(lmdb::WriteTxn& txn, const Counters& counters) const;

  // Writes `version` as the current version of its path with every index entry that goes with
  // it, and updates `next` (its change sequence number is next.sequence afterwards): among
  // them its change log entry (storage/change_log.hpp), a put or, for a tombstone, a delete
  // visible as the version it replaced, at the tombstone's timestamp, or at its expires_at_ms
  // for a tombstone that has one (an expiry's). A tombstone gets no expiry entry. When
  // `previous` is not null it receives the version replaced (metadata only, data empty), or
  // nullopt. Requires: version.path is non-empty and holds no '\0'. An error here must fail
  // the whole transaction: the indexes may be half-updated.
  Status apply_version(lmdb::WriteTxn& txn, const Version& version, Counters& next,
                       std::optional<Version>* previous) const;

  // Removes the current version of `path`, with its index entries and revisions, when its uuid
  // is `uuid`. Returns whether it did. A live version that goes (an expiry) is a change: it
  // takes the next sequence number and a delete entry in the change log, whose uuid is the
  // version's and whose timestamp is its expires_at_ms; a tombstone that goes is not. When `removed` is not null and it did, it receives the
  // version removed (metadata only). Errors as for apply_version.
  Result<bool> purge_version(lmdb::WriteTxn& txn, std::string_view path, std::string_view uuid, Counters& next,
                             std::optional<Version>* removed) const;

  // Revisions of `path`, newest first: at most max_revisions, as of `txn`.
  Result<std::vector<StoredRevision>> read_history(const lmdb::Txn& txn, std::string_view path) const;
  // Revision `revision` of `path`, nullopt when it is not among those read_history returns.
  Result<std::optional<StoredRevision>> read_revision(const lmdb::Txn& txn, std::string_view path,
                                                      std::uint64_t revision) const;

  // Examines up to `budget` revision log entries from next.revision_sweep on, wrapping to the
  // first entry at the end, and deletes those that are no longer kept (revision_is_kept: their
  // path was written max_revisions times since, or purged, or written with history off). With
  // history off (or max_revisions 0) none is kept: the log empties as writes go on. Updates
  // next.revision_sweep. An entry that does not decode is left alone. Errors as for
  // apply_version.
  Status sweep_revisions(lmdb::WriteTxn& txn, Counters& next, std::size_t budget) const;

  // Examines up to `budget` time index entries from next.time_index_sweep on, wrapping to the
  // first at the end, and deletes those that no longer name their path's current version: a
  // write leaves its path's old entry for this sweep rather than delete it (a random page of
  // the index each time), and the sweep, walking in key order, deletes the old entries of a
  // page together. Updates next.time_index_sweep. An entry whose version does not decode is
  // left alone. Errors as for apply_version.
  Status sweep_time_index(lmdb::WriteTxn& txn, Counters& next, std::size_t budget) const;

  // Removes the oldest change log entries as `trim` says (entries of the old path-only format
  // go first, whatever their age) and updates next.change_bytes. Returns how many it removed.
  // Errors as for apply_version.
  Result<std::size_t> trim_changes(lmdb::WriteTxn& txn, const ChangeTrim& trim, Counters& next) const;

 private:
  Tables(const Dbs& dbs, const TableOptions& options) : dbs_(dbs), options_(options) {}

  bool keeps_revisions() const noexcept { return options_.revision_history_enabled && options_.max_revisions > 0; }
  // Appends `record` to the revision log as the next revision of its path, after the one
  // `previous` heads (nullopt: the first of a new chain), and returns the reference the new
  // current version carries.
  Result<RevisionRef> append_revision(lmdb::WriteTxn& txn, std::string_view record,
                                      const std::optional<RevisionRef>& previous, Counters& next) const;
  // Appends `record` as revision `revision` after the one `previous` heads: the one append of
  // the log, for a new revision and for one moved from the old layout.
  Result<RevisionRef> put_revision(lmdb::WriteTxn& txn, std::uint64_t revision, std::string_view record,
                                   const std::optional<RevisionRef>& previous, Counters& next) const;
  // What `versions` holds for a path: whether a version, and the reference it carries.
  struct CurrentRef {
    bool held = false;
    std::optional<RevisionRef> ref;
  };
  Result<CurrentRef> read_current_ref(const lmdb::Txn& txn, std::string_view path_key, std::string_view path) const;
  // Calls `visit` on each kept entry of the chain `head` heads, newest first, until it returns
  // false.
  Status walk_revisions(const lmdb::Txn& txn, std::string_view path, const RevisionRef& head,
                        const std::function<bool(const RevisionEntry&)>& visit) const;
  // Moves the revisions of `path_key` kept in the old path-keyed layout to the revision log,
  // oldest first, and returns the reference to the newest (nullopt when it held none).
  Result<std::optional<RevisionRef>> adopt_path_revisions(lmdb::WriteTxn& txn, std::string_view path_key,
                                                          Counters& next) const;
  Status drop_path_revisions(lmdb::WriteTxn& txn, std::string_view path_key) const;
  Result<std::vector<StoredRevision>> read_path_revisions(const lmdb::Txn& txn, std::string_view path) const;
  // Appends the change log entry of `event` under the next sequence number (next.sequence
  // afterwards). `record`: the event's record when already encoded; null: encoded here.
  Status append_change(lmdb::WriteTxn& txn, ChangeEntry::Type type, const Version& event, const std::string* record,
                       Counters& next) const;
  std::int64_t now_ms() const { return options_.clock != nullptr ? options_.clock->now_ms() : system_clock().now_ms(); }

  Dbs dbs_;
  TableOptions options_;
};

}  // namespace kvs::storage
