#pragma once

// The seams through which time and randomness enter kvs. Production uses `system_clock()` and
// `system_random()`; tests pass deterministic ones. Implementations must be safe to call from
// many threads at once.

#include <chrono>
#include <cstdint>
#include <string>

#include "kvs/export.hpp"

namespace kvs {

class KVS_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock ms since the Unix epoch: version timestamps and TTLs.
  virtual std::int64_t now_ms() const = 0;
  // Monotonic time for timers and timeouts.
  virtual std::chrono::steady_clock::time_point monotonic_now() const = 0;
};

class KVS_EXPORT Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;
};

// Process-wide instances backed by the system clock and the OS random source.
KVS_EXPORT Clock& system_clock();
KVS_EXPORT Random& system_random();

// A random version-4 UUID in canonical text form, drawn from `random`.
KVS_EXPORT std::string make_uuid_v4(Random& random);

}  // namespace kvs
