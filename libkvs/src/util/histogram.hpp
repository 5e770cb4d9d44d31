#pragma once

// util::Histogram: counts of observations in fixed buckets, and their sum, updated with relaxed
// atomics from any thread. The metrics registry (features/metrics.hpp) renders them; the
// storage layer keeps its own for the disk's latencies (storage::DiskTimings), which the node
// copies into the registry's before each render (assign), so that a histogram observed by the
// store's threads never outlives the store nor the other way round.
//
// Buckets: `bounds` are ascending upper bounds without +Inf, borrowed (the owner keeps them
// alive, and unchanged, as long as the histogram). An observation counts in the first bucket
// whose bound is >= it; one above every bound, in +Inf.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace kvs::util {

// Latency bounds in seconds, 100 µs .. 10 s: a GET from LMDB's page cache takes a few hundred
// microseconds and a log sync a few hundred more, so the buckets start well below Prometheus'
// default (5 ms), where every such figure would fall into the first one.
const std::vector<double>& latency_bounds();

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);

  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  // A reader racing observers may see a bucket one observation ahead of the sum, as with
  // every Prometheus client.
  Snapshot snapshot() const;
  // Makes this histogram hold what `from` holds. Requires: `from` was taken of a histogram
  // with the same bounds. For copying a histogram kept elsewhere; not atomic as a whole.
  void assign(const Snapshot& from) noexcept;

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

}  // namespace kvs::util
