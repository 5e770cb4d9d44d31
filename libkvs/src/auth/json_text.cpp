#include "auth/json_text.hpp"

#include <cmath>

#include "util/json_writer.hpp"

namespace kvs::auth {

bool is_clean_text(std::string_view text) noexcept {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return false;
  }
  return util::is_valid_utf8(text);
}

simdjson::simdjson_result<simdjson::dom::element> parse_json(std::string_view json) noexcept {
  // One parser per thread: a simdjson parser keeps its buffers between documents and must not
  // be shared between threads.
  thread_local simdjson::dom::parser parser;
  try {
    return parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true);
  } catch (...) {
    // Allocation failure inside simdjson: report it as any other parse failure.
    return simdjson::MEMALLOC;
  }
}

std::optional<std::int64_t> json_seconds(simdjson::dom::element element) noexcept {
  auto clamp = [](long double value) -> std::int64_t {
    if (value > static_cast<long double>(kMaxSeconds)) return kMaxSeconds;
    if (value < -static_cast<long double>(kMaxSeconds)) return -kMaxSeconds;
    return static_cast<std::int64_t>(value);
  };
  switch (element.type()) {
    case simdjson::dom::element_type::INT64: {
      std::int64_t value = element.get_int64().value_unsafe();
      return clamp(static_cast<long double>(value));
    }
    case simdjson::dom::element_type::UINT64:
      return kMaxSeconds;  // above INT64_MAX
    case simdjson::dom::element_type::DOUBLE: {
      double value = element.get_double().value_unsafe();
      if (!std::isfinite(value)) return std::nullopt;
      return clamp(std::trunc(static_cast<long double>(value)));
    }
    default:
      return std::nullopt;
  }
}

}  // namespace kvs::auth
