#pragma once

// Who may do what (SPEC section 2, "Authentication"): the token scopes, the Caller a call is made
// for, and the users, groups and tokens that kvs::Node's auth calls create and return. These are
// plain values: the Node owns the real users and groups, and hands out copies. Every type may be
// read from many threads at once (const use); none is tied to a Node.
//
// A Caller reaches every checked Node call the same way: as the `caller` member, the first, of
// the options struct that is the call's last parameter (PutOptions, CallOptions, AuditQuery, ...,
// kvs/types.hpp). Left at its default it is Caller::local(), the embedding application, which
// is never checked.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/export.hpp"

namespace kvs {

// Token scopes, as bits.
enum Scope : std::uint8_t { kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4 };

// Who makes a call. The default is the embedding application itself, which may do anything;
// a REST request is made on behalf of the user its token names.
struct Caller {
  bool trusted{true};           // true: the local application; no checks
  std::string user_uuid;        // the token's `sub`
  std::uint8_t scopes{0};       // Scope bits of the token
  std::string token_id;         // the token's `jti`

  static Caller local() { return Caller{}; }
};

// A user (SPEC: /auth/users). Its tokens carry a subset of its scopes.
struct User {
  std::string uuid;
  std::string nickname;
  std::uint8_t scopes = 0;                    // Scope bits
  std::int64_t created_at_ms = 0;
};

// Changes to a user; absent members stay as they are.
struct UserChange {
  std::optional<std::string> nickname;
  std::optional<std::uint8_t> scopes;
};

struct Group {
  std::string uuid;
  std::string name;
  std::vector<std::string> members;           // user uuids, sorted
  std::int64_t created_at_ms = 0;
};

struct GroupChange {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> members;
};

// A minted token (SPEC: POST /auth/tokens).
struct Token {
  std::string token;                          // the compact JWT
  std::string token_id;                       // its jti
  std::int64_t expires_at_ms = 0;
};

// Scope names as tokens and the REST interface spell them: "read", "write", "admin".
// nullopt for an unknown name (names are case-sensitive).
KVS_EXPORT std::optional<std::uint8_t> scope_from_name(std::string_view name) noexcept;
// The names of the bits set in `scopes`, in the order read, write, admin.
KVS_EXPORT std::vector<std::string_view> scope_names(std::uint8_t scopes);

}  // namespace kvs
