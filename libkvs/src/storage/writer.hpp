#pragma once

// storage::Writer: the store's single writer thread and its queue. Callers queue intents
// (writes, purges, put_meta, audit events) and wait; the writer takes up to max_batch queued
// intents into one write transaction, runs them in queue order through Tables, commits once
// (group commit), tells the commit observer what the batch changed, and only then wakes the
// callers of that batch.
//
// With a redo log (WriterOptions::redo, storage/redo_log.hpp) the commit does not sync: the
// writer appends the batch's record to the log and hands the batch to the syncer thread, which
// syncs the log once for every batch that has queued up meanwhile, then tells the observer and
// wakes the callers, batch by batch in commit order. The writer goes on with the next batch
// while the log syncs. A batch is visible to readers from its commit, before it is durable;
// its callers and the observer hear of it only once it is durable. Without a redo log each
// commit syncs LMDB itself and the writer thread does both.
//
// With a redo log and WriterOptions::hold, the writer also holds its write transaction open
// across batches: each batch is a transaction nested in it (so a failed batch rolls back
// alone), published to the readers' overlay when it commits into it (lmdb_env.hpp), and
// logged as a record of the held transaction's id. The held transaction commits to LMDB once
// it has been open `hold` long, when a whole checkpoint is wanted, and when the writer stops.
// Why: every LMDB commit copies the root-to-leaf path of each table it touches to fresh pages
// (the checkpoint's pin keeps LMDB from reusing any), and all of them reach the disk at the
// next checkpoint. A commit of many batches copies each path and each shared leaf once, which
// cuts the bytes written per PUT several times over and with them the checkpoint's sync bursts
// that the log's syncs queued behind. Before each batch it knows the free space (storage/space.hpp)
// and refuses, intent by intent, client writes that would eat into the headroom kept for
// deletes. The space is measured afresh before a batch unless a measure less than
// kSpaceReuseFor old, less what the writes since are estimated to take (write_cost_bytes,
// an overestimate), still leaves more than kSpaceReuseRoom above the headroom: a roomy store
// pays the fstat and statvfs a few times a second instead of once per batch, and a store near
// its headroom measures before every batch, as the refusals there must be exact.
//
// Ownership: the Writer borrows the environment and the tables, which must outlive it. An
// Intent lives on its caller's stack; the queue holds a pointer to it until its `done` is set.
// Threading: submit/submit_all/stats/queued are safe from any thread except the writer thread
// itself (a submit from a Decide or the observer is refused). The counters and the audit tip
// belong to the writer thread once it runs.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/chain.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/checkpointer.hpp"
#include "storage/disk_timings.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/redo_log.hpp"
#include "storage/store.hpp"
#include "storage/tables.hpp"
#include "util/background_thread.hpp"
#include "util/completion.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::storage {

// The message of a caught exception ("unknown exception" for one that is not std::exception).
std::string what_of(const std::exception_ptr& error);

// One queued request to the writer thread. It lives on the stack of the caller, which waits
// for `done` before it reads the outcome and lets the intent go.
struct Intent {
  // kCommit changes nothing: it commits the held transaction (if any) to LMDB once its batch
  // is done, for a caller about to read LMDB's files themselves (a backup copy).
  enum class Kind : std::uint8_t { kWrite, kPurge, kPutMeta, kAudit, kTrimChanges, kCommit };
  Kind kind = Kind::kWrite;
  std::uint8_t tag = 0;              // kWrite, kPurge: for the commit observer
  Headroom headroom = Headroom::kKeep;  // kWrite: whether it may use the space headroom
  Decide decide;                     // kWrite
  const AuditNote* audit = nullptr;  // kWrite: the audit entry to append with the version; kAudit: the entry
  std::string_view path, uuid;       // kPurge; kAudit: the entry's path
  std::string_view name, value;      // kPutMeta
  const ChangeTrim* trim = nullptr;  // kTrimChanges
  // The outcome, written by the writer thread before it sets `done`.
  Status status;
  std::optional<Version> written;
  bool purged = false;
  std::size_t trimmed = 0;           // kTrimChanges: change log entries removed
  // Kept for the commit observer only (left empty without one): kWrite, the version replaced;
  // kPurge, the version removed; metadata only. And the change sequence number of a write, or
  // of a purge that was a change (an expiry; 0 otherwise).
  std::optional<Version> previous;
  std::uint64_t sequence = 0;
  // Set by the writer (or syncer) thread once the outcome above is written; the caller waits
  // for it, and may let the intent go as soon as it is set.
  util::Completion done;
};

struct WriterOptions {
  std::filesystem::path dir;       // for messages
  std::size_t max_batch = 1024;    // intents per transaction at most (>= 1)
  std::size_t max_queue = 65536;   // queued intents at most (>= 1)
  bool audit_enabled = false;
  std::optional<audit::AuditKey> audit_key;  // seals new entries keyed; nullopt: unkeyed
  CommitObserver commit_observer;  // may be empty
  // The redo log and its checkpointer (both or neither). The log is borrowed and must outlive
  // the Writer; the Writer owns the checkpointer, and takes a last checkpoint when it stops.
  RedoLog* redo = nullptr;
  std::unique_ptr<Checkpointer> checkpointer;
  // With a redo log: how long the writer may hold its write transaction open across batches
  // (see above); zero commits every batch.
  std::chrono::milliseconds hold{0};
  // Takes the duration of each commit that is not nested and of each log sync (may be null;
  // borrowed, outlives the Writer).
  DiskTimings* timings = nullptr;
};

class Writer {
 public:
  // `counters` and `audit_tip` are the committed state the first batch builds on. The thread
  // starts at once.
  Writer(lmdb::Env& env, const Tables& tables, WriterOptions options, const Counters& counters,
         const audit::AuditTip& audit_tip);
  // Completes every queued intent, then stops the threads; with a redo log, takes a last
  // checkpoint so that the next open has nothing to replay.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues `intent` and waits until the writer has completed it. Not ok when it was never
  // queued: kUnavailable for a full queue or a closing store, kInternal from the writer thread.
  Status submit(Intent& intent);
  // Queues every intent at once, back to back, and waits for all; the same refusals as submit.
  // Requires: `intents` is not resized until this returns.
  Status submit_all(std::vector<Intent>& intents);

  // Counters as of the last commit.
  StoreStats stats() const;
  // Intents waiting (not counting the batch being run).
  std::size_t queued() const;

 private:
  void stop();
  void loop();
  // Runs `batch` in one transaction. False when it was rolled back for want of space and holds
  // more than one intent: then nothing is complete (no `done` set), and the caller runs the
  // intents again one by one. Otherwise every intent of `batch` is complete.
  bool run_batch(std::vector<Intent*>& batch);
  // Room for client writes in the batch about to run, from a fresh measure (unlimited when the
  // measure fails: a statvfs error must not refuse writes). Logs when the store crosses its
  // headroom either way.
  struct BatchSpace {
    std::optional<SpaceInfo> space;
    std::uint64_t room = 0;  // bytes client writes may still take in this batch
  };
  BatchSpace measure_batch_space();
  // The last measure and what committed writes have taken since (estimated); writer thread only.
  static constexpr std::chrono::milliseconds kSpaceReuseFor{100};
  static constexpr std::uint64_t kSpaceReuseRoom = std::uint64_t{64} << 20;
  struct LastMeasure {
    SpaceInfo space;
    std::uint64_t room = 0;   // client_room_bytes() of `space`
    std::uint64_t spent = 0;  // write_cost_bytes of the writes committed since
    std::chrono::steady_clock::time_point at;
  };
  std::optional<LastMeasure> last_measure_;
  // Runs one intent inside `txn`. The intent's own failures go into the intent; the returned
  // status is not ok only for a failure of the whole transaction.
  Status run_intent(lmdb::WriteTxn& txn, Intent& intent, Counters& next, audit::AuditTip& tip, BatchSpace& space);
  const audit::AuditKey* audit_key() const noexcept { return options_.audit_key ? &*options_.audit_key : nullptr; }
  // Tells the observer what the committed `batch` changed, in order.
  void notify(const std::vector<Intent*>& batch);
  // Marks every intent of `batch` done and wakes their callers.
  void complete(const std::vector<Intent*>& batch);
  // With a redo log, after a batch of transaction `txnid` committed (to LMDB, or into the held
  // transaction): appends its record, queues the batch for the syncer, commits the held
  // transaction when `held` says so (before queueing the batch for kCommitFirst, after it for
  // kCommitAfter), and begins a checkpoint when one is due.
  enum class Held : std::uint8_t {
    kNo,           // the batch's own transaction, committed to LMDB
    kOpen,         // in the held transaction, which stays open
    kCommitFirst,  // in the held transaction, which commits before the batch syncs (kCommit)
    kCommitAfter,  // in the held transaction, which commits while the batch syncs
  };
  void log_committed(std::vector<Intent*>& batch, std::uint64_t txnid, Held held);
  // Commits the held transaction to LMDB, if one is open, and begins a checkpoint when one is
  // due. Its batches are logged already, some acknowledged: a failed commit stops the store
  // taking writes (fail_redo), and the overlay stays, so reads go on seeing them. Writer thread.
  Status commit_held();
  // The syncer thread's loop, and one round of it: sync the log through the last queued
  // batch, then notify and complete each queued batch in order.
  void sync_loop();
  void sync_round();
  // Not ok once the redo log or a checkpoint failed: every later batch is refused with it.
  Status redo_failure() const;
  // Records that a committed batch could not be made durable for `cause`, and returns what its
  // callers (and every later batch) are told.
  Status fail_redo(const Status& cause);

  lmdb::Env& env_;
  const Tables& tables_;
  const WriterOptions options_;

  // The persistent counters and the audit chain's last committed entry, as of the last
  // commit: advanced only when a batch commits, so an aborted batch leaves them as they were.
  // Only the writer thread touches them.
  Counters counters_;
  audit::AuditTip audit_tip_;
  std::vector<Committed> committed_batch_;  // reused by notify; writer thread only
  bool below_headroom_ = false;             // as of the last measure; writer thread only

  // queue_mutex_ guards the queue and `stopping_`; queue_wakeup_ tells the writer about both.
  mutable Mutex queue_mutex_;
  std::condition_variable queue_wakeup_;
  std::deque<Intent*> queue_ KVS_GUARDED_BY(queue_mutex_);
  bool stopping_ KVS_GUARDED_BY(queue_mutex_) = false;
  std::thread::id writer_id_ KVS_GUARDED_BY(queue_mutex_);
  std::thread thread_;

  // Callers are woken each by its own intent's `done`, by the thread that completes the batch
  // (util::Completion says why not one broadcast).

  // The redo log's side (null / empty without one). The record and the flag are the writer
  // thread's; the flag is set by a checkpoint taken to free pages for a batch that ran out of
  // space, and cleared by the next commit, so that a batch is retried after one such
  // checkpoint only.
  RedoRecord record_;
  // The held transaction (WriterOptions::hold), its overlay, when it began, and the changes
  // of the batch being run; writer thread only.
  lmdb::WriteTxn held_;
  std::shared_ptr<lmdb::Overlay> overlay_;
  std::chrono::steady_clock::time_point held_since_;
  std::vector<lmdb::Change> staged_;
  bool checkpointed_for_space_ = false;
  bool space_tight_ = false;  // the last batch's room was below kSpaceReuseRoom
  struct Synced {
    std::vector<Intent*> batch;
    std::uint64_t position = 0;  // the log position after its record
    Status outcome;              // not ok: what every intent of the batch is told instead
  };
  mutable Mutex sync_mutex_;
  std::deque<Synced> to_sync_ KVS_GUARDED_BY(sync_mutex_);
  Status redo_failure_ KVS_GUARDED_BY(sync_mutex_);
  std::thread::id syncer_id_ KVS_GUARDED_BY(queue_mutex_);
  util::BackgroundThread syncer_;

  // stats_mutex_ guards the figures stats() reports.
  mutable Mutex stats_mutex_;
  StoreStats stats_ KVS_GUARDED_BY(stats_mutex_);
};

}  // namespace kvs::storage
