// Cluster membership between real kvs-server processes on loopback (label cluster): formation,
// failure detection after SIGKILL, a restart that rejoins with its old joined_timestamp, a
// graceful leave, and peer authentication. Timers are sub-second so that a run takes seconds;
// every wait is a bounded poll, and no assertion is about speed.

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace kvs::test;

namespace {

constexpr const char* kSecret = "cluster-test-secret-5f2c8a7e1b9d4c3a";

struct MemberView {
  std::string id;
  std::string address;
  std::int64_t joined_timestamp = 0;
  std::string status;
};

// GET /members/ as a list; nullopt when the node does not answer 200 with a well-formed list.
std::optional<std::vector<MemberView>> members_of(const ServerProcess& server) {
  HttpClient client(server.base_url());
  client.set_timeout(std::chrono::seconds(2));
  HttpResponse response = client.get("/members/");
  if (response.status != 200) return std::nullopt;
  auto count = json_size(response.body, "");
  if (!count) return std::nullopt;
  std::vector<MemberView> members;
  for (std::size_t i = 0; i < *count; ++i) {
    std::string at = "/" + std::to_string(i);
    auto id = json_string(response.body, at + "/id");
    auto address = json_string(response.body, at + "/address");
    auto joined = json_int(response.body, at + "/joined_timestamp");
    auto status = json_string(response.body, at + "/status");
    auto last_seen = json_int(response.body, at + "/last_seen");
    if (!id || !address || !joined || !status || !last_seen) return std::nullopt;
    members.push_back({*id, *address, *joined, *status});
  }
  return members;
}

const MemberView* find(const std::vector<MemberView>& members, const std::string& id) {
  for (const auto& member : members) {
    if (member.id == id) return &member;
  }
  return nullptr;
}

// Every server lists exactly `ids`, all alive.
bool all_see_alive(const std::vector<ServerProcess*>& servers, const std::vector<std::string>& ids) {
  for (auto* server : servers) {
    auto members = members_of(*server);
    if (!members || members->size() != ids.size()) return false;
    for (const auto& id : ids) {
      const MemberView* member = find(*members, id);
      if (member == nullptr || member->status != "alive") return false;
    }
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

}  // namespace

TEST_CASE("three servers form a cluster, a killed one is suspected then removed, and it rejoins after a restart",
          "[cluster]") {
  // Sub-second gossip; a member is suspect after 1 s of silence and removed after 3 s.
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start("node-a");
  ServerProcess& b = cluster.start("node-b", {address_of(a)});
  ServerProcess& c = cluster.start("node-c", {address_of(a), address_of(b)});
  std::vector<ServerProcess*> all{&a, &b, &c};
  const std::vector<std::string> ids{"node-a", "node-b", "node-c"};

  REQUIRE(eventually([&] { return all_see_alive(all, ids); }));
  for (auto* server : all) CHECK(member_count(*server) == 3);
  auto before = members_of(a);
  REQUIRE(before);
  const std::int64_t c_joined = find(*before, "node-c")->joined_timestamp;
  CHECK(c_joined > 0);
  // Every node reports the same joined_timestamp for node-c.
  for (auto* server : all) {
    auto members = members_of(*server);
    REQUIRE(members);
    CHECK(find(*members, "node-c")->joined_timestamp == c_joined);
  }

  // SIGKILL: no goodbye. Both survivors must see node-c suspect, then drop it.
  c.kill();
  bool suspected_on_a = false;
  bool suspected_on_b = false;
  REQUIRE(eventually([&] {
    for (auto [server, seen] : {std::pair{&a, &suspected_on_a}, std::pair{&b, &suspected_on_b}}) {
      auto members = members_of(*server);
      if (!members) return false;
      const MemberView* member = find(*members, "node-c");
      if (member != nullptr && member->status == "suspect") *seen = true;
    }
    return suspected_on_a && suspected_on_b;
  }));
  CHECK(member_count(a) == 2);
  REQUIRE(eventually([&] { return all_see_alive({&a, &b}, {"node-a", "node-b"}); }));
  CHECK(member_count(b) == 2);

  // The audit log of node-a recorded node-c's arrival and its removal (auth is off here, so
  // the log is open).
  {
    HttpClient client(a.base_url());
    auto audit = client.get("/audit?limit=1000");
    REQUIRE(audit.status == 200);
    CHECK(audit.body.find(R"("actor":"node:node-c","action":"member.join","path":"members/node-c")") != std::string::npos);
    CHECK(audit.body.find(R"("actor":"node:node-c","action":"member.leave","path":"members/node-c")") != std::string::npos);
    CHECK(kvs::test::json_bool(client.get("/audit/verify").body, "/ok") == true);
  }

  // The same data_dir (and node_id) comes back, on a new port: the cluster takes it in again,
  // with its first joined_timestamp and its new address.
  REQUIRE(c.start());
  REQUIRE(eventually([&] { return all_see_alive(all, ids); }));
  for (auto* server : all) {
    auto members = members_of(*server);
    REQUIRE(members);
    const MemberView* member = find(*members, "node-c");
    REQUIRE(member != nullptr);
    CHECK(member->joined_timestamp == c_joined);
    CHECK(member->address == address_of(c));
    CHECK(member_count(*server) == 3);
  }

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("a node that leaves is dropped by its peers at once and then runs alone", "[cluster]") {
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start("node-a");
  ServerProcess& b = cluster.start("node-b", {address_of(a)});
  REQUIRE(eventually([&] { return all_see_alive({&a, &b}, {"node-a", "node-b"}); }));

  HttpClient client(b.base_url());
  CHECK(client.del("/members/leave").status == 204);
  // Well within failure_timeout (1 s): the leave, not silence, removed it.
  REQUIRE(eventually([&] { return all_see_alive({&a}, {"node-a"}); }, std::chrono::milliseconds(900)));
  REQUIRE(eventually([&] { return all_see_alive({&b}, {"node-b"}); }));
  CHECK(member_count(b) == 1);
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE("unsigned or wrongly signed peer requests get 401 and a node with another secret never joins",
          "[cluster]") {
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start("node-a");
  HttpClient client(a.base_url());
  std::string join = R"({"v":1,"type":"join","member":{"id":"intruder","address":"127.0.0.1:1","joined_ms":1,)"
                     R"("incarnation":1,"heartbeat":1,"state":"alive"}})";
  auto unsigned_join = client.request("POST", "/members/join", join, {{"Content-Type", "application/json"}});
  CHECK(unsigned_join.status == 401);
  CHECK(json_string(unsigned_join.body, "/code") == "unauthenticated");
  auto forged = client.request("POST", "/members/gossip", join,
                               {{"Content-Type", "application/json"},
                                {"X-KVS-Peer-Signature", "v1.1700000000000.abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}});
  CHECK(forged.status == 401);

  ClusterFixture other_cluster("another-secret-entirely-000000000000");
  ServerProcess& outsider = other_cluster.start("outsider", {address_of(a)});
  // Bounded wait: several join retries (100..250 ms apart) have gone by.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (auto* server : {&a, &outsider}) {
    auto members = members_of(*server);
    REQUIRE(members);
    CHECK(members->size() == 1);
  }
  CHECK(find(*members_of(a), "intruder") == nullptr);
  CHECK(outsider.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("with clustering off the /members/ routes are absent", "[cluster]") {
  ServerProcess server;  // clustering_enabled: false
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  CHECK(client.get("/members/").status == 404);
  CHECK(client.request("POST", "/members/gossip", "{}").status == 404);
  CHECK(client.del("/members/leave").status == 404);
  CHECK(json_int(client.get("/health").body, "/member_count") == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("with auth on, GET /members/ is open and leaving needs the admin scope", "[cluster]") {
  ClusterFixture cluster(kSecret);
  ServerConfig config = cluster.config("node-a");
  config.auth_enabled = true;
  ServerProcess& a = cluster.start(config);
  std::string token = read_file(a.data_dir() + "/admin.token");
  REQUIRE(!token.empty());
  HttpClient client(a.base_url());
  // Open like /health (SPEC): a plain curl of it checks a cluster's formation.
  auto listed = client.get("/members/");
  CHECK(listed.status == 200);
  CHECK(json_string(listed.body, "/0/id") == "node-a");
  CHECK(client.del("/members/leave").status == 401);
  CHECK(client.del("/members/leave", {{"Authorization", "Bearer " + token}}).status == 204);
  CHECK(a.stop() == 0);
}
