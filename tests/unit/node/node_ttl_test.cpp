// TTL expiry and purging on a ManualClock: an expired key reads as absent at once, sweep_now
// turns expired keys into tombstones (the same write, deleted) and purges tombstones older than
// tombstone_ttl, an expiry's counted from its expiry. No test sleeps.

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

// Every stored version (tombstones and expired ones included), in key order.
std::vector<Version> stored(Node& node) {
  std::vector<Version> versions;
  REQUIRE(node.export_versions([&](const Version& v) { versions.push_back(v); return true; }).is_ok());
  return versions;
}

std::vector<std::string> stored_paths(Node& node) {
  std::vector<std::string> paths;
  for (const auto& version : stored(node)) paths.push_back(version.path);
  return paths;
}

// Stored versions that are not tombstones, and tombstones, by path.
std::vector<std::string> live_paths(Node& node) {
  std::vector<std::string> paths;
  for (const auto& version : stored(node)) {
    if (!version.deleted) paths.push_back(version.path);
  }
  return paths;
}
std::vector<std::string> tombstone_paths(Node& node) {
  std::vector<std::string> paths;
  for (const auto& version : stored(node)) {
    if (version.deleted) paths.push_back(version.path);
  }
  return paths;
}

PutOptions with_ttl(milliseconds ttl) {
  PutOptions options;
  options.ttl = ttl;
  return options;
}

using Paths = std::vector<std::string>;

}  // namespace

TEST_CASE("a put with a ttl sets expires_at to its timestamp plus the ttl", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto put = node.put("k", "{}", with_ttl(milliseconds(30'000)));
  REQUIRE(put.is_ok());
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  REQUIRE(got->expires_at_ms.has_value());
  CHECK(*got->expires_at_ms == put->timestamp_ms + 30'000);
  auto versions = stored(node);
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].expires_at_ms == got->expires_at_ms);
}

TEST_CASE("an expired key reads as absent the moment the clock reaches expires_at", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"short":true})", with_ttl(milliseconds(1500))).is_ok());
  REQUIRE(node.put("keep", "{}").is_ok());
  fixture.clock.advance(milliseconds(1499));
  CHECK(node.get("k").is_ok());
  fixture.clock.advance(milliseconds(1));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(node.get_meta("k").status().code() == Code::kNotFound);
  RangeQuery query;
  auto listed = node.range(query);
  REQUIRE(listed.is_ok());
  REQUIRE(listed->items.size() == 1);
  CHECK(listed->items[0].path == "keep");
  CHECK(node.health().keys <= 2);  // not yet purged; counting it or not is up to health
}

TEST_CASE("an expired key cannot be removed or matched, but can be created again", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto put = node.put("k", "{}", with_ttl(milliseconds(100)));
  REQUIRE(put.is_ok());
  fixture.clock.advance(milliseconds(100));
  CHECK(node.remove("k").code() == Code::kNotFound);
  PutOptions match;
  match.if_match = put->uuid;
  CHECK(node.put("k", "{}", match).status().code() == Code::kPreconditionFailed);
  PutOptions create;
  create.if_none_match = true;
  auto again = node.put("k", R"({"again":1})", create);
  REQUIRE(again.is_ok());
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  CHECK(got->data == R"({"again":1})");
  CHECK_FALSE(got->expires_at_ms.has_value());
}

TEST_CASE("sweep_now turns expired keys into tombstones and leaves live ones", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("a", "{}", with_ttl(milliseconds(1000))).is_ok());
  REQUIRE(node.put("b", "{}", with_ttl(milliseconds(5000))).is_ok());
  REQUIRE(node.put("c", "{}").is_ok());
  auto nothing = node.sweep_now();
  REQUIRE(nothing.is_ok());
  CHECK(*nothing == 0);
  CHECK(stored_paths(node) == Paths{"a", "b", "c"});

  fixture.clock.advance(milliseconds(1000));
  auto first = node.sweep_now();
  REQUIRE(first.is_ok());
  CHECK(*first == 1);
  CHECK(live_paths(node) == Paths{"b", "c"});
  CHECK(tombstone_paths(node) == Paths{"a"});

  fixture.clock.advance(milliseconds(10'000));
  auto second = node.sweep_now();
  REQUIRE(second.is_ok());
  CHECK(*second == 1);
  CHECK(live_paths(node) == Paths{"c"});
  CHECK(tombstone_paths(node) == Paths{"a", "b"});
  CHECK(node.get("c").is_ok());
  CHECK(node.health().keys == 1);
}

TEST_CASE("sweep_now purges many expired keys in one call", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  // More than one sweep batch, with expiries spread over time; written by several threads so
  // that group commit keeps the fsyncs few.
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < 1200; i += 8) {
        if (!node.put("t/" + std::to_string(i), "{}", with_ttl(milliseconds(1 + i % 50))).is_ok()) ++failures;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  REQUIRE(failures == 0);
  REQUIRE(node.put("live", "{}").is_ok());
  fixture.clock.advance(milliseconds(50));
  auto swept = node.sweep_now();
  REQUIRE(swept.is_ok());
  CHECK(*swept == 1200);
  CHECK(live_paths(node) == Paths{"live"});
  CHECK(tombstone_paths(node).size() == 1200);
  auto again = node.sweep_now();
  REQUIRE(again.is_ok());
  CHECK(*again == 0);
}

TEST_CASE("an overwrite without a ttl clears the expiry, and the sweeper leaves it", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})", with_ttl(milliseconds(1000))).is_ok());
  REQUIRE(node.put("k", R"({"v":2})").is_ok());
  CHECK_FALSE(node.get("k")->expires_at_ms.has_value());
  fixture.clock.advance(milliseconds(5000));
  auto swept = node.sweep_now();
  REQUIRE(swept.is_ok());
  CHECK(*swept == 0);
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  CHECK(got->data == R"({"v":2})");
}

TEST_CASE("an overwrite with a longer ttl moves the expiry", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})", with_ttl(milliseconds(1000))).is_ok());
  REQUIRE(node.put("k", R"({"v":2})", with_ttl(milliseconds(10'000))).is_ok());
  fixture.clock.advance(milliseconds(2000));
  auto swept = node.sweep_now();
  REQUIRE(swept.is_ok());
  CHECK(*swept == 0);
  CHECK(node.get("k")->data == R"({"v":2})");
  fixture.clock.advance(milliseconds(8001));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(*node.sweep_now() == 1);
  CHECK(live_paths(node).empty());
  CHECK(tombstone_paths(node) == Paths{"k"});
}

TEST_CASE("a ttl of zero means no expiry and a negative ttl is invalid", "[node][ttl]") {
  NodeFixture fixture([](Config& config) { config.default_ttl = milliseconds(60'000); });
  Node& node = fixture.node();
  REQUIRE(node.put("forever", "{}", with_ttl(milliseconds(0))).is_ok());
  CHECK_FALSE(node.get("forever")->expires_at_ms.has_value());
  auto negative = node.put("negative", "{}", with_ttl(milliseconds(-1)));
  REQUIRE_FALSE(negative.is_ok());
  CHECK(negative.status().code() == Code::kInvalidArgument);
  CHECK(node.get("negative").status().code() == Code::kNotFound);
  fixture.clock.advance(std::chrono::hours(24 * 365));
  CHECK(node.get("forever").is_ok());
}

TEST_CASE("an enormous ttl neither wraps around nor expires the key at once", "[node][ttl]") {
  // timestamp + ttl must not overflow: either the put is refused as invalid or the key lives.
  NodeFixture fixture;
  Node& node = fixture.node();
  for (auto ttl : {milliseconds::max(), milliseconds(std::numeric_limits<std::int64_t>::max() / 2)}) {
    INFO("ttl " << ttl.count() << " ms");
    auto put = node.put("k", "{}", with_ttl(ttl));
    if (!put.is_ok()) {
      CHECK(put.status().code() == Code::kInvalidArgument);
      continue;
    }
    auto got = node.get("k");
    CHECK(got.is_ok());
    if (!got.is_ok()) continue;
    if (got->expires_at_ms) CHECK(*got->expires_at_ms > put->timestamp_ms);
    CHECK(*node.sweep_now() == 0);
    CHECK(node.get("k").is_ok());
  }
}

TEST_CASE("default_ttl applies to puts that give no ttl", "[node][ttl]") {
  NodeFixture fixture([](Config& config) { config.default_ttl = milliseconds(60'000); });
  Node& node = fixture.node();
  auto put = node.put("k", "{}");
  REQUIRE(put.is_ok());
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  CHECK(got->expires_at_ms == std::optional<std::int64_t>(put->timestamp_ms + 60'000));
  auto own = node.put("own", "{}", with_ttl(milliseconds(5000)));
  REQUIRE(own.is_ok());
  CHECK(node.get("own")->expires_at_ms == std::optional<std::int64_t>(own->timestamp_ms + 5000));
  fixture.clock.advance(milliseconds(60'000));
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(*node.sweep_now() == 2);
}

TEST_CASE("with no default_ttl keys never expire", "[node][ttl]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", "{}").is_ok());
  fixture.clock.advance(std::chrono::hours(24 * 3650));
  CHECK(node.get("k").is_ok());
  CHECK(*node.sweep_now() == 0);
}

TEST_CASE("a tombstone is kept until tombstone_ttl passes and then purged by sweep_now", "[node][ttl][tombstone]") {
  NodeFixture fixture([](Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  Node& node = fixture.node();
  REQUIRE(node.put("gone", "{}").is_ok());
  REQUIRE(node.put("kept", "{}").is_ok());
  REQUIRE(node.remove("gone").is_ok());
  auto versions = stored(node);
  REQUIRE(versions.size() == 2);
  CHECK(versions[0].path == "gone");
  CHECK(versions[0].deleted);
  const std::int64_t deleted_at = versions[0].timestamp_ms;  // the stamp: one past the put

  fixture.clock.set_ms(deleted_at + 3'600'000 - 1);
  CHECK(*node.sweep_now() == 0);
  CHECK(stored_paths(node) == Paths{"gone", "kept"});
  fixture.clock.set_ms(deleted_at + 3'600'000);
  CHECK(*node.sweep_now() == 1);
  CHECK(stored_paths(node) == Paths{"kept"});
  CHECK(node.get("gone").status().code() == Code::kNotFound);
  CHECK(node.get("kept").is_ok());
}

TEST_CASE("the default tombstone_ttl keeps a tombstone for seven days", "[node][ttl][tombstone]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("gone", "{}").is_ok());
  fixture.clock.advance(milliseconds(1));
  REQUIRE(node.remove("gone").is_ok());
  fixture.clock.advance(std::chrono::hours(24 * 7) - milliseconds(1));
  CHECK(*node.sweep_now() == 0);
  CHECK(stored_paths(node) == Paths{"gone"});
  fixture.clock.advance(milliseconds(1));
  CHECK(*node.sweep_now() == 1);
  CHECK(stored(node).empty());
}

TEST_CASE("a tombstone rewritten by a newer put is not purged", "[node][ttl][tombstone]") {
  NodeFixture fixture([](Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})").is_ok());
  REQUIRE(node.remove("k").is_ok());
  REQUIRE(node.put("k", R"({"v":2})").is_ok());
  fixture.clock.advance(std::chrono::hours(2));
  CHECK(*node.sweep_now() == 0);
  CHECK(node.get("k")->data == R"({"v":2})");
}

TEST_CASE("expiry survives a reopen", "[node][ttl]") {
  NodeFixture fixture;
  REQUIRE(fixture.node().put("k", "{}", with_ttl(milliseconds(1000))).is_ok());
  fixture.reopen();
  auto got = fixture.node().get("k");
  REQUIRE(got.is_ok());
  CHECK(got->expires_at_ms.has_value());
  fixture.clock.advance(milliseconds(1000));
  CHECK(fixture.node().get("k").status().code() == Code::kNotFound);
  fixture.reopen();
  CHECK(*fixture.node().sweep_now() == 1);
  CHECK(live_paths(fixture.node()).empty());
  CHECK(tombstone_paths(fixture.node()) == Paths{"k"});
}

TEST_CASE("an expired key becomes the tombstone of the same write", "[node][ttl][tombstone]") {
  NodeFixture fixture([](Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})").is_ok());
  REQUIRE(node.put("k", R"({"v":2})", with_ttl(milliseconds(1000))).is_ok());
  auto before = stored(node);
  REQUIRE(before.size() == 1);
  const Version expiring = before[0];
  REQUIRE(expiring.expires_at_ms.has_value());
  fixture.clock.set_ms(*expiring.expires_at_ms);
  CHECK(*node.sweep_now() == 1);

  // Same path, uuid, timestamp, origin, owner, group, bits and expiry; deleted, no document.
  Version expected = expiring;
  expected.deleted = true;
  expected.data.clear();
  auto after = stored(node);
  REQUIRE(after.size() == 1);
  CHECK(after[0] == expected);
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(node.health().keys == 0);
  // It left the expiry index: nothing is left to expire.
  CHECK(*node.sweep_now() == 0);
  // The history shows the expiry as a deleted revision of that write.
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 3);
  CHECK(history->revisions[0].deleted);
  CHECK(history->revisions[0].uuid == expiring.uuid);
  CHECK(history->revisions[1].uuid == expiring.uuid);
  // A write after it is stamped after it, and so wins, as after any delete.
  auto again = node.put("k", R"({"v":3})");
  REQUIRE(again.is_ok());
  CHECK(again->timestamp_ms > expiring.timestamp_ms);
  CHECK(node.get("k")->data == R"({"v":3})");
}

TEST_CASE("an expiry's tombstone is purged tombstone_ttl after the expiry, however long the ttl was",
          "[node][ttl][tombstone]") {
  NodeFixture fixture([](Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  Node& node = fixture.node();
  auto put = node.put("k", "{}", with_ttl(std::chrono::hours(5)));
  REQUIRE(put.is_ok());
  const std::int64_t expires_at = put->timestamp_ms + 5 * 3'600'000;
  fixture.clock.set_ms(expires_at);
  CHECK(*node.sweep_now() == 1);
  CHECK(tombstone_paths(node) == Paths{"k"});
  fixture.clock.set_ms(expires_at + 3'600'000 - 1);
  CHECK(*node.sweep_now() == 0);
  CHECK(tombstone_paths(node) == Paths{"k"});
  fixture.clock.set_ms(expires_at + 3'600'000);
  CHECK(*node.sweep_now() == 1);
  CHECK(stored(node).empty());
  CHECK(node.history("k").status().code() == Code::kNotFound);
}

TEST_CASE("a key whose expiry passed long ago is expired and purged in one sweep", "[node][ttl][tombstone]") {
  NodeFixture fixture([](Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  Node& node = fixture.node();
  REQUIRE(node.put("k", "{}", with_ttl(milliseconds(1000))).is_ok());
  fixture.clock.advance(std::chrono::hours(2));
  CHECK(*node.sweep_now() == 2);  // the expiry, then its tombstone
  CHECK(stored(node).empty());
}

}  // namespace kvs::test
