// The log_format config key (libkvs/src/config/config.cpp): its default, its two values, a bad
// value refused naming the key, and its place in the default file. The formats themselves are
// tested in tests/unit/util/log_test.cpp.

#include <string>

#include <catch2/catch.hpp>

#include "kvs/config.hpp"

TEST_CASE("log_format defaults to text, takes json, and a bad value names the key", "[config]") {
  auto defaults = kvs::parse_config("");
  REQUIRE(defaults.is_ok());
  CHECK(defaults->log_format == "text");

  auto json = kvs::parse_config("log_format: json\n");
  REQUIRE(json.is_ok());
  CHECK(json->log_format == "json");

  auto bad = kvs::parse_config("log_format: xml\n");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().code() == kvs::Status::Code::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::Contains("log_format") && Catch::Contains("xml"));

  CHECK_THAT(kvs::default_config_yaml(), Catch::Contains("\nlog_format: "));
}
