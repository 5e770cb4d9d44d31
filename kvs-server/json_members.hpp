#pragma once

// Splits a JSON object into its top-level members, each with the exact text of its value.
// Used where a member's value must be kept byte for byte (the "data" of a PUT envelope or an
// import line) and where a value may hold numbers that do not fit 64 bits, which simdjson's
// DOM parser rejects: only the members the caller decodes are parsed as values.

#include <string>
#include <string_view>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::server {

// `text` without leading and trailing JSON white space (space, tab, CR, LF).
std::string_view trim(std::string_view text);

struct JsonMember {
  std::string key;       // unescaped
  std::string raw;       // the value's JSON text as it appears in the input (trimmed)
};

// kInvalidArgument when `text` is not a JSON object (structurally); member values are not
// validated here beyond their extent: validate them with validate_json or decode them with
// the functions below.
Result<std::vector<JsonMember>> split_object(std::string_view text);

// Decoding one member's raw value.
Result<std::string> decode_string(const JsonMember& member);
Result<std::int64_t> decode_int(const JsonMember& member);
Result<bool> decode_bool(const JsonMember& member);
bool is_null(const JsonMember& member);

}  // namespace kvs::server
