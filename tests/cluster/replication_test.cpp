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

using namespace kvs::test;

namespace {

constexpr const char* kSecret = "replication-test-secret-8d1e0c4b2a";

HttpResponse get(const ServerProcess& server, const std::string& path) { return get_from(server, path); }

long put(const ServerProcess& server, const std::string& key, const std::string& json) {
  HttpClient client(server.base_url());
  return client.put("/kv/" + key, json).status;
}

long remove(const ServerProcess& server, const std::string& key) {
  HttpClient client(server.base_url());
  return client.del("/kv/" + key).status;
}

}  // namespace

TEST_CASE("a write on one node is readable on the others and a delete stays deleted", "[cluster]") {
  ClusterFixture cluster(kSecret);
  const std::vector<ServerProcess*> all = cluster.start_joined({"node-a", "node-b", "node-c"});
  ServerProcess& a = *all[0];
  ServerProcess& b = *all[1];
  ServerProcess& c = *all[2];

  REQUIRE(put(a, "users/john", R"({"age":42})") == 200);
  for (auto* server : {&b, &c}) {
    CHECK(eventually([&] {
      return live_document(*server, "users/john") == R"({"age":42})";
    }, std::chrono::seconds(10)));
  }

  // An overwrite on another node replaces it everywhere; then a delete wins everywhere.
  REQUIRE(put(c, "users/john", R"({"age":43})") == 200);
  for (auto* server : {&a, &b}) {
    CHECK(eventually([&] { return live_document(*server, "users/john") == R"({"age":43})"; },
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
  ClusterFixture cluster(kSecret);
  const std::vector<ServerProcess*> all = cluster.start_joined({"node-a", "node-b", "node-c"});
  ServerProcess& a = *all[0];
  ServerProcess& b = *all[1];
  ServerProcess& c = *all[2];

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
    return metric_value(a, "kvs_replication_queue_depth") == 0 && metric_value(b, "kvs_replication_queue_depth") == 0;
  }));
  REQUIRE(c.start());
  REQUIRE(eventually([&] { return same_root(all); }));
  for (auto* server : all) {
    HttpResponse root = get(*server, "/sync/merkle/root");
    CHECK(json_int(root.body, "/keys") == 90);
  }
  CHECK(live_document(c, "during/59") == "59");
  CHECK(live_document(c, "before/3") == "\"changed\"");
  CHECK(get(c, "/kv/before/22").status == 404);
  CHECK(live_document(c, "before/27") == "27");
  // The repair went through Merkle anti-entropy. The repairing node logs its round after it
  // has applied what it fetched: the line may trail the equal roots by a moment.
  CHECK(eventually([&] { return any_logged(all, "anti_entropy.repaired"); }));
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
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start("node-a");
  auto before = merkle_root(a);
  REQUIRE(before);
  HttpClient client(a.base_url());
  std::string batch =
      R"({"v":1,"versions":[{"path":"x","uuid":"u","timestamp":1,"origin_node_id":"evil","origin_joined_timestamp":1,)"
      R"("expires_at":null,"owner_uuid":"","group_uuid":"","permissions":3856,"deleted":false,"data":"1"}]})";
  CHECK(client.request("POST", "/sync/push", batch).status == 401);
  CHECK(client.request("POST", "/sync/push", batch, {{"X-KVS-Peer-Signature", "v1.1.abc.AAAA"}}).status == 401);
  CHECK(client.request("POST", "/sync/bucket", R"({"v":1,"buckets":[1]})").status == 401);
  CHECK(get(a, "/kv/x").status == 404);
  CHECK(merkle_root(a) == before);
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
