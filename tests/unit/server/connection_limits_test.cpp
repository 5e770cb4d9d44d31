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

TEST_CASE("an address is penalized at its 4th costly refusal within the window, for a short while",
          "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  const std::string abuser = "127.0.0.2";
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyRefusals; ++i) {
    CHECK_FALSE(penalty.record(abuser, t0 + i * 100ms));
    CHECK_FALSE(penalty.penalized(abuser, t0 + i * 100ms));
  }
  const TimePoint fourth = t0 + 1s;
  CHECK(penalty.record(abuser, fourth));
  CHECK(penalty.penalized(abuser, fourth));
  CHECK(penalty.penalized(abuser, fourth + RefusalPenalty::kPenaltyTime - 1ms));
  // Another address is not affected.
  CHECK_FALSE(penalty.penalized("127.0.0.3", fourth));
  // Refusals during the penalty do not extend it ...
  CHECK_FALSE(penalty.record(abuser, fourth + 1s));
  // ... and once it is over, the address starts afresh.
  const TimePoint after = fourth + RefusalPenalty::kPenaltyTime;
  CHECK_FALSE(penalty.penalized(abuser, after));
  for (std::size_t i = 1; i < RefusalPenalty::kPenaltyRefusals; ++i) CHECK_FALSE(penalty.record(abuser, after + i * 1ms));
  CHECK(penalty.record(abuser, after + 1s));
}

TEST_CASE("costly refusals spread wider than the penalty window do not penalize", "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  for (int i = 0; i < 20; ++i) {
    // Three per window, then a pause longer than the window.
    const TimePoint window = t0 + i * (RefusalPenalty::kPenaltyWindow + 1s);
    for (std::size_t j = 1; j < RefusalPenalty::kPenaltyRefusals; ++j) CHECK_FALSE(penalty.record("10.0.0.1", window + j * 1ms));
    CHECK_FALSE(penalty.penalized("10.0.0.1", window + 1s));
  }
}

TEST_CASE("the refusal penalty remembers a bounded number of addresses, penalized ones last to go",
          "[server][limits]") {
  RefusalPenalty penalty;
  const TimePoint t0{std::chrono::hours(1)};
  for (std::size_t i = 0; i < RefusalPenalty::kPenaltyRefusals; ++i) penalty.record("abuser", t0 + i * 1ms);
  REQUIRE(penalty.penalized("abuser", t0 + 1s));
  // Many more addresses with one refusal each, during the penalty: the full table makes room
  // by dropping the entry whose window began first, never the penalized one.
  for (std::size_t i = 0; i < 3 * RefusalPenalty::kMaxAddresses; ++i) {
    penalty.record("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256),
                   t0 + 1s);
  }
  CHECK(penalty.size_for_testing() <= RefusalPenalty::kMaxAddresses);
  CHECK(penalty.penalized("abuser", t0 + 2s));
  // Once their windows have passed, entries are dropped as new addresses come.
  penalty.record("10.255.255.255", t0 + 1s + RefusalPenalty::kPenaltyWindow + RefusalPenalty::kPenaltyTime);
  CHECK(penalty.size_for_testing() == 1u);
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
