#pragma once

// The byte layout of every key in the store's LMDB databases (the databases are listed in
// storage/store.hpp). Pure functions, no I/O; safe from any thread.
//
// LMDB keys hold at most 511 bytes, but a kvs key may be 1024 bytes long (SPEC section 1). So a
// path is stored under its *path key*:
//   - a path of at most kMaxInlinePath bytes is its own path key (the common case);
//   - a longer path is stored under its first kMaxInlinePath bytes followed by a 16-byte BLAKE2b
//     hash of the whole path (kHashedKeySize bytes in all).
// Path keys therefore sort like their paths, except among long paths that share their first
// kMaxInlinePath bytes: such paths form one contiguous run of hashed keys (nothing else sorts
// between them), which a scan re-sorts by path. `is_hashed` tells the two kinds apart by
// length alone. Paths never contain '\0' (control characters are rejected), which the
// revision layout relies on.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/coding.hpp"

namespace kvs::storage::keys {

inline constexpr std::size_t kMaxInlinePath = 400;
inline constexpr std::size_t kPathHashBytes = 16;
inline constexpr std::size_t kHashedKeySize = kMaxInlinePath + kPathHashBytes;

// versions: the path key of `path` (see above).
std::string path_key(std::string_view path);

// True when `key` (a path key) is the hashed form of a long path.
inline bool is_hashed(std::string_view key) noexcept { return key.size() > kMaxInlinePath; }

// The smallest path key that any path >= `path` may have: `path` cut to kMaxInlinePath bytes.
inline std::string_view seek_key(std::string_view path) noexcept { return path.substr(0, kMaxInlinePath); }

// revisions: path key, '\0', big-endian u64 revision number.
std::string revision_prefix(std::string_view path_key);
std::string revision_key(std::string_view path_key, std::uint64_t revision);
// True when `key` is a revision key of the path whose revision prefix is `prefix` (the length
// check rejects a longer path key that merely starts with the same bytes).
bool is_revision_of(std::string_view key, std::string_view prefix) noexcept;
// The revision number at the end of a revision key. Requires: `is_revision_of` holds.
std::uint64_t revision_number(std::string_view key) noexcept;

// expiry: big-endian u64 of the i64 expires_at_ms with its sign bit flipped (so that earlier
// times, negative ones too, sort first), then the path key.
std::string expiry_key(std::int64_t expires_at_ms, std::string_view path_key);
std::string expiry_seek(std::int64_t expires_at_ms);
// The expires_at_ms of an expiry key. Requires: key.size() >= 8.
std::int64_t expiry_time(std::string_view key) noexcept;

// tindex: "_ts:" + timestamp_ms as 13 decimal digits, zero-padded (clamped to 0..9999999999999)
// + ":" + path key.
inline constexpr std::string_view kTimeIndexPrefix = "_ts:";
inline constexpr std::size_t kTimeIndexHeaderSize = 4 + 13 + 1;
std::string tindex_key(std::int64_t timestamp_ms, std::string_view path_key);
// The first time-index key of versions stamped at or after `since_ms`.
std::string tindex_seek(std::int64_t since_ms);
// The path key inside a time-index key; empty when `key` is not one.
std::string_view tindex_path_key(std::string_view key) noexcept;
// True when `key` is the time-index key of a version stamped `timestamp_ms` (its path aside):
// the entry of its path's current version, when that version is stamped so.
bool tindex_names(std::string_view key, std::int64_t timestamp_ms);

// changes: big-endian u64 sequence number.
std::string sequence_key(std::uint64_t sequence);

// Big-endian u64 coding of the meta counters. These forward to util/coding.hpp and go once
// storage/store.cpp, their last caller, uses it directly.
inline void append_be64(std::string& out, std::uint64_t value) { util::put_u64_be(out, value); }
inline std::uint64_t read_be64(std::string_view bytes) noexcept { return util::get_u64_be(bytes); }  // size >= 8

}  // namespace kvs::storage::keys
