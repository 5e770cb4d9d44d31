#pragma once

// The one JSON string writer of libkvs. Every JSON text that kvs writes by hand (error
// messages, token payloads, reserved-key records, peer messages, sync bodies) quotes its
// strings here, so they all follow one policy:
//   - valid UTF-8 passes through unchanged;
//   - each byte that does not begin or continue a valid UTF-8 sequence (a stray continuation
//     byte, a truncated or overlong sequence, a surrogate, a code point above U+10FFFF, the
//     bytes 0xC0, 0xC1, 0xF5..0xFF) becomes U+FFFD, so the output is valid JSON whatever
//     bytes the input holds;
//   - '"' and '\\' are escaped, and so is every control character: \b \f \n \r \t by name,
//     the others (U+0000..U+001F, U+007F) as \u00XX with lower-case hex.
// Pure functions; safe from any thread.

#include <string>
#include <string_view>

namespace kvs::util {

// Appends `text` as a JSON string literal, quotes included (see the policy above).
void append_json_string(std::string& out, std::string_view text);

// `text` as a JSON string literal, quotes included.
std::string json_string(std::string_view text);

// True when `text` is valid UTF-8 by the rule above (no overlong form, surrogate or code
// point above U+10FFFF). Control characters are valid UTF-8.
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace kvs::util
