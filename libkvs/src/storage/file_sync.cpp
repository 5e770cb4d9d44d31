#include "storage/file_sync.hpp"

#include <unistd.h>

#if defined(KVS_BENCH_UNSAFE_NOSYNC)
#include <cerrno>
#include <cstdlib>
#include <ctime>
#endif

namespace kvs::storage {

#if defined(KVS_BENCH_UNSAFE_NOSYNC)
namespace {

// KVS_BENCH_SYNC_DELAY_US: how long each data sync of this build sleeps instead (default 0).
// It asks what the durable build would do on a device whose syncs took that long
// (bench/kvs_ab.sh --nosync); the sleep costs a wake-up on top, as a real sync does.
long sync_delay_us() {
  static const long delay = [] {
    const char* value = std::getenv("KVS_BENCH_SYNC_DELAY_US");
    const long us = value != nullptr ? std::strtol(value, nullptr, 10) : 0;
    return us > 0 && us < 1'000'000 ? us : 0L;
  }();
  return delay;
}

}  // namespace

int sync_data(int) noexcept {
  if (const long us = sync_delay_us(); us > 0) {
    timespec left{0, us * 1000};
    while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
  }
  return 0;
}
int sync_all(int) noexcept { return 0; }
#else
int sync_data(int fd) noexcept { return ::fdatasync(fd); }
int sync_all(int fd) noexcept { return ::fsync(fd); }
#endif

}  // namespace kvs::storage
