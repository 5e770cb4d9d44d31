#pragma once

// The reserved keys that hold users, groups and token revocations, and the JSON documents
// stored under them. They live in the ordinary keyspace, so replication, anti-entropy, backups
// and export carry them to every node with no protocol of their own; SPEC section 1 keeps
// clients away from them (a first segment starting with '_' is refused on /kv/).
//
// Layout (each value is one JSON object, written by Node as a system key: empty owner):
//   _auth/users/<uuid>    {"format":1,"uuid":"<uuid>","nickname":"<text>",
//                          "scopes":["read","write","admin"],"created_at":<ms>}
//   _auth/groups/<uuid>   {"format":1,"uuid":"<uuid>","name":"<text>",
//                          "members":["<user uuid>",...],"created_at":<ms>}
//   _auth/revoked/<jti>   {"format":1,"jti":"<jti>","expires_at":<ms>,"revoked_at":<ms>}
// A tombstone of a users/ or groups/ key deletes the user or group. A revocation is written
// with the version's expires_at_ms set to the token's expiry, so TTL purges it once the token
// could no longer be used anyway. "format" is the record format version (append-only; a
// reader refuses a format it does not know). "members" is sorted and free of duplicates.
//
// Pure functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::auth {

inline constexpr std::string_view kAuthPrefix = "_auth/";
inline constexpr std::string_view kUsersPrefix = "_auth/users/";
inline constexpr std::string_view kGroupsPrefix = "_auth/groups/";
inline constexpr std::string_view kRevokedPrefix = "_auth/revoked/";
inline constexpr std::int64_t kRecordFormat = 1;

// Longest user, group or token id (uuids are 36 bytes).
inline constexpr std::size_t kMaxRecordIdBytes = 128;
// Longest nickname or group name, in bytes.
inline constexpr std::size_t kMaxNameBytes = 256;

enum class RecordKind : std::uint8_t { kUser, kGroup, kRevocation };

struct AuthKey {
  RecordKind kind;
  std::string_view id;  // the uuid or jti after the prefix; a view into the parsed path
};

// True when `path` is under _auth/ (Node must route every such version to Authority::apply).
inline bool is_auth_key(std::string_view path) noexcept { return path.substr(0, kAuthPrefix.size()) == kAuthPrefix; }

// The kind and id of a reserved auth key; nullopt for any other path (and for an _auth/ path
// of unknown layout or with an invalid id).
std::optional<AuthKey> parse_auth_key(std::string_view path) noexcept;

// True for an id usable as the last segment of a reserved key: 1..kMaxRecordIdBytes bytes of
// [A-Za-z0-9._-], and not "." or "..". Uuids, jtis and user references must pass it.
bool is_valid_record_id(std::string_view id) noexcept;

// True for a nickname or group name: 1..kMaxNameBytes bytes of UTF-8 without control chars.
bool is_valid_name(std::string_view name) noexcept;

std::string user_key(std::string_view uuid);
std::string group_key(std::string_view uuid);
std::string revocation_key(std::string_view token_id);

struct UserRecord {
  std::string uuid;
  std::string nickname;
  std::uint8_t scopes = 0;         // Scope bits the user holds; its tokens carry a subset
  std::int64_t created_at_ms = 0;

  friend bool operator==(const UserRecord&, const UserRecord&) = default;
};

struct GroupRecord {
  std::string uuid;
  std::string name;
  std::vector<std::string> members;  // user uuids, sorted, no duplicates
  std::int64_t created_at_ms = 0;

  bool has_member(std::string_view user_uuid) const noexcept;

  friend bool operator==(const GroupRecord&, const GroupRecord&) = default;
};

struct RevocationRecord {
  std::string token_id;            // the revoked token's jti
  std::int64_t expires_at_ms = 0;  // when the token expires; the record may go then
  std::int64_t revoked_at_ms = 0;

  friend bool operator==(const RevocationRecord&, const RevocationRecord&) = default;
};

// Encoders. Requires: the record's ids pass is_valid_record_id and its names is_valid_name
// (Authority checks this before building a record).
std::string encode_user(const UserRecord& user);
std::string encode_group(const GroupRecord& group);
std::string encode_revocation(const RevocationRecord& revocation);

// The REST / API view of a record (GET /auth/users/{uuid}, GET /auth/groups/{uuid}): the
// stored document without "format".
//   {"uuid","nickname","scopes":[...],"created_at"}   {"uuid","name","members":[...],"created_at"}
std::string user_view_json(const UserRecord& user);
std::string group_view_json(const GroupRecord& group);

// Decoders: `id` is the id from the key, and must match the one inside the document.
// kCorruption naming the key when the document is not a valid record of that kind.
Result<UserRecord> decode_user(std::string_view id, std::string_view json);
Result<GroupRecord> decode_group(std::string_view id, std::string_view json);
Result<RevocationRecord> decode_revocation(std::string_view id, std::string_view json);

// Sorts `members` and drops duplicates (the stored form of a member list).
void normalize_members(std::vector<std::string>& members);

}  // namespace kvs::auth
