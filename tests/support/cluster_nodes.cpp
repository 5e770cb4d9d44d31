#include "support/cluster_nodes.hpp"

#include <thread>

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

std::string address_of(const ServerProcess& server) { return "127.0.0.1:" + std::to_string(server.port()); }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kvs::test
