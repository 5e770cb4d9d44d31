// The upkeep of the store's databases: one current version per path with its expiry, time
// index, revision and change sequence entries, and the counters in meta. Threading as
// tables.hpp says: each call runs inside its caller's transaction, on that thread.

#include "storage/tables.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <sodium.h>

#include "storage/keys.hpp"
#include "util/hex.hpp"

namespace kvs::storage {
namespace {

using lmdb::What;

// meta: the on-disk format version (text), the persistent counters (big-endian u64; the time
// index sweep's position is a key) and the embedder's own settings (put_meta). The first two
// are reserved names.
//
// Format version "2" came with record format 2 (record_codec.cpp), which builds of version "1"
// cannot read; version "3" with the revision log (revision_log.hpp) and the revision reference
// in `versions` records, which builds of version "2" cannot read. A directory of an earlier
// version is moved to "3" at open, so that such a build refuses it whole (naming both versions)
// rather than failing on each record it meets. What it holds stays as it is and reads on:
// format 1 records, and revisions in the path-keyed "revisions" database; each path's record
// is rewritten in format 2, and its revisions moved to the log, when the path is next written.
// Version "4" came with the time index that keeps old entries until its sweep deletes them,
// which builds of version "3" would take for corruption (an entry with no version) or serve
// twice; an index of an earlier version holds no old entries and reads on as it is.
constexpr std::string_view kFormatVersionName = "format_version";
constexpr std::string_view kFormatVersion = "4";
constexpr std::string_view kEarlierFormatVersions[] = {"1", "2", "3"};
constexpr std::string_view kCounterPrefix = "stats.";
constexpr std::string_view kKeysName = "stats.keys";
constexpr std::string_view kLiveKeysName = "stats.live_keys";
constexpr std::string_view kBytesName = "stats.bytes";
constexpr std::string_view kSequenceName = "stats.last_sequence";
constexpr std::string_view kChangeBytesName = "stats.change_bytes";
constexpr std::string_view kRevisionIdName = "stats.last_revision_id";
constexpr std::string_view kRevisionSweepName = "stats.revision_sweep";
constexpr std::string_view kTimeIndexSweepName = "stats.time_index_sweep";  // a key, not a u64

// Keys whose first segment starts with '_' are the system's own (users, groups, ...): they
// are not counted as live keys.
bool is_reserved_path(std::string_view path) { return !path.empty() && path.front() == '_'; }

Result<std::uint64_t> read_counter(const lmdb::Txn& txn, lmdb::Dbi meta, std::string_view name) {
  auto bytes = txn.get(meta, name, What{"meta", name});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return std::uint64_t{0};
  if ((*bytes)->size() != 8) return Status::corruption("meta " + std::string(name) + " is not a u64");
  return keys::read_be64(**bytes);
}

Status write_counter(lmdb::WriteTxn& txn, lmdb::Dbi meta, std::string_view name, std::uint64_t value) {
  std::string bytes;
  keys::append_be64(bytes, value);
  return txn.put(meta, name, bytes, What{"meta", name});
}

// Every field of `version` but its document: the event version of a change that shows no
// document (a delete, an expiry, a reserved key's write, which the feed never serves).
Version without_data(const Version& version) {
  return Version{.path = version.path,
                 .uuid = version.uuid,
                 .timestamp_ms = version.timestamp_ms,
                 .data = {},
                 .origin_node_id = version.origin_node_id,
                 .origin_joined_ms = version.origin_joined_ms,
                 .expires_at_ms = version.expires_at_ms,
                 .owner_uuid = version.owner_uuid,
                 .group_uuid = version.group_uuid,
                 .permissions = version.permissions,
                 .deleted = version.deleted};
}

// A new change feed id: 8 random bytes as hex. Random from the OS, not the Random seam: like
// the cluster secret, it must differ between data directories whatever seeds tests use.
Result<std::string> make_feed_id() {
  if (sodium_init() < 0) return Status::internal("libsodium failed to initialise");
  std::uint8_t bytes[8];
  randombytes_buf(bytes, sizeof bytes);
  return util::to_hex(std::span<const std::uint8_t>(bytes, sizeof bytes));
}

}  // namespace

bool is_reserved_meta(std::string_view name) {
  return name == kFormatVersionName || name.starts_with(kCounterPrefix) || name == kFeedIdName;
}

Result<Version> decode_for(std::string_view bytes, std::string_view path) {
  Version version;
  if (Status decoded = decode_for_into(bytes, path, version); !decoded.is_ok()) return decoded;
  return version;
}

Status decode_for_into(std::string_view bytes, std::string_view path, Version& out) {
  // `path` is the record's key when it leaves its path out (only a short path is stored so).
  if (Status decoded = decode_record_into(bytes, out, RecordPart::kAll, path); !decoded.is_ok()) {
    return decoded.with_context(What{"key", path}.text());
  }
  if (out.path != path) {
    return Status::corruption("record stored under key " + std::string(path) + " is for " + out.path);
  }
  return Status::ok();
}

Result<Tables> Tables::open(lmdb::WriteTxn& txn, const TableOptions& options, std::string_view dir) {
  Dbs dbs;
  std::pair<const char*, lmdb::Dbi*> named[] = {
      {"meta", &dbs.meta},     {"versions", &dbs.versions}, {"revision_log", &dbs.revision_log},
      {"revisions", &dbs.path_revisions}, {"expiry", &dbs.expiry}, {"tindex", &dbs.tindex},
      {"changes", &dbs.changes}};
  for (auto& [name, dbi] : named) {
    auto opened = txn.open_db(name);
    if (!opened.is_ok()) return opened.status();
    *dbi = *opened;
  }
  Tables tables(dbs, options);

  auto format = txn.get(dbs.meta, kFormatVersionName, What{"meta format_version"});
  if (!format.is_ok()) return format.status();
  if (format->has_value()) {
    if (std::find(std::begin(kEarlierFormatVersions), std::end(kEarlierFormatVersions), **format) !=
        std::end(kEarlierFormatVersions)) {
      Status moved = txn.put(dbs.meta, kFormatVersionName, kFormatVersion, What{"meta format_version"});
      if (!moved.is_ok()) return moved;
    } else if (**format != kFormatVersion) {
      return Status::corruption("data_dir " + std::string(dir) + " has on-disk format version '" +
                                std::string(**format) + "'; this build reads version " +
                                std::string(kFormatVersion));
    }
  } else {
    auto held = txn.entries(dbs.versions, What{"versions"});
    if (!held.is_ok()) return held.status();
    if (*held != 0) {
      return Status::corruption("data_dir " + std::string(dir) + " holds versions but no format_version");
    }
    Status saved = txn.put(dbs.meta, kFormatVersionName, kFormatVersion, What{"meta format_version"});
    if (!saved.is_ok()) return saved;
    if (Status s = tables.write_counters(txn, Counters{}); !s.is_ok()) return s;
  }

  auto feed_id = txn.get(dbs.meta, kFeedIdName, What{"meta feed_id"});
  if (!feed_id.is_ok()) return feed_id.status();
  if (!feed_id->has_value()) {
    auto made = make_feed_id();
    if (!made.is_ok()) return made.status();
    if (Status s = txn.put(dbs.meta, kFeedIdName, *made, What{"meta feed_id"}); !s.is_ok()) return s;
  }

  if (options.audit_enabled) {
    auto audit = txn.open_db("audit");
    if (!audit.is_ok()) return audit.status();
    tables.dbs_.audit = *audit;
  }
  return tables;
}

Result<std::optional<Version>> Tables::read_version(const lmdb::Txn& txn, std::string_view path) const {
  // The hot read path: a short path is its own key, so no copy is made for it.
  std::string hashed;
  std::string_view key = path;
  if (path.size() > keys::kMaxInlinePath) key = hashed = keys::path_key(path);
  auto bytes = txn.get(dbs_.versions, key, What{"version of", path});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<Version>();
  auto version = decode_for(**bytes, path);
  if (!version.is_ok()) return version.status();
  return std::optional<Version>(std::move(*version));
}

Result<bool> Tables::read_version_into(const lmdb::Txn& txn, std::string_view path, Version& out) const {
  std::string hashed;
  std::string_view key = path;
  if (path.size() > keys::kMaxInlinePath) key = hashed = keys::path_key(path);
  auto bytes = txn.get(dbs_.versions, key, What{"version of", path});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return false;
  if (Status decoded = decode_for_into(**bytes, path, out); !decoded.is_ok()) return decoded;
  return true;
}

Status Tables::scan_versions(const lmdb::Txn& txn, std::string_view start, std::string_view end,
                             const ScanVisitor& visit, RecordPart part) const {
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.versions, "versions"); !s.is_ok()) return s;

  std::string lower(start);  // no path below this is visited; a skip raises it
  bool reseek = false;       // a skip asked to move the cursor on to lower
  std::string skip_to;
  // Returns false when the scan is over (past `end`, or `visit` said stop).
  auto offer = [&](Version& version) {
    if (version.path < lower) return true;
    if (!end.empty() && version.path >= end) return false;
    switch (visit(version, skip_to)) {
      case ScanStep::kNext:
        return true;
      case ScanStep::kStop:
        return false;
      case ScanStep::kSkip:
        if (skip_to > lower) {
          lower = skip_to;
          reseek = true;
        }
        return true;
    }
    return false;
  };
  std::vector<Version> run;  // decoded versions under hashed keys sharing one prefix
  auto flush_run = [&] {
    std::sort(run.begin(), run.end(), [](const Version& a, const Version& b) { return a.path < b.path; });
    for (Version& version : run) {
      if (!offer(version)) return false;
    }
    run.clear();
    return true;
  };

  bool at = cursor.seek(keys::seek_key(start));
  while (at) {
    std::string_view key = cursor.key();
    auto version = decode_record(cursor.value(), part, key);
    if (!version.is_ok()) return version.status().with_context("scan");
    if (keys::is_hashed(key)) {
      std::string_view prefix = key.substr(0, keys::kMaxInlinePath);
      if (!run.empty() && run.front().path.compare(0, keys::kMaxInlinePath, prefix) != 0) {
        if (!flush_run()) return Status::ok();
      }
      run.push_back(std::move(*version));
    } else {
      if (!run.empty() && !flush_run()) return Status::ok();
      if (!offer(*version)) return Status::ok();
    }
    // Seek only forward: a skip that lands inside the run of hashed keys being read goes on
    // reading it, and `lower` filters what it passes over.
    if (reseek && run.empty() && keys::seek_key(lower) > cursor.key()) {
      at = cursor.seek(keys::seek_key(lower));
    } else {
      at = cursor.next();
    }
    reseek = false;
  }
  if (Status s = cursor.status("scan versions"); !s.is_ok()) return s;
  if (!run.empty()) flush_run();
  return Status::ok();
}

Result<Counters> Tables::read_counters(const lmdb::Txn& txn) const {
  Counters counters;
  std::pair<std::string_view, std::uint64_t*> fields[] = {{kKeysName, &counters.keys},
                                                          {kLiveKeysName, &counters.live_keys},
                                                          {kBytesName, &counters.bytes},
                                                          {kSequenceName, &counters.sequence},
                                                          {kChangeBytesName, &counters.change_bytes},
                                                          {kRevisionIdName, &counters.revision_id},
                                                          {kRevisionSweepName, &counters.revision_sweep}};
  for (auto& [name, field] : fields) {
    auto value = read_counter(txn, dbs_.meta, name);
    if (!value.is_ok()) return value.status();
    *field = *value;
  }
  auto sweep = txn.get(dbs_.meta, kTimeIndexSweepName, What{"meta", kTimeIndexSweepName});
  if (!sweep.is_ok()) return sweep.status();
  if (sweep->has_value()) counters.time_index_sweep = **sweep;
  return counters;
}

Status Tables::write_counters(lmdb::WriteTxn& txn, const Counters& counters) const {
  if (Status s = write_counter(txn, dbs_.meta, kKeysName, counters.keys); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs_.meta, kLiveKeysName, counters.live_keys); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs_.meta, kBytesName, counters.bytes); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs_.meta, kChangeBytesName, counters.change_bytes); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs_.meta, kRevisionIdName, counters.revision_id); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs_.meta, kRevisionSweepName, counters.revision_sweep); !s.is_ok()) return s;
  if (Status s = txn.put(dbs_.meta, kTimeIndexSweepName, counters.time_index_sweep,
                         What{"meta", kTimeIndexSweepName});
      !s.is_ok()) {
    return s;
  }
  return write_counter(txn, dbs_.meta, kSequenceName, counters.sequence);
}

Result<std::uint64_t> Tables::read_sequence(const lmdb::Txn& txn) const {
  return read_counter(txn, dbs_.meta, kSequenceName);
}

Result<std::string> Tables::read_feed_id(const lmdb::Txn& txn) const {
  auto bytes = txn.get(dbs_.meta, kFeedIdName, What{"meta feed_id"});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value() || (*bytes)->size() != 16) return Status::corruption("meta feed_id is missing or malformed");
  return std::string(**bytes);
}

// Sequence numbers only grow, so each entry lands at the end of the database.
Status Tables::append_change(lmdb::WriteTxn& txn, ChangeEntry::Type type, const Version& event,
                             const std::string* record, Counters& next) const {
  std::string encoded;
  if (record == nullptr) {
    encoded = encode_record(event, options_.codec);
    record = &encoded;
  }
  std::string entry = encode_change(type, now_ms(), *record);
  next.sequence += 1;
  if (Status s = txn.put(dbs_.changes, keys::sequence_key(next.sequence), entry, What{"change log entry of", event.path},
                         lmdb::PutMode::kAppend);
      !s.is_ok()) {
    return s;
  }
  next.change_bytes += 8 + entry.size();
  return Status::ok();
}

Result<std::size_t> Tables::trim_changes(lmdb::WriteTxn& txn, const ChangeTrim& trim, Counters& next) const {
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.changes, "changes"); !s.is_ok()) return s;
  std::size_t removed = 0;
  bool at = cursor.first();
  while (at && removed < trim.limit) {
    std::optional<std::int64_t> applied = change_applied_ms(cursor.value());
    bool goes = !applied || *applied < trim.cutoff_ms || next.change_bytes > trim.max_bytes;
    if (!goes) break;
    std::uint64_t size = cursor.key().size() + cursor.value().size();
    if (Status s = cursor.del("trim the change log"); !s.is_ok()) return s;
    next.change_bytes -= std::min(next.change_bytes, size);
    ++removed;
    at = cursor.next();
  }
  if (Status s = cursor.status("trim the change log"); !s.is_ok()) return s;
  return removed;
}

// Index entries of the version it replaces are removed first, so each index holds exactly one
// entry per current version.
Status Tables::apply_version(lmdb::WriteTxn& txn, const Version& version, Counters& next,
                             std::optional<Version>* previous) const {
  const std::string& path = version.path;
  std::string key = keys::path_key(path);

  auto old_bytes = txn.get(dbs_.versions, key, What{"version of", path});
  if (!old_bytes.is_ok()) return old_bytes.status();
  if (previous != nullptr) previous->reset();
  // The version replaced, metadata only (no decompression): for a commit observer, and for a
  // tombstone's change log entry, which is visible as the version it replaced.
  std::optional<Version> replaced;
  std::optional<RevisionRef> old_ref;  // where the path's revisions are, before this write
  bool old_unreferenced = false;       // it held a version that names no revisions
  if (old_bytes->has_value()) {
    // Copy what is needed out of the summary now: LMDB's memory may move on the next write.
    auto old = decode_summary(**old_bytes, key);
    if (!old.is_ok()) return old.status().with_context(What{"current version of", path}.text());
    if (previous != nullptr || version.deleted) {
      auto decoded = decode_record(**old_bytes, RecordPart::kMetadata, key);
      if (!decoded.is_ok()) return decoded.status().with_context(What{"current version of", path}.text());
      replaced = std::move(*decoded);
    }
    old_ref = old->revision_ref;
    old_unreferenced = !old_ref.has_value();
    std::size_t old_size = (*old_bytes)->size();
    bool old_live = !old->deleted && !is_reserved_path(path);
    std::optional<std::int64_t> old_expiry = old->expires_at_ms;
    if (old_expiry) {
      Status s = txn.del(dbs_.expiry, keys::expiry_key(*old_expiry, key), What{"expiry of", path});
      if (!s.is_ok()) return s;
    }
    // The old version's time index entry stays, for sweep_time_index: deleting it here would
    // touch a random page of the index on every write.
    next.keys -= 1;
    if (old_live) next.live_keys -= 1;
    next.bytes -= std::min<std::uint64_t>(next.bytes, old_size);
  }

  // The record with its path goes to the revisions and the change log, which are read without
  // a path key to take it from; `versions` stores a short path's record without it, since the
  // path is its key: the record every get reads is the smaller.
  std::string record = encode_record(version, options_.codec);
  std::string keyed;
  std::string_view stored = record;
  if (!keys::is_hashed(key)) stored = keyed = drop_path(record);
  if (keeps_revisions()) {
    // The version is its path's next revision: appended to the revision log, and named by the
    // reference its `versions` record carries. A path last written before the log, or with
    // history off, may still have revisions in the old layout: they move to the log first.
    if (old_unreferenced) {
      auto adopted = adopt_path_revisions(txn, key, next);
      if (!adopted.is_ok()) return adopted.status();
      old_ref = *adopted;
    }
    auto ref = append_revision(txn, record, old_ref, next);
    if (!ref.is_ok()) return ref.status();
    keyed = with_revision_ref(stored, *ref);
    stored = keyed;
  }
  if (Status s = txn.put(dbs_.versions, key, stored, What{"version of", path}); !s.is_ok()) return s;
  // A tombstone never expires again: an expired version's tombstone keeps expires_at_ms (its
  // deletion time, the same on every node) but leaves the index the sweeper reads.
  if (version.expires_at_ms && !version.deleted) {
    Status s = txn.put(dbs_.expiry, keys::expiry_key(*version.expires_at_ms, key), path, What{"expiry of", path});
    if (!s.is_ok()) return s;
  }
  if (Status s = txn.put(dbs_.tindex, keys::tindex_key(version.timestamp_ms, key), {}, What{"time index of", path});
      !s.is_ok()) {
    return s;
  }
  // The change log entry. A put of a client key reuses the record just encoded, document and
  // all; a tombstone shows the replaced version's owner, group and bits; a reserved key's
  // entry (never served) keeps no document.
  if (version.deleted) {
    const bool same_meta = !replaced || (replaced->owner_uuid == version.owner_uuid &&
                                         replaced->group_uuid == version.group_uuid &&
                                         replaced->permissions == version.permissions);
    if (same_meta && !version.expires_at_ms) {
      // The tombstone's own record says it already (a local delete copies the bits it replaces).
      if (Status s = append_change(txn, ChangeEntry::Type::kDelete, version, &record, next); !s.is_ok()) return s;
    } else {
      Version event = without_data(version);
      if (!same_meta) {
        event.owner_uuid = replaced->owner_uuid;
        event.group_uuid = replaced->group_uuid;
        event.permissions = replaced->permissions;
      }
      if (version.expires_at_ms) {
        // An expiry's tombstone, written here or by a peer: the delete happened when the value
        // expired, as the feed has always shown an expiry.
        event.timestamp_ms = *version.expires_at_ms;
        event.expires_at_ms.reset();
      }
      if (Status s = append_change(txn, ChangeEntry::Type::kDelete, event, nullptr, next); !s.is_ok()) return s;
    }
  } else if (is_reserved_path(path)) {
    if (Status s = append_change(txn, ChangeEntry::Type::kPut, without_data(version), nullptr, next); !s.is_ok()) {
      return s;
    }
  } else if (Status s = append_change(txn, ChangeEntry::Type::kPut, version, &record, next); !s.is_ok()) {
    return s;
  }
  if (previous != nullptr) *previous = std::move(replaced);
  next.keys += 1;
  if (!version.deleted && !is_reserved_path(path)) next.live_keys += 1;
  next.bytes += stored.size();
  return Status::ok();
}

Result<bool> Tables::purge_version(lmdb::WriteTxn& txn, std::string_view path, std::string_view uuid,
                                   Counters& next, std::optional<Version>* removed) const {
  std::string key = keys::path_key(path);
  What what{"version of", path};
  auto bytes = txn.get(dbs_.versions, key, what);
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return false;
  auto held = decode_summary(**bytes, key);
  if (!held.is_ok()) return held.status().with_context(What{"current version of", path}.text());
  if (held->uuid != uuid || held->path != path) return false;

  // Metadata only, decoded before LMDB's memory changes: for a commit observer, and for the
  // change log entry of an expiry.
  std::optional<Version> gone;
  if (removed != nullptr || !held->deleted) {
    auto version = decode_record(**bytes, RecordPart::kMetadata, key);
    if (!version.is_ok()) return version.status().with_context(What{"current version of", path}.text());
    gone = std::move(*version);
  }
  const bool expired_live = !held->deleted;
  std::size_t size = (*bytes)->size();
  bool live = !held->deleted && !is_reserved_path(path);
  std::int64_t timestamp = held->timestamp_ms;
  std::optional<std::int64_t> expiry = held->expires_at_ms;
  if (Status s = txn.del(dbs_.versions, key, what); !s.is_ok()) return s;
  if (expiry) {
    if (Status s = txn.del(dbs_.expiry, keys::expiry_key(*expiry, key), What{"expiry of", path}); !s.is_ok()) {
      return s;
    }
  }
  if (Status s = txn.del(dbs_.tindex, keys::tindex_key(timestamp, key), What{"time index of", path});
      !s.is_ok()) {
    return s;
  }
  // Its revisions in the log are now unkept (no version heads their chain) and go with the
  // sweep; any in the old layout go now.
  if (!held->revision_ref) {
    if (Status s = drop_path_revisions(txn, key); !s.is_ok()) return s;
  }
  if (expired_live) {
    // A live version leaving the store is a delete for the feed: the version's own uuid, and
    // the moment it expired as its timestamp. A purged tombstone changes nothing visible.
    Version event = without_data(*gone);
    event.deleted = true;
    event.timestamp_ms = gone->expires_at_ms.value_or(gone->timestamp_ms);
    event.expires_at_ms.reset();
    if (Status s = append_change(txn, ChangeEntry::Type::kDelete, event, nullptr, next); !s.is_ok()) return s;
  }
  if (removed != nullptr) *removed = std::move(gone);
  next.keys -= 1;
  if (live) next.live_keys -= 1;
  next.bytes -= std::min<std::uint64_t>(next.bytes, size);
  return true;
}

// Like the revision log's sweep: each entry is judged by a read of `versions`, and the entries
// that go are deleted next to one another, a few pages dirtied for many deletes.
Status Tables::sweep_time_index(lmdb::WriteTxn& txn, Counters& next, std::size_t budget) const {
  if (budget == 0) return Status::ok();
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.tindex, "time index"); !s.is_ok()) return s;
  const bool resumed = !next.time_index_sweep.empty();
  bool at = resumed ? cursor.seek(next.time_index_sweep) : cursor.first();
  if (!at && resumed) at = cursor.first();  // past the end: a new pass
  for (std::size_t examined = 0; at && examined < budget; ++examined) {
    const std::string_view key = cursor.key();
    const std::string_view path_key = keys::tindex_path_key(key);
    bool goes = false;
    if (!path_key.empty()) {
      auto current = txn.get(dbs_.versions, path_key, What{"version in the time index"});
      if (!current.is_ok()) return current.status();
      if (!current->has_value()) {
        goes = true;
      } else {
        // A current version that does not decode is not this sweep's to judge.
        auto summary = decode_summary(**current, path_key);
        goes = summary.is_ok() && !keys::tindex_names(key, summary->timestamp_ms);
      }
    }
    if (goes) {
      if (Status s = cursor.del("sweep the time index"); !s.is_ok()) return s;
    }
    at = cursor.next();
  }
  if (Status s = cursor.status("sweep the time index"); !s.is_ok()) return s;
  // At the end: the next sweep starts a new pass.
  next.time_index_sweep = at ? std::string(cursor.key()) : std::string();
  return Status::ok();
}

}  // namespace kvs::storage
