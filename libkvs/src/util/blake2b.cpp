#include "util/blake2b.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sodium.h>

namespace kvs::util {
namespace {

static_assert(sizeof(crypto_generichash_state) <= 384 && alignof(crypto_generichash_state) <= 64,
              "Blake2bHasher::state_ must hold a crypto_generichash_state");
static_assert(crypto_generichash_BYTES_MIN == kBlake2bMinBytes && crypto_generichash_BYTES_MAX == kBlake2bMaxBytes &&
              crypto_generichash_KEYBYTES_MAX == kBlake2bMaxKeyBytes);

// sodium_init picks the fastest BLAKE2b implementation for this CPU. It is idempotent and
// thread-safe, and the function-local static runs it once per process.
void ensure_initialised() noexcept {
  [[maybe_unused]] static const bool initialised = sodium_init() >= 0;
}

[[noreturn]] void broken(const char* what) noexcept {
  std::fprintf(stderr, "kvs: BLAKE2b: %s\n", what);
  std::abort();
}

crypto_generichash_state* state_of(unsigned char* storage) noexcept {
  return reinterpret_cast<crypto_generichash_state*>(storage);
}

}  // namespace

void blake2b(std::span<std::uint8_t> out, std::string_view data, std::span<const std::uint8_t> key) noexcept {
  ensure_initialised();
  if (crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                         key.empty() ? nullptr : key.data(), key.size()) != 0) {
    broken("digest or key size out of range");
  }
}

Blake2bHasher::Blake2bHasher(std::size_t digest_bytes) noexcept : digest_bytes_(digest_bytes) {
  ensure_initialised();
  if (crypto_generichash_init(state_of(state_), nullptr, 0, digest_bytes) != 0) broken("digest size out of range");
}

void Blake2bHasher::update(std::string_view bytes) noexcept { update(bytes.data(), bytes.size()); }

void Blake2bHasher::update(const void* data, std::size_t size) noexcept {
  crypto_generichash_update(state_of(state_), static_cast<const unsigned char*>(data), size);
}

void Blake2bHasher::final(std::span<std::uint8_t> out) noexcept {
  if (out.size() != digest_bytes_) broken("final() given a buffer of the wrong size");
  crypto_generichash_final(state_of(state_), out.data(), out.size());
}

}  // namespace kvs::util
