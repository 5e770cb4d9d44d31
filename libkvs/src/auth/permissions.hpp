#pragma once

// Who may do what: the permission rules of SPEC section 2 as pure functions of the caller, the
// key's metadata and the caller's membership of the key's group. No lookups, no locks: the
// caller (Authority, for Node) gathers the facts and these functions decide. Safe from any
// thread.
//
// Permission bits (12): owner nibble 11-8, group 7-4, others 3-0; in each nibble
//   create = 8, delete = 4, write = 2, read = 1.
// The nibble that applies is chosen as in POSIX, first match only:
//   the caller's user is the key's owner (owner_uuid non-empty and equal) -> owner nibble;
//   else the caller is a member of the key's group (group_uuid non-empty) -> group nibble;
//   else                                                                 -> others nibble.
// So an owner without a bit is not rescued by the group or others nibble (0x0F1: everyone but
// the owner may read). A key with no owner (written with auth off, or a system key) has only
// group and others.
//
// Decision table (trusted = the embedding application, Caller::local()):
//   operation            trusted  admin scope  otherwise: scope needed AND bit needed
//   read (get, range,    yes      yes          read   AND R in the applicable nibble
//     history)
//   replace (put on a    yes      yes          write  AND W
//     live key)
//   delete               yes      yes          write  AND D
//   create (put on an    yes      yes          write  AND C in the nibble that applies to the
//     absent key)                                     caller on the NEAREST EXISTING ANCESTOR
//                                                     key's meta; no ancestor: write alone;
//                                                     AND no live descendant key owned by
//                                                     anyone but the caller (may_create_above)
//   read meta (?meta)    yes      yes          read   AND (owner OR R)
//   change meta          yes      yes          write  AND owner
//   users, groups,       yes      yes          never
//     others' tokens
//   mint for oneself     yes      yes          requested scopes a non-empty subset of the
//                                              caller's token scopes (which authenticate
//                                              already bounds by the user's own)
//   revoke a token       yes      yes          only the caller's own token (jti == token_id)
// Admin implies every scope. "Absent" includes deleted and expired keys, so re-creating a
// deleted key is a create, not a replace.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scopes.hpp"
#include "kvs/node.hpp"
#include "kvs/status.hpp"

namespace kvs::auth {

enum PermissionBit : std::uint8_t { kPermRead = 1, kPermWrite = 2, kPermDelete = 4, kPermCreate = 8 };

// The nibble of `meta.permissions` that applies to `caller` (see the header comment).
// `caller_in_group`: the caller's user is a member of meta.group_uuid.
std::uint8_t applicable_bits(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept;

// True when `caller` bypasses every check: trusted, or holding the admin scope.
inline bool is_superuser(const Caller& caller) noexcept { return caller.trusted || is_admin(caller.scopes); }

bool may_read(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept;
bool may_replace(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept;
bool may_delete(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept;
// `nearest_ancestor`: the meta of the nearest live ancestor key, or nullptr when none exists;
// `caller_in_group`: membership of that ancestor's group.
bool may_create(const Caller& caller, const KeyMeta* nearest_ancestor, bool caller_in_group) noexcept;
// Whether `caller` may create a key that has a live descendant with meta `descendant`: SPEC,
// "creating a key that has live descendants owned by another user needs admin", so that no one
// claims the parent of someone else's subtree (its C bit would decide who creates beneath).
// A descendant without an owner (written with auth off, or by the embedding application)
// counts as another user's: no user may claim the parent of keys that belong to no one.
bool may_create_above(const Caller& caller, const KeyMeta& descendant) noexcept;
bool may_read_meta(const Caller& caller, const KeyMeta& meta, bool caller_in_group) noexcept;
bool may_change_meta(const Caller& caller, const KeyMeta& meta) noexcept;
// User and group management, and tokens for other users.
bool may_administer(const Caller& caller) noexcept;
bool may_revoke(const Caller& caller, std::string_view token_id) noexcept;

// Whether `caller` may mint a token for `user_uuid` with `requested` scopes, given that
// user's current scopes (`user_scopes`). ok, or:
//   kInvalidArgument  requested is empty, or not a subset of the user's scopes (so no one,
//                     admins included, can mint a token that authenticate would refuse);
//   kPermissionDenied another user's token without admin, or scopes beyond the caller's own.
Status check_mint(const Caller& caller, std::string_view user_uuid, std::uint8_t requested,
                  std::uint8_t user_scopes);

// The ancestors of a normalised key, nearest first: "a/b/c" -> {"a/b", "a"}. Node looks them
// up in this order to find the nearest existing one for `may_create`.
std::vector<std::string> ancestors(std::string_view path);

}  // namespace kvs::auth
