// util::Histogram; histogram.hpp says what it is.

#include "util/histogram.hpp"

#include <algorithm>

namespace kvs::util {

const std::vector<double>& latency_bounds() {
  static const std::vector<double> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
  return bounds;
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double value) noexcept {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  const auto index = static_cast<std::size_t>(it - bounds_.begin());  // bounds_.size(): +Inf
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so the exposition is consistent with itself.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

void Histogram::assign(const Snapshot& from) noexcept {
  std::uint64_t below = 0;
  for (std::size_t i = 0; i <= bounds_.size() && i < from.cumulative.size(); ++i) {
    buckets_[i].store(from.cumulative[i] - below, std::memory_order_relaxed);
    below = from.cumulative[i];
  }
  sum_.store(from.sum, std::memory_order_relaxed);
}

}  // namespace kvs::util
