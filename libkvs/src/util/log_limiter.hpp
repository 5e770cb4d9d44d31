#pragma once

// LogLimiter: at most one log line per key (a peer's address, say) per `interval`, for a problem
// that recurs on every round (a peer that stays unreachable, a signature rejected again and
// again): the operator hears of it once, at once, and then every `interval` with a count of the
// repeats left unsaid, rather than a line per attempt or nothing at all.
//
// Bounded: it remembers at most `max_keys` keys; when full, keys quiet for a whole interval are
// forgotten first, and should none be, every new key shares one slot, so that a flood of
// addresses cannot grow it. Time comes in as an argument (monotonic). Safe from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "util/thread_annotations.hpp"

namespace kvs::util {

class LogLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LogLimiter(std::chrono::milliseconds interval, std::size_t max_keys = 1024)
      : interval_(interval), max_keys_(max_keys == 0 ? 1 : max_keys) {}

  // The problem with `key` happened again at `now`. A value: log it now, noting that many
  // occurrences (since the last line) went unlogged. nullopt: stay quiet.
  std::optional<std::uint64_t> admit(std::string_view key, TimePoint now);

  // The problem with `key` is over: its next occurrence is logged at once.
  void clear(std::string_view key);

 private:
  struct Entry {
    TimePoint last_logged;
    std::uint64_t suppressed = 0;
  };

  const std::chrono::milliseconds interval_;
  const std::size_t max_keys_;
  Mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_ KVS_GUARDED_BY(mutex_);
};

}  // namespace kvs::util
