// Node's operations through the in-process API (libkvs/src/node/node_ops.cpp): backups and restore,
// the metrics text, and rate limiting.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"
#include "support/prometheus.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

void with_backups(Config& config) { config.backup_enabled = true; }

}  // namespace

TEST_CASE("a backup taken under concurrent writes restores into a fresh node with every key acknowledged before it",
          "[node][backup]") {
  NodeFixture fixture(with_backups);
  Node& node = fixture.node();
  for (int i = 0; i < 200; ++i) REQUIRE(node.put("before/" + std::to_string(i), json_of_size(300, i)).is_ok());

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      if (node.put("during/" + std::to_string(i), json_of_size(200, i)).is_ok()) written.fetch_add(1);
    }
  });
  auto backup = node.backup_now();
  stop = true;
  writer.join();
  REQUIRE(backup.is_ok());
  CHECK(backup->bytes > 0);
  CHECK(backup->uncompressed_bytes > backup->bytes);
  CHECK(backup->node_id == "test-node");
  CHECK(std::filesystem::exists(backup->path));
  CHECK(verify_backup(backup->path).is_ok());

  auto listed = node.list_backups();
  REQUIRE(listed.is_ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].path == backup->path);
  CHECK((*listed)[0].problem.empty());

  TempDir fresh("kvs-restore-test");
  Config restored_config = node_test_config(fresh / "data");
  auto restored = restore_backup(restored_config, backup->path);
  REQUIRE(restored.is_ok());
  CHECK(restored->created_at_ms == backup->created_at_ms);

  auto reopened = Node::open(restored_config);
  REQUIRE(reopened.is_ok());
  Node& copy = **reopened;
  for (int i = 0; i < 200; ++i) {
    auto entry = copy.get("before/" + std::to_string(i));
    REQUIRE(entry.is_ok());
    CHECK(entry->data == json_of_size(300, static_cast<std::uint64_t>(i)));
  }
  // Writes that raced with the backup are in it or not, but never torn: a key present has its
  // full document.
  RangeQuery racing;
  racing.start_key = "during/";
  racing.end_key = "during0";
  racing.limit = kMaxRangeLimit;
  racing.values = true;
  auto during = copy.range(racing);
  REQUIRE(during.is_ok());
  for (const auto& item : during->items) {
    std::uint64_t n = std::stoull(item.path.substr(std::string("during/").size()));
    CHECK(item.data == json_of_size(200, n));
  }
}

TEST_CASE("restore refuses a truncated or damaged backup and leaves the data_dir as it was", "[node][backup]") {
  NodeFixture fixture(with_backups);
  REQUIRE(fixture.node().put("k", "1").is_ok());
  auto backup = fixture.node().backup_now();
  REQUIRE(backup.is_ok());

  std::string bytes;
  {
    std::ifstream in(backup->path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  TempDir scratch("kvs-restore-bad");
  auto truncated = (scratch / "truncated.kvsbackup").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto damaged = (scratch / "damaged.kvsbackup").string();
  std::string flipped = bytes;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5A);
  std::ofstream(damaged, std::ios::binary) << flipped;

  // The target already holds data, which must survive a refused restore.
  Config target = node_test_config(scratch / "data");
  {
    auto opened = Node::open(target);
    REQUIRE(opened.is_ok());
    REQUIRE((*opened)->put("kept", "\"yes\"").is_ok());
  }
  for (const auto& bad : {truncated, damaged}) {
    INFO(bad);
    auto refused = restore_backup(target, bad);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == Code::kCorruption);
    CHECK_FALSE(verify_backup(bad).is_ok());
  }
  CHECK(restore_backup(target, (scratch / "missing.kvsbackup").string()).status().code() == Code::kNotFound);
  auto opened = Node::open(target);
  REQUIRE(opened.is_ok());
  CHECK((*opened)->get("kept").is_ok());
  CHECK_FALSE((*opened)->get("k").is_ok());
}

TEST_CASE("restore refuses while a node holds the data_dir", "[node][backup]") {
  NodeFixture fixture(with_backups);
  REQUIRE(fixture.node().put("k", "1").is_ok());
  auto backup = fixture.node().backup_now();
  REQUIRE(backup.is_ok());
  auto refused = restore_backup(fixture.config, backup->path);
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == Code::kUnavailable);
}

TEST_CASE("backups are unavailable when backup_enabled is off", "[node][backup]") {
  NodeFixture fixture;
  CHECK(fixture.node().backup_now().status().code() == Code::kUnavailable);
  CHECK(fixture.node().list_backups().status().code() == Code::kUnavailable);
}

TEST_CASE("backups need the admin scope for a checked caller", "[node][backup]") {
  NodeFixture fixture([](Config& config) {
    config.backup_enabled = true;
    config.auth_enabled = true;
  });
  Caller reader{false, "some-user", kScopeRead | kScopeWrite, "jti"};
  CHECK(fixture.node().backup_now({reader}).status().code() == Code::kPermissionDenied);
  CHECK(fixture.node().list_backups({reader}).status().code() == Code::kPermissionDenied);
  Caller admin{false, "admin-user", kScopeAdmin, "jti"};
  CHECK(fixture.node().backup_now({admin}).is_ok());
  auto listed = fixture.node().list_backups({admin});
  REQUIRE(listed.is_ok());
  CHECK(listed->size() == 1);
}

TEST_CASE("a second backup gets its own file and both are listed newest first", "[node][backup]") {
  NodeFixture fixture(with_backups);
  auto first = fixture.node().backup_now();
  REQUIRE(first.is_ok());
  fixture.clock.advance(milliseconds(1500));
  auto second = fixture.node().backup_now();
  REQUIRE(second.is_ok());
  CHECK(first->path != second->path);
  auto listed = fixture.node().list_backups();
  REQUIRE(listed.is_ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].path == second->path);
  CHECK((*listed)[1].path == first->path);
}

TEST_CASE("the metrics text parses as Prometheus text and reflects keys, requests and backups", "[node][metrics]") {
  NodeFixture fixture(with_backups);
  Node& node = fixture.node();
  for (int i = 0; i < 7; ++i) REQUIRE(node.put("m/" + std::to_string(i), "{\"v\":1}").is_ok());
  REQUIRE(node.remove("m/0").is_ok());
  node.record_request("kv", "PUT", 200, std::chrono::microseconds(1500));
  node.record_request("kv", "PUT", 200, std::chrono::microseconds(2500));
  node.record_request("kv", "GET", 404, std::chrono::microseconds(100));
  node.record_request("", "BREW", 404, std::chrono::microseconds(10));  // no route, odd method
  REQUIRE(node.backup_now().is_ok());

  auto samples = parse_prometheus(node.metrics_text());
  CHECK(samples.at("kvs_keys") == 6);
  CHECK(samples.at("kvs_stored_bytes") > 0);
  CHECK(samples.at(R"(kvs_http_requests_total{route="kv",method="PUT",status="200"})") == 2);
  CHECK(samples.at(R"(kvs_http_requests_total{route="kv",method="GET",status="404"})") == 1);
  CHECK(samples.at(R"(kvs_http_requests_total{route="unmatched",method="other",status="404"})") == 1);
  CHECK(samples.at(R"(kvs_http_request_duration_seconds_count{route="kv",method="PUT"})") == 2);
  CHECK(samples.at(R"(kvs_http_request_duration_seconds_sum{route="kv",method="PUT"})") == Approx(0.004));
  CHECK(samples.at(R"(kvs_http_request_duration_seconds_bucket{route="kv",method="PUT",le="+Inf"})") == 2);
  CHECK(samples.at(R"(kvs_backups_total{result="ok"})") == 1);
  CHECK(samples.at(R"(kvs_backups_total{result="failed"})") == 0);
  CHECK(samples.at("kvs_backup_last_size_bytes") > 0);
  CHECK(samples.at("kvs_rate_limited_requests_total") == 0);
  // Replication is not built yet: its gauges and counters are present at 0.
  CHECK(samples.at("kvs_replication_queue_depth") == 0);
  CHECK(samples.at("kvs_replication_lag_seconds") == 0);
  CHECK(samples.at(R"(kvs_anti_entropy_rounds_total{result="ok"})") == 0);
  CHECK(samples.at("kvs_members_alive") == 1);
}

TEST_CASE("the rate limiter counts per user for authenticated callers, else per address", "[node][rate_limit]") {
  NodeFixture fixture([](Config& config) {
    config.rate_limiting_enabled = true;
    config.rate_limit_requests = 3;
    config.rate_limit_window = std::chrono::seconds(10);
  });
  Node& node = fixture.node();
  Caller alice{false, "alice", kScopeRead, "j1"};
  Caller bob{false, "bob", kScopeRead, "j2"};
  // Alice's allowance follows her from any address.
  CHECK(node.admit_request(alice, "10.0.0.1").allowed);
  CHECK(node.admit_request(alice, "10.0.0.2").allowed);
  CHECK(node.admit_request(alice, "10.0.0.3").allowed);
  auto refused = node.admit_request(alice, "10.0.0.4");
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == 3);
  CHECK(refused.retry_after > milliseconds(0));
  CHECK(refused.retry_after <= milliseconds(20000));
  // Bob, and an unauthenticated client from Alice's address, have their own.
  CHECK(node.admit_request(bob, "10.0.0.1").allowed);
  CHECK(node.admit_request(Caller::local(), "10.0.0.1").allowed);
  // Once enough of the window has passed, Alice gets through again.
  fixture.clock.advance(refused.retry_after);
  CHECK(node.admit_request(alice, "10.0.0.1").allowed);

  auto samples = parse_prometheus(node.metrics_text());
  CHECK(samples.at("kvs_rate_limited_requests_total") == 1);
}

TEST_CASE("with rate limiting off every request is admitted", "[node][rate_limit]") {
  NodeFixture fixture;
  for (int i = 0; i < 1000; ++i) REQUIRE(fixture.node().admit_request(Caller::local(), "10.0.0.1").allowed);
}

TEST_CASE("issue 14: kvs_writes_total counts applied versions by kind and kvs_audit_last_seq follows the chain",
          "[node][metrics]") {
  NodeFixture fixture([](Config& config) { config.tamper_logging_enabled = true; });
  Node& node = fixture.node();
  auto before = parse_prometheus(node.metrics_text());
  CHECK(before.at("kvs_audit_last_seq") == 0);
  CHECK(before.count("kvs_audit_entries") == 0);  // replaced by kvs_audit_last_seq

  for (int i = 0; i < 3; ++i) REQUIRE(node.put("w/" + std::to_string(i), R"({"v":1})").is_ok());
  REQUIRE(node.remove("w/0").is_ok());
  CHECK(node.remove("w/absent").code() == Code::kNotFound);                    // refused: not counted
  PutOptions create_only;
  create_only.if_none_match = true;
  CHECK(node.put("w/1", R"({"v":2})", create_only).status().code() == Code::kPreconditionFailed);
  Version replicated;
  replicated.path = "w/peer";
  replicated.uuid = "00000000-0000-4000-8000-000000000002";
  replicated.timestamp_ms = fixture.clock.now_ms();
  replicated.origin_node_id = "peer-a";
  replicated.data = R"({"from":"peer"})";
  REQUIRE(node.apply_version(replicated).value());
  REQUIRE_FALSE(node.apply_version(replicated).value());  // loses by the order: nothing applied

  auto after = parse_prometheus(node.metrics_text());
  CHECK(after.at(R"(kvs_writes_total{kind="put"})") == 3);
  CHECK(after.at(R"(kvs_writes_total{kind="delete"})") == 1);
  CHECK(after.at(R"(kvs_writes_total{kind="replicated"})") == 1);
  // One audit entry per applied version.
  CHECK(after.at("kvs_audit_last_seq") == 5);
  auto verified = node.verify_audit();
  REQUIRE(verified.is_ok());
  CHECK(after.at("kvs_audit_last_seq") == static_cast<double>(verified->head_seq));

  // It survives a restart: the gauge reads the chain's head, not a count since open.
  fixture.reopen();
  CHECK(parse_prometheus(fixture.node().metrics_text()).at("kvs_audit_last_seq") == 5);
  REQUIRE(fixture.node().put("w/after", R"({"v":3})").is_ok());
  CHECK(parse_prometheus(fixture.node().metrics_text()).at("kvs_audit_last_seq") == 6);
}

}  // namespace kvs::test
