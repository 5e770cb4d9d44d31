#pragma once

// SimNetwork: a whole cluster of cluster::Cores in one thread, driven by a seed. It stands in
// for the driver of every node (it carries out their Effects: persist, send, notify) and for the
// network between them, which it makes hostile on purpose: random delays (hence reordering),
// drops, duplicates, partitions and heals, per-node clock skew and drift, crashes (a node loses
// its memory but keeps what it persisted) and restarts.
//
// Determinism: every decision comes from one SeededRandom (the network) and one per node (each
// Core's Random), events are ordered by (time, sequence number), and every container is ordered,
// so the same seed gives the same trace. No real time, thread, pointer value or hash-map order is
// involved. `trace_hash()` fingerprints the trace; `trace()` keeps its lines when asked.
//
// Not thread-safe: one test thread owns a SimNetwork.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/core.hpp"
#include "support/manual_clock.hpp"

namespace kvs::test {

struct SimOptions {
  std::int64_t delay_min_ms = 1;        // one-way delivery delay, uniform in [min, max]
  std::int64_t delay_max_ms = 50;
  std::uint32_t drop_per_million = 0;   // silently lost messages
  std::uint32_t duplicate_per_million = 0;
  std::int64_t max_clock_skew_ms = 0;   // each node's wall clock is off by [-skew, +skew]
  std::int64_t max_drift_ppm = 0;       // and runs [-ppm, +ppm] fast or slow
  std::int64_t refused_after_ms = 2;    // a send to a down or unknown address fails after this
  std::int64_t timeout_after_ms = 1000; // a send across a partition fails after this
  std::uint32_t encode_one_in = 1;      // pass every n-th message through encode/decode (0: none)
  bool keep_trace = false;              // keep the trace's lines (the hash is always kept)
  std::int64_t start_wall_ms = 1'700'000'000'000;
};

// One notification a node's Core emitted, with the simulated time it happened at.
struct SimEvent {
  std::int64_t at_ms = 0;
  cluster::MemberEventKind kind{};
  std::string member_id;
};

struct SimStats {
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;      // lost at random, or to a partition or a down node in flight
  std::uint64_t duplicated = 0;
  std::uint64_t send_failures = 0;
  std::uint64_t rejected = 0;     // bytes that did not decode
  std::uint64_t bytes = 0;        // encoded bytes sent
};

class SimNetwork {
 public:
  explicit SimNetwork(std::uint64_t seed, SimOptions options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Adds a node (not started). Its address is "<id>:7000". Returns its index.
  std::size_t add_node(std::string id, cluster::ClusterOptions options);
  // Starts a node that was added or crashed: a new Core from what it persisted (a brand-new
  // node gets its joined_ms from its own skewed wall clock), optionally at a new address.
  void start(std::size_t node, std::optional<std::string> new_address = std::nullopt);
  void start_all();
  // Drops the node's memory (the Core and every timer); keeps what it persisted.
  void crash(std::size_t node);
  void leave(std::size_t node);
  void join(std::size_t node, std::vector<std::string> seeds = {});

  // Nodes in different groups cannot reach each other; nodes in no group form one more group.
  void partition(const std::vector<std::vector<std::size_t>>& groups);
  void heal();
  void set_drop_per_million(std::uint32_t drop) { options_.drop_per_million = drop; }

  // Hands raw bytes to a node as if a peer had sent them. Returns the decode status; a message
  // that decodes is given to the Core.
  Status inject_bytes(std::size_t node, std::string_view bytes);

  // Runs the event loop for `duration_ms` of simulated time.
  void run_for(std::int64_t duration_ms);
  // Runs until `done()` holds (checked every `check_every_ms`) or `max_ms` passed. Returns
  // whether it held.
  bool run_until(const std::function<bool()>& done, std::int64_t max_ms, std::int64_t check_every_ms = 100);

  // True when every up node among `nodes` sees exactly `nodes` as alive (itself included).
  bool views_agree(const std::vector<std::size_t>& nodes) const;
  // Ids a node sees; with `include_suspect` false only alive ones.
  std::vector<std::string> view_ids(std::size_t node, bool include_suspect = true) const;

  std::int64_t now_ms() const noexcept { return now_ms_; }
  std::size_t size() const noexcept { return nodes_.size(); }
  bool is_up(std::size_t node) const;
  const cluster::Core& core(std::size_t node) const;  // Requires: is_up(node)
  const std::string& id(std::size_t node) const;
  const std::string& address(std::size_t node) const;
  std::optional<cluster::SelfRecord> persisted(std::size_t node) const;
  const std::vector<SimEvent>& events(std::size_t node) const;
  // The node's local wall-clock ms (skewed) at the current simulated time.
  std::int64_t wall_ms(std::size_t node) const;

  const SimStats& stats() const noexcept { return stats_; }
  std::uint64_t trace_hash() const noexcept { return trace_hash_; }
  std::uint64_t trace_length() const noexcept { return trace_length_; }
  const std::vector<std::string>& trace() const noexcept { return trace_; }

 private:
  struct Node;
  enum class EventKind : std::uint8_t { kDeliver, kTick, kSendFailed };
  struct Event {
    EventKind kind = EventKind::kTick;
    std::size_t node = 0;            // the receiver (kDeliver) or the node concerned
    std::uint64_t epoch = 0;         // kTick, kSendFailed: the node's life it belongs to
    std::uint64_t token = 0;         // kTick: only the latest scheduled tick of a node runs
    std::string from_address;
    std::string to_address;          // kSendFailed: where the message could not go
    std::string bytes;               // kDeliver with encode_messages
    std::optional<cluster::PeerMessage> message;  // kDeliver without
  };

  void schedule(std::int64_t at_ms, Event event);
  void process(Event& event);
  void route(std::size_t from, cluster::Outbound outbound);
  void drain(std::size_t node);
  void schedule_tick(std::size_t node);
  bool reachable(std::size_t a, std::size_t b) const;
  std::int64_t local_ms(const Node& node, std::int64_t sim_ms) const;
  std::int64_t sim_ms_for_local(const Node& node, std::int64_t local) const;
  cluster::TimePoint local_now(const Node& node) const;
  std::int64_t uniform(std::int64_t low, std::int64_t high);
  bool chance(std::uint32_t per_million);
  void record(const std::string& line);

  SimOptions options_;
  SeededRandom random_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, std::size_t> by_address_;
  std::map<std::pair<std::int64_t, std::uint64_t>, Event> queue_;  // (time, sequence) -> event
  std::uint64_t next_sequence_ = 0;
  std::uint64_t sent_ = 0;
  std::int64_t now_ms_ = 0;
  SimStats stats_;
  std::uint64_t trace_hash_ = 1469598103934665603ULL;  // FNV-1a offset basis
  std::uint64_t trace_length_ = 0;
  std::vector<std::string> trace_;
};

// The seeds a simulation test runs: KVS_SIM_SEED=<n> replays just that one; otherwise `count`
// seeds from `first`.
std::vector<std::uint64_t> sim_seeds(std::uint64_t first, std::size_t count);

// A test's failure message: "seed 42 (replay: KVS_SIM_SEED=42)".
std::string replay_hint(std::uint64_t seed);

// Options for simulations: fast timers (gossip every 1-2 s, suspect after 8 s, removed after
// 16 s) and the given seeds.
cluster::ClusterOptions sim_cluster_options(std::vector<std::string> seeds = {});

}  // namespace kvs::test
