// The Store facade: opens the directory (lock file, environment, tables), hands writes to the
// Writer and answers reads from its own read transaction on the caller's thread. Threading as
// store.hpp says; the facade itself holds no mutable state after open.

#include "storage/store.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "storage/audit_table.hpp"
#include "storage/checkpointer.hpp"
#include "storage/disk_timings.hpp"
#include "storage/keys.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/lock_file.hpp"
#include "storage/redo_log.hpp"
#include "storage/record_codec.hpp"
#include "storage/space.hpp"
#include "storage/tables.hpp"
#include "storage/writer.hpp"
#include "kvs/log.hpp"
#include "util/private_dir.hpp"

namespace kvs::storage {
namespace {

using lmdb::What;


// Reads the redo log's checkpoint and, unless a clean close took it, when it belongs to this
// data.mdb, writes its meta page back (lmdb::restore_checkpoint): LMDB then opens at the
// checkpoint, and replay redoes the rest. A checkpoint of another file (data.mdb replaced or copied) is dropped when the log
// holds nothing after it, and refused when it does: those transactions belong to the other
// file and cannot be applied to this one.
Result<std::optional<RedoCheckpoint>> restore_from_checkpoint(const std::filesystem::path& dir, const RedoLog& redo) {
  auto checkpoint = redo.read_checkpoint();
  if (!checkpoint.is_ok() || !checkpoint->has_value()) return checkpoint;
  // After a clean close data.mdb is whole as it stands, and may have been changed since with
  // LMDB's own tools: writing the checkpoint's meta page back would undo those changes.
  if ((*checkpoint)->clean) return std::optional<RedoCheckpoint>();
  auto matches = lmdb::checkpoint_matches(dir, **checkpoint);
  if (!matches.is_ok()) return matches.status();
  if (!*matches) {
    auto pending = redo.has_records_after((*checkpoint)->txnid);
    if (!pending.is_ok()) return pending.status();
    if (*pending) {
      return Status::corruption("data.mdb in " + dir.string() +
                                " is not the file its redo log was written for (it was replaced or copied while "
                                "the log held transactions not yet in it); move " + redo.dir().string() +
                                " aside to open the directory without them");
    }
    log(LogLevel::kInfo, "storage.redo_checkpoint_dropped",
        {{"data_dir", dir.string()}, {"detail", "the checkpoint was of another data.mdb and nothing is to replay"}});
    return std::optional<RedoCheckpoint>();
  }
  if (Status s = lmdb::restore_checkpoint(dir, **checkpoint); !s.is_ok()) return s;
  return checkpoint;
}

// Redoes one logged transaction, which must commit as `txnid`.
Status redo_transaction(lmdb::Env& env, std::unordered_map<std::string, lmdb::Dbi>& dbis, std::uint64_t txnid,
                        std::span<const RedoOperation> operations) {
  lmdb::WriteTxn txn;
  if (Status s = txn.begin(env); !s.is_ok()) return s;
  if (txn.id() != txnid) {
    return Status::corruption("redo log transaction " + std::to_string(txnid) + " would commit as " +
                              std::to_string(txn.id()));
  }
  for (const RedoOperation& op : operations) {
    auto known = dbis.find(std::string(op.db));
    if (known == dbis.end()) {
      auto opened = txn.open_db(std::string(op.db).c_str());
      if (!opened.is_ok()) return opened.status();
      known = dbis.emplace(std::string(op.db), *opened).first;
    }
    const What what{"redo of", op.db};
    Status s = op.kind == RedoOperation::Kind::kPut ? txn.put(known->second, op.key, op.value, what)
                                                     : txn.del(known->second, op.key, what);
    if (!s.is_ok()) return s;
  }
  return txn.commit();
}


}  // namespace

// Members are destroyed in reverse order: the writer (draining its queue) first, then the
// tables and the environment, and the directory lock last.
struct Store::Impl {
  StoreOptions options;
  DiskTimings timings;  // before the writer and its checkpointer, which observe into it
  std::unique_ptr<LockFile> lock;
  std::unique_ptr<RedoLog> redo;  // null without a redo log
  std::unique_ptr<lmdb::Env> env;
  std::optional<Tables> tables;
  std::string feed_id;  // read at open; fixed while the store is open
  std::unique_ptr<Writer> writer;

  // Both Store::write overloads: one intent through the writer. `audit` (null for none) must
  // live until this returns: the writer completes the intent before submit() returns.
  Result<std::optional<Version>> write(Decide decide, const AuditNote* audit, std::uint8_t tag,
                                       Headroom headroom) {
    try {
      Intent intent;
      intent.kind = Intent::Kind::kWrite;
      intent.tag = tag;
      intent.headroom = headroom;
      intent.decide = std::move(decide);
      intent.audit = audit;
      if (Status queued = writer->submit(intent); !queued.is_ok()) return queued;
      if (!intent.status.is_ok()) return intent.status;
      return std::move(intent.written);
    } catch (...) {
      return Status::internal("write: " + what_of(std::current_exception()));
    }
  }

  // Runs `body` in a read transaction of its own, which ends when `body` returns. A failed
  // begin is returned as is; an exception (std::bad_alloc, mostly) becomes kInternal named
  // after `what`, so none leaves the Store.
  template <class Read>
  auto read(const char* what, Read&& body) const -> decltype(body(std::declval<lmdb::ReadTxn&>())) {
    try {
      lmdb::ReadTxn txn(*env);
      if (Status s = txn.begin(); !s.is_ok()) return s;
      return body(txn);
    } catch (...) {
      return Status::internal(std::string(what) + ": " + what_of(std::current_exception()));
    }
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  try {
    if (options.dir.empty()) return Status::invalid_argument("store directory is empty");
    auto impl = std::make_unique<Impl>();
    impl->options = options;

    if (Status made = util::create_private_directories(options.dir); !made.is_ok()) return made;

    // The lock comes before LMDB: opening one environment twice in a process breaks LMDB's
    // own locking.
    auto lock = LockFile::acquire(options.dir / "LOCK");
    if (!lock.is_ok()) return lock.status();
    impl->lock = std::move(*lock);

    // Recovery, with a redo log: LMDB opens at the last checkpoint and the log after it is
    // redone (storage/redo_log.hpp).
    const bool redo = options.redo_log;
    std::optional<RedoCheckpoint> checkpoint;
    if (redo) {
      auto opened = RedoLog::open(options.dir / "redo");
      if (!opened.is_ok()) return opened.status();
      impl->redo = std::move(*opened);
      auto restored = restore_from_checkpoint(options.dir, *impl->redo);
      if (!restored.is_ok()) return restored.status();
      checkpoint = std::move(*restored);
    }

    auto env = lmdb::Env::open(options.dir, options.map_size_bytes);
    if (!env.is_ok()) return env.status();
    impl->env = std::move(*env);

    // Held until the first checkpoint after replay is durable: replay's transactions must not
    // reuse the pages of the state it starts from, which is what a crash meanwhile recovers.
    std::unique_ptr<lmdb::PinnedSnapshot> replay_pin;
    if (redo) {
      auto start = impl->env->last_txnid();
      if (!start.is_ok()) return start.status();
      if (checkpoint && *start != checkpoint->txnid) {
        return Status::corruption("data.mdb in " + options.dir.string() + " opened at transaction " +
                                  std::to_string(*start) + ", not at its redo log checkpoint's " +
                                  std::to_string(checkpoint->txnid));
      }
      auto pin = impl->env->pin();
      if (!pin.is_ok()) return pin.status();
      replay_pin = std::move(*pin);
      if (Status s = impl->env->set_commit_sync(false); !s.is_ok()) return s;
      std::unordered_map<std::string, lmdb::Dbi> dbis;
      auto replayed = impl->redo->replay(*start, [&](std::uint64_t txnid, std::span<const RedoOperation> ops) {
        return redo_transaction(*impl->env, dbis, txnid, ops);
      });
      if (!replayed.is_ok()) return replayed.status().with_context("redo log replay in " + options.dir.string());
      if (replayed->transactions > 0 || replayed->dropped_bytes > 0) {
        log(replayed->dropped_bytes > 0 ? LogLevel::kWarn : LogLevel::kInfo, "storage.redo_replayed",
            {{"data_dir", options.dir.string()},
             {"transactions", std::to_string(replayed->transactions)},
             {"from_txnid", std::to_string(*start)},
             {"to_txnid", std::to_string(replayed->last_txnid)},
             {"dropped_bytes", std::to_string(replayed->dropped_bytes)},
             {"dropped_reason", replayed->dropped_reason}});
      }
    }

    // The databases, the counters and the audit chain's tip, in one transaction.
    lmdb::WriteTxn txn;
    if (Status s = txn.begin(*impl->env); !s.is_ok()) return s;
    TableOptions table_options{CodecOptions{options.compression_enabled, options.compression_level},
                               options.revision_history_enabled, options.max_revisions, options.audit_enabled,
                               options.clock};
    auto tables = Tables::open(txn, table_options, options.dir.string());
    if (!tables.is_ok()) return tables.status();
    impl->tables.emplace(std::move(*tables));
    auto counters = impl->tables->read_counters(txn);
    if (!counters.is_ok()) return counters.status();
    auto feed_id = impl->tables->read_feed_id(txn);
    if (!feed_id.is_ok()) return feed_id.status();
    impl->feed_id = std::move(*feed_id);
    audit::AuditTip tip;
    if (options.audit_enabled) {
      auto read = read_audit_tip(txn, impl->tables->dbs().audit);
      if (!read.is_ok()) return read.status();
      tip = *read;
    }
    if (Status s = txn.commit(); !s.is_ok()) return s;

    WriterOptions writer_options;
    writer_options.dir = options.dir;
    writer_options.max_batch = std::max<std::size_t>(options.max_batch, 1);
    writer_options.max_queue = std::max<std::size_t>(options.max_queue, 1);
    writer_options.audit_enabled = options.audit_enabled;
    writer_options.audit_key = options.audit_key;
    writer_options.commit_observer = options.commit_observer;
    writer_options.timings = &impl->timings;
    if (redo) {
      // Syncs what open and replay committed and takes the first checkpoint; from here the
      // log and its checkpoints keep the store recoverable, and the replay pin can go.
      auto checkpointer = Checkpointer::open(*impl->env, *impl->redo, options.checkpoint, &impl->timings);
      if (!checkpointer.is_ok()) return checkpointer.status();
      replay_pin.reset();
      writer_options.redo = impl->redo.get();
      writer_options.checkpointer = std::move(*checkpointer);
      writer_options.hold = options.hold;
    }
    impl->writer = std::make_unique<Writer>(*impl->env, *impl->tables, std::move(writer_options), *counters, tip);
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (...) {
    return Status::internal("opening store " + options.dir.string() + ": " + what_of(std::current_exception()));
  }
}

Result<std::optional<Version>> Store::write(Decide decide, std::uint8_t tag, Headroom headroom) {
  return impl_->write(std::move(decide), nullptr, tag, headroom);
}

Result<std::optional<Version>> Store::write(Decide decide, AuditNote audit, std::uint8_t tag, Headroom headroom) {
  return impl_->write(std::move(decide), &audit, tag, headroom);
}

std::vector<Result<std::optional<Version>>> Store::write_all(std::vector<WriteRequest> requests) {
  std::vector<Result<std::optional<Version>>> outcomes;
  outcomes.reserve(requests.size());
  try {
    std::vector<Intent> intents(requests.size());  // never resized: the queue holds pointers
    for (std::size_t i = 0; i < requests.size(); ++i) {
      intents[i].kind = Intent::Kind::kWrite;
      intents[i].tag = requests[i].tag;
      intents[i].headroom = requests[i].headroom;
      intents[i].decide = std::move(requests[i].decide);
      if (requests[i].audit) intents[i].audit = &*requests[i].audit;  // lives until the end of this call
    }
    if (Status queued = impl_->writer->submit_all(intents); !queued.is_ok()) {
      for (std::size_t i = 0; i < intents.size(); ++i) outcomes.emplace_back(queued);
      return outcomes;
    }
    for (auto& intent : intents) {
      if (!intent.status.is_ok()) {
        outcomes.emplace_back(intent.status);
      } else {
        outcomes.emplace_back(std::move(intent.written));
      }
    }
  } catch (...) {
    Status failed = Status::internal("write_all: " + what_of(std::current_exception()));
    outcomes.clear();
    for (std::size_t i = 0; i < requests.size(); ++i) outcomes.emplace_back(failed);
  }
  return outcomes;
}

Result<bool> Store::purge(std::string_view path, std::string_view uuid, std::uint8_t tag) {
  try {
    Intent intent;
    intent.kind = Intent::Kind::kPurge;
    intent.tag = tag;
    intent.path = path;
    intent.uuid = uuid;
    if (Status queued = impl_->writer->submit(intent); !queued.is_ok()) return queued;
    if (!intent.status.is_ok()) return intent.status;
    return intent.purged;
  } catch (...) {
    return Status::internal("purge: " + what_of(std::current_exception()));
  }
}

Status Store::append_audit(std::string_view path, const AuditNote& note) {
  try {
    if (!impl_->options.audit_enabled) return Status::ok();
    Intent intent;
    intent.kind = Intent::Kind::kAudit;
    intent.path = path;
    intent.audit = &note;
    if (Status queued = impl_->writer->submit(intent); !queued.is_ok()) return queued;
    return intent.status;
  } catch (...) {
    return Status::internal("append_audit: " + what_of(std::current_exception()));
  }
}

Status Store::put_meta(std::string_view name, std::string_view value) {
  try {
    if (name.empty()) return Status::invalid_argument("meta name is empty");
    if (is_reserved_meta(name)) return Status::invalid_argument("meta name " + std::string(name) + " is reserved");
    Intent intent;
    intent.kind = Intent::Kind::kPutMeta;
    intent.name = name;
    intent.value = value;
    if (Status queued = impl_->writer->submit(intent); !queued.is_ok()) return queued;
    return intent.status;
  } catch (...) {
    return Status::internal("put_meta: " + what_of(std::current_exception()));
  }
}

Result<std::optional<Version>> Store::get(std::string_view path) const {
  try {
    lmdb::ReadTxn txn(*impl_->env);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    return impl_->tables->read_version(txn, path);
  } catch (...) {
    return Status::internal("get: " + what_of(std::current_exception()));
  }
}

Result<bool> Store::get(std::string_view path, Version& out) const {
  try {
    lmdb::ReadTxn txn(*impl_->env);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    return impl_->tables->read_version_into(txn, path, out);
  } catch (...) {
    return Status::internal("get: " + what_of(std::current_exception()));
  }
}

// `visit` runs inside the read transaction (the snapshot stays open while it runs), so it
// must not block for long. Long paths that share their first kMaxInlinePath bytes are stored
// under hashed keys in hash order; they are gathered and re-sorted so that the caller still
// sees path order.
Status Store::scan(std::string_view start, std::string_view end,
                   const std::function<bool(const Version&)>& visit) const {
  return scan_skipping(start, end, [&visit](const Version& version, std::string&) {
    return visit(version) ? ScanStep::kNext : ScanStep::kStop;
  });
}

Status Store::scan_skipping(std::string_view start, std::string_view end, const ScanVisitor& visit,
                            RecordPart part, std::uint64_t* sequence) const {
  return impl_->read("scan", [&](lmdb::ReadTxn& txn) -> Status {
    if (sequence != nullptr) {
      auto last = impl_->tables->read_sequence(txn);
      if (!last.is_ok()) return last.status();
      *sequence = *last;
    }
    return impl_->tables->scan_versions(txn, start, end, visit, part);
  });
}

Result<std::vector<StoredRevision>> Store::history(std::string_view path) const {
  return impl_->read("history", [&](lmdb::ReadTxn& txn) { return impl_->tables->read_history(txn, path); });
}

Result<std::optional<StoredRevision>> Store::revision(std::string_view path, std::uint64_t revision) const {
  return impl_->read("revision", [&](lmdb::ReadTxn& txn) { return impl_->tables->read_revision(txn, path, revision); });
}

Result<std::vector<std::string>> Store::expired(std::int64_t now_ms, std::size_t limit) const {
  return impl_->read("expired", [&](lmdb::ReadTxn& txn) -> Result<std::vector<std::string>> {
    lmdb::Cursor cursor;
    if (Status s = cursor.open(txn, impl_->tables->dbs().expiry, "expiry"); !s.is_ok()) return s;
    std::vector<std::string> paths;
    bool at = cursor.first();
    while (at && paths.size() < limit) {
      if (cursor.key().size() < 8) {
        return Status::corruption("expiry index key of " + std::to_string(cursor.key().size()) + " bytes");
      }
      if (keys::expiry_time(cursor.key()) > now_ms) break;
      paths.emplace_back(cursor.value());
      at = cursor.next();
    }
    if (Status s = cursor.status("scan expiry index"); !s.is_ok()) return s;
    return paths;
  });
}

Status Store::scan_since(std::int64_t since_ms, const std::function<bool(const Version&)>& visit) const {
  return impl_->read("scan_since", [&](lmdb::ReadTxn& txn) -> Status {
    lmdb::Cursor cursor;
    if (Status s = cursor.open(txn, impl_->tables->dbs().tindex, "time index"); !s.is_ok()) return s;
    bool at = cursor.seek(keys::tindex_seek(since_ms));
    while (at) {
      std::string_view path_key = keys::tindex_path_key(cursor.key());
      if (path_key.empty()) return Status::corruption("malformed time index key " + std::string(cursor.key()));
      auto bytes = txn.get(impl_->tables->dbs().versions, path_key, What{"version in the time index"});
      if (!bytes.is_ok()) return bytes.status();
      // An entry of a version since replaced or purged, left for the sweep (sweep_time_index).
      if (!bytes->has_value()) {
        at = cursor.next();
        continue;
      }
      auto version = decode_record(**bytes, RecordPart::kAll, path_key);  // a short path is its key
      if (!version.is_ok()) return version.status().with_context("scan_since");
      // Timestamps outside the 13 digits are clamped in the key; the version itself decides.
      if (keys::tindex_names(cursor.key(), version->timestamp_ms) && version->timestamp_ms >= since_ms &&
          !visit(*version)) {
        return Status::ok();
      }
      at = cursor.next();
    }
    if (Status s = cursor.status("scan time index"); !s.is_ok()) return s;
    return Status::ok();
  });
}

Result<std::vector<std::pair<std::uint64_t, std::string>>> Store::changes(std::uint64_t after,
                                                                          std::size_t limit) const {
  using Changes = std::vector<std::pair<std::uint64_t, std::string>>;
  if (after == std::numeric_limits<std::uint64_t>::max() || limit == 0) return Changes();
  return impl_->read("changes", [&](lmdb::ReadTxn& txn) -> Result<Changes> {
    Changes changes;
    lmdb::Cursor cursor;
    if (Status s = cursor.open(txn, impl_->tables->dbs().changes, "changes"); !s.is_ok()) return s;
    bool at = cursor.seek(keys::sequence_key(after + 1));
    while (at && changes.size() < limit) {
      if (cursor.key().size() != 8) {
        return Status::corruption("change sequence key of " + std::to_string(cursor.key().size()) + " bytes");
      }
      std::uint64_t sequence = keys::read_be64(cursor.key());
      auto entry = decode_change(sequence, cursor.value(), RecordPart::kMetadata);
      if (!entry.is_ok()) return entry.status();
      changes.emplace_back(sequence, std::move(entry->version.path));
      at = cursor.next();
    }
    if (Status s = cursor.status("scan change sequence"); !s.is_ok()) return s;
    return changes;
  });
}

const std::string& Store::feed_id() const noexcept { return impl_->feed_id; }

Result<ChangePage> Store::read_changes(std::uint64_t after, std::size_t limit, std::size_t max_bytes,
                                       RecordPart part) const {
  return impl_->read("read_changes", [&](lmdb::ReadTxn& txn) -> Result<ChangePage> {
    ChangePage page;
    auto last = impl_->tables->read_sequence(txn);
    if (!last.is_ok()) return last.status();
    page.last_sequence = *last;
    if (after >= page.last_sequence || limit == 0) return page;
    lmdb::Cursor cursor;
    if (Status s = cursor.open(txn, impl_->tables->dbs().changes, "changes"); !s.is_ok()) return s;
    std::size_t bytes = 0;
    bool at = cursor.seek(keys::sequence_key(after + 1));
    while (at && page.entries.size() < limit && (page.entries.empty() || bytes < max_bytes)) {
      if (cursor.key().size() != 8) {
        return Status::corruption("change sequence key of " + std::to_string(cursor.key().size()) + " bytes");
      }
      bytes += cursor.value().size();
      auto entry = decode_change(keys::read_be64(cursor.key()), cursor.value(), part);
      if (!entry.is_ok()) return entry.status();
      page.entries.push_back(std::move(*entry));
      at = cursor.next();
    }
    if (Status s = cursor.status("read the change log"); !s.is_ok()) return s;
    return page;
  });
}

Result<std::uint64_t> Store::committed_sequence() const {
  return impl_->read("committed_sequence", [&](lmdb::ReadTxn& txn) {
    return impl_->tables->read_sequence(txn);
  });
}

Result<ChangeLogInfo> Store::change_log_info() const {
  return impl_->read("change_log_info", [&](lmdb::ReadTxn& txn) -> Result<ChangeLogInfo> {
    auto counters = impl_->tables->read_counters(txn);
    if (!counters.is_ok()) return counters.status();
    ChangeLogInfo info;
    info.last_sequence = counters->sequence;
    info.bytes = counters->change_bytes;
    lmdb::Cursor cursor;
    if (Status s = cursor.open(txn, impl_->tables->dbs().changes, "changes"); !s.is_ok()) return s;
    if (cursor.first()) {
      if (cursor.key().size() != 8) return Status::corruption("change sequence key of " +
                                                             std::to_string(cursor.key().size()) + " bytes");
      info.first_sequence = keys::read_be64(cursor.key());
      info.first_applied_ms = change_applied_ms(cursor.value());
    }
    if (Status s = cursor.status("read the change log"); !s.is_ok()) return s;
    return info;
  });
}

Result<std::size_t> Store::trim_changes(const ChangeTrim& trim) {
  try {
    Intent intent;
    intent.kind = Intent::Kind::kTrimChanges;
    intent.trim = &trim;
    if (Status queued = impl_->writer->submit(intent); !queued.is_ok()) return queued;
    if (!intent.status.is_ok()) return intent.status;
    return intent.trimmed;
  } catch (...) {
    return Status::internal("trim_changes: " + what_of(std::current_exception()));
  }
}

Result<std::optional<std::string>> Store::get_meta(std::string_view name) const {
  return impl_->read("get_meta", [&](lmdb::ReadTxn& txn) -> Result<std::optional<std::string>> {
    auto bytes = txn.get(impl_->tables->dbs().meta, name, What{"meta", name});
    if (!bytes.is_ok()) return bytes.status();
    if (!bytes->has_value()) return std::optional<std::string>();
    return std::optional<std::string>(std::string(**bytes));
  });
}

Status Store::copy_to_fd(int fd) const {
  // LMDB's copy reads committed state: the held transaction commits first, so that the copy
  // has every write acknowledged before this call.
  Intent commit;
  commit.kind = Intent::Kind::kCommit;
  if (Status s = impl_->writer->submit(commit); !s.is_ok()) return s;
  if (!commit.status.is_ok()) return commit.status;
  return impl_->env->copy_to_fd(fd);
}

Result<AuditPage> Store::audit_page(std::uint64_t since, std::size_t limit) const {
  if (!impl_->options.audit_enabled) return Status::unavailable("the audit log is disabled");
  return impl_->read("audit_page", [&](lmdb::ReadTxn& txn) {
    return read_audit_page(txn, impl_->tables->dbs().audit, since, limit);
  });
}

Result<audit::AuditVerifyResult> Store::verify_audit(std::optional<audit::AuditTip> expected_head) const {
  if (!impl_->options.audit_enabled) return Status::unavailable("the audit log is disabled");
  return impl_->read("verify_audit", [&](lmdb::ReadTxn& txn) {
    const audit::AuditKey* key = impl_->options.audit_key ? &*impl_->options.audit_key : nullptr;
    return verify_audit_table(txn, impl_->tables->dbs().audit, key, expected_head);
  });
}

const DiskTimings& Store::disk_timings() const { return impl_->timings; }

StoreStats Store::stats() const {
  return impl_->writer->stats();
}

Result<SpaceInfo> Store::space() const {
  try {
    return measure_space(*impl_->env, impl_->options.dir);
  } catch (...) {
    return Status::internal("space: " + what_of(std::current_exception()));
  }
}

std::size_t Store::queued_for_testing() const {
  return impl_->writer->queued();
}

}  // namespace kvs::storage
