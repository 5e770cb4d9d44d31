#include "util/key.hpp"

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

}  // namespace kvs::util
