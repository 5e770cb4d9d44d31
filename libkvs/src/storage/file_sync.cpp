#include "storage/file_sync.hpp"

#include <unistd.h>

namespace kvs::storage {

#if defined(KVS_BENCH_UNSAFE_NOSYNC)
int sync_data(int) noexcept { return 0; }
int sync_all(int) noexcept { return 0; }
#else
int sync_data(int fd) noexcept { return ::fdatasync(fd); }
int sync_all(int fd) noexcept { return ::fsync(fd); }
#endif

}  // namespace kvs::storage
