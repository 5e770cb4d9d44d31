#include "connection_limits.hpp"

#include <sys/resource.h>

#include <algorithm>

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
