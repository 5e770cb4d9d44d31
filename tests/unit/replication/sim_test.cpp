// Deterministic simulation of replication convergence (issue 6, item 6; STYLE section 4).
//
// Each seed builds a cluster of 3-7 real kvs::Node instances in this process, each on its own
// data_dir (on /dev/shm when there is one, so fsync costs little), its own ManualClock skewed by
// up to +-10 s and its own SeededRandom (the write uuids). The test itself is the network and
// the replication threads, because the real ones cannot be made deterministic (the Replicator
// and the AntiEntropy thread time with steady_clock and talk HTTP through curl): nodes run with
// clustering_enabled false, so no thread of theirs talks, and the test drives the same handlers
// in-process through detail::NodeAccess (libkvs/src/node_access.hpp):
//   - push: every acknowledged local write goes into its origin's per-peer outbox, as the
//     Replicator queues it; outboxes are sent as batches (a /sync/push body, answered by the
//     peer's own /sync/ handler) that the network loses, duplicates, delays and so reorders;
//     a crash loses the outboxes;
//   - anti-entropy: rounds between random pairs run AntiEntropy::sync_with, whose every /sync/
//     request (branches, leaves, bucket, push) the network carries to the peer's handler; a
//     request can fail before it arrives or after the peer has acted on it;
//   - partitions that heal, crashes (the Node is closed: memory gone, storage kept) and
//     restarts on the same data_dir;
//   - writes, overwrites and deletes on a few keys from all nodes, some in bursts on one key
//     from several nodes in the same simulated millisecond (equal timestamps when their clocks
//     agree, and then equal joined timestamps too for nodes opened together).
// Peer signatures are not exercised here (handle_peer_request's checks have their own tests).
//
// After the faulty phase the network heals, every node restarts, and anti-entropy runs between
// all pairs until every root is equal (a bounded number of passes). Then every node must hold
// the same versions and the same root, and each key the greatest of its acknowledged writes by
// compare_versions: no acknowledged write lost unless a greater one replaced it, no deleted key
// back, nothing invented.
//
// Everything follows from the seed: one SeededRandom decides the network and the workload, the
// clocks move only when the test moves them, every container is ordered. A failing seed prints
// how to replay it: KVS_SIM_SEED=<seed> kvs_unit_replication "[sim]" (KVS_SIM_VERBOSE=1 prints
// what each seed did). The unit test runs kCiSeeds seeds (1500, about 20 ms each; 300 under
// sanitizers); a much larger sweep is hidden, with its own ctest entry (ctest -L sim-long):
//   kvs_unit_replication "[.sim-long]"            (KVS_SIM_SEEDS=<n> to change its 20000)
// Crashes close the Node (its writer drained): storage keeps exactly what was acknowledged;
// torn writes and SIGKILL are the cluster tests' business.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "kvs/version.hpp"
#include "node_access.hpp"
#include "replication/sync_codec.hpp"
#include "support/manual_clock.hpp"
#include "support/node_fixture.hpp"
#include "support/sim_network.hpp"

using kvs::detail::NodeAccess;
using kvs::Result;
using kvs::Status;
using kvs::Version;

namespace {

// Sanitizer builds run a fifth of the CI seeds, to stay within the unit timeout.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kCiSeeds = 300;
#else
constexpr std::uint64_t kCiSeeds = 1500;
#endif
constexpr std::uint64_t kLongSeeds = 20000;
constexpr std::int64_t kMaxSkewMs = 10'000;
constexpr std::int64_t kStartMs = 1'700'000'000'000;

// A fresh directory on /dev/shm (cheap fsync) or else the system temp dir, removed at the end.
class SimDir {
 public:
  SimDir() {
    std::error_code error;
    std::filesystem::path base = "/dev/shm";
    if (!std::filesystem::is_directory(base, error) || ::access(base.c_str(), W_OK) != 0) {
      base = std::filesystem::temp_directory_path();
    }
    std::string pattern = (base / "kvs-sim-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~SimDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  SimDir(const SimDir&) = delete;
  SimDir& operator=(const SimDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct SimNode {
  std::string id;
  std::filesystem::path dir;
  std::int64_t skew_ms = 0;
  std::unique_ptr<kvs::test::ManualClock> clock;
  std::unique_ptr<kvs::test::SeededRandom> random;
  std::unique_ptr<kvs::Node> node;  // null while crashed
  // What the Replicator would hold in memory: per peer, the local writes not yet sent.
  std::map<std::size_t, std::vector<Version>> outbox;
};

// A push batch on the wire.
struct Message {
  std::size_t from = 0;
  std::size_t to = 0;
  std::string body;
};

struct SimStats {
  std::uint64_t writes = 0;
  std::uint64_t deletes = 0;
  std::uint64_t batches_sent = 0;
  std::uint64_t batches_lost = 0;
  std::uint64_t batches_duplicated = 0;
  std::uint64_t rounds = 0;
  std::uint64_t rounds_failed = 0;
  std::uint64_t crashes = 0;
  std::uint64_t partitions = 0;
  std::uint64_t quiesce_passes = 0;
  // Acknowledged writes of one key from different nodes with the same timestamp: the order
  // falls through to joined_timestamp (or, when that is equal too, to the uuid).
  std::uint64_t timestamp_ties = 0;
  std::uint64_t joined_ties = 0;

  void add(const SimStats& other) {
    writes += other.writes;
    deletes += other.deletes;
    batches_sent += other.batches_sent;
    batches_lost += other.batches_lost;
    batches_duplicated += other.batches_duplicated;
    rounds += other.rounds;
    rounds_failed += other.rounds_failed;
    crashes += other.crashes;
    partitions += other.partitions;
    quiesce_passes += other.quiesce_passes;
    timestamp_ties += other.timestamp_ties;
    joined_ties += other.joined_ties;
  }
};

class Sim {
 public:
  explicit Sim(std::uint64_t seed) : rng_(seed) {
    const std::size_t count = 3 + below(5);
    keys_ = 2 + below(9);
    steps_ = 40 + below(100);
    loss_per_mille_ = static_cast<std::uint32_t>(below(300));
    dup_per_mille_ = static_cast<std::uint32_t>(below(200));
    call_fail_per_mille_ = static_cast<std::uint32_t>(below(100));
    max_delay_ms_ = 1 + static_cast<std::int64_t>(below(300));
    for (std::size_t i = 0; i < count; ++i) {
      SimNode node;
      node.id = "n" + std::to_string(i);
      node.dir = dir_.path() / node.id;
      // Half the nodes agree on the time exactly, so that same-millisecond writes on different
      // nodes carry equal timestamps; the others are off by up to 10 s either way.
      node.skew_ms = chance(500) ? 0 : static_cast<std::int64_t>(below(2 * kMaxSkewMs + 1)) - kMaxSkewMs;
      node.clock = std::make_unique<kvs::test::ManualClock>(now_ms_ + node.skew_ms);
      node.random = std::make_unique<kvs::test::SeededRandom>(rng_.next_u64());
      nodes_.push_back(std::move(node));
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) open(i);
  }

  // The faulty phase: writes, pushes, anti-entropy, partitions, crashes, restarts.
  void run() {
    for (std::size_t step = 0; step < steps_; ++step) {
      now_ms_ += static_cast<std::int64_t>(below(30));
      set_clocks();
      deliver_due();
      const std::uint64_t roll = below(1000);
      if (roll < 550) {
        write(pick_up(), pick_key());
      } else if (roll < 650) {
        burst();
      } else if (roll < 800) {
        flush(pick_up(), /*reliable=*/false);
      } else if (roll < 900) {
        random_round();
      } else if (roll < 930) {
        crash();
      } else if (roll < 970) {
        restart(pick_down());
      } else if (roll < 985) {
        partition();
      } else {
        partitioned_ = false;
      }
    }
  }

  // Heals everything, lets what is on the wire arrive, then runs anti-entropy between all pairs
  // until the roots agree. The outboxes are dropped, as a Replicator that gave up would: only
  // anti-entropy can repair what they held.
  void quiesce() {
    partitioned_ = false;
    call_fail_per_mille_ = 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].node) open(i);
      nodes_[i].outbox.clear();
    }
    now_ms_ += 1000;
    set_clocks();
    deliver_due();
    for (int pass = 0; pass < 4 && !roots_equal(); ++pass) {
      ++stats_.quiesce_passes;
      for (std::size_t a = 0; a < nodes_.size(); ++a) {
        for (std::size_t b = 0; b < nodes_.size(); ++b) {
          if (a != b) round(a, b);
        }
      }
    }
  }

  // Empty when every property holds; else what went wrong.
  std::string check() {
    count_ties();
    std::ostringstream problems;
    std::vector<std::vector<Version>> held;
    for (auto& sim : nodes_) held.push_back(export_all(*sim.node));
    const auto root0 = nodes_[0].node->merkle_root();
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
      auto root = nodes_[i].node->merkle_root();
      if (root.root != root0.root || root.keys != root0.keys) {
        problems << nodes_[i].id << " root " << root.root << " (" << root.keys << " keys) != n0 root " << root0.root
                 << " (" << root0.keys << " keys)\n";
      }
      if (held[i] != held[0]) problems << nodes_[i].id << " holds other versions than n0\n";
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      std::map<std::string, Version> by_path;
      for (const auto& version : held[i]) by_path.emplace(version.path, version);
      for (const auto& [path, version] : by_path) {
        if (!path.starts_with("_") && !acked_.count(path)) {
          problems << nodes_[i].id << " holds " << path << ", never written\n";
        }
      }
      for (const auto& [path, writes] : acked_) {
        const Version* winner = &writes.front();
        for (const auto& write : writes) {
          if (kvs::supersedes(write, *winner)) winner = &write;
        }
        auto found = by_path.find(path);
        if (found == by_path.end()) {
          problems << nodes_[i].id << " lost " << path << " (winner " << describe(*winner) << ")\n";
          continue;
        }
        for (const auto& write : writes) {
          if (kvs::compare_versions(found->second, write) < 0) {
            problems << nodes_[i].id << " " << path << ": acknowledged " << describe(write) << " lost to smaller "
                     << describe(found->second) << "\n";
          }
        }
        if (!(found->second == *winner)) {
          problems << nodes_[i].id << " " << path << ": holds " << describe(found->second) << ", expected winner "
                   << describe(*winner) << "\n";
        }
        auto live = nodes_[i].node->get(path);
        if (winner->deleted && live.is_ok()) problems << nodes_[i].id << " " << path << ": deleted key is back\n";
        if (!winner->deleted && !live.is_ok()) problems << nodes_[i].id << " " << path << ": live key unreadable\n";
      }
    }
    std::string text = problems.str();
    if (text.size() > 6000) text = text.substr(0, 6000) + "...\n";
    return text;
  }

  // A fingerprint of the outcome, to show that a seed replays exactly.
  std::string fingerprint() {
    std::ostringstream out;
    for (auto& sim : nodes_) out << sim.id << ":" << sim.node->merkle_root().root << ";";
    out << stats_.writes << "/" << stats_.deletes << "/" << stats_.batches_sent << "/" << stats_.batches_lost << "/"
        << stats_.rounds << "/" << stats_.rounds_failed << "/" << stats_.crashes << "/" << stats_.quiesce_passes;
    for (const auto& [path, writes] : acked_) {
      for (const auto& write : writes) out << ";" << write.uuid << "@" << write.timestamp_ms;
    }
    return out.str();
  }

  std::string summary() const {
    std::ostringstream out;
    out << nodes_.size() << " nodes, " << keys_ << " keys, " << steps_ << " steps; " << stats_.writes << " writes, "
        << stats_.deletes << " deletes, " << stats_.batches_sent << " batches (" << stats_.batches_lost << " lost, "
        << stats_.batches_duplicated << " duplicated), " << stats_.rounds << " rounds (" << stats_.rounds_failed
        << " failed), " << stats_.crashes << " crashes, " << stats_.partitions << " partitions, "
        << stats_.quiesce_passes << " quiescence passes, " << stats_.timestamp_ties << " timestamp ties ("
        << stats_.joined_ties << " also on joined)";
    return out.str();
  }

  const SimStats& stats() const { return stats_; }

 private:
  std::uint64_t below(std::uint64_t n) { return rng_.next_u64() % n; }
  bool chance(std::uint32_t per_mille) { return below(1000) < per_mille; }

  static std::string describe(const Version& version) {
    std::ostringstream out;
    out << (version.deleted ? "tombstone" : "value") << " ts=" << version.timestamp_ms
        << " joined=" << version.origin_joined_ms << " uuid=" << version.uuid << " from " << version.origin_node_id;
    return out.str();
  }

  static std::vector<Version> export_all(kvs::Node& node) {
    std::vector<Version> versions;
    Status status = node.export_versions([&](const Version& version) {
      versions.push_back(version);
      return true;
    });
    if (!status.is_ok()) throw std::runtime_error("export_versions: " + status.to_string());
    return versions;
  }

  void open(std::size_t i) {
    SimNode& sim = nodes_[i];
    kvs::Config config = kvs::test::node_test_config(sim.dir);
    config.node_id = sim.id;
    config.map_size_mb = 32;
    config.revision_history_enabled = false;
    config.compression_enabled = false;
    kvs::NodeEnv env;
    env.clock = sim.clock.get();
    env.random = sim.random.get();
    env.background_sweeper = false;
    auto opened = kvs::Node::open(config, env);
    if (!opened.is_ok()) throw std::runtime_error("open " + sim.id + ": " + opened.status().to_string());
    sim.node = std::move(*opened);
  }

  void set_clocks() {
    for (auto& sim : nodes_) sim.clock->set_ms(now_ms_ + sim.skew_ms);
  }

  std::string pick_key() { return "k/" + std::to_string(below(keys_)); }

  // A node that is up (at least one always is: crash() keeps one).
  std::size_t pick_up() {
    std::vector<std::size_t> up;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].node) up.push_back(i);
    }
    return up[below(up.size())];
  }

  std::optional<std::size_t> pick_down() {
    std::vector<std::size_t> down;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].node) down.push_back(i);
    }
    if (down.empty()) return std::nullopt;
    return down[below(down.size())];
  }

  bool reachable(std::size_t a, std::size_t b) const {
    return nodes_[a].node && nodes_[b].node && (!partitioned_ || side_[a] == side_[b]);
  }

  // A put (most often) or a delete of `key` on node `i`; an acknowledged one joins the model
  // and the node's outboxes.
  void write(std::size_t i, const std::string& key) {
    SimNode& sim = nodes_[i];
    bool deleting = chance(250);
    if (deleting) {
      Status removed = sim.node->remove(key);
      if (removed.code() == Status::Code::kNotFound) return;  // nothing to delete: no write
      if (!removed.is_ok()) throw std::runtime_error("remove " + key + ": " + removed.to_string());
      ++stats_.deletes;
    } else {
      std::string json = "{\"n\":" + std::to_string(++counter_) + ",\"by\":\"" + sim.id + "\"}";
      auto put = sim.node->put(key, json);
      if (!put.is_ok()) throw std::runtime_error("put " + key + ": " + put.status().to_string());
      ++stats_.writes;
    }
    // The version the node made, as it would hand it to its Replicator.
    std::optional<Version> made;
    for (auto& version : export_all(*sim.node)) {
      if (version.path == key) made = std::move(version);
    }
    if (!made || made->deleted != deleting || made->origin_node_id != sim.id) {
      throw std::runtime_error(sim.id + " does not hold its own write of " + key);
    }
    acked_[key].push_back(*made);
    for (std::size_t peer = 0; peer < nodes_.size(); ++peer) {
      if (peer != i) sim.outbox[peer].push_back(*made);
    }
  }

  // The same key written on several nodes in the same simulated millisecond.
  void burst() {
    std::string key = pick_key();
    std::set<std::size_t> writers;
    for (int n = 0; n < 3; ++n) writers.insert(pick_up());
    for (std::size_t i : writers) write(i, key);
  }

  // Sends node i's outboxes as one batch per peer; unless `reliable`, each batch may be lost
  // or duplicated, and each copy is delayed at random (so batches overtake each other).
  void flush(std::size_t i, bool reliable) {
    for (auto& [peer, versions] : nodes_[i].outbox) {
      if (versions.empty()) continue;
      ++stats_.batches_sent;
      std::string body = kvs::replication::encode_versions(versions);
      versions.clear();
      if (!reliable && chance(loss_per_mille_)) {
        ++stats_.batches_lost;
        continue;
      }
      int copies = (!reliable && chance(dup_per_mille_)) ? 2 : 1;
      if (copies == 2) ++stats_.batches_duplicated;
      for (int c = 0; c < copies; ++c) {
        std::int64_t at = now_ms_ + 1 + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(max_delay_ms_)));
        wire_.emplace(std::make_pair(at, next_message_++), Message{i, peer, body});
      }
    }
  }

  // Delivers every message due by now, in (time, sequence) order; one whose ends cannot reach
  // each other then (a partition, a crashed node) is lost.
  void deliver_due() {
    while (!wire_.empty() && wire_.begin()->first.first <= now_ms_) {
      Message message = std::move(wire_.begin()->second);
      wire_.erase(wire_.begin());
      if (!reachable(message.from, message.to)) continue;
      auto answer = NodeAccess::answer_sync(*nodes_[message.to].node, kvs::replication::kPushTarget,
                                                       message.body);
      if (!answer.is_ok()) throw std::runtime_error("push refused: " + answer.status().to_string());
      if (answer->find("\"refused\":0") == std::string::npos) throw std::runtime_error("push partly refused: " + *answer);
    }
  }

  void random_round() {
    std::size_t a = pick_up();
    std::size_t b = pick_up();
    if (a != b) round(a, b);
  }

  // One anti-entropy round of node a with node b; each request may fail before reaching b or
  // after b acted on it (its answer lost).
  void round(std::size_t a, std::size_t b) {
    ++stats_.rounds;
    auto call = [&](const std::string& address, std::string_view target,
                    const std::string& body) -> Result<std::string> {
      std::size_t peer = std::stoul(address.substr(1));
      if (!reachable(a, peer)) return Status::unavailable("unreachable " + address);
      if (chance(call_fail_per_mille_)) return Status::unavailable("request lost");
      auto answer = NodeAccess::answer_sync(*nodes_[peer].node, target, body);
      if (chance(call_fail_per_mille_)) return Status::unavailable("answer lost");
      return answer;
    };
    auto report = NodeAccess::sync_with(*nodes_[a].node, nodes_[b].id, call);
    if (!report.is_ok()) ++stats_.rounds_failed;
  }

  void crash() {
    std::vector<std::size_t> up;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].node) up.push_back(i);
    }
    if (up.size() < 2) return;
    std::size_t i = up[below(up.size())];
    ++stats_.crashes;
    nodes_[i].node.reset();   // what it acknowledged is durable; its memory is gone
    nodes_[i].outbox.clear();
  }

  void restart(std::optional<std::size_t> i) {
    if (i) open(*i);
  }

  void partition() {
    ++stats_.partitions;
    partitioned_ = true;
    side_.assign(nodes_.size(), 0);
    for (auto& side : side_) side = chance(500) ? 1 : 0;
  }

  void count_ties() {
    stats_.timestamp_ties = 0;
    stats_.joined_ties = 0;
    for (const auto& [path, writes] : acked_) {
      for (std::size_t i = 0; i < writes.size(); ++i) {
        for (std::size_t j = i + 1; j < writes.size(); ++j) {
          if (writes[i].timestamp_ms != writes[j].timestamp_ms || writes[i].origin_node_id == writes[j].origin_node_id) {
            continue;
          }
          ++stats_.timestamp_ties;
          if (writes[i].origin_joined_ms == writes[j].origin_joined_ms) ++stats_.joined_ties;
        }
      }
    }
  }

  bool roots_equal() {
    const std::string first = nodes_[0].node->merkle_root().root;
    for (auto& sim : nodes_) {
      if (sim.node->merkle_root().root != first) return false;
    }
    return true;
  }

  kvs::test::SeededRandom rng_;
  SimDir dir_;
  std::vector<SimNode> nodes_;
  std::int64_t now_ms_ = kStartMs;
  std::uint64_t keys_ = 0;
  std::size_t steps_ = 0;
  std::uint32_t loss_per_mille_ = 0;
  std::uint32_t dup_per_mille_ = 0;
  std::uint32_t call_fail_per_mille_ = 0;
  std::int64_t max_delay_ms_ = 1;
  std::uint64_t counter_ = 0;
  bool partitioned_ = false;
  std::vector<int> side_;
  std::map<std::pair<std::int64_t, std::uint64_t>, Message> wire_;
  std::uint64_t next_message_ = 0;
  std::map<std::string, std::vector<Version>> acked_;
  SimStats stats_;
};

// Runs one seed to the end; empty when it converged as it must, else the problems.
std::string run_seed(std::uint64_t seed, std::string* summary = nullptr, SimStats* stats = nullptr) {
  try {
    Sim sim(seed);
    sim.run();
    sim.quiesce();
    std::string problems = sim.check();
    if (summary) *summary = sim.summary();
    if (stats) stats->add(sim.stats());
    return problems;
  } catch (const std::exception& error) {
    return std::string("exception: ") + error.what();
  }
}

std::optional<std::uint64_t> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return std::stoull(text);
}

// Runs seeds [first, first + count), or only KVS_SIM_SEED when set; stops at the first
// failing seed and says how to replay it.
void sweep(std::uint64_t first, std::uint64_t count, const char* tag) {
  kvs::set_log_level(kvs::LogLevel::kError);
  const std::vector<std::uint64_t> seeds = kvs::test::sim_seeds(first, count);
  SimStats total;
  for (std::uint64_t seed : seeds) {
    std::string summary;
    std::string problems = run_seed(seed, &summary, &total);
    // KVS_SIM_VERBOSE=1: one line per seed, to see what a seed exercised.
    if (std::getenv("KVS_SIM_VERBOSE") != nullptr) std::fprintf(stderr, "seed %llu: %s\n", static_cast<unsigned long long>(seed), summary.c_str());
    if (!problems.empty()) {
      FAIL("seed " << seed << " (" << summary << ") did not converge:\n"
                   << problems << kvs::test::replay_hint(seed) << ": KVS_SIM_SEED=" << seed
                   << " kvs_unit_replication \"" << tag << "\"");
    }
  }
  // The sweep must have met what it claims to cover (a replayed single seed may not).
  if (seeds.size() >= 100) {
    CHECK(total.batches_lost > 0);
    CHECK(total.batches_duplicated > 0);
    CHECK(total.rounds_failed > 0);
    CHECK(total.crashes > 0);
    CHECK(total.partitions > 0);
    CHECK(total.deletes > 0);
    CHECK(total.timestamp_ties > 0);
    CHECK(total.joined_ties > 0);
  }
  SUCCEED(seeds.size() << " seeds converged; " << total.writes << " writes, " << total.timestamp_ties
                       << " timestamp ties, " << total.joined_ties << " joined ties");
}

}  // namespace

TEST_CASE("replicas converge on the greatest acknowledged write of every key once lost messages and partitions "
          "and crashes are over",
          "[replication][sim]") {
  sweep(1, kCiSeeds, "[sim]");
}

TEST_CASE("a simulation seed replays to the same outcome", "[replication][sim]") {
  kvs::set_log_level(kvs::LogLevel::kError);
  const std::uint64_t seed = env_number("KVS_SIM_SEED").value_or(7);
  std::string first;
  std::string second;
  {
    Sim sim(seed);
    sim.run();
    sim.quiesce();
    first = sim.fingerprint();
  }
  {
    Sim sim(seed);
    sim.run();
    sim.quiesce();
    second = sim.fingerprint();
  }
  CHECK(first == second);
}

TEST_CASE("long sweep of many more simulation seeds", "[replication][.sim-long]") {
  const std::uint64_t count = env_number("KVS_SIM_SEEDS").value_or(kLongSeeds);
  sweep(1'000'000, count, "[.sim-long]");
}
