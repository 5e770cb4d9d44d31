#pragma once

// auth::Authority: everything kvs::Node needs to authenticate callers and authorise what they
// do, in one object that Node owns (one per Node, created at open when auth_enabled). It
// holds the keys derived from the cluster secret, the in-memory cache of users, groups and
// revocations (AuthState), and the peer-request signer. It does no storage I/O itself: it
// decides, and it builds the reserved-key writes (ReservedWrite) that Node performs through
// its ordinary write path, so that they replicate like any data.
//
// What Node must do, and when:
//   open:     auth::Authority::open(config, clock, random) (reads or generates the cluster
//             secret), then feed every stored version under "_auth/" to apply(); then, when
//             auth_enabled and !has_users() (and the node is not bootstrapping from seeds):
//             prepare_admin_user(), write it, apply() it, issue_token() for it, and
//             write_admin_token_file(data_dir, token); log the path.
//   writes:   call apply(version) for EVERY version of a key starting with "_auth/" that
//             becomes current, whether written locally (after it is durable) or applied from a
//             peer/import (apply_version returned true). apply() ignores versions older than
//             the one it holds, so calling it more often is harmless.
//   requests: authenticate(bearer token) -> Caller for each client request (401 on failure);
//             before each data operation, the check_* function for it (403 on failure);
//             range: filter items with can_read. A reserved key is never reachable with a
//             non-trusted Caller.
//   new keys: meta_for_new_key(caller, X-KVS-Group, default_permissions) gives owner, group
//             and bits of a key a put creates.
//   sweeper:  forget_expired() now and then (e.g. with the TTL sweep).
//   peers:    sign_peer_request() on every outgoing /members/ and /sync/ request, and
//             verify_peer_request() on every incoming one (401 on failure).
//
// Thread safety: every method may be called from any thread at once. The cache uses a shared
// mutex (many readers), the peer replay cache its own mutex; the rest is immutable after
// construction. `clock` and `random` must outlive the Authority.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_state.hpp"
#include "auth/jwt.hpp"
#include "auth/peer_hmac.hpp"
#include "auth/permissions.hpp"
#include "auth/records.hpp"
#include "auth/secret.hpp"
#include "auth/token_cache.hpp"
#include "kvs/clock.hpp"
#include "kvs/config.hpp"
#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs::auth {

// The file, inside data_dir, that receives the bootstrap admin token.
inline constexpr std::string_view kAdminTokenFileName = "admin.token";
// The nickname of the user created on first start.
inline constexpr std::string_view kAdminNickname = "admin";

struct AuthorityOptions {
  std::chrono::milliseconds token_ttl{std::chrono::hours(24)};           // lifetime when none is asked for
  std::chrono::milliseconds max_token_ttl{std::chrono::hours(24 * 365)}; // longest lifetime allowed
  std::chrono::milliseconds tombstone_ttl{std::chrono::hours(24 * 7)};   // see AuthState
  std::size_t verified_token_cache{16384};                               // tokens whose signature is cached
  PeerSignerOptions peer;

  // token_ttl and tombstone_ttl from the node's config.
  static AuthorityOptions from_config(const Config& config);
};

struct MintedToken {
  std::string token;               // the compact JWT
  std::string token_id;            // its jti
  std::int64_t expires_at_ms = 0;  // its exp, in ms (REST "expires_at")
  TokenClaims claims;
};

// A reserved-key version for Node to write (with Caller::local(), no owner). A tombstone when
// `deleted`.
struct ReservedWrite {
  std::string path;
  std::string json;                          // empty for a tombstone
  std::optional<std::int64_t> expires_at_ms; // the version's expiry (revocations)
  bool deleted = false;
};

struct UserWrite {
  UserRecord user;
  ReservedWrite write;
};

struct GroupWrite {
  GroupRecord group;
  ReservedWrite write;
};

// Changes to a user (PUT /auth/users/{uuid}); absent members stay as they are.
struct UserUpdate {
  std::optional<std::string> nickname;
  std::optional<std::uint8_t> scopes;
};

// Changes to a group (PUT /auth/groups/{uuid}).
struct GroupUpdate {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> members;
};

class Authority {
 public:
  // Requires: `cluster_secret` is not empty.
  Authority(std::string_view cluster_secret, const Clock& clock, Random& random, AuthorityOptions options = {});
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  // The Authority for a node: the secret from config.cluster_secret, else from (or generated
  // into) <data_dir>/cluster.secret; options from the config. kIOError / kCorruption from the
  // secret file.
  static Result<std::unique_ptr<Authority>> open(const Config& config, const Clock& clock, Random& random);

  // ---- Tokens ------------------------------------------------------------------------------

  // The token inside an `Authorization` header value ("Bearer <token>", scheme
  // case-insensitive). kUnauthenticated when the header is missing or of another scheme.
  static Result<std::string_view> bearer_token(std::string_view authorization_header);

  // The Caller a token stands for: trusted=false, user_uuid=sub, scopes and token_id from the
  // token. kUnauthenticated (reason in the message) when verify_jwt fails, the token is
  // revoked, its user no longer exists, or its scopes exceed the user's current scopes.
  // Touches no disk. A token seen before skips the signature check (VerifiedTokenCache); its
  // expiry, revocation and user are checked on every call.
  Result<Caller> authenticate(std::string_view token) const;
  Result<Caller> authenticate_at(std::string_view token, std::int64_t now_ms) const;

  // POST /auth/tokens: a token for `user_uuid` with `scopes`, living `ttl` (default
  // token_ttl). Codes: kNotFound (no such user), kPermissionDenied / kInvalidArgument per
  // check_mint, kInvalidArgument (ttl under 1 s or over max_token_ttl).
  Result<MintedToken> mint_token(const Caller& caller, std::string_view user_uuid, std::uint8_t scopes,
                                 std::optional<std::chrono::milliseconds> ttl = std::nullopt);

  // A token with no permission check, for the operator command (`kvs-server token`) and the
  // admin bootstrap. kInvalidArgument for a bad ttl or scopes beyond the user's.
  Result<MintedToken> issue_token(const UserRecord& user, std::uint8_t scopes,
                                  std::optional<std::chrono::milliseconds> ttl = std::nullopt);

  // DELETE /auth/tokens/{jti}: the revocation record to write. `token_expires_at_ms` when
  // known; otherwise now + max_token_ttl, which outlives any token. kPermissionDenied (not an
  // admin and not the caller's own token), kInvalidArgument (malformed jti).
  Result<ReservedWrite> revoke_token(const Caller& caller, std::string_view token_id,
                                     std::optional<std::int64_t> token_expires_at_ms = std::nullopt);

  // ---- Users and groups (admin only, except reading oneself) -------------------------------
  // Each prepare_* checks permission and input and returns what Node must write; the cache
  // changes when Node applies the written version. Codes: kPermissionDenied, kInvalidArgument
  // (bad nickname/name/scopes/member), kConflict (nickname taken), kNotFound (no such user or
  // group), kPreconditionFailed (the change would leave no admin user).

  Result<UserWrite> prepare_create_user(const Caller& caller, std::string_view nickname, std::uint8_t scopes);
  Result<UserWrite> prepare_update_user(const Caller& caller, std::string_view uuid, const UserUpdate& update);
  Result<ReservedWrite> prepare_delete_user(const Caller& caller, std::string_view uuid);
  Result<UserRecord> get_user(const Caller& caller, std::string_view uuid) const;

  Result<GroupWrite> prepare_create_group(const Caller& caller, std::string_view name,
                                          std::vector<std::string> members);
  Result<GroupWrite> prepare_update_group(const Caller& caller, std::string_view uuid, const GroupUpdate& update);
  Result<ReservedWrite> prepare_delete_group(const Caller& caller, std::string_view uuid);
  Result<GroupRecord> get_group(const Caller& caller, std::string_view uuid) const;

  // ---- Bootstrap ---------------------------------------------------------------------------

  bool has_users() const;
  // The first user: nickname "admin", every scope. No permission check.
  UserWrite prepare_admin_user();
  // Writes `token` + "\n" to <data_dir>/admin.token, mode 0600. kIOError on failure.
  static Status write_admin_token_file(const std::filesystem::path& data_dir, std::string_view token);

  // ---- Key permissions (see permissions.hpp for the table) ---------------------------------
  // ok, or kPermissionDenied naming the operation and `path`.

  Status check_read(const Caller& caller, std::string_view path, const KeyMeta& meta) const;
  Status check_replace(const Caller& caller, std::string_view path, const KeyMeta& meta) const;
  Status check_delete(const Caller& caller, std::string_view path, const KeyMeta& meta) const;
  // `nearest_ancestor`: meta of the nearest live ancestor of `path` (see auth::ancestors), or
  // nullptr when there is none.
  Status check_create(const Caller& caller, std::string_view path, const KeyMeta* nearest_ancestor) const;
  Status check_read_meta(const Caller& caller, std::string_view path, const KeyMeta& meta) const;
  // Also validates the update: kInvalidArgument for permissions above 0xFFF, a malformed
  // owner/group uuid, or (for a non-trusted caller) an unknown user or group;
  // kPermissionDenied when a non-admin owner names a group it is not a member of. An owner or
  // group equal to the key's current one is no change and is not checked.
  Status check_change_meta(const Caller& caller, std::string_view path, const KeyMeta& meta,
                           const MetaUpdate& update) const;
  // For range filtering: no allocation, no message.
  bool can_read(const Caller& caller, const KeyMeta& meta) const;

  // Owner, group and bits of a key that `caller` creates. Owner: the caller's user (empty for
  // a trusted caller). Group: `group_header` (X-KVS-Group) when not empty; the group must
  // exist, and a non-admin caller must be a member of it (as chgrp in POSIX). Codes:
  // kInvalidArgument (no such group), kPermissionDenied (not a member).
  Result<KeyMeta> meta_for_new_key(const Caller& caller, std::string_view group_header,
                                   std::uint16_t default_permissions) const;

  bool is_member(std::string_view group_uuid, std::string_view user_uuid) const;

  // ---- Cache -------------------------------------------------------------------------------

  // See AuthState::apply; uses the clock for expiry.
  Status apply(const Version& version);
  std::size_t forget_expired();
  const AuthState& state() const noexcept { return state_; }

  // ---- Peers -------------------------------------------------------------------------------

  // The X-KVS-Peer-Signature value for an outgoing peer request to the node `destination`,
  // stamped now, and the fresh nonce it carries (what the answer's MAC names).
  SignedPeerRequest sign_peer_request(std::string_view method, std::string_view target, std::string_view body,
                                      std::string_view destination) const;
  // Checks an incoming peer request's X-KVS-Peer-Signature value for the node `self` (see
  // peer_hmac.hpp).
  Status verify_peer_request(std::string_view header_value, std::string_view method, std::string_view target,
                             std::string_view body, std::string_view self);
  // The X-KVS-Peer-Answer value of an answer from `responder` to the request with `nonce`.
  std::string sign_peer_answer(std::string_view nonce, long status, std::string_view responder,
                               std::string_view body) const;
  // Ok when `header_value` signs exactly this answer; kUnauthenticated otherwise.
  Status verify_peer_answer(std::string_view header_value, std::string_view nonce, long status,
                            std::string_view responder, std::string_view body) const;

  // The HS256 key, for interop tests with other JWT libraries only.
  const Key& signing_key_for_testing() const noexcept { return keys_.token_signing; }

 private:
  Result<std::int64_t> token_lifetime_ms(std::optional<std::chrono::milliseconds> ttl) const;
  bool is_member_for(const Caller& caller, const KeyMeta& meta) const;
  std::size_t admin_count_without(std::string_view uuid) const;
  Status check_member_list(std::vector<std::string>& members) const;

  DerivedKeys keys_;
  const Clock& clock_;
  Random& random_;
  const AuthorityOptions options_;
  AuthState state_;
  mutable VerifiedTokenCache verified_tokens_;
  std::unique_ptr<PeerSigner> peer_signer_;
};

}  // namespace kvs::auth
