#pragma once

// Helpers for tests that run several kvs-server processes as one cluster on loopback: the
// config of a node (its id, the shared secret, its seeds and the test's timings), a node's
// peer address, and bounded polling. Every wait is a poll with a deadline; no assertion is
// about speed.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

// The address peers use to reach `server` ("127.0.0.1:<port>").
std::string address_of(const ServerProcess& server);

// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kvs::test
