#include "auth/permissions.hpp"

#include "auth/scopes.hpp"

namespace kvs::auth {
namespace {

bool has_scope(const Caller& caller, std::uint8_t scope) noexcept { return (caller.scopes & scope) != 0; }

bool is_owner(const Caller& caller, const KeyMeta& meta) noexcept {
  return !meta.owner_uuid.empty() && caller.user_uuid == meta.owner_uuid;
}

// The common shape of read/replace/delete: bypass, else scope and bit.
bool allowed(const Caller& caller, const KeyMeta& meta, bool caller_in_group, std::uint8_t scope,
             std::uint8_t bit) noexcept {
  if (is_superuser(caller)) return true;
  if (!has_scope(caller, scope)) return false;
  return (applicable_bits(caller, meta, caller_in_group) & bit) != 0;
}

}  // namespace

std::uint8_t applicable_bits(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept {
  int shift = 0;  // others
  if (is_owner(caller, meta)) {
    shift = 8;
  } else if (caller_in_group && !meta.group_uuid.empty()) {
    shift = 4;
  }
  return static_cast<std::uint8_t>((meta.permissions >> shift) & 0xF);
}

bool may_read(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept {
  return allowed(caller, meta, caller_in_group, kScopeRead, kPermRead);
}

bool may_replace(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept {
  return allowed(caller, meta, caller_in_group, kScopeWrite, kPermWrite);
}

bool may_delete(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept {
  return allowed(caller, meta, caller_in_group, kScopeWrite, kPermDelete);
}

bool may_create(const Caller& caller, const KeyMeta* nearest_ancestor, bool caller_in_group) noexcept {
  if (is_superuser(caller)) return true;
  if (!has_scope(caller, kScopeWrite)) return false;
  if (nearest_ancestor == nullptr) return true;  // SPEC: only the write scope when no ancestor exists
  return (applicable_bits(caller, *nearest_ancestor, caller_in_group) & kPermCreate) != 0;
}

bool may_create_above(const Caller& caller, const KeyMeta& descendant) noexcept {
  return is_superuser(caller) || is_owner(caller, descendant);
}

bool may_read_meta(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept {
  if (is_superuser(caller)) return true;
  if (!has_scope(caller, kScopeRead)) return false;
  return is_owner(caller, meta) || (applicable_bits(caller, meta, caller_in_group) & kPermRead) != 0;
}

bool may_change_meta(const Caller& caller, const KeyMeta& meta) noexcept {
  if (is_superuser(caller)) return true;
  return has_scope(caller, kScopeWrite) && is_owner(caller, meta);
}

bool may_administer(const Caller& caller) noexcept { return is_superuser(caller); }

bool may_revoke(const Caller& caller, std::string_view token_id) noexcept {
  if (is_superuser(caller)) return true;
  return !caller.token_id.empty() && caller.token_id == token_id;
}

Status check_mint(const Caller& caller, std::string_view user_uuid, std::uint8_t requested,
                  std::uint8_t user_scopes) {
  if (requested == 0) return Status::invalid_argument("a token needs at least one scope");
  bool for_self = !caller.trusted && !caller.user_uuid.empty() && caller.user_uuid == user_uuid;
  if (!is_superuser(caller)) {
    if (!for_self) return Status::permission_denied("only an admin may mint tokens for another user");
    if (!is_scope_subset(requested, caller.scopes)) {
      return Status::permission_denied("a token minted for oneself may carry only scopes of the calling token");
    }
  }
  if (!is_scope_subset(requested, user_scopes)) {
    return Status::invalid_argument("user " + std::string(user_uuid) + " does not hold every requested scope");
  }
  return Status::ok();
}

std::vector<std::string> ancestors(std::string_view path) {
  std::vector<std::string> out;
  auto slash = path.rfind('/');
  while (slash != std::string_view::npos && slash > 0) {
    path = path.substr(0, slash);
    out.emplace_back(path);
    slash = path.rfind('/');
  }
  return out;
}

}  // namespace kvs::auth
