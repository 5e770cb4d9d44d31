#include "util/text.hpp"

#include <catch2/catch.hpp>

using kvs::util::trim;

TEST_CASE("trim removes blanks on both sides and keeps those inside", "[util]") {
  CHECK(trim(" \tBearer abc \t") == "Bearer abc");
  CHECK(trim("read, write") == "read, write");
  CHECK(trim("") == "");
  CHECK(trim(" \t \t").empty());
}

TEST_CASE("trim by default keeps line ends, which a header value may not carry", "[util]") {
  CHECK(trim("\nvalue\r") == "\nvalue\r");
  CHECK(trim(" \nvalue\r ") == "\nvalue\r");
}

TEST_CASE("trim with kBlanksAndNewlines strips what a secret file ends with", "[util]") {
  CHECK(trim("  s3cret-value\r\n", kvs::util::kBlanksAndNewlines) == "s3cret-value");
  CHECK(trim("\n\n", kvs::util::kBlanksAndNewlines).empty());
}
