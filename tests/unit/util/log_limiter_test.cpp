// LogLimiter: one line per key per interval, a count of what went unsaid, and a bounded memory.
// Time is passed in; nothing here sleeps.

#include "util/log_limiter.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

using kvs::util::LogLimiter;
using namespace std::chrono_literals;

TEST_CASE("a repeated problem is logged at once, then once per interval with the count of repeats", "[util]") {
  LogLimiter limiter(10s);
  const LogLimiter::TimePoint start{};
  REQUIRE(limiter.admit("127.0.0.1:9000", start) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(limiter.admit("127.0.0.1:9000", start + 1s).has_value());
  CHECK_FALSE(limiter.admit("127.0.0.1:9000", start + 9s).has_value());
  // Another key has its own budget.
  CHECK(limiter.admit("127.0.0.1:9001", start + 9s) == std::optional<std::uint64_t>(0));
  CHECK(limiter.admit("127.0.0.1:9000", start + 10s) == std::optional<std::uint64_t>(2));
  CHECK_FALSE(limiter.admit("127.0.0.1:9000", start + 11s).has_value());
}

TEST_CASE("a cleared problem is logged at once when it comes back", "[util]") {
  LogLimiter limiter(60s);
  const LogLimiter::TimePoint start{};
  REQUIRE(limiter.admit("peer", start).has_value());
  CHECK_FALSE(limiter.admit("peer", start + 1s).has_value());
  limiter.clear("peer");
  CHECK(limiter.admit("peer", start + 2s) == std::optional<std::uint64_t>(0));
}

TEST_CASE("a flood of keys shares one slot once the limiter is full", "[util]") {
  LogLimiter limiter(10s, 4);
  const LogLimiter::TimePoint start{};
  for (int i = 0; i < 4; ++i) REQUIRE(limiter.admit("k" + std::to_string(i), start).has_value());
  // Full of recent keys: the first newcomer is logged through the shared slot, the rest wait.
  CHECK(limiter.admit("k4", start + 1s).has_value());
  CHECK_FALSE(limiter.admit("k5", start + 1s).has_value());
  CHECK_FALSE(limiter.admit("k6", start + 2s).has_value());
  // Once the old keys are a whole interval old they make room again.
  CHECK(limiter.admit("k7", start + 12s) == std::optional<std::uint64_t>(0));
}
