#pragma once

// AuthState: the in-memory cache of users, groups and revoked tokens, built from the versions
// of the reserved _auth/ keys (auth/records.hpp) and kept current as such versions are written
// locally or arrive from peers. The hot path (authenticating a token, checking a group
// membership) reads only this cache, never the disk.
//
// `apply` keeps, per key, the stamp of the winning version (timestamp, origin joined time,
// uuid: the order of kvs/version.hpp), so versions may be applied in any order and more than
// once: an older version never overwrites a newer one, and a tombstone is not undone by an
// older write. A tombstone's stamp is kept until `forget_expired` passes tombstone_ttl.
//
// Thread safety: every method may be called from any thread. Readers share `mutex_`; apply
// and forget_expired take it exclusively.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/records.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::auth {

// What the cache says about a token's subject and id, read under one lock.
struct TokenStanding {
  bool revoked = false;                // the jti is in the revocation set
  std::optional<std::uint8_t> scopes;  // the user's current scopes; nullopt: no such user
};

class AuthState {
 public:
  // `tombstone_ttl_ms`: how long the stamp of a deleted user, group or revocation is kept
  // (match the store's tombstone_ttl).
  explicit AuthState(std::int64_t tombstone_ttl_ms = 7LL * 24 * 3600 * 1000);

  // Folds one version of an _auth/ key into the cache. A tombstone, or a version expired at
  // `now_ms`, removes the entry. Returns ok when the version was applied or was older than the
  // one held; kInvalidArgument when `version.path` is not a reserved auth key; kCorruption when
  // its document is not a valid record; the entry is then removed (fail closed: a user whose
  // record cannot be read has no access) and the version's stamp is still recorded.
  Status apply(const Version& version, std::int64_t now_ms);

  // Drops revocations of tokens expired at `now_ms` (such tokens fail verification anyway) and
  // stamps of tombstones older than tombstone_ttl. Returns how many entries went.
  std::size_t forget_expired(std::int64_t now_ms);

  // Revocation and user standing of a token, under one shared lock (the authenticate path).
  TokenStanding standing(std::string_view user_uuid, std::string_view token_id) const;

  std::optional<UserRecord> user(std::string_view uuid) const;
  // The user with this nickname. Nicknames are unique per node by construction, but two nodes
  // may create the same one concurrently: then the earliest created (then smallest uuid) wins,
  // the same on every node.
  std::optional<UserRecord> find_user_by_nickname(std::string_view nickname) const;
  std::optional<GroupRecord> group(std::string_view uuid) const;
  bool is_member(std::string_view group_uuid, std::string_view user_uuid) const;
  bool is_revoked(std::string_view token_id) const;
  bool has_users() const;

  // Every user / group, sorted by uuid.
  std::vector<UserRecord> users() const;
  std::vector<GroupRecord> groups() const;
  std::size_t revocation_count() const;

 private:
  // The order-deciding fields of the winning version of one key (data left out).
  struct Stamp {
    Version version;  // path, uuid, timestamp_ms, origin_joined_ms, deleted; data empty
  };

  // Lets the maps be searched with a string_view, so the hot path allocates no key.
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  template <class T>
  using Map = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

  void remove_entry(const AuthKey& key) KVS_REQUIRES(mutex_);

  const std::int64_t tombstone_ttl_ms_;

  mutable SharedMutex mutex_;
  // Guarded by mutex_:
  Map<Stamp> stamps_ KVS_GUARDED_BY(mutex_);  // by path
  Map<UserRecord> users_ KVS_GUARDED_BY(mutex_);
  Map<GroupRecord> groups_ KVS_GUARDED_BY(mutex_);
  Map<std::int64_t> revoked_ KVS_GUARDED_BY(mutex_);  // jti -> expires_at_ms
};

}  // namespace kvs::auth
