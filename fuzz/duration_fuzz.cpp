// Fuzzes kvs::parse_duration (libkvs/src/config/duration.cpp), the Go-style durations of TTLs
// and config keys. Properties:
//   - an accepted duration is never negative;
//   - its value written back in milliseconds ("<n>ms") parses to the same value, and so does
//     the text with a leading '+';
//   - a text without any digit is refused.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "kvs/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = kvs::parse_duration(text);
  if (text.find_first_of("0123456789") == std::string_view::npos) KVS_FUZZ_CHECK(!parsed.is_ok());
  if (!parsed.is_ok()) return 0;
  KVS_FUZZ_CHECK(parsed->count() >= 0);
  auto in_ms = kvs::parse_duration(std::to_string(parsed->count()) + "ms");
  KVS_FUZZ_CHECK(in_ms.is_ok() && *in_ms == *parsed);
  if (!text.empty() && text.front() != '+' && text.front() != '-') {
    auto plus = kvs::parse_duration("+" + std::string(text));
    KVS_FUZZ_CHECK(plus.is_ok() && *plus == *parsed);
  }
  return 0;
}
