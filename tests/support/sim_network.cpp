#include "support/sim_network.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <utility>

namespace kvs::test {

using cluster::Core;
using cluster::PeerMessage;

struct SimNetwork::Node {
  std::string id;
  std::string address;
  cluster::ClusterOptions options;
  std::int64_t skew_ms = 0;    // wall-clock offset
  std::int64_t drift_ppm = 0;  // rate error
  std::uint64_t random_seed = 0;
  std::unique_ptr<SeededRandom> random;
  std::unique_ptr<Core> core;  // null while down
  std::optional<cluster::SelfRecord> persisted;
  std::uint64_t epoch = 0;     // bumped on every crash: stale timers and failures are dropped
  std::uint64_t tick_token = 0;
  std::int64_t tick_at = -1;   // sim time of the pending tick; -1 when none
  int group = 0;               // partition group
  std::vector<SimEvent> events;
};

SimNetwork::SimNetwork(std::uint64_t seed, SimOptions options) : options_(options), random_(seed) {}
SimNetwork::~SimNetwork() = default;

std::size_t SimNetwork::add_node(std::string id, cluster::ClusterOptions options) {
  auto node = std::make_unique<Node>();
  node->address = id + ":7000";
  node->id = std::move(id);
  node->options = std::move(options);
  node->skew_ms = options_.max_clock_skew_ms > 0 ? uniform(-options_.max_clock_skew_ms, options_.max_clock_skew_ms) : 0;
  node->drift_ppm = options_.max_drift_ppm > 0 ? uniform(-options_.max_drift_ppm, options_.max_drift_ppm) : 0;
  node->random_seed = random_.next_u64();
  std::size_t index = nodes_.size();
  if (!by_address_.emplace(node->address, index).second) throw std::invalid_argument("duplicate sim node id");
  nodes_.push_back(std::move(node));
  return index;
}

void SimNetwork::start(std::size_t index, std::optional<std::string> new_address) {
  Node& node = *nodes_.at(index);
  if (node.core) return;
  if (new_address && *new_address != node.address) {
    by_address_.erase(node.address);
    node.address = *new_address;
    by_address_[node.address] = index;
  }
  cluster::SelfRecord self;
  if (node.persisted) {
    self = *node.persisted;
    self.address = node.address;
  } else {
    self = cluster::SelfRecord{node.id, node.address, wall_ms(index), 0, {}};
  }
  // Each life gets its own random stream, derived from the node's seed and its epoch.
  node.random = std::make_unique<SeededRandom>(node.random_seed + node.epoch * 0x9e3779b97f4a7c15ULL);
  node.core = std::make_unique<Core>(self, node.options, *node.random);
  record("t=" + std::to_string(now_ms_) + " start " + node.id + " inc=" + std::to_string(self.incarnation));
  node.core->start(local_now(node));
  drain(index);
}

void SimNetwork::start_all() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) start(i);
}

void SimNetwork::crash(std::size_t index) {
  Node& node = *nodes_.at(index);
  if (!node.core) return;
  record("t=" + std::to_string(now_ms_) + " crash " + node.id);
  node.core.reset();
  node.epoch += 1;
  node.tick_at = -1;
  node.tick_token += 1;
}

void SimNetwork::leave(std::size_t index) {
  Node& node = *nodes_.at(index);
  if (!node.core) return;
  record("t=" + std::to_string(now_ms_) + " leave " + node.id);
  node.core->leave(local_now(node));
  drain(index);
}

void SimNetwork::join(std::size_t index, std::vector<std::string> seeds) {
  Node& node = *nodes_.at(index);
  if (!node.core) return;
  record("t=" + std::to_string(now_ms_) + " join " + node.id);
  node.core->join(std::move(seeds), local_now(node));
  drain(index);
}

void SimNetwork::partition(const std::vector<std::vector<std::size_t>>& groups) {
  for (auto& node : nodes_) node->group = 0;
  int group = 1;
  std::string line = "t=" + std::to_string(now_ms_) + " partition";
  for (const auto& members : groups) {
    line += " |";
    for (std::size_t index : members) {
      nodes_.at(index)->group = group;
      line += " " + nodes_[index]->id;
    }
    group += 1;
  }
  record(line);
}

void SimNetwork::heal() {
  for (auto& node : nodes_) node->group = 0;
  record("t=" + std::to_string(now_ms_) + " heal");
}

bool SimNetwork::reachable(std::size_t a, std::size_t b) const { return nodes_[a]->group == nodes_[b]->group; }

Status SimNetwork::inject_bytes(std::size_t index, std::string_view bytes) {
  Node& node = *nodes_.at(index);
  auto decoded = cluster::decode_message(bytes);
  if (!decoded) {
    stats_.rejected += 1;
    return decoded.status();
  }
  if (node.core) {
    node.core->on_message(*decoded, local_now(node));
    drain(index);
  }
  return Status::ok();
}

void SimNetwork::run_for(std::int64_t duration_ms) {
  std::int64_t until = now_ms_ + duration_ms;
  while (!queue_.empty() && queue_.begin()->first.first <= until) {
    auto handle = queue_.extract(queue_.begin());
    now_ms_ = handle.key().first;
    process(handle.mapped());
  }
  now_ms_ = until;
}

bool SimNetwork::run_until(const std::function<bool()>& done, std::int64_t max_ms, std::int64_t check_every_ms) {
  std::int64_t deadline = now_ms_ + max_ms;
  while (!done()) {
    if (now_ms_ >= deadline) return false;
    run_for(std::min(check_every_ms, deadline - now_ms_));
  }
  return true;
}

void SimNetwork::schedule(std::int64_t at_ms, Event event) {
  queue_.emplace(std::make_pair(at_ms, next_sequence_++), std::move(event));
}

void SimNetwork::process(Event& event) {
  Node& node = *nodes_[event.node];
  switch (event.kind) {
    case EventKind::kTick: {
      if (!node.core || event.epoch != node.epoch || event.token != node.tick_token) return;
      node.tick_at = -1;
      node.core->on_tick(local_now(node));
      drain(event.node);
      return;
    }
    case EventKind::kSendFailed: {
      if (!node.core || event.epoch != node.epoch) return;
      stats_.send_failures += 1;
      record("t=" + std::to_string(now_ms_) + " failed " + node.id + "->" + event.to_address);
      node.core->on_send_failed(event.to_address, local_now(node));
      drain(event.node);
      return;
    }
    case EventKind::kDeliver: {
      auto from = by_address_.find(event.from_address);
      bool cut = from != by_address_.end() && !reachable(from->second, event.node);
      if (!node.core || cut) {
        stats_.dropped += 1;
        return;
      }
      std::optional<PeerMessage> message = std::move(event.message);
      if (!message) {
        auto decoded = cluster::decode_message(event.bytes);
        if (!decoded) {
          stats_.rejected += 1;
          record("t=" + std::to_string(now_ms_) + " rejected at " + node.id + ": " + decoded.status().message());
          return;
        }
        message = std::move(*decoded);
      }
      stats_.delivered += 1;
      record("t=" + std::to_string(now_ms_) + " deliver " + event.from_address + "->" + node.id + " " +
             std::string(cluster::message_type_name(*message)));
      node.core->on_message(*message, local_now(node));
      drain(event.node);
      return;
    }
  }
}

void SimNetwork::drain(std::size_t index) {
  Node& node = *nodes_[index];
  if (!node.core) return;
  cluster::Effects effects = node.core->take_effects();
  // 1. persist, 2. send, 3. notify: the order a real driver keeps.
  if (effects.persist_self) node.persisted = *effects.persist_self;
  for (auto& outbound : effects.send) route(index, std::move(outbound));
  for (const auto& event : effects.notify) {
    node.events.push_back(SimEvent{now_ms_, event.kind, event.member.id});
    record("t=" + std::to_string(now_ms_) + " " + node.id + " sees " + event.member.id + " " +
           std::string(cluster::member_event_name(event.kind)));
  }
  schedule_tick(index);
}

void SimNetwork::route(std::size_t from, cluster::Outbound outbound) {
  Node& sender = *nodes_[from];
  auto failed = [&](std::int64_t after_ms) {
    Event event;
    event.kind = EventKind::kSendFailed;
    event.node = from;
    event.epoch = sender.epoch;
    event.to_address = outbound.address;
    schedule(now_ms_ + after_ms, std::move(event));
  };
  auto target = by_address_.find(outbound.address);
  if (target == by_address_.end() || !nodes_[target->second]->core) {
    failed(options_.refused_after_ms);
    return;
  }
  if (!reachable(from, target->second)) {
    failed(options_.timeout_after_ms);
    return;
  }
  if (chance(options_.drop_per_million)) {
    stats_.dropped += 1;
    return;
  }
  Event event;
  event.kind = EventKind::kDeliver;
  event.node = target->second;
  event.from_address = sender.address;
  sent_ += 1;
  if (options_.encode_one_in != 0 && sent_ % options_.encode_one_in == 0) {
    event.bytes = cluster::encode_message(outbound.message);
    stats_.bytes += event.bytes.size();
  } else {
    event.message = std::move(outbound.message);
  }
  if (chance(options_.duplicate_per_million)) {
    stats_.duplicated += 1;
    schedule(now_ms_ + uniform(options_.delay_min_ms, options_.delay_max_ms), event);
  }
  schedule(now_ms_ + uniform(options_.delay_min_ms, options_.delay_max_ms), std::move(event));
}

void SimNetwork::schedule_tick(std::size_t index) {
  Node& node = *nodes_[index];
  cluster::TimePoint wakeup = node.core->next_wakeup();
  if (wakeup == cluster::TimePoint::max()) return;
  auto local = std::chrono::duration_cast<std::chrono::milliseconds>(wakeup.time_since_epoch()).count();
  std::int64_t at = std::max(sim_ms_for_local(node, local), now_ms_ + 1);
  if (node.tick_at >= 0 && node.tick_at <= at) return;  // an earlier tick is pending; it reschedules
  node.tick_at = at;
  node.tick_token += 1;
  Event event;
  event.kind = EventKind::kTick;
  event.node = index;
  event.epoch = node.epoch;
  event.token = node.tick_token;
  schedule(at, std::move(event));
}

std::int64_t SimNetwork::local_ms(const Node& node, std::int64_t sim_ms) const {
  return node.skew_ms + sim_ms + sim_ms * node.drift_ppm / 1'000'000;
}

std::int64_t SimNetwork::sim_ms_for_local(const Node& node, std::int64_t local) const {
  std::int64_t guess = (local - node.skew_ms) * 1'000'000 / (1'000'000 + node.drift_ppm);
  // Integer rounding: step to the first sim time whose local time has reached `local`.
  while (local_ms(node, guess) < local) guess += 1;
  while (guess > 0 && local_ms(node, guess - 1) >= local) guess -= 1;
  return guess;
}

cluster::TimePoint SimNetwork::local_now(const Node& node) const {
  return cluster::TimePoint(std::chrono::milliseconds(local_ms(node, now_ms_)));
}

std::int64_t SimNetwork::wall_ms(std::size_t index) const {
  return options_.start_wall_ms + local_ms(*nodes_.at(index), now_ms_);
}

const std::string& SimNetwork::id(std::size_t node) const { return nodes_.at(node)->id; }
const std::string& SimNetwork::address(std::size_t node) const { return nodes_.at(node)->address; }
std::optional<cluster::SelfRecord> SimNetwork::persisted(std::size_t node) const { return nodes_.at(node)->persisted; }
const std::vector<SimEvent>& SimNetwork::events(std::size_t node) const { return nodes_.at(node)->events; }

bool SimNetwork::is_up(std::size_t index) const { return nodes_.at(index)->core != nullptr; }

const cluster::Core& SimNetwork::core(std::size_t index) const {
  const Node& node = *nodes_.at(index);
  if (!node.core) throw std::logic_error("sim node " + node.id + " is down");
  return *node.core;
}

std::vector<std::string> SimNetwork::view_ids(std::size_t index, bool include_suspect) const {
  std::vector<std::string> ids;
  for (const auto& member : core(index).members()) {
    if (include_suspect || member.status == cluster::MemberStatus::kAlive) ids.push_back(member.id);
  }
  return ids;
}

bool SimNetwork::views_agree(const std::vector<std::size_t>& indexes) const {
  std::set<std::string> expected;
  for (std::size_t index : indexes) expected.insert(nodes_.at(index)->id);
  for (std::size_t index : indexes) {
    if (!is_up(index)) continue;
    auto ids = view_ids(index, /*include_suspect=*/true);
    if (!std::equal(ids.begin(), ids.end(), expected.begin(), expected.end())) return false;
    for (const auto& member : core(index).members()) {
      if (member.status != cluster::MemberStatus::kAlive) return false;
    }
  }
  return true;
}

std::int64_t SimNetwork::uniform(std::int64_t low, std::int64_t high) {
  if (high <= low) return low;
  auto span = static_cast<std::uint64_t>(high - low) + 1;
  return low + static_cast<std::int64_t>(random_.next_u64() % span);
}

bool SimNetwork::chance(std::uint32_t per_million) {
  if (per_million == 0) return false;
  return random_.next_u64() % 1'000'000 < per_million;
}

void SimNetwork::record(const std::string& line) {
  for (unsigned char c : line) {
    trace_hash_ ^= c;
    trace_hash_ *= 1099511628211ULL;
  }
  trace_hash_ ^= '\n';
  trace_hash_ *= 1099511628211ULL;
  trace_length_ += 1;
  if (options_.keep_trace) trace_.push_back(line);
  // KVS_SIM_VERBOSE=1 prints the trace as it happens: run with KVS_SIM_SEED to follow one run.
  static const bool verbose = std::getenv("KVS_SIM_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%s\n", line.c_str());
}

std::vector<std::uint64_t> sim_seeds(std::uint64_t first, std::size_t count) {
  if (const char* env = std::getenv("KVS_SIM_SEED"); env != nullptr && *env != '\0') {
    return {std::strtoull(env, nullptr, 10)};
  }
  std::vector<std::uint64_t> seeds;
  seeds.reserve(count);
  for (std::size_t i = 0; i < count; ++i) seeds.push_back(first + i);
  return seeds;
}

std::string replay_hint(std::uint64_t seed) {
  return "seed " + std::to_string(seed) + " (replay: KVS_SIM_SEED=" + std::to_string(seed) + ")";
}

cluster::ClusterOptions sim_cluster_options(std::vector<std::string> seeds) {
  using std::chrono::milliseconds;
  cluster::ClusterOptions options;
  options.seed_addresses = std::move(seeds);
  options.gossip_interval_min = milliseconds(1000);
  options.gossip_interval_max = milliseconds(2000);
  options.failure_timeout = milliseconds(8000);
  options.removal_timeout = milliseconds(16000);
  options.join_retry_min = milliseconds(500);
  options.join_retry_max = milliseconds(8000);
  options.reconnect_interval = milliseconds(2000);
  options.reconnect_timeout = milliseconds(10 * 60 * 1000);
  options.left_tombstone_ttl = milliseconds(60 * 1000);
  return options;
}

}  // namespace kvs::test
