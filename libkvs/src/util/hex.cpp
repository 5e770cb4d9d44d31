#include "util/hex.hpp"

namespace kvs::util {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

// The value of one hex digit, or -1.
int nibble(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte that hex[2i], hex[2i+1] spell, or -1.
int byte_at(std::string_view hex, std::size_t i) noexcept {
  const int high = nibble(hex[2 * i]);
  const int low = nibble(hex[2 * i + 1]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xF]);
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  if (!from_hex(hex, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()))) return std::nullopt;
  return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept {
  if (hex.size() != 2 * out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int byte = byte_at(hex, i);
    if (byte < 0) return false;
    out[i] = static_cast<std::uint8_t>(byte);
  }
  return true;
}

}  // namespace kvs::util
