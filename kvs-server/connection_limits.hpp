#pragma once

// ConnectionLimiter: counts open client connections, in all and per remote address, and
// admits a new one only below both caps (SPEC section 2: max_connections,
// max_connections_per_client). The accept loop asks before it gives a connection a worker, so
// a refused connection costs one accept and one close. Safe from any thread.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>


namespace kvs::server {

class ConnectionLimiter {
 public:
  ConnectionLimiter(std::size_t max_connections, std::size_t max_per_address)
      : max_connections_(max_connections), max_per_address_(max_per_address) {}

  // Counts a connection from `address` and returns true when both caps allow it; false
  // (and nothing counted) otherwise. Every true is later matched by one release(address).
  bool admit(const std::string& address);
  void release(const std::string& address);

  std::size_t open() const;
  std::size_t max_connections() const noexcept { return max_connections_; }

 private:
  const std::size_t max_connections_;
  const std::size_t max_per_address_;
  mutable std::mutex mutex_;
  // Guarded by mutex_. Holds only addresses with open connections, so it is bounded by
  // max_connections entries.
  std::size_t open_ = 0;
  std::unordered_map<std::string, std::size_t> per_address_;
};

// File descriptors kept for everything but client connections: LMDB, logs, the listening
// socket, peer connections, backups.
inline constexpr std::size_t kReservedFileDescriptors = 256;

// Raises the open-files limit (RLIMIT_NOFILE) to its hard limit and returns how many client
// connections fit in it: `max_connections`, or fewer when the limit is too low (at least 1).
std::size_t fit_open_files_limit(std::size_t max_connections);

}  // namespace kvs::server
