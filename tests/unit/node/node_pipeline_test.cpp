// Every kind of mutation a Node makes goes through its commit pipeline: an observer registered
// on the node's keyspace sees each one exactly once, with its origin. Covered: put, remove,
// set_meta, a reserved-key write (a user), a replicated version, a replicated batch, an expiry
// and a tombstone purge by the sweeper. Not covered here: what the node's own observers do with
// them (tests/unit/replication/node_merkle_test.cpp, node_auth_test.cpp, node_ops_test.cpp).

#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "keyspace/keyspace.hpp"
#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "node/node_impl.hpp"
#include "support/node_fixture.hpp"
#include "support/versions.hpp"

namespace kvs::test {
namespace {

struct Seen {
  keyspace::Change::Kind kind;
  keyspace::Origin origin;
  std::string path;
  bool deleted = false;
};

class Recorder final : public keyspace::Observer {
 public:
  void on_change(const keyspace::Change& change) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(Seen{change.kind, change.origin, change.version->path, change.version->deleted});
  }
  std::vector<Seen> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(seen_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

Version peer_version(std::string path, std::string uuid, std::int64_t timestamp_ms) {
  return make_version(std::move(path), std::move(uuid), timestamp_ms, "{}", "peer", 1);
}

TEST_CASE("every kind of node mutation reaches a keyspace observer exactly once", "[node][keyspace]") {
  NodeFixture f([](Config& config) {
    config.auth_enabled = true;
    config.tombstone_ttl = std::chrono::hours(1);
  });
  Node& node = f.node();
  Recorder recorder;
  auto registration = detail::NodeAccess::impl(node).keyspace->observe(recorder);
  using Kind = keyspace::Change::Kind;
  using Origin = keyspace::Origin;

  REQUIRE(node.put("a", "1").is_ok());
  REQUIRE(node.set_meta("a", MetaUpdate{std::nullopt, std::nullopt, 0xFFF}).is_ok());
  REQUIRE(node.remove("a").is_ok());
  auto seen = recorder.take();
  REQUIRE(seen.size() == 3);
  for (const auto& change : seen) CHECK((change.kind == Kind::kWrite && change.origin == Origin::kLocal));
  CHECK(seen[2].deleted);

  REQUIRE(node.create_user("bob", kScopeRead).is_ok());
  seen = recorder.take();
  REQUIRE(seen.size() == 1);
  CHECK((seen[0].origin == Origin::kLocal && seen[0].path.rfind("_auth/", 0) == 0));

  std::int64_t now = f.clock.now_ms();
  REQUIRE(*node.apply_version(peer_version("p", "00000000-0000-4000-8000-000000000001", now)));
  // A replayed version loses by the order and writes nothing.
  REQUIRE_FALSE(*node.apply_version(peer_version("p", "00000000-0000-4000-8000-000000000001", now)));
  auto batch = node.apply_versions({peer_version("q", "00000000-0000-4000-8000-000000000002", now),
                                    peer_version("r", "00000000-0000-4000-8000-000000000003", now)});
  for (const auto& outcome : batch) REQUIRE(outcome.is_ok());
  seen = recorder.take();
  REQUIRE(seen.size() == 3);
  for (const auto& change : seen) CHECK((change.kind == Kind::kWrite && change.origin == Origin::kPeer));

  PutOptions expiring;
  expiring.ttl = std::chrono::seconds(1);
  REQUIRE(node.put("t", "1", expiring).is_ok());
  recorder.take();
  f.clock.advance(std::chrono::hours(2));
  auto swept = node.sweep_now();
  REQUIRE(swept.is_ok());
  seen = recorder.take();
  // The expired key becomes a tombstone (a write); then the tombstones older than
  // tombstone_ttl by now go: "a"'s, and the expired key's (counted from its expiry).
  REQUIRE(seen.size() == 3);
  CHECK((seen[0].kind == Kind::kWrite && seen[0].origin == Origin::kExpiry && seen[0].path == "t"));
  CHECK(seen[0].deleted);
  for (std::size_t i = 1; i < 3; ++i) {
    CHECK((seen[i].kind == Kind::kPurge && seen[i].origin == Origin::kTombstonePurge));
  }
  CHECK(((seen[1].path == "a" && seen[2].path == "t") || (seen[1].path == "t" && seen[2].path == "a")));

  // Refused writes reach nobody.
  PutOptions create_only;
  create_only.if_none_match = true;
  REQUIRE(node.put("b", "1").is_ok());
  CHECK(node.put("b", "2", create_only).status().code() == Status::Code::kPreconditionFailed);
  CHECK(recorder.take().size() == 1);
}

}  // namespace
}  // namespace kvs::test
