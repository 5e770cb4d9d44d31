// Simulation tests of membership: whole clusters of cluster::Cores in one thread on a hostile
// SimNetwork. Every run is decided by its seed; a failure names the seed and KVS_SIM_SEED=<n>
// replays it alone. The [.sim-long] cases sweep many more seeds and larger clusters.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "support/sim_network.hpp"

namespace {

using kvs::cluster::MemberEventKind;
using kvs::test::SimNetwork;
using kvs::test::SimOptions;
using kvs::test::replay_hint;
using kvs::test::sim_cluster_options;
using kvs::test::sim_seeds;

// A lossy, reordering, duplicating network with skewed clocks.
SimOptions hostile_network() {
  SimOptions options;
  options.delay_min_ms = 1;
  options.delay_max_ms = 80;
  options.drop_per_million = 20'000;      // 2 %
  options.duplicate_per_million = 20'000; // 2 %
  options.max_clock_skew_ms = 10'000;
  options.max_drift_ppm = 20'000;         // 2 % fast or slow
  options.encode_one_in = 32;             // the codec has its own tests; keep runs fast
  return options;
}

std::string node_id(std::size_t i) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "n%03zu", i);
  return buffer;
}

std::string node_address(std::size_t i) { return node_id(i) + ":7000"; }

// n nodes: node 0 has no seeds, every other node one or two earlier nodes (and sometimes an
// address where nothing runs, which it must retry and then give up on). Started at random
// moments over the first two seconds.
void add_cluster(SimNetwork& sim, std::uint64_t seed, std::size_t n) {
  kvs::test::SeededRandom random(seed * 7919 + 1);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::string> seeds;
    if (i > 0) {
      seeds.push_back(node_address(random.next_u64() % i));
      if (random.next_u64() % 2 == 0) seeds.push_back(node_address(random.next_u64() % i));
      if (random.next_u64() % 4 == 0) seeds.push_back("nowhere:7000");
    }
    sim.add_node(node_id(i), sim_cluster_options(seeds));
  }
  std::vector<std::int64_t> starts(n);
  for (auto& at : starts) at = static_cast<std::int64_t>(random.next_u64() % 2000);
  std::vector<bool> started(n, false);
  for (std::int64_t t = 0; t <= 2000; t += 50) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!started[i] && starts[i] <= t) {
        sim.start(i);
        started[i] = true;
      }
    }
    sim.run_for(50);
  }
}

std::vector<std::size_t> all_nodes(const SimNetwork& sim) {
  std::vector<std::size_t> nodes(sim.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i] = i;
  return nodes;
}

bool saw(const SimNetwork& sim, std::size_t observer, MemberEventKind kind, const std::string& id) {
  const auto& events = sim.events(observer);
  return std::any_of(events.begin(), events.end(), [&](const auto& e) { return e.kind == kind && e.member_id == id; });
}

bool view_contains(const SimNetwork& sim, std::size_t observer, const std::string& id) {
  auto ids = sim.view_ids(observer);
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void check_forms_single_view(std::uint64_t seed, std::size_t n) {
  INFO(replay_hint(seed) << ", " << n << " nodes");
  SimNetwork sim(seed, hostile_network());
  add_cluster(sim, seed, n);
  auto nodes = all_nodes(sim);
  REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));
  // And it stays formed: no member is lost or suspected while nothing fails.
  sim.run_for(10'000);
  REQUIRE(sim.views_agree(nodes));
}

void check_kills(std::uint64_t seed, std::size_t n) {
  INFO(replay_hint(seed) << ", " << n << " nodes");
  SimNetwork sim(seed, hostile_network());
  add_cluster(sim, seed, n);
  auto nodes = all_nodes(sim);
  REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));

  // Kill up to a third (at least one), never all.
  std::size_t kills = std::max<std::size_t>(1, (seed / 8) % (n / 3 + 1));
  std::vector<std::size_t> killed, survivors;
  for (std::size_t i = 0; i < n; ++i) ((i + seed) % n < kills ? killed : survivors).push_back(i);
  for (std::size_t i : killed) sim.crash(i);
  std::int64_t crashed_at = sim.now_ms();

  auto options = sim_cluster_options();
  REQUIRE(sim.run_until([&] { return sim.views_agree(survivors); }, options.removal_timeout.count() + 30'000));
  for (std::size_t observer : survivors) {
    for (std::size_t dead : killed) {
      CHECK(saw(sim, observer, MemberEventKind::kSuspect, sim.id(dead)));
      CHECK(saw(sim, observer, MemberEventKind::kRemoved, sim.id(dead)));
      CHECK_FALSE(view_contains(sim, observer, sim.id(dead)));
    }
  }
  // Nobody can be removed before it was silent for removal_timeout (less a gossip round of
  // staleness in what each observer last heard).
  for (std::size_t observer : survivors) {
    for (const auto& event : sim.events(observer)) {
      if (event.kind == MemberEventKind::kRemoved) {
        CHECK(event.at_ms >= crashed_at + options.removal_timeout.count() - 5'000);
      }
    }
  }
  // Dead stays dead: tombstones keep stale gossip from bringing the killed back.
  sim.run_for(15'000);
  REQUIRE(sim.views_agree(survivors));
}

void check_partition(std::uint64_t seed, std::size_t n) {
  // Short partitions only raise suspicion; long ones make each half remove the other.
  bool long_partition = seed % 2 == 0;
  INFO(replay_hint(seed) << ", " << n << " nodes, " << (long_partition ? "long" : "short") << " partition");
  SimNetwork sim(seed, hostile_network());
  add_cluster(sim, seed, n);
  auto nodes = all_nodes(sim);
  REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));

  std::vector<std::size_t> left_half, right_half;
  for (std::size_t i = 0; i < n; ++i) ((i * 7 + seed) % n < n / 2 ? left_half : right_half).push_back(i);
  sim.partition({left_half, right_half});
  if (long_partition) {
    // Each half goes on as a cluster of its own.
    REQUIRE(sim.run_until([&] { return sim.views_agree(left_half) && sim.views_agree(right_half); }, 60'000));
    sim.run_for(10'000);
    REQUIRE(sim.views_agree(left_half));
    REQUIRE(sim.views_agree(right_half));
  } else {
    sim.run_for(4'000);
  }
  sim.heal();
  REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 60'000));
}

}  // namespace

TEST_CASE("a cluster of 3 to 10 nodes forms a single view over a hostile network", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(1000, 300)) check_forms_single_view(seed, 3 + seed % 8);
}

TEST_CASE("a cluster of 50 nodes forms a single view", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(5000, 3)) check_forms_single_view(seed, 50);
}

TEST_CASE("killed nodes become suspect and then are removed everywhere", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(2000, 120)) check_kills(seed, 3 + seed % 8);
}

TEST_CASE("the halves of a partitioned cluster keep working and merge after the heal", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(3000, 120)) check_partition(seed, 4 + seed % 7);
}

TEST_CASE("a node that leaves is dropped at once everywhere and never comes back", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(4000, 120)) {
    std::size_t n = 3 + seed % 8;
    bool lossy = seed % 2 == 1;
    INFO(replay_hint(seed) << ", " << n << " nodes, " << (lossy ? "lossy" : "lossless") << " network");
    SimOptions network = hostile_network();
    network.drop_per_million = 0;
    SimNetwork sim(seed, network);
    add_cluster(sim, seed, n);
    auto nodes = all_nodes(sim);
    REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));

    std::size_t leaver = seed % n;
    std::vector<std::size_t> rest;
    for (std::size_t i = 0; i < n; ++i) {
      if (i != leaver) rest.push_back(i);
    }
    if (lossy) sim.set_drop_per_million(100'000);  // 10 %: some leave messages are lost
    sim.leave(leaver);
    if (!lossy) {
      // "At once": within one message delay, every peer has dropped it.
      sim.run_for(network.delay_max_ms + 1);
      for (std::size_t i : rest) CHECK_FALSE(view_contains(sim, i, sim.id(leaver)));
    } else {
      REQUIRE(sim.run_until([&] { return sim.views_agree(rest); }, 30'000));
    }
    REQUIRE(sim.views_agree(rest));
    REQUIRE(sim.view_ids(leaver) == std::vector<std::string>{sim.id(leaver)});
    for (std::size_t i : rest) CHECK(saw(sim, i, MemberEventKind::kLeft, sim.id(leaver)));
    // Stale gossip still in flight or in other views never resurrects it.
    for (int step = 0; step < 100; ++step) {
      sim.run_for(100);
      for (std::size_t i : rest) REQUIRE_FALSE(view_contains(sim, i, sim.id(leaver)));
    }
    // It may come back on purpose: a new incarnation outranks the tombstones.
    sim.set_drop_per_million(0);
    sim.join(leaver, {sim.address(rest.front())});
    REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 60'000));
  }
}

TEST_CASE("a restarted node rejoins with its old joined_timestamp", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(6000, 120)) {
    std::size_t n = 3 + seed % 8;
    // Down briefly (still a member), long enough to be suspect, or long enough to be removed.
    std::int64_t downtime_ms = std::vector<std::int64_t>{2'000, 10'000, 25'000}[seed % 3];
    bool moves = seed % 5 == 0;  // comes back at another address
    INFO(replay_hint(seed) << ", " << n << " nodes, down " << downtime_ms << " ms" << (moves ? ", moves" : ""));
    SimNetwork sim(seed, hostile_network());
    add_cluster(sim, seed, n);
    auto nodes = all_nodes(sim);
    REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));

    std::size_t restarted = (seed / 3) % n;
    auto before = sim.persisted(restarted);
    REQUIRE(before.has_value());
    sim.crash(restarted);
    sim.run_for(downtime_ms);
    std::string address = moves ? sim.id(restarted) + "-moved:7001" : sim.address(restarted);
    sim.start(restarted, address);
    auto everyone_knows_new_life = [&] {
      if (!sim.views_agree(nodes)) return false;
      for (std::size_t observer : nodes) {
        auto member = sim.core(observer).member(sim.id(restarted));
        if (!member || member->incarnation <= before->incarnation) return false;
      }
      return true;
    };
    REQUIRE(sim.run_until(everyone_knows_new_life, 60'000));
    for (std::size_t observer : nodes) {
      auto member = sim.core(observer).member(sim.id(restarted));
      REQUIRE(member.has_value());
      CHECK(member->joined_ms == before->joined_ms);
      CHECK(member->incarnation > before->incarnation);
      CHECK(member->address == address);
    }
  }
}

TEST_CASE("the same seed gives the same trace", "[cluster][sim]") {
  auto run = [](std::uint64_t seed) {
    SimOptions options = hostile_network();
    options.keep_trace = true;
    SimNetwork sim(seed, options);
    add_cluster(sim, seed, 7);
    sim.run_for(20'000);
    sim.crash(3);
    sim.partition({{0, 1, 2}, {4, 5, 6}});
    sim.run_for(25'000);
    sim.heal();
    sim.start(3);
    sim.leave(5);
    sim.run_for(30'000);
    return std::make_pair(sim.trace_hash(), sim.trace());
  };
  for (std::uint64_t seed : sim_seeds(7000, 5)) {
    INFO(replay_hint(seed));
    auto first = run(seed);
    auto second = run(seed);
    REQUIRE(first.second.size() > 1000);
    REQUIRE(first.first == second.first);
    REQUIRE(first.second == second.second);
    CHECK(run(seed + 1).first != first.first);
  }
}

TEST_CASE("garbage from a peer is refused and the cluster carries on", "[cluster][sim]") {
  for (std::uint64_t seed : sim_seeds(8000, 20)) {
    INFO(replay_hint(seed));
    SimNetwork sim(seed, hostile_network());
    add_cluster(sim, seed, 5);
    auto nodes = all_nodes(sim);
    kvs::test::SeededRandom random(seed);
    std::string valid = kvs::cluster::encode_message(kvs::cluster::Gossip{
        "n001", {{"n001", "n001:7000", 5, 1, 2, kvs::cluster::EntryState::kAlive}}});
    for (int i = 0; i < 500; ++i) {
      std::string bytes = valid;
      switch (random.next_u64() % 3) {
        case 0: bytes.resize(random.next_u64() % bytes.size()); break;
        case 1: bytes[random.next_u64() % bytes.size()] = static_cast<char>(random.next_u64()); break;
        default:
          bytes.assign(random.next_u64() % 64, '\0');
          for (auto& c : bytes) c = static_cast<char>(random.next_u64());
      }
      (void)sim.inject_bytes(i % 5, bytes);
    }
    CHECK(sim.stats().rejected > 0);
    REQUIRE(sim.run_until([&] { return sim.views_agree(nodes); }, 120'000));
  }
}

// Long sweeps: run with `kvs_unit_cluster "[.sim-long]"`.
TEST_CASE("long sweep: clusters of 3 to 50 nodes form, lose nodes and heal partitions", "[.sim-long]") {
  for (std::uint64_t seed : sim_seeds(100'000, 1000)) {
    std::size_t n = 3 + seed % 48;
    check_forms_single_view(seed, n);
    check_kills(seed, n);
    check_partition(seed, std::max<std::size_t>(n, 4));
  }
}
