#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "features/rate_limiter.hpp"

namespace {

using kvs::features::RateDecision;
using kvs::features::RateLimiter;
using kvs::features::RateLimiterOptions;
using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

TimePoint at_ms(std::int64_t ms) { return TimePoint(milliseconds(ms)); }

RateLimiterOptions options(std::uint32_t requests, std::int64_t window_ms) {
  RateLimiterOptions o;
  o.requests = requests;
  o.window = milliseconds(window_ms);
  return o;
}

}  // namespace

TEST_CASE("a client gets its requests per window and then a retry-after", "[rate_limiter]") {
  RateLimiter limiter(options(5, 60'000));
  const auto t0 = at_ms(600'000);  // the start of a window
  for (std::uint32_t i = 0; i < 5; ++i) {
    const auto d = limiter.check("addr:10.0.0.1", t0);
    REQUIRE(d.allowed);
    CHECK(d.limit == 5);
    CHECK(d.remaining == 4 - i);
  }
  const auto refused = limiter.check("addr:10.0.0.1", t0);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.remaining == 0);
  CHECK(refused.retry_after > milliseconds(0));
  CHECK(refused.retry_after <= milliseconds(120'000));
  CHECK(refused.retry_after_seconds() >= 1);
}

TEST_CASE("retry-after is exact: just before it is refused, at it is allowed", "[rate_limiter]") {
  for (std::int64_t offset : {0, 1, 7'000, 30'000, 59'999}) {
    RateLimiter limiter(options(10, 60'000));
    const std::int64_t t = 6'000'000 + offset;
    for (int i = 0; i < 10; ++i) REQUIRE(limiter.check("c", at_ms(t)).allowed);
    const auto refused = limiter.check("c", at_ms(t));
    REQUIRE_FALSE(refused.allowed);
    const std::int64_t retry_at = t + refused.retry_after.count();
    INFO("offset " << offset << " retry_after " << refused.retry_after.count());
    CHECK_FALSE(limiter.check("c", at_ms(retry_at - 1)).allowed);
    CHECK(limiter.check("c", at_ms(retry_at)).allowed);
  }
}

TEST_CASE("refused requests are not counted against the client", "[rate_limiter]") {
  RateLimiter a(options(3, 1'000));
  RateLimiter b(options(3, 1'000));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.check("c", at_ms(10'000)).allowed);
    REQUIRE(b.check("c", at_ms(10'000)).allowed);
  }
  for (int i = 0; i < 100; ++i) REQUIRE_FALSE(a.check("c", at_ms(10'000 + i)).allowed);
  const auto retry_a = a.check("c", at_ms(10'100)).retry_after;
  const auto retry_b = b.check("c", at_ms(10'100)).retry_after;
  CHECK(retry_a == retry_b);
}

TEST_CASE("clients are limited independently", "[rate_limiter]") {
  RateLimiter limiter(options(2, 60'000));
  REQUIRE(limiter.check("user:a", at_ms(0)).allowed);
  REQUIRE(limiter.check("user:a", at_ms(0)).allowed);
  CHECK_FALSE(limiter.check("user:a", at_ms(0)).allowed);
  CHECK(limiter.check("user:b", at_ms(0)).allowed);
  CHECK(limiter.check("addr:a", at_ms(0)).allowed);
}

TEST_CASE("a burst at the end of a window is still felt at the start of the next", "[rate_limiter]") {
  RateLimiter limiter(options(10, 60'000));
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.check("c", at_ms(59'900)).allowed);
  // A fixed window would hand out 10 more at 60'000; the sliding estimate does not.
  CHECK_FALSE(limiter.check("c", at_ms(60'000)).allowed);
  CHECK_FALSE(limiter.check("c", at_ms(62'000)).allowed);
}

TEST_CASE("a steady client below the limit is never refused", "[rate_limiter]") {
  RateLimiter limiter(options(60, 60'000));
  // One request per 1.1 s (about 55 a minute), across many window edges.
  for (std::int64_t t = 1'000; t < 600'000; t += 1'100) {
    INFO("t=" << t);
    REQUIRE(limiter.check("c", at_ms(t)).allowed);
  }
}

TEST_CASE("a client silent for a window gets a full allowance back", "[rate_limiter]") {
  RateLimiter limiter(options(4, 1'000));
  for (int i = 0; i < 4; ++i) REQUIRE(limiter.check("c", at_ms(5'500)).allowed);
  REQUIRE_FALSE(limiter.check("c", at_ms(5'500)).allowed);
  for (int i = 0; i < 4; ++i) CHECK(limiter.check("c", at_ms(7'000)).allowed);
}

TEST_CASE("memory stays bounded however many distinct clients appear", "[rate_limiter]") {
  RateLimiterOptions o = options(5, 60'000);
  o.max_clients = 1'000;
  o.shards = 8;
  RateLimiter limiter(o);
  for (int i = 0; i < 50'000; ++i) {
    (void)limiter.check("addr:" + std::to_string(i), at_ms(1'000));
    REQUIRE(limiter.size() <= 1'000);
  }
  CHECK(limiter.size() > 0);
}

TEST_CASE("stale clients are dropped as time moves on", "[rate_limiter]") {
  RateLimiterOptions o = options(5, 1'000);
  o.shards = 1;
  RateLimiter limiter(o);
  for (int i = 0; i < 100; ++i) (void)limiter.check("addr:" + std::to_string(i), at_ms(1'000));
  CHECK(limiter.size() == 100);
  (void)limiter.check("addr:new", at_ms(10'000));
  CHECK(limiter.size() == 1);
}

TEST_CASE("concurrent requests from one client never exceed the limit", "[rate_limiter]") {
  RateLimiter limiter(options(1'000, 60'000));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1'000; ++i) {
        if (limiter.check("shared", at_ms(0)).allowed) ++allowed;
        (void)limiter.check("own-" + std::to_string(i), at_ms(0));
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(allowed.load() == 1'000);
}

TEST_CASE("the client key is the user when authenticated, else the address", "[rate_limiter]") {
  CHECK(kvs::features::rate_limit_key("6f1c", "127.0.0.1") == "user:6f1c");
  CHECK(kvs::features::rate_limit_key("", "127.0.0.1") == "addr:127.0.0.1");
}

TEST_CASE("retry-after seconds round up and are at least one", "[rate_limiter]") {
  RateDecision d;
  d.retry_after = milliseconds(1);
  CHECK(d.retry_after_seconds() == 1);
  d.retry_after = milliseconds(1'001);
  CHECK(d.retry_after_seconds() == 2);
  d.retry_after = milliseconds(60'000);
  CHECK(d.retry_after_seconds() == 60);
}
