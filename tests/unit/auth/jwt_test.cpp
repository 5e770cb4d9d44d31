#include "auth/jwt.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <sodium.h>

#include "auth/base64url.hpp"
#include "auth/secret.hpp"
#include "kvs/node.hpp"
#include "support/manual_clock.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

constexpr std::int64_t kNowMs = 1'700'000'000'000;

Key test_key(std::string_view secret = "jwt test secret") { return derive_keys(secret).token_signing; }

TokenClaims sample_claims() {
  TokenClaims claims;
  claims.subject = "6f0a7c1e-0000-4000-8000-000000000001";
  claims.scopes = kScopeRead | kScopeWrite;
  claims.issued_at_s = kNowMs / 1000;
  claims.expires_at_s = kNowMs / 1000 + 3600;
  claims.token_id = "0b5e2f4c-0000-4000-8000-000000000002";
  return claims;
}

// A token with any header and payload text, signed properly with `key`: the attacker who
// knows the key's format but not the key cannot make these; tests use them to reach the
// checks that come after the signature.
std::string sign_raw(std::string_view header_json, std::string_view payload_json, const Key& key) {
  std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(token.data()), token.size(), key.data());
  return token + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

std::string payload_with(std::string_view extra_or_replacement) {
  return std::string(R"({"sub":"u1","scopes":["read"],"iat":1700000000,"exp":1700003600,"jti":"t1")") +
         std::string(extra_or_replacement) + "}";
}

constexpr std::string_view kGoodHeader = R"({"alg":"HS256","typ":"JWT"})";

std::string segment(const std::string& token, int index) {
  auto first = token.find('.');
  auto second = token.find('.', first + 1);
  if (index == 0) return token.substr(0, first);
  if (index == 1) return token.substr(first + 1, second - first - 1);
  return token.substr(second + 1);
}

void require_unauthenticated(const Result<TokenClaims>& result, std::string_view reason_part) {
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == Status::Code::kUnauthenticated);
  INFO(result.status().message());
  CHECK(result.status().message().find(reason_part) != std::string::npos);
}

}  // namespace

TEST_CASE("a minted token verifies and yields the claims it was minted with", "[auth][jwt]") {
  auto claims = sample_claims();
  std::string token = mint_jwt(claims, test_key());
  auto verified = verify_jwt(token, test_key(), kNowMs);
  REQUIRE(verified.is_ok());
  CHECK(*verified == claims);
}

TEST_CASE("a minted token has the standard header and claim names", "[auth][jwt]") {
  std::string token = mint_jwt(sample_claims(), test_key());
  CHECK(base64url_decode(segment(token, 0)).value() == kGoodHeader);
  CHECK(base64url_decode(segment(token, 1)).value() ==
        R"({"sub":"6f0a7c1e-0000-4000-8000-000000000001","scopes":["read","write"],"iat":1700000000,)"
        R"("exp":1700003600,"jti":"0b5e2f4c-0000-4000-8000-000000000002"})");
}

TEST_CASE("a token signed with another key is rejected", "[auth][jwt]") {
  std::string token = mint_jwt(sample_claims(), test_key("another secret"));
  require_unauthenticated(verify_jwt(token, test_key(), kNowMs), "signature does not match");
}

TEST_CASE("a tampered header, payload or signature is rejected", "[auth][jwt]") {
  std::string token = mint_jwt(sample_claims(), test_key());
  std::string header = segment(token, 0), payload = segment(token, 1), signature = segment(token, 2);

  SECTION("header: another typ-compatible header re-encoded") {
    std::string forged = base64url_encode(R"({"typ":"JWT","alg":"HS256"})") + "." + payload + "." + signature;
    require_unauthenticated(verify_jwt(forged, test_key(), kNowMs), "signature does not match");
  }
  SECTION("payload: scopes raised to admin") {
    std::string raised = base64url_decode(payload).value();
    raised.replace(raised.find(R"(["read","write"])"), 16, R"(["read","write","admin"])");
    std::string forged = header + "." + base64url_encode(raised) + "." + signature;
    require_unauthenticated(verify_jwt(forged, test_key(), kNowMs), "signature does not match");
  }
  SECTION("payload: one character flipped") {
    std::string flipped = payload;
    flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
    require_unauthenticated(verify_jwt(header + "." + flipped + "." + signature, test_key(), kNowMs), "");
  }
  SECTION("signature: every single-character change of the last character") {
    for (char c : std::string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")) {
      if (c == signature.back()) continue;
      std::string forged = token;
      forged.back() = c;
      CHECK_FALSE(verify_jwt(forged, test_key(), kNowMs).is_ok());
    }
  }
  SECTION("signature: truncated or extended") {
    require_unauthenticated(verify_jwt(token.substr(0, token.size() - 4), test_key(), kNowMs), "signature");
    require_unauthenticated(verify_jwt(token + "AAAA", test_key(), kNowMs), "signature is malformed");
  }
}

TEST_CASE("alg none, alg HS512 and a missing or repeated alg are rejected even when signed", "[auth][jwt]") {
  Key key = test_key();
  std::string payload = payload_with("");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"none","typ":"JWT"})", payload, key), key, kNowMs),
                          "alg must be HS256");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"HS512","typ":"JWT"})", payload, key), key, kNowMs),
                          "alg must be HS256");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"hs256"})", payload, key), key, kNowMs), "alg must be HS256");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":["HS256"]})", payload, key), key, kNowMs), "alg must be HS256");
  require_unauthenticated(verify_jwt(sign_raw(R"({"typ":"JWT"})", payload, key), key, kNowMs), "no alg");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"HS256","alg":"HS256"})", payload, key), key, kNowMs),
                          "repeats alg");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"HS256","typ":"JWE"})", payload, key), key, kNowMs),
                          "typ must be JWT");
  require_unauthenticated(verify_jwt(sign_raw(R"({"alg":"HS256","crit":["exp"]})", payload, key), key, kNowMs),
                          "crit");
  // The classic "alg none" forgery: no signature at all.
  std::string unsigned_token =
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(payload) + ".";
  require_unauthenticated(verify_jwt(unsigned_token, key, kNowMs), "empty segment");
}

TEST_CASE("a header without typ and with extra fields is accepted", "[auth][jwt]") {
  Key key = test_key();
  auto verified = verify_jwt(sign_raw(R"({"alg":"HS256","kid":"k1","typ":"jwt"})", payload_with(""), key), key,
                             kNowMs);
  REQUIRE(verified.is_ok());
  CHECK(verified->subject == "u1");
  CHECK(verify_jwt(sign_raw(R"({"alg":"HS256"})", payload_with(""), key), key, kNowMs).is_ok());
}

TEST_CASE("an expired token is rejected from the second of its exp on", "[auth][jwt]") {
  auto claims = sample_claims();
  std::string token = mint_jwt(claims, test_key());
  std::int64_t exp_ms = claims.expires_at_s * 1000;
  CHECK(verify_jwt(token, test_key(), exp_ms - 1).is_ok());
  require_unauthenticated(verify_jwt(token, test_key(), exp_ms), "expired");
  require_unauthenticated(verify_jwt(token, test_key(), exp_ms + 86'400'000), "expired");
}

TEST_CASE("nbf is honoured when present", "[auth][jwt]") {
  auto claims = sample_claims();
  claims.not_before_s = kNowMs / 1000 + 60;
  std::string token = mint_jwt(claims, test_key());
  require_unauthenticated(verify_jwt(token, test_key(), kNowMs), "not valid yet");
  auto later = verify_jwt(token, test_key(), kNowMs + 60'000);
  REQUIRE(later.is_ok());
  CHECK(later->not_before_s == claims.not_before_s);
}

TEST_CASE("claims of the wrong type, missing, repeated or with unknown scopes are rejected", "[auth][jwt]") {
  Key key = test_key();
  auto check = [&](std::string payload, std::string_view reason) {
    INFO(payload);
    require_unauthenticated(verify_jwt(sign_raw(kGoodHeader, payload, key), key, kNowMs), reason);
  };
  check(R"({"scopes":["read"],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "lacks claim sub");
  check(R"({"sub":"u1","iat":1700000000,"exp":1700003600,"jti":"t1"})", "lacks claim scopes");
  check(R"({"sub":"u1","scopes":["read"],"exp":1700003600,"jti":"t1"})", "lacks claim iat");
  check(R"({"sub":"u1","scopes":["read"],"iat":1700000000,"jti":"t1"})", "lacks claim exp");
  check(R"({"sub":"u1","scopes":["read"],"iat":1700000000,"exp":1700003600})", "lacks claim jti");
  check(payload_with(R"(,"sub":"u2")"), "repeats claim sub");
  check(payload_with(R"(,"exp":1800000000)"), "repeats claim exp");
  check(R"({"sub":"","scopes":["read"],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "sub must be");
  check(R"({"sub":7,"scopes":["read"],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "sub must be");
  check(R"({"sub":"u1","scopes":"read","iat":1700000000,"exp":1700003600,"jti":"t1"})", "scopes must be an array");
  check(R"({"sub":"u1","scopes":[1],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "scopes must hold strings");
  check(R"({"sub":"u1","scopes":["root"],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "unknown scope 'root'");
  check(R"({"sub":"u1","scopes":["Read"],"iat":1700000000,"exp":1700003600,"jti":"t1"})", "unknown scope");
  check(R"({"sub":"u1","scopes":["read"],"iat":1700000000,"exp":"1700003600","jti":"t1"})", "exp must be a number");
  check(payload_with(R"(,"nbf":null)"), "nbf must be a number");
  check(R"(["sub","u1"])", "payload is not a JSON object");
  check(R"({"sub":"u1")", "payload is not a JSON object");
}

TEST_CASE("numeric dates as doubles or beyond 64 bits are read without overflow", "[auth][jwt]") {
  Key key = test_key();
  auto doubles = verify_jwt(
      sign_raw(kGoodHeader, R"({"sub":"u","scopes":[],"iat":1.7e9,"exp":1700003600.9,"jti":"t"})", key), key, kNowMs);
  REQUIRE(doubles.is_ok());
  CHECK(doubles->expires_at_s == 1700003600);
  auto huge = verify_jwt(
      sign_raw(kGoodHeader, R"({"sub":"u","scopes":[],"iat":0,"exp":18446744073709551615,"jti":"t"})", key), key,
      kNowMs);
  REQUIRE(huge.is_ok());
  CHECK(huge->expires_at_ms() > kNowMs);
  auto negative = verify_jwt(
      sign_raw(kGoodHeader, R"({"sub":"u","scopes":[],"iat":0,"exp":-9223372036854775808,"jti":"t"})", key), key,
      kNowMs);
  require_unauthenticated(negative, "expired");
  require_unauthenticated(
      verify_jwt(sign_raw(kGoodHeader, R"({"sub":"u","scopes":[],"iat":0,"exp":1e400,"jti":"t"})", key), key, kNowMs),
      "payload is not a JSON object");
}

TEST_CASE("malformed token shapes are rejected with a reason", "[auth][jwt]") {
  Key key = test_key();
  require_unauthenticated(verify_jwt("", key, kNowMs), "is empty");
  require_unauthenticated(verify_jwt("abc", key, kNowMs), "three dot-separated segments");
  require_unauthenticated(verify_jwt("a.b", key, kNowMs), "three dot-separated segments");
  require_unauthenticated(verify_jwt("a.b.c.d", key, kNowMs), "three dot-separated segments");
  require_unauthenticated(verify_jwt("..", key, kNowMs), "empty segment");
  require_unauthenticated(verify_jwt(".b.c", key, kNowMs), "empty segment");
  require_unauthenticated(verify_jwt("a..c", key, kNowMs), "empty segment");
  require_unauthenticated(verify_jwt("!!!!.b.c", key, kNowMs), "header is not base64url");
  require_unauthenticated(verify_jwt(base64url_encode("not json") + ".b.c", key, kNowMs), "header is not a JSON object");
  require_unauthenticated(verify_jwt(std::string(kMaxTokenBytes + 1, 'a'), key, kNowMs), "too long");
  std::string good = mint_jwt(sample_claims(), key);
  require_unauthenticated(verify_jwt(good + "=", key, kNowMs), "signature is malformed");
  require_unauthenticated(verify_jwt(" " + good, key, kNowMs), "header is not base64url");
}

TEST_CASE("random garbage and mutated tokens never crash and never verify", "[auth][jwt][fuzz]") {
  Key key = test_key();
  test::SeededRandom random(20261126);
  std::string good = mint_jwt(sample_claims(), key);
  std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"\\";
  alphabet += '\0';
  alphabet += '\xff';
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    switch (round % 4) {
      case 0: {  // raw random bytes
        std::size_t length = random.next_u64() % 300;
        for (std::size_t i = 0; i < length; ++i) input.push_back(static_cast<char>(random.next_u64()));
        break;
      }
      case 1: {  // random text from token-ish characters
        std::size_t length = random.next_u64() % 300;
        for (std::size_t i = 0; i < length; ++i) input.push_back(alphabet[random.next_u64() % alphabet.size()]);
        break;
      }
      case 2: {  // a good token with a few bytes changed
        input = good;
        int changes = 1 + static_cast<int>(random.next_u64() % 3);
        for (int i = 0; i < changes; ++i) {
          input[random.next_u64() % input.size()] = alphabet[random.next_u64() % alphabet.size()];
        }
        if (input == good) continue;
        break;
      }
      case 3: {  // three segments of random JSON-ish text, base64url-encoded
        std::string parts[3];
        for (auto& part : parts) {
          std::size_t length = random.next_u64() % 80;
          for (std::size_t i = 0; i < length; ++i) part.push_back(alphabet[random.next_u64() % alphabet.size()]);
        }
        input = base64url_encode(parts[0]) + "." + base64url_encode(parts[1]) + "." + base64url_encode(parts[2]);
        break;
      }
    }
    auto result = verify_jwt(input, key, kNowMs);
    REQUIRE_FALSE(result.is_ok());
    REQUIRE(result.status().code() == Status::Code::kUnauthenticated);
  }
}

TEST_CASE("huge inputs are refused quickly without parsing", "[auth][jwt][fuzz]") {
  Key key = test_key();
  std::string huge(64 * 1024 * 1024, '.');
  CHECK_FALSE(verify_jwt(huge, key, kNowMs).is_ok());
  std::string deep = base64url_encode(std::string(6000, '[')) + ".e30.AAAA";
  CHECK_FALSE(verify_jwt(deep, key, kNowMs).is_ok());
  std::string nested = sign_raw(kGoodHeader, std::string(3000, '[') + std::string(3000, ']'), key);
  CHECK_FALSE(verify_jwt(nested, key, kNowMs).is_ok());
}
