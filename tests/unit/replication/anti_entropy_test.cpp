// replication::AntiEntropy, the anti-entropy state machine, driven by hand against an in-memory
// peer (a Merkle tree and a map, answering the /sync/ requests as a node's handler does): equal
// trees end a round at the root, differing ones are repaired both ways (fetched pages come out
// to be applied, the push back sends what the peer lacks, page by page), steps are paced, a
// failed round backs off, a late answer changes nothing, and a page that goes backwards fails
// the round. The simulation (sim_test.cpp) runs the same class under a hostile network against
// real nodes; the driver thread and the transport are exercised by the cluster tests.

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "kvs/cluster.hpp"
#include "replication/anti_entropy.hpp"
#include "replication/merkle.hpp"
#include "replication/sync_codec.hpp"
#include "support/manual_clock.hpp"

using kvs::Result;
using kvs::Status;
using kvs::Version;
using kvs::replication::AntiEntropy;
using kvs::replication::AntiEntropyEffects;
using kvs::replication::AntiEntropyOptions;
using kvs::replication::SyncTime;
using std::chrono::milliseconds;
namespace peer_protocol = kvs::peer_protocol;

namespace {

const SyncTime kStart = SyncTime{} + std::chrono::hours(1);

Version version_of(const std::string& path, std::int64_t timestamp_ms, const std::string& origin = "a") {
  Version version;
  version.path = path;
  version.uuid = "00000000-0000-4000-8000-" + std::string(12 - std::to_string(timestamp_ms).size(), '0') +
                 std::to_string(timestamp_ms);
  version.timestamp_ms = timestamp_ms;
  version.origin_node_id = origin;
  version.data = "{\"at\":" + std::to_string(timestamp_ms) + "}";
  return version;
}

// A replica in memory: its versions, its tree, and the /sync/ answers a node gives.
struct Replica {
  kvs::replication::MerkleTree tree;
  std::map<std::string, Version> versions;

  void apply(const Version& version) {
    auto it = versions.find(version.path);
    if (it == versions.end()) {
      tree.add(version);
      versions.emplace(version.path, version);
    } else if (kvs::supersedes(version, it->second)) {
      tree.remove(it->second);
      tree.add(version);
      it->second = version;
    }
  }

  kvs::replication::BucketScanFn scan() {
    return kvs::replication::filtered_bucket_scan(
        [this](const std::string& start, const std::function<bool(const Version&)>& visit) -> Status {
          for (auto it = versions.lower_bound(start); it != versions.end(); ++it) {
            if (!visit(it->second)) break;
          }
          return Status::ok();
        });
  }

  // `page_bytes` bounds a /sync/bucket page, so that small values make several pages.
  Result<std::string> answer(const std::string& target, const std::string& body, std::size_t page_bytes = 1 << 20) {
    using namespace kvs::replication;
    if (target == peer_protocol::kSyncBranches) {
      MerkleSummary summary;
      summary.branches = tree.branches();
      summary.root = tree.root();
      summary.keys = tree.keys();
      return encode_summary(summary);
    }
    if (target == peer_protocol::kSyncLeaves) {
      auto branches = decode_indexes(body, "branches", kBranchCount, kBranchCount);
      if (!branches.is_ok()) return branches.status();
      std::vector<std::vector<Digest>> leaves;
      for (std::size_t branch : *branches) leaves.push_back(tree.leaves(branch));
      return encode_leaves(leaves);
    }
    if (target == peer_protocol::kSyncBucket) {
      std::string after;
      auto buckets = decode_indexes(body, "buckets", kLeafCount, kLeafCount, &after);
      if (!buckets.is_ok()) return buckets.status();
      std::vector<bool> wanted(kLeafCount, false);
      for (std::size_t bucket : *buckets) wanted[bucket] = true;
      auto page = bucket_page(scan(), wanted, after, page_bytes);
      if (!page.is_ok()) return page.status();
      return encode_versions(page->versions, page->next);
    }
    if (target == peer_protocol::kSyncPush) {
      auto page = decode_versions(body);
      if (!page.is_ok()) return page.status();
      for (const auto& version : page->versions) apply(version);
      return std::string("{\"applied\":0,\"refused\":0}");
    }
    return Status::not_found(target);
  }
};

AntiEntropyOptions options() {
  AntiEntropyOptions options;
  options.sync_interval = milliseconds(10000);
  options.catchup_interval = milliseconds(2000);
  options.first_round_max = milliseconds(500);
  options.throttle_delay = milliseconds(100);
  options.fetch_delay = milliseconds(50);
  options.retry_min = milliseconds(1000);
  options.retry_max = milliseconds(4000);
  return options;
}

// Runs rounds of `self` (over `local`) against `peer` until the round in progress ends: each
// request is answered at once, each pause waited out, each fetched page applied. Returns the
// effects' rounds and the targets requested, in order.
struct Driven {
  std::vector<kvs::replication::RoundEvent> rounds;
  std::vector<std::string> targets;
  SyncTime now;
};

Driven drive(AntiEntropy& self, Replica& local, Replica& peer, SyncTime now, std::size_t page_bytes = 1 << 20) {
  Driven driven;
  for (int step = 0; step < 1000; ++step) {
    now = std::max(now, self.next_wakeup());
    self.on_tick(now);
    AntiEntropyEffects effects = self.take_effects();
    for (const auto& version : effects.apply) local.apply(version);
    for (auto& round : effects.rounds) driven.rounds.push_back(round);
    if (!driven.rounds.empty()) break;
    if (!effects.send) continue;
    driven.targets.push_back(effects.send->target);
    self.on_answer(effects.send->ticket, peer.answer(effects.send->target, effects.send->body, page_bytes), now);
    effects = self.take_effects();
    for (const auto& version : effects.apply) local.apply(version);
    for (auto& round : effects.rounds) driven.rounds.push_back(round);
    if (!driven.rounds.empty()) break;
  }
  driven.now = now;
  return driven;
}

}  // namespace

TEST_CASE("a round with a peer of equal root ends after one request, and the next comes a sync_interval later",
          "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  for (auto* replica : {&local, &peer}) replica->apply(version_of("k1", 100));
  kvs::test::SeededRandom random(1);
  AntiEntropy rounds(options(), local.tree, local.scan(), random, kStart);
  rounds.set_peers({{"b", "b:1"}});
  CHECK(rounds.next_wakeup() == kStart + milliseconds(500));  // first_round_max
  rounds.on_tick(kStart + milliseconds(499));
  CHECK(rounds.take_effects().empty());

  Driven driven = drive(rounds, local, peer, kStart);
  CHECK(driven.targets == std::vector<std::string>{std::string(peer_protocol::kSyncBranches)});
  REQUIRE(driven.rounds.size() == 1);
  CHECK(driven.rounds[0].ok);
  CHECK(driven.rounds[0].peer_id == "b");
  CHECK_FALSE(driven.rounds[0].report.differed);
  CHECK(rounds.next_wakeup() == driven.now + milliseconds(10000));
  CHECK(rounds.stats().rounds_ok == 1);
}

TEST_CASE("a round repairs both sides: it fetches what the peer holds better and pushes back the rest",
          "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  for (int i = 0; i < 20; ++i) {
    Version shared = version_of("shared/" + std::to_string(i), 100 + i);
    local.apply(shared);
    peer.apply(shared);
  }
  local.apply(version_of("only/local", 500));
  peer.apply(version_of("only/peer", 600, "b"));
  local.apply(version_of("both/newer-here", 900));
  peer.apply(version_of("both/newer-here", 800, "b"));
  local.apply(version_of("both/newer-there", 700));
  peer.apply(version_of("both/newer-there", 950, "b"));
  Version tombstone = version_of("gone", 990, "b");
  tombstone.deleted = true;
  tombstone.data.clear();
  local.apply(version_of("gone", 400));
  peer.apply(tombstone);
  REQUIRE(local.tree.root() != peer.tree.root());

  kvs::test::SeededRandom random(2);
  AntiEntropyOptions small_pages = options();
  small_pages.max_push_bytes = 10;  // one version per /sync/push
  AntiEntropy rounds(small_pages, local.tree, local.scan(), random, kStart);
  REQUIRE(rounds.start_round({"b", "b:1"}, kStart));
  CHECK_FALSE(rounds.start_round({"c", "c:1"}, kStart));  // one round at a time

  Driven driven = drive(rounds, local, peer, kStart, /*page_bytes=*/10);
  REQUIRE(driven.rounds.size() == 1);
  INFO(driven.rounds[0].error);
  CHECK(driven.rounds[0].ok);
  CHECK(driven.rounds[0].report.differed);
  CHECK(driven.rounds[0].report.buckets >= 1);
  CHECK(driven.rounds[0].report.pushed == 2);  // only/local and both/newer-here
  CHECK(local.tree.root() == peer.tree.root());
  CHECK(local.versions == peer.versions);
  CHECK(local.versions.at("gone").deleted);
  CHECK(peer.versions.at("both/newer-here").timestamp_ms == 900);
  // Branches, leaves, bucket pages (one version each), then two pushes.
  REQUIRE(driven.targets.size() >= 6);
  CHECK(driven.targets[0] == peer_protocol::kSyncBranches);
  CHECK(driven.targets[1] == peer_protocol::kSyncLeaves);
  CHECK(driven.targets[2] == peer_protocol::kSyncBucket);
  CHECK(driven.targets[driven.targets.size() - 2] == peer_protocol::kSyncPush);
  CHECK(driven.targets.back() == peer_protocol::kSyncPush);
  // A round that found a difference is followed by a catch-up round.
  CHECK(rounds.next_wakeup() == driven.now + milliseconds(2000));
  CHECK(rounds.stats().fetched == driven.rounds[0].report.fetched);
}

TEST_CASE("the steps of a round are paced by throttle_delay and its pages by fetch_delay", "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  peer.apply(version_of("a", 100));
  peer.apply(version_of("b", 200));
  kvs::test::SeededRandom random(3);
  AntiEntropy rounds(options(), local.tree, local.scan(), random, kStart);
  REQUIRE(rounds.start_round({"b", "b:1"}, kStart));
  rounds.on_tick(kStart);
  auto sent = rounds.take_effects().send;
  REQUIRE(sent);
  rounds.on_answer(sent->ticket, peer.answer(sent->target, sent->body), kStart);
  CHECK(rounds.next_wakeup() == kStart + milliseconds(100));  // throttle_delay before the leaves
  rounds.on_tick(kStart + milliseconds(99));
  CHECK_FALSE(rounds.take_effects().send);
  rounds.on_tick(kStart + milliseconds(100));
  sent = rounds.take_effects().send;
  REQUIRE(sent);
  CHECK(sent->target == peer_protocol::kSyncLeaves);
  CHECK(rounds.next_wakeup() == SyncTime::max());  // waiting for the answer
  rounds.on_answer(sent->ticket, peer.answer(sent->target, sent->body), kStart + milliseconds(100));
  CHECK(rounds.next_wakeup() == kStart + milliseconds(150));  // fetch_delay before a page
}

TEST_CASE("failed rounds back off from retry_min doubling to retry_max, and a success starts over",
          "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  kvs::test::SeededRandom random(4);
  AntiEntropy rounds(options(), local.tree, local.scan(), random, kStart);
  rounds.set_peers({{"b", "b:1"}, {"c", "c:1"}});
  SyncTime now = kStart;
  std::vector<milliseconds> waits;
  for (int i = 0; i < 5; ++i) {
    now = rounds.next_wakeup();
    rounds.on_tick(now);
    auto sent = rounds.take_effects().send;
    REQUIRE(sent);
    rounds.on_answer(sent->ticket, Status::unavailable("connection refused"), now);
    auto effects = rounds.take_effects();
    REQUIRE(effects.rounds.size() == 1);
    CHECK_FALSE(effects.rounds[0].ok);
    CHECK(effects.rounds[0].error.find("connection refused") != std::string::npos);
    waits.push_back(std::chrono::duration_cast<milliseconds>(rounds.next_wakeup() - now));
  }
  CHECK(waits == std::vector<milliseconds>{milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                           milliseconds(4000), milliseconds(4000)});
  CHECK(rounds.stats().rounds_failed == 5);
  Driven driven = drive(rounds, local, peer, rounds.next_wakeup());
  REQUIRE(driven.rounds.size() == 1);
  CHECK(driven.rounds[0].ok);
  CHECK(rounds.next_wakeup() == driven.now + milliseconds(10000));
  // The back-off starts over: the next failure waits retry_min again.
  const SyncTime next = rounds.next_wakeup();
  rounds.on_tick(next);
  auto sent = rounds.take_effects().send;
  REQUIRE(sent);
  rounds.on_answer(sent->ticket, Status::unavailable("timed out"), next);
  CHECK(rounds.next_wakeup() == next + milliseconds(1000));
}

TEST_CASE("a late or repeated answer changes nothing, and a round with no peers waits a sync_interval",
          "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  peer.apply(version_of("k", 100));
  kvs::test::SeededRandom random(5);
  AntiEntropy rounds(options(), local.tree, local.scan(), random, kStart);
  rounds.on_tick(kStart + milliseconds(500));
  CHECK(rounds.take_effects().empty());
  CHECK(rounds.next_wakeup() == kStart + milliseconds(10500));

  REQUIRE(rounds.start_round({"b", "b:1"}, kStart));
  rounds.on_tick(kStart);
  auto first = rounds.take_effects().send;
  REQUIRE(first);
  rounds.on_answer(first->ticket, Status::unavailable("timed out"), kStart);
  REQUIRE(rounds.take_effects().rounds.size() == 1);
  // The answer to the failed request comes after all: for nobody.
  rounds.on_answer(first->ticket, peer.answer(first->target, first->body), kStart);
  CHECK(rounds.take_effects().empty());
  CHECK_FALSE(rounds.in_round());
  CHECK(rounds.stats().rounds_failed == 1);
  CHECK(rounds.stats().rounds_ok == 0);
}

TEST_CASE("a bucket page that goes backwards fails the round and is not applied", "[replication][anti_entropy]") {
  Replica local;
  Replica peer;
  peer.apply(version_of("m", 100));
  peer.apply(version_of("z", 100));
  kvs::test::SeededRandom random(6);
  AntiEntropy rounds(options(), local.tree, local.scan(), random, kStart);
  REQUIRE(rounds.start_round({"b", "b:1"}, kStart));
  SyncTime now = kStart;
  std::vector<Version> applied;
  std::vector<kvs::replication::RoundEvent> ended;
  int pages = 0;
  for (int step = 0; step < 100 && ended.empty(); ++step) {
    now = std::max(now, rounds.next_wakeup());
    rounds.on_tick(now);
    auto effects = rounds.take_effects();
    if (!effects.send) continue;
    std::string body;
    if (effects.send->target == peer_protocol::kSyncBucket) {
      // First page: "m", more after "m"; then a page that starts before it.
      body = pages++ == 0 ? kvs::replication::encode_versions({version_of("m", 100)}, std::string("m"))
                          : kvs::replication::encode_versions({version_of("a", 100)});
    } else {
      body = *peer.answer(effects.send->target, effects.send->body);
    }
    rounds.on_answer(effects.send->ticket, body, now);
    effects = rounds.take_effects();
    applied.insert(applied.end(), effects.apply.begin(), effects.apply.end());
    ended = effects.rounds;
  }
  REQUIRE(ended.size() == 1);
  CHECK_FALSE(ended[0].ok);
  CHECK(ended[0].error.find("backwards") != std::string::npos);
  REQUIRE(applied.size() == 1);
  CHECK(applied[0].path == "m");
}
