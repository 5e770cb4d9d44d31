// Expiry and replication: a version that expires must stay gone on every node, even where a
// node missed the TTL'd write and still holds an older value of the key (a partition), and
// the nodes that expired it must converge (the same versions, the same Merkle root) whatever
// the order in which they swept and synced.
//
// Three or four real kvs::Node instances in this process, each on its own ManualClock (all at
// the same time), with the background sweeper off: the test sweeps (Node::sweep_now) and runs
// production's anti-entropy state machine (NodeAccess::anti_entropy), carrying its /sync/
// requests to the peer's handler itself. A "partition" is a write applied to some nodes and not others.
//
// Not covered here: pushes (a TTL'd write's push is the same apply_version), clock skew and
// the faulty network (tests/unit/replication/sim_test.cpp), and the REST stream of an expiry
// (tests/integration/watch_test.cpp).

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "kvs/version.hpp"
#include "kvs/watch.hpp"
#include "node/node_access.hpp"
#include "replication/anti_entropy.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

// N nodes, one ManualClock each, moved together. Node i is "n<i>" at address "n<i>:7000".
class Nodes {
 public:
  explicit Nodes(std::size_t count, std::chrono::milliseconds tombstone_ttl = std::chrono::hours(1)) {
    for (std::size_t i = 0; i < count; ++i) {
      fixtures_.push_back(std::make_unique<NodeFixture>([&](Config& config) {
        config.node_id = "n" + std::to_string(i);
        config.tombstone_ttl = tombstone_ttl;
      }));
      // Each node its own uuids: every fixture's SeededRandom starts from the same seed.
      for (std::size_t skip = 0; skip < 1000 * i; ++skip) fixtures_.back()->random.next_u64();
    }
  }

  Node& operator[](std::size_t i) { return fixtures_[i]->node(); }
  std::size_t size() const { return fixtures_.size(); }

  void advance(std::chrono::milliseconds by) {
    for (auto& fixture : fixtures_) fixture->clock.advance(by);
  }
  void set_ms(std::int64_t ms) {
    for (auto& fixture : fixtures_) fixture->clock.set_ms(ms);
  }
  std::int64_t now_ms() const { return fixtures_.front()->clock.now_ms(); }

  // Node i sweeps (expired keys and old tombstones).
  std::size_t sweep(std::size_t i) {
    auto swept = (*this)[i].sweep_now();
    INFO(swept.status().to_string());
    REQUIRE(swept.is_ok());
    return *swept;
  }
  void sweep_all() {
    for (std::size_t i = 0; i < size(); ++i) sweep(i);
  }

  // One anti-entropy round of node a with node b, over no network at all: production's state
  // machine (NodeAccess::anti_entropy), each request answered at once by b's /sync/ handler.
  void sync(std::size_t a, std::size_t b) {
    replication::AntiEntropyOptions options;
    options.throttle_delay = 0ms;
    options.fetch_delay = 0ms;
    SeededRandom random(a * 31 + b);
    replication::SyncTime now{};
    auto machine = detail::NodeAccess::anti_entropy((*this)[a], options, random, now);
    INFO(machine.status().to_string());
    REQUIRE(machine.is_ok());
    replication::AntiEntropy& round = **machine;
    const std::string peer = "n" + std::to_string(b);
    REQUIRE(round.start_round({peer, peer + ":7000"}, now));
    for (int step = 0; step < 10'000; ++step) {
      round.on_tick(now);
      replication::AntiEntropyEffects effects = round.take_effects();
      for (const auto& applied : (*this)[a].apply_versions(effects.apply)) {
        INFO(applied.status().to_string());
        REQUIRE(applied.is_ok());
      }
      for (const auto& ended : effects.rounds) {
        INFO(ended.error);
        REQUIRE(ended.ok);
        return;
      }
      if (effects.send) {
        round.on_answer(effects.send->ticket,
                        detail::NodeAccess::answer_sync((*this)[b], effects.send->target, effects.send->body), now);
      } else if (round.next_wakeup() != replication::SyncTime::max()) {
        now = std::max(now, round.next_wakeup());
      }
    }
    FAIL("the round with " << peer << " did not end");
  }
  // Rounds between every ordered pair, a few passes: what anti-entropy does given time.
  void sync_all() {
    for (int pass = 0; pass < 3; ++pass) {
      for (std::size_t a = 0; a < size(); ++a) {
        for (std::size_t b = 0; b < size(); ++b) {
          if (a != b) sync(a, b);
        }
      }
    }
  }

  // Applies a version made on node `from` to each node of `to` (its push arriving).
  void replicate(const Version& version, std::vector<std::size_t> to) {
    for (std::size_t i : to) {
      auto applied = (*this)[i].apply_version(version);
      INFO(applied.status().to_string());
      REQUIRE(applied.is_ok());
    }
  }

 private:
  std::vector<std::unique_ptr<NodeFixture>> fixtures_;
};

std::optional<Version> stored_version(Node& node, const std::string& path) {
  for (auto& version : stored_versions(node)) {
    if (version.path == path) return version;
  }
  return std::nullopt;
}

// The version `node` just wrote at `path`, as its peers receive it.
Version written(Node& node, const std::string& path) {
  auto version = stored_version(node, path);
  REQUIRE(version.has_value());
  return *version;
}

PutOptions with_ttl(std::chrono::milliseconds ttl) {
  PutOptions options;
  options.ttl = ttl;
  return options;
}

// The versions of "k" that expiring_overwrite() wrote.
struct Overwrite {
  Version v1;  // no TTL; every node holds it
  Version v2;  // overwrites v1 with a TTL; only some nodes got it
};

// The partition the expiry cases start from: n0 writes v1 of "k", without a TTL, and every
// node gets it; a second later n0 overwrites it with v2, which expires `ttl` later, while the
// others are cut off: only the nodes of `v2_reaches` get v2.
Overwrite expiring_overwrite(Nodes& nodes, std::chrono::milliseconds ttl, std::vector<std::size_t> v2_reaches) {
  Overwrite made;
  REQUIRE(nodes[0].put("k", R"({"v":1})").is_ok());
  made.v1 = written(nodes[0], "k");
  std::vector<std::size_t> others;
  for (std::size_t i = 1; i < nodes.size(); ++i) others.push_back(i);
  nodes.replicate(made.v1, others);
  nodes.advance(1s);
  REQUIRE(nodes[0].put("k", R"({"v":2})", with_ttl(ttl)).is_ok());
  made.v2 = written(nodes[0], "k");
  nodes.replicate(made.v2, std::move(v2_reaches));
  return made;
}

void require_same_state(Nodes& nodes) {
  const auto root = nodes[0].merkle_root();
  const auto versions = stored_versions(nodes[0]);
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    INFO("node n" << i);
    CHECK(nodes[i].merkle_root().root == root.root);
    CHECK(nodes[i].merkle_root().keys == root.keys);
    CHECK(stored_versions(nodes[i]) == versions);
  }
}

}  // namespace

TEST_CASE("an expired value does not bring back the older value a partitioned node held", "[replication][ttl]") {
  Nodes nodes(3);
  // v1 reaches everyone; v2 overwrites it with a TTL while n2 is cut off: only n1 gets it.
  const Version v1 = expiring_overwrite(nodes, 10s, {1}).v1;

  // v2 expires; the nodes that held it sweep; then the partition heals and anti-entropy runs.
  nodes.advance(11s);
  nodes.sweep(0);
  nodes.sweep(1);
  nodes.sync_all();

  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("node n" << i);
    auto got = nodes[i].get("k");
    CHECK(got.status().code() == Code::kNotFound);
    if (got.is_ok()) CHECK(got->data != v1.data);  // the overwritten value came back
  }
  require_same_state(nodes);

  // Nor later, once every node sweeps again (within tombstone_ttl) and syncs.
  nodes.advance(10min);
  nodes.sweep_all();
  nodes.sync_all();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("node n" << i);
    CHECK(nodes[i].get("k").status().code() == Code::kNotFound);
  }
  require_same_state(nodes);
}

TEST_CASE("an expired value stays gone whichever node syncs first, and whether the partitioned node swept",
          "[replication][ttl]") {
  Nodes nodes(3);
  expiring_overwrite(nodes, 10s, {1});
  nodes.advance(11s);
  nodes.sweep_all();  // n2 has nothing expired: it keeps v1
  CHECK(nodes[2].get("k")->data == R"({"v":1})");

  // n2 starts the rounds this time, with n1 first.
  nodes.sync(2, 1);
  nodes.sync(2, 0);
  nodes.sync(0, 1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("node n" << i);
    CHECK(nodes[i].get("k").status().code() == Code::kNotFound);
  }
  require_same_state(nodes);
}

TEST_CASE("a write made on a partitioned node before the expiry wins over the expiry", "[replication][ttl]") {
  Nodes nodes(3);
  expiring_overwrite(nodes, 10s, {1});
  // n2, cut off, overwrites v1 after v2 was written but before v2 expires.
  nodes.advance(5s);
  auto v3 = nodes[2].put("k", R"({"v":3})");
  REQUIRE(v3.is_ok());
  nodes.advance(6s);
  nodes.sweep_all();
  nodes.sync_all();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("node n" << i);
    auto got = nodes[i].get("k");
    REQUIRE(got.is_ok());
    CHECK(got->uuid == v3->uuid);
    CHECK(got->data == R"({"v":3})");
  }
  require_same_state(nodes);
}

TEST_CASE("nodes that expire the same version on their own hold the same tombstone", "[replication][ttl]") {
  Nodes nodes(2);
  REQUIRE(nodes[0].put("k", R"({"v":1})", with_ttl(10s)).is_ok());
  const Version v = written(nodes[0], "k");
  nodes.replicate(v, {1});
  nodes.advance(10s);
  CHECK(nodes.sweep(0) == 1);
  nodes.advance(3s);
  CHECK(nodes.sweep(1) == 1);
  require_same_state(nodes);

  // The tombstone keeps the expired write's place in the order: same path, uuid, timestamp
  // and origin, and its owner, group, bits and expiry; deleted, with no document.
  auto tombstone = stored_version(nodes[0], "k");
  REQUIRE(tombstone.has_value());
  Version expected = v;
  expected.deleted = true;
  expected.data.clear();
  CHECK(*tombstone == expected);
  CHECK(nodes[0].merkle_root().keys == 1);
  CHECK(nodes[0].get("k").status().code() == Code::kNotFound);
  CHECK(nodes[0].health().keys == 0);
  // A second sweep finds nothing left to expire.
  CHECK(nodes.sweep(0) == 0);
}

TEST_CASE("an expiry's tombstone lives tombstone_ttl counted from the expiry, not from the write",
          "[replication][ttl][tombstone]") {
  // A TTL longer than tombstone_ttl: counted from the write, the tombstone would go at once.
  Nodes nodes(2, /*tombstone_ttl=*/1h);
  const std::int64_t expires_at = *expiring_overwrite(nodes, 3h, {}).v2.expires_at_ms;

  nodes.set_ms(expires_at);
  CHECK(nodes.sweep(0) == 1);  // the expiry
  nodes.set_ms(expires_at + 3'600'000 - 1);
  CHECK(nodes.sweep(0) == 0);
  auto kept = stored_version(nodes[0], "k");
  REQUIRE(kept.has_value());
  CHECK(kept->deleted);
  // n1 missed v2 and held v1 all along: the tombstone still beats it.
  nodes.sync(1, 0);
  CHECK(nodes[1].get("k").status().code() == Code::kNotFound);
  require_same_state(nodes);

  nodes.set_ms(expires_at + 3'600'000);
  CHECK(nodes.sweep(0) == 1);
  CHECK(nodes.sweep(1) == 1);
  CHECK(stored_versions(nodes[0]).empty());
  CHECK(stored_versions(nodes[1]).empty());
}

TEST_CASE("a version that arrives already expired ends as the tombstone a local expiry makes", "[replication][ttl]") {
  Nodes nodes(3);
  REQUIRE(nodes[0].put("k", R"({"v":1})", with_ttl(10s)).is_ok());
  const Version v = written(nodes[0], "k");
  nodes.advance(20s);
  nodes.sweep(0);

  // n1 receives the live version after its expiry (a late push): absent to readers at once,
  // and its next sweep makes the same tombstone as n0's.
  nodes.replicate(v, {1});
  CHECK(nodes[1].get("k").status().code() == Code::kNotFound);
  CHECK(nodes.sweep(1) == 1);
  CHECK(stored_versions(nodes[1]) == stored_versions(nodes[0]));
  CHECK(nodes[1].merkle_root().root == nodes[0].merkle_root().root);

  // n2 receives the live version and then, before it sweeps, n0's tombstone: it takes the
  // tombstone, and the live version cannot replace it again.
  nodes.replicate(v, {2});
  auto tombstone = stored_version(nodes[0], "k");
  REQUIRE(tombstone.has_value());
  auto applied = nodes[2].apply_version(*tombstone);
  REQUIRE(applied.is_ok());
  CHECK(*applied);
  auto again = nodes[2].apply_version(v);
  REQUIRE(again.is_ok());
  CHECK_FALSE(*again);
  CHECK(nodes.sweep(2) == 0);
  require_same_state(nodes);
}

TEST_CASE("an expiry is one delete event on each node, however the tombstone arrives", "[replication][ttl][watch]") {
  Nodes nodes(3);
  REQUIRE(nodes[0].put("k", R"({"v":1})", with_ttl(2s)).is_ok());
  const Version v = written(nodes[0], "k");
  nodes.replicate(v, {1, 2});
  std::vector<std::unique_ptr<Watch>> watches;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto watch = nodes[i].watch(WatchOptions{});
    REQUIRE(watch.is_ok());
    watches.push_back(std::move(*watch));
  }
  nodes.advance(3s);
  // n0 and n1 expire it themselves; n2 receives the tombstone from them first.
  nodes.sweep(0);
  nodes.sweep(1);
  nodes.sync(2, 0);
  nodes.sync_all();  // n0 and n1 also meet each other's (equal) tombstone
  nodes.sweep_all();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("node n" << i);
    std::vector<WatchEvent> events;
    auto got = watches[i]->next(events, 100, 0ms);
    REQUIRE(got.is_ok());
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == WatchEvent::Type::kDelete);
    CHECK(events[0].path == "k");
    CHECK(events[0].uuid == v.uuid);
    CHECK(events[0].timestamp_ms == *v.expires_at_ms);
  }
  require_same_state(nodes);
}

}  // namespace kvs::test
