#pragma once

// Request targets: strict percent-decoding of the path and the query string. httplib decodes
// the path leniently (a stray '%' passes through), so kvs parses the raw target itself and
// answers a bad escape with 400.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::server {

// One query parameter; `value` is absent for a bare name (`?history`).
struct QueryParam {
  std::string name;
  std::optional<std::string> value;
};

struct Target {
  std::string path;                 // percent-decoded
  std::vector<QueryParam> query;    // percent-decoded, in order

  bool has(std::string_view name) const;
  // The first parameter named `name`; nullptr when absent.
  const QueryParam* find(std::string_view name) const;
};

// Decodes %XX escapes. With `plus_is_space` (query strings), '+' decodes to ' '.
// kInvalidArgument for a '%' not followed by two hex digits, or a result that is not UTF-8.
Result<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Splits and decodes a raw request target ("/kv/a%20b?ttl=1s&history").
Result<Target> parse_target(std::string_view raw);

// A query parameter's value as an integer in [min, max]. kInvalidArgument naming `name` and
// the range otherwise.
Result<std::uint64_t> parse_unsigned(std::string_view text, std::string_view name, std::uint64_t min,
                                     std::uint64_t max);

// A boolean query flag: absent -> false; bare, "true" or "1" -> true; "false" or "0" -> false;
// anything else kInvalidArgument naming the flag.
Result<bool> query_flag(const Target& target, std::string_view name);

// True when `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

}  // namespace kvs::server
