#include "cluster/core.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace kvs::cluster {

namespace {

// A broken invariant is a bug: stop, in release builds too.
void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "kvs::cluster::Core: invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

ClusterOptions cluster_options_from_config(const Config& config) {
  ClusterOptions options;
  options.seed_addresses = config.seed_nodes;
  options.gossip_interval_min = config.gossip_interval_min;
  options.gossip_interval_max = config.gossip_interval_max;
  options.failure_timeout = config.failure_timeout;
  options.removal_timeout = config.removal_timeout;
  options.join_retry_min = std::min<Duration>(std::chrono::seconds(1), config.gossip_interval_min);
  options.join_retry_max = std::max<Duration>(options.join_retry_min, std::min<Duration>(std::chrono::seconds(60), config.gossip_interval_max));
  options.reconnect_interval = config.gossip_interval_max;
  options.left_tombstone_ttl = config.removal_timeout;
  return options;
}

std::string_view member_status_name(MemberStatus status) noexcept {
  return status == MemberStatus::kSuspect ? "suspect" : "alive";
}

std::string_view member_event_name(MemberEventKind kind) noexcept {
  switch (kind) {
    case MemberEventKind::kJoined: return "joined";
    case MemberEventKind::kUpdated: return "updated";
    case MemberEventKind::kSuspect: return "suspect";
    case MemberEventKind::kAlive: return "alive";
    case MemberEventKind::kRemoved: return "removed";
    case MemberEventKind::kLeft: return "left";
  }
  return "unknown";
}

Core::Core(SelfRecord self, ClusterOptions options, Random& random)
    : self_record_(std::move(self)), options_(std::move(options)), random_(random) {
  require(!self_record_.id.empty() && !self_record_.address.empty(), "self id and address are set");
  require(options_.gossip_interval_min.count() > 0 && options_.gossip_interval_min <= options_.gossip_interval_max,
          "0 < gossip_interval_min <= gossip_interval_max");
  require(options_.join_retry_min.count() > 0 && options_.join_retry_min <= options_.join_retry_max,
          "0 < join_retry_min <= join_retry_max");
  require(options_.reconnect_interval.count() > 0, "reconnect_interval > 0");
  self_.id = self_record_.id;
  self_.address = self_record_.address;
  self_.joined_ms = self_record_.joined_ms;
  self_.incarnation = self_record_.incarnation;
}

void Core::start(TimePoint now) {
  if (started_) return;
  started_ = true;
  now_ = now;
  // A new incarnation per start: our heartbeats restart at 0 and must still win over whatever
  // peers remember of our previous life.
  self_.incarnation += 1;
  self_.heartbeat = 0;
  std::vector<std::string> hints = self_record_.peer_addresses;
  persist();  // (rewrites peer_addresses from the still empty member list)
  next_gossip_ = now + uniform(options_.gossip_interval_min, options_.gossip_interval_max);
  next_reconnect_ = now + jittered(options_.reconnect_interval);
  begin_joining(options_.seed_addresses, hints, now);
}

void Core::begin_joining(const std::vector<std::string>& addresses, const std::vector<std::string>& hints,
                         TimePoint now) {
  seeds_.clear();
  auto add = [&](const std::string& address, bool hint) {
    if (address.empty() || address == self_.address) return;
    bool duplicate = std::any_of(seeds_.begin(), seeds_.end(), [&](const Seed& s) { return s.address == address; });
    if (!duplicate) seeds_.push_back(Seed{address, now, options_.join_retry_min, false, hint});
  };
  for (const auto& address : addresses) add(address, false);
  for (const auto& address : hints) add(address, true);
  joining_ = !seeds_.empty();
  retry_joins(now);
}

void Core::on_tick(TimePoint now) {
  if (!started_ || left_) return;
  now_ = std::max(now_, now);
  check_failures(now_);
  expire_tombstones(now_);
  retry_joins(now_);
  if (now_ >= next_gossip_) gossip_round(now_);
  if (now_ >= next_reconnect_) reconnect(now_);
}

void Core::on_message(const PeerMessage& message, TimePoint now) {
  if (!started_ || left_) return;
  now_ = std::max(now_, now);
  stats_.messages_in += 1;
  std::visit(
      [this](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, JoinRequest>) {
          if (body.member.id == self_.id) return;  // our own join echoed back (a seed list naming us)
          merge(body.member, now_);
          // Answer even when the entry was stale (a duplicate join): the joiner waits for it.
          self_.heartbeat += 1;  // every view we send carries a new sign of life
          JoinReply reply{self_.id, view()};
          send(body.member.address, PeerMessage{std::move(reply)});
        } else if constexpr (std::is_same_v<T, JoinReply> || std::is_same_v<T, Gossip>) {
          for (const auto& entry : body.members) merge(entry, now_);
          if constexpr (std::is_same_v<T, Gossip>) {
            if (!body.reply && body.from != self_.id) answer_push(body);
          }
          // Someone knows us: we are in. Configured seeds not yet reached are still retried;
          // remembered peers were only a way back in.
          if (body.from != self_.id && joining_) {
            joining_ = false;
            seeds_.erase(std::remove_if(seeds_.begin(), seeds_.end(), [](const Seed& s) { return s.hint; }),
                         seeds_.end());
          }
        } else if constexpr (std::is_same_v<T, Leave>) {
          merge(body.member, now_);
        }
      },
      message);
}

void Core::on_send_failed(std::string_view address, TimePoint now) {
  now_ = std::max(now_, now);
  stats_.send_failures += 1;
  // A seed that refused: its retry is already scheduled by its back-off; widen the back-off so an
  // unreachable seed costs less and less. Members are judged by heartbeats only, never by one
  // failed send (the network between two nodes may fail while gossip through others flows).
  for (auto& seed : seeds_) {
    if (seed.address == address) seed.backoff = std::min<Duration>(seed.backoff * 2, options_.join_retry_max);
  }
}

void Core::leave(TimePoint now, bool remember_peers) {
  if (!started_ || left_) return;
  now_ = std::max(now_, now);
  // The bumped heartbeat makes the left entry fresher than any alive copy of us in flight.
  self_.heartbeat += 1;
  MemberEntry entry = self_;
  entry.state = EntryState::kLeft;
  std::vector<std::string> peer_addresses;
  for (const auto& [id, member] : members_) {
    send(member.entry.address, PeerMessage{Leave{entry}});
    peer_addresses.push_back(member.entry.address);
  }
  members_.clear();
  tombstones_.clear();
  seeds_.clear();
  joining_ = false;
  left_ = true;
  // Forget the peers: a node that left does not find its way back after a restart. A node that
  // only stops keeps them: the next start's incarnation outranks the left tombstones it leaves.
  persist();
  if (remember_peers) {
    self_record_.peer_addresses = std::move(peer_addresses);
    effects_.persist_self = self_record_;
  }
}

void Core::join(std::vector<std::string> seed_addresses, TimePoint now) {
  if (!started_) {
    if (!seed_addresses.empty()) options_.seed_addresses = std::move(seed_addresses);
    start(now);
    return;
  }
  now_ = std::max(now_, now);
  if (seed_addresses.empty()) seed_addresses = options_.seed_addresses;
  if (left_) {
    // Back from a leave: a new incarnation outranks our left tombstones on every peer.
    left_ = false;
    self_.incarnation += 1;
    self_.heartbeat = 0;
    persist();
    next_gossip_ = now_ + uniform(options_.gossip_interval_min, options_.gossip_interval_max);
  }
  begin_joining(seed_addresses, {}, now_);
}

Effects Core::take_effects() {
  Effects out = std::move(effects_);
  effects_ = Effects{};
  return out;
}

TimePoint Core::next_wakeup() const {
  if (!started_ || left_) return TimePoint::max();
  TimePoint next = next_gossip_;
  bool has_failed_tombstone = false;
  for (const auto& [id, tombstone] : tombstones_) {
    next = std::min(next, tombstone.since + (tombstone.left ? options_.left_tombstone_ttl : options_.reconnect_timeout));
    if (!tombstone.left) has_failed_tombstone = true;
  }
  if (has_failed_tombstone) next = std::min(next, next_reconnect_);
  for (const auto& [id, member] : members_) {
    next = std::min(next, member.last_heard + (member.suspect ? options_.removal_timeout : options_.failure_timeout));
  }
  // A seed reached at the last tick that has gone since is noticed at the next gossip round.
  for (const auto& seed : seeds_) {
    if (!seed.reached) next = std::min(next, seed.next_attempt);
  }
  return next;
}

std::vector<MemberInfo> Core::members() const {
  std::vector<MemberInfo> out;
  out.reserve(members_.size() + 1);
  MemberInfo self_info{self_.id, self_.address, self_.joined_ms, self_.incarnation, now_, MemberStatus::kAlive, true};
  bool self_placed = false;
  for (const auto& [id, member] : members_) {
    if (!self_placed && self_.id < id) {
      out.push_back(self_info);
      self_placed = true;
    }
    out.push_back(info_of(member));
  }
  if (!self_placed) out.push_back(self_info);
  return out;
}

std::size_t Core::live_member_count() const {
  std::size_t count = 1;
  for (const auto& [id, member] : members_) count += member.suspect ? 0 : 1;
  return count;
}

std::optional<MemberInfo> Core::member(std::string_view id) const {
  if (id == self_.id) return MemberInfo{self_.id, self_.address, self_.joined_ms, self_.incarnation, now_, MemberStatus::kAlive, true};
  auto it = members_.find(std::string(id));
  if (it == members_.end()) return std::nullopt;
  return info_of(it->second);
}

// --- merging ---

void Core::merge(const MemberEntry& entry, TimePoint now) {
  if (entry.id.empty() || entry.address.empty()) return;
  if (entry.id == self_.id) {
    merge_self(entry);
    return;
  }
  if (auto it = members_.find(entry.id); it != members_.end()) {
    Member& member = it->second;
    if (compare_freshness(entry, member.entry) <= 0) return;  // stale or duplicate gossip
    if (entry.state == EntryState::kLeft) {
      member.entry = entry;
      emit(MemberEventKind::kLeft, member);
      tombstones_[entry.id] = Tombstone{entry, now, true};
      members_.erase(it);
      return;
    }
    bool updated = entry.incarnation != member.entry.incarnation || entry.address != member.entry.address;
    member.entry = entry;
    member.last_heard = now;
    if (member.suspect) {
      member.suspect = false;
      emit(MemberEventKind::kAlive, member);
    }
    if (updated) emit(MemberEventKind::kUpdated, member);
    return;
  }
  if (auto it = tombstones_.find(entry.id); it != tombstones_.end()) {
    Tombstone& tombstone = it->second;
    // The tombstone is why stale gossip cannot resurrect a removed or departed member.
    if (compare_freshness(entry, tombstone.entry) <= 0) return;
    if (entry.state == EntryState::kLeft) {
      tombstone.entry = entry;
      if (!tombstone.left) {
        tombstone.left = true;
        tombstone.since = now;
      }
      return;
    }
    tombstones_.erase(it);  // fresher than the tombstone: alive after all, or back with a new life
  } else if (members_.size() + tombstones_.size() >= options_.max_members) {
    return;  // bounded: a flood of made-up ids cannot grow us without limit
  }
  if (entry.state == EntryState::kLeft) {
    tombstones_[entry.id] = Tombstone{entry, now, true};
    return;
  }
  Member& member = members_[entry.id];
  member.entry = entry;
  member.last_heard = now;
  member.suspect = false;
  emit(MemberEventKind::kJoined, member);
}

void Core::merge_self(const MemberEntry& entry) {
  // Gossip about us that is fresher than what we hold, or says we left when we did not, comes
  // from an earlier life whose incarnation we lost (e.g. a crash before persisting). Refute it
  // with an incarnation above it, as SWIM does.
  bool stale_left = entry.state == EntryState::kLeft && compare_freshness(entry, self_) >= 0;
  if (compare_freshness(entry, self_) > 0 || stale_left) {
    self_.incarnation = std::max(self_.incarnation, entry.incarnation) + 1;
    self_.heartbeat = 0;
    stats_.refutations += 1;
    persist();
  }
}

// --- timers ---

void Core::check_failures(TimePoint now) {
  for (auto it = members_.begin(); it != members_.end();) {
    Member& member = it->second;
    auto silent = now - member.last_heard;
    if (silent >= options_.removal_timeout) {
      if (!member.suspect) emit(MemberEventKind::kSuspect, member);
      emit(MemberEventKind::kRemoved, member);
      tombstones_[it->first] = Tombstone{member.entry, now, false};
      it = members_.erase(it);
      continue;
    }
    if (silent >= options_.failure_timeout && !member.suspect) {
      member.suspect = true;
      emit(MemberEventKind::kSuspect, member);
    }
    ++it;
  }
}

void Core::expire_tombstones(TimePoint now) {
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    const Tombstone& tombstone = it->second;
    Duration ttl = tombstone.left ? options_.left_tombstone_ttl : options_.reconnect_timeout;
    if (now - tombstone.since >= ttl) {
      it = tombstones_.erase(it);
    } else {
      ++it;
    }
  }
}

void Core::retry_joins(TimePoint now) {
  if (seeds_.empty()) return;
  // A seed counts as reached while a member lives at its address. Until then it is retried with
  // back-off, even after other peers let us in: two groups that formed while a seed was down
  // (each through a different seed) would otherwise never learn of each other.
  for (auto& seed : seeds_) {
    // A scan per seed: seeds are few, and it allocates nothing (this runs on every tick).
    seed.reached = std::any_of(members_.begin(), members_.end(),
                               [&](const auto& item) { return item.second.entry.address == seed.address; });
    if (seed.reached) {
      seed.backoff = options_.join_retry_min;  // if it goes away, look for it soon
      continue;
    }
    if (now < seed.next_attempt) continue;
    send(seed.address, PeerMessage{JoinRequest{self_}});
    // Retried until a member lives there: a lost reply looks like a lost request.
    seed.next_attempt = now + jittered(seed.backoff);
    seed.backoff = std::min<Duration>(seed.backoff * 2, options_.join_retry_max);
  }
}

void Core::gossip_round(TimePoint now) {
  self_.heartbeat += 1;
  if (peers_changed_) {
    // At most once a round: formation of a large cluster changes the member set constantly.
    peers_changed_ = false;
    persist();
  }
  stats_.gossip_rounds += 1;
  next_gossip_ = now + uniform(options_.gossip_interval_min, options_.gossip_interval_max);
  if (members_.empty()) return;
  std::vector<const Member*> candidates;
  candidates.reserve(members_.size());
  for (const auto& [id, member] : members_) candidates.push_back(&member);
  std::size_t fanout = std::min<std::size_t>(candidates.size(), 1 + random_.next_u64() % 3);
  // Partial Fisher-Yates over the id-ordered list: the seed alone decides the choice.
  for (std::size_t i = 0; i < fanout; ++i) {
    std::size_t j = i + static_cast<std::size_t>(random_.next_u64() % (candidates.size() - i));
    std::swap(candidates[i], candidates[j]);
  }
  // Besides the random peers, probe the member we have heard least recently once it has been
  // silent for half of failure_timeout: its answer carries a fresh heartbeat when it is alive.
  // Epidemic spread alone is slow in large clusters (about log N rounds), and this keeps a slow
  // path from looking like a failure. At most one probe per round.
  const Member* stalest = nullptr;
  for (std::size_t i = fanout; i < candidates.size(); ++i) {
    if (stalest == nullptr || candidates[i]->last_heard < stalest->last_heard) stalest = candidates[i];
  }
  if (stalest != nullptr && now - stalest->last_heard < options_.failure_timeout / 2) stalest = nullptr;
  std::vector<MemberEntry> entries = view();
  for (std::size_t i = 0; i < fanout; ++i) {
    send(candidates[i]->entry.address, PeerMessage{Gossip{self_.id, entries}});
  }
  if (stalest != nullptr) send(stalest->entry.address, PeerMessage{Gossip{self_.id, std::move(entries)}});
}

void Core::reconnect(TimePoint now) {
  next_reconnect_ = now + jittered(options_.reconnect_interval);
  std::vector<const Tombstone*> failed;
  for (const auto& [id, tombstone] : tombstones_) {
    if (!tombstone.left) failed.push_back(&tombstone);
  }
  if (failed.empty()) return;
  const Tombstone* target = failed[static_cast<std::size_t>(random_.next_u64() % failed.size())];
  send(target->entry.address, PeerMessage{JoinRequest{self_}});
}

void Core::answer_push(const Gossip& push) {
  // Pull half of push-pull: what we know fresher than the pusher (our own entry at least, as our
  // heartbeat moved on since it last heard from us). It doubles the messages but not the bytes,
  // and a heartbeat then needs no lucky run of random pushes to reach a node: false suspicion in
  // large clusters becomes rare.
  std::map<std::string_view, const MemberEntry*> theirs;
  for (const auto& entry : push.members) theirs.emplace(entry.id, &entry);
  const MemberEntry* sender = nullptr;
  if (auto it = theirs.find(push.from); it != theirs.end()) sender = it->second;
  if (sender == nullptr) return;
  // A new heartbeat with every answer: our liveness then spreads with every exchange, not only
  // with our own pushes, which keeps false suspicion rare in large clusters.
  self_.heartbeat += 1;
  std::vector<MemberEntry> delta;
  for (const auto& entry : view()) {
    auto it = theirs.find(entry.id);
    if (it == theirs.end() || compare_freshness(entry, *it->second) > 0) delta.push_back(entry);
  }
  if (delta.empty()) return;
  send(sender->address, PeerMessage{Gossip{self_.id, std::move(delta), /*reply=*/true}});
}

// --- helpers ---

std::vector<MemberEntry> Core::view() const {
  std::vector<MemberEntry> entries;
  entries.reserve(members_.size() + tombstones_.size() + 1);
  entries.push_back(self_);
  for (const auto& [id, member] : members_) entries.push_back(member.entry);
  // Left tombstones travel so that peers that missed the leave learn it; failed ones do not:
  // every node judges failures from heartbeats on its own.
  for (const auto& [id, tombstone] : tombstones_) {
    if (tombstone.left) entries.push_back(tombstone.entry);
  }
  return entries;
}

void Core::send(std::string address, PeerMessage message) {
  stats_.messages_out += 1;
  effects_.send.push_back(Outbound{std::move(address), std::move(message)});
}

void Core::emit(MemberEventKind kind, const Member& member) {
  if (kind != MemberEventKind::kSuspect && kind != MemberEventKind::kAlive) peers_changed_ = true;
  effects_.notify.push_back(MemberEvent{kind, info_of(member)});
}

void Core::persist() {
  self_record_.incarnation = self_.incarnation;
  self_record_.peer_addresses.clear();
  for (const auto& [id, member] : members_) self_record_.peer_addresses.push_back(member.entry.address);
  effects_.persist_self = self_record_;
}

MemberInfo Core::info_of(const Member& member) const {
  return MemberInfo{member.entry.id, member.entry.address, member.entry.joined_ms, member.entry.incarnation,
                    member.last_heard, member.suspect ? MemberStatus::kSuspect : MemberStatus::kAlive, false};
}

Duration Core::uniform(Duration low, Duration high) {
  if (high <= low) return low;
  auto span = static_cast<std::uint64_t>((high - low).count()) + 1;
  return low + Duration(static_cast<Duration::rep>(random_.next_u64() % span));
}

Duration Core::jittered(Duration base) {
  // +0..25%: retries of many nodes spread out instead of arriving together.
  return uniform(base, base + base / 4);
}

}  // namespace kvs::cluster
