// util::Completion: wait() returns at once once set, returns when another thread sets it later,
// sees what the setter wrote before set(), and lets the waiter destroy the Completion the moment
// wait() returns. Waits that could hang run on a thread watched through a future with a
// generous bound, so a broken Completion fails the case rather than hanging it.

#include "util/completion.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using kvs::util::Completion;

constexpr auto kBound = std::chrono::seconds(30);

}  // namespace

TEST_CASE("a completion set before the wait is seen at once", "[util]") {
  Completion done;
  CHECK_FALSE(done.is_set());
  done.set();
  CHECK(done.is_set());
  done.wait();
  done.wait();  // and again
  CHECK(done.is_set());
}

TEST_CASE("a completion wakes its sleeping waiter, who sees what was written before set()", "[util]") {
  Completion done;
  int outcome = 0;  // plain: the completion's ordering is what makes the read safe
  std::atomic<bool> waiting{false};
  auto waiter = std::async(std::launch::async, [&] {
    waiting = true;
    done.wait();
    return outcome;
  });
  while (!waiting) std::this_thread::yield();
  // Most often the waiter is asleep in the kernel by now; either way it must wake.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(waiter.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  outcome = 42;
  done.set();
  REQUIRE(waiter.wait_for(kBound) == std::future_status::ready);
  CHECK(waiter.get() == 42);
}

TEST_CASE("each of many completions wakes its own waiter, and a waiter may free its own at once", "[util]") {
  // The writer's use: callers each wait for their own intent's completion and let it go as soon
  // as wait() returns, while the completing thread goes on to the next. Under AddressSanitizer a
  // set() that touched the object after waking its waiter would show as a use after free.
  constexpr int kWaiters = 8;
  constexpr int kRounds = 2000;
  std::vector<std::atomic<Completion*>> slots(kWaiters);
  std::atomic<int> woken{0};
  auto setter_done = std::async(std::launch::async, [&] {
    for (int round = 0; round < kRounds; ++round) {
      for (auto& slot : slots) {
        Completion* completion = nullptr;
        while ((completion = slot.exchange(nullptr)) == nullptr) std::this_thread::yield();
        completion->set();
      }
    }
  });
  std::vector<std::future<void>> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.push_back(std::async(std::launch::async, [&, w] {
      for (int round = 0; round < kRounds; ++round) {
        auto completion = std::make_unique<Completion>();
        slots[static_cast<std::size_t>(w)] = completion.get();
        completion->wait();
        completion.reset();  // at once, maybe before set() has returned
        woken += 1;
      }
    }));
  }
  for (auto& waiter : waiters) REQUIRE(waiter.wait_for(kBound) == std::future_status::ready);
  REQUIRE(setter_done.wait_for(kBound) == std::future_status::ready);
  CHECK(woken == kWaiters * kRounds);
}
