// util::append_json_string: the one JSON string writer of libkvs and its UTF-8 policy (valid
// UTF-8 passes, each invalid byte becomes U+FFFD, control characters are escaped). Every class
// of invalid UTF-8 has its own case; a seeded sweep of random bytes checks the output against
// simdjson's parser. Not covered: kvs-server's own writer (tests/unit/server).

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "util/json_writer.hpp"

using kvs::util::append_json_string;
using kvs::util::is_valid_utf8;
using kvs::util::json_string;

namespace {

const std::string kFffd = "\xEF\xBF\xBD";

// The literal the writer should produce for `body` (quotes added).
std::string literal(std::string_view body) { return "\"" + std::string(body) + "\""; }

std::string repeat_fffd(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kFffd;
  return out;
}

}  // namespace

TEST_CASE("the JSON writer appends a quoted literal to what is there", "[util][json]") {
  std::string out = "{\"a\":";
  append_json_string(out, "b");
  CHECK(out == "{\"a\":\"b\"");
  CHECK(json_string("") == "\"\"");
  CHECK(json_string("plain text 123") == "\"plain text 123\"");
}

TEST_CASE("the JSON writer escapes quote, backslash and every control character", "[util][json]") {
  CHECK(json_string("a\"b") == literal("a\\\"b"));
  CHECK(json_string("a\\b") == literal("a\\\\b"));
  CHECK(json_string("\b\f\n\r\t") == literal("\\b\\f\\n\\r\\t"));
  CHECK(json_string(std::string("a\0b", 3)) == literal("a\\u0000b"));
  CHECK(json_string("\x01\x1f") == literal("\\u0001\\u001f"));
  CHECK(json_string("\x7f") == literal("\\u007f"));
  CHECK(json_string("/") == literal("/"));  // '/' needs no escape
  for (int c = 0; c < 0x20; ++c) {
    const std::string out = json_string(std::string(1, static_cast<char>(c)));
    INFO("control character " << c);
    CHECK(out.size() > 3);
    CHECK(out[1] == '\\');
  }
}

TEST_CASE("the JSON writer passes valid UTF-8 through, boundaries included", "[util][json]") {
  for (std::string_view text : {
           "\xC2\x80",          // U+0080, the first two-byte character
           "\xDF\xBF",          // U+07FF
           "\xE0\xA0\x80",      // U+0800, the first three-byte character
           "\xED\x9F\xBF",      // U+D7FF, just below the surrogates
           "\xEE\x80\x80",      // U+E000, just above them
           "\xEF\xBF\xBF",      // U+FFFF
           "\xF0\x90\x80\x80",  // U+10000, the first four-byte character
           "\xF4\x8F\xBF\xBF",  // U+10FFFF, the last code point
           "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
       }) {
    INFO("input bytes: " << text.size());
    CHECK(json_string(text) == literal(text));
    CHECK(is_valid_utf8(text));
  }
}

TEST_CASE("the JSON writer replaces a stray continuation byte with U+FFFD", "[util][json]") {
  CHECK(json_string("a\x80z") == literal("a" + kFffd + "z"));
  CHECK(json_string("\xBF") == literal(kFffd));
  CHECK(json_string("\xC3\xA9\xA9") == literal("\xC3\xA9" + kFffd));  // one continuation too many
  CHECK_FALSE(is_valid_utf8("a\x80z"));
}

TEST_CASE("the JSON writer replaces each byte of a truncated sequence", "[util][json]") {
  CHECK(json_string("\xC3") == literal(kFffd));                     // at the end
  CHECK(json_string("\xE2\x82") == literal(repeat_fffd(2)));
  CHECK(json_string("\xF0\x9F\x98") == literal(repeat_fffd(3)));
  CHECK(json_string("\xE2\x82" "A") == literal(repeat_fffd(2) + "A"));  // cut short by ASCII
  CHECK(json_string("\xF0\x9F" "\xC3\xA9") == literal(repeat_fffd(2) + "\xC3\xA9"));  // by a valid character
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));
}

TEST_CASE("the JSON writer replaces every byte of an overlong form", "[util][json]") {
  CHECK(json_string("\xC0\xAF") == literal(repeat_fffd(2)));              // '/' in two bytes
  CHECK(json_string("\xC1\xBF") == literal(repeat_fffd(2)));              // U+007F in two bytes
  CHECK(json_string("\xE0\x80\xAF") == literal(repeat_fffd(3)));          // '/' in three bytes
  CHECK(json_string("\xE0\x9F\xBF") == literal(repeat_fffd(3)));          // U+07FF in three bytes
  CHECK(json_string("\xF0\x80\x80\xAF") == literal(repeat_fffd(4)));      // '/' in four bytes
  CHECK(json_string("\xF0\x8F\xBF\xBF") == literal(repeat_fffd(4)));      // U+FFFF in four bytes
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));
  CHECK_FALSE(is_valid_utf8("\xE0\x9F\xBF"));
  CHECK_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));
}

TEST_CASE("the JSON writer replaces every byte of an encoded surrogate", "[util][json]") {
  CHECK(json_string("\xED\xA0\x80") == literal(repeat_fffd(3)));  // U+D800
  CHECK(json_string("\xED\xBF\xBF") == literal(repeat_fffd(3)));  // U+DFFF
  CHECK(json_string("\xED\xA0\xBD\xED\xB8\x80") == literal(repeat_fffd(6)));  // a CESU-8 pair
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));
}

TEST_CASE("the JSON writer replaces code points above U+10FFFF and bytes never used", "[util][json]") {
  CHECK(json_string("\xF4\x90\x80\x80") == literal(repeat_fffd(4)));  // U+110000
  CHECK(json_string("\xF5\x80\x80\x80") == literal(repeat_fffd(4)));
  CHECK(json_string("\xF7\xBF\xBF\xBF") == literal(repeat_fffd(4)));
  CHECK(json_string("\xF8\x88\x80\x80\x80") == literal(repeat_fffd(5)));  // old five-byte form
  CHECK(json_string("\xFE\xFF") == literal(repeat_fffd(2)));
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xFF"));
}

TEST_CASE("an invalid byte never swallows the character after it", "[util][json]") {
  CHECK(json_string("\xFF\xC3\xA9") == literal(kFffd + "\xC3\xA9"));
  CHECK(json_string("\xC3\"") == literal(kFffd + "\\\""));  // a lead byte before a quote
  CHECK(json_string("\xE2\n") == literal(kFffd + "\\n"));
}

TEST_CASE("whatever the bytes, the writer's output parses as the string it should", "[util][json]") {
  // Seeded, so a failure replays; KVS_SIM_SEED is not read: the sweep is small and fixed.
  std::mt19937 random(20261205);
  std::uniform_int_distribution<int> length(0, 24);
  std::uniform_int_distribution<int> byte(0, 255);
  simdjson::dom::parser parser;
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    const int n = length(random);
    for (int i = 0; i < n; ++i) {
      // Favour the bytes around the UTF-8 edges so that the sweep meets them often.
      int b = byte(random);
      if (round % 2 == 0 && b < 128) b = 0x80 + (b % 0x78);
      text.push_back(static_cast<char>(b));
    }
    const std::string json = json_string(text);
    std::string_view parsed;
    INFO("round " << round);
    REQUIRE(parser.parse(json).get_string().get(parsed) == simdjson::SUCCESS);
    const bool valid = simdjson::validate_utf8(text.data(), text.size());
    CHECK(is_valid_utf8(text) == valid);
    if (valid) CHECK(parsed == text);
  }
}
