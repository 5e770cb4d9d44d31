// What the node keeps on disk: documents read back byte for byte with compression on or off
// (and across a change of that setting), everything survives a reopen, one data_dir has one
// owner, and concurrent writers all land.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

// Documents that exercise the record codec: tiny ones that stay raw, large compressible and
// incompressible ones, whitespace, escapes and UTF-8.
std::map<std::string, std::string> sample_documents() {
  std::map<std::string, std::string> documents;
  documents["tiny"] = "1";
  documents["small"] = R"({"name":"john","age":42})";
  documents["spaced"] = "  {\n  \"a\" : [ 1, 2,   3 ],\n  \"b\" : { }\n}\n\n";
  documents["utf8"] = "{\"s\":\"caf\xc3\xa9 \xe2\x9c\x93 \\u00e9 \\\"q\\\"\"}";
  std::string repeated = "[";
  for (int i = 0; i < 20000; ++i) repeated += (i ? "," : "") + std::string(R"({"field":"same text","n":1})");
  repeated += "]";
  documents["compressible"] = repeated;  // ~560 KB of the same record
  std::string noise = "\"";
  std::uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 100000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[x % 62];
  }
  noise += "\"";
  documents["incompressible"] = noise;
  documents["threshold"] = json_of_size(64);
  documents["page"] = json_of_size(4096);
  return documents;
}

void put_all(Node& node, const std::map<std::string, std::string>& documents) {
  for (const auto& [key, json] : documents) {
    INFO("key " << key);
    REQUIRE(node.put("docs/" + key, json).is_ok());
  }
}

void check_all(Node& node, const std::map<std::string, std::string>& documents) {
  for (const auto& [key, json] : documents) {
    INFO("key " << key << " (" << json.size() << " bytes)");
    auto got = node.get("docs/" + key);
    REQUIRE(got.is_ok());
    CHECK(got->data.size() == json.size());
    CHECK(got->data == json);
  }
  RangeQuery query;
  query.prefix = "docs/";
  query.values = true;
  auto listed = node.range(query);
  REQUIRE(listed.is_ok());
  REQUIRE(listed->items.size() == documents.size());
  for (const auto& item : listed->items) CHECK(*item.data == documents.at(item.path.substr(5)));
}

std::size_t data_dir_bytes(const std::filesystem::path& dir) {
  std::size_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    // Allocated blocks, not the apparent size: a memory-mapped file may be sized to the map.
    struct stat info {};
    if (entry.is_regular_file() && ::stat(entry.path().c_str(), &info) == 0) {
      bytes += static_cast<std::size_t>(info.st_blocks) * 512;
    }
  }
  return bytes;
}

}  // namespace

TEST_CASE("documents read back byte for byte with compression on and off", "[node][storage][compression]") {
  const bool compression = GENERATE(true, false);
  INFO("compression_enabled " << compression);
  NodeFixture fixture([&](Config& config) { config.compression_enabled = compression; });
  const auto documents = sample_documents();
  put_all(fixture.node(), documents);
  check_all(fixture.node(), documents);
  auto history = fixture.node().history("docs/compressible");
  REQUIRE(history.is_ok());
  CHECK(history->revisions.at(0).data == documents.at("compressible"));
  CHECK(fixture.node().get_revision("docs/incompressible", 1)->data == documents.at("incompressible"));
  fixture.reopen();
  check_all(fixture.node(), documents);
}

TEST_CASE("compression makes a compressible document take less room on disk", "[node][storage][compression]") {
  auto bytes_for = [](bool compression) {
    NodeFixture fixture([&](Config& config) {
      config.compression_enabled = compression;
      config.revision_history_enabled = false;
    });
    std::string json = "[";
    for (int i = 0; i < 40000; ++i) json += (i ? "," : "") + std::string(R"({"field":"same text"})");
    json += "]";
    for (int i = 0; i < 4; ++i) REQUIRE(fixture.node().put("big/" + std::to_string(i), json).is_ok());
    fixture.close();
    return data_dir_bytes(fixture.config.data_dir);
  };
  const std::size_t compressed = bytes_for(true);
  const std::size_t raw = bytes_for(false);
  INFO("compressed data_dir " << compressed << " bytes, uncompressed " << raw << " bytes");
  CHECK(compressed * 4 < raw);
}

TEST_CASE("a data_dir written with compression on reads back with it off, and the other way", "[node][storage][compression]") {
  const bool first = GENERATE(true, false);
  INFO("written with compression_enabled " << first);
  NodeFixture fixture([&](Config& config) { config.compression_enabled = first; });
  const auto documents = sample_documents();
  put_all(fixture.node(), documents);
  fixture.config.compression_enabled = !first;
  fixture.reopen();
  check_all(fixture.node(), documents);
  // New writes under the new setting live alongside the old ones.
  auto more = documents;
  for (auto& [key, json] : more) {
    json = "{\"again\":" + json + "}";
  }
  put_all(fixture.node(), more);
  check_all(fixture.node(), more);
  CHECK(fixture.node().get_revision("docs/compressible", 1)->data == documents.at("compressible"));
  fixture.config.compression_enabled = first;
  fixture.reopen();
  check_all(fixture.node(), more);
}

TEST_CASE("a reopened node keeps every version, tombstone, expiry and revision", "[node][storage]") {
  NodeFixture fixture([](Config& config) { config.max_revisions = 4; });
  Node* node = &fixture.node();
  std::map<std::string, WriteResult> writes;
  for (int i = 0; i < 200; ++i) {
    std::string key = "keys/" + std::to_string(i);
    auto put = node->put(key, "{\"i\":" + std::to_string(i) + "}");
    REQUIRE(put.is_ok());
    writes[key] = *put;
  }
  for (int i = 0; i < 200; i += 10) REQUIRE(node->remove("keys/" + std::to_string(i)).is_ok());
  PutOptions ttl;
  ttl.ttl = milliseconds(60'000);
  auto expiring = node->put("expiring", "{}", ttl);
  REQUIRE(expiring.is_ok());
  for (int i = 0; i < 6; ++i) REQUIRE(node->put("versions", "{\"v\":" + std::to_string(i) + "}").is_ok());
  MetaUpdate update;
  update.permissions = 0x711;
  update.group_uuid = "group-x";
  REQUIRE(node->set_meta("keys/1", update).is_ok());
  auto before_history = node->history("versions");
  REQUIRE(before_history.is_ok());
  std::vector<Version> before;
  REQUIRE(node->export_versions([&](const Version& v) { before.push_back(v); return true; }).is_ok());
  const std::string joined_origin = before.at(0).origin_node_id;
  const std::int64_t joined_ms = before.at(0).origin_joined_ms;

  fixture.clock.advance(milliseconds(1000));
  fixture.reopen();
  node = &fixture.node();

  std::vector<Version> after;
  REQUIRE(node->export_versions([&](const Version& v) { after.push_back(v); return true; }).is_ok());
  CHECK(after == before);
  for (int i = 0; i < 200; ++i) {
    std::string key = "keys/" + std::to_string(i);
    auto got = node->get(key);
    if (i % 10 == 0) {
      CHECK(got.status().code() == Code::kNotFound);
    } else if (i != 1) {  // keys/1 got a new version from set_meta
      REQUIRE(got.is_ok());
      CHECK(got->uuid == writes[key].uuid);
      CHECK(got->timestamp_ms == writes[key].timestamp_ms);
      CHECK(got->data == "{\"i\":" + std::to_string(i) + "}");
    }
  }
  CHECK(node->get("expiring")->expires_at_ms == std::optional<std::int64_t>(expiring->timestamp_ms + 60'000));
  CHECK(node->get_meta("keys/1")->permissions == 0x711);
  CHECK(node->get_meta("keys/1")->group_uuid == "group-x");
  auto after_history = node->history("versions");
  REQUIRE(after_history.is_ok());
  REQUIRE(after_history->revisions.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(after_history->revisions[i].revision == before_history->revisions[i].revision);
    CHECK(after_history->revisions[i].uuid == before_history->revisions[i].uuid);
    CHECK(after_history->revisions[i].data == before_history->revisions[i].data);
  }
  // The node's joined timestamp is fixed at the first open.
  auto next = node->put("after-reopen", "{}");
  REQUIRE(next.is_ok());
  std::optional<Version> fresh;
  REQUIRE(node->export_versions([&](const Version& v) {
    if (v.path == "after-reopen") fresh = v;
    return true;
  }).is_ok());
  REQUIRE(fresh.has_value());
  CHECK(fresh->origin_node_id == joined_origin);
  CHECK(fresh->origin_joined_ms == joined_ms);
  // Revision numbers continue after a reopen.
  REQUIRE(node->put("versions", R"({"v":"after"})").is_ok());
  CHECK(node->history("versions")->revisions.at(0).revision == before_history->revisions.at(0).revision + 1);
  CHECK(node->health().keys == 200 - 20 + 3);
}

TEST_CASE("a second open of a data_dir fails with unavailable while the first keeps working", "[node][storage][lock]") {
  NodeFixture fixture;
  REQUIRE(fixture.node().put("k", R"({"v":1})").is_ok());
  NodeEnv env;
  env.clock = &fixture.clock;
  env.background_sweeper = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto second = Node::open(fixture.config, env);
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == Code::kUnavailable);
    CHECK_FALSE(second.status().message().empty());
  }
  REQUIRE(fixture.node().put("k", R"({"v":2})").is_ok());
  CHECK(fixture.node().get("k")->data == R"({"v":2})");

  // Once the first closes, the directory opens again.
  fixture.close();
  auto third = Node::open(fixture.config, env);
  REQUIRE(third.is_ok());
  CHECK((*third)->get("k")->data == R"({"v":2})");
}

TEST_CASE("a second process opening a held data_dir fails at once and the holder keeps working", "[node][storage][lock]") {
  // The child holds the directory; the parent (which has no other threads) tries to open it.
  TempDir dir;
  Config config = node_test_config(dir / "data");
  int to_child[2];
  int to_parent[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(to_parent) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    int code = 0;
    {
      auto node = Node::open(config);
      char byte = node.is_ok() && (*node)->put("k", R"({"v":1})").is_ok() ? 'r' : 'x';
      if (::write(to_parent[1], &byte, 1) != 1) code = 2;
      if (byte == 'r' && ::read(to_child[0], &byte, 1) == 1) {
        byte = (*node)->put("k", R"({"v":2})").is_ok() ? 'w' : 'x';
        if (::write(to_parent[1], &byte, 1) != 1) code = 2;
      }
    }
    ::_exit(code);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  char byte = 0;
  REQUIRE(::read(to_parent[0], &byte, 1) == 1);
  REQUIRE(byte == 'r');

  const auto started = std::chrono::steady_clock::now();
  auto second = Node::open(config);
  const auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == Code::kUnavailable);
  CHECK(waited < std::chrono::seconds(2));  // at once, not after a lock timeout

  REQUIRE(::write(to_child[1], "g", 1) == 1);
  REQUIRE(::read(to_parent[0], &byte, 1) == 1);
  CHECK(byte == 'w');
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  ::close(to_child[1]);
  ::close(to_parent[0]);

  auto reopened = Node::open(config);
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->get("k")->data == R"({"v":2})");
}

TEST_CASE("puts from many threads all succeed and are all readable", "[node][storage][concurrency]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  constexpr int kThreads = 16;
  constexpr int kPutsPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPutsPerThread; ++i) {
        std::string key = "t" + std::to_string(t) + "/" + std::to_string(i);
        if (!node.put(key, "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}").is_ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPutsPerThread; ++i) {
      auto got = node.get("t" + std::to_string(t) + "/" + std::to_string(i));
      REQUIRE(got.is_ok());
      CHECK(got->data == "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}");
    }
  }
  CHECK(node.health().keys == kThreads * kPutsPerThread);
  fixture.reopen();
  RangeQuery query;
  query.limit = kMaxRangeLimit;
  CHECK(fixture.node().range(query)->items.size() == kThreads * kPutsPerThread);
}

TEST_CASE("concurrent overwrites of one key are ordered: distinct timestamps, and the newest is held", "[node][storage][concurrency]") {
  // Writers sharing one group commit must each see the version the previous one wrote.
  NodeFixture fixture;
  Node& node = fixture.node();
  constexpr int kThreads = 8;
  constexpr int kPutsPerThread = 30;
  std::mutex results_mutex;
  std::vector<WriteResult> results;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPutsPerThread; ++i) {
        auto put = node.put("hot", "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}");
        if (!put.is_ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(results_mutex);
        results.push_back(*put);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(failures == 0);
  REQUIRE(results.size() == kThreads * kPutsPerThread);
  std::set<std::int64_t> timestamps;
  const WriteResult* newest = &results[0];
  for (const auto& result : results) {
    timestamps.insert(result.timestamp_ms);
    if (result.timestamp_ms > newest->timestamp_ms) newest = &result;
  }
  CHECK(timestamps.size() == results.size());  // the clock never moved: stamping alone orders them
  auto got = node.get("hot");
  REQUIRE(got.is_ok());
  CHECK(got->uuid == newest->uuid);
  CHECK(got->timestamp_ms == newest->timestamp_ms);
  auto history = node.history("hot");
  REQUIRE(history.is_ok());
  REQUIRE(history->revisions.size() == 10);
  CHECK(history->revisions[0].revision == kThreads * kPutsPerThread);
  for (std::size_t i = 1; i < history->revisions.size(); ++i) {
    CHECK(history->revisions[i].timestamp_ms < history->revisions[i - 1].timestamp_ms);
  }
}

TEST_CASE("If-None-Match from many threads at once lets exactly one create the key", "[node][storage][concurrency]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  constexpr int kThreads = 12;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      PutOptions create;
      create.if_none_match = true;
      auto put = node.put("once", "{\"t\":" + std::to_string(t) + "}", create);
      if (put.is_ok()) ++created;
      else if (put.status().code() == Code::kPreconditionFailed) ++refused;
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(created == 1);
  CHECK(refused == kThreads - 1);
  CHECK(node.history("once")->revisions.size() == 1);
}

TEST_CASE("readers run alongside writers and always see a complete document", "[node][storage][concurrency]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  const std::string a = json_of_size(3000, 1);
  const std::string b = json_of_size(9000, 2);
  REQUIRE(node.put("k", a).is_ok());
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        auto got = node.get("k");
        if (!got.is_ok() || (got->data != a && got->data != b)) ++bad_reads;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 60; ++i) REQUIRE(node.put("k", i % 2 ? a : b).is_ok());
  done = true;
  for (auto& reader : readers) reader.join();
  CHECK(bad_reads == 0);
  CHECK(reads > 0);
}

}  // namespace kvs::test
