#pragma once

// replication::Backoff: the retry schedule the replication state machines share (push queues per
// peer, anti-entropy rounds, the bootstrap pull's rounds over its seeds). After the n-th failure
// in a row the next attempt waits `min` doubled n-1 times, at most `max`; a success starts over.
// It reads no clock: the caller passes the time of each failure and asks when the next attempt
// is due. Deterministic (no jitter): the simulation replays its schedules exactly.
//
// A value type; not safe for concurrent use (each state machine owns its own and serializes).

#include <chrono>

namespace kvs::replication {

class Backoff {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // No delay at all (min = max = 0): for members assigned a configured Backoff later.
  Backoff() = default;
  // Requires: 0 <= min <= max.
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) : min_(min), max_(max < min ? min : max) {}

  // Records a failure at `now`; returns the delay until the next attempt may go.
  std::chrono::milliseconds fail(TimePoint now) {
    ++failures_;
    std::chrono::milliseconds wait = min_;
    // Doubling by steps, stopping at max: no shift can overflow however many failures came.
    for (unsigned i = 1; i < failures_ && wait < max_; ++i) wait *= 2;
    if (wait > max_) wait = max_;
    ready_at_ = now + wait;
    return wait;
  }

  // A success: the next failure waits `min` again, and an attempt may go at once.
  void reset() noexcept {
    failures_ = 0;
    ready_at_ = {};
  }

  // Failures since the last success.
  unsigned failures() const noexcept { return failures_; }
  // When the next attempt may go (the epoch when no failure is pending).
  TimePoint ready_at() const noexcept { return ready_at_; }
  bool ready(TimePoint now) const noexcept { return now >= ready_at_; }

 private:
  std::chrono::milliseconds min_{0};
  std::chrono::milliseconds max_{0};
  unsigned failures_ = 0;
  TimePoint ready_at_{};
};

}  // namespace kvs::replication
