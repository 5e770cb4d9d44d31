// Replication between real kvs-server processes on loopback (label cluster): a write pushed to
// every peer, a delete that stays deleted, and a node that missed writes while it was down
// catching up through Merkle anti-entropy until every node reports the same root. Timers are
// short (sub-second gossip, 1 s sync rounds); every wait is a bounded poll and no assertion is
// about speed.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using kvs::test::HttpClient;
using kvs::test::address_of;
using kvs::test::eventually;
using kvs::test::HttpResponse;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::json_int;
using kvs::test::json_string;

namespace {

constexpr const char* kSecret = "replication-test-secret-8d1e0c4b2a";

ServerConfig replica_config(const std::string& node_id, const std::vector<std::string>& seeds) {
  return kvs::test::cluster_node_config(node_id, seeds, kSecret, kvs::test::fast_cluster_timings());
}

std::optional<std::int64_t> member_count(const ServerProcess& server) {
  HttpClient client(server.base_url());
  return json_int(client.get("/health").body, "/member_count");
}

bool all_count(const std::vector<ServerProcess*>& servers, std::int64_t count) {
  for (auto* server : servers) {
    if (member_count(*server) != count) return false;
  }
  return true;
}

// The value of an unlabelled metric, or -1 when it is missing.
double metric_of(const ServerProcess& server, const std::string& name) {
  HttpClient client(server.base_url());
  std::string text = client.get("/metrics").body;
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  at += name.size() + 2;
  return std::stod(text.substr(at, text.find('\n', at) - at));
}

HttpResponse get(const ServerProcess& server, const std::string& path) {
  HttpClient client(server.base_url());
  client.set_timeout(std::chrono::seconds(2));
  return client.get(path);
}

long put(const ServerProcess& server, const std::string& key, const std::string& json) {
  HttpClient client(server.base_url());
  return client.put("/kv/" + key, json).status;
}

long remove(const ServerProcess& server, const std::string& key) {
  HttpClient client(server.base_url());
  return client.del("/kv/" + key).status;
}

// The document of a live key (the "data" member of GET /kv/, the last one), or nullopt.
std::optional<std::string> data_of(const ServerProcess& server, const std::string& key) {
  HttpResponse response = get(server, "/kv/" + key);
  constexpr std::string_view kData = "\"data\":";
  auto at = response.body.rfind(kData);
  if (response.status != 200 || at == std::string::npos || response.body.back() != '}') return std::nullopt;
  at += kData.size();
  return response.body.substr(at, response.body.size() - 1 - at);
}

std::optional<std::string> root_of(const ServerProcess& server) {
  HttpResponse response = get(server, "/sync/merkle/root");
  if (response.status != 200) return std::nullopt;
  return json_string(response.body, "/root");
}

bool same_root(const std::vector<ServerProcess*>& servers) {
  std::optional<std::string> first;
  for (auto* server : servers) {
    auto root = root_of(*server);
    if (!root || root->size() != 64) return false;
    if (!first) first = root;
    if (*root != *first) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a write on one node is readable on the others and a delete stays deleted", "[cluster]") {
  ServerProcess a(replica_config("node-a", {}));
  REQUIRE(a.start());
  ServerProcess b(replica_config("node-b", {address_of(a)}));
  REQUIRE(b.start());
  ServerProcess c(replica_config("node-c", {address_of(a), address_of(b)}));
  REQUIRE(c.start());
  std::vector<ServerProcess*> all{&a, &b, &c};
  REQUIRE(eventually([&] { return all_count(all, 3); }));

  REQUIRE(put(a, "users/john", R"({"age":42})") == 200);
  for (auto* server : {&b, &c}) {
    CHECK(eventually([&] {
      return data_of(*server, "users/john") == R"({"age":42})";
    }, std::chrono::seconds(10)));
  }

  // An overwrite on another node replaces it everywhere; then a delete wins everywhere.
  REQUIRE(put(c, "users/john", R"({"age":43})") == 200);
  for (auto* server : {&a, &b}) {
    CHECK(eventually([&] { return data_of(*server, "users/john") == R"({"age":43})"; },
                     std::chrono::seconds(10)));
  }
  REQUIRE(remove(b, "users/john") == 204);
  for (auto* server : all) {
    CHECK(eventually([&] { return get(*server, "/kv/users/john").status == 404; }, std::chrono::seconds(10)));
  }
  // Several anti-entropy rounds later the key is still gone, and the trees agree.
  REQUIRE(eventually([&] { return same_root(all); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  for (auto* server : all) CHECK(get(*server, "/kv/users/john").status == 404);
  CHECK(same_root(all));
  HttpResponse root = get(a, "/sync/merkle/root");
  CHECK(json_int(root.body, "/keys") == 1);  // the tombstone

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("a node that was down during writes catches up through anti-entropy after a restart", "[cluster]") {
  ServerProcess a(replica_config("node-a", {}));
  REQUIRE(a.start());
  ServerProcess b(replica_config("node-b", {address_of(a)}));
  REQUIRE(b.start());
  ServerProcess c(replica_config("node-c", {address_of(a), address_of(b)}));
  REQUIRE(c.start());
  std::vector<ServerProcess*> all{&a, &b, &c};
  REQUIRE(eventually([&] { return all_count(all, 3); }));

  for (int i = 0; i < 30; ++i) REQUIRE(put(i % 2 ? a : b, "before/" + std::to_string(i), std::to_string(i)) == 200);
  REQUIRE(eventually([&] { return same_root(all); }));

  c.kill();
  // Writes that c misses: new keys, overwrites and deletes, spread over a and b.
  for (int i = 0; i < 60; ++i) REQUIRE(put(i % 2 ? a : b, "during/" + std::to_string(i), std::to_string(i)) == 200);
  for (int i = 0; i < 10; ++i) REQUIRE(put(a, "before/" + std::to_string(i), "\"changed\"") == 200);
  for (int i = 20; i < 25; ++i) REQUIRE(remove(b, "before/" + std::to_string(i)) == 204);

  // Once a and b have dropped c, their push queues for it are gone: only anti-entropy can
  // bring c up to date.
  REQUIRE(eventually([&] { return all_count({&a, &b}, 2); }));
  // A removed peer's queue goes at the replicator's next member refresh; until then a quick
  // restart could still be served by pushes.
  REQUIRE(eventually([&] {
    return metric_of(a, "kvs_replication_queue_depth") == 0 && metric_of(b, "kvs_replication_queue_depth") == 0;
  }));
  REQUIRE(c.start());
  REQUIRE(eventually([&] { return same_root(all); }));
  for (auto* server : all) {
    HttpResponse root = get(*server, "/sync/merkle/root");
    CHECK(json_int(root.body, "/keys") == 90);
  }
  CHECK(data_of(c, "during/59") == "59");
  CHECK(data_of(c, "before/3") == "\"changed\"");
  CHECK(get(c, "/kv/before/22").status == 404);
  CHECK(data_of(c, "before/27") == "27");
  // The repair went through Merkle anti-entropy.
  bool repaired = false;
  for (auto* server : all) repaired = repaired || server->stderr_text().find("anti_entropy.repaired") != std::string::npos;
  CHECK(repaired);
  // ... and /metrics counts the rounds.
  std::string metrics = get(a, "/metrics").body;
  auto line = metrics.find("kvs_anti_entropy_rounds_total{result=\"ok\"} ");
  REQUIRE(line != std::string::npos);
  std::string sample = metrics.substr(line, metrics.find('\n', line) - line);
  CHECK(std::stod(sample.substr(sample.rfind(' ') + 1)) > 0);

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("sync requests without a valid peer signature get 401 and change nothing", "[cluster]") {
  ServerProcess a(replica_config("node-a", {}));
  REQUIRE(a.start());
  auto before = root_of(a);
  REQUIRE(before);
  HttpClient client(a.base_url());
  std::string batch =
      R"({"v":1,"versions":[{"path":"x","uuid":"u","timestamp":1,"origin_node_id":"evil","origin_joined_timestamp":1,)"
      R"("expires_at":null,"owner_uuid":"","group_uuid":"","permissions":3856,"deleted":false,"data":"1"}]})";
  CHECK(client.request("POST", "/sync/push", batch).status == 401);
  CHECK(client.request("POST", "/sync/push", batch, {{"X-KVS-Peer-Signature", "v1.1.abc.AAAA"}}).status == 401);
  CHECK(client.request("POST", "/sync/bucket", R"({"v":1,"buckets":[1]})").status == 401);
  CHECK(get(a, "/kv/x").status == 404);
  CHECK(root_of(a) == before);
  CHECK(a.stop() == 0);
}

TEST_CASE("with clustering off the /sync/ routes are absent", "[cluster]") {
  ServerProcess lone;
  REQUIRE(lone.start());
  CHECK(get(lone, "/sync/merkle/root").status == 404);
  HttpClient client(lone.base_url());
  CHECK(client.request("POST", "/sync/push", "{}").status == 404);
  CHECK(lone.stop() == 0);
}
