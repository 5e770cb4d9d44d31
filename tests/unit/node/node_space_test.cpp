// A node on a full map (SPEC section 2, "Storage full"; Node::readiness): client writes get
// kInsufficientStorage and the node is not ready, while removes, replicated tombstones and token
// revocations still commit; once the sweeper purges old tombstones, writes resume and every
// acknowledged write reads back. The headroom arithmetic and the full disk are tested in
// tests/unit/storage/space_test.cpp; the REST rendering in tests/integration/storage_test.cpp.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

TEST_CASE("a node on a full map refuses client writes but removes, applies tombstones and revokes; "
          "writes resume after the tombstone purge",
          "[node][space]") {
  NodeFixture f([](Config& config) {
    config.auth_enabled = true;
    config.map_size_mb = 1;
    config.compression_enabled = false;
    config.tombstone_ttl = std::chrono::hours(1);
  });
  Node& node = f.node();
  Caller admin = admin_caller(f);
  CHECK(node.readiness().ready);
  auto token = node.mint_token(admin.user_uuid, 1, TokenOptions{admin});
  REQUIRE(token.is_ok());

  // 1 KiB documents until one is refused, then the smallest ones until they are too.
  std::map<std::string, std::string> acknowledged;
  Status refused;
  bool small = false;
  for (int i = 0; i < 5000; ++i) {
    std::string key = "fill/" + std::to_string(i);
    std::string doc = small ? std::string("1") : json_of_size(1024, static_cast<std::uint64_t>(i));
    auto put = node.put(key, doc);
    if (put.is_ok()) {
      acknowledged[key] = doc;
      continue;
    }
    refused = put.status();
    if (small || refused.code() != Code::kInsufficientStorage) break;
    small = true;
  }
  INFO(refused.to_string());
  REQUIRE(refused.code() == Code::kInsufficientStorage);
  CHECK(refused.message().find("map_size_mb") != std::string::npos);
  REQUIRE(acknowledged.size() > 50);

  Readiness readiness = node.readiness();
  CHECK_FALSE(readiness.ready);
  CHECK(readiness.mode == Mode::kNormal);
  CHECK(readiness.reason.find("map_size_mb") != std::string::npos);
  CHECK(readiness.storage_free_bytes < readiness.storage_headroom_bytes + 8192);
  CHECK(node.create_user("late", 1, CallOptions{admin}).status().code() == Code::kInsufficientStorage);

  // What must still commit on a full map.
  std::vector<std::string> gone;
  for (auto it = acknowledged.begin(); gone.size() < acknowledged.size() / 2;) {
    Status removed = node.remove(it->first);
    INFO(removed.to_string());
    REQUIRE(removed.is_ok());
    gone.push_back(it->first);
    it = acknowledged.erase(it);
  }
  Version tombstone;
  tombstone.path = acknowledged.begin()->first;
  tombstone.uuid = "peer-tombstone";
  tombstone.timestamp_ms = f.clock.now_ms() + 1000;
  tombstone.deleted = true;
  tombstone.origin_node_id = "peer";
  tombstone.origin_joined_ms = 1;
  auto applied = node.apply_version(tombstone);
  INFO(applied.status().to_string());
  REQUIRE(applied.is_ok());
  CHECK(*applied);
  gone.push_back(tombstone.path);
  acknowledged.erase(tombstone.path);
  Status revoked = node.revoke_token(token->token_id, CallOptions{admin});
  INFO(revoked.to_string());
  CHECK(revoked.is_ok());
  CHECK(node.authenticate(token->token).status().code() == Code::kUnauthenticated);

  // After tombstone_ttl the sweeper purges the tombstones, and their space comes back.
  f.clock.advance(std::chrono::hours(2));
  auto purged = node.sweep_now();
  REQUIRE(purged.is_ok());
  CHECK(*purged >= gone.size());
  CHECK(node.readiness().ready);
  auto again = node.put("after/purge", "{\"ok\":true}");
  INFO(again.status().to_string());
  CHECK(again.is_ok());

  for (const auto& [key, doc] : acknowledged) {
    auto entry = node.get(key);
    INFO(key);
    REQUIRE(entry.is_ok());
    CHECK(entry->data == doc);
  }
  for (const auto& key : gone) CHECK(node.get(key).status().code() == Code::kNotFound);
}

}  // namespace
}  // namespace kvs::test
