#include "storage/store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <lmdb.h>

#include "features/audit_lmdb.hpp"
#include "storage/keys.hpp"
#include "storage/lock_file.hpp"
#include "storage/record_codec.hpp"
#include "storage/thread_annotations.hpp"

namespace kvs::storage {
namespace {

// meta: the on-disk format version (text), the persistent counters (big-endian u64) and the
// embedder's own settings (put_meta). The first two are reserved names.
constexpr std::string_view kFormatVersionName = "format_version";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kCounterPrefix = "stats.";
constexpr std::string_view kKeysName = "stats.keys";
constexpr std::string_view kLiveKeysName = "stats.live_keys";
constexpr std::string_view kBytesName = "stats.bytes";
constexpr std::string_view kSequenceName = "stats.last_sequence";

constexpr unsigned kMaxDbs = 16;
constexpr unsigned kMaxReaders = 512;
// Idle read transactions kept for reuse (each keeps a reader slot, so well under kMaxReaders).
constexpr std::size_t kMaxIdleReaders = 64;

// ---------------------------------------------------------------------------------------------
// LMDB plumbing

Status lmdb_status(int rc, std::string_view operation) {
  std::string message = "lmdb " + std::string(operation) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::corruption(std::move(message));
    default:
      return Status::io_error(std::move(message));
  }
}

MDB_val to_val(std::string_view bytes) { return MDB_val{bytes.size(), const_cast<char*>(bytes.data())}; }
std::string_view to_view(const MDB_val& val) { return {static_cast<const char*>(val.mv_data), val.mv_size}; }

// Names what an LMDB call works on, for its error message; the text is built only on error.
struct What {
  What(std::string_view label_text, std::string_view subject_text = {}) : label(label_text), subject(subject_text) {}
  std::string_view label;
  std::string_view subject;
  std::string text() const {
    std::string text(label);
    if (!subject.empty()) text.append(" ").append(subject);
    return text;
  }
};

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The named databases, opened once at open and valid for every transaction after.
struct Dbs {
  MDB_dbi meta = 0;
  MDB_dbi versions = 0;
  MDB_dbi revisions = 0;
  MDB_dbi expiry = 0;
  MDB_dbi tindex = 0;
  MDB_dbi changes = 0;
  MDB_dbi audit = 0;  // opened only with StoreOptions::audit_enabled
};

// A cursor closed on scope exit. Requires: its transaction outlives it.
class Cursor {
 public:
  Cursor() = default;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  Status open(MDB_txn* txn, MDB_dbi dbi, std::string_view what) {
    int rc = mdb_cursor_open(txn, dbi, &cursor_);
    if (rc != 0) {
      cursor_ = nullptr;
      return lmdb_status(rc, What{"cursor on", what}.text());
    }
    return Status::ok();
  }
  // Positions on the first key >= `key`; returns the LMDB code.
  int seek(std::string_view key) {
    if (key.empty()) return move(MDB_FIRST);  // LMDB refuses an empty key
    key_ = to_val(key);
    return mdb_cursor_get(cursor_, &key_, &value_, MDB_SET_RANGE);
  }
  int move(MDB_cursor_op op) { return mdb_cursor_get(cursor_, &key_, &value_, op); }
  int del() { return mdb_cursor_del(cursor_, 0); }
  std::string_view key() const { return to_view(key_); }
  std::string_view value() const { return to_view(value_); }

 private:
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
};

// Read transactions are recycled (mdb_txn_reset / mdb_txn_renew) rather than begun afresh:
// with MDB_NOTLS a fresh one takes LMDB's process-shared reader mutex to find a slot, a
// renewed one keeps its slot. A reset transaction holds no snapshot, so idle ones do not pin
// old pages. Every read still takes its snapshot at the start of the call and drops it at
// the end, on the caller's thread.
class ReaderPool {
 public:
  explicit ReaderPool(MDB_env* env) : env_(env) {}
  ~ReaderPool() {
    for (MDB_txn* txn : idle_) mdb_txn_abort(txn);
  }
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  Result<MDB_txn*> take() {
    MDB_txn* txn = nullptr;
    {
      MutexLock lock(mutex_);
      if (!idle_.empty()) {
        txn = idle_.back();
        idle_.pop_back();
      }
    }
    if (txn != nullptr) {
      if (mdb_txn_renew(txn) == 0) return txn;
      mdb_txn_abort(txn);
    }
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) return lmdb_status(rc, "begin read transaction");
    return txn;
  }

  void give_back(MDB_txn* txn) noexcept {
    mdb_txn_reset(txn);
    try {
      MutexLock lock(mutex_);
      if (idle_.size() < kMaxIdleReaders) {
        idle_.push_back(txn);
        return;
      }
    } catch (...) {
      // push_back could not allocate: drop the transaction instead.
    }
    mdb_txn_abort(txn);
  }

 private:
  MDB_env* env_;
  Mutex mutex_;
  // Guarded by mutex_: reset transactions ready for renewal.
  std::vector<MDB_txn*> idle_ KVS_GUARDED_BY(mutex_);
};

// A read snapshot for the length of one call.
class ReadTxn {
 public:
  explicit ReadTxn(ReaderPool& pool) : pool_(pool) {}
  ~ReadTxn() {
    if (txn_ != nullptr) pool_.give_back(txn_);
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  Status begin() {
    auto txn = pool_.take();
    if (!txn.is_ok()) return txn.status();
    txn_ = *txn;
    return Status::ok();
  }
  MDB_txn* get() const noexcept { return txn_; }

 private:
  ReaderPool& pool_;
  MDB_txn* txn_ = nullptr;
};

// A write transaction, aborted on scope exit unless committed.
class WriteTxn {
 public:
  WriteTxn() = default;
  ~WriteTxn() { abort(); }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  Status begin(MDB_env* env) {
    int rc = mdb_txn_begin(env, nullptr, 0, &txn_);
    if (rc != 0) {
      txn_ = nullptr;
      return lmdb_status(rc, "begin write transaction");
    }
    return Status::ok();
  }
  // LMDB's default commit: durable (fsync) before it returns.
  Status commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // freed by LMDB whether or not the commit worked
    if (rc != 0) return lmdb_status(rc, "commit");
    return Status::ok();
  }
  void abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  MDB_txn* get() const noexcept { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

Status lmdb_put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value, What what,
           unsigned flags = 0) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = mdb_put(txn, dbi, &k, &v, flags);
  if (rc != 0) return lmdb_status(rc, "put " + what.text());
  return Status::ok();
}

// Deletes `key`; a key that is already gone is fine.
Status lmdb_del(MDB_txn* txn, MDB_dbi dbi, std::string_view key, What what) {
  MDB_val k = to_val(key);
  int rc = mdb_del(txn, dbi, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "delete " + what.text());
  return Status::ok();
}

// The value at `key`, viewing LMDB's memory (valid until the transaction writes or ends), or
// nullopt.
Result<std::optional<std::string_view>> lmdb_get(MDB_txn* txn, MDB_dbi dbi, std::string_view key, What what) {
  MDB_val k = to_val(key);
  MDB_val v{0, nullptr};
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return lmdb_status(rc, "get " + what.text());
  return std::optional<std::string_view>(to_view(v));
}

// Decodes a stored record of `path`, checking that it really is that path's record.
Result<Version> decode_for(std::string_view bytes, std::string_view path) {
  auto version = decode_record(bytes);
  if (!version.is_ok()) return version.status().with_context(What{"key", path}.text());
  if (version->path != path) {
    return Status::corruption("record stored under key " + std::string(path) + " is for " + version->path);
  }
  return version;
}

Result<std::optional<Version>> read_version(MDB_txn* txn, const Dbs& dbs, std::string_view path) {
  // The hot read path: a short path is its own key, so no copy is made for it.
  std::string hashed;
  std::string_view key = path;
  if (path.size() > keys::kMaxInlinePath) key = hashed = keys::path_key(path);
  auto bytes = lmdb_get(txn, dbs.versions, key, What{"version of", path});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<Version>();
  auto version = decode_for(**bytes, path);
  if (!version.is_ok()) return version.status();
  return std::optional<Version>(std::move(*version));
}

// The counters kept in meta and updated in every write transaction.
struct Counters {
  std::uint64_t keys = 0;
  std::uint64_t live_keys = 0;
  std::uint64_t bytes = 0;
  std::uint64_t sequence = 0;
};

Result<std::uint64_t> read_counter(MDB_txn* txn, const Dbs& dbs, std::string_view name) {
  auto bytes = lmdb_get(txn, dbs.meta, name, What{"meta", name});
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return std::uint64_t{0};
  if ((*bytes)->size() != 8) return Status::corruption("meta " + std::string(name) + " is not a u64");
  return keys::read_be64(**bytes);
}

Status write_counter(MDB_txn* txn, const Dbs& dbs, std::string_view name, std::uint64_t value) {
  std::string bytes;
  keys::append_be64(bytes, value);
  return lmdb_put(txn, dbs.meta, name, bytes, What{"meta", name});
}

Result<Counters> read_counters(MDB_txn* txn, const Dbs& dbs) {
  Counters counters;
  std::pair<std::string_view, std::uint64_t*> fields[] = {{kKeysName, &counters.keys},
                                                          {kLiveKeysName, &counters.live_keys},
                                                          {kBytesName, &counters.bytes},
                                                          {kSequenceName, &counters.sequence}};
  for (auto& [name, field] : fields) {
    auto value = read_counter(txn, dbs, name);
    if (!value.is_ok()) return value.status();
    *field = *value;
  }
  return counters;
}

Status write_counters(MDB_txn* txn, const Dbs& dbs, const Counters& counters) {
  if (Status s = write_counter(txn, dbs, kKeysName, counters.keys); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs, kLiveKeysName, counters.live_keys); !s.is_ok()) return s;
  if (Status s = write_counter(txn, dbs, kBytesName, counters.bytes); !s.is_ok()) return s;
  return write_counter(txn, dbs, kSequenceName, counters.sequence);
}

// Keys whose first segment starts with '_' are the system's own (users, groups, ...): they
// are not counted as live keys.
bool is_reserved_path(std::string_view path) { return !path.empty() && path.front() == '_'; }

bool is_reserved_meta(std::string_view name) {
  return name == kFormatVersionName || starts_with(name, kCounterPrefix);
}

class TxnWriteView final : public WriteView {
 public:
  TxnWriteView(MDB_txn* txn, const Dbs& dbs) : txn_(txn), dbs_(dbs) {}
  Result<std::optional<Version>> get(std::string_view path) override {
    try {
      return read_version(txn_, dbs_, path);
    } catch (const std::exception& error) {
      return Status::internal(std::string("reading ") + std::string(path) + ": " + error.what());
    }
  }

 private:
  MDB_txn* txn_;
  const Dbs& dbs_;
};

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// One queued request to the writer thread. It lives on the stack of the caller, which waits
// for `done` before it reads the outcome and lets the intent go.
struct Intent {
  enum class Kind : std::uint8_t { kWrite, kPurge, kPutMeta, kAudit };
  Kind kind = Kind::kWrite;
  Decide decide;                 // kWrite
  const AuditNote* audit = nullptr;  // kWrite: the audit entry to append with the version; kAudit: the entry
  std::uint8_t tag = 0;          // kWrite, kPurge: for the commit observer
  std::string_view path, uuid;   // kPurge; kAudit: the entry's path
  std::string_view name, value;  // kPutMeta
  // The outcome, written by the writer thread before it sets `done`.
  Status status;
  std::optional<Version> written;
  std::optional<Version> previous;  // kWrite: the version `written` replaced; kPurge: the one removed
  std::uint64_t sequence = 0;       // kWrite: its change sequence
  bool purged = false;
  std::promise<void> done;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Store::Impl {
  StoreOptions options;
  CodecOptions codec;
  std::unique_ptr<LockFile> lock;  // released last: after the environment is closed
  MDB_env* env = nullptr;
  Dbs dbs;
  std::unique_ptr<ReaderPool> readers;

  // queue_mutex guards the queue and `stopping`; queue_wakeup tells the writer about both.
  Mutex queue_mutex;
  std::condition_variable queue_wakeup;
  std::deque<Intent*> queue KVS_GUARDED_BY(queue_mutex);
  bool stopping KVS_GUARDED_BY(queue_mutex) = false;
  std::thread writer;
  std::thread::id writer_id KVS_GUARDED_BY(queue_mutex);

  // The persistent counters as of the last commit. After open, only the writer thread
  // touches them.
  Counters counters;
  // The audit chain's last committed entry (seq, hash): read from the audit database at open,
  // advanced only when a batch commits, so an aborted batch leaves it as it was and the next
  // batch links to what is really on disk. Only the writer thread touches it after open.
  features::AuditTip audit_tip;

  // stats_mutex guards the figures stats() reports.
  mutable Mutex stats_mutex;
  StoreStats committed KVS_GUARDED_BY(stats_mutex);

  ~Impl() {
    readers.reset();  // idle read transactions go before their environment
    if (env != nullptr) mdb_env_close(env);
  }

  Status open_environment();
  Status open_databases();

  // Queues `intent` and waits until the writer has completed it. Not ok when it was never
  // queued (full queue, closing store, called from inside a Decide).
  Status submit(Intent& intent);
  // Queues every intent at once, back to back, and waits for all; the same refusals as submit.
  Status submit_all(std::vector<Intent>& intents);
  void stop();
  void writer_loop();
  void run_batch(std::vector<Intent*>& batch);
  // Runs one intent inside `txn`. The intent's own failures go into the intent; the returned
  // status is not ok only for a failure of the whole transaction.
  Status run_intent(MDB_txn* txn, Intent& intent, Counters& next, features::AuditTip& tip);
  Status load_audit_tip(MDB_txn* txn);
  Status apply_version(MDB_txn* txn, const Version& version, Counters& next,
                       std::optional<Version>* previous = nullptr);
  void notify_observer(const std::vector<Intent*>& batch);
  Status append_revision(MDB_txn* txn, std::string_view path_key, std::string_view record);
  Status drop_revisions(MDB_txn* txn, std::string_view path_key);
  Result<bool> purge_version(MDB_txn* txn, std::string_view path, std::string_view uuid, Counters& next,
                             std::optional<Version>* removed = nullptr);
};

Status Store::Impl::open_environment() {
  int rc = mdb_env_create(&env);
  if (rc != 0) {
    env = nullptr;
    return lmdb_status(rc, "create environment");
  }
  if ((rc = mdb_env_set_maxdbs(env, kMaxDbs)) != 0) return lmdb_status(rc, "set maxdbs");
  if ((rc = mdb_env_set_maxreaders(env, kMaxReaders)) != 0) return lmdb_status(rc, "set maxreaders");
  if ((rc = mdb_env_set_mapsize(env, options.map_size_bytes)) != 0) return lmdb_status(rc, "set mapsize");
  // MDB_NOTLS: reads come from thread pools, and a read transaction is recycled across threads.
  // No MDB_NOSYNC / MDB_NOMETASYNC: every commit is durable when it returns.
  rc = mdb_env_open(env, options.dir.c_str(), MDB_NOTLS, 0644);
  if (rc != 0) return lmdb_status(rc, "open environment in " + options.dir.string());
  // Reader slots left behind by dead processes would pin old pages forever.
  int stale = 0;
  mdb_reader_check(env, &stale);
  readers = std::make_unique<ReaderPool>(env);
  return Status::ok();
}

Status Store::Impl::open_databases() {
  WriteTxn txn;
  if (Status s = txn.begin(env); !s.is_ok()) return s;
  std::pair<const char*, MDB_dbi*> named[] = {{"meta", &dbs.meta},         {"versions", &dbs.versions},
                                              {"revisions", &dbs.revisions}, {"expiry", &dbs.expiry},
                                              {"tindex", &dbs.tindex},     {"changes", &dbs.changes}};
  for (auto& [name, dbi] : named) {
    int rc = mdb_dbi_open(txn.get(), name, MDB_CREATE, dbi);
    if (rc != 0) return lmdb_status(rc, std::string("open database ") + name);
  }

  auto format = lmdb_get(txn.get(), dbs.meta, kFormatVersionName, What{"meta format_version"});
  if (!format.is_ok()) return format.status();
  if (format->has_value()) {
    if (**format != kFormatVersion) {
      return Status::corruption("data_dir " + options.dir.string() + " has on-disk format version '" +
                                std::string(**format) + "'; this build reads version " +
                                std::string(kFormatVersion));
    }
  } else {
    MDB_stat stat{};
    int rc = mdb_stat(txn.get(), dbs.versions, &stat);
    if (rc != 0) return lmdb_status(rc, "stat versions");
    if (stat.ms_entries != 0) {
      return Status::corruption("data_dir " + options.dir.string() + " holds versions but no format_version");
    }
    Status saved = lmdb_put(txn.get(), dbs.meta, kFormatVersionName, kFormatVersion, What{"meta format_version"});
    if (!saved.is_ok()) return saved;
    if (Status s = write_counters(txn.get(), dbs, Counters{}); !s.is_ok()) return s;
  }

  if (options.audit_enabled) {
    int rc = mdb_dbi_open(txn.get(), "audit", MDB_CREATE, &dbs.audit);
    if (rc != 0) return lmdb_status(rc, "open database audit");
    if (Status s = load_audit_tip(txn.get()); !s.is_ok()) return s;
  }

  auto loaded = read_counters(txn.get(), dbs);
  if (!loaded.is_ok()) return loaded.status();
  counters = *loaded;
  {
    MutexLock lock_stats(stats_mutex);
    committed.keys = counters.keys;
    committed.live_keys = counters.live_keys;
    committed.bytes = counters.bytes;
    committed.last_sequence = counters.sequence;
  }
  return txn.commit();
}

// The tip is the last entry's (seq, hash). A last entry that does not decode (a damaged
// file) must not stop the node: the chain goes on from its key's seq and a hash of its raw
// bytes, and verify_audit reports that entry as the first bad one.
Status Store::Impl::load_audit_tip(MDB_txn* txn) {
  auto tip = features::read_audit_tip(txn, dbs.audit);
  if (tip.is_ok()) {
    audit_tip = *tip;
    return Status::ok();
  }
  Cursor cursor;
  if (Status s = cursor.open(txn, dbs.audit, "audit"); !s.is_ok()) return s;
  int rc = cursor.move(MDB_LAST);
  if (rc != 0) return lmdb_status(rc, "read last audit entry");
  auto seq = features::parse_audit_key(cursor.key());
  if (!seq.is_ok()) return seq.status().with_context("last audit entry");
  audit_tip = features::AuditTip{*seq, features::audit_value_hash(cursor.value())};
  return Status::ok();
}

Status Store::Impl::submit(Intent& intent) {
  std::future<void> done = intent.done.get_future();
  {
    MutexLock lock_queue(queue_mutex);
    if (std::this_thread::get_id() == writer_id) {
      return Status::internal("a write was made from inside a Decide; it would wait for itself");
    }
    if (stopping) return Status::unavailable("store " + options.dir.string() + " is closing");
    if (queue.size() >= options.max_queue) {
      return Status::unavailable("write queue of " + options.dir.string() + " is full (" +
                                 std::to_string(queue.size()) + " intents waiting)");
    }
    queue.push_back(&intent);
    // Notified under the lock: once the lock is released the intent may complete and the
    // store may be destroyed (with its condition variable) before a later notify would run.
    queue_wakeup.notify_one();
  }
  done.wait();
  return Status::ok();
}

Status Store::Impl::submit_all(std::vector<Intent>& intents) {
  std::vector<std::future<void>> done;
  done.reserve(intents.size());
  for (auto& intent : intents) done.push_back(intent.done.get_future());
  {
    MutexLock lock_queue(queue_mutex);
    if (std::this_thread::get_id() == writer_id) {
      return Status::internal("a write was made from inside a Decide; it would wait for itself");
    }
    if (stopping) return Status::unavailable("store " + options.dir.string() + " is closing");
    if (queue.size() + intents.size() > options.max_queue) {
      return Status::unavailable("write queue of " + options.dir.string() + " is full (" +
                                 std::to_string(queue.size()) + " intents waiting)");
    }
    for (auto& intent : intents) queue.push_back(&intent);
    queue_wakeup.notify_one();  // under the lock, as in submit
  }
  for (auto& future : done) future.wait();
  return Status::ok();
}

void Store::Impl::stop() {
  {
    MutexLock lock_queue(queue_mutex);
    stopping = true;
  }
  queue_wakeup.notify_all();
  if (writer.joinable()) writer.join();
}

void Store::Impl::writer_loop() {
  std::vector<Intent*> batch;
  batch.reserve(options.max_batch);
  for (;;) {
    {
      MutexLock lock_queue(queue_mutex);
      lock_queue.wait(queue_wakeup, [&]() KVS_REQUIRES(queue_mutex) { return stopping || !queue.empty(); });
      // Stopping drains first: the loop ends only once every queued intent is complete.
      if (queue.empty()) return;
      while (!queue.empty() && batch.size() < options.max_batch) {
        batch.push_back(queue.front());
        queue.pop_front();
      }
    }
    run_batch(batch);
    batch.clear();
  }
}

// One write transaction for the whole batch, one commit (one fsync), then every caller is
// told. A failure of the transaction itself (LMDB error, out of memory) rolls everything
// back and fails every intent of the batch, so nothing is ever half-applied; a Decide that
// fails or chooses to write nothing affects its own intent only.
void Store::Impl::run_batch(std::vector<Intent*>& batch) {
  Status failure;
  Counters next = counters;
  features::AuditTip next_tip = audit_tip;
  WriteTxn txn;
  try {
    failure = txn.begin(env);
    for (std::size_t i = 0; failure.is_ok() && i < batch.size(); ++i) {
      failure = run_intent(txn.get(), *batch[i], next, next_tip);
    }
    if (failure.is_ok()) failure = write_counters(txn.get(), dbs, next);
    if (failure.is_ok()) failure = txn.commit();
  } catch (...) {
    failure = Status::internal("write batch threw: " + what_of(std::current_exception()));
  }
  txn.abort();

  if (failure.is_ok()) {
    counters = next;
    audit_tip = next_tip;
    MutexLock lock_stats(stats_mutex);
    committed.keys = next.keys;
    committed.live_keys = next.live_keys;
    committed.bytes = next.bytes;
    committed.last_sequence = next.sequence;
    committed.commits += 1;
    committed.intents += batch.size();
  }
  if (failure.is_ok()) {
    notify_observer(batch);
  } else {
    // Every decision of the batch was made against writes that are now rolled back, so none
    // of them stands, whatever it was.
    Status rolled_back = Status::io_error("write transaction of " + std::to_string(batch.size()) +
                                          " intents rolled back, nothing written: " + failure.message());
    for (Intent* intent : batch) {
      intent->status = rolled_back;
      intent->written.reset();
      intent->purged = false;
    }
  }
  for (Intent* intent : batch) intent->done.set_value();
}

void Store::Impl::notify_observer(const std::vector<Intent*>& batch) {
  if (!options.commit_observer) return;
  std::vector<Committed> changes;
  changes.reserve(batch.size());
  for (const Intent* intent : batch) {
    if (intent->kind == Intent::Kind::kWrite && intent->status.is_ok() && intent->written) {
      changes.push_back(Committed{Committed::Kind::kWrite, intent->tag, intent->sequence,
                                  intent->previous ? &*intent->previous : nullptr, &*intent->written});
    } else if (intent->kind == Intent::Kind::kPurge && intent->purged && intent->previous) {
      changes.push_back(Committed{Committed::Kind::kPurge, intent->tag, 0, nullptr, &*intent->previous});
    }
  }
  if (changes.empty()) return;
  try {
    options.commit_observer(changes);
  } catch (...) {
    // An observer is required not to throw; the batch is durable whatever it did.
  }
}

Status Store::Impl::run_intent(MDB_txn* txn, Intent& intent, Counters& next, features::AuditTip& tip) {
  switch (intent.kind) {
    case Intent::Kind::kPutMeta:
      return lmdb_put(txn, dbs.meta, intent.name, intent.value, What{"meta", intent.name});

    case Intent::Kind::kAudit: {
      if (!options.audit_enabled) return Status::ok();
      const AuditNote& note = *intent.audit;
      auto entry = features::append_audit_entry(txn, dbs.audit, tip, note.time_ms, note.actor, note.action,
                                                std::string(intent.path),
                                                note.value_hash.value_or(features::AuditHash{}));
      if (!entry.is_ok()) return entry.status();
      tip = features::audit_tip(*entry);
      return Status::ok();
    }

    case Intent::Kind::kPurge: {
      auto purged = purge_version(txn, intent.path, intent.uuid, next,
                                  options.commit_observer ? &intent.previous : nullptr);
      if (!purged.is_ok()) return purged.status();
      intent.purged = *purged;
      return Status::ok();
    }

    case Intent::Kind::kWrite: {
      TxnWriteView view(txn, dbs);
      Result<std::optional<Version>> decided = Status::internal("Decide did not run");
      try {
        decided = intent.decide(view);
      } catch (...) {
        // The Decide may have read through the view but has written nothing: only this
        // intent fails.
        intent.status = Status::internal("Decide threw: " + what_of(std::current_exception()));
        return Status::ok();
      }
      if (!decided.is_ok()) {
        intent.status = decided.status();
        return Status::ok();
      }
      if (!decided->has_value()) return Status::ok();
      Version& version = **decided;
      if (version.path.empty() || version.path.find('\0') != std::string::npos) {
        intent.status = Status::invalid_argument("cannot store a version with path '" + version.path + "'");
        return Status::ok();
      }
      if (Status applied = apply_version(txn, version, next, options.commit_observer ? &intent.previous : nullptr);
          !applied.is_ok()) {
        return applied;
      }
      intent.sequence = next.sequence;
      if (intent.audit != nullptr && options.audit_enabled) {
        // In this transaction, after the version: a failure here fails the whole batch, so
        // the version never commits without its entry.
        const AuditNote& note = *intent.audit;
        features::AuditHash value_hash{};
        if (note.value_hash) {
          value_hash = *note.value_hash;
        } else if (!version.deleted) {
          value_hash = features::audit_value_hash(version.data);
        }
        auto entry = features::append_audit_entry(txn, dbs.audit, tip, note.time_ms, note.actor, note.action,
                                                  version.path, value_hash);
        if (!entry.is_ok()) return entry.status();
        tip = features::audit_tip(*entry);
      }
      intent.written = std::move(version);
      return Status::ok();
    }
  }
  return Status::internal("unknown intent kind");
}

// Writes `version` as the current version of its path with every index entry that goes with
// it. Index entries of the version it replaces are removed first, so each index holds exactly
// one entry per current version.
Status Store::Impl::apply_version(MDB_txn* txn, const Version& version, Counters& next,
                                  std::optional<Version>* previous) {
  const std::string& path = version.path;
  std::string key = keys::path_key(path);

  auto old_bytes = lmdb_get(txn, dbs.versions, key, What{"version of", path});
  if (!old_bytes.is_ok()) return old_bytes.status();
  if (old_bytes->has_value()) {
    // Copy what is needed out of the summary now: LMDB's memory may move on the next write.
    auto old = decode_summary(**old_bytes);
    if (!old.is_ok()) return old.status().with_context(What{"current version of", path}.text());
    std::size_t old_size = (*old_bytes)->size();
    bool old_live = !old->deleted && !is_reserved_path(path);
    std::int64_t old_timestamp = old->timestamp_ms;
    std::optional<std::int64_t> old_expiry = old->expires_at_ms;
    if (previous != nullptr) {
      auto decoded = decode_record(**old_bytes);
      if (!decoded.is_ok()) return decoded.status().with_context(What{"current version of", path}.text());
      decoded->data.clear();  // observers get the replaced version's metadata only
      *previous = std::move(*decoded);
    }
    if (old_expiry) {
      Status s = lmdb_del(txn, dbs.expiry, keys::expiry_key(*old_expiry, key), What{"expiry of", path});
      if (!s.is_ok()) return s;
    }
    if (Status s = lmdb_del(txn, dbs.tindex, keys::tindex_key(old_timestamp, key), What{"time index of", path});
        !s.is_ok()) {
      return s;
    }
    next.keys -= 1;
    if (old_live) next.live_keys -= 1;
    next.bytes -= std::min<std::uint64_t>(next.bytes, old_size);
  }

  std::string record = encode_record(version, codec);
  if (Status s = lmdb_put(txn, dbs.versions, key, record, What{"version of", path}); !s.is_ok()) return s;
  if (version.expires_at_ms) {
    Status s = lmdb_put(txn, dbs.expiry, keys::expiry_key(*version.expires_at_ms, key), path,
                        What{"expiry of", path});
    if (!s.is_ok()) return s;
  }
  if (Status s = lmdb_put(txn, dbs.tindex, keys::tindex_key(version.timestamp_ms, key), {},
                          What{"time index of", path});
      !s.is_ok()) {
    return s;
  }
  if (options.revision_history_enabled && options.max_revisions > 0) {
    if (Status s = append_revision(txn, key, record); !s.is_ok()) return s;
  }
  // Sequence numbers only grow, so each lands at the end of the database.
  next.sequence += 1;
  if (Status s = lmdb_put(txn, dbs.changes, keys::sequence_key(next.sequence), path, What{"change sequence of", path},
                     MDB_APPEND);
      !s.is_ok()) {
    return s;
  }
  next.keys += 1;
  if (!version.deleted && !is_reserved_path(path)) next.live_keys += 1;
  next.bytes += record.size();
  return Status::ok();
}

// Stores `record` as the next revision of the path and drops the oldest beyond max_revisions.
// Revision numbers of a path are contiguous: each new one is the newest + 1 and only the
// oldest are dropped.
Status Store::Impl::append_revision(MDB_txn* txn, std::string_view path_key, std::string_view record) {
  std::string prefix = keys::revision_prefix(path_key);
  Cursor cursor;
  if (Status s = cursor.open(txn, dbs.revisions, "revisions"); !s.is_ok()) return s;

  // The newest revision: step back from the first key past this path's revisions.
  std::uint64_t newest = 0;
  int rc = cursor.seek(keys::revision_key(path_key, std::numeric_limits<std::uint64_t>::max()));
  rc = rc == 0 ? cursor.move(MDB_PREV) : rc == MDB_NOTFOUND ? cursor.move(MDB_LAST) : rc;
  while (rc == 0 && starts_with(cursor.key(), prefix)) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      newest = keys::revision_number(cursor.key());
      break;
    }
    rc = cursor.move(MDB_PREV);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "find newest revision");

  std::uint64_t revision = newest + 1;
  Status stored = lmdb_put(txn, dbs.revisions, keys::revision_key(path_key, revision), record, What{"revision"});
  if (!stored.is_ok()) return stored;
  if (revision <= options.max_revisions) return Status::ok();
  std::uint64_t drop_through = revision - options.max_revisions;
  rc = cursor.seek(prefix);
  while (rc == 0 && starts_with(cursor.key(), prefix)) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      if (keys::revision_number(cursor.key()) > drop_through) break;
      if ((rc = cursor.del()) != 0) return lmdb_status(rc, "drop old revision");
    }
    rc = cursor.move(MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "drop old revisions");
  return Status::ok();
}

Status Store::Impl::drop_revisions(MDB_txn* txn, std::string_view path_key) {
  std::string prefix = keys::revision_prefix(path_key);
  Cursor cursor;
  if (Status s = cursor.open(txn, dbs.revisions, "revisions"); !s.is_ok()) return s;
  int rc = cursor.seek(prefix);
  while (rc == 0 && starts_with(cursor.key(), prefix)) {
    if (keys::is_revision_of(cursor.key(), prefix)) {
      if ((rc = cursor.del()) != 0) return lmdb_status(rc, "drop revision");
    }
    rc = cursor.move(MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "drop revisions");
  return Status::ok();
}

Result<bool> Store::Impl::purge_version(MDB_txn* txn, std::string_view path, std::string_view uuid,
                                        Counters& next, std::optional<Version>* removed) {
  std::string key = keys::path_key(path);
  What what{"version of", path};
  auto bytes = lmdb_get(txn, dbs.versions, key, what);
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return false;
  auto held = decode_summary(**bytes);
  if (!held.is_ok()) return held.status().with_context(What{"current version of", path}.text());
  if (held->uuid != uuid || held->path != path) return false;

  std::size_t size = (*bytes)->size();
  bool live = !held->deleted && !is_reserved_path(path);
  std::int64_t timestamp = held->timestamp_ms;
  std::optional<std::int64_t> expiry = held->expires_at_ms;
  if (removed != nullptr) {
    auto decoded = decode_record(**bytes);
    if (!decoded.is_ok()) return decoded.status().with_context(What{"current version of", path}.text());
    decoded->data.clear();
    *removed = std::move(*decoded);
  }
  if (Status s = lmdb_del(txn, dbs.versions, key, what); !s.is_ok()) return s;
  if (expiry) {
    if (Status s = lmdb_del(txn, dbs.expiry, keys::expiry_key(*expiry, key), What{"expiry of", path});
        !s.is_ok()) {
      return s;
    }
  }
  if (Status s = lmdb_del(txn, dbs.tindex, keys::tindex_key(timestamp, key), What{"time index of", path});
      !s.is_ok()) {
    return s;
  }
  if (Status s = drop_revisions(txn, key); !s.is_ok()) return s;
  next.keys -= 1;
  if (live) next.live_keys -= 1;
  next.bytes -= std::min<std::uint64_t>(next.bytes, size);
  return true;
}

// ---------------------------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  if (impl_) impl_->stop();
}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  try {
    if (options.dir.empty()) return Status::invalid_argument("store directory is empty");
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->options.max_batch = std::max<std::size_t>(options.max_batch, 1);
    impl->options.max_queue = std::max<std::size_t>(options.max_queue, 1);
    impl->codec = CodecOptions{options.compression_enabled, options.compression_level};

    std::error_code error;
    std::filesystem::create_directories(options.dir, error);
    if (error) return Status::io_error("cannot create data_dir " + options.dir.string() + ": " + error.message());

    // The lock comes before LMDB: opening one environment twice in a process breaks LMDB's
    // own locking.
    auto lock = LockFile::acquire(options.dir / "LOCK");
    if (!lock.is_ok()) return lock.status();
    impl->lock = std::move(*lock);

    if (Status s = impl->open_environment(); !s.is_ok()) return s;
    if (Status s = impl->open_databases(); !s.is_ok()) return s;

    Impl* raw = impl.get();
    {
      MutexLock lock_queue(impl->queue_mutex);
      impl->writer = std::thread([raw] { raw->writer_loop(); });
      impl->writer_id = impl->writer.get_id();
    }
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (...) {
    return Status::internal("opening store " + options.dir.string() + ": " + what_of(std::current_exception()));
  }
}

Result<std::optional<Version>> Store::write(Decide decide) {
  try {
    Intent intent;
    intent.kind = Intent::Kind::kWrite;
    intent.decide = std::move(decide);
    if (Status queued = impl_->submit(intent); !queued.is_ok()) return queued;
    if (!intent.status.is_ok()) return intent.status;
    return std::move(intent.written);
  } catch (...) {
    return Status::internal("write: " + what_of(std::current_exception()));
  }
}

Result<std::optional<Version>> Store::write(Decide decide, AuditNote audit) {
  try {
    Intent intent;
    intent.kind = Intent::Kind::kWrite;
    intent.decide = std::move(decide);
    intent.audit = &audit;  // lives on this stack until the writer has completed the intent
    if (Status queued = impl_->submit(intent); !queued.is_ok()) return queued;
    if (!intent.status.is_ok()) return intent.status;
    return std::move(intent.written);
  } catch (...) {
    return Status::internal("write: " + what_of(std::current_exception()));
  }
}

std::vector<Result<std::optional<Version>>> Store::write_all(std::vector<WriteRequest> requests) {
  std::vector<Result<std::optional<Version>>> outcomes;
  outcomes.reserve(requests.size());
  try {
    std::vector<Intent> intents(requests.size());  // never resized: the queue holds pointers
    for (std::size_t i = 0; i < requests.size(); ++i) {
      intents[i].kind = Intent::Kind::kWrite;
      intents[i].decide = std::move(requests[i].decide);
      intents[i].tag = requests[i].tag;
      if (requests[i].audit) intents[i].audit = &*requests[i].audit;  // lives until the end of this call
    }
    if (Status queued = impl_->submit_all(intents); !queued.is_ok()) {
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
    if (Status queued = impl_->submit(intent); !queued.is_ok()) return queued;
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
    if (Status queued = impl_->submit(intent); !queued.is_ok()) return queued;
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
    if (Status queued = impl_->submit(intent); !queued.is_ok()) return queued;
    return intent.status;
  } catch (...) {
    return Status::internal("put_meta: " + what_of(std::current_exception()));
  }
}

Result<std::optional<Version>> Store::get(std::string_view path) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    return read_version(txn.get(), impl_->dbs, path);
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
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    Cursor cursor;
    if (Status s = cursor.open(txn.get(), impl_->dbs.versions, "versions"); !s.is_ok()) return s;

    // Returns false when the scan is over (past `end`, or `visit` said stop).
    auto offer = [&](const Version& version) {
      if (version.path < start) return true;
      if (!end.empty() && version.path >= end) return false;
      return visit(version);
    };
    std::vector<Version> run;  // decoded versions under hashed keys sharing one prefix
    auto flush_run = [&] {
      std::sort(run.begin(), run.end(), [](const Version& a, const Version& b) { return a.path < b.path; });
      for (const Version& version : run) {
        if (!offer(version)) return false;
      }
      run.clear();
      return true;
    };

    int rc = cursor.seek(keys::seek_key(start));
    while (rc == 0) {
      std::string_view key = cursor.key();
      auto version = decode_record(cursor.value());
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
      rc = cursor.move(MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "scan versions");
    if (!run.empty()) flush_run();
    return Status::ok();
  } catch (...) {
    return Status::internal("scan: " + what_of(std::current_exception()));
  }
}

Result<std::vector<StoredRevision>> Store::history(std::string_view path) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    Cursor cursor;
    if (Status s = cursor.open(txn.get(), impl_->dbs.revisions, "revisions"); !s.is_ok()) return s;
    std::string key = keys::path_key(path);
    std::string prefix = keys::revision_prefix(key);

    std::vector<StoredRevision> revisions;
    int rc = cursor.seek(keys::revision_key(key, std::numeric_limits<std::uint64_t>::max()));
    rc = rc == 0 ? cursor.move(MDB_PREV) : rc == MDB_NOTFOUND ? cursor.move(MDB_LAST) : rc;
    while (rc == 0 && starts_with(cursor.key(), prefix)) {
      if (keys::is_revision_of(cursor.key(), prefix)) {
        auto version = decode_for(cursor.value(), path);
        if (!version.is_ok()) return version.status();
        revisions.push_back(StoredRevision{keys::revision_number(cursor.key()), std::move(*version)});
      }
      rc = cursor.move(MDB_PREV);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, What{"history of", path}.text());
    return revisions;
  } catch (...) {
    return Status::internal("history: " + what_of(std::current_exception()));
  }
}

Result<std::optional<StoredRevision>> Store::revision(std::string_view path, std::uint64_t revision) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    auto bytes = lmdb_get(txn.get(), impl_->dbs.revisions, keys::revision_key(keys::path_key(path), revision),
                     What{"revision of", path});
    if (!bytes.is_ok()) return bytes.status();
    if (!bytes->has_value()) return std::optional<StoredRevision>();
    auto version = decode_for(**bytes, path);
    if (!version.is_ok()) return version.status();
    return std::optional<StoredRevision>(StoredRevision{revision, std::move(*version)});
  } catch (...) {
    return Status::internal("revision: " + what_of(std::current_exception()));
  }
}

Result<std::vector<std::string>> Store::expired(std::int64_t now_ms, std::size_t limit) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    Cursor cursor;
    if (Status s = cursor.open(txn.get(), impl_->dbs.expiry, "expiry"); !s.is_ok()) return s;
    std::vector<std::string> paths;
    int rc = cursor.move(MDB_FIRST);
    while (rc == 0 && paths.size() < limit) {
      if (cursor.key().size() < 8) {
        return Status::corruption("expiry index key of " + std::to_string(cursor.key().size()) + " bytes");
      }
      if (keys::expiry_time(cursor.key()) > now_ms) break;
      paths.emplace_back(cursor.value());
      rc = cursor.move(MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "scan expiry index");
    return paths;
  } catch (...) {
    return Status::internal("expired: " + what_of(std::current_exception()));
  }
}

Status Store::scan_since(std::int64_t since_ms, const std::function<bool(const Version&)>& visit) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    Cursor cursor;
    if (Status s = cursor.open(txn.get(), impl_->dbs.tindex, "time index"); !s.is_ok()) return s;
    int rc = cursor.seek(keys::tindex_seek(since_ms));
    while (rc == 0) {
      std::string_view path_key = keys::tindex_path_key(cursor.key());
      if (path_key.empty()) return Status::corruption("malformed time index key " + std::string(cursor.key()));
      auto bytes = lmdb_get(txn.get(), impl_->dbs.versions, path_key, What{"version in the time index"});
      if (!bytes.is_ok()) return bytes.status();
      if (!bytes->has_value()) {
        return Status::corruption("time index entry " + std::string(cursor.key()) + " has no version");
      }
      auto version = decode_record(**bytes);
      if (!version.is_ok()) return version.status().with_context("scan_since");
      // Timestamps outside the 13 digits are clamped in the key; the version itself decides.
      if (version->timestamp_ms >= since_ms && !visit(*version)) return Status::ok();
      rc = cursor.move(MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "scan time index");
    return Status::ok();
  } catch (...) {
    return Status::internal("scan_since: " + what_of(std::current_exception()));
  }
}

Result<std::vector<std::pair<std::uint64_t, std::string>>> Store::changes(std::uint64_t after,
                                                                          std::size_t limit) const {
  try {
    std::vector<std::pair<std::uint64_t, std::string>> changes;
    if (after == std::numeric_limits<std::uint64_t>::max() || limit == 0) return changes;
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    Cursor cursor;
    if (Status s = cursor.open(txn.get(), impl_->dbs.changes, "changes"); !s.is_ok()) return s;
    int rc = cursor.seek(keys::sequence_key(after + 1));
    while (rc == 0 && changes.size() < limit) {
      if (cursor.key().size() != 8) {
        return Status::corruption("change sequence key of " + std::to_string(cursor.key().size()) + " bytes");
      }
      changes.emplace_back(keys::read_be64(cursor.key()), std::string(cursor.value()));
      rc = cursor.move(MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "scan change sequence");
    return changes;
  } catch (...) {
    return Status::internal("changes: " + what_of(std::current_exception()));
  }
}

Result<std::optional<std::string>> Store::get_meta(std::string_view name) const {
  try {
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    auto bytes = lmdb_get(txn.get(), impl_->dbs.meta, name, What{"meta", name});
    if (!bytes.is_ok()) return bytes.status();
    if (!bytes->has_value()) return std::optional<std::string>();
    return std::optional<std::string>(std::string(**bytes));
  } catch (...) {
    return Status::internal("get_meta: " + what_of(std::current_exception()));
  }
}

Status Store::copy_to_fd(int fd) const {
  // Free pages are left out (MDB_CP_COMPACT), so the copy is as small as the live data.
  int rc = mdb_env_copyfd2(impl_->env, fd, MDB_CP_COMPACT);
  if (rc != 0) return lmdb_status(rc, "copy environment");
  return Status::ok();
}

Result<AuditPage> Store::audit_page(std::uint64_t since, std::size_t limit) const {
  try {
    if (!impl_->options.audit_enabled) return Status::unavailable("the audit log is disabled");
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    auto page = features::read_audit_page(txn.get(), impl_->dbs.audit, since, limit);
    if (!page.is_ok()) return page.status();
    return AuditPage{std::move(page->entries), page->next_since};
  } catch (...) {
    return Status::internal("audit_page: " + what_of(std::current_exception()));
  }
}

Result<features::AuditVerifyResult> Store::verify_audit() const {
  try {
    if (!impl_->options.audit_enabled) return Status::unavailable("the audit log is disabled");
    ReadTxn txn(*impl_->readers);
    if (Status s = txn.begin(); !s.is_ok()) return s;
    return features::verify_audit_db(txn.get(), impl_->dbs.audit);
  } catch (...) {
    return Status::internal("verify_audit: " + what_of(std::current_exception()));
  }
}

StoreStats Store::stats() const {
  MutexLock lock_stats(impl_->stats_mutex);
  return impl_->committed;
}

std::size_t Store::queued_for_testing() const {
  MutexLock lock_queue(impl_->queue_mutex);
  return impl_->queue.size();
}

}  // namespace kvs::storage
