#pragma once

// features::TtlSweeper: purges expired keys and tombstones older than tombstone_ttl, through
// the commit pipeline (keyspace::Keyspace::purge), so every observer hears of each purge.
//
// Expired keys are found through the store's expiry index, a batch at a time. Tombstones have
// no index entry and are found by one scan of the keyspace, run at most every tenth of
// tombstone_ttl (and at most hourly), so a tombstone lives between tombstone_ttl and 1.1 x
// tombstone_ttl. Time comes from the Clock seam: a version is expired when
// is_expired(version, clock.now_ms()).
//
// Threading: start() runs a background thread that sweeps every second until stop() or the
// destructor; sweep_now() may be called from any thread, and sweeps never overlap.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "keyspace/keyspace.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::features {

struct TtlSweeperOptions {
  std::chrono::milliseconds tombstone_ttl{std::chrono::hours(168)};  // tombstone_ttl
  std::size_t batch = 1000;                                           // expired paths per read
  std::chrono::milliseconds period{1000};                             // between background sweeps
  // Called after each sweep (for caches with expiring entries of their own); may be empty.
  std::function<void()> after_sweep;
};

class TtlSweeper {
 public:
  // Requires: `keyspace` and `clock` outlive the sweeper.
  TtlSweeper(keyspace::Keyspace& keyspace, const Clock& clock, TtlSweeperOptions options);
  ~TtlSweeper();  // stop()
  TtlSweeper(const TtlSweeper&) = delete;
  TtlSweeper& operator=(const TtlSweeper&) = delete;

  // Starts the background thread. Idempotent.
  void start();
  // Stops and joins it; a sweep in progress finishes first. Idempotent.
  void stop();

  // Purges expired keys, and tombstones too when `tombstones`; returns how many versions were
  // purged. Storage errors as the store reports them.
  Result<std::size_t> sweep_now(bool tombstones = true);

 private:
  Result<std::size_t> sweep(bool tombstones) KVS_REQUIRES(sweep_mutex_);
  Result<std::size_t> purge_expired(std::int64_t now);
  Result<std::size_t> purge_tombstones(std::int64_t now);
  void run();

  keyspace::Keyspace& keyspace_;
  const Clock& clock_;
  const TtlSweeperOptions options_;

  // sweep_mutex_ serialises sweeps; it guards last_tombstone_sweep_ms_.
  Mutex sweep_mutex_;
  std::int64_t last_tombstone_sweep_ms_ KVS_GUARDED_BY(sweep_mutex_) = 0;

  // thread_mutex_ guards stopping_; wakeup_ ends the thread's wait early.
  Mutex thread_mutex_;
  std::condition_variable wakeup_;
  bool stopping_ KVS_GUARDED_BY(thread_mutex_) = false;
  std::thread thread_;
};

}  // namespace kvs::features
