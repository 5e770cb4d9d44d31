#include "auth/token_cache.hpp"

#include <mutex>

#include <sodium.h>

#include "util/blake2b.hpp"

namespace kvs::auth {

VerifiedTokenCache::VerifiedTokenCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  ensure_sodium();
  randombytes_buf(hash_key_.data(), hash_key_.size());
}

VerifiedTokenCache::~VerifiedTokenCache() { sodium_memzero(hash_key_.data(), hash_key_.size()); }

VerifiedTokenCache::Digest VerifiedTokenCache::digest(std::string_view token) const {
  return util::blake2b_keyed<std::tuple_size_v<Digest>>(token, hash_key_);
}

std::optional<TokenClaims> VerifiedTokenCache::find(std::string_view token) const {
  Digest key = digest(token);
  ReaderLock lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end()) return std::nullopt;
  return found->second;
}

void VerifiedTokenCache::insert(std::string_view token, const TokenClaims& claims) {
  Digest key = digest(token);
  WriterLock lock(mutex_);
  if (entries_.size() >= capacity_) entries_.clear();
  entries_.insert_or_assign(key, claims);
}

std::size_t VerifiedTokenCache::size() const {
  ReaderLock lock(mutex_);
  return entries_.size();
}

}  // namespace kvs::auth
