#pragma once

// ConnectionLimiter: counts open client connections, in all and per remote address, and
// admits a new one only below both caps (SPEC section 2: max_connections,
// max_connections_per_client). The accept loop asks before it gives a connection a worker, so
// a refused connection costs one accept and one close. Safe from any thread.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

// RefusalPenalty: remembers, per remote address, the refusals that an abusive address can repeat
// at will, and puts an address that keeps earning them under a short penalty. Two kinds count,
// each against its own threshold within the same kPenaltyWindow:
//  - kRead: refusals that made the server read before it could refuse, 431 heads (up to
//    max_header_bytes read) and 413 bodies (a chunked body is read up to its cap; every refusal
//    then drains up to 1 MiB in its lingering close). kPenaltyReads of them start a penalty.
//  - kDenied: 401 (missing or bad token) and 429 (over the rate limit) answered by the
//    authentication and rate-limiting interceptors, before any handler. Each is cheap, but a
//    flood of them is not (a request parsed, routed, a token checked, an answer written: ~30k
//    a second took a core). kPenaltyDenials of them start a penalty. SPEC's 429 with
//    Retry-After stays the answer to a client over its rate limit: a client that waits as told
//    gets at most one 429 per Retry-After (at least 1 s) per connection, so one with fewer
//    than a hundred connections never reaches the threshold; only a client that keeps
//    sending regardless is penalized. The threshold is high on purpose: a client that merely finds out what the
//    server refuses (a suite checking every route without a token, a burst past the rate
//    limit) never meets it, while a flood (tens of thousands a second) meets it within a
//    tenth of a second and then costs at most a thousand answers per penalty.
// During the penalty (kPenaltyTime) the accept loop takes the address's new connections before
// any worker, read or answer, holds them for a while (Tarpit) and resets them, and its open
// keep-alive connections are closed after their next refusal, so a flooding address costs one
// accept and one close per connection instead of a worker, reads and answers. Other refusals
// (400, 411, 415: a head of at most max_header_bytes, nothing more read) do not count. The
// penalty is short and not extended by further attempts, so a client behind a shared address is
// served again within seconds. Time is passed in (tests use their own); at most kMaxAddresses
// addresses are remembered. Safe from any thread.
class RefusalPenalty {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Kind : std::uint8_t { kRead, kDenied };
  static constexpr std::size_t kPenaltyReads = 4;
  static constexpr std::size_t kPenaltyDenials = 1000;
  static constexpr std::chrono::seconds kPenaltyWindow{10};
  static constexpr std::chrono::seconds kPenaltyTime{5};
  static constexpr std::size_t kMaxAddresses = 4096;

  // Counts a refusal of `kind` of `address` at `now`. Returns whether the address is under
  // penalty after it: this refusal started one, or one was already running (and is not
  // extended by it).
  bool record(const std::string& address, Kind kind, TimePoint now);
  // Whether `address` is under penalty at `now`.
  bool penalized(const std::string& address, TimePoint now) const;
  std::size_t size_for_testing() const;

 private:
  struct Entry {
    TimePoint window_start;         // the first refusal counted in this window
    std::size_t reads = 0;          // kRead refusals within the window
    std::size_t denials = 0;        // kDenied refusals within the window
    TimePoint penalized_until{};    // in the past: no penalty
  };
  // Requires: mutex_ held. Drops entries with neither a live window nor a penalty; when that
  // frees nothing, the eighth of the table whose windows began first.
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

// Tarpit: accepted connections of penalized addresses (RefusalPenalty), held unread for
// kHoldTime before the accept loop resets them. A flooding loop that waits for its answer
// after each connect then costs the server one accept per kHoldTime per connection, instead of
// one per round trip (a reset at once only tells it to reconnect at once). At most kMaxHeld are
// held; past that, a connection is reset at once, as without a tarpit, so a client that does
// not wait gains nothing from filling it. A held connection gets a small receive buffer, so
// that what its client sends meanwhile takes little kernel memory. Only the accept loop uses
// it: not thread-safe. Time is passed in.
class Tarpit {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::seconds kHoldTime{1};
  static constexpr std::size_t kMaxHeld = 64;

  // Takes `fd` until `now` + kHoldTime and returns true; false (nothing taken) when kMaxHeld
  // are held.
  bool hold(int fd, TimePoint now);
  // Removes and returns the descriptors whose hold is over at `now`, oldest first.
  std::vector<int> release_due(TimePoint now);
  // Removes and returns every held descriptor.
  std::vector<int> release_all();
  // When the next hold is over; nullopt when none is held.
  std::optional<TimePoint> next_release() const;
  std::size_t held() const noexcept { return held_.size(); }

 private:
  // Oldest first: every hold lasts kHoldTime, so holds end in the order they began.
  std::deque<std::pair<TimePoint, int>> held_;
};

// File descriptors kept for everything but client connections: LMDB, logs, the listening
// socket, peer connections, backups, and the tarpit's held connections.
inline constexpr std::size_t kReservedFileDescriptors = 256 + Tarpit::kMaxHeld;

// Raises the open-files limit (RLIMIT_NOFILE) to its hard limit and returns how many client
// connections fit in it: `max_connections`, or fewer when the limit is too low (at least 1).
std::size_t fit_open_files_limit(std::size_t max_connections);

}  // namespace kvs::server
