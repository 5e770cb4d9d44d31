#pragma once

// A Clock that moves only when a test says so. Safe from many threads.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "kvs/clock.hpp"

namespace kvs::test {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}

  std::int64_t now_ms() const override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point monotonic_now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }

  void advance(std::chrono::milliseconds by) { now_ms_ += by.count(); }
  void set_ms(std::int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<std::int64_t> now_ms_;
};

// A Random from a seed (splitmix64): the same seed gives the same sequence. Safe from many
// threads (the order of draws across threads is then up to the scheduler).
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() override {
    std::uint64_t z = state_.fetch_add(kStep) + kStep;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static constexpr std::uint64_t kStep = 0x9e3779b97f4a7c15ULL;
  std::atomic<std::uint64_t> state_;
};

}  // namespace kvs::test
