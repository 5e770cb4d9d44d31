// util/coding.hpp: fixed-width integers in both byte orders, and the checked ByteReader.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "util/coding.hpp"

using namespace kvs::util;

TEST_CASE("big-endian puts write the most significant byte first", "[util][coding]") {
  std::string out;
  put_u16_be(out, 0x0102);
  put_u32_be(out, 0x03040506);
  put_u64_be(out, 0x0708090a0b0c0d0eULL);
  put_i64_be(out, -2);
  CHECK(out == std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"
                           "\xff\xff\xff\xff\xff\xff\xff\xfe", 22));
}

TEST_CASE("little-endian puts write the least significant byte first", "[util][coding]") {
  std::string out;
  put_u16_le(out, 0x0102);
  put_u32_le(out, 0x03040506);
  put_u64_le(out, 0x0708090a0b0c0d0eULL);
  put_i64_le(out, -2);
  CHECK(out == std::string("\x02\x01\x06\x05\x04\x03\x0e\x0d\x0c\x0b\x0a\x09\x08\x07"
                           "\xfe\xff\xff\xff\xff\xff\xff\xff", 22));
}

namespace {

// `get` reads back what `put` wrote of `value`, and `put` wrote exactly sizeof(U) bytes.
template <class U>
void check_round_trip(U value, void (*put)(std::string&, U), U (*get)(std::string_view) noexcept) {
  std::string out;
  put(out, value);
  CHECK(out.size() == sizeof(U));
  CHECK(get(out) == value);
}

}  // namespace

TEST_CASE("gets read back what puts wrote, at the edges of every width", "[util][coding]") {
  for (std::uint64_t value : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x80}, std::uint64_t{0xff},
                              std::uint64_t{0x8000}, std::uint64_t{0xffff}, std::uint64_t{0x80000000},
                              std::uint64_t{0xffffffff}, std::numeric_limits<std::uint64_t>::max()}) {
    INFO("value " << value);
    check_round_trip<std::uint64_t>(value, put_u64_be, get_u64_be);
    check_round_trip<std::uint64_t>(value, put_u64_le, get_u64_le);
    check_round_trip(static_cast<std::uint32_t>(value), put_u32_be, get_u32_be);
    check_round_trip(static_cast<std::uint32_t>(value), put_u32_le, get_u32_le);
    check_round_trip(static_cast<std::uint16_t>(value), put_u16_be, get_u16_be);
    check_round_trip(static_cast<std::uint16_t>(value), put_u16_le, get_u16_le);
  }
  for (std::int64_t value : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
                             std::numeric_limits<std::int64_t>::max()}) {
    INFO("value " << value);
    check_round_trip(value, put_i64_be, get_i64_be);
    check_round_trip(value, put_i64_le, get_i64_le);
  }
}

TEST_CASE("big-endian bytes sort like the numbers", "[util][coding]") {
  std::string small;
  std::string large;
  put_u64_be(small, 0x00ff);
  put_u64_be(large, 0x0100);
  CHECK(small < large);
}

TEST_CASE("a get reads only the front of a longer view", "[util][coding]") {
  CHECK(get_u16_be(std::string_view("\x01\x02\x03", 3)) == 0x0102);
  CHECK(get_u32_le(std::string_view("\x01\x00\x00\x00\xff", 5)) == 1u);
}

TEST_CASE("ByteReader reads a layout front to back", "[util][coding]") {
  std::string bytes;
  bytes.push_back('\x07');
  put_u16_le(bytes, 513);
  put_u32_be(bytes, 3);
  bytes += "abc";
  put_i64_le(bytes, -5);
  put_u64_be(bytes, 42);
  ByteReader reader(bytes);
  CHECK(reader.u8() == 7);
  CHECK(reader.u16_le() == 513);
  CHECK(reader.bytes(reader.u32_be()) == "abc");
  CHECK(reader.i64_le() == -5);
  CHECK(reader.remaining() == 8);
  CHECK(reader.u64_be() == 42u);
  CHECK(reader.at_end());
  CHECK_FALSE(reader.failed());
}

TEST_CASE("ByteReader fails for good on a read past the end and yields zeros", "[util][coding]") {
  std::string bytes;
  put_u32_be(bytes, 10);  // a length longer than what follows
  bytes += "abc";
  ByteReader reader(bytes);
  CHECK(reader.bytes(reader.u32_be()).empty());
  CHECK(reader.failed());
  CHECK(reader.u8() == 0);  // even a read that would fit: the failure sticks
  CHECK(reader.failed());

  ByteReader short_reader(std::string_view("\x01\x02\x03", 3));
  CHECK(short_reader.u32_le() == 0u);
  CHECK(short_reader.failed());
  CHECK(ByteReader(std::string_view()).u8() == 0);
}
