// cluster_process_bench: real-process membership on loopback. Starts N kvs-server processes
// (default 5) with gossip every 100-250 ms, suspect after 1 s, removed after 3 s; node 1 has no
// seeds, every other node seeds node 1. Per run it prints the time from the first spawn until
// every node's GET /members/ lists all N alive (formation), then SIGKILLs the last node and
// prints the time until every survivor shows it suspect, and until every survivor has removed
// it. The figures depend on those timers (and on the machine); they are for comparison between
// builds, not a contract.
//
//   cluster_process_bench [--server PATH] [--nodes N] [--runs R]
//
// PATH defaults to ../kvs-server/kvs-server next to this program (the build tree's layout).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using kvs::test::HttpClient;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;

// GET /members/ ; "" on any failure.
std::string get_members(const ServerProcess& node) {
  HttpClient client(node.base_url());
  client.set_timeout(std::chrono::milliseconds(1000));
  auto response = client.get("/members/");
  return response.status == 200 ? response.body : "";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

// Polls every 10 ms; the elapsed ms since `since`, or -1 after `limit`.
double until(const std::function<bool()>& condition, Clock::time_point since, std::chrono::seconds limit) {
  while (!condition()) {
    if (Clock::now() - since > limit) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = kvs::bench::default_server_binary(argv[0]);
  int n = 5;
  int runs = 3;
  kvs::bench::Flags flags(argc, argv, "usage: cluster_process_bench [--server PATH] [--nodes N] [--runs R]");
  while (flags.next()) {
    if (flags.is("--server")) server = flags.value();
    else if (flags.is("--nodes")) n = std::max(2, static_cast<int>(flags.integer()));
    else if (flags.is("--runs")) runs = std::max(1, static_cast<int>(flags.integer()));
    else flags.unknown();
  }
  server = kvs::bench::server_binary_or_exit(server, "cluster_process_bench");
  std::printf("kvs-server processes on loopback: %d nodes, gossip 100-250 ms, failure 1 s, removal 3 s\n", n);
  std::printf("%4s %14s %14s %14s\n", "run", "formation_ms", "suspect_ms", "removed_ms");
  int exit_code = 0;
  for (int run = 1; run <= runs; ++run) {
    // Each node in its own temp dir (config, data, stderr log), removed with it.
    std::vector<std::unique_ptr<ServerProcess>> nodes;
    std::vector<std::string> ids;
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
      ids.push_back("bench-" + std::to_string(i + 1));
      ServerConfig config;
      config.binary = server;
      config.clustering_enabled = true;
      config.log_level = "warn";
      config.extra_yaml = "node_id: " + ids.back() +
                          "\nbackup_enabled: false\ntamper_logging_enabled: false\ncluster_secret: \"bench-secret-0123456789abcdef0123456789\"\n"
                          "gossip_interval_min: 100ms\ngossip_interval_max: 250ms\nfailure_timeout: 1s\nremoval_timeout: 3s\n";
      if (i > 0) config.extra_yaml += "seed_nodes: [\"127.0.0.1:" + std::to_string(nodes[0]->port()) + "\"]\n";
      nodes.push_back(std::make_unique<ServerProcess>(config));
      nodes.back()->spawn();
    }
    auto every = [&](std::size_t upto, const std::function<bool(const std::string&)>& check) {
      for (std::size_t i = 0; i < upto; ++i) {
        std::string body = get_members(*nodes[i]);
        if (body.empty() || !check(body)) return false;
      }
      return true;
    };
    auto un = static_cast<std::size_t>(n);
    double formation = until([&] { return every(un, [&](const std::string& body) {
                               return count_of(body, "\"status\":\"alive\"") == un; }); },
                             start, std::chrono::seconds(60));
    double suspect = -1;
    double removed = -1;
    if (formation >= 0) {
      const std::string victim = "\"id\":\"" + ids.back() + "\"";
      nodes.back()->kill();
      auto killed = Clock::now();
      suspect = until([&] { return every(un - 1, [&](const std::string& body) {
                         auto at = body.find(victim);
                         if (at == std::string::npos) return true;  // already removed
                         return body.substr(at, body.find('}', at) - at).find("\"suspect\"") != std::string::npos; }); },
                      killed, std::chrono::seconds(60));
      removed = until([&] { return every(un - 1, [&](const std::string& body) { return body.find(victim) == std::string::npos; }); },
                      killed, std::chrono::seconds(60));
    }
    std::printf("%4d %14.0f %14.0f %14.0f\n", run, formation, suspect, removed);
    if (formation < 0 || suspect < 0 || removed < 0) exit_code = 1;
    for (auto& node : nodes) node->stop();
  }
  return exit_code;
}
