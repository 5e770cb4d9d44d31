// three_node_cluster: clustering kvs inside another program, without kvs-server. It opens three
// kvs::Nodes in one process, each on its own temporary data directory and its own loopback
// HTTP port; the application serves the two peer routes (POST /members/join and
// /members/gossip) with cpp-httplib and hands each request to Node::handle_peer_request, which
// checks the cluster-secret HMAC. Nodes 2 and 3 join through node 1. The program prints
// membership changes as they happen, waits until every node sees all three alive, lets node 3
// leave gracefully, waits until the others have dropped it, and exits 0 (1 on any failure or
// after 30 s without the expected view).
//
// Build it against an installed kvs (and cpp-httplib, header-only):
//   find_package(kvs CONFIG REQUIRED)
//   target_link_libraries(three_node_cluster PRIVATE kvs::kvs)   # plus cpp-httplib's flags

#include <kvs/kvs.hpp>

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex print_mutex;

void say(const std::string& line) {
  std::lock_guard lock(print_mutex);
  std::cout << line << std::endl;
}

// A kvs::Node with the HTTP server its peers talk to.
struct ClusterNode {
  std::unique_ptr<httplib::Server> http;
  std::unique_ptr<kvs::Node> node;
  std::thread serving;
  std::string address;
};

int status_for(const kvs::Status& status) {
  switch (status.code()) {
    case kvs::Status::Code::kUnauthenticated: return 401;
    case kvs::Status::Code::kTooLarge: return 413;
    case kvs::Status::Code::kUnavailable: return 503;
    default: return 400;
  }
}

// Each peer route is one call into the node; every answer, error or not, carries the node's
// answer signature, without which peers discard it.
void serve_peer_routes(httplib::Server& http, kvs::Node& node) {
  auto peer = [&node](const httplib::Request& request, httplib::Response& response) {
    std::string signature = request.get_header_value(std::string(kvs::peer_protocol::kSignatureHeader));
    kvs::PeerRequest peer_request{request.method, request.target, request.body, signature};
    auto answer = node.handle_peer_request(peer_request);
    if (!answer.is_ok()) {
      response.status = status_for(answer.status());
      response.set_content("{\"error\":\"" + std::string(answer.status().code_name()) + "\"}", "application/json");
    } else {
      response.status = answer->status;
      response.set_content(answer->body, "application/json");
    }
    for (const auto& header : node.peer_answer_headers(peer_request, response.status, response.body)) {
      response.set_header(header.name, header.value);
    }
  };
  http.Post(std::string(kvs::peer_protocol::kJoin), peer);
  http.Post(std::string(kvs::peer_protocol::kGossip), peer);
}

bool sees_alive(const kvs::Node& node, std::size_t count) {
  auto members = node.members();
  if (members.size() != count) return false;
  for (const auto& member : members) {
    if (member.status != kvs::MemberStatus::kAlive) return false;
  }
  return true;
}

bool wait_for(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void print_members(const std::string& title, const kvs::Node& node) {
  say(title);
  for (const auto& member : node.members()) {
    say("  " + member.id + "  " + member.address + "  " + std::string(to_string(member.status)) +
        "  joined_timestamp=" + std::to_string(member.joined_timestamp_ms) + (member.is_self ? "  (self)" : ""));
  }
}

}  // namespace

int main() {
  std::string pattern = (std::filesystem::temp_directory_path() / "kvs-cluster-example-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "three_node_cluster: cannot create a temporary directory\n";
    return 1;
  }
  const std::filesystem::path dir = pattern;

  std::vector<ClusterNode> nodes(3);
  int exit_code = 1;
  {
    // Stops the HTTP servers and closes the nodes on every path out of this block.
    struct Shutdown {
      std::vector<ClusterNode>& nodes;
      std::filesystem::path dir;
      ~Shutdown() {
        for (auto& n : nodes) {
          if (n.http) n.http->stop();
          if (n.serving.joinable()) n.serving.join();
        }
        for (auto& n : nodes) n.node.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    } shutdown{nodes, dir};

    for (std::size_t i = 0; i < nodes.size(); ++i) {
      ClusterNode& n = nodes[i];
      n.http = std::make_unique<httplib::Server>();
      // Peers keep their connections alive between gossip rounds; a short idle timeout lets
      // stop() return soon instead of waiting out httplib's default 5 s for each of them.
      n.http->set_keep_alive_timeout(1);
      int port = n.http->bind_to_any_port("127.0.0.1");
      if (port <= 0) {
        std::cerr << "three_node_cluster: cannot bind a loopback port\n";
        return 1;
      }
      n.address = "127.0.0.1:" + std::to_string(port);

      kvs::Config config;
      config.node_id = "node-" + std::to_string(i + 1);
      config.bind_address = "127.0.0.1";
      config.port = static_cast<std::uint16_t>(port);
      config.data_dir = (dir / config.node_id).string();
      config.cluster_secret = "three-node-example-secret-change-me";  // the same on every node
      config.auth_enabled = false;
      config.backup_enabled = false;
      config.tamper_logging_enabled = false;
      config.rate_limiting_enabled = false;
      config.gossip_interval_min = std::chrono::milliseconds(200);
      config.gossip_interval_max = std::chrono::milliseconds(400);
      config.failure_timeout = std::chrono::seconds(2);
      config.removal_timeout = std::chrono::seconds(4);
      if (i > 0) config.seed_nodes = {nodes[0].address};

      auto opened = kvs::Node::open(config);
      if (!opened.is_ok()) {
        std::cerr << "three_node_cluster: open " << config.node_id << ": " << opened.status().to_string() << "\n";
        return 1;
      }
      n.node = std::move(*opened);
      std::string self = config.node_id;
      n.node->set_member_observer([self](const kvs::MemberEvent& event) {
        say(self + ": " + event.member.id + " " + std::string(to_string(event.kind)));
      });
      serve_peer_routes(*n.http, *n.node);
      httplib::Server* http = n.http.get();
      n.serving = std::thread([http] { http->listen_after_bind(); });
    }

    if (!wait_for([&] {
          for (auto& n : nodes) {
            if (!sees_alive(*n.node, 3)) return false;
          }
          return true;
        })) {
      std::cerr << "three_node_cluster: the cluster did not form\n";
      return 1;
    }
    print_members("node-1 sees:", *nodes[0].node);
    say("node-1 health: member_count=" + std::to_string(nodes[0].node->health().member_count));

    kvs::Status left = nodes[2].node->leave();
    if (!left.is_ok()) {
      std::cerr << "three_node_cluster: leave: " << left.to_string() << "\n";
      return 1;
    }
    if (!wait_for([&] { return sees_alive(*nodes[0].node, 2) && sees_alive(*nodes[1].node, 2); })) {
      std::cerr << "three_node_cluster: node-3's leave did not reach the others\n";
      return 1;
    }
    print_members("after node-3 left, node-1 sees:", *nodes[0].node);
    exit_code = 0;
  }
  return exit_code;
}
