// util::crc32c: the published check values, and that it notices any single flipped bit.

#include "util/crc32c.hpp"

#include <cstdint>
#include <random>
#include <string>

#include <catch2/catch.hpp>

using kvs::util::crc32c;
using kvs::util::crc32c_portable;

TEST_CASE("crc32c matches the published check values", "[crc32c]") {
  // The standard check value (CRC-32C of "123456789") and RFC 3720's test vectors.
  CHECK(crc32c("123456789") == 0xE3069283U);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAU);
  CHECK(crc32c(std::string(32, '\xFF')) == 0x62A8AB43U);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(ascending) == 0x46DD794EU);
  CHECK(crc32c("") == 0U);
  CHECK(crc32c_portable("123456789") == 0xE3069283U);
  CHECK(crc32c_portable(ascending) == 0x46DD794EU);
}

TEST_CASE("crc32c agrees with the table at every length, offset and starting value", "[crc32c]") {
  // The instruction path takes 8 bytes a step and the rest one by one: lengths across several
  // words, at every alignment, and a running CRC carried in.
  std::mt19937 random(12);
  std::string bytes(96, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; offset + length <= bytes.size(); ++length) {
      const std::string_view piece = std::string_view(bytes).substr(offset, length);
      const std::uint32_t from = static_cast<std::uint32_t>(random());
      INFO("offset " << offset << ", length " << length);
      REQUIRE(crc32c(piece) == crc32c_portable(piece));
      REQUIRE(crc32c(piece, from) == crc32c_portable(piece, from));
    }
  }
}

TEST_CASE("crc32c continues across pieces and sees every changed bit", "[crc32c]") {
  const std::string text = "a record of some length, split anywhere";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    CHECK(crc32c(text.substr(cut), crc32c(text.substr(0, cut))) == crc32c(text));
  }
  const std::uint32_t whole = crc32c(text);
  for (std::size_t byte = 0; byte < text.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = text;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      CHECK(crc32c(flipped) != whole);
    }
  }
}
