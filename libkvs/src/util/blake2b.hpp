#pragma once

// BLAKE2b through libsodium (crypto_generichash), the one hash kvs uses for content: path keys
// of long paths, Merkle buckets and digests, the audit chain, backup checksums, the verified
// token cache and the master key of the cluster secret. Digests are 16 to 64 bytes long (32
// unless a format says otherwise); keys are at most 64 bytes. Functions are pure and safe from
// any thread; a Blake2bHasher belongs to one thread at a time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace kvs::util {

inline constexpr std::size_t kBlake2bMinBytes = 16;
inline constexpr std::size_t kBlake2bMaxBytes = 64;
inline constexpr std::size_t kBlake2bMaxKeyBytes = 64;

// Fills `out` with the BLAKE2b digest of `data` of out.size() bytes, keyed with `key` when it
// is not empty. Requires: kBlake2bMinBytes <= out.size() <= kBlake2bMaxBytes and
// key.size() <= kBlake2bMaxKeyBytes (a broken requirement aborts: it is a bug).
void blake2b(std::span<std::uint8_t> out, std::string_view data, std::span<const std::uint8_t> key = {}) noexcept;

// The N-byte BLAKE2b digest of `data`.
template <std::size_t N = 32>
std::array<std::uint8_t, N> blake2b(std::string_view data) noexcept {
  static_assert(N >= kBlake2bMinBytes && N <= kBlake2bMaxBytes);
  std::array<std::uint8_t, N> out{};
  blake2b(out, data);
  return out;
}

// The N-byte BLAKE2b digest of `data` keyed with `key` (a MAC). Requires: key.size() <= 64.
template <std::size_t N = 32>
std::array<std::uint8_t, N> blake2b_keyed(std::string_view data, std::span<const std::uint8_t> key) noexcept {
  static_assert(N >= kBlake2bMinBytes && N <= kBlake2bMaxBytes);
  std::array<std::uint8_t, N> out{};
  blake2b(out, data, key);
  return out;
}

// Incremental BLAKE2b, unkeyed: the digest of all bytes given to `update`, in order, is the
// digest of their concatenation.
class Blake2bHasher {
 public:
  // Requires: kBlake2bMinBytes <= digest_bytes <= kBlake2bMaxBytes.
  explicit Blake2bHasher(std::size_t digest_bytes = 32) noexcept;

  void update(std::string_view bytes) noexcept;
  void update(const void* data, std::size_t size) noexcept;

  // Writes the digest. Requires: out.size() is the constructor's digest_bytes; call once.
  void final(std::span<std::uint8_t> out) noexcept;
  template <std::size_t N = 32>
  std::array<std::uint8_t, N> final() noexcept {
    std::array<std::uint8_t, N> out{};
    final(out);
    return out;
  }

 private:
  // libsodium's crypto_generichash_state (384 bytes, 64-aligned), kept opaque so that this
  // header needs no sodium.h; blake2b.cpp checks that it fits.
  alignas(64) unsigned char state_[384];
  std::size_t digest_bytes_;
};

}  // namespace kvs::util
