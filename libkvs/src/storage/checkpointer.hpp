#pragma once

// storage::Checkpointer: takes the redo log's checkpoints (storage/redo_log.hpp says what one
// is and why it makes the log sound).
//
// A checkpoint of transaction S has two halves. The first runs on the writer thread right
// after S commits, before the next transaction begins, and is cheap: read back S's meta page,
// open a read transaction on S (the pin that keeps S's pages from reuse), and start a new log
// segment for S + 1 on. The second runs on the checkpointer's own thread and is the slow one:
// write data.mdb back a step at a time and sync it, write the checkpoint file, then drop the
// previous pin and the segments S covers, and last prepare the file the next checkpoint starts
// its segment in (RedoLog::prepare_segment). Until the file is written the previous checkpoint
// and its pin stand, so a crash at any moment leaves one whole checkpoint with the log after it.
//
// A failed write-back or sync of data.mdb is not retried: after a failed write the kernel may
// have dropped the pages, and a later fsync would succeed without them. The checkpointer
// reports the failure (failure()), the previous checkpoint stays the recovery point, and the
// writer refuses further writes.
//
// Threading: open, begin and close on one thread (the writer thread once it runs); due and
// failure from any thread. The background half is serialised with the next: begin waits while
// one is still running.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kvs/status.hpp"
#include "storage/disk_timings.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/redo_log.hpp"
#include "util/background_thread.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::storage {

class Checkpointer {
 public:
  // Takes a first checkpoint of the last committed transaction, synchronously (data.mdb is
  // synced first), starts the log's first segment after it and deletes every older segment.
  // Call with no write transaction running, after recovery.
  // `timings` (may be null; borrowed, outlives the Checkpointer) takes each sync of data.mdb.
  static Result<std::unique_ptr<Checkpointer>> open(lmdb::Env& env, RedoLog& log, CheckpointPolicy policy,
                                                    DiskTimings* timings = nullptr);
  // Waits for a running background half; takes no final checkpoint (close does).
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // True when a checkpoint is due (interval passed or log grown) and none is running.
  bool due() const;
  // The writer thread's half for `txnid`, the transaction just committed; hands the rest to
  // the background thread. Not ok when the half failed (then nothing changed but possibly a
  // new, empty segment).
  Status begin(std::uint64_t txnid);
  // A checkpoint of `txnid` (the last committed), whole, on the calling thread, after any
  // background one: for shutdown (`clean`: nothing is committed after it), and when the log
  // could not take a record or a batch ran out of space.
  Status checkpoint_now(std::uint64_t txnid, bool clean = false);
  // The first failure of a background half, or ok.
  Status failure() const;

 private:
  Checkpointer(lmdb::Env& env, RedoLog& log, CheckpointPolicy policy, DiskTimings* timings);
  // Syncs data.mdb, timed; `paced` (the background half) writes it back in steps first
  // (kWriteBackStep in checkpointer.cpp), which keeps the redo log's syncs from queueing
  // behind the whole checkpoint's writes.
  Status sync_data(bool paced);
  // The background half for the checkpoint begun with `pin`/`checkpoint`.
  void finish();
  // Waits until no background half runs.
  void wait_idle();

  lmdb::Env& env_;
  RedoLog& log_;
  const CheckpointPolicy policy_;
  DiskTimings* const timings_;

  mutable Mutex mutex_;
  std::condition_variable idle_;
  // The checkpoint in force: its pin. Replaced by the background half once the next is durable.
  std::unique_ptr<lmdb::PinnedSnapshot> pin_ KVS_GUARDED_BY(mutex_);
  // The one begun and not yet finished, if any.
  std::unique_ptr<lmdb::PinnedSnapshot> next_pin_ KVS_GUARDED_BY(mutex_);
  std::optional<RedoCheckpoint> next_ KVS_GUARDED_BY(mutex_);
  bool running_ KVS_GUARDED_BY(mutex_) = false;
  std::chrono::steady_clock::time_point last_ KVS_GUARDED_BY(mutex_);
  std::uint64_t last_position_ KVS_GUARDED_BY(mutex_) = 0;  // the log's position at the last begin
  std::uint64_t segment_bytes_ KVS_GUARDED_BY(mutex_) = 0;  // of the segment the last begin closed
  Status failure_ KVS_GUARDED_BY(mutex_);
  util::BackgroundThread thread_;
};

}  // namespace kvs::storage
