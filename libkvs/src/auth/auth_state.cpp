#include "auth/auth_state.hpp"

#include <algorithm>
#include <mutex>
#include <tuple>

namespace kvs::auth {
namespace {

// Moves a decoded record into `out`; a failure is returned instead.
template <class T>
Status keep_decoded(Result<T> result, std::optional<T>& out) {
  if (!result.is_ok()) return result.status();
  out = std::move(*result);
  return Status::ok();
}

template <class Map>
std::vector<typename Map::mapped_type> values_of(const Map& records) {
  std::vector<typename Map::mapped_type> out;
  out.reserve(records.size());
  for (const auto& [uuid, record] : records) out.push_back(record);
  return out;
}

template <class Record>
std::vector<Record> sorted_by_uuid(std::vector<Record> records) {
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) { return a.uuid < b.uuid; });
  return records;
}

}  // namespace

AuthState::AuthState(std::int64_t tombstone_ttl_ms) : tombstone_ttl_ms_(tombstone_ttl_ms) {}

void AuthState::remove_entry(const AuthKey& key) {
  std::string id(key.id);
  switch (key.kind) {
    case RecordKind::kUser: users_.erase(id); break;
    case RecordKind::kGroup: groups_.erase(id); break;
    case RecordKind::kRevocation: revoked_.erase(id); break;
  }
}

Status AuthState::apply(const Version& version, std::int64_t now_ms) {
  auto key = parse_auth_key(version.path);
  if (!key) return Status::invalid_argument("not a reserved auth key: " + version.path.substr(0, 200));
  bool removes = version.deleted || is_expired(version, now_ms);

  // Decode outside the lock: parsing is the slow part, and readers must not wait for it.
  std::optional<UserRecord> user;
  std::optional<GroupRecord> group;
  std::optional<RevocationRecord> revocation;
  Status decoded = Status::ok();
  if (!removes) {
    switch (key->kind) {
      case RecordKind::kUser: decoded = keep_decoded(decode_user(key->id, version.data), user); break;
      case RecordKind::kGroup: decoded = keep_decoded(decode_group(key->id, version.data), group); break;
      case RecordKind::kRevocation:
        decoded = keep_decoded(decode_revocation(key->id, version.data), revocation);
        break;
    }
  }

  Stamp stamp;
  stamp.version.path = version.path;
  stamp.version.uuid = version.uuid;
  stamp.version.timestamp_ms = version.timestamp_ms;
  stamp.version.origin_node_id = version.origin_node_id;
  stamp.version.origin_joined_ms = version.origin_joined_ms;
  stamp.version.deleted = removes;

  WriterLock lock(mutex_);
  auto held = stamps_.find(version.path);
  if (held != stamps_.end() && !supersedes(version, held->second.version)) {
    return Status::ok();  // the held version wins (or this is the same one again)
  }
  stamps_.insert_or_assign(version.path, std::move(stamp));
  if (removes || !decoded.is_ok()) {
    remove_entry(*key);
    return decoded;
  }
  std::string id(key->id);
  if (user) users_.insert_or_assign(id, std::move(*user));
  if (group) groups_.insert_or_assign(id, std::move(*group));
  if (revocation) revoked_.insert_or_assign(id, revocation->expires_at_ms);
  return Status::ok();
}

std::size_t AuthState::forget_expired(std::int64_t now_ms) {
  WriterLock lock(mutex_);
  std::size_t forgotten = 0;
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    // A token whose exp has passed fails verification before revocation is consulted.
    if (it->second <= now_ms) {
      it = revoked_.erase(it);
      ++forgotten;
    } else {
      ++it;
    }
  }
  for (auto it = stamps_.begin(); it != stamps_.end();) {
    const Version& stamped = it->second.version;
    if (stamped.deleted && stamped.timestamp_ms + tombstone_ttl_ms_ <= now_ms) {
      it = stamps_.erase(it);
      ++forgotten;
    } else {
      ++it;
    }
  }
  return forgotten;
}

TokenStanding AuthState::standing(std::string_view user_uuid, std::string_view token_id) const {
  TokenStanding result;
  ReaderLock lock(mutex_);
  result.revoked = revoked_.count(token_id) != 0;
  auto found = users_.find(user_uuid);
  if (found != users_.end()) result.scopes = found->second.scopes;
  return result;
}

std::optional<UserRecord> AuthState::user(std::string_view uuid) const {
  ReaderLock lock(mutex_);
  auto found = users_.find(uuid);
  if (found == users_.end()) return std::nullopt;
  return found->second;
}

std::optional<UserRecord> AuthState::find_user_by_nickname(std::string_view nickname) const {
  ReaderLock lock(mutex_);
  const UserRecord* best = nullptr;
  for (const auto& [uuid, user] : users_) {
    if (user.nickname != nickname) continue;
    if (best == nullptr || std::tie(user.created_at_ms, user.uuid) < std::tie(best->created_at_ms, best->uuid)) {
      best = &user;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

std::optional<GroupRecord> AuthState::group(std::string_view uuid) const {
  ReaderLock lock(mutex_);
  auto found = groups_.find(uuid);
  if (found == groups_.end()) return std::nullopt;
  return found->second;
}

bool AuthState::is_member(std::string_view group_uuid, std::string_view user_uuid) const {
  if (group_uuid.empty() || user_uuid.empty()) return false;
  ReaderLock lock(mutex_);
  auto found = groups_.find(group_uuid);
  return found != groups_.end() && found->second.has_member(user_uuid);
}

bool AuthState::is_revoked(std::string_view token_id) const {
  ReaderLock lock(mutex_);
  return revoked_.count(token_id) != 0;
}

bool AuthState::has_users() const {
  ReaderLock lock(mutex_);
  return !users_.empty();
}

// Copied under the reader lock, sorted after it: writers wait only for the copy.
std::vector<UserRecord> AuthState::users() const {
  return sorted_by_uuid([this] {
    ReaderLock lock(mutex_);
    return values_of(users_);
  }());
}

std::vector<GroupRecord> AuthState::groups() const {
  return sorted_by_uuid([this] {
    ReaderLock lock(mutex_);
    return values_of(groups_);
  }());
}

std::size_t AuthState::revocation_count() const {
  ReaderLock lock(mutex_);
  return revoked_.size();
}

}  // namespace kvs::auth
