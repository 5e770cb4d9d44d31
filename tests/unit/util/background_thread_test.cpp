// util::BackgroundThread: start once, stop joins, wake() and stop() end a wait, a wake() that
// comes before the wait is not lost. Each case waits for the body through a future with a
// generous bound, so a broken thread fails the case rather than hanging it; no case depends on
// how long a wait takes, only on which event ended it.

#include "util/background_thread.hpp"

#include <atomic>
#include <chrono>
#include <future>

#include <catch2/catch.hpp>

namespace {

using kvs::util::BackgroundThread;
using std::chrono::hours;

constexpr auto kBound = std::chrono::seconds(30);

}  // namespace

TEST_CASE("a background thread runs its body once, and stop() waits for it to return", "[util]") {
  std::atomic<int> runs{0};
  std::promise<void> entered;
  BackgroundThread thread;
  REQUIRE_FALSE(thread.running());
  REQUIRE(thread.start([&] {
    runs += 1;
    entered.set_value();
    while (thread.wait_for(hours(1))) {
    }
    runs += 10;  // after the wait that stop() ended
  }));
  REQUIRE(entered.get_future().wait_for(kBound) == std::future_status::ready);
  CHECK(thread.running());
  CHECK_FALSE(thread.start([&] { runs += 100; }));
  thread.stop();
  CHECK(runs == 11);  // the body returned before stop() did; the second body never ran
  CHECK(thread.stopping());
  CHECK_FALSE(thread.running());
}

TEST_CASE("a background thread that was stopped never starts, and its waits end at once", "[util]") {
  BackgroundThread thread;
  thread.stop();
  bool ran = false;
  CHECK_FALSE(thread.start([&] { ran = true; }));
  thread.stop();  // idempotent
  CHECK_FALSE(ran);
  CHECK_FALSE(thread.wait_for(hours(1)));
}

TEST_CASE("wake() ends the body's wait, and one that comes before the wait is kept for it", "[util]") {
  BackgroundThread thread;
  thread.wake();  // before the body even exists
  std::promise<bool> first;
  std::promise<void> waiting;
  std::promise<bool> second;
  REQUIRE(thread.start([&] {
    first.set_value(thread.wait_for(hours(1)));
    waiting.set_value();
    second.set_value(thread.wait_for(hours(1)));
  }));
  auto first_result = first.get_future();
  REQUIRE(first_result.wait_for(kBound) == std::future_status::ready);
  CHECK(first_result.get());  // ended by the early wake(), not by stop()
  REQUIRE(waiting.get_future().wait_for(kBound) == std::future_status::ready);
  // Whether the body is asleep yet or not, this wake ends its second wait.
  thread.wake();
  auto second_result = second.get_future();
  REQUIRE(second_result.wait_for(kBound) == std::future_status::ready);
  CHECK(second_result.get());
  thread.stop();
}

TEST_CASE("a wait ends at its deadline, and stop() ends it early with false", "[util]") {
  BackgroundThread thread;
  // A deadline already past: the wait returns true at once, not stopping.
  CHECK(thread.wait_until(std::chrono::steady_clock::now() - std::chrono::milliseconds(1)));
  CHECK(thread.wait_for(std::chrono::milliseconds(0)));
  std::promise<void> entered;
  std::atomic<bool> result{true};
  REQUIRE(thread.start([&] {
    entered.set_value();
    result = thread.wait_for(hours(1));
  }));
  REQUIRE(entered.get_future().wait_for(kBound) == std::future_status::ready);
  thread.stop();  // returns only once the body did: the hour-long wait was cut short
  CHECK_FALSE(result);
}
