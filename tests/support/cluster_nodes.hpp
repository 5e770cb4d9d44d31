#pragma once

// Helpers for tests that run several kvs-server processes as one cluster on loopback: the
// config of a node (its id, the shared secret, its seeds and the test's timings), the
// ClusterFixture that starts and owns a test's nodes, a node's peer address, what the tests
// read from a node (/health, /members/, the Merkle root, a metric), and bounded polling. Every
// wait is a poll with a deadline; no assertion is about speed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

namespace kvs::test {

// A clustering node named `node_id`, sharing `secret`, joining through `seeds` (host:port),
// with `timings_yaml` (gossip, failure and sync settings, one "key: value" per line) appended.
// `secret` must be at least 32 bytes (SPEC section 4), else the server exits with status 2.
ServerConfig cluster_node_config(const std::string& node_id, const std::vector<std::string>& seeds,
                                 const std::string& secret, const std::string& timings_yaml);

// Timings that keep a cluster test quick, as YAML for cluster_node_config: gossip every 100 to
// 250 ms, anti-entropy and catch-up every second, sync pacing of 5 ms, and the given failure and
// removal timeouts (a test of a graceful leave wants them long, one of failure detection short).
std::string fast_cluster_timings(std::string_view failure_timeout = "1s", std::string_view removal_timeout = "3s");

// The nodes of one cluster test: they share one secret and one set of timings. The fixture
// owns the nodes it starts (a node still running at the end is killed with it); a test restarts
// or kills them through the references it gets.
class ClusterFixture {
 public:
  // Requires: `secret` is at least 32 bytes.
  explicit ClusterFixture(std::string secret, std::string timings = fast_cluster_timings());
  ~ClusterFixture();
  ClusterFixture(const ClusterFixture&) = delete;
  ClusterFixture& operator=(const ClusterFixture&) = delete;

  // The config of node `node_id` of this cluster, joining through `seeds`, with `extra_yaml`
  // appended (one "key: value" per line).
  ServerConfig config(const std::string& node_id, const std::vector<std::string>& seeds = {},
                      const std::string& extra_yaml = "") const;
  // Starts node `node_id` joining through `seeds`; fails the test unless it answers /health.
  ServerProcess& start(const std::string& node_id, const std::vector<std::string>& seeds = {});
  // Starts a node with a config of the test's own (a tweaked config()).
  ServerProcess& start(const ServerConfig& config);
  // Starts one node per id, each joining through every node started before it, then waits
  // (bounded) until each counts them all as members; fails the test otherwise.
  std::vector<ServerProcess*> start_joined(const std::vector<std::string>& node_ids);

  const std::string& secret() const noexcept { return secret_; }

 private:
  std::string secret_;
  std::string timings_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

// GET `path` from `server`, with a 2 s timeout so that a node being killed cannot stall a poll.
HttpResponse get_from(const ServerProcess& server, const std::string& path);

// /health's member_count; nullopt when the node does not answer it.
std::optional<std::int64_t> member_count(const ServerProcess& server);
// Whether every one of `servers` counts exactly `count` members.
bool all_count(const std::vector<ServerProcess*>& servers, std::int64_t count);
// /health's mode ("normal", "syncing", ...); nullopt when the node does not answer it.
std::optional<std::string> health_mode(const ServerProcess& server);
// Whether GET /members/ on `server` lists the node `node_id`.
bool lists_member(const ServerProcess& server, const std::string& node_id);

// The document of a live key (the "data" member of GET /kv/<key>), or nullopt.
std::optional<std::string> live_document(const ServerProcess& server, const std::string& key);

// The Merkle root of `server` (GET /sync/merkle/root); nullopt unless it answers 200.
std::optional<std::string> merkle_root(const ServerProcess& server);
// Whether every one of `servers` reports the same well-formed root.
bool same_root(const std::vector<ServerProcess*>& servers);

// The value of the unlabelled metric `name` in `server`'s /metrics; -1 when it is missing.
double metric_value(const ServerProcess& server, const std::string& name);

// Whether any of `servers` has written `text` to its standard error (its log) so far.
bool any_logged(const std::vector<ServerProcess*>& servers, const std::string& text);

// The address peers use to reach `server` ("127.0.0.1:<port>").
std::string address_of(const ServerProcess& server);

// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kvs::test
