// Bootstrap between real kvs-server processes on loopback (label cluster): a new node with a
// seed and an empty store is "syncing" (client writes 503 with Retry-After) until it has pulled
// the seed's versions, then "normal" with every key; a restart does not sync again. The seed
// is held with SIGSTOP while the new node starts, so that syncing is observed whatever the
// machine's speed; every wait is a bounded poll and no assertion is about speed.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace kvs::test;

namespace {

constexpr const char* kSecret = "bootstrap-test-secret-5c2f9e7a1d";
// A new node must have time to sync before anyone suspects it.
const std::string kTimings = fast_cluster_timings("5s", "10s");

HttpResponse get(const ServerProcess& server, const std::string& path) { return get_from(server, path); }

HttpResponse put(const ServerProcess& server, const std::string& key, const std::string& json) {
  HttpClient client(server.base_url());
  client.set_timeout(std::chrono::seconds(2));
  return client.put("/kv/" + key, json);
}

}  // namespace

TEST_CASE("a new node with a seed syncs before it takes writes, then holds every key", "[cluster]") {
  ClusterFixture cluster(kSecret, kTimings);
  ServerProcess& a = cluster.start("node-a");
  ServerProcess& b = cluster.start("node-b", {address_of(a)});
  REQUIRE(eventually([&] { return health_mode(b) == "normal"; }));

  for (int i = 0; i < 40; ++i) REQUIRE(put(i % 2 ? a : b, "docs/" + std::to_string(i), std::to_string(i)).status == 200);
  for (int i = 0; i < 5; ++i) {
    HttpClient client((i % 2 ? a : b).base_url());  // the node that wrote it
    REQUIRE(client.del("/kv/docs/" + std::to_string(i)).status == 204);
  }
  REQUIRE(eventually([&] { auto ra = merkle_root(a); return ra && ra == merkle_root(b); }));

  // The seed answers nothing while stopped: the new node stays syncing, deterministically.
  a.send_signal(SIGSTOP);
  ServerProcess c(cluster.config("node-c", {address_of(a)}));
  bool started = c.start();
  if (!started) a.send_signal(SIGCONT);
  REQUIRE(started);
  CHECK(health_mode(c) == "syncing");
  HttpResponse refused = put(c, "docs/new", "1");
  CHECK(refused.status == 503);
  CHECK(json_string(refused.body, "/code") == "unavailable");
  CHECK_FALSE(refused.header("Retry-After").empty());
  CHECK(get(c, "/kv/docs/new").status == 404);
  a.send_signal(SIGCONT);

  REQUIRE(eventually([&] { return health_mode(c) == "normal"; }));
  // Every version, tombstones included, came over: the same root as the seed's.
  CHECK(eventually([&] { auto rc = merkle_root(c); return rc && rc == merkle_root(a); }));
  HttpResponse health = get(c, "/health");
  CHECK(json_int(health.body, "/sync_progress/keys").value_or(0) >= 40);
  CHECK(json_int(health.body, "/sync_progress/bytes").value_or(0) > 0);
  CHECK(json_string(get(c, "/kv/docs/39").body, "/uuid").has_value());
  CHECK(get(c, "/kv/docs/3").status == 404);  // deleted on b before c existed: stays deleted
  CHECK(c.stderr_text().find("bootstrap.done") != std::string::npos);
  CHECK(c.stderr_text().find("bootstrap.progress") != std::string::npos);
  CHECK(put(c, "docs/new", "1").status == 200);

  // A restart of a node that has synced is normal at once (its store decides, at open).
  REQUIRE(c.stop() == 0);
  REQUIRE(c.start());
  CHECK(health_mode(c) == "normal");
  CHECK(put(c, "docs/after-restart", "2").status == 200);

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("with auth on, a node that bootstraps takes the cluster's users instead of making an admin",
          "[cluster][auth]") {
  ClusterFixture cluster(kSecret, kTimings);
  ServerConfig seed_config = cluster.config("auth-a");
  seed_config.auth_enabled = true;
  ServerProcess& a = cluster.start(seed_config);
  std::ifstream token_file(a.data_dir() + "/admin.token");
  std::string token;
  std::getline(token_file, token);
  REQUIRE_FALSE(token.empty());
  HttpClient client_a(a.base_url());
  REQUIRE(client_a.put("/kv/shared", "1", {{"Authorization", "Bearer " + token}}).status == 200);

  ServerConfig joiner_config = cluster.config("auth-b", {address_of(a)});
  joiner_config.auth_enabled = true;
  ServerProcess& b = cluster.start(joiner_config);
  REQUIRE(eventually([&] { return health_mode(b) == "normal"; }));
  // b made no admin of its own: a's admin (and its token) is the cluster's.
  CHECK_FALSE(std::filesystem::exists(b.data_dir() + "/admin.token"));
  HttpClient client_b(b.base_url());
  auto users = client_b.get("/auth/users", {{"Authorization", "Bearer " + token}});
  REQUIRE(users.status == 200);
  CHECK(kvs::test::json_size(users.body, "") == 1u);
  CHECK(json_string(users.body, "/0/nickname") == "admin");
  CHECK(client_b.get("/kv/shared", {{"Authorization", "Bearer " + token}}).status == 200);
}
