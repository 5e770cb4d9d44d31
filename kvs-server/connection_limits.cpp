#include "connection_limits.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace kvs::server {

bool ConnectionLimiter::admit(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (open_ >= max_connections_) return false;
  std::size_t& count = per_address_[address];
  if (count >= max_per_address_) return false;
  ++count;
  ++open_;
  return true;
}

void ConnectionLimiter::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto found = per_address_.find(address);
  if (found == per_address_.end()) return;
  --open_;
  if (--found->second == 0) per_address_.erase(found);
}

std::size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

bool RefusalPenalty::record(const std::string& address, Kind kind, TimePoint now) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(address);
  if (found == entries_.end()) {
    if (entries_.size() >= kMaxAddresses) make_room_locked(now);
    found = entries_.emplace(address, Entry{now, 0, 0, {}}).first;
  }
  Entry& entry = found->second;
  if (now < entry.penalized_until) return true;  // already penalized; the penalty is not extended
  if (now - entry.window_start >= kPenaltyWindow) {
    entry.window_start = now;
    entry.reads = 0;
    entry.denials = 0;
  }
  bool over = kind == Kind::kRead ? ++entry.reads >= kPenaltyReads : ++entry.denials >= kPenaltyDenials;
  if (!over) return false;
  entry.penalized_until = now + kPenaltyTime;
  // The next window starts after the penalty: an address starts afresh once it is over.
  entry.window_start = entry.penalized_until;
  entry.reads = 0;
  entry.denials = 0;
  return true;
}

bool RefusalPenalty::penalized(const std::string& address, TimePoint now) const {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(address);
  return found != entries_.end() && now < found->second.penalized_until;
}

std::size_t RefusalPenalty::size_for_testing() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void RefusalPenalty::make_room_locked(TimePoint now) {
  // O(kMaxAddresses), only when the table is full. When the sweep frees nothing (every address
  // has a live window), it frees an eighth of the table at once, the entries whose windows began
  // first, so that a flood of refusals from ever new addresses pays one sweep per
  // kMaxAddresses / 8 of them rather than one per refusal. A penalized entry's window begins
  // after its penalty, so penalized addresses are the last to go.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& entry = it->second;
    if (now >= entry.penalized_until && now - entry.window_start >= kPenaltyWindow) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  if (entries_.size() < kMaxAddresses) return;
  std::vector<TimePoint> starts;
  starts.reserve(entries_.size());
  for (const auto& [address, entry] : entries_) starts.push_back(entry.window_start);
  const std::size_t evict = std::max<std::size_t>(1, kMaxAddresses / 8);
  std::nth_element(starts.begin(), starts.begin() + static_cast<std::ptrdiff_t>(evict - 1), starts.end());
  const TimePoint cutoff = starts[evict - 1];
  std::size_t evicted = 0;
  for (auto it = entries_.begin(); it != entries_.end() && evicted < evict;) {
    if (it->second.window_start <= cutoff) {
      it = entries_.erase(it);
      ++evicted;
    } else {
      ++it;
    }
  }
}

bool CostlyRequestGate::enter(const std::string& address, TimePoint deadline) {
  std::unique_lock lock(mutex_);
  Count* count = &counts_[address];
  if (count->running < per_address_) {
    ++count->running;
    return true;
  }
  if (count->waiting >= max_waiting_) return false;
  ++count->waiting;
  // The entry stays while this request waits (waiting > 0), but rehashing may move it: look it
  // up afresh on every wake-up.
  bool free = slot_freed_.wait_until(lock, deadline, [&] { return counts_[address].running < per_address_; });
  count = &counts_[address];
  --count->waiting;
  if (free) {
    ++count->running;
    return true;
  }
  if (count->running == 0 && count->waiting == 0) counts_.erase(address);
  return false;
}

std::size_t CostlyRequestGate::waiting_for_testing(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto found = counts_.find(address);
  return found == counts_.end() ? 0 : found->second.waiting;
}

void CostlyRequestGate::leave(const std::string& address) {
  {
    std::lock_guard lock(mutex_);
    auto found = counts_.find(address);
    if (found == counts_.end() || found->second.running == 0) return;
    if (--found->second.running == 0 && found->second.waiting == 0) counts_.erase(found);
  }
  // Waiters of every address share the condition variable, so wake them all; each rechecks its
  // own count. At most max_waiting wait per address.
  slot_freed_.notify_all();
}

bool Tarpit::hold(int fd, TimePoint now) {
  if (held_.size() >= kMaxHeld) return false;
  held_.emplace_back(now + kHoldTime, fd);
  return true;
}

std::vector<int> Tarpit::release_due(TimePoint now) {
  std::vector<int> due;
  while (!held_.empty() && held_.front().first <= now) {
    due.push_back(held_.front().second);
    held_.pop_front();
  }
  return due;
}

std::vector<int> Tarpit::release_all() {
  std::vector<int> all;
  for (const auto& [until, fd] : held_) all.push_back(fd);
  held_.clear();
  return all;
}

std::optional<Tarpit::TimePoint> Tarpit::next_release() const {
  if (held_.empty()) return std::nullopt;
  return held_.front().first;
}

std::size_t fit_open_files_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return max_connections;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return max_connections;
  auto open_files = static_cast<std::size_t>(limit.rlim_cur);
  std::size_t fit = open_files > kReservedFileDescriptors ? open_files - kReservedFileDescriptors : 1;
  return std::max<std::size_t>(1, std::min(max_connections, fit));
}

}  // namespace kvs::server
