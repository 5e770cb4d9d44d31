// The writer thread: the intent queue, the batch loop and the group commit, then the commit
// observer. Threading as writer.hpp says.

#include "storage/writer.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>

#include "kvs/log.hpp"
#include "storage/audit_table.hpp"
#include "storage/space.hpp"

namespace kvs::storage {

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

namespace {

// Revision log entries the sweep examines for each change a batch makes (run_batch).
constexpr std::size_t kSweepPerChange = 2;

class TxnWriteView final : public WriteView {
 public:
  TxnWriteView(const lmdb::Txn& txn, const Tables& tables) : txn_(txn), tables_(tables) {}
  Result<std::optional<Version>> get(std::string_view path) override {
    try {
      return tables_.read_version(txn_, path);
    } catch (const std::exception& error) {
      return Status::internal(std::string("reading ") + std::string(path) + ": " + error.what());
    }
  }
  Status scan(std::string_view start, std::string_view end,
              const std::function<bool(const Version&)>& visit) override {
    try {
      return tables_.scan_versions(txn_, start, end, [&visit](const Version& version, std::string&) {
        return visit(version) ? ScanStep::kNext : ScanStep::kStop;
      });
    } catch (...) {
      return Status::internal("scan in the write transaction: " + what_of(std::current_exception()));
    }
  }

 private:
  const lmdb::Txn& txn_;
  const Tables& tables_;
};

// Copies the committed counters and audit tip into what stats() reports (commits and intents
// are the writer's own tallies, left as they are).
void publish(StoreStats& stats, const Counters& counters, const audit::AuditTip& audit_tip) {
  stats.keys = counters.keys;
  stats.live_keys = counters.live_keys;
  stats.bytes = counters.bytes;
  stats.last_sequence = counters.sequence;
  stats.audit_head = audit_tip;
}

}  // namespace

Writer::Writer(lmdb::Env& env, const Tables& tables, WriterOptions options, const Counters& counters,
               const audit::AuditTip& audit_tip)
    : env_(env), tables_(tables), options_(std::move(options)), counters_(counters), audit_tip_(audit_tip) {
  {
    MutexLock lock_stats(stats_mutex_);
    publish(stats_, counters, audit_tip);
  }
  // The writer's id is set under the lock its loop takes first, so the thread sees it.
  MutexLock lock_queue(queue_mutex_);
  thread_ = std::thread([this] { loop(); });
  writer_id_ = thread_.get_id();
  if (options_.redo != nullptr) {
    syncer_.start([this] {
      {
        // Before any batch reaches the observer, which runs on this thread.
        MutexLock lock(queue_mutex_);
        syncer_id_ = std::this_thread::get_id();
      }
      sync_loop();
    });
  }
}

Writer::~Writer() {
  stop();
  if (options_.redo == nullptr) return;
  // The writer has drained its queue; the syncer drains what it was handed, then the last
  // checkpoint leaves no log to replay at the next open.
  syncer_.stop();
  if (redo_failure().is_ok()) {
    auto txnid = env_.last_txnid();
    Status saved = txnid.is_ok() ? options_.checkpointer->checkpoint_now(*txnid, /*clean=*/true)
                                   : txnid.status();
    if (!saved.is_ok()) {
      log(LogLevel::kWarn, "storage.final_checkpoint_failed",
          {{"data_dir", options_.dir.string()},
           {"error", saved.message()},
           {"detail", "the next open replays the redo log instead"}});
    }
  }
}

Status Writer::submit(Intent& intent) {
  {
    MutexLock lock_queue(queue_mutex_);
    if (std::this_thread::get_id() == writer_id_ || std::this_thread::get_id() == syncer_id_) {
      return Status::internal("a write was made from the writer thread (a Decide or the commit observer); "
                              "it would wait for itself");
    }
    if (stopping_) return Status::unavailable("store " + options_.dir.string() + " is closing");
    if (queue_.size() >= options_.max_queue) {
      return Status::unavailable("write queue of " + options_.dir.string() + " is full (" +
                                 std::to_string(queue_.size()) + " intents waiting)");
    }
    queue_.push_back(&intent);
    // Notified under the lock: once the lock is released the intent may complete and the
    // store may be destroyed (with its condition variable) before a later notify would run.
    queue_wakeup_.notify_one();
  }
  intent.done.wait();
  return Status::ok();
}

Status Writer::submit_all(std::vector<Intent>& intents) {
  {
    MutexLock lock_queue(queue_mutex_);
    if (std::this_thread::get_id() == writer_id_ || std::this_thread::get_id() == syncer_id_) {
      return Status::internal("a write was made from the writer thread (a Decide or the commit observer); "
                              "it would wait for itself");
    }
    if (stopping_) return Status::unavailable("store " + options_.dir.string() + " is closing");
    if (queue_.size() + intents.size() > options_.max_queue) {
      return Status::unavailable("write queue of " + options_.dir.string() + " is full (" +
                                 std::to_string(queue_.size()) + " intents waiting)");
    }
    for (auto& intent : intents) queue_.push_back(&intent);
    queue_wakeup_.notify_one();  // under the lock, as in submit
  }
  for (Intent& intent : intents) intent.done.wait();
  return Status::ok();
}

StoreStats Writer::stats() const {
  MutexLock lock_stats(stats_mutex_);
  return stats_;
}

std::size_t Writer::queued() const {
  MutexLock lock_queue(queue_mutex_);
  return queue_.size();
}

void Writer::stop() {
  {
    MutexLock lock_queue(queue_mutex_);
    stopping_ = true;
  }
  queue_wakeup_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Writer::loop() {
  std::vector<Intent*> batch;
  batch.reserve(options_.max_batch);
  for (;;) {
    bool commit_now = false;  // the held transaction's time is up, or the writer stops
    bool finished = false;
    {
      MutexLock lock_queue(queue_mutex_);
      const auto ready = [&]() KVS_REQUIRES(queue_mutex_) { return stopping_ || !queue_.empty(); };
      if (held_.active()) {
        // The held transaction commits when its time is up, writes or none.
        const auto left = held_since_ + options_.hold - std::chrono::steady_clock::now();
        commit_now = !lock_queue.wait_for(queue_wakeup_, left, ready);
      } else {
        lock_queue.wait(queue_wakeup_, ready);
      }
      // Stopping drains first: the loop ends only once every queued intent is complete, and
      // the held transaction is committed (on this thread, which began it).
      if (!commit_now && queue_.empty()) finished = commit_now = true;
      while (!commit_now && !queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (commit_now) {
      if (Status s = commit_held(); !s.is_ok()) {
        log(LogLevel::kError, "storage.commit_failed", {{"data_dir", options_.dir.string()}, {"error", s.message()}});
      }
      if (finished) return;
      continue;
    }
    if (!run_batch(batch)) {
      // Out of space with several intents in one transaction: one client write may have
      // taken the room the others needed. Alone, each one that fits commits (deletes use the
      // headroom), and each one that does not fails by itself.
      std::vector<Intent*> alone(1);
      for (Intent* intent : batch) {
        alone[0] = intent;
        run_batch(alone);
      }
    }
    batch.clear();
  }
}

Writer::BatchSpace Writer::measure_batch_space() {
  BatchSpace batch;
  const auto now = std::chrono::steady_clock::now();
  if (last_measure_ && now - last_measure_->at < kSpaceReuseFor && last_measure_->room > last_measure_->spent &&
      last_measure_->room - last_measure_->spent > kSpaceReuseRoom) {
    batch.space = last_measure_->space;
    batch.room = last_measure_->room - last_measure_->spent;
    return batch;
  }
  last_measure_.reset();
  auto space = measure_space(env_, options_.dir);
  if (!space.is_ok()) {
    batch.room = std::numeric_limits<std::uint64_t>::max();
    return batch;
  }
  batch.space = *space;
  batch.room = space->client_room_bytes();
  last_measure_ = LastMeasure{*space, batch.room, 0, now};
  if (space->below_headroom() != below_headroom_) {
    below_headroom_ = space->below_headroom();
    if (below_headroom_) {
      log(LogLevel::kWarn, "storage.below_headroom",
          {{"data_dir", options_.dir.string()},
           {"free_bytes", std::to_string(space->free_bytes)},
           {"headroom_bytes", std::to_string(space->headroom_bytes)},
           {"limit", space->disk_limited ? "disk" : "map_size_mb"},
           {"detail", "client writes are refused (507) until space is freed or map_size_mb is raised"}});
    } else {
      log(LogLevel::kInfo, "storage.headroom_restored",
          {{"data_dir", options_.dir.string()}, {"free_bytes", std::to_string(space->free_bytes)}});
    }
  }
  return batch;
}

// One write transaction for the whole batch, one commit (one fsync), then the observer, then
// every caller is told. A failure of the transaction itself (LMDB error, out of memory) rolls
// everything back and fails every intent of the batch, so nothing is ever half-applied; a
// Decide that fails or chooses to write nothing affects its own intent only. The exception is
// running out of space with several intents: the batch is rolled back and handed back (false)
// with no intent complete, for the loop to run them again one by one.
bool Writer::run_batch(std::vector<Intent*>& batch) {
  if (options_.redo != nullptr) {
    if (Status failed = redo_failure(); !failed.is_ok()) {
      for (Intent* intent : batch) intent->status = failed;
      complete(batch);
      return true;
    }
  }
  Status failure;
  Counters next = counters_;
  audit::AuditTip next_tip = audit_tip_;
  BatchSpace space = measure_batch_space();
  const std::uint64_t room_before = space.room;
  // Short of space, a whole checkpoint follows every batch (storage/checkpointer.hpp): the log
  // and the pages the checkpoint's pin holds back stay as small as one batch, and the next
  // measure sees the space they took free again.
  space_tight_ = space.space.has_value() && space.room < kSpaceReuseRoom;
  // Held: the batch is a transaction nested in the held one. Short of space it is not held
  // (a whole checkpoint follows every batch then, and needs it committed).
  const bool hold = options_.redo != nullptr && options_.hold.count() > 0 && !space_tight_;
  if (!hold && held_.active()) failure = commit_held();
  lmdb::WriteTxn txn;
  std::uint64_t txnid = 0;
  staged_.clear();
  try {
    if (failure.is_ok() && hold && !held_.active()) {
      failure = held_.begin(env_);
      if (failure.is_ok()) {
        overlay_ = std::make_shared<lmdb::Overlay>(held_.id() - 1);
        env_.set_overlay(overlay_);
        held_since_ = std::chrono::steady_clock::now();
      }
    }
    if (failure.is_ok()) failure = hold ? txn.begin_nested(held_) : txn.begin(env_);
    if (failure.is_ok() && options_.redo != nullptr) {
      txnid = txn.id();
      record_.begin(txnid);
      txn.record_into(&record_);
      if (hold) txn.stage_into(&staged_);
    }
    for (std::size_t i = 0; failure.is_ok() && i < batch.size(); ++i) {
      failure = run_intent(txn, *batch[i], next, next_tip, space);
    }
    // The sweeps of the revision log and the time index keep pace with the changes: two
    // entries examined for each, so a pass ends before as many changes again have been
    // written, and each stays within about twice what the paths keep.
    const std::size_t sweep_budget = kSweepPerChange * (next.sequence - counters_.sequence);
    if (failure.is_ok()) failure = tables_.sweep_revisions(txn, next, sweep_budget);
    if (failure.is_ok()) failure = tables_.sweep_time_index(txn, next, sweep_budget);
    if (failure.is_ok()) failure = tables_.write_counters(txn, next);
    if (failure.is_ok()) {
      // A nested commit only folds the batch into the held transaction: not a commit to time.
      util::Histogram* commits = hold || options_.timings == nullptr ? nullptr : &options_.timings->commit;
      failure = timed(commits, [&] { return txn.commit(); });
    }
  } catch (...) {
    failure = Status::internal("write batch threw: " + what_of(std::current_exception()));
  }
  txn.abort();
  if (failure.is_ok() && hold) {
    // In the held transaction now: readers see the batch from here on, as from a commit.
    overlay_->publish(staged_);  // its strings move out; the next batch clears the vector
  }

  if (failure.is_ok()) {
    // Each write that went in took its estimate out of the room (run_intent): room the next
    // batches must not count on until the space is measured again.
    if (last_measure_) last_measure_->spent += room_before - space.room;
    checkpointed_for_space_ = false;
    counters_ = next;
    audit_tip_ = next_tip;
    {
      MutexLock lock_stats(stats_mutex_);
      publish(stats_, next, next_tip);
      stats_.commits += 1;
      stats_.intents += batch.size();
    }
    if (options_.redo != nullptr) {
      Held held = Held::kNo;
      if (hold) {
        const bool asked =
            std::any_of(batch.begin(), batch.end(), [](const Intent* i) { return i->kind == Intent::Kind::kCommit; });
        if (asked) {
          held = Held::kCommitFirst;
        } else if (std::chrono::steady_clock::now() - held_since_ >= options_.hold) {
          held = Held::kCommitAfter;
        } else {
          held = Held::kOpen;
        }
      }
      log_committed(batch, txnid, held);
      return true;  // the syncer notifies and completes
    }
    notify(batch);
  } else {
    const bool out_of_space = failure.code() == Status::Code::kInsufficientStorage;
    // LMDB ran out where the estimate said there was room: measure again before the next batch.
    if (out_of_space) last_measure_.reset();
    // Every decision of the batch was made against writes that are now rolled back, so none
    // of them stands, whatever it was.
    for (Intent* intent : batch) {
      intent->status = Status::ok();
      intent->written.reset();
      intent->previous.reset();
      intent->purged = false;
      intent->trimmed = 0;
      intent->sequence = 0;
    }
    if (out_of_space && options_.redo != nullptr && !checkpointed_for_space_) {
      // The checkpoint's pin keeps LMDB from reusing pages freed since it was taken, purges'
      // among them. A checkpoint of the last commit frees them; then the batch runs again.
      Status committed = commit_held();
      auto last = committed.is_ok() ? env_.last_txnid() : Result<std::uint64_t>(committed);
      if (last.is_ok() && options_.checkpointer->checkpoint_now(*last).is_ok()) {
        checkpointed_for_space_ = true;
        return run_batch(batch);
      }
    }
    if (out_of_space && batch.size() > 1) return false;  // the caller runs them one by one
    std::string message = "write transaction of " + std::to_string(batch.size()) +
                          " intents rolled back, nothing written: " + failure.message();
    Status rolled_back = out_of_space
                             ? Status::insufficient_storage(
                                   "insufficient storage: " + message +
                                   ". Delete keys, free disk space, or raise map_size_mb and restart")
                             : Status::io_error(std::move(message));
    for (Intent* intent : batch) {
      intent->status = rolled_back;
      intent->written.reset();
      intent->purged = false;
    }
  }
  complete(batch);
  return true;
}

// A caller may let its intent go as soon as it is set: nothing here touches one after.
void Writer::complete(const std::vector<Intent*>& batch) {
  for (Intent* intent : batch) intent->done.set();
}

Status Writer::fail_redo(const Status& cause) {
  Status failed = Status::io_error("the write was applied but could not be made durable (" + cause.message() +
                                   "); it may be lost at the next restart. No more writes are taken: restart kvs "
                                   "once the disk is healthy");
  MutexLock lock(sync_mutex_);
  if (redo_failure_.is_ok()) redo_failure_ = failed;
  return failed;
}

Status Writer::redo_failure() const {
  MutexLock lock(sync_mutex_);
  if (!redo_failure_.is_ok()) return redo_failure_;
  return options_.checkpointer->failure();
}

// The batch is committed in LMDB but not yet durable. Once its record is in the log (in the
// page cache: a crash of the process alone loses nothing from here on), the syncer makes it
// durable. A record the log could not take is made durable the other way, by a whole
// checkpoint; when that fails too, the batch's outcome is unknown and the store stops taking
// writes.
void Writer::log_committed(std::vector<Intent*>& batch, std::uint64_t txnid, Held held) {
  Status logged = Status::ok();
  std::optional<std::uint64_t> appended;  // the log position after the record
  if (!record_.empty()) {
    auto position = options_.redo->append(record_);
    if (position.is_ok()) {
      appended = *position;
    } else {
      logged = position.status();
      log(LogLevel::kError, "storage.redo_append_failed",
          {{"data_dir", options_.dir.string()}, {"error", logged.message()}, {"detail", "taking a checkpoint instead"}});
      logged = commit_held();
      if (logged.is_ok()) logged = options_.checkpointer->checkpoint_now(txnid);
      held = Held::kNo;
    }
  }
  // The held transaction commits after the append, so that a checkpoint its commit begins
  // starts its new segment after the record. A caller who asked for the commit (kCommit) hears
  // back only once it is done. Otherwise the batch goes to the syncer first, and the log syncs
  // while LMDB writes the held transaction's pages (several ms): the batch whose time is up
  // does not wait for both one after the other. Its record is in the log either way, so once
  // synced it is as durable as any other; a failed commit fails the later batches
  // (fail_redo), not this one.
  if (held == Held::kCommitFirst) {
    logged = commit_held();
    held = Held::kNo;
  }
  const Status outcome = logged.is_ok() ? Status::ok() : fail_redo(logged);
  {
    MutexLock lock(sync_mutex_);
    to_sync_.push_back(Synced{batch, appended ? *appended : options_.redo->position(), outcome});
  }
  syncer_.wake();
  if (held == Held::kCommitAfter) {
    // commit_held logs nothing itself: its callers say what failed.
    if (Status committed = commit_held(); !committed.is_ok()) {
      log(LogLevel::kError, "storage.commit_failed", {{"data_dir", options_.dir.string()}, {"error", committed.message()}});
      return;
    }
    held = Held::kNo;
  }
  if (held == Held::kOpen) return;  // its checkpoints wait for the held transaction's commit
  if (logged.is_ok() && space_tight_) {
    // Whole, before the next batch measures the space: what the log held is free again then.
    if (Status saved = options_.checkpointer->checkpoint_now(txnid); !saved.is_ok()) {
      log(LogLevel::kWarn, "storage.checkpoint_failed", {{"data_dir", options_.dir.string()}, {"error", saved.message()}});
    }
  } else if (logged.is_ok() && options_.checkpointer->due()) {
    if (Status begun = options_.checkpointer->begin(txnid); !begun.is_ok()) {
      // Nothing is lost: the checkpoint in force and the log after it still recover
      // everything; the next due checkpoint tries again.
      log(LogLevel::kWarn, "storage.checkpoint_not_begun", {{"data_dir", options_.dir.string()}, {"error", begun.message()}});
    }
  }
}

Status Writer::commit_held() {
  if (!held_.active()) return Status::ok();
  const std::uint64_t txnid = held_.id();
  Status committed = timed(options_.timings != nullptr ? &options_.timings->commit : nullptr,
                           [&] { return held_.commit(); });
  if (!committed.is_ok()) {
    // The overlay stays: reads go on seeing the batches, which the log holds for the restart.
    // fail_redo's answer is for callers of a batch; this one's caller gets the cause.
    committed = committed.with_context("commit of the held write transaction");
    static_cast<void>(fail_redo(committed));
    return committed;
  }
  env_.set_overlay(nullptr);  // after the commit: LMDB's snapshots hold every batch now
  overlay_.reset();
  if (options_.checkpointer->due()) {
    if (Status begun = options_.checkpointer->begin(txnid); !begun.is_ok()) {
      log(LogLevel::kWarn, "storage.checkpoint_not_begun", {{"data_dir", options_.dir.string()}, {"error", begun.message()}});
    }
  }
  return Status::ok();
}

void Writer::sync_loop() {
  do {
    sync_round();
  } while (syncer_.wait_for(std::chrono::hours(1)));
  sync_round();  // stopping: what the writer handed over before it stopped
}

void Writer::sync_round() {
  for (;;) {
    std::deque<Synced> batches;
    {
      MutexLock lock(sync_mutex_);
      batches.swap(to_sync_);
    }
    if (batches.empty()) return;
    Status synced = timed(options_.timings != nullptr ? &options_.timings->log_sync : nullptr,
                          [&] { return options_.redo->sync_through(batches.back().position); });
    if (!synced.is_ok()) synced = fail_redo(synced);
    // The observer hears of every committed mutation whatever the sync did, so that its view
    // (Merkle tree, change feed) follows what LMDB holds; the callers hear the truth, each as
    // soon as its batch's observers have run.
    for (Synced& entry : batches) {
      notify(entry.batch);
      const Status& failed = !entry.outcome.is_ok() ? entry.outcome : synced;
      if (!failed.is_ok()) {
        for (Intent* intent : entry.batch) {
          if (intent->status.is_ok()) intent->status = failed;
        }
      }
      complete(entry.batch);
    }
  }
}

// The pointers handed out point into the intents, which stay alive (their callers are still
// waiting) until `done` is set after this returns.
void Writer::notify(const std::vector<Intent*>& batch) {
  if (!options_.commit_observer) return;
  try {
    committed_batch_.clear();
    for (const Intent* intent : batch) {
      if (intent->kind == Intent::Kind::kWrite && intent->status.is_ok() && intent->written) {
        committed_batch_.push_back(Committed{Committed::Kind::kWrite, intent->tag, intent->sequence,
                                             intent->previous ? &*intent->previous : nullptr, &*intent->written});
      } else if (intent->kind == Intent::Kind::kPurge && intent->status.is_ok() && intent->purged &&
                 intent->previous) {
        committed_batch_.push_back(
            Committed{Committed::Kind::kPurge, intent->tag, intent->sequence, nullptr, &*intent->previous});
      }
    }
    if (committed_batch_.empty()) return;
    options_.commit_observer(std::span<const Committed>(committed_batch_));
  } catch (...) {
    // The batch is durable whatever the observer did; its callers must still be woken.
    log(LogLevel::kError, "storage.commit_observer_threw", {{"error", what_of(std::current_exception())}});
  }
}

Status Writer::run_intent(lmdb::WriteTxn& txn, Intent& intent, Counters& next, audit::AuditTip& tip,
                          BatchSpace& space) {
  const bool observed = static_cast<bool>(options_.commit_observer);
  switch (intent.kind) {
    case Intent::Kind::kCommit:
      return Status::ok();  // run_batch commits the held transaction after the batch

    case Intent::Kind::kPutMeta:
      return txn.put(tables_.dbs().meta, intent.name, intent.value, lmdb::What{"meta", intent.name});

    case Intent::Kind::kAudit: {
      if (!options_.audit_enabled) return Status::ok();
      const AuditNote& note = *intent.audit;
      auto entry = append_audit_entry(txn, tables_.dbs().audit, tip, note.time_ms, note.actor, note.action,
                                      std::string(intent.path), note.value_hash.value_or(audit::AuditHash{}),
                                      audit_key());
      if (!entry.is_ok()) return entry.status();
      tip = audit::audit_tip(*entry);
      return Status::ok();
    }

    case Intent::Kind::kPurge: {
      const std::uint64_t sequence_before = next.sequence;
      auto purged = tables_.purge_version(txn, intent.path, intent.uuid, next, observed ? &intent.previous : nullptr);
      if (!purged.is_ok()) return purged.status();
      intent.purged = *purged;
      if (next.sequence != sequence_before) intent.sequence = next.sequence;  // an expiry is a change
      return Status::ok();
    }

    case Intent::Kind::kTrimChanges: {
      auto trimmed = tables_.trim_changes(txn, *intent.trim, next);
      if (!trimmed.is_ok()) return trimmed.status();
      intent.trimmed = *trimmed;
      return Status::ok();
    }

    case Intent::Kind::kWrite: {
      TxnWriteView view(txn, tables_);
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
      // The headroom: a write that would leave less than it is refused, unless it is a
      // tombstone or may use it. Every write counts against the batch's room, so a batch of
      // client writes stops short of the headroom rather than past it.
      const std::uint64_t cost = write_cost_bytes(version.path.size(), version.data.size());
      if (!version.deleted && intent.headroom == Headroom::kKeep && cost > space.room) {
        intent.status = space.space ? storage_full(*space.space, cost)
                                    : Status::insufficient_storage("insufficient storage (map_size_mb)");
        return Status::ok();
      }
      space.room = space.room > cost ? space.room - cost : 0;
      Status applied = tables_.apply_version(txn, version, next, observed ? &intent.previous : nullptr);
      if (!applied.is_ok()) return applied;
      intent.sequence = next.sequence;
      if (intent.audit != nullptr && options_.audit_enabled) {
        // In this transaction, after the version: a failure here fails the whole batch, so
        // the version never commits without its entry.
        const AuditNote& note = *intent.audit;
        audit::AuditHash value_hash{};
        if (note.value_hash) {
          value_hash = *note.value_hash;
        } else if (!version.deleted) {
          value_hash = audit::audit_value_hash(version.data);
        }
        auto entry = append_audit_entry(txn, tables_.dbs().audit, tip, note.time_ms, note.actor, note.action,
                                        version.path, value_hash, audit_key());
        if (!entry.is_ok()) return entry.status();
        tip = audit::audit_tip(*entry);
      }
      // The observer reads the written version here, in the intent's own result: no copy.
      intent.written = std::move(version);
      return Status::ok();
    }
  }
  return Status::internal("unknown intent kind");
}

}  // namespace kvs::storage
