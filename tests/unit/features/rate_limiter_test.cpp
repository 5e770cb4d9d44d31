#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <functional>
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

TEST_CASE("issue 14: a full shard evicts an idle client and keeps a throttled one throttled", "[rate_limiter]") {
  RateLimiterOptions o = options(3, 60'000);
  o.shards = 1;
  o.max_clients = 4;
  RateLimiter limiter(o);
  // The throttled client is the least recently seen of all: a plain LRU would evict it first.
  for (int i = 0; i < 3; ++i) REQUIRE(limiter.check("addr:flood", at_ms(60'000)).allowed);
  REQUIRE_FALSE(limiter.check("addr:flood", at_ms(60'000)).allowed);
  // Three clients that sent one request each, early in the window: active but not throttled.
  for (const char* idle : {"addr:a", "addr:b", "addr:c"}) REQUIRE(limiter.check(idle, at_ms(61'000)).allowed);
  REQUIRE(limiter.size() == 4);

  // Distinct new keys fill the shard again and again: each evicts an unthrottled client.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(limiter.check("addr:new-" + std::to_string(i), at_ms(62'000)).allowed);
    REQUIRE(limiter.size() == 4);
  }
  const auto still = limiter.check("addr:flood", at_ms(63'000));
  CHECK_FALSE(still.allowed);
  CHECK(still.retry_after > milliseconds(0));
}

TEST_CASE("issue 14: the least recently seen unthrottled client goes first", "[rate_limiter]") {
  RateLimiterOptions o = options(3, 60'000);
  o.shards = 1;
  o.max_clients = 3;
  RateLimiter limiter(o);
  // "old" last used 2 of 3 requests long ago in the window; "recent" 2 of 3 just now.
  REQUIRE(limiter.check("old", at_ms(60'000)).allowed);
  REQUIRE(limiter.check("old", at_ms(60'000)).allowed);
  REQUIRE(limiter.check("recent", at_ms(61'000)).allowed);
  REQUIRE(limiter.check("recent", at_ms(61'000)).allowed);
  REQUIRE(limiter.check("third", at_ms(61'500)).allowed);
  REQUIRE(limiter.check("newcomer", at_ms(62'000)).allowed);  // evicts "old"
  // "recent" kept its count: one request left. "old" was forgotten: three again.
  CHECK(limiter.check("recent", at_ms(62'000)).remaining == 0);
  CHECK(limiter.check("old", at_ms(62'000)).remaining == 2);
}

TEST_CASE("a shard of throttled clients only gives up its least recently seen one", "[rate_limiter]") {
  RateLimiterOptions o = options(1, 60'000);
  o.shards = 1;
  o.max_clients = 2;
  RateLimiter limiter(o);
  REQUIRE(limiter.check("first", at_ms(60'000)).allowed);   // none left: throttled
  REQUIRE(limiter.check("second", at_ms(61'000)).allowed);  // throttled too
  REQUIRE(limiter.check("third", at_ms(62'000)).allowed);   // the memory bound evicts "first"
  CHECK(limiter.size() == 2);
  CHECK_FALSE(limiter.check("second", at_ms(62'000)).allowed);
  CHECK(limiter.check("first", at_ms(62'000)).allowed);  // forgotten: the bound errs towards allowing
}

TEST_CASE("issue 14: shards are picked by a keyed hash that differs per limiter", "[rate_limiter]") {
  RateLimiterOptions o = options(5, 60'000);
  o.shards = 16;
  std::vector<std::string> clients;
  for (int i = 0; i < 64; ++i) clients.push_back("addr:10.0.0." + std::to_string(i));
  auto layout = [&](const RateLimiter& limiter) {
    std::vector<std::size_t> shards;
    for (const auto& c : clients) shards.push_back(limiter.shard_of_for_testing(c));
    return shards;
  };

  // A fixed key gives a fixed layout; another key another one.
  RateLimiterOptions keyed = o;
  keyed.shard_key = std::array<std::uint8_t, 16>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  RateLimiterOptions rekeyed = o;
  rekeyed.shard_key = std::array<std::uint8_t, 16>{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  CHECK(layout(RateLimiter(keyed)) == layout(RateLimiter(keyed)));
  CHECK(layout(RateLimiter(keyed)) != layout(RateLimiter(rekeyed)));
  // Without a key each limiter draws its own: two layouts of 64 clients over 16 shards agree
  // by chance with probability 16^-64.
  CHECK(layout(RateLimiter(o)) != layout(RateLimiter(o)));
  // And not the unkeyed std::hash layout a client could compute for itself.
  std::vector<std::size_t> unkeyed;
  for (const auto& c : clients) unkeyed.push_back(std::hash<std::string_view>{}(c) % 16);
  CHECK(layout(RateLimiter(o)) != unkeyed);
  for (std::size_t shard : layout(RateLimiter(o))) CHECK(shard < 16);
}
