#pragma once

// storage space: how much room writes have left, in the LMDB map and on the filesystem under
// data_dir, and the headroom kept below that for the writes that must still commit when client
// writes are refused (SPEC section 2, "Storage full").
//
// Why a headroom: LMDB answers MDB_MAP_FULL (or the disk ENOSPC) for a transaction that needs
// one page more than there is, and every write needs pages, deletes included (a tombstone is a
// new version, and copy-on-write copies each B-tree page it touches). Without a reserve, a full
// map refuses the very deletes that would free it. So the writer refuses client writes once
// free space would fall below the headroom (kInsufficientStorage, REST 507) and lets the
// writes that free space or must not be lost use it: tombstones (local deletes and replicated
// ones), purges of expired keys and old tombstones, token revocations, node settings and audit
// events.
//
// Free space counts pages on LMDB's freelist (reused before the file grows) plus the room to
// grow: the map past the high-water mark, as far as the filesystem has space for the file to
// grow into (statvfs f_bavail; pages the file already holds need none). The freelist is read
// only when the room to grow alone is near the headroom, so a roomy store pays one fstat and
// one statvfs per measure. Free pages a long-lived reader still pins are counted as free: kvs
// holds read transactions only for the length of a call.
//
// Threading: measure() is safe from any thread (it opens its own read transaction).

#include <cstdint>
#include <filesystem>
#include <string>

#include "kvs/status.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/store.hpp"

namespace kvs::storage {


// The headroom for a map of `map_bytes`: 1/32 of it, at least 256 KiB (what a run of delete
// transactions on a small map needs: each copies a few pages per database it touches) and at
// most 32 MiB.
std::uint64_t headroom_bytes(std::uint64_t map_bytes) noexcept;

// What a write of a version with this path and document is taken to need, estimated from
// above: the record, its revision and its change log entry (a put's entry holds the document
// too), B-tree pages half full, plus 1 KiB for the index and audit entries and page splits.
// So a batch of client writes stops short of the headroom rather than past it.
// With the redo log the same bytes go into its record as well, on the same disk, until the next
// checkpoint deletes it: three copies more.
constexpr std::uint64_t write_cost_bytes(std::uint64_t path_bytes, std::uint64_t data_bytes) noexcept {
  return 9 * (path_bytes + data_bytes) + 1536;
}

// Whether a client write of the smallest kind would be let through now: what readiness asks.
inline bool takes_client_writes(const SpaceInfo& space) noexcept {
  return space.client_room_bytes() >= write_cost_bytes(1, 1);
}

// Measures the space of `env`, whose directory is `dir`. kIOError when the file or the
// filesystem cannot be examined.
Result<SpaceInfo> measure_space(const lmdb::Env& env, const std::filesystem::path& dir);

// The kInsufficientStorage status for a client write refused with `space` (its message names
// map_size_mb, what is free and how to get room back); `wanted_bytes` is the write's estimate,
// 0 when no write is at hand (readiness).
Status storage_full(const SpaceInfo& space, std::uint64_t wanted_bytes);

}  // namespace kvs::storage
