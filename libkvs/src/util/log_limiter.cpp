#include "util/log_limiter.hpp"

#include <utility>

namespace kvs::util {
namespace {

// The slot new keys share once the limiter is full of keys that are all still recent.
constexpr std::string_view kOverflowKey = "\x01overflow";

}  // namespace

std::optional<std::uint64_t> LogLimiter::admit(std::string_view key, TimePoint now) {
  MutexLock lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      std::erase_if(entries_, [&](const auto& item) { return now - item.second.last_logged >= interval_; });
    }
    if (entries_.size() >= max_keys_) key = kOverflowKey;
    found = entries_.find(key);
    if (found == entries_.end()) {
      entries_.emplace(std::string(key), Entry{now, 0});
      return std::uint64_t{0};
    }
  }
  Entry& entry = found->second;
  if (now - entry.last_logged < interval_) {
    entry.suppressed += 1;
    return std::nullopt;
  }
  std::uint64_t suppressed = std::exchange(entry.suppressed, 0);
  entry.last_logged = now;
  return suppressed;
}

void LogLimiter::clear(std::string_view key) {
  MutexLock lock(mutex_);
  if (auto found = entries_.find(key); found != entries_.end()) entries_.erase(found);
}

}  // namespace kvs::util
