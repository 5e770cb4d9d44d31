// kvs::Node: cluster membership (SPEC sections 2 "Cluster" and 3). The protocol lives in
// cluster::Core and runs on cluster::Driver's loop thread; this file builds the driver from the
// node's config, persists its SelfRecord in the store's meta database, and turns the driver's
// snapshots and events into the public Member values.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "cluster/core.hpp"
#include "cluster/driver.hpp"
#include "cluster/message.hpp"
#include "features/audit.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "node/node_impl.hpp"
#include "util/json_writer.hpp"

namespace kvs {
namespace {

// The persisted SelfRecord, in the store's meta database. The joined timestamp is kept apart
// (node.cpp's "joined_timestamp"), since the data path needs it with clustering off too.
constexpr std::string_view kClusterSelfMeta = "cluster.self";
constexpr std::int64_t kSelfRecordFormat = 1;

// The address peers use: advertise_address, else bind_address:port.
std::string advertised_address(const Config& config) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  return config.bind_address + ":" + std::to_string(config.port);
}

// {"v":1,"id":"n1","address":"h:p","incarnation":7,"peer_addresses":["h:p",...]}
//   v               format version (kSelfRecordFormat)
//   id, address     what the node was last started as (informative: the config decides)
//   incarnation     the last incarnation peers may have seen; the Core bumps it on start
//   peer_addresses  members at the last gossip round after a change: asked to let us back in
std::string encode_self_record(const cluster::SelfRecord& record) {
  std::string out = "{\"v\":" + std::to_string(kSelfRecordFormat) + ",\"id\":";
  util::append_json_string(out, record.id);
  out += ",\"address\":";
  util::append_json_string(out, record.address);
  out += ",\"incarnation\":" + std::to_string(record.incarnation) + ",\"peer_addresses\":[";
  for (std::size_t i = 0; i < record.peer_addresses.size(); ++i) {
    if (i > 0) out += ',';
    util::append_json_string(out, record.peer_addresses[i]);
  }
  out += "]}";
  return out;
}

// Incarnation and peer addresses of a stored record. kCorruption for anything else.
Status decode_self_record(std::string_view text, cluster::SelfRecord& record) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) {
    return Status::corruption("meta cluster.self is not JSON");
  }
  std::int64_t version = 0;
  std::uint64_t incarnation = 0;
  simdjson::dom::array peers;
  if (root["v"].get_int64().get(version) != simdjson::SUCCESS || version != kSelfRecordFormat ||
      root["incarnation"].get_uint64().get(incarnation) != simdjson::SUCCESS ||
      root["peer_addresses"].get_array().get(peers) != simdjson::SUCCESS) {
    return Status::corruption("meta cluster.self has an unknown format");
  }
  record.incarnation = incarnation;
  record.peer_addresses.clear();
  for (auto element : peers) {
    std::string_view address;
    if (element.get_string().get(address) != simdjson::SUCCESS) {
      return Status::corruption("meta cluster.self has a peer address that is not a string");
    }
    if (!address.empty() && address.size() <= cluster::kMaxAddressBytes) record.peer_addresses.emplace_back(address);
  }
  return Status::ok();
}

// "host:port" with a non-empty host and a decimal port 1..65535.
Status check_address(std::string_view address, std::string_view what) {
  auto bad = [&] {
    return Status::invalid_argument(std::string(what) + " must be host:port, not '" +
                                    std::string(address.substr(0, 100)) + "'");
  };
  std::size_t colon = address.rfind(':');
  if (address.size() > cluster::kMaxAddressBytes || colon == std::string_view::npos || colon == 0) return bad();
  std::string_view port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5) return bad();
  std::uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return bad();
  for (char c : address) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/') return bad();
  }
  return Status::ok();
}

// Wall-clock ms of a monotonic time point of this process.
std::int64_t wall_ms_of(const Clock& clock, cluster::TimePoint at) {
  auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonic_now() - at).count();
  return clock.now_ms() - std::max<std::int64_t>(ago, 0);
}

Member to_member(const Clock& clock, const cluster::MemberInfo& info) {
  Member member;
  member.id = info.id;
  member.address = info.address;
  member.last_seen_ms = info.is_self ? clock.now_ms() : wall_ms_of(clock, info.last_seen);
  member.joined_timestamp_ms = info.joined_ms;
  member.status = info.status == cluster::MemberStatus::kSuspect ? MemberStatus::kSuspect : MemberStatus::kAlive;
  member.is_self = info.is_self;
  return member;
}

MemberEvent::Kind to_public(cluster::MemberEventKind kind) {
  switch (kind) {
    case cluster::MemberEventKind::kJoined: return MemberEvent::Kind::kJoined;
    case cluster::MemberEventKind::kUpdated: return MemberEvent::Kind::kUpdated;
    case cluster::MemberEventKind::kSuspect: return MemberEvent::Kind::kSuspect;
    case cluster::MemberEventKind::kAlive: return MemberEvent::Kind::kAlive;
    case cluster::MemberEventKind::kRemoved: return MemberEvent::Kind::kRemoved;
    case cluster::MemberEventKind::kLeft: return MemberEvent::Kind::kLeft;
  }
  return MemberEvent::Kind::kUpdated;
}

}  // namespace

Status Node::Impl::start_cluster() {
  if (!config.clustering_enabled || offline) return Status::ok();
  cluster::SelfRecord self;
  self.id = config.node_id;
  self.address = advertised_address(config);
  self.joined_ms = joined_ms;
  if (self.id.empty() || self.id.size() > cluster::kMaxIdBytes) {
    return Status::invalid_argument("node_id must be 1.." + std::to_string(cluster::kMaxIdBytes) +
                                    " bytes for clustering");
  }
  if (Status valid = check_address(self.address, "advertise_address (else bind_address:port)"); !valid.is_ok()) {
    return valid;
  }
  for (const auto& seed : config.seed_nodes) {
    if (Status valid = check_address(seed, "each of seed_nodes"); !valid.is_ok()) return valid;
  }

  auto stored = store->get_meta(kClusterSelfMeta);
  if (!stored.is_ok()) return stored.status();
  if (stored->has_value()) {
    Status decoded = decode_self_record(**stored, self);
    if (!decoded.is_ok()) {
      // Peers may hold any incarnation of ours below the wall clock in ms (one per start):
      // starting above it keeps our heartbeats fresher than whatever they remember.
      log(LogLevel::kWarn, "cluster.self_record_unreadable", {{"error", decoded.to_string()}});
      self.incarnation = static_cast<std::uint64_t>(std::max<std::int64_t>(now_ms(), 0));
    }
  }

  if (Status secured = open_peer_transport(); !secured.is_ok()) return secured;
  cluster::DriverHooks hooks;
  hooks.persist = [this](const cluster::SelfRecord& record) {
    return keyspace->put_meta(kClusterSelfMeta, encode_self_record(record));
  };
  hooks.notify = [this](const cluster::MemberEvent& event) {
    member_changes.fetch_add(1, std::memory_order_relaxed);
    // Joins and departures (graceful or by removal) change the membership: they are audited.
    if (event.kind == cluster::MemberEventKind::kJoined) {
      audit_event("node:" + event.member.id, features::audit_action::kMemberJoin, "members/" + event.member.id);
    } else if (event.kind == cluster::MemberEventKind::kLeft || event.kind == cluster::MemberEventKind::kRemoved) {
      audit_event("node:" + event.member.id, features::audit_action::kMemberLeave, "members/" + event.member.id);
    }
    std::shared_ptr<const std::function<void(const MemberEvent&)>> observer;
    {
      std::lock_guard lock(member_observer_mutex);
      observer = member_observer;
    }
    if (observer && *observer) {
      (*observer)(MemberEvent{to_public(event.kind), to_member(*clock, event.member)});
    }
  };

  cluster::DriverOptions options;
  options.transport = peer_transport.get();

  log(LogLevel::kInfo, "cluster.starting",
      {{"node_id", self.id}, {"address", self.address}, {"incarnation", std::to_string(self.incarnation + 1)},
       {"seeds", std::to_string(config.seed_nodes.size())}});
  cluster = std::make_unique<cluster::Driver>(std::move(self), cluster::cluster_options_from_config(config), *clock,
                                              *random, std::move(hooks), options);
  cluster->start();
  return Status::ok();
}

std::size_t Node::Impl::live_member_count() const {
  if (!cluster) return 1;
  return cluster->snapshot().live_member_count;
}

std::vector<Member> Node::members() const {
  const Clock& clock = *impl_->clock;
  if (!impl_->cluster) {
    Member self;
    self.id = impl_->config.node_id;
    self.address = advertised_address(impl_->config);
    self.last_seen_ms = clock.now_ms();
    self.joined_timestamp_ms = impl_->joined_ms;
    self.is_self = true;
    return {self};
  }
  auto snapshot = impl_->cluster->snapshot();
  std::vector<Member> members;
  members.reserve(snapshot.members.size());
  for (const auto& info : snapshot.members) members.push_back(to_member(clock, info));
  return members;
}

Status Node::join(std::string_view seed_address) {
  if (!impl_->cluster) return Status::unavailable("clustering is disabled (clustering_enabled: false)");
  std::vector<std::string> seeds;
  if (!seed_address.empty()) {
    if (Status valid = check_address(seed_address, "the seed address"); !valid.is_ok()) return valid;
    seeds.emplace_back(seed_address);
  }
  return impl_->cluster->join(std::move(seeds));
}

Status Node::leave(const CallOptions& options) {
  const Caller& caller = options.caller;
  if (impl_->checked(caller) && !auth::is_admin(caller.scopes)) {
    return Status::permission_denied("leaving the cluster needs the admin scope");
  }
  if (!impl_->cluster) return Status::unavailable("clustering is disabled (clustering_enabled: false)");
  return impl_->cluster->leave();
}

Status Node::leave_before_close() {
  if (!impl_->cluster) return Status::unavailable("clustering is disabled (clustering_enabled: false)");
  return impl_->cluster->leave(/*remember_peers=*/true);
}

void Node::set_member_observer(std::function<void(const MemberEvent&)> observer) {
  auto shared = observer ? std::make_shared<const std::function<void(const MemberEvent&)>>(std::move(observer))
                         : nullptr;
  std::lock_guard lock(impl_->member_observer_mutex);
  impl_->member_observer = std::move(shared);
}

std::uint64_t Node::member_changes() const noexcept { return impl_->member_changes.load(std::memory_order_relaxed); }

Result<PeerResponse> Node::handle_peer_request(const PeerRequest& request) {
  auto answer = impl_->answer_peer_request(*this, request);
  if (!answer.is_ok() && answer.status().code() == Status::Code::kUnauthenticated) {
    std::string address = request.remote_address.empty() ? "unknown" : std::string(request.remote_address);
    if (auto unsaid = impl_->rejected_peer_log.admit(address, impl_->clock->monotonic_now())) {
      log(LogLevel::kWarn, "peer.signature_rejected",
          {{"remote_address", address},
           {"target", std::string(request.target.substr(0, 100))},
           {"error", answer.status().message()},
           {"hint", "a node whose cluster_secret differs from this one's; give every node the same cluster_secret "
                    "(or copy this node's <data_dir>/cluster.secret into its data_dir)"},
           {"repeats", std::to_string(*unsaid)}});
    }
  }
  return answer;
}

// The one server-side dispatch of the peer protocol (peer_protocol::kTargets): the target is
// known, the signature verifies (once, for every target, before anything is read), then the
// membership messages go to the cluster loop and the /sync/ requests to their answers
// (NodeAccess::answer_sync).
Result<PeerResponse> Node::Impl::answer_peer_request(Node& node, const PeerRequest& request) {
  std::string_view path = request.target.substr(0, request.target.find('?'));
  if (!peer_protocol::is_peer_target(path)) {
    return Status::not_found("no peer target " + std::string(path.substr(0, 100)));
  }
  if (!cluster || !replication) return Status::unavailable("clustering is disabled (clustering_enabled: false)");
  const bool membership = path == peer_protocol::kJoin || path == peer_protocol::kGossip;
  // /sync/ bodies are capped by the embedder (SPEC: peer routes' own cap).
  if (membership && request.body.size() > cluster::kMaxMessageBytes) {
    return Status::too_large("peer message over the size limit");
  }
  // The signature first: an unauthenticated request must change nothing and cost little.
  if (Status verified = detail::NodeAccess::verify_peer_request(node, request); !verified.is_ok()) return verified;
  if (request.method != "POST") return Status::invalid_argument("peer requests are POSTed");
  if (!membership) {
    auto answer = detail::NodeAccess::answer_sync(node, path, request.body);
    if (!answer.is_ok()) return answer.status();
    return PeerResponse{200, std::move(*answer)};
  }
  auto message = cluster::decode_message(request.body);
  if (!message.is_ok()) return message.status();
  if (path != cluster::peer_path(*message)) {
    return Status::invalid_argument("a " + std::string(cluster::message_type_name(*message)) +
                                    " message does not belong at " + std::string(path.substr(0, 100)));
  }
  if (Status queued = cluster->deliver(std::move(*message)); !queued.is_ok()) return queued;
  // The body kvs-server has always answered a queued message with.
  return PeerResponse{202, "{}"};
}

}  // namespace kvs
