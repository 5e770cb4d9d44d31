// replication::BootstrapPull, the bootstrap state machine, driven by hand: the cursor follows
// the pages, a seed that dies midway is left for the next one (which starts over), rounds are
// retried, the pull gives up only when no seed answered for the timeout and never once a seed
// rejected the signature, and a late answer changes nothing. The node's driver thread and the
// real /sync/since answers are exercised by tests/cluster/bootstrap_test.cpp.

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "replication/bootstrap_pull.hpp"
#include "replication/sync_codec.hpp"

using kvs::Version;
using kvs::replication::BootstrapEvent;
using kvs::replication::BootstrapOptions;
using kvs::replication::BootstrapPull;
using kvs::replication::BootstrapState;
using kvs::replication::BootstrapTime;
using kvs::replication::SinceAnswer;
using std::chrono::milliseconds;

namespace {

const BootstrapTime kStart = BootstrapTime{} + std::chrono::hours(1);

Version version_at(const std::string& path, std::int64_t timestamp_ms) {
  Version version;
  version.path = path;
  version.uuid = "00000000-0000-4000-8000-000000000001";
  version.timestamp_ms = timestamp_ms;
  version.origin_node_id = "seed";
  version.data = "{}";
  return version;
}

SinceAnswer page(const std::vector<Version>& versions, bool more) {
  SinceAnswer answer;
  answer.answered = true;
  answer.status = 200;
  std::optional<std::string> next;
  if (more) next = versions.back().path;
  answer.body = kvs::replication::encode_versions(versions, next);
  return answer;
}

SinceAnswer no_answer() {
  SinceAnswer answer;
  answer.error = "connection refused";
  return answer;
}

BootstrapOptions two_seeds() {
  BootstrapOptions options;
  options.seeds = {"s1:1", "s2:1"};
  options.start_ms = 1000;
  options.timeout = milliseconds(5000);
  options.retry_interval = milliseconds(1000);
  return options;
}

bool has_event(const std::vector<BootstrapEvent>& events, BootstrapEvent::Kind kind) {
  for (const auto& event : events) {
    if (event.kind == kind) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("the pull follows the pages' cursor and applies each page before asking for the next",
          "[replication][bootstrap]") {
  BootstrapPull pull(two_seeds(), kStart);
  pull.on_tick(kStart);
  auto effects = pull.take_effects();
  REQUIRE(effects.send);
  CHECK(effects.send->seed == "s1:1");
  CHECK(effects.send->cursor.timestamp_ms == 1000);
  CHECK(effects.send->cursor.path.empty());
  pull.on_answer(effects.send->ticket, page({version_at("a", 1500), version_at("b", 1700)}, true), kStart);
  pull.on_tick(kStart);
  effects = pull.take_effects();
  REQUIRE(effects.apply.size() == 2);
  REQUIRE(effects.send);
  CHECK(effects.send->cursor.timestamp_ms == 1700);
  CHECK(effects.send->cursor.path == "b");
  pull.on_answer(effects.send->ticket, page({version_at("c", 1800)}, false), kStart);
  CHECK(pull.state() == BootstrapState::kDone);
  effects = pull.take_effects();
  CHECK(effects.apply.size() == 1);
  CHECK(has_event(effects.events, BootstrapEvent::Kind::kDone));
  CHECK(pull.stats().versions == 3);
  CHECK(pull.stats().pages == 2);
  CHECK(pull.next_wakeup() == BootstrapTime::max());
}

TEST_CASE("a seed that dies midway is left for the next one, which starts from the first cursor",
          "[replication][bootstrap]") {
  BootstrapPull pull(two_seeds(), kStart);
  pull.on_tick(kStart);
  auto first = pull.take_effects().send;
  REQUIRE(first);
  pull.on_answer(first->ticket, page({version_at("a", 1500)}, true), kStart);
  pull.on_tick(kStart);
  auto second = pull.take_effects().send;
  REQUIRE(second);
  CHECK(second->seed == "s1:1");
  pull.on_answer(second->ticket, no_answer(), kStart + milliseconds(10));  // s1 died
  pull.on_tick(kStart + milliseconds(10));
  auto effects = pull.take_effects();
  CHECK(has_event(effects.events, BootstrapEvent::Kind::kSeedFailed));
  REQUIRE(effects.send);
  CHECK(effects.send->seed == "s2:1");
  CHECK(effects.send->cursor.timestamp_ms == 1000);
  CHECK(effects.send->cursor.path.empty());
  // The late answer of the dead seed's request changes nothing.
  pull.on_answer(second->ticket, page({version_at("z", 9000)}, false), kStart);
  CHECK(pull.state() == BootstrapState::kPulling);
  pull.on_answer(effects.send->ticket, page({version_at("a", 1500), version_at("b", 1600)}, false), kStart);
  CHECK(pull.state() == BootstrapState::kDone);
}

TEST_CASE("the pull gives up once no seed answered for the timeout, after retried rounds", "[replication][bootstrap]") {
  BootstrapPull pull(two_seeds(), kStart);
  BootstrapTime now = kStart;
  int requests = 0;
  while (pull.state() == BootstrapState::kPulling && requests < 100) {
    now = std::max(now, pull.next_wakeup());
    pull.on_tick(now);
    auto effects = pull.take_effects();
    REQUIRE(effects.send);
    ++requests;
    pull.on_answer(effects.send->ticket, no_answer(), now);
  }
  CHECK(pull.state() == BootstrapState::kGaveUp);
  CHECK(has_event(pull.take_effects().events, BootstrapEvent::Kind::kGaveUp));
  // Rounds 1 s apart over two seeds: the first round at 0 s and the last at 5 s.
  CHECK(requests == 12);
  CHECK(now - kStart == milliseconds(5000));
}

TEST_CASE("a seed that rejects the signature keeps the pull going forever", "[replication][bootstrap]") {
  BootstrapPull pull(two_seeds(), kStart);
  BootstrapTime now = kStart;
  bool reported = false;
  for (int i = 0; i < 200; ++i) {
    now = std::max(now, pull.next_wakeup());
    pull.on_tick(now);
    auto effects = pull.take_effects();
    reported = reported || has_event(effects.events, BootstrapEvent::Kind::kSignatureRejected);
    REQUIRE(effects.send);
    SinceAnswer answer;
    if (effects.send->seed == "s1:1") {
      answer.unauthenticated = true;  // its refusal is signed under another secret
      answer.error = "answer did not verify";
    } else {
      answer = no_answer();
    }
    pull.on_answer(effects.send->ticket, answer, now);
  }
  CHECK(reported);
  CHECK(pull.stats().rejected);
  CHECK(pull.state() == BootstrapState::kPulling);
  CHECK(now - kStart > milliseconds(60'000));
}

TEST_CASE("failed rounds over the seeds back off from retry_interval doubling to retry_max, and a page starts over",
          "[replication][bootstrap]") {
  BootstrapOptions options = two_seeds();
  options.timeout = milliseconds(600000);
  options.retry_interval = milliseconds(1000);
  options.retry_max = milliseconds(4000);
  BootstrapPull pull(options, kStart);
  BootstrapTime now = kStart;
  // Fails both seeds (one round); returns the wait before the next round.
  auto fail_round = [&] {
    for (int seed = 0; seed < 2; ++seed) {
      now = std::max(now, pull.next_wakeup());
      pull.on_tick(now);
      auto effects = pull.take_effects();
      REQUIRE(effects.send);
      pull.on_answer(effects.send->ticket, no_answer(), now);
    }
    return std::chrono::duration_cast<milliseconds>(pull.next_wakeup() - now);
  };
  std::vector<milliseconds> waits;
  for (int i = 0; i < 4; ++i) waits.push_back(fail_round());
  CHECK(waits == std::vector<milliseconds>{milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                           milliseconds(4000)});
  // A page: the back-off starts over.
  now = pull.next_wakeup();
  pull.on_tick(now);
  auto effects = pull.take_effects();
  REQUIRE(effects.send);
  pull.on_answer(effects.send->ticket, page({version_at("a", 1500)}, true), now);
  CHECK(fail_round() == milliseconds(1000));
  CHECK(pull.state() == BootstrapState::kPulling);
}
