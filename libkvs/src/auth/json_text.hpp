#pragma once

// Small helpers for the JSON that auth reads (with simdjson): token payloads, reserved-key
// records. Strings are written with util/json_writer.hpp. Pure; safe from any thread (each
// thread parses with its own parser).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace kvs::auth {

// True when `text` is valid UTF-8 and holds no control character (U+0000..U+001F, U+007F).
bool is_clean_text(std::string_view text) noexcept;

// Parses `json` with this thread's parser. The element stays valid until the next call on the
// same thread. Never throws: a malformed document (or an allocation failure) is an error code.
simdjson::simdjson_result<simdjson::dom::element> parse_json(std::string_view json) noexcept;

// A JSON number as whole seconds (NumericDate, RFC 7519): an integer, or a finite double
// truncated toward zero. Clamped to +-kMaxSeconds so that seconds * 1000 cannot overflow.
// nullopt for anything that is not a number.
inline constexpr std::int64_t kMaxSeconds = INT64_MAX / 1000 - 1;
std::optional<std::int64_t> json_seconds(simdjson::dom::element element) noexcept;

}  // namespace kvs::auth
