#pragma once

// features::TtlSweeper: replaces expired versions by their tombstones and purges tombstones
// older than tombstone_ttl, through the commit pipeline (keyspace::Keyspace::write and purge),
// so every observer hears of each.
//
// Why an expiry leaves a tombstone rather than nothing: a node that missed the TTL'd write (a
// partition) may still hold an older value of the key. Had the nodes that expired the key
// kept nothing, anti-entropy would hand them that older value back, and an overwritten value
// would come back to life. The tombstone is the expired write itself with `deleted` set
// (expiry_tombstone), so every node that expires it derives the same one and their Merkle
// trees agree; it keeps the write's timestamp, so it beats what the write beat, and a write
// made elsewhere after it (even before the expiry) still beats it, as it beat the live
// version; compare_versions ranks it above its live form, so each node that meets both ends
// with the tombstone. A version that arrives from a peer already expired is stored as sent
// and, like a local one, becomes the same tombstone at the next sweep (readers see it as
// absent meanwhile).
//
// Expired versions are found through the store's expiry index, a batch at a time, and each
// batch is expired in one group commit. Tombstones have no index entry and are found by one
// scan of the keyspace, run at most every tenth of tombstone_ttl (and at most hourly), so a
// tombstone lives between tombstone_ttl and 1.1 x tombstone_ttl, counted from tombstone_time:
// an expiry's from its expiry, not from its write, or a TTL longer than tombstone_ttl would
// lose its tombstone at once. Time comes from the Clock seam: a version is expired when
// is_expired(version, clock.now_ms()).
//
// Threading: start() runs a background thread that sweeps every second until stop() or the
// destructor; sweep_now() may be called from any thread, and sweeps never overlap.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "keyspace/keyspace.hpp"
#include "util/background_thread.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::features {

// The tombstone that `expired` becomes: the same path, uuid, timestamp, origin, owner, group,
// permissions and expires_at, deleted, with no document. Every node derives the same one.
Version expiry_tombstone(Version expired);

// When a tombstone took effect, from which tombstone_ttl counts: for an expiry's tombstone
// (one with an expires_at) its expiry, else its timestamp; never before its timestamp.
std::int64_t tombstone_time(const Version& tombstone) noexcept;

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

  // Expires expired versions (each becomes its tombstone), and purges old tombstones too when
  // `tombstones`; returns how many versions were expired or purged. Storage errors as the
  // store reports them.
  Result<std::size_t> sweep_now(bool tombstones = true);

 private:
  Result<std::size_t> sweep(bool tombstones) KVS_REQUIRES(sweep_mutex_);
  Result<std::size_t> expire(std::int64_t now);
  Result<std::size_t> purge_tombstones(std::int64_t now);
  void run();

  keyspace::Keyspace& keyspace_;
  const Clock& clock_;
  const TtlSweeperOptions options_;

  // sweep_mutex_ serialises sweeps; it guards last_tombstone_sweep_ms_.
  Mutex sweep_mutex_;
  std::int64_t last_tombstone_sweep_ms_ KVS_GUARDED_BY(sweep_mutex_) = 0;

  util::BackgroundThread thread_;  // last: stopped before the members its body uses go
};

}  // namespace kvs::features
