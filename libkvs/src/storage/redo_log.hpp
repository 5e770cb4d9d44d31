#pragma once

// storage::RedoLog: the write-ahead log in front of LMDB, and the checkpoint that says where
// its replay starts.
//
// Why: a durable LMDB commit costs two syncs of random pages (the B-tree pages, then the meta
// page), and the writer thread waits for both before it can start the next batch. With the log,
// LMDB commits without syncing (MDB_NOSYNC), the batch's changes are appended to the log, and
// one sequential fdatasync of the log makes the batch durable; that sync runs on its own
// thread while the writer goes on with the next batch. Every second or so a checkpoint syncs
// data.mdb once, in the background, and the log before it is deleted.
//
// Why this is sound although LMDB's own unsynced writes are not ordered on disk: a power cut
// can leave data.mdb with a newest meta page that points at pages never written. So recovery
// never trusts data.mdb past the checkpoint. A checkpoint is an LMDB transaction S whose pages
// were synced, and its meta page, saved byte for byte in the checkpoint file. Until the next
// checkpoint, a read transaction on S stays open, so LMDB reuses none of S's pages: S stays
// whole on disk whatever else is written. At open, the saved meta page is written back over
// both of data.mdb's meta pages (lmdb::restore_checkpoint), which makes S the newest state
// again, and the log's records after S are redone, each transaction's records as one LMDB
// transaction. A record holds the physical changes of one batch (put and delete of key and
// value, per database), so replay is exact and knows nothing of what the changes mean. A
// transaction is one batch, or several when the writer holds it open across batches
// (storage/writer.hpp): then its records follow one another in one segment, all with its
// txnid.
//
// Files, in <data_dir>/redo/ (mode 0700, files 0600):
//   checkpoint        "KVSCKPT1", u32 format, u64 txnid S, u8 clean (1: taken by a clean
//                     close), u64 st_dev and st_ino of data.mdb, u32 meta page size, the meta
//                     page, u32 CRC-32C of all before it. Replaced whole (written aside,
//                     synced, renamed, directory synced).
//   <first txnid>.log a segment: "KVSREDO1", u32 format (2), u64 first txnid, u32 salt (random
//                     per segment), u32 count, then per database u32 handle, u16 name size,
//                     name; u32 CRC-32C of the header. Then records: u64 body size, u32 CRC-32C
//                     of the salt (4 bytes) and the body, body = u64 txnid, then operations: u8
//                     kind (1 put, 2 delete), u32 database handle, u32 key size, key, and for a
//                     put u32 value size, value. All little-endian. A record head of zeros ends
//                     the records: one is written after the header and after each record (the
//                     next record goes over it), so a segment's records end there whatever
//                     follows: zeros of a prepared file, or old records of a recycled one
//                     (prepare_segment), whose CRCs do not match the new salt. Format 1, still
//                     replayed, has no salt and CRCs of the body alone.
// Replay stops at the first record that is short or fails its CRC (a torn tail): what follows
// it, in its segment and in later ones, is not applied, and recovery ends at the last complete
// record before it (each record was whole on disk before its batch was acknowledged).
//
// Threading: append and start_segment on the writer thread only; prepare_segment on one
// thread at a time (the checkpointer's); sync_through from any thread;
// write_checkpoint and remove_segments_before on one thread at a time. The log's own state is
// under its mutex.

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
#include <utility>
#include <vector>

#include "kvs/status.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::storage {

// When checkpoints are taken (storage/checkpointer.hpp): the longer between them, the longer
// the log to replay after a crash and the more pages LMDB cannot reuse meanwhile.
struct CheckpointPolicy {
  std::chrono::milliseconds interval{1000};           // at least this often while writes come in
  std::uint64_t log_bytes = std::uint64_t{64} << 20;  // or once the log has grown this much
};

// A named database of the environment, as a segment header lists it.
struct RedoDb {
  std::uint32_t handle = 0;
  std::string name;
};

// One write transaction's changes, in the order they were made.
class RedoRecord {
 public:
  // Starts the record of transaction `txnid`, dropping what it held.
  void begin(std::uint64_t txnid);
  void put(std::uint32_t db, std::string_view key, std::string_view value);
  void del(std::uint32_t db, std::string_view key);
  bool empty() const noexcept { return operations_ == 0; }
  std::uint64_t txnid() const noexcept { return txnid_; }
  std::size_t operations() const noexcept { return operations_; }
  // The body as the log stores it (txnid, then the operations).
  std::string_view body() const noexcept { return body_; }

 private:
  std::string body_;
  std::uint64_t txnid_ = 0;
  std::size_t operations_ = 0;
};

// One operation of a record, as replay reads it. Views into the segment being read: valid
// during the replay callback.
struct RedoOperation {
  enum class Kind : std::uint8_t { kPut = 1, kDelete = 2 };
  Kind kind = Kind::kPut;
  std::string_view db;  // the database's name
  std::string_view key;
  std::string_view value;  // kPut only
};

// Where replay starts: an LMDB transaction whose pages are durable in data.mdb, and its meta
// page, byte for byte.
struct RedoCheckpoint {
  std::uint64_t txnid = 0;
  // Taken by a clean close: data.mdb was synced whole at txnid and nothing of ours came after,
  // so it is opened as it is (changes made to it while the store was closed included).
  bool clean = false;
  // The data.mdb it belongs to (st_dev, st_ino): a file put in its place (a restored backup,
  // a copy) must not get this meta page written into it.
  std::uint64_t data_dev = 0;
  std::uint64_t data_ino = 0;
  std::string meta_page;
};

// What replay did.
struct RedoReplay {
  std::uint64_t transactions = 0;  // records redone
  std::uint64_t last_txnid = 0;    // of the last one redone (0: none)
  std::uint64_t dropped_bytes = 0;  // log bytes after the first bad record, not applied
  std::string dropped_reason;       // why replay stopped early; empty when it read to the end
};

class RedoLog {
 public:
  // Opens `dir` (created 0700 when missing). Writes nothing until start_segment.
  static Result<std::unique_ptr<RedoLog>> open(const std::filesystem::path& dir);
  ~RedoLog();
  RedoLog(const RedoLog&) = delete;
  RedoLog& operator=(const RedoLog&) = delete;

  const std::filesystem::path& dir() const noexcept { return dir_; }

  // The checkpoint, or nullopt when there is none (a new store, or one made before the log).
  // kCorruption when the file is there but damaged.
  Result<std::optional<RedoCheckpoint>> read_checkpoint() const;
  // Replaces the checkpoint, durably, before it returns.
  Status write_checkpoint(const RedoCheckpoint& checkpoint);

  // True when some segment holds a complete record of a transaction after `txnid`.
  Result<bool> has_records_after(std::uint64_t txnid) const;
  // Reads the records of transactions after `txnid` in log order and calls `apply` once per
  // transaction with its txnid and the operations of all its records; transactions must follow
  // one another (txnid + 1 each), or replay fails with kCorruption. Stops at a torn or damaged record, as the header says. A failure of
  // `apply` ends replay with that status.
  using Apply = std::function<Status(std::uint64_t txnid, std::span<const RedoOperation> operations)>;
  Result<RedoReplay> replay(std::uint64_t after, const Apply& apply) const;

  // Starts a new segment for transactions from `first_txnid` on, listing `dbs`: syncs the
  // segment it replaces, creates the new one (from the prepared file when there is one) and
  // syncs the folder. Writer thread.
  Status start_segment(std::uint64_t first_txnid, std::span<const RedoDb> dbs);
  // Prepares the file of the next segment, for start_segment to take: a segment that
  // remove_segments_through kept instead of deleting it, renamed (and grown with zeros to
  // `bytes` when smaller), or else a new file of `bytes` (rounded up to a MiB) of zeros,
  // written and synced. A record appended into space already written makes its
  // fdatasync write just the data; one that grows the file must also commit the file system's
  // journal (the new size and blocks), which under load cost the sync two to three times as
  // long (ext4, a PUT load: mean 738-826 us against 263-435 us, p99 8.3-10.3 ms against
  // 2.9-5.5 ms). Slow: for a background thread. Does nothing when one is prepared already; on
  // failure (out of space, say) nothing is left prepared and start_segment makes a file that
  // grows, as it does without.
  Status prepare_segment(std::uint64_t bytes);
  // Appends `record` to the current segment (pwrite(2), not synced) and returns the log
  // position after it. Writer thread; requires a segment.
  Result<std::uint64_t> append(const RedoRecord& record);
  // Makes every record up to `position` durable (one fdatasync, unless a sync since covered
  // it). Any thread. A failed sync is reported to every later call too: after a failed fsync
  // the kernel may have dropped the pages, and a second fsync would wrongly succeed.
  Status sync_through(std::uint64_t position);
  // Deletes every segment whose records are all of transactions up to `txnid` (the segments
  // before the one holding txnid + 1), then syncs the folder; keeps one of them for
  // prepare_segment to recycle while none is prepared (deleted with the log if never used).
  Status remove_segments_through(std::uint64_t txnid);

  // Bytes appended since open, and of them durable.
  std::uint64_t position() const;
  std::uint64_t synced() const;

 private:
  struct Segment;
  struct Prepared;
  explicit RedoLog(std::filesystem::path dir);
  // The segments in the folder, by first txnid.
  Result<std::vector<std::pair<std::uint64_t, std::filesystem::path>>> list_segments() const;

  const std::filesystem::path dir_;
  mutable Mutex mutex_;
  std::shared_ptr<Segment> current_ KVS_GUARDED_BY(mutex_);
  std::uint64_t position_ KVS_GUARDED_BY(mutex_) = 0;
  std::uint64_t synced_ KVS_GUARDED_BY(mutex_) = 0;
  Status sync_failure_ KVS_GUARDED_BY(mutex_);
  std::unique_ptr<Prepared> prepared_ KVS_GUARDED_BY(mutex_);  // prepare_segment's file, not yet taken
  std::uint64_t prepared_count_ KVS_GUARDED_BY(mutex_) = 0;  // files prepared, for their names
  std::filesystem::path recyclable_ KVS_GUARDED_BY(mutex_);  // a removed segment kept for prepare_segment
};

}  // namespace kvs::storage
