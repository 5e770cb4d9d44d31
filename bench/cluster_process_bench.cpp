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

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::size_t append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET http://127.0.0.1:port/members/ ; "" on any failure.
std::string get_members(CURL* curl, int port) {
  std::string body;
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/members/";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  if (curl_easy_perform(curl) != CURLE_OK) return "";
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status == 200 ? body : "";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

struct Node {
  std::string id;
  int port = 0;
  pid_t pid = -1;
};

// Polls every 10 ms; the elapsed ms since `since`, or -1 after `limit`.
double until(const std::function<bool()>& condition, Clock::time_point since, std::chrono::seconds limit) {
  while (!condition()) {
    if (Clock::now() - since > limit) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

void stop(Node& node, int signal) {
  if (node.pid <= 0) return;
  ::kill(node.pid, signal);
  ::waitpid(node.pid, nullptr, 0);
  node.pid = -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = (std::filesystem::path(argv[0]).parent_path() / ".." / "kvs-server" / "kvs-server").string();
  int n = 5;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--server") server = argv[i + 1];
    else if (flag == "--nodes") n = std::max(2, std::atoi(argv[i + 1]));
    else if (flag == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
  }
  if (!std::filesystem::exists(server)) {
    std::fprintf(stderr, "cluster_process_bench: no kvs-server at %s (use --server PATH)\n", server.c_str());
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  std::printf("kvs-server processes on loopback: %d nodes, gossip 100-250 ms, failure 1 s, removal 3 s\n", n);
  std::printf("%4s %14s %14s %14s\n", "run", "formation_ms", "suspect_ms", "removed_ms");
  int exit_code = 0;
  for (int run = 1; run <= runs; ++run) {
    std::string pattern = (std::filesystem::temp_directory_path() / "kvs-cluster-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return 1;
    std::filesystem::path dir = pattern;
    std::vector<Node> nodes(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      nodes[static_cast<std::size_t>(i)] = Node{"bench-" + std::to_string(i + 1), free_port(), -1};
    }
    auto start = Clock::now();
    for (auto& node : nodes) {
      auto config = dir / (node.id + ".yaml");
      std::ofstream out(config);
      out << "node_id: " << node.id << "\nbind_address: 127.0.0.1\nport: " << node.port << "\n"
          << "data_dir: \"" << (dir / node.id).string() << "\"\nbackup_path: \"" << (dir / "backups").string() << "\"\n"
          << "log_level: warn\nauth_enabled: false\nrate_limiting_enabled: false\nbackup_enabled: false\n"
          << "tamper_logging_enabled: false\nclustering_enabled: true\ncluster_secret: \"bench-secret\"\n"
          << "gossip_interval_min: 100ms\ngossip_interval_max: 250ms\nfailure_timeout: 1s\nremoval_timeout: 3s\n";
      if (&node != &nodes[0]) out << "seed_nodes: [\"127.0.0.1:" << nodes[0].port << "\"]\n";
      out.close();
      std::string config_path = config.string();
      std::string log_path = (dir / (node.id + ".log")).string();
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      char* args[] = {server.data(), config_path.data(), nullptr};
      if (::posix_spawn(&node.pid, server.c_str(), &actions, nullptr, args, environ) != 0) node.pid = -1;
      posix_spawn_file_actions_destroy(&actions);
    }
    auto every = [&](std::size_t upto, const std::function<bool(const std::string&)>& check) {
      for (std::size_t i = 0; i < upto; ++i) {
        std::string body = get_members(curl, nodes[i].port);
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
      const std::string victim = "\"id\":\"" + nodes.back().id + "\"";
      stop(nodes.back(), SIGKILL);
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
    for (auto& node : nodes) stop(node, SIGTERM);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  return exit_code;
}
