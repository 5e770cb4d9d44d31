// The redo log's checkpoints: the writer thread's half, the background half, and the whole one
// for open and shutdown. Threading as checkpointer.hpp says.

#include "storage/checkpointer.hpp"

#include <algorithm>
#include <utility>

#include "kvs/log.hpp"

namespace kvs::storage {
namespace {

// Bounds of a prepared segment's size: an idle store's is small; a busy one's, at most what
// the policy's default lets a segment grow to before a checkpoint.
constexpr std::uint64_t kMinPrepared = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxPrepared = std::uint64_t{64} << 20;

// The background checkpoint writes data.mdb back this much of the file at a time before it
// syncs (lmdb::Env::write_back). A checkpoint writes back a second's writes of random pages,
// about one write per PUT, and a single fsync hands them all to the device at once: the redo
// log's syncs, which every acknowledgement waits for, then queue behind them. With 256 KiB
// steps, PUT at 16 connections on the bench (100k keys) kept its p99 at 7.6-8.4 ms against
// 10.2-13.6 ms, with the log's sync p99 under 2.5 ms against 5 ms; the checkpoint takes about
// twice as long, in the background. A file of more than kWriteBackSteps steps takes larger
// ones: a step costs a system call even where nothing is dirty, and a 100 GiB store would
// otherwise make 400,000 of them a second.
constexpr std::size_t kWriteBackStep = std::size_t{256} << 10;
constexpr std::size_t kWriteBackSteps = 4096;

}  // namespace

Checkpointer::Checkpointer(lmdb::Env& env, RedoLog& log, CheckpointPolicy policy, DiskTimings* timings)
    : env_(env), log_(log), policy_(policy), timings_(timings) {}

Result<std::unique_ptr<Checkpointer>> Checkpointer::open(lmdb::Env& env, RedoLog& log, CheckpointPolicy policy,
                                                         DiskTimings* timings) {
  std::unique_ptr<Checkpointer> checkpointer(new Checkpointer(env, log, policy, timings));
  auto txnid = env.last_txnid();
  if (!txnid.is_ok()) return txnid.status();
  if (Status s = checkpointer->checkpoint_now(*txnid); !s.is_ok()) return s;
  checkpointer->thread_.start([raw = checkpointer.get()] {
    while (raw->thread_.wait_for(std::chrono::hours(1))) raw->finish();
  });
  return checkpointer;
}

Checkpointer::~Checkpointer() { thread_.stop(); }

Status Checkpointer::sync_data(bool paced) {
  return timed(timings_ != nullptr ? &timings_->checkpoint_sync : nullptr, [&] {
    if (paced) {
      if (Status s = env_.write_back(kWriteBackStep, kWriteBackSteps); !s.is_ok()) return s;
    }
    return env_.sync();
  });
}

bool Checkpointer::due() const {
  MutexLock lock(mutex_);
  if (running_ || !failure_.is_ok()) return false;
  return std::chrono::steady_clock::now() - last_ >= policy_.interval ||
         log_.position() - last_position_ >= policy_.log_bytes;
}

Status Checkpointer::failure() const {
  MutexLock lock(mutex_);
  return failure_;
}

void Checkpointer::wait_idle() {
  MutexLock lock(mutex_);
  lock.wait(idle_, [this]() KVS_REQUIRES(mutex_) { return !running_; });
}

Status Checkpointer::begin(std::uint64_t txnid) {
  wait_idle();
  auto checkpoint = env_.checkpoint_of(txnid);
  if (!checkpoint.is_ok()) return checkpoint.status();
  auto pin = env_.pin();
  if (!pin.is_ok()) return pin.status();
  if ((*pin)->txnid() != txnid) {
    return Status::internal("checkpoint pin is on transaction " + std::to_string((*pin)->txnid()) + ", not " +
                            std::to_string(txnid));
  }
  // Records of txnid + 1 on go to a new segment, so that once this checkpoint is durable every
  // older segment can go whole.
  if (Status s = log_.start_segment(txnid + 1, env_.databases()); !s.is_ok()) return s;
  {
    MutexLock lock(mutex_);
    next_ = std::move(*checkpoint);
    next_pin_ = std::move(*pin);
    running_ = true;
    last_ = std::chrono::steady_clock::now();
    const std::uint64_t position = log_.position();
    segment_bytes_ = position - last_position_;
    last_position_ = position;
  }
  thread_.wake();
  return Status::ok();
}

void Checkpointer::finish() {
  std::optional<RedoCheckpoint> next;
  {
    MutexLock lock(mutex_);
    if (!running_) return;
    next = next_;
  }
  Status status = sync_data(/*paced=*/true);
  if (status.is_ok()) status = log_.write_checkpoint(*next);
  std::unique_ptr<lmdb::PinnedSnapshot> released;
  {
    MutexLock lock(mutex_);
    if (status.is_ok()) {
      released = std::exchange(pin_, std::move(next_pin_));
    } else {
      released = std::move(next_pin_);
      if (failure_.is_ok()) failure_ = status.with_context("redo log checkpoint");
    }
    next_.reset();
  }
  released.reset();  // outside the lock: closing a read transaction takes LMDB's reader lock
  if (status.is_ok()) {
    // Best effort: a segment left behind is skipped at replay (its records are all before the
    // checkpoint) and removed by the next checkpoint.
    if (Status removed = log_.remove_segments_through(next->txnid); !removed.is_ok()) {
      log(LogLevel::kWarn, "storage.redo_log_cleanup", {{"error", removed.message()}});
    }
  } else {
    log(LogLevel::kError, "storage.checkpoint_failed",
        {{"error", status.message()},
         {"detail", "writes are refused from now on; the last checkpoint and the redo log after it stay the "
                    "recovery point: restart kvs once the disk is healthy"}});
  }
  {
    MutexLock lock(mutex_);
    running_ = false;
  }
  idle_.notify_all();
  if (!status.is_ok()) return;
  // The next segment's file, zeros written and synced ahead (RedoLog::prepare_segment says
  // why), half again as large as the segment just closed, so that the next one fits at the
  // same rate of writes. After running_ is cleared: the writer's next begin need not wait for
  // it; one that comes first makes its segment as before, and the file serves the one after.
  // Best effort: without it a segment grows as it goes.
  std::uint64_t bytes = 0;
  {
    MutexLock lock(mutex_);
    bytes = std::clamp<std::uint64_t>(segment_bytes_ / 2 * 3, kMinPrepared, kMaxPrepared);
  }
  if (Status prepared = log_.prepare_segment(bytes); !prepared.is_ok()) {
    log(LogLevel::kWarn, "storage.redo_log_prepare", {{"error", prepared.message()}});
  }
}

Status Checkpointer::checkpoint_now(std::uint64_t txnid, bool clean) {
  wait_idle();
  {
    MutexLock lock(mutex_);
    if (!failure_.is_ok()) return failure_;
  }
  Status status = sync_data(/*paced=*/false);
  auto checkpoint = status.is_ok() ? env_.checkpoint_of(txnid) : Result<RedoCheckpoint>(status);
  if (!checkpoint.is_ok()) return checkpoint.status();
  checkpoint->clean = clean;
  auto pin = env_.pin();
  if (!pin.is_ok()) return pin.status();
  if (Status s = log_.write_checkpoint(*checkpoint); !s.is_ok()) return s;
  if (Status s = log_.start_segment(txnid + 1, env_.databases()); !s.is_ok()) return s;
  std::unique_ptr<lmdb::PinnedSnapshot> released;
  {
    MutexLock lock(mutex_);
    released = std::exchange(pin_, std::move(*pin));
    last_ = std::chrono::steady_clock::now();
    last_position_ = log_.position();
  }
  released.reset();
  return log_.remove_segments_through(txnid);
}

}  // namespace kvs::storage
