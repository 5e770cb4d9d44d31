// replication::Backoff, the retry schedule shared by the push queues, anti-entropy rounds and the
// bootstrap pull: doubling from min to its cap, counted from each failure's time, and reset by a
// success.

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "replication/backoff.hpp"

using kvs::replication::Backoff;
using std::chrono::milliseconds;

namespace {

const Backoff::TimePoint kStart = Backoff::TimePoint{} + std::chrono::hours(1);

}  // namespace

TEST_CASE("a back-off doubles from its minimum to its cap, from the time of each failure", "[replication][backoff]") {
  Backoff backoff(milliseconds(100), milliseconds(350));
  CHECK(backoff.ready(kStart));
  CHECK(backoff.failures() == 0);
  std::vector<milliseconds> waits;
  auto now = kStart;
  for (int i = 0; i < 5; ++i) {
    waits.push_back(backoff.fail(now));
    CHECK(backoff.ready_at() == now + waits.back());
    CHECK_FALSE(backoff.ready(backoff.ready_at() - milliseconds(1)));
    CHECK(backoff.ready(backoff.ready_at()));
    now += milliseconds(7);  // the next failure comes a little later
  }
  CHECK(waits == std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(350), milliseconds(350),
                                           milliseconds(350)});
  CHECK(backoff.failures() == 5);
}

TEST_CASE("a success resets a back-off to its minimum and makes it ready at once", "[replication][backoff]") {
  Backoff backoff(milliseconds(10), milliseconds(1000));
  for (int i = 0; i < 4; ++i) (void)backoff.fail(kStart);
  CHECK_FALSE(backoff.ready(kStart));
  backoff.reset();
  CHECK(backoff.ready(kStart));
  CHECK(backoff.failures() == 0);
  CHECK(backoff.fail(kStart) == milliseconds(10));
}

TEST_CASE("a back-off never overflows however many failures come, and a fixed one stays fixed",
          "[replication][backoff]") {
  Backoff growing(milliseconds(1), std::chrono::hours(1));
  milliseconds last{0};
  for (int i = 0; i < 200; ++i) last = growing.fail(kStart);
  CHECK(last == std::chrono::hours(1));
  Backoff fixed(milliseconds(1000), milliseconds(1000));
  for (int i = 0; i < 10; ++i) CHECK(fixed.fail(kStart) == milliseconds(1000));
  Backoff none;
  CHECK(none.fail(kStart) == milliseconds(0));
  CHECK(none.ready(kStart));
}
