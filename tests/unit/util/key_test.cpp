// util/key.hpp: the reserved-key rule, and the copy-free check of an already-normal key against
// normalize_key. normalize_key's full rule set is tested through the public kvs::normalize_key in
// tests/unit/node/node_validation_test.cpp.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "util/key.hpp"

using kvs::util::is_normal_key;
using kvs::util::is_reserved_path;
using kvs::util::kMaxKeyBytes;
using kvs::util::normalize_key;
using kvs::util::normalize_key_view;

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

namespace {

// Keys across every rule: normal ones, ones normalize_key repairs, and ones it rejects.
std::vector<std::string> sample_keys() {
  return {"a", "users/john", "a/_b", "a.b/..c/d..", ".x/x.", "caf\xc3\xa9", "_users/x",
          std::string(kMaxKeyBytes, 'k'), std::string(kMaxKeyBytes + 1, 'k'), "/a", "a/", "//a//",
          "/" + std::string(kMaxKeyBytes, 'k') + "/", "", "/", "//", "a//b", ".", "..", "a/./b",
          "a/../b", "a/..", "./a", std::string("a\0b", 3), "a\tb", "a\x7f", "_", "/_users/x"};
}

}  // namespace

TEST_CASE("is_normal_key holds exactly for the keys normalize_key returns unchanged", "[util][key]") {
  for (bool allow_reserved : {false, true}) {
    for (const std::string& key : sample_keys()) {
      INFO("key '" << key << "' (" << key.size() << " bytes), allow_reserved " << allow_reserved);
      auto normalized = normalize_key(key, allow_reserved);
      const bool unchanged = normalized.is_ok() && *normalized == key;
      CHECK(is_normal_key(key, allow_reserved) == unchanged);
    }
  }
  CHECK(is_normal_key("users/john", false));
  CHECK_FALSE(is_normal_key("/users/john", false));
  CHECK_FALSE(is_normal_key("_users/x", false));
  CHECK(is_normal_key("_users/x", true));
}

TEST_CASE("is_normal_key agrees with normalize_key on every short key over the bytes that matter",
          "[util][key]") {
  // Every key of up to 5 bytes drawn from: a letter, the separator, a dot, the reserved mark,
  // and a control character.
  const std::string alphabet = std::string("a/._") + '\x01';
  std::vector<std::string> keys = {""};
  for (std::size_t begin = 0, length = 1; length <= 5; ++length) {
    const std::size_t end = keys.size();
    for (std::size_t k = begin; k < end; ++k) {
      for (char c : alphabet) keys.push_back(keys[k] + c);
    }
    begin = end;
  }
  for (bool allow_reserved : {false, true}) {
    for (const std::string& key : keys) {
      auto normalized = normalize_key(key, allow_reserved);
      const bool unchanged = normalized.is_ok() && *normalized == key;
      if (is_normal_key(key, allow_reserved) != unchanged) FAIL("key '" << key << "', allow_reserved " << allow_reserved);
    }
  }
  CHECK(keys.size() == 1 + 5 + 25 + 125 + 625 + 3125);
}

TEST_CASE("normalize_key_view returns a normal key in place and normalises the rest into scratch", "[util][key]") {
  std::string scratch;
  const std::string normal = "users/john/profile";
  auto same = normalize_key_view(normal, false, scratch);
  REQUIRE(same.is_ok());
  CHECK(same->data() == normal.data());  // no copy: a view of the argument
  CHECK(*same == normal);
  CHECK(scratch.empty());

  const std::string slashed = "//users/john/";
  auto repaired = normalize_key_view(slashed, false, scratch);
  REQUIRE(repaired.is_ok());
  CHECK(*repaired == "users/john");
  CHECK(repaired->data() == scratch.data());

  for (const std::string& key : sample_keys()) {
    INFO("key '" << key << "'");
    std::string holder;
    auto viewed = normalize_key_view(key, false, holder);
    auto normalized = normalize_key(key, false);
    REQUIRE(viewed.is_ok() == normalized.is_ok());
    if (viewed.is_ok()) {
      CHECK(*viewed == *normalized);
    } else {
      CHECK(viewed.status().code() == normalized.status().code());
      CHECK(viewed.status().message() == normalized.status().message());
    }
  }
}
