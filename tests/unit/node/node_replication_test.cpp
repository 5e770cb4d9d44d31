// Versions made elsewhere: apply_version settles every conflict with compare_versions (SPEC
// section 1, "Order of versions"), a peer's tombstone deletes, and read-only mode refuses client
// writes while replication still applies.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "kvs/version.hpp"
#include "support/node_fixture.hpp"
#include "support/versions.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

Version peer_version(std::string path, std::string uuid, std::int64_t timestamp_ms, std::string data,
                     std::int64_t joined_ms = 1'000) {
  return make_version(std::move(path), std::move(uuid), timestamp_ms, std::move(data), "peer", joined_ms);
}

Version peer_tombstone(std::string path, std::string uuid, std::int64_t timestamp_ms, std::int64_t joined_ms = 1'000) {
  Version version = peer_version(std::move(path), std::move(uuid), timestamp_ms, "", joined_ms);
  version.deleted = true;
  return version;
}

std::optional<Version> stored_version(Node& node, const std::string& path) {
  std::optional<Version> found;
  REQUIRE(node.export_versions([&](const Version& v) {
    if (v.path == path) found = v;
    return true;
  }).is_ok());
  return found;
}

constexpr std::int64_t kT = 1'800'000'000'000;

}  // namespace

TEST_CASE("compare_versions orders by timestamp, then the earlier joined origin, then the smaller uuid", "[node][order]") {
  Version a = peer_version("k", "bbbb", kT, "{}", 500);
  Version b = a;
  CHECK(compare_versions(a, b) == 0);

  b.timestamp_ms = kT + 1;
  CHECK(compare_versions(b, a) > 0);
  CHECK(compare_versions(a, b) < 0);

  b = a;
  b.origin_joined_ms = 400;  // older node
  CHECK(compare_versions(b, a) > 0);
  CHECK(compare_versions(a, b) < 0);
  b.timestamp_ms = kT - 1;   // but timestamp comes first
  CHECK(compare_versions(b, a) < 0);

  b = a;
  b.uuid = "aaaa";
  CHECK(compare_versions(b, a) > 0);
  CHECK(compare_versions(a, b) < 0);
  b.origin_joined_ms = 600;  // joined comes before uuid
  CHECK(compare_versions(b, a) < 0);

  // The document does not take part in the order.
  b = a;
  b.data = "[1]";
  CHECK(compare_versions(a, b) == 0);
  CHECK(supersedes(peer_version("k", "x", kT + 1, "{}"), a));
  CHECK_FALSE(supersedes(a, a));

  // Of two forms of one write (equal timestamp, joined time and uuid), the tombstone wins: the
  // one an expiry makes of it replaces it on every node, and never the other way round.
  b = a;
  b.deleted = true;
  b.data.clear();
  CHECK(compare_versions(b, a) > 0);
  CHECK(compare_versions(a, b) < 0);
  CHECK(compare_versions(b, b) == 0);
  CHECK(supersedes(b, a));
  CHECK_FALSE(supersedes(a, b));
  // Only as the last resort: every earlier difference decides first.
  b.timestamp_ms = kT - 1;
  CHECK(compare_versions(a, b) > 0);
  b.timestamp_ms = kT;
  b.origin_joined_ms = 600;
  CHECK(compare_versions(a, b) > 0);
  b.origin_joined_ms = a.origin_joined_ms;
  b.uuid = "cccc";
  CHECK(compare_versions(a, b) > 0);
}

TEST_CASE("a version applied to an empty key becomes the current version as sent", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  Version version = peer_version("users/ann", "0f0f0f0f-0000-4000-8000-000000000001", kT, R"( {"from":"peer"} )");
  version.owner_uuid = "owner-1";
  version.group_uuid = "group-1";
  version.permissions = 0x740;
  auto applied = node.apply_version(version);
  REQUIRE(applied.is_ok());
  CHECK(*applied);
  auto got = node.get("users/ann");
  REQUIRE(got.is_ok());
  CHECK(got->uuid == version.uuid);
  CHECK(got->timestamp_ms == kT);
  CHECK(got->data == version.data);
  auto held = stored_version(node, "users/ann");
  REQUIRE(held.has_value());
  CHECK(*held == version);
  auto meta = node.get_meta("users/ann");
  REQUIRE(meta.is_ok());
  CHECK(meta->owner_uuid == "owner-1");
  CHECK(meta->group_uuid == "group-1");
  CHECK(meta->permissions == 0x740);
}

TEST_CASE("an older version loses and a newer one wins", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(*node.apply_version(peer_version("k", "u-mid", kT, R"({"v":"mid"})")));
  auto older = node.apply_version(peer_version("k", "u-old", kT - 1, R"({"v":"old"})"));
  REQUIRE(older.is_ok());
  CHECK_FALSE(*older);
  CHECK(node.get("k")->uuid == "u-mid");
  auto newer = node.apply_version(peer_version("k", "u-new", kT + 1, R"({"v":"new"})"));
  REQUIRE(newer.is_ok());
  CHECK(*newer);
  CHECK(node.get("k")->data == R"({"v":"new"})");
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 2);  // only versions this node applied
  CHECK(history->revisions[0].uuid == "u-new");
  CHECK(history->revisions[1].uuid == "u-mid");
}

TEST_CASE("on equal timestamps the origin that joined earlier wins, in either arrival order", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  Version young = peer_version("k", "u-1", kT, R"({"from":"young"})", /*joined_ms=*/2'000);
  Version old = peer_version("k", "u-2", kT, R"({"from":"old"})", /*joined_ms=*/1'000);
  REQUIRE(*node.apply_version(young));
  CHECK(*node.apply_version(old));
  CHECK(node.get("k")->data == R"({"from":"old"})");

  NodeFixture other;
  REQUIRE(*other.node().apply_version(old));
  CHECK_FALSE(*other.node().apply_version(young));
  CHECK(other.node().get("k")->data == R"({"from":"old"})");
}

TEST_CASE("on equal timestamps and joined times the smaller uuid wins, in either arrival order", "[node][apply]") {
  Version small = peer_version("k", "1111", kT, R"({"uuid":"small"})");
  Version large = peer_version("k", "9999", kT, R"({"uuid":"large"})");
  NodeFixture first;
  REQUIRE(*first.node().apply_version(large));
  CHECK(*first.node().apply_version(small));
  NodeFixture second;
  REQUIRE(*second.node().apply_version(small));
  CHECK_FALSE(*second.node().apply_version(large));
  CHECK(first.node().get("k")->uuid == "1111");
  CHECK(second.node().get("k")->uuid == "1111");
}

TEST_CASE("applying the same version twice changes nothing the second time", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  Version version = peer_version("k", "u-1", kT, "{}");
  REQUIRE(*node.apply_version(version));
  auto again = node.apply_version(version);
  REQUIRE(again.is_ok());
  CHECK_FALSE(*again);
  CHECK(node.history("k")->revisions.size() == 1);
}

TEST_CASE("a newer tombstone from a peer deletes the key, and older writes cannot bring it back", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto local = node.put("k", R"({"local":1})");
  REQUIRE(local.is_ok());
  auto deleted = node.apply_version(peer_tombstone("k", "u-del", local->timestamp_ms + 10));
  REQUIRE(deleted.is_ok());
  CHECK(*deleted);
  CHECK(node.get("k").status().code() == Code::kNotFound);
  RangeQuery query;
  CHECK(node.range(query)->items.empty());
  auto held = stored_version(node, "k");
  REQUIRE(held.has_value());
  CHECK(held->deleted);
  CHECK(held->uuid == "u-del");

  // A write the tombstone beats, arriving late, stays dead.
  auto late = node.apply_version(peer_version("k", "u-late", local->timestamp_ms + 5, R"({"late":1})"));
  REQUIRE(late.is_ok());
  CHECK_FALSE(*late);
  CHECK(node.get("k").status().code() == Code::kNotFound);
  // A local write after the tombstone is stamped after it, so it wins.
  auto again = node.put("k", R"({"again":1})");
  REQUIRE(again.is_ok());
  CHECK(again->timestamp_ms == local->timestamp_ms + 11);
}

TEST_CASE("an older tombstone from a peer loses against the live version", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto local = node.put("k", R"({"local":1})");
  REQUIRE(local.is_ok());
  auto deleted = node.apply_version(peer_tombstone("k", "u-del", local->timestamp_ms - 1));
  REQUIRE(deleted.is_ok());
  CHECK_FALSE(*deleted);
  CHECK(node.get("k")->uuid == local->uuid);
}

TEST_CASE("a tombstone for a key this node never held is kept, so the delete is remembered", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(*node.apply_version(peer_tombstone("k", "u-del", kT)));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK_FALSE(*node.apply_version(peer_version("k", "u-old", kT - 1, "{}")));
  CHECK(node.get("k").status().code() == Code::kNotFound);
}

TEST_CASE("a local write after a peer version from the future is stamped after it", "[node][apply][stamping]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  const std::int64_t future = fixture.clock.now_ms() + 3'600'000;
  REQUIRE(*node.apply_version(peer_version("k", "u-future", future, "{}")));
  auto local = node.put("k", R"({"local":1})");
  REQUIRE(local.is_ok());
  CHECK(local->timestamp_ms == future + 1);
  CHECK(node.get("k")->uuid == local->uuid);
}

TEST_CASE("apply_version rejects a malformed version and stores nothing", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  CHECK(node.apply_version(peer_version("/k/", "u", kT, "{}")).status().code() == Code::kInvalidArgument);
  CHECK(node.apply_version(peer_version("a//b", "u", kT, "{}")).status().code() == Code::kInvalidArgument);
  CHECK(node.apply_version(peer_version("", "u", kT, "{}")).status().code() == Code::kInvalidArgument);
  CHECK(node.apply_version(peer_version("k", "", kT, "{}")).status().code() == Code::kInvalidArgument);
  CHECK(node.apply_version(peer_version("k", "u", kT, "{not json")).status().code() == Code::kInvalidArgument);
  std::size_t versions = 0;
  REQUIRE(node.export_versions([&](const Version&) { ++versions; return true; }).is_ok());
  CHECK(versions == 0);
}

TEST_CASE("apply_version stores internal keys that clients may not write", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(*node.apply_version(peer_version("_system/users/u1", "u", kT, R"({"name":"ann"})")));
  auto held = stored_version(node, "_system/users/u1");
  REQUIRE(held.has_value());
  CHECK(held->data == R"({"name":"ann"})");
  RangeQuery query;
  CHECK(node.range(query)->items.empty());  // never listed to clients
}

TEST_CASE("a version with an expiry that is applied expires like a local one", "[node][apply][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  Version version = peer_version("k", "u", fixture.clock.now_ms(), "{}");
  version.expires_at_ms = fixture.clock.now_ms() + 100;
  REQUIRE(*node.apply_version(version));
  CHECK(node.get("k")->expires_at_ms == version.expires_at_ms);
  fixture.clock.advance(std::chrono::milliseconds(100));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(*node.sweep_now() == 1);
  auto held = stored_version(node, "k");
  REQUIRE(held.has_value());
  CHECK(held->deleted);
  CHECK(held->uuid == "u");
}

TEST_CASE("export_versions lists every version in key order and can stop early", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("b", "{}").is_ok());
  REQUIRE(node.put("a", "{}").is_ok());
  REQUIRE(node.put("c", "{}").is_ok());
  REQUIRE(node.remove("c").is_ok());
  std::vector<std::string> paths;
  REQUIRE(node.export_versions([&](const Version& v) { paths.push_back(v.path); return true; }).is_ok());
  CHECK(paths == std::vector<std::string>{"a", "b", "c"});
  paths.clear();
  REQUIRE(node.export_versions([&](const Version& v) { paths.push_back(v.path); return false; }).is_ok());
  CHECK(paths == std::vector<std::string>{"a"});

  // What one node exports, another imports to the same state.
  NodeFixture other;
  std::size_t applied = 0;
  REQUIRE(node.export_versions([&](const Version& v) {
    auto result = other.node().apply_version(v);
    if (result.is_ok() && *result) ++applied;
    return true;
  }).is_ok());
  CHECK(applied == 3);
  std::vector<Version> mine;
  std::vector<Version> theirs;
  REQUIRE(node.export_versions([&](const Version& v) { mine.push_back(v); return true; }).is_ok());
  REQUIRE(other.node().export_versions([&](const Version& v) { theirs.push_back(v); return true; }).is_ok());
  CHECK(mine == theirs);
}

TEST_CASE("a read-only node refuses puts and removes but applies replicated versions", "[node][read_only]") {
  NodeFixture fixture;
  REQUIRE(fixture.node().put("k", R"({"before":1})").is_ok());
  fixture.config.read_only = true;
  fixture.reopen();
  Node& node = fixture.node();
  CHECK(node.health().mode == kvs::Mode::kReadOnly);

  auto put = node.put("k", R"({"v":2})");
  REQUIRE_FALSE(put.is_ok());
  CHECK(put.status().code() == Code::kReadOnly);
  CHECK(node.put("new", "{}").status().code() == Code::kReadOnly);
  CHECK(node.remove("k").code() == Code::kReadOnly);
  MetaUpdate update;
  update.permissions = 0x700;
  CHECK(node.set_meta("k", update).status().code() == Code::kReadOnly);
  CHECK(node.get("k")->data == R"({"before":1})");
  CHECK(node.get("new").status().code() == Code::kNotFound);

  const std::int64_t later = node.get("k")->timestamp_ms + 1;
  auto applied = node.apply_version(peer_version("k", "u-peer", later, R"({"peer":1})"));
  REQUIRE(applied.is_ok());
  CHECK(*applied);
  CHECK(node.get("k")->data == R"({"peer":1})");
  REQUIRE(*node.apply_version(peer_tombstone("k", "u-peer-del", later + 1)));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(*node.apply_version(peer_version("fresh", "u-fresh", later, "{}")));
  CHECK(node.get("fresh").is_ok());
}


TEST_CASE("a batch with duplicates and versions out of order ends with the greatest version per key", "[node][apply]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(*node.apply_version(peer_version("b", "u-b-held", kT + 5, R"({"b":"held"})")));
  std::vector<Version> batch{
      peer_version("a", "u-a2", kT + 2, R"({"a":2})"),
      peer_version("a", "u-a1", kT + 1, R"({"a":1})"),   // older than the one before it
      peer_version("a", "u-a2", kT + 2, R"({"a":2})"),   // duplicate
      peer_version("b", "u-b-old", kT + 1, R"({"b":"old"})"),  // loses to the held version
      peer_version("c", "u-c1", kT + 1, R"({"c":1})"),
      peer_tombstone("c", "u-c2", kT + 3),               // a later delete
      peer_version("bad path/", "u-bad", kT, "{}"),       // refused alone
      peer_version("a", "u-a3", kT + 3, R"({"a":3})"),
  };
  auto results = node.apply_versions(batch);
  REQUIRE(results.size() == batch.size());
  CHECK(*results[0]);
  CHECK_FALSE(*results[1]);
  CHECK_FALSE(*results[2]);
  CHECK_FALSE(*results[3]);
  CHECK(*results[4]);
  CHECK(*results[5]);
  CHECK_FALSE(results[6].is_ok());
  CHECK(*results[7]);

  CHECK(stored_version(node, "a")->uuid == "u-a3");
  CHECK(stored_version(node, "b")->uuid == "u-b-held");
  CHECK(stored_version(node, "c")->deleted);
  CHECK(node.get("c").status().code() == Code::kNotFound);

  // The same Merkle root as a node that received only the winners, one at a time.
  NodeFixture other;
  REQUIRE(*other.node().apply_version(peer_version("a", "u-a3", kT + 3, R"({"a":3})")));
  REQUIRE(*other.node().apply_version(peer_version("b", "u-b-held", kT + 5, R"({"b":"held"})")));
  REQUIRE(*other.node().apply_version(peer_tombstone("c", "u-c2", kT + 3)));
  CHECK(node.merkle_root().root == other.node().merkle_root().root);
  CHECK(node.merkle_root().keys == 3);

  // Replaying the batch, in reverse, changes nothing.
  std::vector<Version> reversed(batch.rbegin(), batch.rend());
  for (auto& result : node.apply_versions(reversed)) {
    if (result.is_ok()) CHECK_FALSE(*result);
  }
  CHECK(node.merkle_root().root == other.node().merkle_root().root);
}

}  // namespace kvs::test
