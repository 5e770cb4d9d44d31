// cluster_bench: how fast membership forms and detects failures, in simulated time, for 10, 100
// and 1000 nodes, with the SPEC's default timings (gossip every 60-120 s, suspect after 5 min,
// removed after 10 min) on a LAN-like simulated network (1-20 ms delays, 1 % loss).
//
//   cluster_bench [--sizes 10,100,1000] [--seed N]
//
// Prints, per cluster size: formation time (every node knows every other; and sees every other
// alive at one moment, -1 when that never happened within 30 min), the time until
// every survivor suspects and then removes a killed node, in simulated seconds and in gossip
// rounds (one round = the mean gossip interval, 90 s), plus false suspicions, messages and the
// size of one full gossip message. Real-process formation over loopback comes with the driver.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/core.hpp"
#include "kvs/config.hpp"
#include "support/sim_network.hpp"

// The benchmark programs link libkvs only (bench/CMakeLists.txt), not the test support library
// (which pulls in Catch2), so the simulator is compiled into this program directly.
#include "support/sim_network.cpp"  // NOLINT(bugprone-suspicious-include)

namespace {

using kvs::cluster::MemberEventKind;
using kvs::test::SimNetwork;
using kvs::test::SimOptions;

std::string node_id(std::size_t i) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "n%04zu", i);
  return buffer;
}

struct Figures {
  std::size_t nodes = 0;
  double formation_s = -1;       // every node sees every other, alive
  double known_s = -1;           // every node knows every other (alive or suspect)
  double suspect_first_s = -1, suspect_all_s = -1;
  double removed_first_s = -1, removed_all_s = -1;
  std::size_t false_suspicions = 0;
  std::size_t false_removals = 0;
  std::uint64_t messages = 0;
  std::size_t gossip_bytes = 0;
  double wall_s = 0;
};

bool all_see(const SimNetwork& sim, std::size_t expected, std::size_t skip = static_cast<std::size_t>(-1),
             bool alive_only = true) {
  for (std::size_t i = 0; i < sim.size(); ++i) {
    if (i == skip || !sim.is_up(i)) continue;
    if (alive_only && sim.core(i).live_member_count() != expected) return false;
    if (sim.core(i).members().size() != expected) return false;
  }
  return true;
}

Figures run(std::size_t n, std::uint64_t seed) {
  auto wall_start = std::chrono::steady_clock::now();
  Figures figures;
  figures.nodes = n;
  SimOptions network;
  network.delay_min_ms = 1;
  network.delay_max_ms = 20;
  network.drop_per_million = 10'000;
  network.encode_one_in = n >= 1000 ? 0 : 64;
  SimNetwork sim(seed, network);

  kvs::Config config;  // SPEC defaults: 60-120 s gossip, 5 min suspect, 10 min removal
  auto options = kvs::cluster::cluster_options_from_config(config);
  options.seed_addresses = {node_id(0) + ":7000", node_id(1) + ":7000", node_id(2) + ":7000"};
  for (std::size_t i = 0; i < n; ++i) sim.add_node(node_id(i), options);
  // Everyone starts within the first second.
  kvs::test::SeededRandom random(seed);
  std::vector<std::int64_t> starts(n);
  for (auto& at : starts) at = static_cast<std::int64_t>(random.next_u64() % 1000);
  for (std::int64_t t = 0; t < 1000; t += 10) {
    for (std::size_t i = 0; i < n; ++i) {
      if (starts[i] >= t && starts[i] < t + 10) sim.start(i);
    }
    sim.run_for(10);
  }
  const std::int64_t check_ms = n >= 1000 ? 5'000 : 1'000;
  if (sim.run_until([&] { return all_see(sim, n, n, /*alive_only=*/false); }, 3'600'000, check_ms)) {
    figures.known_s = static_cast<double>(sim.now_ms()) / 1000.0;
  }
  if (sim.run_until([&] { return all_see(sim, n); }, 1'800'000, check_ms)) {
    figures.formation_s = static_cast<double>(sim.now_ms()) / 1000.0;
  }
  figures.gossip_bytes = kvs::cluster::encode_message(
                             kvs::cluster::Gossip{node_id(0), std::vector<kvs::cluster::MemberEntry>(n, kvs::cluster::MemberEntry{
                                 node_id(0), node_id(0) + ":7000", 1'700'000'000'000, 1, 12345, {}})})
                             .size();

  // Kill one node; watch every survivor suspect and then remove it.
  const std::size_t victim = n / 2;
  const std::string victim_id = node_id(victim);
  sim.crash(victim);
  const std::int64_t killed_at = sim.now_ms();
  sim.run_until([&] { return all_see(sim, n - 1, victim); }, 3'600'000, check_ms);
  sim.run_for(60'000);
  std::int64_t suspect_first = -1, suspect_last = -1, removed_first = -1, removed_last = -1;
  std::size_t suspected_by = 0, removed_by = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == victim) continue;
    std::int64_t suspect_at = -1, removed_at = -1;
    for (const auto& event : sim.events(i)) {
      if (event.member_id == victim_id && event.at_ms >= killed_at) {
        if (event.kind == MemberEventKind::kSuspect && suspect_at < 0) suspect_at = event.at_ms;
        if (event.kind == MemberEventKind::kRemoved && removed_at < 0) removed_at = event.at_ms;
      } else if (event.kind == MemberEventKind::kSuspect) {
        figures.false_suspicions += 1;
      } else if (event.kind == MemberEventKind::kRemoved) {
        figures.false_removals += 1;
      }
    }
    if (suspect_at >= 0) {
      suspected_by += 1;
      if (suspect_first < 0 || suspect_at < suspect_first) suspect_first = suspect_at;
      suspect_last = std::max(suspect_last, suspect_at);
    }
    if (removed_at >= 0) {
      removed_by += 1;
      if (removed_first < 0 || removed_at < removed_first) removed_first = removed_at;
      removed_last = std::max(removed_last, removed_at);
    }
  }
  auto seconds_after_kill = [&](std::int64_t at) { return at < 0 ? -1.0 : static_cast<double>(at - killed_at) / 1000.0; };
  figures.suspect_first_s = seconds_after_kill(suspect_first);
  figures.suspect_all_s = suspected_by == n - 1 ? seconds_after_kill(suspect_last) : -1;
  figures.removed_first_s = seconds_after_kill(removed_first);
  figures.removed_all_s = removed_by == n - 1 ? seconds_after_kill(removed_last) : -1;
  figures.messages = sim.stats().delivered + sim.stats().dropped;
  figures.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes = {10, 100, 1000};
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seed") {
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--sizes") {
      sizes.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) sizes.push_back(std::stoul(item));
    }
  }
  const double round_s = 90.0;  // mean of gossip_interval_min..max (60..120 s)
  std::printf("cluster_bench: simulated membership, SPEC default timings (gossip 60-120 s, suspect 300 s, "
              "removal 600 s), 1-20 ms delay, 1%% loss, seed %llu\n",
              static_cast<unsigned long long>(seed));
  std::printf("%6s | %14s | %14s | %22s | %22s | %13s | %9s | %11s | %7s\n", "nodes", "known s (rnd)", "alive s (rnd)", "suspect first/all s",
              "removed first/all s", "false susp/rm", "messages", "gossip B", "wall s");
  for (std::size_t n : sizes) {
    Figures f = run(n, seed);
    std::printf("%6zu | %7.1f (%4.1f) | %7.1f (%4.1f) | %9.1f / %9.1f | %9.1f / %9.1f | %6zu / %4zu | %9llu | %11zu | %7.2f\n",
                f.nodes, f.known_s, f.known_s / round_s, f.formation_s, f.formation_s / round_s, f.suspect_first_s, f.suspect_all_s,
                f.removed_first_s, f.removed_all_s, f.false_suspicions, f.false_removals,
                static_cast<unsigned long long>(f.messages), f.gossip_bytes, f.wall_s);
    std::printf("       | in rounds: suspect all %.1f, removed all %.1f (timeouts alone: %.1f and %.1f)\n",
                f.suspect_all_s / round_s, f.removed_all_s / round_s, 300.0 / round_s, 600.0 / round_s);
    std::fflush(stdout);
  }
  return 0;
}
