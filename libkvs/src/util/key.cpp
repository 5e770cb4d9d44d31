#include "util/key.hpp"

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

// One pass over the bytes, checking the same rules as normalize_key: every get runs it, so it
// looks at each byte once and tests segments only where one starts (after a '/', or at the
// start: `previous` begins as a virtual '/'). A leading or trailing '/' shows up as an empty
// first or last segment.
bool is_normal_key(std::string_view key, bool allow_reserved) noexcept {
  if (key.empty() || key.size() > kMaxKeyBytes || key.back() == '/') return false;
  if (!allow_reserved && is_reserved_path(key)) return false;
  const std::size_t size = key.size();
  char previous = '/';
  for (std::size_t i = 0; i < size; ++i) {
    const char c = key[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return false;
    if (previous == '/') {
      if (c == '/') return false;  // an empty segment
      if (c == '.') {
        // "." or "..": a segment of dots that ends at the next '/' or the end.
        const std::size_t dots = (i + 1 < size && key[i + 1] == '.') ? 2 : 1;
        if (i + dots == size || key[i + dots] == '/') return false;
      }
    }
    previous = c;
  }
  return true;
}

Result<std::string_view> normalize_key_view(std::string_view raw, bool allow_reserved, std::string& scratch) {
  if (is_normal_key(raw, allow_reserved)) return raw;
  auto normalized = normalize_key(raw, allow_reserved);
  if (!normalized.is_ok()) return normalized.status();
  scratch = std::move(*normalized);
  return std::string_view(scratch);
}

}  // namespace kvs::util
