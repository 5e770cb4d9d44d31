#include "util/json.hpp"

#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace kvs::util {
namespace {

// True when `t` matches the JSON number grammar (RFC 8259 section 6).
bool is_json_number(std::string_view t) {
  std::size_t i = 0;
  auto digit = [&](std::size_t k) { return k < t.size() && t[k] >= '0' && t[k] <= '9'; };
  if (i < t.size() && t[i] == '-') ++i;
  if (!digit(i)) return false;
  if (t[i] == '0') ++i; else while (digit(i)) ++i;
  if (i < t.size() && t[i] == '.') { ++i; if (!digit(i)) return false; while (digit(i)) ++i; }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == t.size();
}

// simdjson refuses numbers beyond 64 bits, which JSON allows. Replaces every number token
// outside strings with 0 after checking its grammar; nullopt when a token is malformed.
std::optional<std::string> without_big_numbers(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (std::size_t i = 0; i < json.size();) {
    char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) { out.push_back(json[i + 1]); i += 2; continue; }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') { in_string = true; out.push_back(c); ++i; continue; }
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t j = i;
      while (j < json.size() && (json[j] == '-' || json[j] == '+' || json[j] == '.' || json[j] == 'e' ||
                                 json[j] == 'E' || (json[j] >= '0' && json[j] <= '9')))
        ++j;
      if (!is_json_number(json.substr(i, j - i))) return std::nullopt;
      out.push_back('0');
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

Status validate_json(std::string_view json) {
  // One parser per thread: simdjson parsers keep their buffers between documents, and a
  // parser must not be shared between threads.
  thread_local simdjson::dom::parser parser;
  if (json.empty()) return Status::invalid_argument("the body is empty; expected a JSON document");
  auto result = parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true);
  if (result.error() == simdjson::NUMBER_ERROR) {
    auto small = without_big_numbers(json);
    if (small) result = parser.parse(small->data(), small->size(), /*realloc_if_needed=*/true);
  }
  if (result.error() != simdjson::SUCCESS) {
    return Status::invalid_argument(std::string("invalid JSON: ") + simdjson::error_message(result.error()));
  }
  return Status::ok();
}

}  // namespace kvs::util
