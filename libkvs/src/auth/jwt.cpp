#include "auth/jwt.hpp"

#include <array>

#include <sodium.h>

#include "auth/base64url.hpp"
#include "auth/json_text.hpp"
#include "auth/scopes.hpp"
#include "util/json_writer.hpp"

namespace kvs::auth {
namespace {

using Signature = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;
static_assert(crypto_auth_hmacsha256_KEYBYTES == kKeyBytes);

constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

Signature hmac_sha256(std::string_view message, const Key& key) {
  Signature mac{};
  crypto_auth_hmacsha256(mac.data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         key.data());
  return mac;
}

Status reject(std::string reason) { return Status::unauthenticated("token " + std::move(reason)); }

// Case-insensitive ASCII comparison ("typ" is a media type name: RFC 7515 section 4.1.9).
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

Status check_header(std::string_view header_segment) {
  auto header_json = base64url_decode(header_segment);
  if (!header_json) return reject("header is not base64url");
  simdjson::dom::object header;
  if (parse_json(*header_json).get_object().get(header) != simdjson::SUCCESS) {
    return reject("header is not a JSON object");
  }
  int alg_count = 0;
  for (auto field : header) {
    if (field.key == "alg") {
      ++alg_count;
      std::string_view alg;
      if (field.value.get_string().get(alg) != simdjson::SUCCESS || alg != "HS256") {
        return reject("alg must be HS256");
      }
    } else if (field.key == "typ") {
      std::string_view typ;
      if (field.value.get_string().get(typ) != simdjson::SUCCESS || !iequals(typ, "JWT")) {
        return reject("typ must be JWT");
      }
    } else if (field.key == "crit") {
      return reject("header has crit extensions, which kvs does not support");
    }
  }
  if (alg_count != 1) return reject(alg_count == 0 ? "header has no alg" : "header repeats alg");
  return Status::ok();
}

Result<TokenClaims> parse_claims(std::string_view payload_segment) {
  auto payload_json = base64url_decode(payload_segment);
  if (!payload_json) return reject("payload is not base64url");
  simdjson::dom::object payload;
  if (parse_json(*payload_json).get_object().get(payload) != simdjson::SUCCESS) {
    return reject("payload is not a JSON object");
  }
  TokenClaims claims;
  bool has_sub = false, has_scopes = false, has_iat = false, has_exp = false, has_jti = false, has_nbf = false;
  auto once = [](bool& seen) {
    if (seen) return false;
    seen = true;
    return true;
  };
  for (auto field : payload) {
    std::string_view key = field.key;
    if (key == "sub" || key == "jti") {
      bool& seen = key == "sub" ? has_sub : has_jti;
      if (!once(seen)) return reject("repeats claim " + std::string(key));
      std::string_view text;
      if (field.value.get_string().get(text) != simdjson::SUCCESS || text.empty()) {
        return reject("claim " + std::string(key) + " must be a non-empty string");
      }
      (key == "sub" ? claims.subject : claims.token_id) = std::string(text);
    } else if (key == "iat" || key == "exp" || key == "nbf") {
      bool& seen = key == "iat" ? has_iat : key == "exp" ? has_exp : has_nbf;
      if (!once(seen)) return reject("repeats claim " + std::string(key));
      auto seconds = json_seconds(field.value);
      if (!seconds) return reject("claim " + std::string(key) + " must be a number");
      if (key == "iat") claims.issued_at_s = *seconds;
      else if (key == "exp") claims.expires_at_s = *seconds;
      else claims.not_before_s = *seconds;
    } else if (key == "scopes") {
      if (!once(has_scopes)) return reject("repeats claim scopes");
      simdjson::dom::array names;
      if (field.value.get_array().get(names) != simdjson::SUCCESS) return reject("claim scopes must be an array");
      for (auto name_element : names) {
        std::string_view name;
        if (name_element.get_string().get(name) != simdjson::SUCCESS) {
          return reject("claim scopes must hold strings");
        }
        auto bit = parse_scope(name);
        if (!bit) return reject("has unknown scope '" + std::string(name.substr(0, 64)) + "'");
        claims.scopes = static_cast<std::uint8_t>(claims.scopes | *bit);
      }
    }
    // Other registered claims (iss, aud, ...) are not used by kvs and are ignored.
  }
  if (!has_sub) return reject("lacks claim sub");
  if (!has_jti) return reject("lacks claim jti");
  if (!has_iat) return reject("lacks claim iat");
  if (!has_exp) return reject("lacks claim exp");
  if (!has_scopes) return reject("lacks claim scopes");
  return claims;
}

Result<TokenClaims> verify_unguarded(std::string_view token, const Key& key) {
  if (token.empty()) return reject("is empty");
  if (token.size() > kMaxTokenBytes) return reject("is too long");
  auto first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return reject("is not three dot-separated segments");
  auto second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    return reject("is not three dot-separated segments");
  }
  std::string_view header_segment = token.substr(0, first_dot);
  std::string_view payload_segment = token.substr(first_dot + 1, second_dot - first_dot - 1);
  std::string_view signature_segment = token.substr(second_dot + 1);
  if (header_segment.empty() || payload_segment.empty() || signature_segment.empty()) {
    return reject("has an empty segment");
  }

  // The header decides how to check the signature, so it is read first; the payload is
  // attacker-controlled until the signature checks, so it is parsed only afterwards.
  auto header = check_header(header_segment);
  if (!header.is_ok()) return header;

  auto signature = base64url_decode(signature_segment);
  if (!signature || signature->size() != crypto_auth_hmacsha256_BYTES) return reject("signature is malformed");
  Signature expected = hmac_sha256(token.substr(0, second_dot), key);
  // Constant time: how much of a guess matches must not show in the timing.
  if (crypto_verify_32(expected.data(), reinterpret_cast<const unsigned char*>(signature->data())) != 0) {
    return reject("signature does not match");
  }

  return parse_claims(payload_segment);
}

}  // namespace

std::string mint_jwt(const TokenClaims& claims, const Key& key) {
  std::string payload = "{\"sub\":";
  util::append_json_string(payload, claims.subject);
  payload += ",\"scopes\":";
  payload += scopes_to_json(claims.scopes);
  payload += ",\"iat\":" + std::to_string(claims.issued_at_s);
  payload += ",\"exp\":" + std::to_string(claims.expires_at_s);
  if (claims.not_before_s) payload += ",\"nbf\":" + std::to_string(*claims.not_before_s);
  payload += ",\"jti\":";
  util::append_json_string(payload, claims.token_id);
  payload += '}';

  std::string token = base64url_encode(kHeaderJson);
  token += '.';
  token += base64url_encode(payload);
  Signature mac = hmac_sha256(token, key);
  token += '.';
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return token;
}

Status check_token_time(const TokenClaims& claims, std::int64_t now_ms) {
  if (claims.expires_at_ms() <= now_ms) return reject("expired");
  if (claims.not_before_s && *claims.not_before_s * 1000 > now_ms) return reject("is not valid yet (nbf)");
  return Status::ok();
}

Result<TokenClaims> verify_jwt(std::string_view token, const Key& key, std::int64_t now_ms) {
  auto claims = verify_jwt_signature(token, key);
  if (!claims.is_ok()) return claims;
  auto in_time = check_token_time(*claims, now_ms);
  if (!in_time.is_ok()) return in_time;
  return claims;
}

Result<TokenClaims> verify_jwt_signature(std::string_view token, const Key& key) {
  ensure_sodium();
  try {
    return verify_unguarded(token, key);
  } catch (const std::exception& error) {
    // Only allocation can throw here; fail closed.
    return Status::unauthenticated(std::string("token could not be checked: ") + error.what());
  } catch (...) {
    return Status::unauthenticated("token could not be checked");
  }
}

}  // namespace kvs::auth
