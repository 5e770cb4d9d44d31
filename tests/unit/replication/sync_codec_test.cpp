// The /sync/ bodies of replication/sync_codec.hpp: every field of a version survives a round
// trip (tombstones, expiry, bytes that are not UTF-8, documents with huge numbers), and
// malformed bodies are refused with kInvalidArgument instead of half-decoded.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "replication/sync_codec.hpp"

using kvs::Version;
using namespace kvs::replication;

namespace {

Version full_version() {
  Version version;
  version.path = "users/john/profile";
  version.uuid = "0b5c3c2e-6a51-4c8e-9f00-3f1d2a7e9b11";
  version.timestamp_ms = 1'732'000'000'123;
  version.data = "{\"name\":\"J\\\"ohn\",\"big\":123456789012345678901234567890,\n\"list\":[1,2]}";
  version.origin_node_id = "node-a";
  version.origin_joined_ms = 1'731'000'000'000;
  version.expires_at_ms = 1'733'000'000'000;
  version.owner_uuid = "owner";
  version.group_uuid = "group";
  version.permissions = 0x7A5;
  return version;
}

}  // namespace

TEST_CASE("a batch of versions survives encoding field by field", "[replication]") {
  Version live = full_version();
  Version tombstone = full_version();
  tombstone.path = "users/jane";
  tombstone.deleted = true;
  tombstone.data.clear();
  tombstone.expires_at_ms.reset();
  Version odd = full_version();
  odd.path = std::string("bin/\xff\xfe-key", 10);  // not UTF-8: travels hex-encoded
  odd.origin_node_id = "n\x01";

  std::string body = encode_versions({live, tombstone, odd});
  auto page = decode_versions(body);
  REQUIRE(page.is_ok());
  REQUIRE(page->versions.size() == 3);
  CHECK(page->versions[0] == live);
  CHECK(page->versions[1] == tombstone);
  CHECK(page->versions[2] == odd);
  CHECK_FALSE(page->next.has_value());

  auto paged = decode_versions(encode_versions({live}, std::string("users/john/profile")));
  REQUIRE(paged.is_ok());
  REQUIRE(paged->next.has_value());
  CHECK(*paged->next == "users/john/profile");
}

TEST_CASE("malformed push bodies are refused whole", "[replication]") {
  std::string good = encode_versions({full_version()});
  REQUIRE(decode_versions(good).is_ok());
  for (std::string bad : {std::string("not json"), std::string("[]"), std::string("{\"versions\":[]}"),
                          std::string("{\"v\":2,\"versions\":[]}"), std::string("{\"v\":1}"),
                          std::string("{\"v\":1,\"versions\":[{\"path\":\"a\"}]}")}) {
    INFO(bad);
    auto decoded = decode_versions(bad);
    REQUIRE_FALSE(decoded.is_ok());
    CHECK(decoded.status().code() == kvs::Status::Code::kInvalidArgument);
  }
  std::string too_permissive = good;
  auto at = too_permissive.find("\"permissions\":1957");
  REQUIRE(at != std::string::npos);
  too_permissive.replace(at, 18, "\"permissions\":4096");
  CHECK_FALSE(decode_versions(too_permissive).is_ok());
}

TEST_CASE("merkle summaries, leaves and index lists round-trip and are bounds-checked", "[replication]") {
  MerkleTree tree;
  tree.add(full_version());
  MerkleSummary summary{tree.root(), tree.keys(), tree.branches()};
  auto decoded = decode_summary(encode_summary(summary));
  REQUIRE(decoded.is_ok());
  CHECK(decoded->root == summary.root);
  CHECK(decoded->keys == 1);
  CHECK(decoded->branches == summary.branches);

  std::vector<std::vector<Digest>> leaves{tree.leaves(0), tree.leaves(63)};
  auto leaves_back = decode_leaves(encode_leaves(leaves));
  REQUIRE(leaves_back.is_ok());
  CHECK(*leaves_back == leaves);

  std::string after;
  auto indexes = decode_indexes(encode_indexes("buckets", {0, 17, 4095}, "users/x"), "buckets", kLeafCount,
                                kLeafCount, &after);
  REQUIRE(indexes.is_ok());
  CHECK(*indexes == std::vector<std::size_t>{0, 17, 4095});
  CHECK(after == "users/x");
  CHECK_FALSE(decode_indexes(encode_indexes("buckets", {4096}), "buckets", kLeafCount, kLeafCount).is_ok());
  CHECK_FALSE(decode_indexes(encode_indexes("branches", {1, 2, 3}), "branches", kBranchCount, 2).is_ok());
}
