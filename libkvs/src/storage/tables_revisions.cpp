// The revisions of each path: the revision log (revision_log.hpp) that every write appends to,
// the sweep that deletes what no path keeps any more, the reads of a path's revisions, and the
// path-keyed layout from before the log, read and moved to the log a path at a time. Threading
// as tables.hpp says.

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "storage/keys.hpp"
#include "storage/tables.hpp"

namespace kvs::storage {
namespace {

using lmdb::What;

}  // namespace

// Ids only grow, so each entry lands at the end of the log.
Result<RevisionRef> Tables::put_revision(lmdb::WriteTxn& txn, std::uint64_t revision, std::string_view record,
                                         const std::optional<RevisionRef>& previous, Counters& next) const {
  const std::uint64_t id = next.revision_id + 1;
  std::string entry = encode_revision_entry(revision, previous ? previous->head : 0, record);
  Status stored = txn.put(dbs_.revision_log, keys::sequence_key(id), entry, What{"revision log entry"},
                          lmdb::PutMode::kAppend);
  if (!stored.is_ok()) return stored;
  next.revision_id = id;
  return RevisionRef{revision, id, previous ? previous->since : id};
}

Result<RevisionRef> Tables::append_revision(lmdb::WriteTxn& txn, std::string_view record,
                                            const std::optional<RevisionRef>& previous, Counters& next) const {
  return put_revision(txn, previous ? previous->revision + 1 : 1, record, previous, next);
}

Result<std::optional<RevisionRef>> Tables::adopt_path_revisions(lmdb::WriteTxn& txn, std::string_view path_key,
                                                                Counters& next) const {
  const std::string prefix = keys::revision_prefix(path_key);
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.path_revisions, "revisions"); !s.is_ok()) return s;
  std::optional<RevisionRef> ref;
  bool at = cursor.seek(prefix);
  while (at && cursor.key().starts_with(prefix)) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      // Numbered as they were: the next write goes on from the newest.
      auto moved = put_revision(txn, keys::revision_number(cursor.key()), cursor.value(), ref, next);
      if (!moved.is_ok()) return moved.status();
      ref = *moved;
      if (Status s = cursor.del("move a revision to the log"); !s.is_ok()) return s;
    }
    at = cursor.next();
  }
  if (Status s = cursor.status("move revisions to the log"); !s.is_ok()) return s;
  return ref;
}

Status Tables::drop_path_revisions(lmdb::WriteTxn& txn, std::string_view path_key) const {
  const std::string prefix = keys::revision_prefix(path_key);
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.path_revisions, "revisions"); !s.is_ok()) return s;
  bool at = cursor.seek(prefix);
  while (at && cursor.key().starts_with(prefix)) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      if (Status s = cursor.del("drop revision"); !s.is_ok()) return s;
    }
    at = cursor.next();
  }
  return cursor.status("drop revisions");
}

Result<std::vector<StoredRevision>> Tables::read_path_revisions(const lmdb::Txn& txn, std::string_view path) const {
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.path_revisions, "revisions"); !s.is_ok()) return s;
  const std::string key = keys::path_key(path);
  const std::string prefix = keys::revision_prefix(key);
  std::vector<StoredRevision> revisions;
  bool at = cursor.seek_before(keys::revision_key(key, std::numeric_limits<std::uint64_t>::max()));
  while (at && cursor.key().starts_with(prefix) && revisions.size() < options_.max_revisions) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      auto version = decode_for(cursor.value(), path);
      if (!version.is_ok()) return version.status();
      revisions.push_back(StoredRevision{keys::revision_number(cursor.key()), std::move(*version)});
    }
    at = cursor.prev();
  }
  if (Status s = cursor.status(What{"history of", path}.text()); !s.is_ok()) return s;
  return revisions;
}

Result<Tables::CurrentRef> Tables::read_current_ref(const lmdb::Txn& txn, std::string_view path_key,
                                                   std::string_view path) const {
  auto current = txn.get(dbs_.versions, path_key, What{"version of", path});
  if (!current.is_ok()) return current.status();
  if (!current->has_value()) return CurrentRef{};
  auto ref = decode_revision_ref(**current, path_key);
  if (!ref.is_ok()) return ref.status().with_context(What{"current version of", path}.text());
  return CurrentRef{true, *ref};
}

// The chain from its head, as far back as it is kept. A link the sweep already took (the
// max_revisions of an earlier open was smaller) ends it.
Status Tables::walk_revisions(const lmdb::Txn& txn, std::string_view path, const RevisionRef& head,
                              const std::function<bool(const RevisionEntry&)>& visit) const {
  for (std::uint64_t id = head.head; id != 0;) {
    auto bytes = txn.get(dbs_.revision_log, keys::sequence_key(id), What{"revision of", path});
    if (!bytes.is_ok()) return bytes.status();
    if (!bytes->has_value()) break;
    auto entry = decode_revision_entry(**bytes);
    if (!entry.is_ok()) return entry.status().with_context(What{"revision of", path}.text());
    if (!revision_is_kept(head, id, entry->revision, options_.max_revisions) || !visit(*entry)) break;
    id = entry->previous;
  }
  return Status::ok();
}

Result<std::vector<StoredRevision>> Tables::read_history(const lmdb::Txn& txn, std::string_view path) const {
  const std::string key = keys::path_key(path);
  auto current = read_current_ref(txn, key, path);
  if (!current.is_ok()) return current.status();
  if (!current->held) return std::vector<StoredRevision>{};
  if (!current->ref) return read_path_revisions(txn, path);

  std::vector<StoredRevision> revisions;
  Status failed;
  Status walked = walk_revisions(txn, path, *current->ref, [&](const RevisionEntry& entry) {
    auto version = decode_for(entry.record, path);
    if (!version.is_ok()) {
      failed = version.status();
      return false;
    }
    revisions.push_back(StoredRevision{entry.revision, std::move(*version)});
    return revisions.size() < options_.max_revisions;
  });
  if (!walked.is_ok()) return walked;
  if (!failed.is_ok()) return failed;
  return revisions;
}

Result<std::optional<StoredRevision>> Tables::read_revision(const lmdb::Txn& txn, std::string_view path,
                                                             std::uint64_t revision) const {
  const std::string key = keys::path_key(path);
  auto current = read_current_ref(txn, key, path);
  if (!current.is_ok()) return current.status();
  if (!current->held) return std::optional<StoredRevision>();
  if (!current->ref) {
    auto bytes = txn.get(dbs_.path_revisions, keys::revision_key(key, revision), What{"revision of", path});
    if (!bytes.is_ok()) return bytes.status();
    if (!bytes->has_value()) return std::optional<StoredRevision>();
    auto version = decode_for(**bytes, path);
    if (!version.is_ok()) return version.status();
    return std::optional<StoredRevision>(StoredRevision{revision, std::move(*version)});
  }
  std::optional<StoredRevision> found;
  Status failed;
  Status walked = walk_revisions(txn, path, *current->ref, [&](const RevisionEntry& entry) {
    if (entry.revision > revision) return true;
    if (entry.revision == revision) {
      auto version = decode_for(entry.record, path);
      if (!version.is_ok()) {
        failed = version.status();
      } else {
        found = StoredRevision{revision, std::move(*version)};
      }
    }
    return false;
  });
  if (!walked.is_ok()) return walked;
  if (!failed.is_ok()) return failed;
  return found;
}

// Each entry is judged against its path's current reference: a read of `versions` (its pages
// are the ones reads keep warm) and, for an entry that goes, a delete next to the last one.
Status Tables::sweep_revisions(lmdb::WriteTxn& txn, Counters& next, std::size_t budget) const {
  if (budget == 0) return Status::ok();
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbs_.revision_log, "revision_log"); !s.is_ok()) return s;
  const std::size_t kept = keeps_revisions() ? options_.max_revisions : 0;
  bool at = cursor.seek(keys::sequence_key(next.revision_sweep));
  if (!at && next.revision_sweep != 0) at = cursor.first();  // past the end: a new pass
  std::uint64_t sweep = next.revision_sweep;
  std::string path_key;
  for (std::size_t examined = 0; at && examined < budget; ++examined) {
    if (cursor.key().size() != 8) break;  // not an id: leave the log as it is
    const std::uint64_t id = keys::read_be64(cursor.key());
    sweep = id + 1;
    bool goes = false;
    auto entry = decode_revision_entry(cursor.value());
    auto summary = entry.is_ok() ? decode_summary(entry->record) : Result<RecordSummary>(entry.status());
    if (summary.is_ok()) {
      path_key = keys::path_key(summary->path);
      const std::uint64_t revision = entry->revision;
      auto current = txn.get(dbs_.versions, path_key, What{"version of", summary->path});
      if (!current.is_ok()) return current.status();
      if (!current->has_value()) {
        goes = true;
      } else {
        auto ref = decode_revision_ref(**current, path_key);
        // A current version that does not decode is not this sweep's to judge.
        goes = ref.is_ok() && (!ref->has_value() || !revision_is_kept(**ref, id, revision, kept));
      }
    }
    if (goes) {
      if (Status s = cursor.del("sweep the revision log"); !s.is_ok()) return s;
    }
    at = cursor.next();
  }
  if (Status s = cursor.status("sweep the revision log"); !s.is_ok()) return s;
  next.revision_sweep = at ? sweep : 0;  // at the end: the next sweep starts a new pass
  return Status::ok();
}

}  // namespace kvs::storage
