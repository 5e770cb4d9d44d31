#pragma once

// storage::lmdb: the LMDB environment, its transactions and cursors, and how LMDB's return
// codes become Status values. This header, lmdb_detail.hpp, lmdb_env.cpp and lmdb_cursor.cpp
// are the only places in kvs that know LMDB: the rest of storage works through the small RAII
// types below, and nothing outside storage sees them at all (store.hpp is storage's front
// header).
//
// Ownership: Env owns the MDB_env and a pool of idle read transactions; every ReadTxn,
// WriteTxn and Cursor borrows from it, so the Env must outlive them. A cursor borrows its
// transaction the same way.
//
// Threading (LMDB's rules, opened with MDB_NOTLS): an Env is safe from any thread. A ReadTxn
// is used by one thread at a time, begun and ended within one call. There is one WriteTxn at a
// time (LMDB serialises them; storage has one writer thread), and it and its cursors are used
// only on the thread that began it.
//
// A held write transaction (storage/writer.hpp): the writer may keep one write transaction
// open across many batches, each batch a nested transaction inside it, and commit it to LMDB
// only every few tens of milliseconds. LMDB's readers cannot see a batch until then, so each
// batch is also published to an Overlay, which every ReadTxn begun while it stands merges over
// its LMDB snapshot (Txn::get and Cursor do the merging; their callers see one keyspace).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/status.hpp"
#include "storage/redo_log.hpp"
#include "util/thread_annotations.hpp"

// LMDB's opaque handles, declared (as lmdb.h declares them) so that no other file needs lmdb.h.
struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

namespace kvs::storage::lmdb {

// A named database of the environment (LMDB's MDB_dbi), valid for every transaction after the
// one that opened it commits.
using Dbi = unsigned int;

// Names what an LMDB call works on, for its error message; the text is built only on error.
struct What {
  What(std::string_view label_text, std::string_view subject_text = {}) : label(label_text), subject(subject_text) {}
  std::string_view label;
  std::string_view subject;
  std::string text() const;
};

class ReaderPool;
struct MergeState;

// One change a batch made, as the overlay keeps it: a put of `value`, or a delete.
struct Change {
  Dbi dbi = 0;
  bool deleted = false;
  std::string key;
  std::string value;
};

// The batches of the held write transaction, committed into it but not to LMDB, as readers
// see them until it commits (see the header comment). Batches are numbered from 1 in publish
// order; a reader sees the batches published before it began (`visible`) and none after, so a
// read is one consistent state however many batches land meanwhile. The overlay only grows:
// a key's versions are kept newest first, and none is changed or freed once visible, so a
// reader may keep views into it for as long as it holds the overlay.
//
// Threading: publish on the writer thread; the rest from any thread. Readers take the mutex
// shared for each lookup or cursor move, the writer takes it exclusively to publish.
class Overlay {
 public:
  // For a held transaction begun on committed transaction `base_txnid`.
  explicit Overlay(std::uint64_t base_txnid) : base_(base_txnid) {}
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  std::uint64_t base() const noexcept { return base_; }
  // The batches published so far.
  std::uint64_t batches() const noexcept { return batches_.load(std::memory_order_acquire); }
  // Publishes one batch's changes, made in this order (a later change of a key wins).
  void publish(std::vector<Change>& changes);

 private:
  friend class Txn;
  friend class Cursor;
  friend struct MergeState;
  struct Version {
    std::uint64_t batch = 0;
    bool deleted = false;
    std::string value;
    std::unique_ptr<Version> older;
  };
  using Keys = std::map<std::string, std::unique_ptr<Version>, std::less<>>;
  // The newest version of `head`'s chain that batch `visible` sees; null when none.
  static const Version* at(const Version* head, std::uint64_t visible) noexcept;
  // The keys of `dbi`, or null when the overlay has none.
  const Keys* keys(Dbi dbi) const KVS_REQUIRES_SHARED(mutex_);

  const std::uint64_t base_;
  mutable SharedMutex mutex_;
  std::map<Dbi, Keys> dbs_ KVS_GUARDED_BY(mutex_);
  std::atomic<std::uint64_t> batches_{0};
};

// A read transaction held open to keep one snapshot whole: while it lives, LMDB reuses none of
// the pages that snapshot reads (the redo log's checkpoint, storage/redo_log.hpp). Closed on
// destruction; any thread (MDB_NOTLS). Requires: its Env outlives it.
class PinnedSnapshot {
 public:
  ~PinnedSnapshot();
  PinnedSnapshot(const PinnedSnapshot&) = delete;
  PinnedSnapshot& operator=(const PinnedSnapshot&) = delete;
  std::uint64_t txnid() const noexcept { return txnid_; }

 private:
  friend class Env;
  PinnedSnapshot(MDB_txn* txn, std::uint64_t txnid) : txn_(txn), txnid_(txnid) {}
  MDB_txn* txn_;
  std::uint64_t txnid_;
};

// How much of the map is in use, from the last committed meta page (mdb_env_info) and the
// data file's size. The pages below `next_page` are in use or on the freelist; the map past it
// is unwritten, and the file grows into it as pages are written there.
struct MapUsage {
  std::uint64_t page_bytes = 0;
  std::uint64_t map_bytes = 0;   // the map size: the most the file may grow to
  std::uint64_t next_page = 0;   // the high-water mark: pages ever used, free ones included
  std::uint64_t file_bytes = 0;  // data.mdb's size on disk (may be less than next_page pages)
};

class Env {
 public:
  // Opens (creating when missing) the environment in directory `dir`, with room for 16 named
  // databases and a map of `map_size_bytes` (the file grows lazily). Every commit is durable
  // when it returns until set_commit_sync(false). kIOError (kCorruption for a damaged file) on
  // failure.
  // Requires: the caller holds the directory's lock file, so the process opens it only once.
  static Result<std::unique_ptr<Env>> open(const std::filesystem::path& dir, std::size_t map_size_bytes);

  // Whether a commit syncs before it returns (LMDB's default) or leaves the syncing to sync()
  // (MDB_NOSYNC: the redo log's mode). Between transactions only.
  Status set_commit_sync(bool sync);
  // Syncs every committed transaction to disk (mdb_env_sync, forced). Any thread, also while
  // a write transaction runs.
  Status sync();
  // Writes data.mdb's dirty pages to the device and waits for them, a step of the file at a
  // time (sync_file_range), so that the device queue never holds more than one step's pages of
  // it: a sync of another file (the redo log's) queues behind that much at most, not behind
  // the whole file's. A step is `step_bytes`, or larger in a file of more than `max_steps`
  // such steps: each costs a system call even where nothing is dirty (about a microsecond).
  // Not a sync: the device's cache and the file's metadata are left for sync(), which then
  // finds little to write. Any thread, as sync().
  // A failed write is reported here and may not be reported again by the sync that follows
  // (the file's error is consumed): the caller must take it as that sync's failure.
  Status write_back(std::size_t step_bytes, std::size_t max_steps);
  // The last committed transaction's id.
  Result<std::uint64_t> last_txnid() const;
  // Opens a read transaction on the last committed state and keeps it (PinnedSnapshot).
  Result<std::unique_ptr<PinnedSnapshot>> pin() const;
  // The checkpoint of committed transaction `txnid`, which must be the last one: its meta page
  // read back from data.mdb and the file's identity. kInternal when the page read back is not
  // that transaction's (a layout this code does not know: no checkpoint is made then).
  Result<RedoCheckpoint> checkpoint_of(std::uint64_t txnid) const;
  // The named databases opened so far, for the redo log's segment headers.
  std::vector<RedoDb> databases() const;
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Writes a consistent, compacted copy of the environment (a complete data.mdb) to `fd`,
  // from its own read transaction, so writers go on meanwhile. kIOError on failure.
  Status copy_to_fd(int fd) const;

  // The map's use as of the last commit. Cheap (reads the meta page, one fstat); safe from any
  // thread. kIOError when the file cannot be examined.
  Result<MapUsage> usage() const;

  // The overlay of the held write transaction, which read transactions begun from now on merge
  // over their snapshot; null once it is committed (set it to null only after the commit).
  // Writer thread.
  void set_overlay(std::shared_ptr<const Overlay> overlay);

 private:
  Env() = default;
  friend class ReadTxn;
  friend class WriteTxn;

  MDB_env* env_ = nullptr;
  std::filesystem::path dir_;
  std::unique_ptr<ReaderPool> readers_;  // idle read transactions; reset before env_ closes
  // The held transaction's overlay. `held_` says whether there is one, so that a read with
  // none (no writes coming in) does not touch the mutex.
  std::atomic<bool> held_{false};
  mutable Mutex overlay_mutex_;
  std::shared_ptr<const Overlay> overlay_ KVS_GUARDED_BY(overlay_mutex_);
  mutable Mutex databases_mutex_;
  std::vector<RedoDb> databases_ KVS_GUARDED_BY(databases_mutex_);  // as open_db opened them
};

// Whether <dir>/data.mdb is the file `checkpoint` was taken of (same device and inode). False
// when there is no data.mdb.
Result<bool> checkpoint_matches(const std::filesystem::path& dir, const RedoCheckpoint& checkpoint);
// Writes the checkpoint's meta page over both meta pages of <dir>/data.mdb and syncs it, so
// that LMDB opens at the checkpoint's transaction, whatever was committed after it. Before
// Env::open, under the directory's lock. kCorruption when the page is not a meta page of that
// transaction or the file is too short to hold the pages it names.
Status restore_checkpoint(const std::filesystem::path& dir, const RedoCheckpoint& checkpoint);

// What a transaction of either kind can do. Values returned as string_view point into LMDB's
// memory map: valid until the transaction writes again or ends.
class Txn {
 public:
  // The value at `key` in `dbi`, or nullopt. kIOError / kCorruption from LMDB.
  Result<std::optional<std::string_view>> get(Dbi dbi, std::string_view key, What what) const;
  // Pages on LMDB's freelist as this transaction sees it: pages the next writes reuse before
  // they grow the file. Reads the whole freelist, so its cost grows with its length.
  Result<std::uint64_t> free_pages() const;
  // The number of entries in `dbi`.
  Result<std::uint64_t> entries(Dbi dbi, What what) const;

 protected:
  Txn() = default;
  ~Txn() = default;
  friend class Cursor;
  MDB_txn* txn_ = nullptr;
  RedoRecord* redo_ = nullptr;           // write transactions: where changes are recorded, or null
  std::vector<Change>* staged_ = nullptr;  // write transactions: where changes are staged, or null
  // Read transactions begun while a transaction was held: its overlay, and the batches of it
  // this one sees. Null otherwise.
  std::shared_ptr<const Overlay> overlay_;
  std::uint64_t visible_ = 0;
};

// A read snapshot for the length of one call. Read transactions are recycled (reset and
// renewed) rather than begun afresh; see ReaderPool in lmdb_env.cpp.
class ReadTxn : public Txn {
 public:
  explicit ReadTxn(const Env& env) : env_(env) {}
  ~ReadTxn();
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  Status begin();

 private:
  const Env& env_;
};

// How put treats the key.
enum class PutMode : std::uint8_t {
  kOverwrite,  // insert or replace
  kAppend,     // the key sorts after every key of the database (MDB_APPEND: pages fill up)
};

// A write transaction, aborted on scope exit unless committed.
class WriteTxn : public Txn {
 public:
  WriteTxn() = default;
  ~WriteTxn() { abort(); }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  Status begin(Env& env);
  // Begins a transaction nested in `parent` (which must stay untouched until this one ends):
  // committing it folds its changes into the parent, aborting it drops them alone.
  Status begin_nested(WriteTxn& parent);
  // The transaction's id: the one it commits as (when it changes anything); a nested one has
  // its parent's.
  std::uint64_t id() const noexcept;
  // From now on every put and delete, this transaction's and its cursors', is also added to
  // `record` (null: no longer). open_db is refused while recording: a segment header lists
  // the databases, which must all be open before the log starts.
  void record_into(RedoRecord* record) noexcept { redo_ = record; }
  // The same for `changes` (null: no longer), for the overlay of a held transaction.
  void stage_into(std::vector<Change>* changes) noexcept { staged_ = changes; }
  bool active() const noexcept { return txn_ != nullptr; }
  // Durable (fsync) before it returns unless the Env's commits do not sync
  // (Env::set_commit_sync). The transaction is over either way.
  Status commit();
  void abort() noexcept;

  // Opens (creating when missing) the named database `name`.
  Result<Dbi> open_db(const char* name);
  Status put(Dbi dbi, std::string_view key, std::string_view value, What what, PutMode mode = PutMode::kOverwrite);
  // Deletes `key`; a key that is already gone is fine.
  Status del(Dbi dbi, std::string_view key, What what);

 private:
  Env* env_ = nullptr;
};

// A cursor, closed on scope exit. Each move returns true when the cursor is on an entry; false
// at either end or on an LMDB error, which `failed()` / `status()` then tell apart. key() and
// value() are valid while it is on an entry (and as long as for Txn::get).
// Requires: its transaction outlives it.
class Cursor {
 public:
  Cursor();
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  Status open(const Txn& txn, Dbi dbi, std::string_view what);

  bool first();
  bool last();
  bool next();
  bool prev();
  // The first entry with key >= `key` (an empty key: the first entry).
  bool seek(std::string_view key);
  // The last entry with key < `key`.
  bool seek_before(std::string_view key);
  // Deletes the entry the cursor is on (write transactions only).
  Status del(std::string_view operation);

  std::string_view key() const noexcept { return key_; }
  std::string_view value() const noexcept { return value_; }
  // True when the last move failed with an LMDB error (not just by running off the end).
  bool failed() const noexcept;
  // Ok unless failed(); then the LMDB error, naming `operation`.
  Status status(std::string_view operation) const;

 private:
  bool move(int op);
  friend struct MergeState;

  MDB_cursor* cursor_ = nullptr;
  Dbi dbi_ = 0;
  RedoRecord* redo_ = nullptr;           // the transaction's, when it records
  std::vector<Change>* staged_ = nullptr;  // the transaction's, when it stages
  std::unique_ptr<MergeState> merge_;    // a read transaction's overlay of this database, if any
  int rc_ = 0;
  std::string_view key_;
  std::string_view value_;
};

}  // namespace kvs::storage::lmdb
