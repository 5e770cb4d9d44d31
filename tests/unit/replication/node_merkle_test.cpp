// kvs::Node keeps its Merkle tree current on every write path (put, remove, set_meta, reserved
// keys, apply_version, purges) and rebuilds the same tree at open.

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/node_fixture.hpp"

using kvs::Version;
using kvs::test::NodeFixture;
using kvs::test::stored_versions;

TEST_CASE("two nodes that applied the same versions in different orders report the same root", "[replication]") {
  NodeFixture a;
  NodeFixture b;
  const std::string empty_root = b.node().merkle_root().root;
  REQUIRE(empty_root.size() == 64);

  for (int i = 0; i < 20; ++i) REQUIRE(a.node().put("k/" + std::to_string(i), "{\"i\":" + std::to_string(i) + "}").is_ok());
  a.clock.advance(std::chrono::milliseconds(5));
  REQUIRE(a.node().put("k/3", "{\"again\":true}").is_ok());
  REQUIRE(a.node().remove("k/4").is_ok());
  REQUIRE(a.node().set_meta("k/5", kvs::MetaUpdate{std::nullopt, std::nullopt, std::uint16_t{0x700}}).is_ok());
  auto root_a = a.node().merkle_root();
  CHECK(root_a.keys == 20);
  CHECK(root_a.root != empty_root);

  auto versions = stored_versions(a.node());
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) REQUIRE(b.node().apply_version(*it).is_ok());
  CHECK(b.node().merkle_root().root == root_a.root);
  CHECK(b.node().merkle_root().keys == 20);

  // Re-applying (a duplicated or replayed push) changes nothing.
  for (const auto& version : versions) CHECK_FALSE(*b.node().apply_version(version));
  CHECK(b.node().merkle_root().root == root_a.root);
}

TEST_CASE("the tree rebuilt at open equals the one kept incrementally", "[replication]") {
  NodeFixture fixture;
  for (int i = 0; i < 30; ++i) REQUIRE(fixture.node().put("r/" + std::to_string(i % 10), "[" + std::to_string(i) + "]").is_ok());
  REQUIRE(fixture.node().remove("r/1").is_ok());
  auto before = fixture.node().merkle_root();
  fixture.reopen();
  auto after = fixture.node().merkle_root();
  CHECK(after.root == before.root);
  CHECK(after.keys == before.keys);
}

TEST_CASE("purging an expired key or an old tombstone takes it out of the tree", "[replication]") {
  NodeFixture fixture([](kvs::Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  kvs::Node& node = fixture.node();
  const std::string empty_root = node.merkle_root().root;
  kvs::PutOptions ttl;
  ttl.ttl = std::chrono::seconds(10);
  REQUIRE(node.put("short", "1", ttl).is_ok());
  REQUIRE(node.put("gone", "2").is_ok());
  REQUIRE(node.remove("gone").is_ok());
  CHECK(node.merkle_root().keys == 2);
  fixture.clock.advance(std::chrono::hours(2));
  auto purged = node.sweep_now();
  REQUIRE(purged.is_ok());
  CHECK(*purged == 3);  // the expiry, its tombstone (an hour past the expiry) and "gone"'s
  CHECK(node.merkle_root().keys == 0);
  CHECK(node.merkle_root().root == empty_root);
}
