// kvs-server's JSON writer (kvs-server/json_writer.cpp, compiled into this test: kvs-server is a
// program, not a library). Its strings follow libkvs's policy (tests/unit/util/
// json_writer_test.cpp has the full set of invalid-UTF-8 classes); here one case a class, and
// the writer's structure.

#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "json_writer.hpp"

using kvs::server::append_json_string;
using kvs::server::JsonWriter;

namespace {

std::string quote(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

const std::string kFffd = "\xEF\xBF\xBD";

}  // namespace

TEST_CASE("the server's writer escapes quote, backslash and control characters", "[server][json]") {
  CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
  CHECK(quote(std::string("\0\x1f\x7f", 3)) == "\"\\u0000\\u001f\\u007f\"");
}

TEST_CASE("the server's writer keeps valid UTF-8 and replaces each invalid byte", "[server][json]") {
  CHECK(quote("caf\xC3\xA9 \xF4\x8F\xBF\xBF") == "\"caf\xC3\xA9 \xF4\x8F\xBF\xBF\"");
  CHECK(quote("a\x80z") == "\"a" + kFffd + "z\"");                         // stray continuation
  CHECK(quote("\xE2\x82" "A") == "\"" + kFffd + kFffd + "A\"");           // truncated
  CHECK(quote("\xC0\xAF") == "\"" + kFffd + kFffd + "\"");                // overlong
  CHECK(quote("\xED\xA0\x80") == "\"" + kFffd + kFffd + kFffd + "\"");    // surrogate
  CHECK(quote("\xF4\x90\x80\x80") == "\"" + kFffd + kFffd + kFffd + kFffd + "\"");  // above U+10FFFF
  CHECK(quote("\xFF\xC3\xA9") == "\"" + kFffd + "\xC3\xA9\"");             // the next character survives
}

TEST_CASE("JsonWriter separates members and elements with commas", "[server][json]") {
  JsonWriter writer;
  writer.begin_object()
      .key("error").string("bad \xFF key")
      .key("list").begin_array().number(std::int64_t{-1}).number(std::uint64_t{2}).boolean(true).null().end_array()
      .key("doc").raw("{\"a\":1}")
      .end_object();
  CHECK(writer.str() == "{\"error\":\"bad " + kFffd + " key\",\"list\":[-1,2,true,null],\"doc\":{\"a\":1}}");
}
