#pragma once

// Small text helpers shared by the parsers of headers, scope lists and secret files. Header-only
// and pure: safe from any thread.

#include <string_view>

namespace kvs::util {

// HTTP's optional white space (RFC 9110 OWS): the blanks around a header value or a list item.
inline constexpr std::string_view kBlanks = " \t";
// Blanks and line ends: what surrounds a value read from a file.
inline constexpr std::string_view kBlanksAndNewlines = " \t\r\n";

// `text` without the leading and trailing characters found in `strip`.
constexpr std::string_view trim(std::string_view text, std::string_view strip = kBlanks) noexcept {
  const auto first = text.find_first_not_of(strip);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(strip) - first + 1);
}

}  // namespace kvs::util
