// Fuzzes JWT parsing and verification (libkvs/src/auth/jwt.*). The first byte picks a mode:
//   0: the input is a token as a client would send it;
//   1: the input is "<header JSON>\n<payload JSON>", encoded and signed with the right key, so
//      the header and claim parsing behind the signature check is reached;
//   2: the input fills the claims of a token that is minted, then verified.
// Properties:
//   - a token that verifies with one key never verifies with another;
//   - verified claims have a non-empty sub and jti, only known scope bits, and are not expired
//     at the time given; minting them again gives a token that verifies to the same claims;
//   - changing any one byte of a verified token makes it fail (the signature covers the text of
//     the first two segments, and the decoder refuses a non-canonical signature segment);
//   - mint then verify (before exp) gives back exactly the claims minted.

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/base64url.hpp"
#include "auth/jwt.hpp"
#include "fuzz_check.hpp"
#include "kvs/node.hpp"

using namespace kvs::auth;

namespace {

constexpr std::int64_t kNowMs = 1'750'000'000'000;

Key key_of(unsigned char fill) {
  Key key{};
  key.fill(fill);
  return key;
}

void check_verified(std::string_view token, const Key& key) {
  auto claims = verify_jwt(token, key, kNowMs);
  if (!claims.is_ok()) return;
  KVS_FUZZ_CHECK(!claims->subject.empty() && !claims->token_id.empty());
  KVS_FUZZ_CHECK((claims->scopes & ~(kvs::kScopeRead | kvs::kScopeWrite | kvs::kScopeAdmin)) == 0);
  KVS_FUZZ_CHECK(claims->expires_at_s * 1000 > kNowMs);
  KVS_FUZZ_CHECK(!verify_jwt(token, key_of(0x5A), kNowMs).is_ok());
  auto signature_only = verify_jwt_signature(token, key);
  KVS_FUZZ_CHECK(signature_only.is_ok() && *signature_only == *claims);

  std::string minted = mint_jwt(*claims, key);
  auto again = verify_jwt(minted, key, kNowMs);
  KVS_FUZZ_CHECK(again.is_ok() && *again == *claims);

  // One changed byte: refused (a canonical decoder leaves no two encodings of one value).
  std::string changed(token);
  std::size_t at = (claims->issued_at_s & 0x7fffffff) % changed.size();
  changed[at] = static_cast<char>(changed[at] ^ 0x01);
  auto tampered = verify_jwt(changed, key, kNowMs);
  KVS_FUZZ_CHECK(!tampered.is_ok());
}

std::string sign(std::string_view header, std::string_view payload, const Key& key) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(input.data()), input.size(), key.data());
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  ensure_sodium();
  const Key key = key_of(0xA7);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      check_verified(rest, key);
      break;
    case 1: {
      std::size_t newline = rest.find('\n');
      std::string_view header = rest.substr(0, newline);
      std::string_view payload = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
      check_verified(sign(header, payload, key), key);
      break;
    }
    default: {
      // Fields from the input: sub | jti | scopes byte | iat/exp offsets.
      if (rest.size() < 4) return 0;
      TokenClaims claims;
      claims.scopes = static_cast<std::uint8_t>(rest[0] & 7);
      claims.issued_at_s = kNowMs / 1000 - static_cast<unsigned char>(rest[1]);
      claims.expires_at_s = kNowMs / 1000 + 1 + static_cast<unsigned char>(rest[2]) * 3600;
      std::string_view names = rest.substr(3);
      std::size_t bar = names.find('|');
      claims.subject = std::string(names.substr(0, bar));
      claims.token_id = bar == std::string_view::npos ? std::string("jti") : std::string(names.substr(bar + 1));
      // mint_jwt requires UTF-8 ids, and verify_jwt non-empty ones: keep printable ASCII.
      auto printable = [](const std::string& text) {
        if (text.empty() || text.size() > 512) return false;
        for (unsigned char c : text) {
          if (c < 0x20 || c >= 0x7F) return false;
        }
        return true;
      };
      if (!printable(claims.subject) || !printable(claims.token_id)) return 0;
      std::string token = mint_jwt(claims, key);
      auto verified = verify_jwt(token, key, kNowMs);
      KVS_FUZZ_CHECK(verified.is_ok() && *verified == claims);
      check_verified(token, key);
      break;
    }
  }
  return 0;
}
