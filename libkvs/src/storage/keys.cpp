#include "storage/keys.hpp"

#include <algorithm>
#include <array>

#include <sodium.h>

namespace kvs::storage::keys {
namespace {

constexpr std::int64_t kMaxIndexedTimestamp = 9'999'999'999'999;  // 13 digits
constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;

}  // namespace

void append_be64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

std::uint64_t read_be64(std::string_view bytes) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

std::string path_key(std::string_view path) {
  if (path.size() <= kMaxInlinePath) return std::string(path);
  // A cryptographic hash, so that nobody can craft a second long path that lands on the
  // key of someone else's document.
  // sodium_init picks the fastest implementation; it is idempotent and thread-safe, and a
  // function-local static runs it once.
  [[maybe_unused]] static const bool initialised = sodium_init() >= 0;
  std::array<unsigned char, kPathHashBytes> hash{};
  crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const unsigned char*>(path.data()), path.size(),
                     nullptr, 0);
  std::string key(path.substr(0, kMaxInlinePath));
  key.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return key;
}

std::string revision_prefix(std::string_view path_key) {
  std::string prefix;
  prefix.reserve(path_key.size() + 1);
  prefix.append(path_key);
  prefix.push_back('\0');
  return prefix;
}

std::string revision_key(std::string_view path_key, std::uint64_t revision) {
  std::string key = revision_prefix(path_key);
  append_be64(key, revision);
  return key;
}

bool is_revision_of(std::string_view key, std::string_view prefix) noexcept {
  return key.size() == prefix.size() + 8 && key.substr(0, prefix.size()) == prefix;
}

std::uint64_t revision_number(std::string_view key) noexcept { return read_be64(key.substr(key.size() - 8)); }

std::string expiry_seek(std::int64_t expires_at_ms) {
  std::string key;
  append_be64(key, static_cast<std::uint64_t>(expires_at_ms) ^ kSignBit);
  return key;
}

std::string expiry_key(std::int64_t expires_at_ms, std::string_view path_key) {
  std::string key = expiry_seek(expires_at_ms);
  key.append(path_key);
  return key;
}

std::int64_t expiry_time(std::string_view key) noexcept {
  return static_cast<std::int64_t>(read_be64(key) ^ kSignBit);
}

std::string tindex_seek(std::int64_t since_ms) {
  std::int64_t clamped = std::clamp<std::int64_t>(since_ms, 0, kMaxIndexedTimestamp);
  std::string digits = std::to_string(clamped);
  std::string key(kTimeIndexPrefix);
  key.append(13 - digits.size(), '0');
  key.append(digits);
  key.push_back(':');
  return key;
}

std::string tindex_key(std::int64_t timestamp_ms, std::string_view path_key) {
  std::string key = tindex_seek(timestamp_ms);
  key.append(path_key);
  return key;
}

std::string_view tindex_path_key(std::string_view key) noexcept {
  if (key.size() <= kTimeIndexHeaderSize || key.substr(0, kTimeIndexPrefix.size()) != kTimeIndexPrefix ||
      key[kTimeIndexHeaderSize - 1] != ':') {
    return {};
  }
  return key.substr(kTimeIndexHeaderSize);
}

std::string sequence_key(std::uint64_t sequence) {
  std::string key;
  append_be64(key, sequence);
  return key;
}

}  // namespace kvs::storage::keys
