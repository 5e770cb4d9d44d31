// cluster::Core alone: inputs in, effects out, time as plain values. Each case pins one rule of
// the membership protocol.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cluster/core.hpp"
#include "support/manual_clock.hpp"

namespace {

using namespace kvs::cluster;
using std::chrono::milliseconds;

TimePoint at(std::int64_t ms) { return TimePoint(milliseconds(ms)); }

ClusterOptions fast_options(std::vector<std::string> seeds = {}) {
  ClusterOptions options;
  options.seed_addresses = std::move(seeds);
  options.gossip_interval_min = milliseconds(1000);
  options.gossip_interval_max = milliseconds(2000);
  options.failure_timeout = milliseconds(10'000);
  options.removal_timeout = milliseconds(20'000);
  options.join_retry_min = milliseconds(500);
  options.join_retry_max = milliseconds(8'000);
  options.reconnect_interval = milliseconds(5'000);
  options.left_tombstone_ttl = milliseconds(60'000);
  return options;
}

MemberEntry peer(std::string id, std::uint64_t incarnation, std::uint64_t heartbeat,
                 EntryState state = EntryState::kAlive, std::string address = "") {
  if (address.empty()) address = id + ":1";
  return MemberEntry{id, address, 42, incarnation, heartbeat, state};
}

struct Fixture {
  kvs::test::SeededRandom random{7};
  Core core;
  explicit Fixture(ClusterOptions options = fast_options(), SelfRecord self = {"me", "me:1", 1000, 0, {}})
      : core(std::move(self), std::move(options), random) {}
};

// Copies: the Effects passed in is often a temporary.
std::vector<Outbound> sends_of(const Effects& effects, std::string_view type) {
  std::vector<Outbound> out;
  for (const auto& outbound : effects.send) {
    if (message_type_name(outbound.message) == type) out.push_back(outbound);
  }
  return out;
}

bool has_event(const Effects& effects, MemberEventKind kind, std::string_view id) {
  return std::any_of(effects.notify.begin(), effects.notify.end(),
                     [&](const MemberEvent& e) { return e.kind == kind && e.member.id == id; });
}

}  // namespace

TEST_CASE("starting bumps the incarnation and persists it along with the first joins", "[cluster][core]") {
  Fixture f(fast_options({"seed:1", "me:1", "seed:1"}), SelfRecord{"me", "me:1", 1000, 4, {}});
  f.core.start(at(0));
  Effects effects = f.core.take_effects();
  REQUIRE(effects.persist_self.has_value());
  CHECK(effects.persist_self->incarnation == 5);
  CHECK(effects.persist_self->joined_ms == 1000);
  auto joins = sends_of(effects, "join");
  REQUIRE(joins.size() == 1);  // its own address and duplicates are skipped
  CHECK(joins[0].address == "seed:1");
  CHECK(std::get<JoinRequest>(joins[0].message).member.incarnation == 5);
}

TEST_CASE("an unreachable seed is retried with growing back-off until it answers", "[cluster][core]") {
  Fixture f(fast_options({"seed:1"}));
  f.core.start(at(0));
  std::vector<std::int64_t> attempts;
  for (std::int64_t t = 0; t <= 60'000; t += 10) {
    f.core.on_tick(at(t));
    Effects effects = f.core.take_effects();
    for (const auto& join : sends_of(effects, "join")) {
      attempts.push_back(t);
      f.core.on_send_failed(join.address, at(t + 1));
    }
  }
  REQUIRE(attempts.size() >= 6);
  REQUIRE(attempts.size() <= 16);
  for (std::size_t i = 2; i < attempts.size(); ++i) {
    // Never shrinks, until the cap (with its +0..25 % jitter) is reached.
    CHECK(attempts[i] - attempts[i - 1] >= std::min<std::int64_t>(attempts[i - 1] - attempts[i - 2], 8'000) - 10);
    CHECK(attempts[i] - attempts[i - 1] <= 8'000 * 5 / 4 + 10);                      // capped
  }
  // The seed answers: no more joins to it.
  f.core.on_message(JoinReply{"seed", {peer("seed", 1, 3, EntryState::kAlive, "seed:1")}}, at(60'001));
  Effects effects = f.core.take_effects();
  CHECK(has_event(effects, MemberEventKind::kJoined, "seed"));
  CHECK_FALSE(f.core.joining());
  for (std::int64_t t = 60'010; t <= 90'000; t += 10) {
    f.core.on_tick(at(t));
    f.core.on_message(Gossip{"seed", {peer("seed", 1, static_cast<std::uint64_t>(t))}, true}, at(t));
    CHECK(sends_of(f.core.take_effects(), "join").empty());
  }
}

TEST_CASE("a join is answered with the whole view and adds the joiner", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  (void)f.core.take_effects();
  f.core.on_message(Gossip{"b", {peer("b", 1, 1)}}, at(10));
  (void)f.core.take_effects();
  f.core.on_message(JoinRequest{peer("c", 1, 0)}, at(20));
  Effects effects = f.core.take_effects();
  CHECK(has_event(effects, MemberEventKind::kJoined, "c"));
  auto replies = sends_of(effects, "join_reply");
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].address == "c:1");
  const auto& members = std::get<JoinReply>(replies[0].message).members;
  CHECK(members.size() == 3);
  CHECK(f.core.live_member_count() == 3);
}

TEST_CASE("gossip goes to one to three peers every gossip interval", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  std::vector<MemberEntry> entries;
  for (int i = 0; i < 10; ++i) entries.push_back(peer("p" + std::to_string(i), 1, 1));
  f.core.on_message(Gossip{"p0", entries, true}, at(0));
  (void)f.core.take_effects();
  std::vector<std::int64_t> rounds;
  for (std::int64_t t = 0; t <= 9'000; t += 5) {
    f.core.on_tick(at(t));
    auto pushes = sends_of(f.core.take_effects(), "gossip");
    if (pushes.empty()) continue;
    rounds.push_back(t);
    CHECK(pushes.size() >= 1);
    // 1-3 random peers, plus one probe of the stalest member once it is silent for half of
    // failure_timeout (these peers are never heard from again).
    CHECK(pushes.size() <= (t < 5'000 ? 3u : 4u));
    std::vector<std::string> targets;
    for (const auto& push : pushes) targets.push_back(push.address);
    std::sort(targets.begin(), targets.end());
    CHECK(std::adjacent_find(targets.begin(), targets.end()) == targets.end());
  }
  REQUIRE(rounds.size() >= 4);
  for (std::size_t i = 1; i < rounds.size(); ++i) {
    CHECK(rounds[i] - rounds[i - 1] >= 1000);
    CHECK(rounds[i] - rounds[i - 1] <= 2005);
  }
}

TEST_CASE("a silent member is suspect after failure_timeout and removed after removal_timeout", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5)}}, at(1000));
  (void)f.core.take_effects();
  f.core.on_tick(at(10'999));
  CHECK(f.core.member("b")->status == MemberStatus::kAlive);
  CHECK(f.core.next_wakeup() <= at(11'000));
  f.core.on_tick(at(11'000));
  CHECK(has_event(f.core.take_effects(), MemberEventKind::kSuspect, "b"));
  CHECK(f.core.member("b")->status == MemberStatus::kSuspect);
  CHECK(f.core.live_member_count() == 1);
  // Stale gossip (the same heartbeat) is not a sign of life.
  f.core.on_message(Gossip{"c", {peer("b", 1, 5)}}, at(15'000));
  f.core.on_tick(at(21'000));
  Effects effects = f.core.take_effects();
  CHECK(has_event(effects, MemberEventKind::kRemoved, "b"));
  CHECK_FALSE(f.core.member("b").has_value());
  // Nor can it bring the removed member back; fresher gossip can.
  f.core.on_message(Gossip{"c", {peer("b", 1, 5)}}, at(22'000));
  CHECK_FALSE(f.core.member("b").has_value());
  f.core.on_message(Gossip{"c", {peer("b", 1, 6)}}, at(23'000));
  CHECK(has_event(f.core.take_effects(), MemberEventKind::kJoined, "b"));
  CHECK(f.core.member("b")->status == MemberStatus::kAlive);
}

TEST_CASE("a suspect member heard from again is alive", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5)}}, at(0));
  f.core.on_tick(at(10'000));
  CHECK(f.core.member("b")->status == MemberStatus::kSuspect);
  (void)f.core.take_effects();
  f.core.on_message(Gossip{"c", {peer("b", 1, 6)}}, at(12'000));
  CHECK(has_event(f.core.take_effects(), MemberEventKind::kAlive, "b"));
  CHECK(f.core.member("b")->status == MemberStatus::kAlive);
}

TEST_CASE("a leave drops the member at once and stale gossip cannot bring it back", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5), peer("c", 1, 1)}}, at(0));
  (void)f.core.take_effects();
  f.core.on_message(Leave{peer("b", 1, 6, EntryState::kLeft)}, at(100));
  CHECK(has_event(f.core.take_effects(), MemberEventKind::kLeft, "b"));
  CHECK_FALSE(f.core.member("b").has_value());
  f.core.on_message(Gossip{"c", {peer("b", 1, 6), peer("c", 1, 2)}}, at(200));
  CHECK_FALSE(f.core.member("b").has_value());
  // The tombstone travels with our gossip, so peers that missed the leave learn it.
  f.core.on_tick(at(5'000));
  auto pushes = sends_of(f.core.take_effects(), "gossip");
  REQUIRE_FALSE(pushes.empty());
  const auto& members = std::get<Gossip>(pushes[0].message).members;
  CHECK(std::any_of(members.begin(), members.end(),
                    [](const MemberEntry& e) { return e.id == "b" && e.state == EntryState::kLeft; }));
  // Back with a new incarnation: welcome.
  f.core.on_message(JoinRequest{peer("b", 2, 0)}, at(6'000));
  CHECK(has_event(f.core.take_effects(), MemberEventKind::kJoined, "b"));
}

TEST_CASE("leaving tells every member and then runs standalone", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5), peer("c", 1, 1)}}, at(0));
  (void)f.core.take_effects();
  f.core.leave(at(10));
  Effects effects = f.core.take_effects();
  auto leaves = sends_of(effects, "leave");
  CHECK(leaves.size() == 2);
  REQUIRE(effects.persist_self.has_value());
  CHECK(effects.persist_self->peer_addresses.empty());
  CHECK(f.core.has_left());
  CHECK(f.core.members().size() == 1);
  f.core.on_message(Gossip{"b", {peer("b", 1, 9)}}, at(20));
  CHECK(f.core.members().size() == 1);
  f.core.join({"b:1"}, at(30));
  effects = f.core.take_effects();
  REQUIRE(effects.persist_self.has_value());
  CHECK(effects.persist_self->incarnation == 2);
  CHECK(sends_of(effects, "join").size() == 1);
}

TEST_CASE("a node that leaves because it stops remembers its peers for the next start", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5), peer("c", 1, 1)}}, at(0));
  (void)f.core.take_effects();
  f.core.leave(at(10), /*remember_peers=*/true);
  Effects effects = f.core.take_effects();
  CHECK(sends_of(effects, "leave").size() == 2);
  REQUIRE(effects.persist_self.has_value());
  CHECK(effects.persist_self->peer_addresses == std::vector<std::string>{"b:1", "c:1"});
  CHECK(f.core.has_left());
  CHECK(f.core.members().size() == 1);

  // The next start (a new Core from that record) asks them to let it back in.
  Fixture restarted(fast_options(), *effects.persist_self);
  restarted.core.start(at(20));
  auto joins = sends_of(restarted.core.take_effects(), "join");
  CHECK(joins.size() == 2);
}

TEST_CASE("a join from a newer incarnation of a member updates its address", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5)}}, at(0));
  (void)f.core.take_effects();
  f.core.on_message(JoinRequest{peer("b", 2, 0, EntryState::kAlive, "elsewhere:9")}, at(100));
  Effects effects = f.core.take_effects();
  CHECK(has_event(effects, MemberEventKind::kUpdated, "b"));
  CHECK(f.core.member("b")->address == "elsewhere:9");
  CHECK(f.core.member("b")->joined_ms == 42);
  REQUIRE(sends_of(effects, "join_reply").size() == 1);
  CHECK(sends_of(effects, "join_reply")[0].address == "elsewhere:9");
  // An older incarnation cannot move it back.
  f.core.on_message(Gossip{"c", {peer("b", 1, 99)}}, at(200));
  CHECK(f.core.member("b")->address == "elsewhere:9");
}

TEST_CASE("gossip claiming this node left or is fresher is refuted with a new incarnation", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  (void)f.core.take_effects();
  REQUIRE(f.core.self().incarnation == 1);
  f.core.on_message(Gossip{"b", {peer("b", 1, 1), MemberEntry{"me", "me:1", 1000, 1, 50, EntryState::kLeft}}}, at(10));
  Effects effects = f.core.take_effects();
  REQUIRE(effects.persist_self.has_value());
  CHECK(effects.persist_self->incarnation == 2);
  CHECK_FALSE(f.core.has_left());
  CHECK(f.core.stats().refutations == 1);
}

TEST_CASE("a push is answered with what the receiver knows fresher, and a reply is not", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"c", {peer("c", 1, 9)}, true}, at(0));
  (void)f.core.take_effects();
  f.core.on_message(Gossip{"b", {peer("b", 1, 5), peer("c", 1, 3)}}, at(10));
  auto replies = sends_of(f.core.take_effects(), "gossip");
  REQUIRE(replies.size() == 1);
  const auto& reply = std::get<Gossip>(replies[0].message);
  CHECK(reply.reply);
  CHECK(replies[0].address == "b:1");
  std::vector<std::string> ids;
  for (const auto& e : reply.members) ids.push_back(e.id);
  CHECK(ids == std::vector<std::string>{"me", "c"});
  f.core.on_message(Gossip{"b", {peer("b", 1, 6)}, true}, at(20));
  CHECK(sends_of(f.core.take_effects(), "gossip").empty());
}

TEST_CASE("the member list is bounded", "[cluster][core]") {
  ClusterOptions options = fast_options();
  options.max_members = 5;
  Fixture f(options);
  f.core.start(at(0));
  std::vector<MemberEntry> flood;
  for (int i = 0; i < 100; ++i) flood.push_back(peer("x" + std::to_string(i), 1, 1));
  f.core.on_message(Gossip{"x0", flood}, at(0));
  CHECK(f.core.members().size() == 6);  // five others and itself
}

TEST_CASE("a failed member is asked to rejoin every reconnect interval", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"b", {peer("b", 1, 5)}}, at(0));
  f.core.on_tick(at(20'000));
  REQUIRE_FALSE(f.core.member("b").has_value());
  (void)f.core.take_effects();
  int joins = 0;
  for (std::int64_t t = 20'000; t <= 50'000; t += 10) {
    f.core.on_tick(at(t));
    for (const auto& join : sends_of(f.core.take_effects(), "join")) {
      CHECK(join.address == "b:1");
      joins += 1;
    }
  }
  CHECK(joins >= 4);
  CHECK(joins <= 7);
}

TEST_CASE("the least recently heard member is probed once it is silent for half of failure_timeout", "[cluster][core]") {
  Fixture f;
  f.core.start(at(0));
  f.core.on_message(Gossip{"old", {peer("old", 1, 1)}, true}, at(0));
  int rounds_after = 0;
  int probes_after = 0;
  for (std::int64_t t = 0; t <= 9'900; t += 5) {
    // Twenty peers that keep talking, and "old" that went quiet at t=0.
    std::vector<MemberEntry> chatty;
    for (int i = 0; i < 20; ++i) chatty.push_back(peer("p" + std::to_string(i), 1, static_cast<std::uint64_t>(t + 2)));
    f.core.on_message(Gossip{"p0", chatty, true}, at(t));
    f.core.on_tick(at(t));
    auto pushes = sends_of(f.core.take_effects(), "gossip");
    if (pushes.empty() || t < 5'000) continue;
    rounds_after += 1;
    for (const auto& push : pushes) probes_after += push.address == "old:1" ? 1 : 0;
  }
  // Every round once it is silent for 5 s reaches it, by chance or as the probe.
  REQUIRE(rounds_after >= 2);
  CHECK(probes_after == rounds_after);
}
