#pragma once

// ConnectionLimiter: counts open client connections, in all and per remote address, and
// admits a new one only below both caps (SPEC section 2: max_connections,
// max_connections_per_client). The accept loop asks before it gives a connection a worker, so
// a refused connection costs one accept and one close. Safe from any thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace kvs::server {

class ConnectionLimiter {
 public:
  ConnectionLimiter(std::size_t max_connections, std::size_t max_per_address)
      : max_connections_(max_connections), max_per_address_(max_per_address) {}

  // Counts a connection from `address` and returns true when both caps allow it; false
  // (and nothing counted) otherwise. Every true is later matched by one release(address).
  bool admit(const std::string& address);
  void release(const std::string& address);

  std::size_t open() const;
  std::size_t max_connections() const noexcept { return max_connections_; }

 private:
  const std::size_t max_connections_;
  const std::size_t max_per_address_;
  mutable std::mutex mutex_;
  // Guarded by mutex_. Holds only addresses with open connections, so it is bounded by
  // max_connections entries.
  std::size_t open_ = 0;
  std::unordered_map<std::string, std::size_t> per_address_;
};

// RefusalPenalty: remembers, per remote address, the refusals that made the server read before
// it could refuse: 431 heads (up to max_header_bytes read) and 413 bodies (a chunked body is
// read up to its cap; every refusal then drains up to 1 MiB in its lingering close). An address
// refused kPenaltyRefusals times within kPenaltyWindow is penalized for kPenaltyTime: the accept
// loop closes its new connections at once, with a reset, so a flooding address costs one
// accept and one close per connection instead of a worker, reads and a lingering close. Other
// refusals (400, 411, 415: a head of at most max_header_bytes, nothing more read) do not count.
// The penalty is short and not extended by further attempts, so a client behind a shared
// address is served again within seconds. Time is passed in (tests use their own); at most
// kMaxAddresses addresses are remembered. Safe from any thread.
class RefusalPenalty {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kPenaltyRefusals = 4;
  static constexpr std::chrono::seconds kPenaltyWindow{10};
  static constexpr std::chrono::seconds kPenaltyTime{5};
  static constexpr std::size_t kMaxAddresses = 4096;

  // Counts a costly refusal of `address` at `now`. Returns true when it starts a penalty.
  bool record(const std::string& address, TimePoint now);
  // Whether `address` is under penalty at `now`.
  bool penalized(const std::string& address, TimePoint now) const;
  std::size_t size_for_testing() const;

 private:
  struct Entry {
    TimePoint window_start;         // the first refusal counted in this window
    std::size_t refusals = 0;       // within the window
    TimePoint penalized_until{};    // in the past: no penalty
  };
  // Requires: mutex_ held. Drops entries with neither a live window nor a penalty; when all are
  // live, the one whose window began first.
  void make_room_locked(TimePoint now);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_; at most kMaxAddresses
};

// CostlyRequestGate: caps how many costly requests (a _range with values builds up to
// max_range_bytes of answer) one remote address runs at once. A request over the cap waits for
// a slot until its deadline, in no particular order; it holds its worker but no CPU while it
// waits. At most `max_waiting` wait per address, so that requests whose clients gave up cannot
// pile up behind the running ones. Remembers only addresses with requests running or waiting.
// Safe from any thread.
class CostlyRequestGate {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  CostlyRequestGate(std::size_t per_address, std::size_t max_waiting)
      : per_address_(per_address), max_waiting_(max_waiting) {}

  // Takes a slot for `address`, waiting until `deadline` at most. True: a slot is held, to be
  // given back with leave(address). False: max_waiting already wait, or the deadline passed;
  // nothing held.
  bool enter(const std::string& address, TimePoint deadline);
  void leave(const std::string& address);
  std::size_t waiting_for_testing(const std::string& address);

 private:
  struct Count {
    std::size_t running = 0;
    std::size_t waiting = 0;
  };
  const std::size_t per_address_;
  const std::size_t max_waiting_;
  std::mutex mutex_;
  std::condition_variable slot_freed_;
  // Guarded by mutex_; an entry is erased when both its counts are 0.
  std::unordered_map<std::string, Count> counts_;
};

// File descriptors kept for everything but client connections: LMDB, logs, the listening
// socket, peer connections, backups.
inline constexpr std::size_t kReservedFileDescriptors = 256;

// Raises the open-files limit (RLIMIT_NOFILE) to its hard limit and returns how many client
// connections fit in it: `max_connections`, or fewer when the limit is too low (at least 1).
std::size_t fit_open_files_limit(std::size_t max_connections);

}  // namespace kvs::server
