// util::to_hex and util::from_hex: lower-case encoding, strict decoding.

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "util/hex.hpp"

using kvs::util::from_hex;
using kvs::util::to_hex;

TEST_CASE("to_hex writes two lower-case digits a byte", "[util][hex]") {
  CHECK(to_hex(std::string_view()) == "");
  CHECK(to_hex(std::string("\x00\x01\x7f\x80\xab\xff", 6)) == "00017f80abff");
  const std::array<std::uint8_t, 3> digest{0xde, 0xad, 0x0f};
  CHECK(to_hex(digest) == "dead0f");
}

TEST_CASE("from_hex reverses to_hex for every byte value", "[util][hex]") {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const auto back = from_hex(to_hex(all));
  REQUIRE(back.has_value());
  CHECK(*back == all);
  CHECK(from_hex("") == std::string());
  CHECK(from_hex("ABcd") == std::string("\xab\xcd"));  // either case decodes
}

TEST_CASE("from_hex refuses odd lengths and non-hex characters whole", "[util][hex]") {
  CHECK_FALSE(from_hex("a").has_value());
  CHECK_FALSE(from_hex("abc").has_value());
  CHECK_FALSE(from_hex("zz").has_value());
  CHECK_FALSE(from_hex("0g").has_value());
  CHECK_FALSE(from_hex(" 00").has_value());
  CHECK_FALSE(from_hex("00 ").has_value());
  CHECK_FALSE(from_hex("0x00").has_value());
  CHECK_FALSE(from_hex("-1").has_value());
}

TEST_CASE("from_hex into a fixed buffer needs exactly two digits a byte", "[util][hex]") {
  std::array<std::uint8_t, 4> out{};
  REQUIRE(from_hex("0102a0ff", out));
  CHECK(out == std::array<std::uint8_t, 4>{0x01, 0x02, 0xa0, 0xff});
  CHECK_FALSE(from_hex("0102a0", out));      // too short
  CHECK_FALSE(from_hex("0102a0ff00", out));  // too long
  CHECK_FALSE(from_hex("0102a0fg", out));    // not hex
}
