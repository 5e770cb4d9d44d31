#include "storage/space.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/statvfs.h>

namespace kvs::storage {

namespace {
constexpr std::uint64_t kMinHeadroomBytes = std::uint64_t{256} << 10;
constexpr std::uint64_t kMaxHeadroomBytes = std::uint64_t{32} << 20;
}  // namespace

std::uint64_t headroom_bytes(std::uint64_t map_bytes) noexcept {
  return std::clamp(map_bytes / 32, kMinHeadroomBytes, kMaxHeadroomBytes);
}

Result<SpaceInfo> measure_space(const lmdb::Env& env, const std::filesystem::path& dir) {
  auto usage = env.usage();
  if (!usage.is_ok()) return usage.status();
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return Status::io_error("statvfs of " + dir.string() + ": " + std::strerror(errno));
  }
  const std::uint64_t page = std::max<std::uint64_t>(usage->page_bytes, 1);
  const std::uint64_t high_water = usage->next_page * page;

  SpaceInfo space;
  space.map_bytes = usage->map_bytes;
  space.headroom_bytes = headroom_bytes(usage->map_bytes);
  const std::uint64_t map_growth = usage->map_bytes > high_water ? usage->map_bytes - high_water : 0;
  // Pages past the high-water mark that the file already holds need no new disk blocks.
  const std::uint64_t file_slack = usage->file_bytes > high_water ? usage->file_bytes - high_water : 0;
  const std::uint64_t disk_growth = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize + file_slack;
  const std::uint64_t growth = std::min(map_growth, disk_growth);
  space.disk_limited = disk_growth < map_growth;

  std::uint64_t free_list = 0;
  // The freelist only matters near the headroom; reading it costs a pass over it.
  if (growth < 2 * space.headroom_bytes) {
    lmdb::ReadTxn txn(env);
    if (Status begun = txn.begin(); !begun.is_ok()) return begun;
    auto pages = txn.free_pages();
    if (!pages.is_ok()) return pages.status();
    free_list = *pages * page;
  }
  space.map_free_bytes = map_growth + free_list;
  space.disk_free_bytes = disk_growth + free_list;
  space.free_bytes = growth + free_list;
  return space;
}

Status storage_full(const SpaceInfo& space, std::uint64_t wanted_bytes) {
  std::string where = space.disk_limited
                          ? "the filesystem of data_dir has " + std::to_string(space.disk_free_bytes) + " bytes free"
                          : "the storage map (map_size_mb, " + std::to_string(space.map_bytes >> 20) + " MiB) has " +
                                std::to_string(space.map_free_bytes) + " bytes free";
  std::string what = wanted_bytes == 0 ? std::string("; client writes would leave less than the ")
                                       : "; a write of about " + std::to_string(wanted_bytes) +
                                             " bytes would leave less than the ";
  return Status::insufficient_storage(
      "insufficient storage: " + where + what + std::to_string(space.headroom_bytes) +
      " bytes kept for deletes. Delete keys (space returns once tombstones are purged), free disk space, "
      "or raise map_size_mb and restart");
}

}  // namespace kvs::storage
