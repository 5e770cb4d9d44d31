// kvs-server's per-address defences against an abusive address (http_server.hpp, "What an
// abusive address costs"): the refusal penalty, with time passed in, and the costly-request
// gate. What the server does with them (closing at accept, 503) is covered by
// tests/integration/hostile_clients_test.cpp. Not covered here: fairness among waiters.

#include <atomic>
#include <chrono>
#include <string>
#include <vector>
#include <thread>

#include <catch2/catch.hpp>

#include "connection_limits.hpp"

namespace kvs::server {
namespace {

using namespace std::chrono_literals;
using TimePoint = RefusalPenalty::TimePoint;

using Kind = RefusalPenalty::Kind;

TEST_CASE("an address is penalized at its 4th costly refusal within the window, for a short while",
          "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  const std::string abuser = "127.0.0.2";
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyReads; ++i) {
    CHECK_FALSE(penalty.record(abuser, Kind::kRead, t0 + i * 100ms));
    CHECK_FALSE(penalty.penalized(abuser, t0 + i * 100ms));
  }
  const TimePoint fourth = t0 + 1s;
  CHECK(penalty.record(abuser, Kind::kRead, fourth));
  CHECK(penalty.penalized(abuser, fourth));
  CHECK(penalty.penalized(abuser, fourth + RefusalPenalty::kPenaltyTime - 1ms));
  // Another address is not affected.
  CHECK_FALSE(penalty.penalized("127.0.0.3", fourth));
  // A refusal during the penalty finds the address penalized, but does not extend the penalty ...
  CHECK(penalty.record(abuser, Kind::kRead, fourth + RefusalPenalty::kPenaltyTime - 1ms));
  CHECK(penalty.record(abuser, Kind::kDenied, fourth + RefusalPenalty::kPenaltyTime - 1ms));
  // ... and once it is over, the address starts afresh.
  const TimePoint after = fourth + RefusalPenalty::kPenaltyTime;
  CHECK_FALSE(penalty.penalized(abuser, after));
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyReads; ++i) {
    CHECK_FALSE(penalty.record(abuser, Kind::kRead, after + i * 1ms));
  }
  CHECK(penalty.record(abuser, Kind::kRead, after + 1s));
}

TEST_CASE("costly refusals spread wider than the penalty window do not penalize", "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  for (int i = 0; i < 20; ++i) {
    // Three per window, then a pause longer than the window.
    const TimePoint window = t0 + i * (RefusalPenalty::kPenaltyWindow + 1s);
    for (std::size_t j = 1; j < RefusalPenalty::kPenaltyReads; ++j) {
      CHECK_FALSE(penalty.record("10.0.0.1", Kind::kRead, window + j * 1ms));
    }
    CHECK_FALSE(penalty.penalized("10.0.0.1", window + 1s));
  }
}

TEST_CASE("a flood of 401 and 429 answers penalizes its address at the denial threshold, not before",
          "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  const std::string flooder = "127.0.0.2";
  const std::string other = "127.0.0.3";
  // Far more denials than costly reads are allowed: a denial costs little on its own.
  STATIC_REQUIRE(RefusalPenalty::kPenaltyDenials > 10 * RefusalPenalty::kPenaltyReads);
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyDenials; ++i) {
    CHECK_FALSE(penalty.record(flooder, Kind::kDenied, t0 + i * 1ms));
  }
  CHECK_FALSE(penalty.penalized(flooder, t0 + 1s));
  // Denials and costly reads are counted apart: three reads on top do not tip the balance.
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyReads; ++i) {
    CHECK_FALSE(penalty.record(flooder, Kind::kRead, t0 + 1s));
  }
  CHECK(penalty.record(flooder, Kind::kDenied, t0 + 2s));
  CHECK(penalty.penalized(flooder, t0 + 2s + RefusalPenalty::kPenaltyTime - 1ms));
  CHECK_FALSE(penalty.penalized(flooder, t0 + 2s + RefusalPenalty::kPenaltyTime));
  // The other address, denied all along at its own pace (half the threshold per window), is
  // never penalized.
  const auto pace = std::chrono::duration_cast<std::chrono::milliseconds>(RefusalPenalty::kPenaltyWindow) /
                    (RefusalPenalty::kPenaltyDenials / 2);
  for (std::size_t i = 0; i < 3 * RefusalPenalty::kPenaltyDenials; ++i) {
    CHECK_FALSE(penalty.record(other, Kind::kDenied, t0 + i * pace));
  }
}

TEST_CASE("a client that waits as Retry-After tells it is never penalized for its 429s", "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  // Connections behind one address, each answered 429 and retrying once a second (Retry-After
  // is at least 1 s) for ten minutes: as many as fit under the threshold in a 10 s window.
  const std::size_t connections = RefusalPenalty::kPenaltyDenials / 10 - 1;
  bool ever = false;
  for (int second = 0; second < 600; ++second) {
    for (std::size_t c = 0; c < connections; ++c) {
      ever = penalty.record("192.0.2.1", Kind::kDenied, t0 + second * 1s + c * 1ms) || ever;
    }
  }
  CHECK_FALSE(ever);
}

TEST_CASE("the refusal penalty remembers a bounded number of addresses, penalized ones last to go",
          "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  for (std::size_t i = 0; i < RefusalPenalty::kPenaltyReads; ++i) penalty.record("abuser", Kind::kRead, t0 + i * 1ms);
  REQUIRE(penalty.penalized("abuser", t0 + 1s));
  auto address = [](std::size_t i) {
    return "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
  };
  // Many more addresses with one refusal each, during the penalty: the full table makes room
  // by dropping the entries whose windows began first, never the penalized one.
  for (std::size_t i = 0; i < 3 * RefusalPenalty::kMaxAddresses; ++i) {
    penalty.record(address(i), i % 2 == 0 ? Kind::kRead : Kind::kDenied, t0 + 1s);
    REQUIRE(penalty.size_for_testing() <= RefusalPenalty::kMaxAddresses);
  }
  CHECK(penalty.penalized("abuser", t0 + 2s));
  // Once their windows have passed, the stale entries all go at the first sweep, when the table
  // is full again.
  const TimePoint later = t0 + 1s + RefusalPenalty::kPenaltyWindow + RefusalPenalty::kPenaltyTime;
  std::size_t fresh = 0;
  std::size_t size = penalty.size_for_testing();
  while (fresh <= RefusalPenalty::kMaxAddresses) {
    penalty.record("fresh-" + std::to_string(fresh++), Kind::kDenied, later);
    if (penalty.size_for_testing() < size) break;
    size = penalty.size_for_testing();
  }
  // Only the fresh addresses are left.
  CHECK(penalty.size_for_testing() == fresh);
  CHECK(fresh <= RefusalPenalty::kMaxAddresses);
  CHECK_FALSE(penalty.penalized("abuser", later));
}

TEST_CASE("the tarpit holds a bounded number of connections, each for its hold time, in order", "[server][limits]") {
  Tarpit tarpit;
  const TimePoint t0{std::chrono::hours(1)};
  CHECK_FALSE(tarpit.next_release().has_value());
  for (std::size_t i = 0; i < Tarpit::kMaxHeld; ++i) {
    REQUIRE(tarpit.hold(static_cast<int>(100 + i), t0 + i * 1ms));
  }
  // Full: the next one is not taken (the caller resets it at once).
  CHECK_FALSE(tarpit.hold(99, t0 + 100ms));
  CHECK(tarpit.held() == Tarpit::kMaxHeld);
  CHECK(tarpit.next_release() == t0 + Tarpit::kHoldTime);
  // Nothing is released before its time; then the due ones, oldest first.
  CHECK(tarpit.release_due(t0 + Tarpit::kHoldTime - 1ms).empty());
  CHECK(tarpit.release_due(t0 + Tarpit::kHoldTime + 1ms) == std::vector<int>{100, 101});
  CHECK(tarpit.next_release() == t0 + 2ms + Tarpit::kHoldTime);
  // Room again.
  CHECK(tarpit.hold(99, t0 + 1s));
  std::vector<int> rest = tarpit.release_all();
  CHECK(rest.size() == Tarpit::kMaxHeld - 1);
  CHECK(rest.back() == 99);
  CHECK(tarpit.held() == 0u);
  CHECK_FALSE(tarpit.next_release().has_value());
}

TEST_CASE("the costly-request gate holds an address to its cap and lets other addresses through", "[server][limits]") {
  CostlyRequestGate gate(2, 8);
  const auto soon = [] { return std::chrono::steady_clock::now() + 50ms; };
  REQUIRE(gate.enter("127.0.0.2", soon()));
  REQUIRE(gate.enter("127.0.0.2", soon()));
  // A third from the same address waits, then gives up at its deadline.
  CHECK_FALSE(gate.enter("127.0.0.2", soon()));
  // Another address has its own slots.
  CHECK(gate.enter("127.0.0.3", soon()));
  gate.leave("127.0.0.3");

  // A waiter gets the slot another request of its address gives back.
  std::thread leaver([&] {
    std::this_thread::sleep_for(20ms);
    gate.leave("127.0.0.2");
  });
  CHECK(gate.enter("127.0.0.2", std::chrono::steady_clock::now() + 10s));
  leaver.join();
  gate.leave("127.0.0.2");
  gate.leave("127.0.0.2");
  // All slots back: the address may take two again at once.
  CHECK(gate.enter("127.0.0.2", soon()));
  CHECK(gate.enter("127.0.0.2", soon()));
}

TEST_CASE("the costly-request gate lets only so many wait per address", "[server][limits]") {
  CostlyRequestGate gate(1, 2);
  REQUIRE(gate.enter("127.0.0.2", std::chrono::steady_clock::now()));
  // Two waiters fill the address's queue.
  std::vector<std::thread> waiters;
  std::atomic<int> entered{0};
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&] {
      if (gate.enter("127.0.0.2", std::chrono::steady_clock::now() + 60s)) {
        ++entered;
        gate.leave("127.0.0.2");
      }
    });
  }
  for (int i = 0; i < 6000 && gate.waiting_for_testing("127.0.0.2") < 2; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(gate.waiting_for_testing("127.0.0.2") == 2u);
  // A third is refused without waiting for its (distant) deadline.
  auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(gate.enter("127.0.0.2", started + 60s));
  CHECK(std::chrono::steady_clock::now() - started < 30s);
  // Another address is not affected.
  CHECK(gate.enter("127.0.0.3", std::chrono::steady_clock::now()));
  gate.leave("127.0.0.3");
  // The waiters get the slot in turn.
  gate.leave("127.0.0.2");
  for (auto& waiter : waiters) waiter.join();
  CHECK(entered == 2);
  CHECK(gate.waiting_for_testing("127.0.0.2") == 0u);
}

}  // namespace
}  // namespace kvs::server
