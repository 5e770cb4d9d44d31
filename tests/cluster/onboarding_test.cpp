// Onboarding a node into a cluster, between real kvs-server processes on loopback (label
// cluster; SPEC section 2, "Cluster"): a joining node without the cluster's secret refuses to
// start; one with another secret says so (ERROR naming cluster_secret), stays syncing and makes
// no admin of its own, while its seed warns, rate-limited; seeds that never answer make it give
// up after bootstrap_timeout; GET /members/ is open; SIGTERM leaves the cluster gracefully; the
// operator subcommands never reach the seed. Every wait is a bounded poll; the one fixed wait
// (a negative check: nothing gives up) is a few multiples of a 1 s bootstrap_timeout. No
// assertion is about speed. What this does not cover: TLS between nodes, and the MACs of
// requests and answers (tests of their own).

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using namespace kvs::test;

namespace {

constexpr const char* kSecret = "onboarding-test-secret-7d3a91c4e05b2f68";
constexpr const char* kOtherSecret = "another-cluster-secret-0b8e5f27c6a4d913";

// Short timings, so that joins, gossip and give-ups happen within a test; failure_timeout is long,
// so that a member dropped quickly was dropped because it left, not because it went silent.
const std::string kTimings = kvs::test::fast_cluster_timings("60s", "120s");

ServerConfig node_config(const std::string& node_id, const std::vector<std::string>& seeds,
                         const std::string& secret = kSecret, const std::string& extra = "") {
  return ClusterFixture(secret, kTimings).config(node_id, seeds, extra);
}

// A clustering node with seeds and no cluster_secret line at all.
ServerConfig node_without_secret(const std::string& node_id, const std::vector<std::string>& seeds) {
  ServerConfig config;
  config.clustering_enabled = true;
  std::string yaml = "node_id: " + node_id + "\n" + kTimings + "seed_nodes: [";
  for (std::size_t i = 0; i < seeds.size(); ++i) yaml += (i ? ", \"" : "\"") + seeds[i] + "\"";
  config.extra_yaml = yaml + "]\n";
  return config;
}

HttpResponse get(const ServerProcess& server, const std::string& path) { return get_from(server, path); }

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

// The log lines of `text` that contain `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(needle) != std::string::npos) found.push_back(line);
  }
  return found;
}

}  // namespace

TEST_CASE("a node with seeds and no cluster secret refuses to start, saying where to copy it from", "[cluster]") {
  ServerProcess joiner(node_without_secret("lonely", {"127.0.0.1:" + std::to_string(free_port())}));
  joiner.spawn();
  auto status = joiner.wait_exit();
  REQUIRE(status.has_value());
  CHECK(*status == 2);
  std::string err = joiner.stderr_text();
  CHECK_THAT(err, Catch::Contains("cluster_secret"));
  CHECK_THAT(err, Catch::Contains("cluster.secret"));
  CHECK_THAT(err, Catch::Contains("Copy the first node"));
  // Nothing was generated: a later start with the cluster's file copied in uses that one.
  CHECK_FALSE(std::filesystem::exists(joiner.data_dir() + "/cluster.secret"));

  // The same node with the file copied from another node starts.
  std::filesystem::create_directories(joiner.data_dir());
  std::ofstream(joiner.data_dir() + "/cluster.secret") << kSecret << "\n";
  std::filesystem::permissions(joiner.data_dir() + "/cluster.secret", std::filesystem::perms::owner_read |
                                                                          std::filesystem::perms::owner_write);
  REQUIRE(joiner.start());
  CHECK(joiner.stop() == 0);
}

TEST_CASE("a node whose seed rejects its signature says so, stays syncing and makes no admin", "[cluster][auth]") {
  ServerConfig seed_config = node_config("seed", {});
  seed_config.auth_enabled = true;
  ServerProcess seed(seed_config);
  REQUIRE(seed.start());

  // Another secret, and a give-up time that passes several times over during the test.
  ServerConfig joiner_config = node_config("stranger", {address_of(seed)}, kOtherSecret, "bootstrap_timeout: 1s\n");
  joiner_config.auth_enabled = true;
  ServerProcess joiner(joiner_config);
  auto started_at = std::chrono::steady_clock::now();
  REQUIRE(joiner.start());

  REQUIRE(eventually([&] { return !lines_with(joiner.stderr_text(), "bootstrap.signature_rejected").empty(); }));
  auto rejected = lines_with(joiner.stderr_text(), "bootstrap.signature_rejected");
  CHECK_THAT(rejected.front(), Catch::Contains("ERROR"));
  CHECK_THAT(rejected.front(), Catch::Contains("cluster_secret"));

  // Well past bootstrap_timeout: still syncing, no admin, no cluster of its own.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(health_mode(joiner) == "syncing");
  CHECK_FALSE(std::filesystem::exists(joiner.data_dir() + "/admin.token"));
  CHECK(joiner.stderr_text().find("auth.admin_created") == std::string::npos);
  CHECK(joiner.stderr_text().find("bootstrap.gave_up") == std::string::npos);
  CHECK_FALSE(lists_member(seed, "stranger"));
  CHECK(get(joiner, "/health").body.find("\"member_count\":1") != std::string::npos);

  // The seed warns, naming the cause, at most once per remote address per 10 s although the
  // joiner knocks every second.
  auto warned = lines_with(seed.stderr_text(), "peer.signature_rejected");
  auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at).count();
  REQUIRE_FALSE(warned.empty());
  CHECK_THAT(warned.front(), Catch::Contains("WARN"));
  CHECK_THAT(warned.front(), Catch::Contains("cluster_secret"));
  CHECK(warned.size() <= static_cast<std::size_t>(elapsed_s / 10 + 1));

  CHECK(joiner.stop() == 0);
  CHECK(seed.stop() == 0);
}

TEST_CASE("a node whose seeds never answer gives up after bootstrap_timeout with a warning", "[cluster]") {
  ServerConfig config = node_config("early", {"127.0.0.1:" + std::to_string(free_port())}, kSecret,
                                    "bootstrap_timeout: 1s\n");
  config.auth_enabled = true;
  ServerProcess node(config);
  REQUIRE(node.start());
  REQUIRE(eventually([&] { return health_mode(node) == "normal"; }));
  auto gave_up = lines_with(node.stderr_text(), "bootstrap.gave_up");
  REQUIRE(gave_up.size() == 1);
  CHECK_THAT(gave_up.front(), Catch::Contains("WARN"));
  CHECK_THAT(gave_up.front(), Catch::Contains("bootstrap_timeout"));
  // A brand-new cluster starting together: this node goes on alone, with an admin.
  CHECK(eventually([&] { return std::filesystem::exists(node.data_dir() + "/admin.token"); }));
  // The dead seed is reported, not silently retried forever.
  CHECK(eventually([&] { return !lines_with(node.stderr_text(), "cluster.peer_unreachable").empty(); }));
  CHECK(node.stop() == 0);
}

TEST_CASE("GET /members/ is open with auth on, and exempt from rate limiting", "[cluster][auth]") {
  ServerConfig config = node_config("open", {}, kSecret, "rate_limit_requests: 2\n");
  config.auth_enabled = true;
  config.rate_limiting_enabled = true;
  ServerProcess node(config);
  REQUIRE(node.start());
  for (int i = 0; i < 6; ++i) {
    HttpResponse members = get(node, i % 2 ? "/members" : "/members/");
    INFO(members.body);
    REQUIRE(members.status == 200);
    CHECK(members.body.find("\"id\":\"open\"") != std::string::npos);
  }
  // The data routes still need a token, and leaving is still an admin's call.
  CHECK(get(node, "/kv/anything").status == 401);
  HttpClient client(node.base_url());
  CHECK(client.del("/members/leave").status == 401);
  CHECK(node.stop() == 0);
}

TEST_CASE("SIGTERM makes a clustered node leave: its peers drop it at once, not after failure_timeout",
          "[cluster]") {
  ClusterFixture cluster(kSecret, kTimings);
  ServerProcess& a = cluster.start("term-a");
  ServerProcess& b = cluster.start("term-b", {address_of(a)});
  ServerProcess& c = cluster.start("term-c", {address_of(a)});
  for (const ServerProcess* server : {&a, &b, &c}) {
    REQUIRE(eventually([&] { return lists_member(*server, "term-a") && lists_member(*server, "term-b") && lists_member(*server, "term-c"); }));
  }

  REQUIRE(c.stop() == 0);
  CHECK_THAT(c.stderr_text(), Catch::Contains("cluster.left"));
  // failure_timeout is 60 s: a member gone from both lists within 20 s has left, not been removed.
  CHECK(eventually([&] { return !lists_member(a, "term-c") && !lists_member(b, "term-c"); }, std::chrono::seconds(20)));
  CHECK(lists_member(a, "term-b"));
  CHECK(a.stderr_text().find("event=suspect id=term-c") == std::string::npos);

  // It comes back by starting again.
  REQUIRE(c.start());
  CHECK(eventually([&] { return lists_member(a, "term-c"); }));
  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("export and token with a clustered config never reach the seed", "[cluster][operator]") {
  ServerConfig seed_config = node_config("quiet-seed", {});
  seed_config.auth_enabled = true;
  ServerProcess seed(seed_config);
  REQUIRE(seed.start());

  // The operator's node: clustering on, the seed listed, the same secret; never started as a server.
  TempDir dir("kvs-operator");
  const std::string data_dir = (dir / "data").string();
  const std::string config_path = (dir / "config.yaml").string();
  std::ofstream(config_path) << "node_id: operator-node\n"
                             << "port: " << free_port() << "\n"
                             << "data_dir: \"" << data_dir << "\"\n"
                             << "backup_path: \"" << (dir / "backups").string() << "\"\n"
                             << "cluster_secret: \"" << kSecret << "\"\n"
                             << "seed_nodes: [\"" << address_of(seed) << "\"]\n"
                             << kTimings;

  auto exported = run_kvs_server({"export", "--config", config_path});
  INFO(exported.err);
  CHECK(exported.exit_code == 0);
  auto token = run_kvs_server({"token", "--config", config_path, "--user", "admin"});
  INFO(token.err);
  // No user exists there, and the command makes none: it fails, and writes no admin token.
  CHECK(token.exit_code != 0);
  CHECK_FALSE(std::filesystem::exists(data_dir + "/admin.token"));

  // The seed lists only itself, and served no peer request at all.
  HttpResponse members = get(seed, "/members/");
  REQUIRE(members.status == 200);
  CHECK(count_of(members.body, "\"id\":") == 1);
  std::string metrics = get(seed, "/metrics").body;
  CHECK(metrics.find("route=\"members_join\"") == std::string::npos);
  CHECK(metrics.find("route=\"members_gossip\"") == std::string::npos);
  CHECK(metrics.find("route=\"sync_") == std::string::npos);

  // Such a node started as a server does reach it: the checks above can see a join.
  ServerConfig joiner_config = node_config("operator-node", {address_of(seed)});
  joiner_config.auth_enabled = true;
  ServerProcess joiner(joiner_config);
  REQUIRE(joiner.start());
  CHECK(eventually([&] { return lists_member(seed, "operator-node"); }));
  CHECK(eventually([&] { return get(seed, "/metrics").body.find("route=\"members_join\"") != std::string::npos; }));
  CHECK(joiner.stop() == 0);
  CHECK(seed.stop() == 0);
}
