#pragma once

// base64url (RFC 4648 section 5) without padding, as JWTs (RFC 7515) and the peer signature
// header use it. Pure functions, no allocation beyond the result; safe from any thread.
//
// Decoding is strict so that every byte string has exactly one accepted text form: '=' and any
// character outside [A-Za-z0-9_-] are rejected, a length of 1 modulo 4 is rejected, and the
// unused low bits of the last character must be zero. Without the last rule, "...A" and "...B"
// could decode to the same signature, and a tampered token would still verify.

#include <optional>
#include <string>
#include <string_view>

namespace kvs::auth {

// The unpadded base64url text of `bytes`.
std::string base64url_encode(std::string_view bytes);

// The bytes `text` encodes; nullopt when `text` is not canonical unpadded base64url.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace kvs::auth
