// Key and document validation: every rejection rule of SPEC section 1, through normalize_key,
// validate_json and the Node operations that take a key or a document.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

// Every live key, in key order.
std::vector<std::string> all_keys(Node& node) {
  RangeQuery query;
  query.limit = kMaxRangeLimit;
  auto listed = node.range(query);
  REQUIRE(listed.is_ok());
  std::vector<std::string> keys;
  for (const auto& item : listed->items) keys.push_back(item.path);
  return keys;
}

const std::vector<std::string>& rejected_keys() {
  static const std::vector<std::string> keys = {
      "",
      "/",
      "///",
      "a//b",
      "a///b/c",
      ".",
      "..",
      "a/./b",
      "a/../b",
      "a/.",
      "../a",
      std::string("a\x01" "b", 3),
      std::string("a\0b", 3),
      "a\nb",
      "a\tb",
      "a\x1f",
      "a\x7f" "b",
      "_range",
      "_system/users",
      "/_auth/x",
      "_",
      std::string(1025, 'k'),
      "a/" + std::string(1023, 'k'),
  };
  return keys;
}

}  // namespace

TEST_CASE("normalize_key strips leading and trailing slashes and keeps the rest", "[node][keys]") {
  CHECK(*normalize_key("users/john/profile") == "users/john/profile");
  CHECK(*normalize_key("/users/john/") == "users/john");
  CHECK(*normalize_key("//users//") == "users");
  CHECK(*normalize_key("a") == "a");
  CHECK(*normalize_key("a/_b") == "a/_b");           // only the first segment is reserved
  CHECK(*normalize_key("a.b/..c/d..") == "a.b/..c/d..");  // dots inside a segment are fine
  CHECK(*normalize_key("caf\xc3\xa9/\xe2\x9c\x93") == "caf\xc3\xa9/\xe2\x9c\x93");  // UTF-8 is not a control char
  CHECK(*normalize_key(std::string(1024, 'k')) == std::string(1024, 'k'));
  CHECK(*normalize_key("/" + std::string(1024, 'k') + "/") == std::string(1024, 'k'));  // limit after stripping
}

TEST_CASE("normalize_key rejects every malformed key of the spec with invalid_argument", "[node][keys]") {
  for (const auto& key : rejected_keys()) {
    auto normalized = normalize_key(key);
    INFO("key '" << key << "' (" << key.size() << " bytes)");
    REQUIRE_FALSE(normalized.is_ok());
    CHECK(normalized.status().code() == Code::kInvalidArgument);
    CHECK_FALSE(normalized.status().message().empty());
  }
}

TEST_CASE("normalize_key admits a reserved first segment only when asked to", "[node][keys]") {
  CHECK_FALSE(normalize_key("_system/x").is_ok());
  CHECK(*normalize_key("_system/x", /*allow_reserved=*/true) == "_system/x");
  CHECK_FALSE(normalize_key("_system//x", /*allow_reserved=*/true).is_ok());
}

TEST_CASE("every node operation rejects a malformed key and writes nothing", "[node][keys]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const auto& key : rejected_keys()) {
    INFO("key '" << key << "'");
    auto put = node.put(key, "{}");
    REQUIRE_FALSE(put.is_ok());
    CHECK(put.status().code() == Code::kInvalidArgument);
    CHECK(node.get(key).status().code() == Code::kInvalidArgument);
    CHECK(node.remove(key).code() == Code::kInvalidArgument);
    CHECK(node.history(key).status().code() == Code::kInvalidArgument);
    CHECK(node.get_revision(key, 1).status().code() == Code::kInvalidArgument);
    CHECK(node.get_meta(key).status().code() == Code::kInvalidArgument);
  }
  CHECK(all_keys(node).empty());
  CHECK(node.health().keys == 0);
}

TEST_CASE("a key with leading and trailing slashes is stored under its normalised path", "[node][keys]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto put = node.put("/users/john/", R"({"name":"john"})");
  REQUIRE(put.is_ok());

  auto plain = node.get("users/john");
  REQUIRE(plain.is_ok());
  CHECK(plain->path == "users/john");
  CHECK(plain->data == R"({"name":"john"})");
  auto slashed = node.get("//users/john//");
  REQUIRE(slashed.is_ok());
  CHECK(slashed->uuid == put->uuid);
  CHECK(all_keys(node) == std::vector<std::string>{"users/john"});

  REQUIRE(node.remove("users/john/").is_ok());
  CHECK(node.get("users/john").status().code() == Code::kNotFound);
}

TEST_CASE("a key of exactly 1024 bytes is stored and read back; 1025 bytes is rejected", "[node][keys]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  // Long keys with several segments, as deep paths are: LMDB's own key limit must not leak out.
  std::string key = "deep";
  while (key.size() < 1024) key += "/" + std::string(std::min<std::size_t>(99, 1024 - key.size() - 1), 's');
  REQUIRE(key.size() == 1024);
  auto put = node.put(key, R"({"long":true})");
  REQUIRE(put.is_ok());
  auto got = node.get(key);
  REQUIRE(got.is_ok());
  CHECK(got->path == key);
  CHECK(got->data == R"({"long":true})");
  CHECK(all_keys(node) == std::vector<std::string>{key});
  REQUIRE(node.put(key, R"({"long":2})").is_ok());
  auto history = node.history(key);
  REQUIRE(history.is_ok());
  CHECK(history->revisions.size() == 2);
  REQUIRE(node.remove(key).is_ok());
  CHECK(node.get(key).status().code() == Code::kNotFound);

  auto too_long = node.put(key + "x", "{}");
  REQUIRE_FALSE(too_long.is_ok());
  CHECK(too_long.status().code() == Code::kInvalidArgument);
}

TEST_CASE("validate_json accepts any complete JSON document", "[node][json]") {
  for (const char* json : {"{}", "[]", "42", "-1.5e3", "\"text\"", "null", "true", "false",
                           R"({"a":[1,2,{"b":null}],"c":"\u00e9"})", " \n{ \"spaced\" : 1 }\n ",
                           "[1, 2.0, -3e-2]", "\"caf\xc3\xa9\""}) {
    INFO(json);
    CHECK(validate_json(json).is_ok());
  }
}

TEST_CASE("validate_json rejects what is not exactly one JSON document", "[node][json]") {
  for (const char* json : {"", " ", "{", "}", "{\"a\":}", "{\"a\" 1}", "[1,2", "nope", "{'a':1}",
                           "{\"a\":1,}", "tru", "\"unterminated", "{} {}", "{\"a\":1} x", "01x",
                           "{\"a\":\"\x01\"}"}) {
    INFO("'" << json << "'");
    auto status = validate_json(json);
    CHECK_FALSE(status.is_ok());
    CHECK(status.code() == Code::kInvalidArgument);
  }
}

TEST_CASE("a put of invalid JSON is invalid_argument and leaves the held version alone", "[node][json]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto first = node.put("doc", R"({"v":1})");
  REQUIRE(first.is_ok());
  for (const char* json : {"", "{", "{\"v\":2", "not json", "{} {}"}) {
    INFO("'" << json << "'");
    auto put = node.put("doc", json);
    REQUIRE_FALSE(put.is_ok());
    CHECK(put.status().code() == Code::kInvalidArgument);
    CHECK(node.put("fresh", json).status().code() == Code::kInvalidArgument);
  }
  auto got = node.get("doc");
  REQUIRE(got.is_ok());
  CHECK(got->uuid == first->uuid);
  CHECK(got->data == R"({"v":1})");
  CHECK(node.get("fresh").status().code() == Code::kNotFound);
  CHECK(node.history("doc")->revisions.size() == 1);
}

TEST_CASE("a document over max_json_size is too_large; one of exactly max_json_size is stored", "[node][json]") {
  NodeFixture fixture([](Config& config) { config.max_json_size = 1000; });
  Node& node = fixture.node();
  std::string exact = json_of_size(1000);
  REQUIRE(exact.size() == 1000);
  REQUIRE(node.put("exact", exact).is_ok());
  CHECK(node.get("exact")->data == exact);

  std::string over = json_of_size(1001);
  REQUIRE(over.size() == 1001);
  auto put = node.put("over", over);
  REQUIRE_FALSE(put.is_ok());
  CHECK(put.status().code() == Code::kTooLarge);
  CHECK(node.get("over").status().code() == Code::kNotFound);
  // Replacing an existing key with an oversized document leaves the old one.
  CHECK(node.put("exact", over).status().code() == Code::kTooLarge);
  CHECK(node.get("exact")->data == exact);
}

TEST_CASE("the default max_json_size is 1 MiB", "[node][json]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  std::string exact = json_of_size(1048576);
  REQUIRE(node.put("mib", exact).is_ok());
  CHECK(node.get("mib")->data == exact);
  CHECK(node.put("mib-plus", json_of_size(1048577)).status().code() == Code::kTooLarge);
}

TEST_CASE("a document is stored exactly as sent, whitespace and number spelling included", "[node][json]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  const std::vector<std::string> documents = {
      " { \"a\" :  1 ,\n\t\"b\" : [ 1 ,2 ] }\n",
      "{\"n\":1.0e3,\"m\":-0.0,\"e\":1E+2}",
      "{\"u\":\"\\u00e9\\n\",\"raw\":\"caf\xc3\xa9\"}",
      "{\"z\":1,\"a\":2,\"z\":3}",
      "  \"just a string\"  ",
      "7",
      "null",
  };
  for (std::size_t i = 0; i < documents.size(); ++i) {
    std::string key = "docs/" + std::to_string(i);
    INFO(documents[i]);
    REQUIRE(node.put(key, documents[i]).is_ok());
    auto got = node.get(key);
    REQUIRE(got.is_ok());
    CHECK(got->data == documents[i]);
  }
  RangeQuery query;
  query.prefix = "docs/";
  query.values = true;
  auto listed = node.range(query);
  REQUIRE(listed.is_ok());
  REQUIRE(listed->items.size() == documents.size());
  for (std::size_t i = 0; i < documents.size(); ++i) CHECK(*listed->items[i].data == documents[i]);
}

TEST_CASE("a document with numbers beyond 64 bits is valid JSON and stored as sent", "[node][json]") {
  // JSON numbers have no range; kvs never interprets them, so it must not refuse them either
  // (128-bit ids, big decimals, exponents past double).
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* json : {"123456789012345678901234567890", "{\"id\":18446744073709551616}",
                           "[-9223372036854775809]", "{\"huge\":1e400}"}) {
    INFO(json);
    CHECK(validate_json(json).is_ok());
    auto put = node.put("numbers", json);
    CHECK(put.is_ok());
    if (put.is_ok()) CHECK(node.get("numbers")->data == json);
  }
}

}  // namespace kvs::test
