#include "support/cluster_nodes.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

namespace kvs::test {

ServerConfig cluster_node_config(const std::string& node_id, const std::vector<std::string>& seeds,
                                 const std::string& secret, const std::string& timings_yaml) {
  ServerConfig config;
  config.clustering_enabled = true;
  std::string yaml = "node_id: " + node_id + "\ncluster_secret: \"" + secret + "\"\n" + timings_yaml;
  if (!yaml.empty() && yaml.back() != '\n') yaml += '\n';
  if (!seeds.empty()) {
    yaml += "seed_nodes: [";
    for (std::size_t i = 0; i < seeds.size(); ++i) yaml += (i ? ", \"" : "\"") + seeds[i] + "\"";
    yaml += "]\n";
  }
  config.extra_yaml = yaml;
  return config;
}

std::string fast_cluster_timings(std::string_view failure_timeout, std::string_view removal_timeout) {
  return "gossip_interval_min: 100ms\n"
         "gossip_interval_max: 250ms\n"
         "failure_timeout: " + std::string(failure_timeout) + "\n"
         "removal_timeout: " + std::string(removal_timeout) + "\n"
         "sync_interval: 1s\n"
         "catchup_interval: 1s\n"
         "throttle_delay_ms: 5\n"
         "fetch_delay_ms: 5\n";
}

ClusterFixture::ClusterFixture(std::string secret, std::string timings)
    : secret_(std::move(secret)), timings_(std::move(timings)) {}

ClusterFixture::~ClusterFixture() = default;

ServerConfig ClusterFixture::config(const std::string& node_id, const std::vector<std::string>& seeds,
                                    const std::string& extra_yaml) const {
  return cluster_node_config(node_id, seeds, secret_, timings_ + extra_yaml);
}

ServerProcess& ClusterFixture::start(const std::string& node_id, const std::vector<std::string>& seeds) {
  return start(config(node_id, seeds));
}

ServerProcess& ClusterFixture::start(const ServerConfig& config) {
  nodes_.push_back(std::make_unique<ServerProcess>(config));
  ServerProcess& node = *nodes_.back();
  if (!node.start()) FAIL("a cluster node did not start; its log:\n" << node.stderr_text());
  return node;
}

std::vector<ServerProcess*> ClusterFixture::start_joined(const std::vector<std::string>& node_ids) {
  std::vector<ServerProcess*> started;
  std::vector<std::string> seeds;
  for (const auto& node_id : node_ids) {
    started.push_back(&start(node_id, seeds));
    seeds.push_back(address_of(*started.back()));
  }
  const auto count = static_cast<std::int64_t>(started.size());
  if (!eventually([&] { return all_count(started, count); })) FAIL("the nodes did not all join each other");
  return started;
}

HttpResponse get_from(const ServerProcess& server, const std::string& path) {
  HttpClient client(server.base_url());
  client.set_timeout(std::chrono::seconds(2));
  return client.get(path);
}

std::optional<std::int64_t> member_count(const ServerProcess& server) {
  return json_int(get_from(server, "/health").body, "/member_count");
}

bool all_count(const std::vector<ServerProcess*>& servers, std::int64_t count) {
  for (auto* server : servers) {
    if (member_count(*server) != count) return false;
  }
  return true;
}

std::optional<std::string> health_mode(const ServerProcess& server) {
  return json_string(get_from(server, "/health").body, "/mode");
}

bool lists_member(const ServerProcess& server, const std::string& node_id) {
  HttpResponse members = get_from(server, "/members/");
  return members.status == 200 && members.body.find("\"id\":\"" + node_id + "\"") != std::string::npos;
}

std::optional<std::string> live_document(const ServerProcess& server, const std::string& key) {
  HttpResponse response = get_from(server, "/kv/" + key);
  // The last member of the answer: its value runs to the closing brace.
  constexpr std::string_view kData = "\"data\":";
  auto at = response.body.rfind(kData);
  if (response.status != 200 || at == std::string::npos || response.body.back() != '}') return std::nullopt;
  at += kData.size();
  return response.body.substr(at, response.body.size() - 1 - at);
}

std::optional<std::string> merkle_root(const ServerProcess& server) {
  HttpResponse response = get_from(server, "/sync/merkle/root");
  if (response.status != 200) return std::nullopt;
  return json_string(response.body, "/root");
}

bool same_root(const std::vector<ServerProcess*>& servers) {
  std::optional<std::string> first;
  for (auto* server : servers) {
    auto root = merkle_root(*server);
    if (!root || root->size() != 64) return false;
    if (!first) first = root;
    if (*root != *first) return false;
  }
  return true;
}

double metric_value(const ServerProcess& server, const std::string& name) {
  std::string text = get_from(server, "/metrics").body;
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  at += name.size() + 2;
  return std::stod(text.substr(at, text.find('\n', at) - at));
}

std::string address_of(const ServerProcess& server) { return "127.0.0.1:" + std::to_string(server.port()); }

bool any_logged(const std::vector<ServerProcess*>& servers, const std::string& text) {
  return std::any_of(servers.begin(), servers.end(),
                     [&](const ServerProcess* server) { return server->stderr_text().find(text) != std::string::npos; });
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kvs::test
