#pragma once

// cluster::Core: the cluster's brain as a pure state machine (STYLE section 4). It holds the
// member list and runs the membership protocol (join through seeds, gossip, failure detection,
// graceful leave); replication will add versions, Merkle digests and sync messages to it. It
// reads no clock, touches no socket or file and owns no randomness: time comes in as an
// argument, randomness through the borrowed `Random&` (which must outlive the Core), and what
// comes out is a batch of Effects that the driver carries out in order (persist, then send,
// then notify). It is single-threaded: one loop thread owns it; nothing in it is safe to call
// concurrently.
//
// The protocol, SWIM/memberlist style but timeout-based as SPEC section 3 asks:
// - Every member has an entry (id, address, joined_ms, incarnation, heartbeat, state). Only the
//   member itself bumps its incarnation (on every start, and to refute a stale view of itself)
//   and its heartbeat (on every gossip round), so (incarnation, heartbeat) orders two copies of
//   an entry and stale gossip can never win over fresh (message.hpp, compare_freshness).
// - Every gossip_interval_min..max (uniformly drawn) a node bumps its heartbeat and pushes its
//   whole view to 1-3 random members (alive or suspect). Each receiver answers with the entries
//   it holds fresher (push-pull), so one exchange updates both sides.
// - A member whose entry has not become fresher for failure_timeout, directly or through any
//   peer's gossip, is suspect; after removal_timeout it is removed and kept as a `failed`
//   tombstone: gossip no fresher than the tombstone cannot bring it back, fresher gossip (the
//   node is alive after all, e.g. behind a healed partition) can. Every reconnect_interval the
//   node sends a join to one random failed tombstone, so two halves that removed each other
//   during a long partition merge again when it heals.
// - A leave bumps the leaver's heartbeat and marks it `left`; receivers drop it at once, keep a
//   `left` tombstone for left_tombstone_ttl and gossip it, so peers that missed the leave learn
//   it and no older gossip resurrects the node.
// - A starting node with seeds sends a join to each seed, retried with exponential back-off
//   (join_retry_min doubling up to join_retry_max, with jitter) for as long as no member lives
//   at the seed's address: any reachable seed lets the node in, and the others are still tried
//   so that groups formed around different seeds merge. A seed that later disappears from the
//   view is tried again the same way.
// - A restarted node keeps its id and joined_timestamp (the driver persists SelfRecord, the
//   Core bumps the incarnation on start), so its fresh heartbeats win over its old entry, and
//   peers update its address if it changed.
//
// What a driver does (kvs::Node's cluster loop in production, SimNetwork in tests):
// 1. On open: load the persisted SelfRecord (or make one: id = node_id, address =
//    advertise_address, joined_ms = the wall clock now, incarnation 0), build the Core with
//    cluster_options_from_config(), call start(monotonic now), carry out the effects.
// 2. Own the Core on one loop thread. Feed it: on_tick at next_wakeup() (or every ~100 ms);
//    on_message for each authenticated, decoded peer request (HTTP handlers post them into the
//    loop's bounded queue and answer 202/200 at once; a full queue answers 503);
//    on_send_failed for each send the transport refused, timed out or dropped; leave()/join()
//    for DELETE /members/leave and Node::join. After every input, take_effects() and carry them
//    out in order: write persist_self durably (fsync) before sending anything, then hand each
//    Outbound to the transport (POST encode_message(m) to peer_path(m) with the HMAC header),
//    then publish notify events (log, callbacks, /health member_count).
// 3. Serve GET /members/ from members(): last_seen turned into wall-clock ms as
//    wall_now - (monotonic_now - last_seen).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/message.hpp"
#include "kvs/clock.hpp"
#include "kvs/config.hpp"

namespace kvs::cluster {

// Monotonic time of the node that owns the Core. Only differences matter.
using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::milliseconds;

// What the driver persists for this node, and hands back to the Core after a restart.
struct SelfRecord {
  std::string id;
  std::string address;        // "host:port" peers use (advertise_address)
  std::int64_t joined_ms = 0; // joined_timestamp: wall-clock ms of the very first start
  std::uint64_t incarnation = 0;
  // Addresses of the members at the last gossip round after a change: after a restart the node
  // asks them to let it back in (besides its seeds) until one answers, so even a node without
  // seeds, or one that moved to another address, finds its cluster again.
  std::vector<std::string> peer_addresses;

  friend bool operator==(const SelfRecord&, const SelfRecord&) = default;
};

struct ClusterOptions {
  std::vector<std::string> seed_addresses;      // "host:port"; this node's own address is skipped
  Duration gossip_interval_min{std::chrono::seconds(60)};
  Duration gossip_interval_max{std::chrono::seconds(120)};
  Duration failure_timeout{std::chrono::minutes(5)};   // silent this long: suspect
  Duration removal_timeout{std::chrono::minutes(10)};  // silent this long: removed
  Duration join_retry_min{std::chrono::seconds(1)};    // first back-off of a seed join
  Duration join_retry_max{std::chrono::seconds(60)};   // back-off cap
  Duration reconnect_interval{std::chrono::seconds(30)};  // join one failed tombstone this often
  Duration reconnect_timeout{std::chrono::hours(24)};     // failed tombstones kept this long
  Duration left_tombstone_ttl{std::chrono::minutes(10)};  // left tombstones kept this long
  std::size_t max_members{10'000};              // members plus tombstones; more are ignored
};

// Options from the node's Config: seeds, intervals and timeouts; the reconnect interval follows
// gossip_interval_max and left tombstones live for removal_timeout.
ClusterOptions cluster_options_from_config(const Config& config);

enum class MemberStatus : std::uint8_t { kAlive = 0, kSuspect = 1 };
std::string_view member_status_name(MemberStatus status) noexcept;  // "alive", "suspect"

// A member as GET /members/ shows it. `last_seen` is this node's monotonic time when the entry
// last became fresher; the driver turns it into wall-clock ms.
struct MemberInfo {
  std::string id;
  std::string address;
  std::int64_t joined_ms = 0;
  std::uint64_t incarnation = 0;
  TimePoint last_seen{};
  MemberStatus status = MemberStatus::kAlive;
  bool is_self = false;
};

enum class MemberEventKind : std::uint8_t {
  kJoined = 0,   // a new member (or one back from a tombstone)
  kUpdated,      // restarted (new incarnation) or moved (new address)
  kSuspect,      // silent for failure_timeout
  kAlive,        // a suspect member was heard from again
  kRemoved,      // silent for removal_timeout
  kLeft,         // left gracefully
};
std::string_view member_event_name(MemberEventKind kind) noexcept;

struct MemberEvent {
  MemberEventKind kind = MemberEventKind::kJoined;
  MemberInfo member;
};

struct Outbound {
  std::string address;   // "host:port"
  PeerMessage message;
};

// What the driver must do after an input, in this order.
struct Effects {
  std::optional<SelfRecord> persist_self;  // 1. make durable before anything is sent
  std::vector<Outbound> send;              // 2. then send (each may fail: report on_send_failed)
  std::vector<MemberEvent> notify;         // 3. then tell observers

  bool empty() const noexcept { return !persist_self && send.empty() && notify.empty(); }
};

// Counters for metrics and tests.
struct CoreStats {
  std::uint64_t messages_in = 0;    // messages handed to on_message while running
  std::uint64_t messages_out = 0;   // messages put in Effects::send
  std::uint64_t send_failures = 0;  // sends reported failed (on_send_failed)
  std::uint64_t gossip_rounds = 0;  // gossip rounds begun, with or without a peer to send to
  std::uint64_t refutations = 0;    // times this node raised its incarnation to refute a suspicion
};

class Core {
 public:
  // `self` is the persisted record (incarnation 0 and a fresh joined_ms for a brand-new node).
  // Requires: self.id and self.address are non-empty; `random` outlives the Core.
  Core(SelfRecord self, ClusterOptions options, Random& random);

  // Starts the node: bumps the incarnation (persist_self), sends joins to the seeds and arms the
  // gossip timer. Inputs before start() are ignored.
  void start(TimePoint now);

  // Runs whatever timers are due: gossip, join retries, reconnects, suspicion and removal,
  // tombstone expiry. Call at next_wakeup() or more often; calling early is harmless.
  void on_tick(TimePoint now);

  // A message from a peer (already authenticated and decoded by the driver).
  void on_message(const PeerMessage& message, TimePoint now);

  // The driver could not deliver a message to `address` (refused, timed out, queue full).
  void on_send_failed(std::string_view address, TimePoint now);

  // Leaves gracefully: tells every member, then runs standalone (forgets all members and ignores
  // peers) until join(). The persisted SelfRecord forgets the peers too, so that a restart does
  // not find its way back, unless `remember_peers` (a process that stops, SIGTERM): its next
  // start then asks them to let it back in, as after a crash.
  void leave(TimePoint now, bool remember_peers = false);

  // Joins (again) through `seed_addresses` (the configured seeds when empty), e.g. after leave().
  void join(std::vector<std::string> seed_addresses, TimePoint now);

  // Takes the effects accumulated since the last call.
  Effects take_effects();

  // The earliest time at which on_tick has something to do.
  TimePoint next_wakeup() const;

  // This node and every alive or suspect member, ordered by id.
  std::vector<MemberInfo> members() const;
  // Alive members, this node included (SPEC: /health member_count).
  std::size_t live_member_count() const;
  std::optional<MemberInfo> member(std::string_view id) const;

  const SelfRecord& self() const noexcept { return self_record_; }
  std::uint64_t heartbeat() const noexcept { return self_.heartbeat; }
  bool started() const noexcept { return started_; }
  bool has_left() const noexcept { return left_; }
  bool joining() const noexcept { return joining_; }
  std::size_t tombstone_count() const noexcept { return tombstones_.size(); }
  const CoreStats& stats() const noexcept { return stats_; }

 private:
  struct Member {
    MemberEntry entry;
    TimePoint last_heard{};
    bool suspect = false;
  };
  struct Tombstone {
    MemberEntry entry;
    TimePoint since{};
    bool left = false;  // false: failed (removed after removal_timeout)
  };
  struct Seed {
    std::string address;
    TimePoint next_attempt{};
    Duration backoff{};
    bool reached = false;  // a member lived at its address at the last tick
    bool hint = false;     // a persisted peer address, not a configured seed: tried until joined
  };

  void merge(const MemberEntry& entry, TimePoint now);
  void merge_self(const MemberEntry& entry);
  void check_failures(TimePoint now);
  void expire_tombstones(TimePoint now);
  void retry_joins(TimePoint now);
  void gossip_round(TimePoint now);
  void reconnect(TimePoint now);
  void answer_push(const Gossip& push);
  void begin_joining(const std::vector<std::string>& addresses, const std::vector<std::string>& hints,
                     TimePoint now);
  void send(std::string address, PeerMessage message);
  void emit(MemberEventKind kind, const Member& member);
  void persist();
  std::vector<MemberEntry> view() const;
  MemberInfo info_of(const Member& member) const;
  Duration uniform(Duration low, Duration high);
  Duration jittered(Duration base);

  SelfRecord self_record_;
  MemberEntry self_;  // self_record_ plus the heartbeat
  ClusterOptions options_;
  Random& random_;

  // Ordered maps: iteration order must be deterministic (never a hash map's).
  std::map<std::string, Member> members_;       // excluding self
  std::map<std::string, Tombstone> tombstones_;
  std::vector<Seed> seeds_;

  bool started_ = false;
  bool left_ = false;
  bool joining_ = false;
  bool peers_changed_ = false;  // persist peer_addresses at the next gossip round
  TimePoint now_{};
  TimePoint next_gossip_{};
  TimePoint next_reconnect_{};
  Effects effects_;
  CoreStats stats_;
};

}  // namespace kvs::cluster
