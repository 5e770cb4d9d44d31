#pragma once

// VerifiedTokenCache: tokens whose signature and claims have been verified, so that a client
// presenting the same bearer token on every request pays for HMAC-SHA256 and JSON parsing once,
// not per request. Only what never changes for a token is cached (its claims); expiry,
// revocation and the user's standing are checked on every use by the caller.
//
// Entries are keyed by a 32-byte BLAKE2b of the token under a random per-process key, so the
// cache holds no token text, and a lookup compares digests that an attacker cannot steer
// toward a cached token (no timing oracle on the secret part of tokens). Bounded: when
// `capacity` entries are held, the cache is emptied before the next insert (cheap, and a
// hot token comes back on its next use).
//
// Thread safety: any method from any thread; lookups share `mutex_`.

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>

#include "auth/jwt.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::auth {

class VerifiedTokenCache {
 public:
  explicit VerifiedTokenCache(std::size_t capacity = 16384);
  ~VerifiedTokenCache();
  VerifiedTokenCache(const VerifiedTokenCache&) = delete;
  VerifiedTokenCache& operator=(const VerifiedTokenCache&) = delete;

  // The claims of `token` when it was inserted before.
  std::optional<TokenClaims> find(std::string_view token) const;
  // Requires: `claims` are what verify_jwt_signature returned for `token`.
  void insert(std::string_view token, const TokenClaims& claims);
  std::size_t size() const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& digest) const noexcept {
      std::size_t hash;
      std::memcpy(&hash, digest.data(), sizeof hash);  // already uniformly random
      return hash;
    }
  };

  Digest digest(std::string_view token) const;

  const std::size_t capacity_;
  std::array<unsigned char, 32> hash_key_{};

  mutable SharedMutex mutex_;
  std::unordered_map<Digest, TokenClaims, DigestHash> entries_ KVS_GUARDED_BY(mutex_);
};

}  // namespace kvs::auth
