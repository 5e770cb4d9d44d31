// replication_bench: push replication and anti-entropy between three real kvs-server processes
// on loopback (auth off, clustering on, gossip every 100-250 ms, sync rounds every 500 ms).
//
//   (a) push lag: W sequential PUTs on node A; for each, the time from A's 200 until a GET on
//       node B returns the new document (B polled without sleeping); p50/p90/p99/max.
//   (b) anti-entropy repair: node C is SIGKILLed; once A has removed C from its members, N keys are
//       written to A; C is restarted on its data dir and the time from its /health answering
//       until its GET /sync/merkle/root equals A's is printed, with keys repaired per second.
//       A holds no push queue for a removed member, so the repair is the Merkle path (the first
//       round comes at most 500 ms after start, then every 500 ms while behind).
//
// The figures depend on the timers above and on the machine; they are for comparison between
// builds, not a contract. Every wait is bounded; children are SIGKILLed on every exit path.
//
//   replication_bench [--server PATH] [--writes W] [--keys N]
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
#include <csignal>
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

// One keep-alive connection to one node.
class Http {
 public:
  explicit Http(int port) : base_("http://127.0.0.1:" + std::to_string(port)), curl_(curl_easy_init()) {}
  ~Http() { curl_easy_cleanup(curl_); }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // The status (0 when the request failed) and the body in `body`.
  long request(const char* method, const std::string& path, const std::string* payload, std::string& body) {
    body.clear();
    std::string url = base_ + path;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_slist* headers = nullptr;
    if (payload != nullptr) {
      headers = curl_slist_append(headers, "Content-Type: application/json");
      curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, payload->c_str());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload->size()));
    }
    long status = 0;
    if (curl_easy_perform(curl_) == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return status;
  }
  long get(const std::string& path, std::string& body) { return request("GET", path, nullptr, body); }
  long put(const std::string& path, const std::string& payload) {
    std::string body;
    return request("PUT", path, &payload, body);
  }

 private:
  std::string base_;
  CURL* curl_;
};

struct Node {
  std::string id;
  int port = 0;
  pid_t pid = -1;
  std::filesystem::path config;
  std::filesystem::path log;
};

std::vector<Node>* g_nodes = nullptr;

void kill_all() {
  if (g_nodes == nullptr) return;
  for (auto& node : *g_nodes) {
    if (node.pid > 0) {
      ::kill(node.pid, SIGKILL);
      ::waitpid(node.pid, nullptr, 0);
      node.pid = -1;
    }
  }
}

void on_signal(int) {
  kill_all();
  std::_Exit(130);
}

bool spawn(const std::string& server, Node& node) {
  std::string config_path = node.config.string();
  std::string log_path = node.log.string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::string program = server;
  char* args[] = {program.data(), config_path.data(), nullptr};
  bool ok = ::posix_spawn(&node.pid, server.c_str(), &actions, nullptr, args, environ) == 0;
  posix_spawn_file_actions_destroy(&actions);
  if (!ok) node.pid = -1;
  return ok;
}

// Polls `condition` every `step`; elapsed ms since `since`, or -1 after `limit`.
double until(const std::function<bool()>& condition, Clock::time_point since, std::chrono::milliseconds limit,
             std::chrono::microseconds step = std::chrono::milliseconds(10)) {
  while (!condition()) {
    if (Clock::now() - since > limit) return -1;
    if (step.count() > 0) std::this_thread::sleep_for(step);
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

double ms_since(Clock::time_point since) { return std::chrono::duration<double, std::milli>(Clock::now() - since).count(); }

// The "root" string of a GET /sync/merkle/root body, or "".
std::string root_of(Http& http) {
  std::string body;
  if (http.get("/sync/merkle/root", body) != 200) return "";
  auto at = body.find("\"root\":\"");
  if (at == std::string::npos) return "";
  at += 8;
  auto end = body.find('"', at);
  return end == std::string::npos ? "" : body.substr(at, end - at);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

int run(const std::string& server, int writes, int keys, const std::filesystem::path& dir) {
  std::vector<Node> nodes(3);
  g_nodes = &nodes;
  const char* names[] = {"rb-a", "rb-b", "rb-c"};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    Node& node = nodes[i];
    node.id = names[i];
    node.port = free_port();
    node.config = dir / (node.id + ".yaml");
    node.log = dir / (node.id + ".log");
    std::ofstream out(node.config);
    out << "node_id: " << node.id << "\nbind_address: 127.0.0.1\nport: " << node.port << "\n"
        << "data_dir: \"" << (dir / node.id).string() << "\"\nbackup_path: \"" << (dir / "backups").string() << "\"\n"
        << "log_level: warn\nauth_enabled: false\nrate_limiting_enabled: false\nbackup_enabled: false\n"
        << "tamper_logging_enabled: false\nclustering_enabled: true\ncluster_secret: \"replication-bench-secret\"\n"
        << "gossip_interval_min: 100ms\ngossip_interval_max: 250ms\nfailure_timeout: 1s\nremoval_timeout: 3s\n"
        << "sync_interval: 500ms\ncatchup_interval: 500ms\nthrottle_delay_ms: 5\nfetch_delay_ms: 5\n";
    if (i > 0) out << "seed_nodes: [\"127.0.0.1:" << nodes[0].port << "\"]\n";
  }
  for (auto& node : nodes) {
    if (!spawn(server, node)) {
      std::fprintf(stderr, "replication_bench: cannot start %s\n", server.c_str());
      return 1;
    }
    if (&node == &nodes[0]) {
      Http http(node.port);
      std::string body;
      if (until([&] { return http.get("/health", body) == 200; }, Clock::now(), std::chrono::seconds(20)) < 0) {
        std::fprintf(stderr, "replication_bench: node %s never answered (log %s)\n", node.id.c_str(), node.log.c_str());
        return 1;
      }
    }
  }
  Http a(nodes[0].port);
  Http b(nodes[1].port);
  Http c(nodes[2].port);
  auto all_alive = [&](Http& http, std::size_t count) {
    std::string body;
    return http.get("/members/", body) == 200 && count_of(body, "\"status\":\"alive\"") == count;
  };
  auto formed = Clock::now();
  if (until([&] { return all_alive(a, 3) && all_alive(b, 3) && all_alive(c, 3); }, formed, std::chrono::seconds(30)) < 0) {
    std::fprintf(stderr, "replication_bench: the cluster did not form in 30 s (logs in %s)\n", dir.c_str());
    return 1;
  }

  // (a) push lag A -> B.
  std::vector<double> lags;
  int lost = 0;
  std::string body;
  for (int i = 0; i < writes; ++i) {
    std::string key = "/kv/lag/" + std::to_string(i);
    std::string document = "{\"i\":" + std::to_string(i) + "}";
    if (a.put(key, document) != 200) {
      ++lost;
      continue;
    }
    auto acked = Clock::now();
    double lag = until([&] { return b.get(key, body) == 200; }, acked, std::chrono::seconds(5), std::chrono::microseconds(0));
    if (lag < 0) ++lost;
    else lags.push_back(lag);
  }
  std::printf("push lag A->B over %d sequential writes (ack on A -> GET on B returns it):\n", writes);
  std::printf("  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  not seen in 5 s: %d\n", percentile(lags, 0.50),
              percentile(lags, 0.90), percentile(lags, 0.99), percentile(lags, 1.0), lost);

  // Everyone equal before the repair run.
  until([&] { auto r = root_of(a); return !r.empty() && r == root_of(b) && r == root_of(c); }, Clock::now(),
        std::chrono::seconds(30));

  // (b) anti-entropy repair of C.
  ::kill(nodes[2].pid, SIGKILL);
  ::waitpid(nodes[2].pid, nullptr, 0);
  nodes[2].pid = -1;
  // Wait until A has removed C from its members (not just suspected it), so that A holds no
  // push queue for C and the repair is anti-entropy's.
  double noticed = until([&] { return a.get("/members/", body) == 200 && body.find("\"rb-c\"") == std::string::npos; },
                         Clock::now(), std::chrono::seconds(30));
  auto write_start = Clock::now();
  int failed = 0;
  for (int i = 0; i < keys; ++i) {
    if (a.put("/kv/repair/" + std::to_string(i), "{\"n\":" + std::to_string(i) + ",\"pad\":\"0123456789abcdef\"}") != 200) ++failed;
  }
  double write_ms = ms_since(write_start);
  auto restart = Clock::now();
  if (!spawn(server, nodes[2])) return 1;
  double up = until([&] { return c.get("/health", body) == 200; }, restart, std::chrono::seconds(20));
  auto serving = Clock::now();
  double repaired = until([&] { auto r = root_of(c); return !r.empty() && r == root_of(a); }, serving,
                          std::chrono::seconds(120), std::chrono::milliseconds(5));
  std::printf("anti-entropy repair: C SIGKILLed (A removed it after %.0f ms), %d keys written to A in %.0f ms "
              "(%d failed), C restarted (/health after %.0f ms)\n",
              noticed, keys, write_ms, failed, up);
  if (repaired < 0) {
    std::printf("  C's root did not reach A's within 120 s (logs in %s)\n", dir.c_str());
    return 1;
  }
  std::printf("  C's Merkle root equals A's %.0f ms after C answered /health: %.0f keys/s repaired\n", repaired,
              repaired > 0 ? keys * 1000.0 / repaired : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = (std::filesystem::path(argv[0]).parent_path() / ".." / "kvs-server" / "kvs-server").string();
  int writes = 200;
  int keys = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--server") server = argv[i + 1];
    else if (flag == "--writes") writes = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--keys") keys = std::max(1, std::atoi(argv[i + 1]));
  }
  if (!std::filesystem::exists(server)) {
    std::fprintf(stderr, "replication_bench: no kvs-server at %s (use --server PATH)\n", server.c_str());
    return 1;
  }
  std::string pattern = (std::filesystem::temp_directory_path() / "kvs-replication-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return 1;
  std::filesystem::path dir = pattern;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = run(server, writes, keys, dir);
  kill_all();
  curl_global_cleanup();
  if (code == 0) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return code;
}
