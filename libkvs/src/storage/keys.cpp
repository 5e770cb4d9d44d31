#include "storage/keys.hpp"

#include <algorithm>

#include "util/blake2b.hpp"
#include "util/coding.hpp"

namespace kvs::storage::keys {
namespace {

constexpr std::int64_t kMaxIndexedTimestamp = 9'999'999'999'999;  // 13 digits
constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;

}  // namespace

std::string path_key(std::string_view path) {
  if (path.size() <= kMaxInlinePath) return std::string(path);
  // A cryptographic hash, so that nobody can craft a second long path that lands on the
  // key of someone else's document.
  const auto hash = util::blake2b<kPathHashBytes>(path);
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
  util::put_u64_be(key, revision);
  return key;
}

bool is_revision_of(std::string_view key, std::string_view prefix) noexcept {
  return key.size() == prefix.size() + 8 && key.substr(0, prefix.size()) == prefix;
}

std::uint64_t revision_number(std::string_view key) noexcept { return util::get_u64_be(key.substr(key.size() - 8)); }

std::string expiry_seek(std::int64_t expires_at_ms) {
  std::string key;
  util::put_u64_be(key, static_cast<std::uint64_t>(expires_at_ms) ^ kSignBit);
  return key;
}

std::string expiry_key(std::int64_t expires_at_ms, std::string_view path_key) {
  return expiry_seek(expires_at_ms).append(path_key);
}

std::int64_t expiry_time(std::string_view key) noexcept {
  return static_cast<std::int64_t>(util::get_u64_be(key) ^ kSignBit);
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
  return tindex_seek(timestamp_ms).append(path_key);
}

bool tindex_names(std::string_view key, std::int64_t timestamp_ms) {
  return key.size() > kTimeIndexHeaderSize && key.substr(0, kTimeIndexHeaderSize) == tindex_seek(timestamp_ms);
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
  util::put_u64_be(key, sequence);
  return key;
}

}  // namespace kvs::storage::keys
