// util::Histogram: an observation lands in the first bucket whose bound is >= it (+Inf above
// every bound), the snapshot is cumulative with the count equal to +Inf, and assign makes one
// histogram hold exactly what another's snapshot holds, replacing what it held.

#include "util/histogram.hpp"

#include <vector>

#include <catch2/catch.hpp>

namespace {

using kvs::util::Histogram;

TEST_CASE("a histogram counts each observation in the first bucket whose bound is at least it", "[util][histogram]") {
  const std::vector<double> bounds{0.001, 0.01, 0.1};
  Histogram histogram(bounds);
  for (double value : {0.0005, 0.001, 0.002, 0.05, 0.1, 0.5, 7.0}) histogram.observe(value);

  const Histogram::Snapshot snap = histogram.snapshot();
  // <= 0.001: 0.0005 and 0.001 (a bound is inclusive); <= 0.01: + 0.002; <= 0.1: + 0.05, 0.1;
  // +Inf: + 0.5, 7.0.
  CHECK(snap.cumulative == std::vector<std::uint64_t>{2, 3, 5, 7});
  CHECK(snap.count == 7);
  CHECK(snap.sum == Approx(0.0005 + 0.001 + 0.002 + 0.05 + 0.1 + 0.5 + 7.0));
}

TEST_CASE("assign makes a histogram hold another's snapshot, replacing its own counts", "[util][histogram]") {
  const std::vector<double>& bounds = kvs::util::latency_bounds();
  Histogram source(bounds);
  Histogram copy(bounds);
  for (double value : {0.00005, 0.0003, 0.004, 0.004, 2.0, 30.0}) source.observe(value);
  copy.observe(0.2);  // gone after the assign
  copy.observe(0.2);

  copy.assign(source.snapshot());
  const Histogram::Snapshot want = source.snapshot();
  const Histogram::Snapshot got = copy.snapshot();
  CHECK(got.cumulative == want.cumulative);
  CHECK(got.count == 6);
  CHECK(got.sum == Approx(want.sum));

  // The copy goes on counting from there.
  copy.observe(0.0001);
  CHECK(copy.snapshot().count == 7);
  CHECK(copy.snapshot().cumulative.front() == 2);  // 0.00005 and 0.0001, both <= 100 µs
}

TEST_CASE("the latency bounds run from 100 microseconds to 10 seconds, ascending", "[util][histogram]") {
  const std::vector<double>& bounds = kvs::util::latency_bounds();
  REQUIRE(bounds.size() >= 2);
  CHECK(bounds.front() == Approx(0.0001));
  CHECK(bounds.back() == Approx(10.0));
  for (std::size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i - 1] < bounds[i]);
}

}  // namespace
