// replication::PushQueues, the push state machine, driven by hand: batches per peer with one in
// flight, back-off doubling to its cap on failures, queues dropped whole when full, refused
// batches dropped, late and duplicate answers ignored, peers that leave losing their queue. The
// simulation (sim_test.cpp) runs the same class under a hostile network; the Replicator's
// threads and the transport are exercised by the cluster tests.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "replication/push_queues.hpp"
#include "replication/sync_codec.hpp"

using kvs::Version;
using kvs::replication::PushEvent;
using kvs::replication::PushOptions;
using kvs::replication::PushOutcome;
using kvs::replication::PushQueues;
using kvs::replication::PushTime;
using std::chrono::milliseconds;

namespace {

Version version_of(const std::string& path, std::int64_t timestamp_ms) {
  Version version;
  version.path = path;
  version.uuid = "00000000-0000-4000-8000-" + std::string(12 - std::to_string(timestamp_ms).size(), '0') +
                 std::to_string(timestamp_ms);
  version.timestamp_ms = timestamp_ms;
  version.origin_node_id = "self";
  version.data = "{}";
  return version;
}

const PushTime kStart = PushTime{} + std::chrono::hours(1);

std::vector<std::string> paths_in(const std::string& body) {
  auto page = kvs::replication::decode_versions(body);
  REQUIRE(page.is_ok());
  std::vector<std::string> paths;
  for (const auto& version : page->versions) paths.push_back(version.path);
  return paths;
}

}  // namespace

TEST_CASE("a peer gets one batch at a time, in write order, and the next once it is answered", "[replication][push]") {
  PushOptions options;
  options.max_batch_versions = 2;
  PushQueues queues(options);
  queues.set_peers({{"b", "b:1"}, {"a", "a:1"}});
  for (int i = 0; i < 3; ++i) queues.enqueue(version_of("k" + std::to_string(i), 100 + i), kStart);
  queues.on_tick(kStart);
  auto effects = queues.take_effects();
  REQUIRE(effects.send.size() == 2);
  CHECK(effects.send[0].peer_id == "a");  // in peer id order, whatever the member list's order
  CHECK(effects.send[1].address == "b:1");
  CHECK(paths_in(effects.send[0].body) == std::vector<std::string>{"k0", "k1"});
  // Nothing more while the batches are in flight.
  queues.on_tick(kStart);
  CHECK(queues.take_effects().send.empty());
  queues.on_answer("a", effects.send[0].ticket, PushOutcome::kDelivered, kStart);
  queues.on_tick(kStart);
  auto next = queues.take_effects();
  REQUIRE(next.send.size() == 1);
  CHECK(paths_in(next.send[0].body) == std::vector<std::string>{"k2"});
  CHECK(queues.stats(kStart).pushed == 2);
  CHECK(queues.queued("a") == 1);
  CHECK(queues.queued("b") == 3);
}

TEST_CASE("a failing peer is retried after a back-off that doubles up to its cap", "[replication][push]") {
  PushOptions options;
  options.retry_min = milliseconds(100);
  options.retry_max = milliseconds(350);
  PushQueues queues(options);
  queues.set_peers({{"a", "a:1"}});
  queues.enqueue(version_of("k", 1), kStart);
  PushTime now = kStart;
  std::vector<milliseconds> waits;
  for (int attempt = 0; attempt < 4; ++attempt) {
    queues.on_tick(now);
    auto effects = queues.take_effects();
    REQUIRE(effects.send.size() == 1);
    queues.on_answer("a", effects.send[0].ticket, PushOutcome::kFailed, now);
    PushTime retry = queues.next_wakeup();
    waits.push_back(std::chrono::duration_cast<milliseconds>(retry - now));
    // Not a moment before the back-off is over.
    queues.on_tick(retry - milliseconds(1));
    CHECK(queues.take_effects().send.empty());
    now = retry;
  }
  CHECK(waits == std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(350), milliseconds(350)});
  CHECK(queues.stats(now).failed_batches == 4);
  // Delivered at last: the back-off is forgotten, and the recovery is reported.
  queues.on_tick(now);
  auto effects = queues.take_effects();
  REQUIRE(effects.send.size() == 1);
  queues.on_answer("a", effects.send[0].ticket, PushOutcome::kDelivered, now);
  auto events = queues.take_effects().events;
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().kind == PushEvent::Kind::kRecovered);
  CHECK(queues.queued("a") == 0);
  CHECK(queues.next_wakeup() == PushTime::max());
}

TEST_CASE("a full queue is dropped whole, and the answer to its batch in flight counts for nothing",
          "[replication][push]") {
  PushOptions options;
  options.max_queue_versions = 3;
  PushQueues queues(options);
  queues.set_peers({{"a", "a:1"}});
  queues.enqueue(version_of("k0", 1), kStart);
  queues.on_tick(kStart);
  auto in_flight = queues.take_effects().send;
  REQUIRE(in_flight.size() == 1);
  queues.enqueue(version_of("k1", 2), kStart);
  queues.enqueue(version_of("k2", 3), kStart);
  CHECK(queues.queued("a") == 3);
  queues.enqueue(version_of("k3", 4), kStart);  // the fourth: overflow
  auto effects = queues.take_effects();
  REQUIRE(effects.events.size() == 1);
  CHECK(effects.events[0].kind == PushEvent::Kind::kOverflow);
  CHECK(effects.events[0].count == 3);
  CHECK(queues.queued("a") == 0);
  CHECK(queues.stats(kStart).overflows == 1);
  // The old batch's answer arrives: nothing changes, and the queue starts afresh.
  queues.on_answer("a", in_flight[0].ticket, PushOutcome::kDelivered, kStart);
  CHECK(queues.stats(kStart).pushed == 0);
  queues.enqueue(version_of("k4", 5), kStart);
  queues.on_tick(kStart);
  auto next = queues.take_effects().send;
  REQUIRE(next.size() == 1);
  CHECK(paths_in(next[0].body) == std::vector<std::string>{"k4"});
  CHECK(next[0].ticket != in_flight[0].ticket);
}

TEST_CASE("a refused batch is dropped, and a duplicate answer changes nothing", "[replication][push]") {
  PushOptions options;
  options.max_batch_versions = 1;
  PushQueues queues(options);
  queues.set_peers({{"a", "a:1"}});
  queues.enqueue(version_of("k0", 1), kStart);
  queues.enqueue(version_of("k1", 2), kStart);
  queues.on_tick(kStart);
  auto first = queues.take_effects().send;
  REQUIRE(first.size() == 1);
  queues.on_answer("a", first[0].ticket, PushOutcome::kRefused, kStart);
  auto events = queues.take_effects().events;
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == PushEvent::Kind::kRefused);
  CHECK(queues.stats(kStart).refused_batches == 1);
  queues.on_tick(kStart);
  auto second = queues.take_effects().send;
  REQUIRE(second.size() == 1);
  CHECK(paths_in(second[0].body) == std::vector<std::string>{"k1"});
  // The first batch answered again (a duplicate): ignored, k1 stays in flight.
  queues.on_answer("a", first[0].ticket, PushOutcome::kDelivered, kStart);
  CHECK(queues.queued("a") == 1);
  queues.on_answer("a", second[0].ticket, PushOutcome::kDelivered, kStart);
  CHECK(queues.queued("a") == 0);
  CHECK(queues.stats(kStart).pushed == 1);
}

TEST_CASE("a peer that leaves loses its queue, one that comes back starts empty, and a moved one keeps it",
          "[replication][push]") {
  PushQueues queues;
  queues.set_peers({{"a", "a:1"}, {"b", "b:1"}});
  queues.enqueue(version_of("k0", 1), kStart);
  queues.on_tick(kStart);
  auto sent = queues.take_effects().send;
  REQUIRE(sent.size() == 2);
  queues.set_peers({{"b", "b:2"}});  // a left, b moved
  CHECK(queues.queued("a") == 0);
  CHECK(queues.queued("b") == 1);
  queues.set_peers({{"a", "a:1"}, {"b", "b:2"}});
  // a's old batch is answered after it came back: nothing of it counts.
  queues.on_answer("a", sent[0].ticket, PushOutcome::kDelivered, kStart);
  CHECK(queues.stats(kStart).pushed == 0);
  queues.on_answer("b", sent[1].ticket, PushOutcome::kFailed, kStart);
  queues.on_tick(kStart + milliseconds(100));
  auto retry = queues.take_effects().send;
  REQUIRE(retry.size() == 1);
  CHECK(retry[0].peer_id == "b");
  CHECK(retry[0].address == "b:2");
  CHECK(queues.stats(kStart).queued == 1);
}
