#include "util/key.hpp"

#include <array>
#include <cstdint>
#include <utility>

namespace kvs::util {

Result<std::string> normalize_key(std::string_view raw, bool allow_reserved) {
  std::string_view key = raw;
  while (!key.empty() && key.front() == '/') key.remove_prefix(1);
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  if (key.empty()) return Status::invalid_argument("key is empty");
  if (key.size() > kMaxKeyBytes) {
    return Status::invalid_argument("key is " + std::to_string(key.size()) + " bytes; the limit is " +
                                    std::to_string(kMaxKeyBytes));
  }
  for (char c : key) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return Status::invalid_argument("key contains a control character");
  }
  std::size_t start = 0;
  bool first = true;
  while (start <= key.size()) {
    std::size_t slash = key.find('/', start);
    std::string_view segment = key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return Status::invalid_argument("key '" + std::string(key) + "' has an empty segment");
    if (segment == "." || segment == "..") {
      return Status::invalid_argument("key '" + std::string(key) + "' has a '" + std::string(segment) + "' segment");
    }
    if (first && !allow_reserved && is_reserved_path(segment)) {
      return Status::invalid_argument("key '" + std::string(key) +
                                      "': a first segment starting with '_' is reserved");
    }
    first = false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::string(key);
}

namespace {

// What is_normal_key makes of each byte: most bytes it passes over; a control character ends
// the check; a '/' ends a segment, which is then checked.
enum ByteClass : std::uint8_t { kPlain, kControl, kSlash };
constexpr std::array<std::uint8_t, 256> kByteClasses = [] {
  std::array<std::uint8_t, 256> classes{};
  for (std::size_t byte = 0; byte < 0x20; ++byte) classes[byte] = kControl;
  classes[0x7F] = kControl;
  classes[static_cast<unsigned char>('/')] = kSlash;
  return classes;
}();

// A segment that normalize_key refuses: empty, "." or "..".
bool is_bad_segment(std::string_view segment) noexcept {
  return segment.empty() || segment == "." || segment == "..";
}

}  // namespace

// One pass over the bytes, checking the same rules as normalize_key: every get runs it, so each
// byte costs one table lookup, and a segment is checked only where it ends. A leading or
// trailing '/' shows up as an empty first or last segment.
bool is_normal_key(std::string_view key, bool allow_reserved) noexcept {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  if (!allow_reserved && is_reserved_path(key)) return false;
  std::size_t segment_start = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const std::uint8_t byte_class = kByteClasses[static_cast<unsigned char>(key[i])];
    if (byte_class == kPlain) continue;
    if (byte_class == kControl) return false;
    if (is_bad_segment(key.substr(segment_start, i - segment_start))) return false;
    segment_start = i + 1;
  }
  return !is_bad_segment(key.substr(segment_start));
}

Result<std::string_view> normalize_key_view(std::string_view raw, bool allow_reserved, std::string& scratch) {
  if (is_normal_key(raw, allow_reserved)) return raw;
  auto normalized = normalize_key(raw, allow_reserved);
  if (!normalized.is_ok()) return normalized.status();
  scratch = std::move(*normalized);
  return std::string_view(scratch);
}

}  // namespace kvs::util
