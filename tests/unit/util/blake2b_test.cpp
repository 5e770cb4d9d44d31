// util/blake2b.hpp against the BLAKE2b test vectors of RFC 7693 and the reference
// implementation's keyed vectors, and the incremental hasher against the one-shot digest.

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "util/blake2b.hpp"
#include "util/hex.hpp"

using kvs::util::blake2b;
using kvs::util::blake2b_keyed;
using kvs::util::Blake2bHasher;
using kvs::util::to_hex;

TEST_CASE("blake2b matches the RFC 7693 vector for \"abc\"", "[util][blake2b]") {
  CHECK(to_hex(blake2b<64>("abc")) ==
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

TEST_CASE("blake2b of nothing matches the published 32-byte digest", "[util][blake2b]") {
  CHECK(to_hex(blake2b("")) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST_CASE("the digest size is part of the hash, not a truncation", "[util][blake2b]") {
  const auto short_digest = blake2b<16>("kvs");
  const auto long_digest = blake2b<32>("kvs");
  CHECK(to_hex(short_digest) != to_hex(long_digest).substr(0, 32));
}

TEST_CASE("keyed blake2b matches the reference keyed vector and differs from unkeyed", "[util][blake2b]") {
  // blake2b-kat.txt: key 00..3f, input empty.
  std::array<std::uint8_t, 64> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  CHECK(to_hex(blake2b_keyed<64>("", key)) ==
        "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
        "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568");
  CHECK(blake2b_keyed("x", key) != blake2b("x"));
}

TEST_CASE("the incremental hasher equals the one-shot digest of the concatenation", "[util][blake2b]") {
  Blake2bHasher hasher;
  hasher.update("hello, ");
  hasher.update(std::string_view());
  const std::string world = "world";
  hasher.update(world.data(), world.size());
  CHECK(hasher.final() == blake2b("hello, world"));

  Blake2bHasher wide(64);
  wide.update("abc");
  CHECK(wide.final<64>() == blake2b<64>("abc"));
}
