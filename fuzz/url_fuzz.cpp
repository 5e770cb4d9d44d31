// Fuzzes request-target parsing (kvs-server/url.*) and the key normalisation a /kv/ path goes
// through next (kvs::normalize_key). Properties:
//   - every decoded path, parameter name and value is valid UTF-8;
//   - re-encoding the parsed target (every byte escaped) parses back to the same path and
//     parameters, in order;
//   - percent_decode of a fully escaped string gives the string back;
//   - parse_unsigned accepts exactly the decimal numbers in [min, max], and gives their value;
//   - a key that normalises is stable: normalising it again changes nothing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "kvs/node.hpp"
#include "url.hpp"

using namespace kvs::server;

namespace {

std::string escape_all(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

void check_unsigned(std::string_view text) {
  auto parsed = parse_unsigned(text, "n", 3, 10'000);
  bool digits = !text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits) {
    KVS_FUZZ_CHECK(!parsed.is_ok());
    return;
  }
  std::uint64_t value = std::stoull(std::string(text));
  KVS_FUZZ_CHECK(parsed.is_ok() == (value >= 3 && value <= 10'000));
  if (parsed.is_ok()) KVS_FUZZ_CHECK(*parsed == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);

  auto target = parse_target(raw);
  if (target.is_ok()) {
    KVS_FUZZ_CHECK(is_valid_utf8(target->path));
    std::string rebuilt = escape_all(target->path);
    for (std::size_t i = 0; i < target->query.size(); ++i) {
      const auto& param = target->query[i];
      KVS_FUZZ_CHECK(is_valid_utf8(param.name));
      if (param.value) KVS_FUZZ_CHECK(is_valid_utf8(*param.value));
      rebuilt += (i == 0 ? "?" : "&") + escape_all(param.name);
      if (param.value) rebuilt += "=" + escape_all(*param.value);
    }
    auto again = parse_target(rebuilt);
    KVS_FUZZ_CHECK(again.is_ok());
    KVS_FUZZ_CHECK(again->path == target->path);
    // An empty bare name (from "&&" or "?=") is dropped or kept the same way both times; compare
    // the parameters that carry something.
    std::size_t j = 0;
    for (const auto& param : target->query) {
      if (param.name.empty() && !param.value) continue;
      while (j < again->query.size() && again->query[j].name.empty() && !again->query[j].value) ++j;
      KVS_FUZZ_CHECK(j < again->query.size());
      KVS_FUZZ_CHECK(again->query[j].name == param.name && again->query[j].value == param.value);
      ++j;
    }

    if (target->path.rfind("/kv/", 0) == 0) {
      auto key = kvs::normalize_key(std::string_view(target->path).substr(4));
      if (key.is_ok()) {
        auto stable = kvs::normalize_key(*key);
        KVS_FUZZ_CHECK(stable.is_ok() && *stable == *key);
      }
    }
  }

  auto decoded = percent_decode(raw, true);
  if (decoded.is_ok()) {
    KVS_FUZZ_CHECK(is_valid_utf8(*decoded));
    auto round = percent_decode(escape_all(*decoded), false);
    KVS_FUZZ_CHECK(round.is_ok() && *round == *decoded);
  }
  check_unsigned(raw.substr(0, 24));
  return 0;
}
