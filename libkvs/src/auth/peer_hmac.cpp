#include "auth/peer_hmac.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include <sodium.h>

#include "auth/base64url.hpp"
#include "util/coding.hpp"

namespace kvs::auth {
namespace {

constexpr std::string_view kDomain = "kvs-peer-v2";
constexpr std::string_view kAnswerDomain = "kvs-peer-answer-v2";
constexpr std::string_view kHeaderVersion = "v2";
constexpr std::size_t kMaxNonceBytes = 64;

bool is_valid_nonce(std::string_view nonce) noexcept {
  if (nonce.empty() || nonce.size() > kMaxNonceBytes) return false;
  return std::all_of(nonce.begin(), nonce.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// HMAC-SHA256 over `domain`, then each field prefixed by its length (u64, little-endian), so
// that no two field lists hash alike by moving bytes across a boundary.
std::array<unsigned char, 32> length_prefixed_mac(const Key& key, std::string_view domain,
                                                  std::initializer_list<std::string_view> fields) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  std::string length;
  for (std::string_view field : fields) {
    length.clear();
    util::put_u64_le(length, static_cast<std::uint64_t>(field.size()));
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(length.data()), length.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(field.data()), field.size());
  }
  std::array<unsigned char, 32> out{};
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
  return out;
}

Status reject(std::string reason) { return Status::unauthenticated("peer signature " + std::move(reason)); }

}  // namespace

PeerSigner::PeerSigner(const Key& peer_key, PeerSignerOptions options) : key_(peer_key), options_(options) {
  ensure_sodium();
}

PeerSigner::~PeerSigner() { sodium_memzero(key_.data(), key_.size()); }

std::array<unsigned char, 32> PeerSigner::mac(std::string_view method, std::string_view target, std::string_view body,
                                              std::string_view timestamp_text, std::string_view nonce,
                                              std::string_view destination) const {
  return length_prefixed_mac(key_, kDomain, {method, target, timestamp_text, nonce, destination, body});
}

std::array<unsigned char, 32> PeerSigner::answer_mac(std::string_view nonce, long status, std::string_view responder,
                                                     std::string_view body) const {
  return length_prefixed_mac(key_, kAnswerDomain, {nonce, std::to_string(status), responder, body});
}

std::string PeerSigner::sign_answer(std::string_view nonce, long status, std::string_view responder,
                                    std::string_view body) const {
  auto digest = answer_mac(nonce, status, responder, body);
  std::string header(kHeaderVersion);
  header += '.';
  header += base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  return header;
}

Status PeerSigner::verify_answer(std::string_view header_value, std::string_view nonce, long status,
                                 std::string_view responder, std::string_view body) const {
  auto fail = [](std::string reason) { return Status::unauthenticated("peer answer " + std::move(reason)); };
  if (header_value.empty()) return fail("is not signed");
  if (header_value.size() > 128 || !header_value.starts_with(kHeaderVersion) ||
      header_value.size() <= kHeaderVersion.size() || header_value[kHeaderVersion.size()] != '.') {
    return fail("has a malformed signature");
  }
  auto given = base64url_decode(header_value.substr(kHeaderVersion.size() + 1));
  if (!given || given->size() != crypto_auth_hmacsha256_BYTES) return fail("has a malformed signature");
  auto expected = answer_mac(nonce, status, responder, body);
  if (crypto_verify_32(expected.data(), reinterpret_cast<const unsigned char*>(given->data())) != 0) {
    return fail("signature does not match");
  }
  return Status::ok();
}

std::string PeerSigner::sign(std::string_view method, std::string_view target, std::string_view body,
                             std::string_view destination, std::int64_t timestamp_ms, std::string_view nonce) const {
  std::string timestamp_text = std::to_string(timestamp_ms);
  auto digest = mac(method, target, body, timestamp_text, nonce, destination);
  std::string header(kHeaderVersion);
  header += '.';
  header += timestamp_text;
  header += '.';
  header += nonce;
  header += '.';
  header += base64url_encode(destination);
  header += '.';
  header += base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  return header;
}

Status PeerSigner::verify(std::string_view header_value, std::string_view method, std::string_view target,
                          std::string_view body, std::string_view self, std::int64_t now_ms) {
  if (header_value.empty()) return reject("is missing");
  if (header_value.size() > 512) return reject("is malformed");
  // v2.<timestamp>.<nonce>.<destination>.<mac>: exactly five dot-separated parts.
  std::string_view parts[5];
  std::string_view rest = header_value;
  for (int i = 0; i < 5; ++i) {
    auto dot = rest.find('.');
    if (i < 4) {
      if (dot == std::string_view::npos) return reject("is malformed");
      parts[i] = rest.substr(0, dot);
      rest.remove_prefix(dot + 1);
    } else {
      if (dot != std::string_view::npos) return reject("is malformed");
      parts[i] = rest;
    }
  }
  if (parts[0] != kHeaderVersion) return reject("has an unknown version");
  std::string_view timestamp_text = parts[1];
  std::int64_t timestamp_ms = 0;
  auto parsed = std::from_chars(timestamp_text.data(), timestamp_text.data() + timestamp_text.size(), timestamp_ms);
  // Canonical decimal only (no sign, no leading zeros): the text is signed as sent.
  if (timestamp_text.empty() || parsed.ec != std::errc() || parsed.ptr != timestamp_text.data() + timestamp_text.size() ||
      timestamp_ms < 0 || (timestamp_text.size() > 1 && timestamp_text[0] == '0')) {
    return reject("has a malformed timestamp");
  }
  std::string_view nonce = parts[2];
  if (!is_valid_nonce(nonce)) return reject("has a malformed nonce");
  auto destination = base64url_decode(parts[3]);
  if (!destination) return reject("has a malformed destination");
  auto given = base64url_decode(parts[4]);
  if (!given || given->size() != crypto_auth_hmacsha256_BYTES) return reject("has a malformed mac");

  const std::int64_t window_ms = options_.window.count();
  // Written so that no subtraction can overflow whatever the timestamp.
  if (timestamp_ms > now_ms + window_ms || timestamp_ms < now_ms - window_ms) {
    return reject("is stale (timestamp outside the accepted window)");
  }

  auto expected = mac(method, target, body, timestamp_text, nonce, *destination);
  if (crypto_verify_32(expected.data(), reinterpret_cast<const unsigned char*>(given->data())) != 0) {
    return reject("does not match");
  }
  // Authentic, but not for us: a replay of a request captured on its way to another node, or
  // a caller that has yet to learn our id. Not recorded: it was never accepted.
  if (*destination != self) return reject("is meant for another node");

  // Only authentic requests reach the replay cache, so an outsider cannot fill it.
  SeenId id{timestamp_ms, {}};
  std::copy_n(expected.begin(), id.second.size(), id.second.begin());
  MutexLock lock(mutex_);
  // Forget signatures that have left the window: they are refused as stale from now on.
  auto keep_from = seen_.lower_bound(SeenId{now_ms - window_ms, {}});
  seen_.erase(seen_.begin(), keep_from);
  if (seen_.count(id) != 0) return reject("was already used (replay)");
  if (seen_.size() >= options_.replay_capacity) {
    return Status::unavailable("peer replay cache is full; retry later");
  }
  seen_.insert(id);
  return Status::ok();
}

std::size_t PeerSigner::replay_cache_size_for_testing() const {
  MutexLock lock(mutex_);
  return seen_.size();
}

std::string make_peer_nonce(std::uint64_t first, std::uint64_t second) {
  char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>(first >> (8 * i));
    bytes[8 + i] = static_cast<char>(second >> (8 * i));
  }
  return base64url_encode(std::string_view(bytes, sizeof bytes));
}

std::string_view peer_nonce_of(std::string_view header_value) noexcept {
  // v2.<timestamp>.<nonce>.<destination>.<mac>
  if (header_value.size() > 512 || !header_value.starts_with(kHeaderVersion)) return {};
  std::string_view rest = header_value;
  for (int i = 0; i < 2; ++i) {
    auto dot = rest.find('.');
    if (dot == std::string_view::npos) return {};
    rest.remove_prefix(dot + 1);
  }
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return {};
  std::string_view nonce = rest.substr(0, dot);
  return is_valid_nonce(nonce) ? nonce : std::string_view();
}

}  // namespace kvs::auth
