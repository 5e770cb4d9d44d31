#include "auth/base64url.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "support/manual_clock.hpp"

using kvs::auth::base64url_decode;
using kvs::auth::base64url_encode;

TEST_CASE("base64url encodes the RFC 4648 test vectors without padding", "[auth][base64url]") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("fooba") == "Zm9vYmE");
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
  CHECK(base64url_encode(std::string("\xfb\xff\xfe", 3)) == "-__-");
}

TEST_CASE("base64url round-trips every length of random bytes", "[auth][base64url]") {
  kvs::test::SeededRandom random(7);
  for (std::size_t length = 0; length < 200; ++length) {
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i) bytes.push_back(static_cast<char>(random.next_u64()));
    auto decoded = base64url_decode(base64url_encode(bytes));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == bytes);
  }
}

TEST_CASE("base64url decoding rejects padding, foreign characters and impossible lengths", "[auth][base64url]") {
  CHECK_FALSE(base64url_decode("Zg==").has_value());
  CHECK_FALSE(base64url_decode("Zm9v+mFy").has_value());  // '+' is standard base64, not url
  CHECK_FALSE(base64url_decode("Zm9v/mFy").has_value());
  CHECK_FALSE(base64url_decode("Zm 9v").has_value());
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)).has_value());
  CHECK_FALSE(base64url_decode("Z").has_value());      // 1 mod 4 carries no whole byte
  CHECK_FALSE(base64url_decode("Zm9vY").has_value());
  CHECK(base64url_decode("").value() == "");
}

TEST_CASE("base64url decoding rejects non-zero leftover bits so each byte string has one text form",
          "[auth][base64url]") {
  CHECK(base64url_decode("Zg").value() == "f");
  CHECK_FALSE(base64url_decode("Zh").has_value());   // same byte, stray low bits
  CHECK(base64url_decode("Zm8").value() == "fo");
  CHECK_FALSE(base64url_decode("Zm9").has_value());
}
