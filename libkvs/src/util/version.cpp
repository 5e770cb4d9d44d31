#include "kvs/version.hpp"

namespace kvs {

int compare_versions(const Version& a, const Version& b) noexcept {
  if (a.timestamp_ms != b.timestamp_ms) return a.timestamp_ms > b.timestamp_ms ? 1 : -1;
  // Oldest-node rule: the origin that joined earlier wins.
  if (a.origin_joined_ms != b.origin_joined_ms) return a.origin_joined_ms < b.origin_joined_ms ? 1 : -1;
  int by_uuid = a.uuid.compare(b.uuid);
  if (by_uuid != 0) return by_uuid < 0 ? 1 : -1;
  // One write in two forms: live, and the tombstone its expiry made of it
  // (features/ttl_sweeper.hpp). The tombstone wins, so that every node ends with it, whichever
  // form it met first, and the live form cannot come back through sync.
  if (a.deleted != b.deleted) return a.deleted ? 1 : -1;
  return 0;
}

}  // namespace kvs
