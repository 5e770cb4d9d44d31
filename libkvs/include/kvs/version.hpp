#pragma once

// Version: what a node stores for one key at one moment, and the total order that decides which
// of two versions of a key wins. Every part of kvs (local writes, replication, anti-entropy,
// import) settles conflicts with `compare_versions`, so every node converges to the same winner.

#include <cstdint>
#include <optional>
#include <string>

#include "kvs/export.hpp"

namespace kvs {

// Permission bits: owner nibble 11-8, group 7-4, others 3-0; in each nibble create=8,
// delete=4, write=2, read=1.
inline constexpr std::uint16_t kDefaultPermissions = 0xF10;

struct Version {
  std::string path;                          // the key, normalised ("users/john/profile")
  std::string uuid;                          // random v4, unique per write
  std::int64_t timestamp_ms = 0;             // ms since the Unix epoch
  std::string data;                          // the JSON document exactly as sent; empty for a tombstone
  std::string origin_node_id;                // the node that accepted the write
  std::int64_t origin_joined_ms = 0;         // that node's joined_timestamp
  std::optional<std::int64_t> expires_at_ms; // absent: never expires
  std::string owner_uuid;                    // empty: no owner (auth off, or a system key)
  std::string group_uuid;                    // empty: no group
  std::uint16_t permissions = kDefaultPermissions;
  bool deleted = false;                      // a tombstone

  friend bool operator==(const Version&, const Version&) = default;
};

// The conflict order. Returns >0 when `a` wins over `b`, <0 when `b` wins, 0 when they are the
// same version. Higher timestamp wins; then the origin with the earlier joined timestamp; then
// the lexicographically smaller uuid. Two forms of one write (all three equal) are told apart
// by `deleted` alone: the tombstone wins. That is the tombstone an expired version becomes on
// every node that expires it, which must replace the live form and never lose to it again.
KVS_EXPORT int compare_versions(const Version& a, const Version& b) noexcept;

// True when `candidate` must replace `current` (it is strictly greater by the order).
inline bool supersedes(const Version& candidate, const Version& current) noexcept {
  return compare_versions(candidate, current) > 0;
}

// True when the version has an expiry at or before `now_ms`.
inline bool is_expired(const Version& version, std::int64_t now_ms) noexcept {
  return version.expires_at_ms.has_value() && *version.expires_at_ms <= now_ms;
}

}  // namespace kvs
