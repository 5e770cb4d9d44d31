#include "put_body.hpp"

#include <catch2/catch.hpp>

using kvs::server::parse_put_body;

TEST_CASE("a PUT body with exactly data and ttl is an envelope whose data is kept byte for byte", "[server][put]") {
  auto parsed = parse_put_body(R"( {"ttl": "1h30m", "data": {"a" : [1, 2.50]}} )");
  REQUIRE(parsed.is_ok());
  CHECK(parsed->envelope);
  CHECK(parsed->envelope_data == R"({"a" : [1, 2.50]})");
  REQUIRE(parsed->ttl.has_value());
  CHECK(parsed->ttl->count() == 90 * 60 * 1000);
}

TEST_CASE("a PUT body with other members, or not an object, is the plain document", "[server][put]") {
  for (const char* body : {R"({"data":1,"ttl":"1s","x":2})", R"({"data":1})", R"(["data","ttl"])", R"("ttl data")",
                           R"({"data":1,"ttl":"1s")", ""}) {
    INFO(body);
    auto parsed = parse_put_body(body);
    REQUIRE(parsed.is_ok());
    CHECK_FALSE(parsed->envelope);
    CHECK_FALSE(parsed->ttl.has_value());
  }
}

TEST_CASE("an envelope whose ttl is not a duration string is refused", "[server][put]") {
  for (const char* body : {R"({"data":1,"ttl":30})", R"({"data":1,"ttl":"7d"})", R"({"data":1,"ttl":""})",
                           R"({"data":1,"ttl":null})"}) {
    INFO(body);
    auto parsed = parse_put_body(body);
    REQUIRE_FALSE(parsed.is_ok());
    CHECK(parsed.status().code() == kvs::Status::Code::kInvalidArgument);
  }
}

TEST_CASE("a body that is not valid JSON is never an envelope, whatever its members look like", "[server][put]") {
  // Found by fuzz/put_body_fuzz.cpp: a malformed nested value let the splitter read its "ttl"
  // as the outer object's.
  auto parsed = parse_put_body(R"({"data":{a0t":ad","ttl":"1s"},"ttl":"5s"})");
  REQUIRE(parsed.is_ok());
  CHECK_FALSE(parsed->envelope);
  CHECK_FALSE(parsed->ttl.has_value());
}
