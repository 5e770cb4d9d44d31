#pragma once

// JSON Web Tokens, HS256 only (RFC 7519, RFC 7515 compact form): the bearer tokens of kvs.
// A token is base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256(key, first two
// parts)), with
//   header  = {"alg":"HS256","typ":"JWT"}
//   payload = {"sub":<user uuid>,"scopes":["read",...],"iat":<s>,"exp":<s>,"jti":<uuid>}
// (times in whole seconds since the epoch, as the standard has it). Any standard JWT library
// given the signing key verifies these tokens, and kvs verifies theirs.
//
// Pure functions of their arguments; safe from any thread. Revocation and user checks are not
// done here: see AuthState and Authority.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.hpp"
#include "kvs/status.hpp"

namespace kvs::auth {

// Longer tokens are refused before any parsing: a bearer token of kvs is a few hundred bytes.
inline constexpr std::size_t kMaxTokenBytes = 8192;

struct TokenClaims {
  std::string subject;                       // sub: the user's uuid
  std::uint8_t scopes = 0;                   // Scope bits; "scopes" in the payload
  std::int64_t issued_at_s = 0;              // iat, seconds since the epoch
  std::int64_t expires_at_s = 0;             // exp, seconds since the epoch
  std::string token_id;                      // jti: a random uuid, the handle for revocation
  std::optional<std::int64_t> not_before_s;  // nbf, seconds; honoured when present

  std::int64_t expires_at_ms() const noexcept { return expires_at_s * 1000; }

  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

// The compact token for `claims`, signed with `key`. Requires: subject and token_id are valid
// UTF-8 (they are uuids in practice).
std::string mint_jwt(const TokenClaims& claims, const Key& key);

// The claims of `token` when it is well formed, signed with `key`, and valid at `now_ms`.
// Fails with kUnauthenticated and a reason for the client ("token expired", "token signature
// does not match", ...) when:
//   - the token is empty, longer than kMaxTokenBytes, or not exactly three non-empty
//     dot-separated segments;
//   - a segment is not canonical unpadded base64url, or the header or payload is not a JSON
//     object;
//   - the header's "alg" is missing, repeated or anything but "HS256" ("none" included), its
//     "typ" is present and not "JWT", or it has "crit" (no extension is understood);
//   - the signature is not the 32-byte HMAC-SHA256 of the first two segments (compared in
//     constant time, before the payload is parsed);
//   - "sub" or "jti" is missing or not a non-empty string; "iat" or "exp" is missing or not a
//     number; "nbf" is present and not a number; "scopes" is missing, not an array of
//     strings, or names an unknown scope; a claim appears twice;
//   - exp * 1000 <= now_ms (expired), or nbf * 1000 > now_ms (not yet valid).
// Never throws and never reads past `token`, whatever it holds.
Result<TokenClaims> verify_jwt(std::string_view token, const Key& key, std::int64_t now_ms);

// The two halves of verify_jwt, for callers that cache verified tokens (a token's signature and
// claims never change, but whether it is still valid does):
//   verify_jwt_signature: every check above except the time checks;
//   check_token_time:     the last bullet (exp, nbf) for `claims` at `now_ms`.
Result<TokenClaims> verify_jwt_signature(std::string_view token, const Key& key);
Status check_token_time(const TokenClaims& claims, std::int64_t now_ms);

}  // namespace kvs::auth
