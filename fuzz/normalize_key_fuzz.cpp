// Fuzzes kvs::normalize_key, the gate every key passes before it reaches storage. Beyond the
// sanitizers' checks it asserts what callers rely on: an accepted key is non-empty, at most
// 1024 bytes, has no leading or trailing '/', no empty, "." or ".." segment, no control
// character, and normalises to itself; a key accepted without reserved names is accepted, the
// same, with them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kvs/node.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_accepted(const std::string& key, bool allow_reserved) {
  require(!key.empty() && key.size() <= 1024);
  require(key.front() != '/' && key.back() != '/');
  require(key.find("//") == std::string::npos);
  for (char c : key) {
    auto byte = static_cast<unsigned char>(c);
    require(byte >= 0x20 && byte != 0x7F);
  }
  std::string_view rest = key;
  for (;;) {
    std::size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    require(segment != "." && segment != "..");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (!allow_reserved) require(key.front() != '_');
  auto again = kvs::normalize_key(key, allow_reserved);
  require(again.is_ok() && *again == key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto plain = kvs::normalize_key(raw);
  auto reserved = kvs::normalize_key(raw, /*allow_reserved=*/true);
  if (plain.is_ok()) {
    check_accepted(*plain, false);
    require(reserved.is_ok() && *reserved == *plain);
  }
  if (reserved.is_ok()) check_accepted(*reserved, true);
  return 0;
}
