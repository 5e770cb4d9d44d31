#pragma once

// CRC-32C (Castagnoli, the polynomial iSCSI, ext4 and LevelDB's log use), for telling a record
// written whole from one torn or damaged on disk. Not a defence against tampering: the audit
// chain's BLAKE2b is that. Pure; safe from any thread.

#include <cstdint>
#include <string_view>

namespace kvs::util {

// The CRC-32C of `bytes`, continuing from `crc` (the CRC of the bytes before; 0 to start).
// With the CPU's crc32 instruction where it has one.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0) noexcept;
// The same from a table, on any CPU: what crc32c falls back to, and what tests hold it to.
std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc = 0) noexcept;

}  // namespace kvs::util
