#include "auth/authority.hpp"

#include <sodium.h>

#include "auth/scopes.hpp"
#include "util/text.hpp"

namespace kvs::auth {
namespace {

constexpr std::int64_t kMinTokenTtlMs = 1000;  // exp has whole seconds: below that, iat == exp

Status denied(std::string_view operation, std::string_view path) {
  return Status::permission_denied(std::string(operation) + " " + std::string(path.substr(0, 200)) + ": not allowed");
}

// kNotFound for the user or group `uuid`, which came with the request: cut to 200 bytes.
Status no_such(std::string_view kind, std::string_view uuid) {
  return Status::not_found(std::string(kind) + " " + std::string(uuid.substr(0, 200)));
}

// The reserved write that stores `user` (or `group`) as it is.
UserWrite write_of(UserRecord user) {
  ReservedWrite write;
  write.path = user_key(user.uuid);
  write.json = encode_user(user);
  return UserWrite{std::move(user), std::move(write)};
}

GroupWrite write_of(GroupRecord group) {
  ReservedWrite write;
  write.path = group_key(group.uuid);
  write.json = encode_group(group);
  return GroupWrite{std::move(group), std::move(write)};
}

Status bad_name(std::string_view what) {
  return Status::invalid_argument(std::string(what) + " must be 1.." + std::to_string(kMaxNameBytes) +
                                  " bytes of text without control characters");
}

UserRecord make_user(std::string uuid, std::string_view nickname, std::uint8_t scopes, std::int64_t now_ms) {
  UserRecord user;
  user.uuid = std::move(uuid);
  user.nickname = std::string(nickname);
  user.scopes = static_cast<std::uint8_t>(scopes & kScopeAll);
  user.created_at_ms = now_ms;
  return user;
}

}  // namespace

AuthorityOptions AuthorityOptions::from_config(const Config& config) {
  AuthorityOptions options;
  options.token_ttl = config.token_ttl;
  options.tombstone_ttl = config.tombstone_ttl;
  return options;
}

Authority::Authority(std::string_view cluster_secret, const Clock& clock, Random& random, AuthorityOptions options)
    : keys_(derive_keys(cluster_secret)),
      clock_(clock),
      random_(random),
      options_(options),
      state_(options.tombstone_ttl.count()),
      verified_tokens_(options.verified_token_cache),
      peer_signer_(std::make_unique<PeerSigner>(keys_.peer_signing, options.peer)) {}

Authority::~Authority() { sodium_memzero(&keys_, sizeof keys_); }

Result<std::unique_ptr<Authority>> Authority::open(const Config& config, const Clock& clock, Random& random) {
  auto secret = load_or_create_cluster_secret(config.cluster_secret, config.data_dir);
  if (!secret.is_ok()) return secret.status();
  auto authority = std::make_unique<Authority>(*secret, clock, random, AuthorityOptions::from_config(config));
  sodium_memzero(secret->data(), secret->size());
  return authority;
}

// ---- Tokens ----------------------------------------------------------------------------------

Result<std::string_view> Authority::bearer_token(std::string_view authorization_header) {
  std::string_view header = util::trim(authorization_header);
  if (header.empty()) return Status::unauthenticated("missing Authorization header");
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t')) {
    return Status::unauthenticated("Authorization header is not a Bearer token");
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return Status::unauthenticated("Authorization header is not a Bearer token");
  }
  std::string_view token = util::trim(header.substr(kScheme.size()));
  if (token.empty()) return Status::unauthenticated("Authorization header has an empty token");
  return token;
}

Result<Caller> Authority::authenticate(std::string_view token) const { return authenticate_at(token, clock_.now_ms()); }

Result<Caller> Authority::authenticate_at(std::string_view token, std::int64_t now_ms) const {
  // Oversized input goes straight to verify_jwt_signature, which refuses it before hashing.
  std::optional<TokenClaims> claims;
  if (!token.empty() && token.size() <= kMaxTokenBytes) claims = verified_tokens_.find(token);
  if (!claims) {
    auto verified = verify_jwt_signature(token, keys_.token_signing);
    if (!verified.is_ok()) return verified.status();
    // A token whose ids could not name a reserved key could never be revoked: refuse it.
    if (!is_valid_record_id(verified->subject) || !is_valid_record_id(verified->token_id)) {
      return Status::unauthenticated("token has a malformed sub or jti");
    }
    claims = std::move(*verified);
    verified_tokens_.insert(token, *claims);
  }
  auto in_time = check_token_time(*claims, now_ms);
  if (!in_time.is_ok()) return in_time;
  TokenStanding standing = state_.standing(claims->subject, claims->token_id);
  if (standing.revoked) return Status::unauthenticated("token revoked");
  if (!standing.scopes) return Status::unauthenticated("token user no longer exists");
  if (!is_scope_subset(claims->scopes, *standing.scopes)) {
    return Status::unauthenticated("token scopes exceed the user's current scopes");
  }
  Caller caller;
  caller.trusted = false;
  caller.user_uuid = std::move(claims->subject);
  caller.scopes = claims->scopes;
  caller.token_id = std::move(claims->token_id);
  return caller;
}

Result<std::int64_t> Authority::token_lifetime_ms(std::optional<std::chrono::milliseconds> ttl) const {
  std::int64_t lifetime = ttl ? ttl->count() : options_.token_ttl.count();
  if (lifetime < kMinTokenTtlMs) return Status::invalid_argument("token ttl must be at least 1s");
  if (lifetime > options_.max_token_ttl.count()) {
    return Status::invalid_argument("token ttl exceeds the maximum of " +
                                    std::to_string(options_.max_token_ttl.count() / 1000) + "s");
  }
  return lifetime;
}

Result<MintedToken> Authority::issue_token(const UserRecord& user, std::uint8_t scopes,
                                           std::optional<std::chrono::milliseconds> ttl) {
  if (scopes == 0) return Status::invalid_argument("a token needs at least one scope");
  if (!is_scope_subset(scopes, user.scopes)) {
    return Status::invalid_argument("user " + user.uuid + " does not hold every requested scope");
  }
  auto lifetime = token_lifetime_ms(ttl);
  if (!lifetime.is_ok()) return lifetime.status();
  std::int64_t now_ms = clock_.now_ms();
  MintedToken minted;
  minted.claims.subject = user.uuid;
  minted.claims.scopes = scopes;
  minted.claims.issued_at_s = now_ms / 1000;
  minted.claims.expires_at_s = (now_ms + *lifetime) / 1000;
  minted.claims.token_id = make_uuid_v4(random_);
  minted.token = mint_jwt(minted.claims, keys_.token_signing);
  minted.token_id = minted.claims.token_id;
  minted.expires_at_ms = minted.claims.expires_at_ms();
  return minted;
}

Result<MintedToken> Authority::mint_token(const Caller& caller, std::string_view user_uuid, std::uint8_t scopes,
                                          std::optional<std::chrono::milliseconds> ttl) {
  // Permission first, so that a non-admin learns nothing about which users exist.
  if (!may_administer(caller) && caller.user_uuid != user_uuid) {
    return Status::permission_denied("only an admin may mint tokens for another user");
  }
  auto user = state_.user(user_uuid);
  if (!user) return no_such("user", user_uuid);
  auto allowed = check_mint(caller, user_uuid, scopes, user->scopes);
  if (!allowed.is_ok()) return allowed;
  return issue_token(*user, scopes, ttl);
}

Result<ReservedWrite> Authority::revoke_token(const Caller& caller, std::string_view token_id,
                                              std::optional<std::int64_t> token_expires_at_ms) {
  if (!is_valid_record_id(token_id)) return Status::invalid_argument("malformed token id");
  if (!may_revoke(caller, token_id)) return Status::permission_denied("only an admin may revoke another's token");
  std::int64_t now_ms = clock_.now_ms();
  RevocationRecord record;
  record.token_id = std::string(token_id);
  record.revoked_at_ms = now_ms;
  record.expires_at_ms = token_expires_at_ms.value_or(now_ms + options_.max_token_ttl.count());
  ReservedWrite write;
  write.path = revocation_key(token_id);
  write.json = encode_revocation(record);
  write.expires_at_ms = record.expires_at_ms;
  return write;
}

// ---- Users and groups ------------------------------------------------------------------------

std::size_t Authority::admin_count_without(std::string_view uuid) const {
  std::size_t count = 0;
  for (const auto& user : state_.users()) {
    if (user.uuid != uuid && is_admin(user.scopes)) ++count;
  }
  return count;
}

Result<UserWrite> Authority::prepare_create_user(const Caller& caller, std::string_view nickname,
                                                 std::uint8_t scopes) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may create users");
  if (!is_valid_name(nickname)) return bad_name("nickname");
  if (state_.find_user_by_nickname(nickname)) {
    return Status::conflict("a user with nickname '" + std::string(nickname) + "' exists");
  }
  return write_of(make_user(make_uuid_v4(random_), nickname, scopes, clock_.now_ms()));
}

Result<UserWrite> Authority::prepare_update_user(const Caller& caller, std::string_view uuid,
                                                 const UserUpdate& update) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may change users");
  auto user = state_.user(uuid);
  if (!user) return no_such("user", uuid);
  if (update.nickname) {
    if (!is_valid_name(*update.nickname)) return Status::invalid_argument("bad nickname");
    auto holder = state_.find_user_by_nickname(*update.nickname);
    if (holder && holder->uuid != user->uuid) {
      return Status::conflict("a user with nickname '" + *update.nickname + "' exists");
    }
    user->nickname = *update.nickname;
  }
  if (update.scopes) {
    std::uint8_t scopes = static_cast<std::uint8_t>(*update.scopes & kScopeAll);
    if (!is_admin(scopes) && is_admin(user->scopes) && admin_count_without(user->uuid) == 0) {
      return Status::precondition_failed("user " + user->uuid + " is the last admin");
    }
    user->scopes = scopes;
  }
  return write_of(std::move(*user));
}

Result<ReservedWrite> Authority::prepare_delete_user(const Caller& caller, std::string_view uuid) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may delete users");
  auto user = state_.user(uuid);
  if (!user) return no_such("user", uuid);
  if (is_admin(user->scopes) && admin_count_without(user->uuid) == 0) {
    return Status::precondition_failed("user " + user->uuid + " is the last admin");
  }
  ReservedWrite write;
  write.path = user_key(user->uuid);
  write.deleted = true;
  return write;
}

Result<UserRecord> Authority::get_user(const Caller& caller, std::string_view uuid) const {
  bool self = !caller.trusted && !caller.user_uuid.empty() && caller.user_uuid == uuid;
  if (!may_administer(caller) && !self) return Status::permission_denied("only an admin may read other users");
  auto user = state_.user(uuid);
  if (!user) return no_such("user", uuid);
  return *user;
}

Status Authority::check_member_list(std::vector<std::string>& members) const {
  normalize_members(members);
  for (const auto& member : members) {
    if (!is_valid_record_id(member) || !state_.user(member)) {
      return Status::invalid_argument("unknown user " + member.substr(0, 200) + " in members");
    }
  }
  return Status::ok();
}

Result<GroupWrite> Authority::prepare_create_group(const Caller& caller, std::string_view name,
                                                   std::vector<std::string> members) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may create groups");
  if (!is_valid_name(name)) return bad_name("group name");
  auto checked = check_member_list(members);
  if (!checked.is_ok()) return checked;
  GroupRecord group;
  group.uuid = make_uuid_v4(random_);
  group.name = std::string(name);
  group.members = std::move(members);
  group.created_at_ms = clock_.now_ms();
  return write_of(std::move(group));
}

Result<GroupWrite> Authority::prepare_update_group(const Caller& caller, std::string_view uuid,
                                                   const GroupUpdate& update) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may change groups");
  auto group = state_.group(uuid);
  if (!group) return no_such("group", uuid);
  if (update.name) {
    if (!is_valid_name(*update.name)) return Status::invalid_argument("bad group name");
    group->name = *update.name;
  }
  if (update.members) {
    std::vector<std::string> members = *update.members;
    auto checked = check_member_list(members);
    if (!checked.is_ok()) return checked;
    group->members = std::move(members);
  }
  return write_of(std::move(*group));
}

Result<ReservedWrite> Authority::prepare_delete_group(const Caller& caller, std::string_view uuid) {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may delete groups");
  if (!state_.group(uuid)) return no_such("group", uuid);
  ReservedWrite write;
  write.path = group_key(uuid);
  write.deleted = true;
  return write;
}

Result<GroupRecord> Authority::get_group(const Caller& caller, std::string_view uuid) const {
  if (!may_administer(caller)) return Status::permission_denied("only an admin may read groups");
  auto group = state_.group(uuid);
  if (!group) return no_such("group", uuid);
  return *group;
}

// ---- Bootstrap -------------------------------------------------------------------------------

bool Authority::has_users() const { return state_.has_users(); }

UserWrite Authority::prepare_admin_user() {
  return write_of(make_user(make_uuid_v4(random_), kAdminNickname, kScopeAll, clock_.now_ms()));
}

Status Authority::write_admin_token_file(const std::filesystem::path& data_dir, std::string_view token) {
  return write_private_file(data_dir / std::string(kAdminTokenFileName), std::string(token) + "\n");
}

// ---- Key permissions -------------------------------------------------------------------------

bool Authority::is_member_for(const Caller& caller, const KeyMeta& meta) const {
  // Superusers never need the lookup; nor does a key without a group.
  if (caller.trusted || meta.group_uuid.empty() || caller.user_uuid.empty()) return false;
  return state_.is_member(meta.group_uuid, caller.user_uuid);
}

bool Authority::is_member(std::string_view group_uuid, std::string_view user_uuid) const {
  return state_.is_member(group_uuid, user_uuid);
}

Status Authority::check_read(const Caller& caller, std::string_view path, const KeyMeta& meta) const {
  if (is_superuser(caller)) return Status::ok();
  return may_read(caller, meta, is_member_for(caller, meta)) ? Status::ok() : denied("read", path);
}

Status Authority::check_replace(const Caller& caller, std::string_view path, const KeyMeta& meta) const {
  if (is_superuser(caller)) return Status::ok();
  return may_replace(caller, meta, is_member_for(caller, meta)) ? Status::ok() : denied("replace", path);
}

Status Authority::check_delete(const Caller& caller, std::string_view path, const KeyMeta& meta) const {
  if (is_superuser(caller)) return Status::ok();
  return may_delete(caller, meta, is_member_for(caller, meta)) ? Status::ok() : denied("delete", path);
}

Status Authority::check_create(const Caller& caller, std::string_view path, const KeyMeta* nearest_ancestor) const {
  if (is_superuser(caller)) return Status::ok();
  bool in_group = nearest_ancestor != nullptr && is_member_for(caller, *nearest_ancestor);
  return may_create(caller, nearest_ancestor, in_group) ? Status::ok() : denied("create", path);
}

Status Authority::check_read_meta(const Caller& caller, std::string_view path, const KeyMeta& meta) const {
  if (is_superuser(caller)) return Status::ok();
  return may_read_meta(caller, meta, is_member_for(caller, meta)) ? Status::ok() : denied("read meta of", path);
}

Status Authority::check_change_meta(const Caller& caller, std::string_view path, const KeyMeta& meta,
                                    const MetaUpdate& update) const {
  if (update.permissions && *update.permissions > 0xFFF) {
    return Status::invalid_argument("permissions must be 12 bits (0..0xFFF)");
  }
  if (update.owner_uuid && !update.owner_uuid->empty() && !is_valid_record_id(*update.owner_uuid)) {
    return Status::invalid_argument("malformed owner_uuid");
  }
  if (update.group_uuid && !update.group_uuid->empty() && !is_valid_record_id(*update.group_uuid)) {
    return Status::invalid_argument("malformed group_uuid");
  }
  if (!may_change_meta(caller, meta)) return denied("change meta of", path);
  if (caller.trusted) return Status::ok();  // the embedder may name users and groups not yet replicated here
  // An owner or group the key already has is no change: it is not checked again, so that the
  // meta a client read back can be written back (as Linux's chown accepts the current group).
  if (update.owner_uuid && !update.owner_uuid->empty() && *update.owner_uuid != meta.owner_uuid &&
      !state_.user(*update.owner_uuid)) {
    return Status::invalid_argument("unknown user " + *update.owner_uuid);
  }
  if (update.group_uuid && !update.group_uuid->empty() && *update.group_uuid != meta.group_uuid) {
    if (!state_.group(*update.group_uuid)) return Status::invalid_argument("unknown group " + *update.group_uuid);
    // As chgrp in POSIX: an owner may hand a key only to a group it belongs to.
    if (!is_superuser(caller) && !state_.is_member(*update.group_uuid, caller.user_uuid)) {
      return Status::permission_denied("not a member of group " + *update.group_uuid);
    }
  }
  return Status::ok();
}

bool Authority::can_read(const Caller& caller, const KeyMeta& meta) const {
  if (is_superuser(caller)) return true;
  return may_read(caller, meta, is_member_for(caller, meta));
}

Result<KeyMeta> Authority::meta_for_new_key(const Caller& caller, std::string_view group_header,
                                            std::uint16_t default_permissions) const {
  KeyMeta meta;
  meta.owner_uuid = caller.trusted ? std::string() : caller.user_uuid;
  meta.permissions = static_cast<std::uint16_t>(default_permissions & 0xFFF);
  std::string_view group = util::trim(group_header);
  if (!group.empty()) {
    if (!is_valid_record_id(group) || !state_.group(group)) {
      return Status::invalid_argument("unknown group " + std::string(group.substr(0, 200)));
    }
    if (!is_superuser(caller) && !state_.is_member(group, caller.user_uuid)) {
      return Status::permission_denied("not a member of group " + std::string(group));
    }
    meta.group_uuid = std::string(group);
  }
  return meta;
}

// ---- Cache -----------------------------------------------------------------------------------

Status Authority::apply(const Version& version) { return state_.apply(version, clock_.now_ms()); }

std::size_t Authority::forget_expired() { return state_.forget_expired(clock_.now_ms()); }

// ---- Peers -----------------------------------------------------------------------------------

SignedPeerRequest Authority::sign_peer_request(std::string_view method, std::string_view target,
                                               std::string_view body, std::string_view destination) const {
  std::uint64_t first = random_.next_u64();
  std::uint64_t second = random_.next_u64();
  SignedPeerRequest signed_request;
  signed_request.nonce = make_peer_nonce(first, second);
  signed_request.header =
      peer_signer_->sign(method, target, body, destination, clock_.now_ms(), signed_request.nonce);
  return signed_request;
}

Status Authority::verify_peer_request(std::string_view header_value, std::string_view method,
                                      std::string_view target, std::string_view body, std::string_view self) {
  return peer_signer_->verify(header_value, method, target, body, self, clock_.now_ms());
}

std::string Authority::sign_peer_answer(std::string_view nonce, long status, std::string_view responder,
                                        std::string_view body) const {
  return peer_signer_->sign_answer(nonce, status, responder, body);
}

Status Authority::verify_peer_answer(std::string_view header_value, std::string_view nonce, long status,
                                     std::string_view responder, std::string_view body) const {
  return peer_signer_->verify_answer(header_value, nonce, status, responder, body);
}

}  // namespace kvs::auth
