// Node::watch, the change feed in-process (SPEC section 2 "Watch", section 6): order, resume
// at any cursor with no gap and no duplicate (across a reopen too), resync_required for cursors
// the feed cannot serve (another feed, ahead, past retention, a wiped or restored data_dir)
// and for a consumer that falls behind, permission filtering, every kind of applied change
// (local writes, expiries, peers, imports), max_watches, close_watches, documents of replayed
// puts, and RangeResult::cursor. In-process, on a ManualClock; sweeps run through sweep_now().
//
// Not covered here: the REST stream, SSE, long poll and heartbeats (tests/integration), and the
// randomized comparison with a model (node_watch_model_test.cpp).

#include <chrono>
#include <filesystem>
#include <random>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "kvs/operations.hpp"
#include "kvs/watch.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using Type = WatchEvent::Type;
using namespace std::chrono_literals;

WatchOptions watching(std::string prefix, bool values = false) {
  WatchOptions options;
  options.prefix = std::move(prefix);
  options.values = values;
  return options;
}

WatchOptions watching_as(const Caller& caller) {
  WatchOptions options;
  options.caller = caller;
  return options;
}

std::unique_ptr<Watch> watch_since(Node& node, const std::string& cursor, std::string prefix = {},
                                   bool values = false) {
  WatchOptions options;
  options.since = cursor;
  options.prefix = std::move(prefix);
  options.values = values;
  return open_watch(node, options);
}

// Every event ready now, without waiting.
std::vector<WatchEvent> drain(Watch& watch) {
  std::vector<WatchEvent> all;
  for (;;) {
    std::vector<WatchEvent> out;
    auto got = watch.next(out, 7, 0ms);  // a small max: pages end mid-replay too
    INFO(got.status().to_string());
    REQUIRE(got.is_ok());
    REQUIRE(*got == out.size());
    if (*got == 0) return all;
    for (auto& event : out) all.push_back(std::move(event));
  }
}

// "put path" / "delete path" / "resync".
std::string describe(const WatchEvent& event) {
  switch (event.type) {
    case Type::kPut: return "put " + event.path;
    case Type::kDelete: return "delete " + event.path;
    case Type::kResyncRequired: return "resync";
  }
  return "?";
}

std::vector<std::string> describe(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(describe(event));
  return out;
}

// The feed's current cursor, as a range answer gives it.
std::string head_cursor(Node& node) {
  RangeQuery query;
  query.limit = 1;
  auto page = node.range(query);
  REQUIRE(page.is_ok());
  return page->cursor;
}

Version peer_version(const std::string& path, const std::string& uuid, std::int64_t timestamp_ms,
                     const std::string& data) {
  Version version;
  version.path = path;
  version.uuid = uuid;
  version.timestamp_ms = timestamp_ms;
  version.data = data;
  version.origin_node_id = "peer";
  version.origin_joined_ms = 1;
  return version;
}

PutOptions as(const Caller& caller) {
  PutOptions options;
  options.caller = caller;
  return options;
}

}  // namespace

TEST_CASE("a watch yields every change in the order applied, with each version's uuid and timestamp",
          "[node][watch]") {
  NodeFixture f;
  Node& node = f.node();
  auto watch = open_watch(node);
  const std::string start = watch->cursor();

  auto a1 = node.put("a", R"({"v":1})");
  REQUIRE(a1.is_ok());
  f.clock.advance(5ms);
  auto b1 = node.put("b/x", "[1]");
  REQUIRE(b1.is_ok());
  REQUIRE(node.remove("a").is_ok());
  auto a2 = node.put("a", "2");
  REQUIRE(a2.is_ok());

  auto events = drain(*watch);
  CHECK(describe(events) == std::vector<std::string>{"put a", "put b/x", "delete a", "put a"});
  REQUIRE(events.size() == 4);
  CHECK(events[0].uuid == a1->uuid);
  CHECK(events[0].timestamp_ms == a1->timestamp_ms);
  CHECK(events[1].uuid == b1->uuid);
  CHECK(events[3].uuid == a2->uuid);
  CHECK(events[3].timestamp_ms == a2->timestamp_ms);
  // The delete is the tombstone's own version: its history shows the same uuid.
  auto history = node.history("a");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 3);
  CHECK(events[2].uuid == history->revisions[1].uuid);
  CHECK(events[2].timestamp_ms == history->revisions[1].timestamp_ms);
  // Without values, no documents.
  for (const auto& event : events) CHECK_FALSE(event.data.has_value());
  // Cursors increase, and the watch's cursor is the last event's.
  std::string previous = start;
  for (const auto& event : events) {
    CHECK(event.cursor > previous);
    previous = event.cursor;
  }
  CHECK(watch->cursor() == events.back().cursor);
  CHECK(watch->cursor() == head_cursor(node));
}

TEST_CASE("a prefix selects its changes, and values carry the documents", "[node][watch]") {
  NodeFixture f;
  Node& node = f.node();
  WatchOptions options;
  options.prefix = "users/";
  options.values = true;
  auto watch = open_watch(node, options);
  REQUIRE(node.put("users/ann", R"({"name":"ann"})").is_ok());
  REQUIRE(node.put("usersx", "1").is_ok());
  REQUIRE(node.put("other", "1").is_ok());
  REQUIRE(node.remove("users/ann").is_ok());
  auto events = drain(*watch);
  REQUIRE(describe(events) == std::vector<std::string>{"put users/ann", "delete users/ann"});
  REQUIRE(events[0].data.has_value());
  CHECK(*events[0].data == R"({"name":"ann"})");
  CHECK_FALSE(events[1].data.has_value());
  // The position moved past the changes it did not show: it stands at the head.
  CHECK(watch->cursor() == head_cursor(node));
}

TEST_CASE("watches on overlapping prefixes each get exactly the changes they match", "[node][watch]") {
  // The feed finds a change's watches through an index of their prefixes: nested ones, ones
  // sharing a start, equal ones, the empty one and ones nothing matches must each get exactly
  // what a filter over all changes gives, also as watches come and go.
  NodeFixture f;
  Node& node = f.node();
  std::mt19937_64 rng(15);
  auto random_word = [&rng](std::size_t min, std::size_t max) {
    std::string word;
    const std::size_t size = min + rng() % (max - min + 1);
    for (std::size_t i = 0; i < size; ++i) word.push_back("abc"[rng() % 3]);
    return word;
  };
  struct Watcher {
    std::string prefix;
    bool values = false;
    std::unique_ptr<Watch> watch;
    std::vector<std::string> expected;
  };
  std::vector<Watcher> watchers;
  auto open = [&] {
    Watcher watcher;
    watcher.prefix = random_word(0, 3);
    watcher.values = rng() % 2 == 0;
    watcher.watch = open_watch(node, watching(watcher.prefix, watcher.values));
    watchers.push_back(std::move(watcher));
  };
  for (int i = 0; i < 40; ++i) open();
  for (int i = 0; i < 300; ++i) {
    if (i % 50 == 49) {
      // One goes (unsubscribing from its prefix, perhaps shared) and another comes.
      std::vector<WatchEvent> before = drain(*watchers.front().watch);
      CHECK(describe(before) == watchers.front().expected);
      watchers.erase(watchers.begin());
      open();
    }
    const std::string key = random_word(1, 5);
    REQUIRE(node.put(key, "\"" + key + "\"").is_ok());
    for (auto& watcher : watchers) {
      if (key.starts_with(watcher.prefix)) watcher.expected.push_back("put " + key);
    }
  }
  for (auto& watcher : watchers) {
    INFO("prefix '" << watcher.prefix << "'");
    auto events = drain(*watcher.watch);
    CHECK(describe(events) == watcher.expected);
    for (const auto& event : events) {
      CHECK(event.data.has_value() == watcher.values);
      if (event.data) CHECK(*event.data == "\"" + event.path + "\"");
    }
  }
}


TEST_CASE("resuming at every cursor of a random history gives exactly the rest, also after a reopen",
          "[node][watch]") {
  NodeFixture f([](Config& config) { config.max_revisions = 2; });
  auto full = open_watch(f.node(), watching("", true));
  const std::string start = full->cursor();

  std::mt19937_64 rng(20261205);
  const std::vector<std::string> keys = {"a", "a/1", "a/2", "b", "b/1", "c"};
  for (int i = 0; i < 120; ++i) {
    const std::string& key = keys[rng() % keys.size()];
    switch (rng() % 5) {
      case 0:
        (void)f.node().remove(key);  // not_found is fine: then nothing changed
        break;
      case 1: {
        PutOptions options;
        options.ttl = std::chrono::milliseconds(1 + rng() % 3000);
        REQUIRE(f.node().put(key, std::to_string(i), options).is_ok());
        break;
      }
      case 2:
        f.clock.advance(std::chrono::milliseconds(rng() % 2000));
        REQUIRE(f.node().sweep_now().is_ok());
        break;
      default:
        REQUIRE(f.node().put(key, R"({"i":)" + std::to_string(i) + "}").is_ok());
    }
  }
  auto events = drain(*full);
  REQUIRE(events.size() > 60);
  for (const auto& event : events) REQUIRE(event.type != Type::kResyncRequired);
  full.reset();

  auto check_resumes = [&](const char* when) {
    INFO(when);
    for (std::size_t i = 0; i <= events.size(); ++i) {
      INFO("resuming after event " << i);
      const std::string& cursor = i == 0 ? start : events[i - 1].cursor;
      auto resumed = watch_since(f.node(), cursor, {}, true);
      auto rest = drain(*resumed);
      REQUIRE(rest.size() == events.size() - i);
      for (std::size_t k = 0; k < rest.size(); ++k) {
        const WatchEvent& want = events[i + k];
        REQUIRE(rest[k].cursor == want.cursor);
        REQUIRE(rest[k].type == want.type);
        REQUIRE(rest[k].path == want.path);
        REQUIRE(rest[k].uuid == want.uuid);
        REQUIRE(rest[k].timestamp_ms == want.timestamp_ms);
        REQUIRE(rest[k].data == want.data);
      }
      // And with a prefix: the same events, filtered.
      auto filtered = drain(*watch_since(f.node(), cursor, "a/"));
      std::vector<std::string> want_filtered;
      for (std::size_t k = i; k < events.size(); ++k) {
        if (events[k].path.starts_with("a/")) want_filtered.push_back(events[k].cursor);
      }
      std::vector<std::string> got_filtered;
      for (const auto& event : filtered) got_filtered.push_back(event.cursor);
      REQUIRE(got_filtered == want_filtered);
    }
  };
  check_resumes("before the reopen");
  f.reopen();
  check_resumes("after the reopen");

  // A resumed watch goes on live after its replay.
  auto resumed = watch_since(f.node(), events[events.size() / 2].cursor);
  CHECK(drain(*resumed).size() == events.size() - events.size() / 2 - 1);
  REQUIRE(f.node().put("live", "1").is_ok());
  CHECK(describe(drain(*resumed)) == std::vector<std::string>{"put live"});
}

TEST_CASE("a malformed since is invalid_argument", "[node][watch]") {
  NodeFixture f;
  for (const char* since : {"", "abc", "0123456789abcdef-000000000000000", "0123456789ABCDEF-0000000000000001",
                            "0123456789abcdef_0000000000000001", "0123456789abcdef-00000000000000001"}) {
    INFO(since);
    WatchOptions options;
    options.since = since;
    auto watch = f.node().watch(options);
    REQUIRE_FALSE(watch.is_ok());
    CHECK(watch.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("a cursor of another feed or ahead of this one gets resync_required, then the feed goes on",
          "[node][watch]") {
  NodeFixture f;
  Node& node = f.node();
  REQUIRE(node.put("a", "1").is_ok());
  const std::string head = head_cursor(node);
  const std::string feed_id = head.substr(0, 16);
  std::string foreign = (feed_id == "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef") + head.substr(16);
  std::string ahead = feed_id + "-00000000000000ff";
  for (const std::string& since : {foreign, ahead}) {
    INFO(since);
    auto watch = watch_since(node, since);
    auto first = drain(*watch);
    REQUIRE(first.size() == 1);
    CHECK(first[0].type == Type::kResyncRequired);
    CHECK(first[0].cursor == head_cursor(node));
    CHECK(first[0].path.empty());
    auto written = node.put("b", "1");
    REQUIRE(written.is_ok());
    auto next = drain(*watch);
    REQUIRE(describe(next) == std::vector<std::string>{"put b"});
    CHECK(next[0].uuid == written->uuid);
  }
}

TEST_CASE("a cursor older than change_retention gets resync_required once the log is trimmed", "[node][watch]") {
  NodeFixture f([](Config& config) { config.change_retention = 10s; });
  Node& node = f.node();
  REQUIRE(node.put("a", "1").is_ok());
  const std::string old_cursor = head_cursor(node);
  REQUIRE(node.put("a", "2").is_ok());
  // Within retention: resumes.
  CHECK(describe(drain(*watch_since(node, old_cursor))) == std::vector<std::string>{"put a"});
  f.clock.advance(11s);
  REQUIRE(node.put("b", "1").is_ok());
  const std::string recent = head_cursor(node);
  REQUIRE(node.sweep_now().is_ok());  // trims the log, as the background sweep does every second
  auto watch = watch_since(node, old_cursor);
  auto events = drain(*watch);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == Type::kResyncRequired);
  CHECK(events[0].cursor == recent);
  REQUIRE(node.put("c", "1").is_ok());
  CHECK(describe(drain(*watch)) == std::vector<std::string>{"put c"});
  // What retention keeps still resumes, after a reopen too.
  REQUIRE(node.put("d", "1").is_ok());
  f.reopen();
  CHECK(describe(drain(*watch_since(f.node(), recent))) == std::vector<std::string>{"put c", "put d"});
}

TEST_CASE("change_retention_bytes bounds the log; the newest changes stay resumable", "[node][watch]") {
  NodeFixture f([](Config& config) {
    config.change_retention_bytes = 20'000;
    config.compression_enabled = false;  // entries of ~1 KB each
  });
  Node& node = f.node();
  const std::string start = head_cursor(node);
  std::vector<std::string> cursors;
  for (int i = 0; i < 60; ++i) {
    REQUIRE(node.put("k" + std::to_string(i), json_of_size(1000, static_cast<std::uint64_t>(i))).is_ok());
    cursors.push_back(head_cursor(node));
  }
  REQUIRE(node.sweep_now().is_ok());
  auto from_start = drain(*watch_since(node, start));
  REQUIRE_FALSE(from_start.empty());
  CHECK(from_start[0].type == Type::kResyncRequired);
  CHECK(from_start.size() == 1);
  // About 20 KB of ~1 KB entries remain: the last few resume in full.
  auto recent = drain(*watch_since(node, cursors[55]));
  CHECK(describe(recent) == std::vector<std::string>{"put k56", "put k57", "put k58", "put k59"});
}

TEST_CASE("a wiped or restored data_dir gets a new feed, so old cursors resync", "[node][watch]") {
  NodeFixture f([](Config& config) { config.backup_enabled = true; });
  REQUIRE(f.node().put("a", "1").is_ok());
  auto backup = f.node().backup_now();
  REQUIRE(backup.is_ok());
  REQUIRE(f.node().put("b", "1").is_ok());
  const std::string before = head_cursor(f.node());

  // Restored: its sequence numbers go on from the backup's, so the cursor of "b" would name
  // another change there.
  f.close();
  REQUIRE(restore_backup(f.config, backup->path).is_ok());
  f.reopen();
  REQUIRE(f.node().put("c", "1").is_ok());
  auto restored = drain(*watch_since(f.node(), before));
  REQUIRE(restored.size() == 1);
  CHECK(restored[0].type == Type::kResyncRequired);
  CHECK(restored[0].cursor.substr(0, 16) != before.substr(0, 16));
  const std::string after_restore = head_cursor(f.node());

  // Wiped.
  f.close();
  std::filesystem::remove_all(f.config.data_dir);
  f.reopen();
  auto wiped = drain(*watch_since(f.node(), after_restore));
  REQUIRE(wiped.size() == 1);
  CHECK(wiped[0].type == Type::kResyncRequired);
  CHECK(wiped[0].cursor.substr(0, 16) != after_restore.substr(0, 16));
}

TEST_CASE("a consumer more than watch_buffer behind gets resync_required; its queue stays bounded",
          "[node][watch]") {
  NodeFixture f([](Config& config) { config.watch_buffer = 5; });
  Node& node = f.node();
  auto slow = open_watch(node);
  std::vector<std::string> cursors;
  for (int i = 1; i <= 20; ++i) {
    REQUIRE(node.put("k" + std::to_string(i), "1").is_ok());
    cursors.push_back(head_cursor(node));
  }
  auto events = drain(*slow);
  // The queue overflowed at changes 6, 12 and 18 (5 held, the 6th dropped them all): the
  // consumer is told at the last one and gets what followed it, never more than watch_buffer.
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == Type::kResyncRequired);
  CHECK(events[0].cursor == cursors[17]);
  CHECK(describe({events[1], events[2]}) == std::vector<std::string>{"put k19", "put k20"});
  // And it goes on live.
  REQUIRE(node.put("k21", "1").is_ok());
  CHECK(describe(drain(*slow)) == std::vector<std::string>{"put k21"});
  // What it missed is still in the log: resuming from before the overflow replays it all.
  auto resumed = drain(*watch_since(node, cursors[0]));
  CHECK(resumed.size() == 20);
}

TEST_CASE("a replay longer than watch_buffer loses nothing to writes made meanwhile", "[node][watch]") {
  NodeFixture f([](Config& config) { config.watch_buffer = 3; });
  Node& node = f.node();
  const std::string start = head_cursor(node);
  for (int i = 0; i < 10; ++i) REQUIRE(node.put("old" + std::to_string(i), "1").is_ok());
  auto watch = watch_since(node, start);
  std::vector<WatchEvent> first;
  REQUIRE(watch->next(first, 2, 0ms).is_ok());
  // The queue overflows while the consumer replays: the replay takes them from the log.
  for (int i = 0; i < 10; ++i) REQUIRE(node.put("new" + std::to_string(i), "1").is_ok());
  auto rest = drain(*watch);
  for (auto& event : rest) first.push_back(std::move(event));
  REQUIRE(first.size() == 20);
  for (const auto& event : first) CHECK(event.type != Type::kResyncRequired);
  CHECK(first[9].path == "old9");
  CHECK(first[19].path == "new9");
}

TEST_CASE("a watch shows only changes its caller may read; deletes as the version they replaced",
          "[node][watch]") {
  NodeFixture f([](Config& config) { config.auth_enabled = true; });
  Node& node = f.node();
  Caller admin = admin_caller(f);
  Caller alice = new_user_caller(f, admin, "alice", kScopeRead | kScopeWrite);
  Caller bob = new_user_caller(f, admin, "bob", kScopeRead | kScopeWrite);

  auto as_bob = open_watch(node, watching_as(bob));
  auto as_alice = open_watch(node, watching_as(alice));
  auto as_app = open_watch(node);  // the embedding application: trusted

  // Alice's key: owner all, group read, others nothing (the default 0xF10).
  REQUIRE(node.put("alice/private", "1", as(alice)).is_ok());
  // Made readable by others.
  REQUIRE(node.put("alice/shared", "1", as(alice)).is_ok());
  MetaUpdate open_up;
  open_up.permissions = 0xF11;
  REQUIRE(node.set_meta("alice/shared", open_up, ReadOptions{alice}).is_ok());
  RemoveOptions removing;
  removing.caller = alice;
  REQUIRE(node.remove("alice/shared", removing).is_ok());
  REQUIRE(node.create_user("carol", kScopeRead, {admin}).is_ok());  // a reserved _auth key

  CHECK(describe(drain(*as_bob)) == std::vector<std::string>{"put alice/shared", "delete alice/shared"});
  CHECK(describe(drain(*as_alice)) == std::vector<std::string>{"put alice/private", "put alice/shared",
                                                               "put alice/shared", "delete alice/shared"});
  // Reserved keys never, not even for the application.
  CHECK(describe(drain(*as_app)) == std::vector<std::string>{"put alice/private", "put alice/shared",
                                                             "put alice/shared", "delete alice/shared"});
  // Bob's position moved past what he could not see.
  CHECK(as_bob->cursor() == as_app->cursor());

  // A delete is shown by the version it replaced, whatever the tombstone's own bits say.
  const std::int64_t now = f.clock.now_ms();
  Version readable = peer_version("p/readable", "00000000-0000-4000-8000-000000000001", now, "1");
  readable.permissions = 0xF11;
  Version hidden = peer_version("p/hidden", "00000000-0000-4000-8000-000000000002", now, "1");
  hidden.permissions = 0xF00;
  REQUIRE(node.apply_version(readable).is_ok());
  REQUIRE(node.apply_version(hidden).is_ok());
  Version gone_readable = peer_version("p/readable", "00000000-0000-4000-8000-000000000003", now + 1, "");
  gone_readable.deleted = true;
  gone_readable.permissions = 0xF00;
  Version gone_hidden = peer_version("p/hidden", "00000000-0000-4000-8000-000000000004", now + 1, "");
  gone_hidden.deleted = true;
  gone_hidden.permissions = 0xF11;
  REQUIRE(node.apply_version(gone_readable).is_ok());
  REQUIRE(node.apply_version(gone_hidden).is_ok());
  CHECK(describe(drain(*as_bob)) == std::vector<std::string>{"put p/readable", "delete p/readable"});

  // The same filter applies to a replay.
  CHECK(describe(drain(*watch_since(node, as_alice->cursor(), "", false))) ==
        std::vector<std::string>{"put p/readable", "put p/hidden", "delete p/readable", "delete p/hidden"});
}

TEST_CASE("an expiry is a delete event with the expired version's uuid; a tombstone purge is none",
          "[node][watch]") {
  NodeFixture f([](Config& config) { config.tombstone_ttl = 60s; });
  Node& node = f.node();
  auto watch = open_watch(node);
  PutOptions expiring;
  expiring.ttl = 2s;
  auto written = node.put("session", "1", expiring);
  REQUIRE(written.is_ok());
  REQUIRE(node.put("gone", "1").is_ok());
  REQUIRE(node.remove("gone").is_ok());
  drain(*watch);

  f.clock.advance(3s);
  REQUIRE(node.sweep_now().is_ok());
  auto events = drain(*watch);
  REQUIRE(describe(events) == std::vector<std::string>{"delete session"});
  CHECK(events[0].uuid == written->uuid);
  CHECK(events[0].timestamp_ms == written->timestamp_ms + 2000);

  f.clock.advance(120s);
  auto swept = node.sweep_now();
  REQUIRE(swept.is_ok());
  CHECK(*swept == 2);  // the tombstones of "gone" and of the expired "session"
  CHECK(drain(*watch).empty());
  // The expiry replays like any change.
  auto replayed = drain(*watch_since(node, head_cursor(node).substr(0, 17) + "0000000000000003"));
  CHECK(describe(replayed) == std::vector<std::string>{"delete session"});
}

TEST_CASE("versions from a peer are events; a version that loses the conflict order is none", "[node][watch]") {
  NodeFixture f;
  Node& node = f.node();
  auto watch = open_watch(node, watching("", true));
  const std::int64_t now = f.clock.now_ms();
  Version newer = peer_version("k", "00000000-0000-4000-8000-00000000000a", now + 100, R"({"from":"peer"})");
  auto applied = node.apply_version(newer);
  REQUIRE(applied.is_ok());
  CHECK(*applied);
  Version older = peer_version("k", "00000000-0000-4000-8000-00000000000b", now - 100, "0");
  applied = node.apply_version(older);
  REQUIRE(applied.is_ok());
  CHECK_FALSE(*applied);
  auto events = drain(*watch);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == Type::kPut);
  CHECK(events[0].uuid == newer.uuid);
  CHECK(events[0].timestamp_ms == newer.timestamp_ms);
  CHECK(events[0].data == std::optional<std::string>(R"({"from":"peer"})"));

  // A replication page: the winners only, in order.
  std::vector<Version> page = {peer_version("p1", "00000000-0000-4000-8000-00000000000c", now, "1"),
                               peer_version("k", "00000000-0000-4000-8000-00000000000d", now - 500, "1"),
                               peer_version("p2", "00000000-0000-4000-8000-00000000000e", now, "2")};
  for (const auto& outcome : node.apply_versions(page)) REQUIRE(outcome.is_ok());
  CHECK(describe(drain(*watch)) == std::vector<std::string>{"put p1", "put p2"});
}

TEST_CASE("imported versions are events, on a node opened for an import", "[node][watch]") {
  test::TempDir dir("kvs-watch-import");
  Config config = node_test_config(dir / "data");
  ManualClock clock;
  NodeEnv env;
  env.clock = &clock;
  env.offline = true;
  env.background_sweeper = false;
  auto node = Node::open(config, env);
  REQUIRE(node.is_ok());
  auto watch = open_watch(**node);
  // As `kvs-server import` applies each line.
  Version line = peer_version("imported/a", "00000000-0000-4000-8000-000000000001", clock.now_ms(), "[]");
  REQUIRE((*node)->apply_version(line).is_ok());
  Version tombstone = peer_version("imported/b", "00000000-0000-4000-8000-000000000002", clock.now_ms(), "");
  tombstone.deleted = true;
  REQUIRE((*node)->apply_version(tombstone).is_ok());
  CHECK(describe(drain(*watch)) == std::vector<std::string>{"put imported/a", "delete imported/b"});
}

TEST_CASE("max_watches open watches; beyond that unavailable until one closes", "[node][watch]") {
  NodeFixture f([](Config& config) { config.max_watches = 2; });
  auto first = open_watch(f.node());
  auto second = open_watch(f.node());
  auto third = f.node().watch({});
  REQUIRE_FALSE(third.is_ok());
  CHECK(third.status().code() == Code::kUnavailable);
  CHECK_THAT(f.node().metrics_text(), Catch::Contains("kvs_watches_open 2"));
  first.reset();
  CHECK(f.node().watch({}).is_ok());
}

TEST_CASE("close_watches wakes a blocked next, ends every watch and refuses new ones", "[node][watch]") {
  NodeFixture f;
  auto watch = open_watch(f.node());
  Result<std::size_t> outcome = std::size_t{0};
  std::thread consumer([&] {
    std::vector<WatchEvent> out;
    outcome = watch->next(out, 10, 60s);
  });
  // Waits until the consumer is blocked or about to be; close_watches ends it either way.
  std::this_thread::sleep_for(50ms);
  f.node().close_watches();
  consumer.join();
  CHECK(outcome.status().code() == Code::kUnavailable);
  std::vector<WatchEvent> out;
  CHECK(watch->next(out, 10, 0ms).status().code() == Code::kUnavailable);
  auto refused = f.node().watch({});
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == Code::kUnavailable);
  f.node().close_watches();  // idempotent
}

TEST_CASE("Watch::close ends one watch; a watch may outlive its node", "[node][watch]") {
  NodeFixture f;
  auto closed = open_watch(f.node());
  auto kept = open_watch(f.node());
  closed->close();
  std::vector<WatchEvent> out;
  CHECK(closed->next(out, 10, 0ms).status().code() == Code::kUnavailable);
  REQUIRE(f.node().put("a", "1").is_ok());
  CHECK(kept->next(out, 10, 0ms).is_ok());
  CHECK(out.size() == 1);

  Result<std::size_t> outcome = std::size_t{0};
  std::thread consumer([&] {
    std::vector<WatchEvent> more;
    outcome = kept->next(more, 10, 60s);
  });
  std::this_thread::sleep_for(50ms);
  f.close();  // the Node goes while a consumer waits
  consumer.join();
  CHECK(outcome.status().code() == Code::kUnavailable);
  CHECK(kept->next(out, 10, 0ms).status().code() == Code::kUnavailable);
  kept.reset();  // destroyed after its node: safe
}

TEST_CASE("a replayed put carries its document even once max_revisions dropped that revision", "[node][watch]") {
  NodeFixture f([](Config& config) {
    config.max_revisions = 1;
    config.compression_enabled = true;
  });
  Node& node = f.node();
  const std::string start = head_cursor(node);
  const std::string big = json_of_size(5000, 1);  // compressed in the store
  REQUIRE(node.put("k", big).is_ok());
  REQUIRE(node.put("k", R"({"v":2})").is_ok());
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 1);  // the first revision is gone
  auto events = drain(*watch_since(node, start, "", true));
  REQUIRE(events.size() == 2);
  CHECK(events[0].data == std::optional<std::string>(big));
  CHECK(events[1].data == std::optional<std::string>(R"({"v":2})"));
  f.reopen();
  auto again = drain(*watch_since(f.node(), start, "k", true));
  REQUIRE(again.size() == 2);
  CHECK(again[0].data == std::optional<std::string>(big));
}

TEST_CASE("watching from a range page's cursor sees exactly the changes after the page", "[node][watch]") {
  NodeFixture f;
  Node& node = f.node();
  REQUIRE(node.put("a", "1").is_ok());
  REQUIRE(node.put("b", "1").is_ok());
  RangeQuery query;
  query.prefix = "a";
  auto page = node.range(query);
  REQUIRE(page.is_ok());
  REQUIRE(page->items.size() == 1);
  REQUIRE(node.put("c", "1").is_ok());
  REQUIRE(node.remove("a").is_ok());
  auto events = drain(*watch_since(node, page->cursor));
  CHECK(describe(events) == std::vector<std::string>{"put c", "delete a"});
  // An empty range has a cursor too.
  query.prefix = "zzz";
  auto empty = node.range(query);
  REQUIRE(empty.is_ok());
  CHECK(empty->items.empty());
  CHECK(empty->cursor == head_cursor(node));
}

TEST_CASE("a watch with nothing to show waits until its timeout and answers zero", "[node][watch]") {
  NodeFixture f;
  auto watch = open_watch(f.node(), watching("quiet/"));
  REQUIRE(f.node().put("noisy", "1").is_ok());
  std::vector<WatchEvent> out;
  auto got = watch->next(out, 10, 20ms);
  REQUIRE(got.is_ok());
  CHECK(*got == 0);
  CHECK(out.empty());
  // A change that arrives while it waits ends the wait.
  bool wrote = false;
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    wrote = f.node().put("quiet/1", "1").is_ok();
  });
  got = watch->next(out, 10, 60s);
  writer.join();
  CHECK(wrote);
  REQUIRE(got.is_ok());
  CHECK(*got == 1);
  CHECK(describe(out) == std::vector<std::string>{"put quiet/1"});
}

}  // namespace kvs::test
