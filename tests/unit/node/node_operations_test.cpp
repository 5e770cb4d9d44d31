// put / get / remove / range / history on one node: the data operations of SPEC sections 1 and
// 2 (Data), through the in-process API.

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

bool is_uuid_v4(const std::string& text) {
  static const std::regex pattern("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  return std::regex_match(text, pattern);
}

std::vector<std::string> paths_of(const RangeResult& result) {
  std::vector<std::string> paths;
  for (const auto& item : result.items) paths.push_back(item.path);
  return paths;
}

RangeResult range_of(Node& node, RangeQuery query) {
  auto result = node.range(query);
  REQUIRE(result.is_ok());
  return *result;
}

using Paths = std::vector<std::string>;

}  // namespace

TEST_CASE("a put returns a fresh v4 uuid and the clock's timestamp, and get reads it back", "[node][put]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto put = node.put("users/john", R"({"age":42})");
  REQUIRE(put.is_ok());
  CHECK(is_uuid_v4(put->uuid));
  CHECK(put->timestamp_ms == fixture.clock.now_ms());

  auto got = node.get("users/john");
  REQUIRE(got.is_ok());
  CHECK(got->path == "users/john");
  CHECK(got->uuid == put->uuid);
  CHECK(got->timestamp_ms == put->timestamp_ms);
  CHECK(got->data == R"({"age":42})");
  CHECK_FALSE(got->expires_at_ms.has_value());
}

TEST_CASE("a put replaces the document with a new version", "[node][put]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto first = node.put("k", R"({"v":1})");
  fixture.clock.advance(milliseconds(5));
  auto second = node.put("k", R"({"v":2})");
  REQUIRE(first.is_ok());
  REQUIRE(second.is_ok());
  CHECK(second->uuid != first->uuid);
  CHECK(second->timestamp_ms == first->timestamp_ms + 5);
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  CHECK(got->uuid == second->uuid);
  CHECK(got->data == R"({"v":2})");
  CHECK(node.health().keys == 1);
}

TEST_CASE("every write gets its own uuid", "[node][put]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  std::set<std::string> uuids;
  for (int i = 0; i < 50; ++i) {
    auto put = node.put("k/" + std::to_string(i % 5), "{}");
    REQUIRE(put.is_ok());
    uuids.insert(put->uuid);
  }
  CHECK(uuids.size() == 50);
}

TEST_CASE("get of a key never written is not_found", "[node][get]") {
  NodeFixture fixture;
  auto got = fixture.node().get("nobody/here");
  REQUIRE_FALSE(got.is_ok());
  CHECK(got.status().code() == Code::kNotFound);
}

TEST_CASE("a removed key reads as not_found, and removing it again is not_found", "[node][remove]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", "{}").is_ok());
  REQUIRE(node.put("other", "{}").is_ok());
  REQUIRE(node.remove("k").is_ok());
  CHECK(node.get("k").status().code() == Code::kNotFound);
  CHECK(node.get_meta("k").status().code() == Code::kNotFound);
  CHECK(node.remove("k").code() == Code::kNotFound);
  CHECK(node.get("other").is_ok());
  CHECK(node.health().keys == 1);
}

TEST_CASE("removing a key that never existed is not_found and writes nothing", "[node][remove]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  CHECK(node.remove("ghost").code() == Code::kNotFound);
  std::size_t versions = 0;
  REQUIRE(node.export_versions([&](const Version&) { ++versions; return true; }).is_ok());
  CHECK(versions == 0);
}

TEST_CASE("a remove writes a tombstone that is kept and exported", "[node][remove]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto put = node.put("k", R"({"v":1})");
  REQUIRE(put.is_ok());
  fixture.clock.advance(milliseconds(10));
  REQUIRE(node.remove("k").is_ok());
  std::vector<Version> versions;
  REQUIRE(node.export_versions([&](const Version& v) { versions.push_back(v); return true; }).is_ok());
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].path == "k");
  CHECK(versions[0].deleted);
  CHECK(versions[0].uuid != put->uuid);
  CHECK(versions[0].timestamp_ms == put->timestamp_ms + 10);
  CHECK(versions[0].origin_node_id == "test-node");
}

TEST_CASE("a key can be written again after it was removed", "[node][remove]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})").is_ok());
  REQUIRE(node.remove("k").is_ok());
  PutOptions create;
  create.if_none_match = true;
  auto again = node.put("k", R"({"v":2})", create);
  REQUIRE(again.is_ok());
  CHECK(node.get("k")->data == R"({"v":2})");
}

TEST_CASE("If-Match applies a put only while the current version has that uuid", "[node][conditions]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto first = node.put("k", R"({"v":1})");
  REQUIRE(first.is_ok());

  PutOptions stale;
  stale.if_match = "00000000-0000-4000-8000-000000000000";
  auto refused = node.put("k", R"({"v":"stale"})", stale);
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == Code::kPreconditionFailed);
  CHECK(node.get("k")->uuid == first->uuid);
  CHECK(node.get("k")->data == R"({"v":1})");
  CHECK(node.history("k")->revisions.size() == 1);

  PutOptions current;
  current.if_match = first->uuid;
  auto second = node.put("k", R"({"v":2})", current);
  REQUIRE(second.is_ok());
  CHECK(node.get("k")->data == R"({"v":2})");

  // The first uuid is no longer current.
  CHECK(node.put("k", R"({"v":3})", current).status().code() == Code::kPreconditionFailed);
  CHECK(node.get("k")->uuid == second->uuid);
}

TEST_CASE("If-Match on an absent or removed key is precondition_failed and creates nothing", "[node][conditions]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  PutOptions options;
  options.if_match = "00000000-0000-4000-8000-000000000000";
  CHECK(node.put("absent", "{}", options).status().code() == Code::kPreconditionFailed);
  CHECK(node.get("absent").status().code() == Code::kNotFound);

  auto put = node.put("gone", "{}");
  REQUIRE(put.is_ok());
  REQUIRE(node.remove("gone").is_ok());
  options.if_match = put->uuid;
  CHECK(node.put("gone", "{}", options).status().code() == Code::kPreconditionFailed);
  CHECK(node.get("gone").status().code() == Code::kNotFound);
}

TEST_CASE("If-None-Match creates only: a put over a live key is precondition_failed", "[node][conditions]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  PutOptions create;
  create.if_none_match = true;
  auto first = node.put("k", R"({"v":1})", create);
  REQUIRE(first.is_ok());
  auto second = node.put("k", R"({"v":2})", create);
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == Code::kPreconditionFailed);
  auto got = node.get("k");
  REQUIRE(got.is_ok());
  CHECK(got->uuid == first->uuid);
  CHECK(got->data == R"({"v":1})");
  CHECK(node.history("k")->revisions.size() == 1);
}

TEST_CASE("If-Match applies a remove only while the current version has that uuid", "[node][conditions]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto first = node.put("k", R"({"v":1})");
  REQUIRE(first.is_ok());
  RemoveOptions stale;
  stale.if_match = "00000000-0000-4000-8000-000000000000";
  CHECK(node.remove("k", stale).code() == Code::kPreconditionFailed);
  REQUIRE(node.get("k").is_ok());
  CHECK(node.get("k")->uuid == first->uuid);
  CHECK(node.history("k")->revisions.size() == 1);

  RemoveOptions current;
  current.if_match = first->uuid;
  REQUIRE(node.remove("k", current).is_ok());
  CHECK(node.get("k").status().code() == Code::kNotFound);
}

TEST_CASE("an overwrite is stamped after the version it replaces even when the clock went back", "[node][stamping]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  const std::int64_t start = fixture.clock.now_ms();
  auto first = node.put("k", R"({"v":1})");
  REQUIRE(first.is_ok());
  CHECK(first->timestamp_ms == start);

  fixture.clock.set_ms(start - 60'000);  // the wall clock steps back a minute
  auto second = node.put("k", R"({"v":2})");
  REQUIRE(second.is_ok());
  CHECK(second->timestamp_ms > first->timestamp_ms);
  CHECK(second->timestamp_ms == start + 1);
  auto third = node.put("k", R"({"v":3})");
  REQUIRE(third.is_ok());
  CHECK(third->timestamp_ms == start + 2);
  REQUIRE(node.remove("k").is_ok());
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 4);
  CHECK(history->revisions[0].deleted);
  CHECK(history->revisions[0].timestamp_ms == start + 3);

  // A fresh key takes the clock as it is.
  auto other = node.put("other", "{}");
  REQUIRE(other.is_ok());
  CHECK(other->timestamp_ms == start - 60'000);
  // And once the clock passes the held version, the clock wins again.
  fixture.clock.set_ms(start + 1000);
  auto fourth = node.put("k", R"({"v":4})");
  REQUIRE(fourth.is_ok());
  CHECK(fourth->timestamp_ms == start + 1000);
}

TEST_CASE("writes within one millisecond get strictly increasing timestamps", "[node][stamping]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  std::int64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    auto put = node.put("k", "{\"i\":" + std::to_string(i) + "}");
    REQUIRE(put.is_ok());
    CHECK(put->timestamp_ms > last);
    last = put->timestamp_ms;
  }
  CHECK(last == fixture.clock.now_ms() + 19);
}

TEST_CASE("range lists live keys in key order, start inclusive and end exclusive", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* key : {"e", "a", "c", "b", "d", "b/1", "b/2"}) REQUIRE(node.put(key, "{}").is_ok());

  RangeQuery all;
  CHECK(paths_of(range_of(node, all)) == Paths{"a", "b", "b/1", "b/2", "c", "d", "e"});

  RangeQuery between;
  between.start_key = "b";
  between.end_key = "d";
  CHECK(paths_of(range_of(node, between)) == Paths{"b", "b/1", "b/2", "c"});

  RangeQuery from;
  from.start_key = "c";
  CHECK(paths_of(range_of(node, from)) == Paths{"c", "d", "e"});

  RangeQuery until;
  until.end_key = "b/1";
  CHECK(paths_of(range_of(node, until)) == Paths{"a", "b"});

  RangeQuery between_keys;  // bounds need not be stored keys
  between_keys.start_key = "bb";
  between_keys.end_key = "dd";
  CHECK(paths_of(range_of(node, between_keys)) == Paths{"c", "d"});

  RangeQuery empty;
  empty.start_key = "d";
  empty.end_key = "d";
  CHECK(range_of(node, empty).items.empty());
  RangeQuery inverted;
  inverted.start_key = "e";
  inverted.end_key = "a";
  CHECK(range_of(node, inverted).items.empty());
  CHECK_FALSE(range_of(node, inverted).next_start_key.has_value());
}

TEST_CASE("range with a prefix lists exactly the keys starting with it", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* key : {"user", "users/a", "users/b/c", "usersx", "users0", "userz", "a", "z"}) {
    REQUIRE(node.put(key, "{}").is_ok());
  }
  RangeQuery query;
  query.prefix = "users/";
  CHECK(paths_of(range_of(node, query)) == Paths{"users/a", "users/b/c"});
  query.prefix = "users";
  CHECK(paths_of(range_of(node, query)) == Paths{"users/a", "users/b/c", "users0", "usersx"});
  query.prefix = "users/";
  query.start_key = "users/b";
  CHECK(paths_of(range_of(node, query)) == Paths{"users/b/c"});
  query.start_key.clear();
  query.end_key = "users/b";
  CHECK(paths_of(range_of(node, query)) == Paths{"users/a"});
  query = RangeQuery{};
  query.prefix = "nothing";
  CHECK(range_of(node, query).items.empty());
}

TEST_CASE("range returns uuid and timestamp always and data only when values is set", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto a = node.put("a", R"({"a":1})");
  fixture.clock.advance(milliseconds(3));
  auto b = node.put("b", R"( [ "b" ] )");
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  RangeQuery query;
  auto bare = range_of(node, query);
  REQUIRE(bare.items.size() == 2);
  CHECK(bare.items[0].uuid == a->uuid);
  CHECK(bare.items[0].timestamp_ms == a->timestamp_ms);
  CHECK(bare.items[1].uuid == b->uuid);
  CHECK(bare.items[1].timestamp_ms == b->timestamp_ms);
  CHECK_FALSE(bare.items[0].data.has_value());
  CHECK_FALSE(bare.items[1].data.has_value());
  query.values = true;
  auto full = range_of(node, query);
  REQUIRE(full.items.size() == 2);
  CHECK(full.items[0].data == std::optional<std::string>(R"({"a":1})"));
  CHECK(full.items[1].data == std::optional<std::string>(R"( [ "b" ] )"));
}

TEST_CASE("range honours limit and says where the next page starts", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* key : {"k1", "k2", "k3", "k4"}) REQUIRE(node.put(key, "{}").is_ok());
  RangeQuery query;
  query.limit = 2;
  auto first = range_of(node, query);
  CHECK(paths_of(first) == Paths{"k1", "k2"});
  REQUIRE(first.next_start_key.has_value());
  CHECK(*first.next_start_key == "k3");
  query.start_key = *first.next_start_key;
  auto second = range_of(node, query);
  CHECK(paths_of(second) == Paths{"k3", "k4"});
  CHECK_FALSE(second.next_start_key.has_value());

  query = RangeQuery{};
  query.limit = 4;
  CHECK_FALSE(range_of(node, query).next_start_key.has_value());
  query.limit = 3;
  CHECK(range_of(node, query).next_start_key == std::optional<std::string>("k4"));
}

TEST_CASE("range defaults to 100 items and refuses a limit of 0 or over 10000", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (int i = 0; i < 150; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%03d", i);
    REQUIRE(node.put(key, "{}").is_ok());
  }
  RangeQuery query;
  auto page = range_of(node, query);
  CHECK(page.items.size() == 100);
  CHECK(page.next_start_key == std::optional<std::string>("k100"));
  query.limit = 10000;
  CHECK(range_of(node, query).items.size() == 150);
  for (std::size_t bad : {std::size_t{0}, std::size_t{10001}, std::size_t{1} << 40}) {
    query.limit = bad;
    auto refused = node.range(query);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("paging with next_start_key visits every live key exactly once", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  std::set<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    std::string key = "p/" + std::to_string(i * 7919 % 1000) + (i % 3 == 0 ? "/leaf" : "");
    REQUIRE(node.put(key, "{\"i\":" + std::to_string(i) + "}").is_ok());
    expected.insert(key);
  }
  // Holes in the middle of pages: removed and expired keys.
  int removed = 0;
  for (auto it = expected.begin(); it != expected.end();) {
    if (removed++ % 4 == 0) {
      REQUIRE(node.remove(*it).is_ok());
      it = expected.erase(it);
    } else {
      ++it;
    }
  }
  PutOptions short_lived;
  short_lived.ttl = milliseconds(10);
  for (int i = 0; i < 20; ++i) REQUIRE(node.put("p/short/" + std::to_string(i), "{}", short_lived).is_ok());
  REQUIRE(node.put("outside", "{}").is_ok());
  fixture.clock.advance(milliseconds(10));

  for (std::size_t limit : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1000}}) {
    INFO("limit " << limit);
    std::vector<std::string> seen;
    RangeQuery query;
    query.prefix = "p/";
    query.limit = limit;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = range_of(node, query);
      CHECK(page.items.size() <= limit);
      for (const auto& item : page.items) seen.push_back(item.path);
      if (!page.next_start_key) break;
      CHECK(page.items.size() == limit);
      query.start_key = *page.next_start_key;
    }
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
    CHECK(seen == std::vector<std::string>(expected.begin(), expected.end()));
  }
}

TEST_CASE("range leaves out removed and expired keys", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("a", "{}").is_ok());
  REQUIRE(node.put("b", "{}").is_ok());
  PutOptions ttl;
  ttl.ttl = milliseconds(1000);
  REQUIRE(node.put("c", "{}", ttl).is_ok());
  REQUIRE(node.put("d", "{}").is_ok());
  REQUIRE(node.remove("b").is_ok());
  RangeQuery query;
  CHECK(paths_of(range_of(node, query)) == Paths{"a", "c", "d"});
  fixture.clock.advance(milliseconds(1000));
  CHECK(paths_of(range_of(node, query)) == Paths{"a", "d"});
  query.limit = 1;
  auto page = range_of(node, query);
  CHECK(paths_of(page) == Paths{"a"});
  CHECK(page.next_start_key == std::optional<std::string>("d"));
}

TEST_CASE("history lists the revisions of a key newest first", "[node][history]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  std::vector<WriteResult> writes;
  for (int i = 1; i <= 3; ++i) {
    auto put = node.put("k", "{\"v\":" + std::to_string(i) + "}");
    REQUIRE(put.is_ok());
    writes.push_back(*put);
    fixture.clock.advance(milliseconds(1));
  }
  REQUIRE(node.remove("k").is_ok());
  auto history = node.history("/k/");
  REQUIRE(history.is_ok());
  CHECK(history->path == "k");
  REQUIRE(history->revisions.size() == 4);
  CHECK(history->revisions[0].revision == 4);
  CHECK(history->revisions[0].deleted);
  CHECK_FALSE(history->revisions[0].data.has_value());
  for (std::size_t i = 1; i < 4; ++i) {
    const Revision& revision = history->revisions[i];
    const WriteResult& write = writes[3 - i];
    CHECK(revision.revision == 4 - i);
    CHECK(revision.uuid == write.uuid);
    CHECK(revision.timestamp_ms == write.timestamp_ms);
    CHECK_FALSE(revision.deleted);
    CHECK(revision.data == std::optional<std::string>("{\"v\":" + std::to_string(4 - i) + "}"));
  }
}

TEST_CASE("get_revision reads one revision in the shape of get", "[node][history]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  auto first = node.put("k", R"({"v":1})");
  auto second = node.put("k", R"({"v":2})");
  REQUIRE(first.is_ok());
  REQUIRE(second.is_ok());
  auto one = node.get_revision("k", 1);
  REQUIRE(one.is_ok());
  CHECK(one->path == "k");
  CHECK(one->uuid == first->uuid);
  CHECK(one->timestamp_ms == first->timestamp_ms);
  CHECK(one->data == R"({"v":1})");
  auto two = node.get_revision("k", 2);
  REQUIRE(two.is_ok());
  CHECK(two->uuid == second->uuid);
  CHECK(two->data == R"({"v":2})");

  CHECK(node.get_revision("k", 3).status().code() == Code::kNotFound);
  CHECK(node.get_revision("k", 0).status().code() == Code::kNotFound);
  CHECK(node.get_revision("k", ~std::uint64_t{0}).status().code() == Code::kNotFound);
  CHECK(node.get_revision("never", 1).status().code() == Code::kNotFound);
  REQUIRE(node.remove("k").is_ok());
  CHECK(node.get_revision("k", 3).status().code() == Code::kNotFound);  // a tombstone
  CHECK(node.get_revision("k", 1)->data == R"({"v":1})");  // older revisions stay readable
}

TEST_CASE("history of a key never written is not_found", "[node][history]") {
  NodeFixture fixture;
  CHECK(fixture.node().history("never").status().code() == Code::kNotFound);
}

TEST_CASE("history keeps at most max_revisions revisions, dropping the oldest", "[node][history]") {
  NodeFixture fixture([](Config& config) { config.max_revisions = 3; });
  Node& node = fixture.node();
  std::vector<std::string> uuids;
  for (int i = 1; i <= 7; ++i) {
    auto put = node.put("k", "{\"v\":" + std::to_string(i) + "}");
    REQUIRE(put.is_ok());
    uuids.push_back(put->uuid);
  }
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(history->revisions[i].revision == 7 - i);
    CHECK(history->revisions[i].uuid == uuids[6 - i]);
  }
  CHECK(node.get_revision("k", 7)->data == R"({"v":7})");
  CHECK(node.get_revision("k", 5)->data == R"({"v":5})");
  CHECK(node.get_revision("k", 4).status().code() == Code::kNotFound);
  CHECK(node.get_revision("k", 1).status().code() == Code::kNotFound);
}

TEST_CASE("the default history keeps ten revisions", "[node][history]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (int i = 1; i <= 12; ++i) REQUIRE(node.put("k", "{\"v\":" + std::to_string(i) + "}").is_ok());
  auto history = node.history("k");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 10);
  CHECK(history->revisions.front().revision == 12);
  CHECK(history->revisions.back().revision == 3);
}

TEST_CASE("revision histories of different keys are separate", "[node][history]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  // "a" sorts right before "a/b" and "a\x01"-like neighbours: each key's revisions stay its own.
  REQUIRE(node.put("a", R"({"k":"a1"})").is_ok());
  REQUIRE(node.put("a/b", R"({"k":"ab1"})").is_ok());
  REQUIRE(node.put("a", R"({"k":"a2"})").is_ok());
  REQUIRE(node.put("ab", R"({"k":"ab"})").is_ok());
  CHECK(node.history("a")->revisions.size() == 2);
  CHECK(node.history("a/b")->revisions.size() == 1);
  CHECK(node.history("ab")->revisions.size() == 1);
  CHECK(node.get_revision("a/b", 1)->data == R"({"k":"ab1"})");
  CHECK(node.get_revision("a", 2)->data == R"({"k":"a2"})");
}

TEST_CASE("with revision history disabled, history is unavailable and the data API still works", "[node][history]") {
  NodeFixture fixture([](Config& config) { config.revision_history_enabled = false; });
  Node& node = fixture.node();
  REQUIRE(node.put("k", R"({"v":1})").is_ok());
  REQUIRE(node.put("k", R"({"v":2})").is_ok());
  CHECK(node.get("k")->data == R"({"v":2})");
  CHECK(node.history("k").status().code() == Code::kUnavailable);
  CHECK(node.get_revision("k", 1).status().code() == Code::kUnavailable);
  REQUIRE(node.remove("k").is_ok());
  CHECK(node.get("k").status().code() == Code::kNotFound);
}

TEST_CASE("get_meta reports the defaults of a key written by the local application", "[node][meta]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  REQUIRE(node.put("k", "{}").is_ok());
  auto meta = node.get_meta("k");
  REQUIRE(meta.is_ok());
  CHECK(meta->permissions == fixture.config.default_permissions);
  MetaUpdate update;
  update.permissions = 0x700;
  REQUIRE(node.set_meta("k", update).is_ok());
  CHECK(node.get_meta("k")->permissions == 0x700);
  CHECK(node.get("k")->data == "{}");
  CHECK(node.get_meta("absent").status().code() == Code::kNotFound);
}

TEST_CASE("health counts live keys and reports the node", "[node][health]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  Health health = node.health();
  CHECK(health.status == "ok");
  CHECK(health.mode == kvs::Mode::kNormal);
  // The spellings GET /health shows.
  CHECK(to_string(kvs::Mode::kNormal) == "normal");
  CHECK(to_string(kvs::Mode::kReadOnly) == "read-only");
  CHECK(to_string(kvs::Mode::kSyncing) == "syncing");
  CHECK(health.node_id == "test-node");
  CHECK(health.member_count == 1);
  CHECK(health.keys == 0);
  REQUIRE(node.put("a", "{}").is_ok());
  REQUIRE(node.put("b", "{}").is_ok());
  REQUIRE(node.put("b", "{}").is_ok());
  CHECK(node.health().keys == 2);
  REQUIRE(node.remove("a").is_ok());
  CHECK(node.health().keys == 1);
  CHECK(node.health().version == std::string(library_version()));
}

}  // namespace kvs::test
