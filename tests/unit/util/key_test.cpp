// util/key.hpp: the reserved-key rule. normalize_key's full rule set is tested through the
// public kvs::normalize_key in tests/unit/node/node_validation_test.cpp.

#include <catch2/catch.hpp>

#include "util/key.hpp"

using kvs::util::is_reserved_path;
using kvs::util::normalize_key;

TEST_CASE("a path is reserved when its first segment starts with an underscore", "[util][key]") {
  CHECK(is_reserved_path("_users/abc"));
  CHECK(is_reserved_path("_"));
  CHECK(is_reserved_path("_ts:0000000000000:x"));
  CHECK_FALSE(is_reserved_path("users/_abc"));
  CHECK_FALSE(is_reserved_path("u_sers"));
  CHECK_FALSE(is_reserved_path(""));
}

TEST_CASE("normalize_key applies the reserved rule to the normalised key only", "[util][key]") {
  CHECK_FALSE(normalize_key("/_users/x", false).is_ok());
  CHECK(*normalize_key("/_users/x/", true) == "_users/x");
  CHECK(*normalize_key("a/_b", false) == "a/_b");
}
