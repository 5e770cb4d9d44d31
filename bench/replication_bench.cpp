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
//   replication_bench [--server PATH] [--writes W] [--keys N] [--tls]
//
// --tls: the nodes serve HTTPS and call each other over it, verified against a CA made for the
// run with the openssl command (certificates for IP 127.0.0.1, in a temporary directory).
//
// PATH defaults to ../kvs-server/kvs-server next to this program (the build tree's layout).

#include <algorithm>
#include <chrono>
#include <csignal>
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
#include "support/temp_dir.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;

// One keep-alive connection to one node; requests time out after 2 s.
class Http {
 public:
  explicit Http(const ServerProcess& node) : client_(node.base_url()) {
    client_.set_timeout(std::chrono::milliseconds(2000));
  }
  // The status (0 when the request failed) and the body in `body`.
  long get(const std::string& path, std::string& body) {
    auto response = client_.get(path);
    body = std::move(response.body);
    return response.status;
  }
  long put(const std::string& path, const std::string& payload) { return client_.put(path, payload).status; }

 private:
  kvs::test::HttpClient client_;
};

std::vector<std::unique_ptr<ServerProcess>>* g_nodes = nullptr;

void kill_all() {
  if (g_nodes == nullptr) return;
  for (auto& node : *g_nodes) node->kill();
}

void on_signal(int) {
  kill_all();
  std::_Exit(130);
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

// A CA and one certificate (IP 127.0.0.1) for all nodes, made with openssl into `dir`; false
// when openssl failed.
bool make_certificates(const kvs::test::TempDir& dir) {
  std::string d = dir.str();
  auto made = kvs::test::run_shell(
      "cd '" + d + "' && "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-ca "
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
      "-keyout ca.key -out ca.pem && "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=node -keyout node.key "
      "-out node.csr && printf 'subjectAltName=IP:127.0.0.1\\n' > node.ext && "
      "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 1 -extfile node.ext "
      "-out node.pem 2>&1");
  if (made.exit_code != 0) std::fprintf(stderr, "replication_bench: openssl failed: %s%s\n", made.out.c_str(), made.err.c_str());
  return made.exit_code == 0;
}

int run(const std::string& server, int writes, int keys, bool tls) {
  kvs::test::TempDir pki("kvs-replication-bench-pki");
  if (tls && !make_certificates(pki)) return 1;
  // The nodes die with this scope (ServerProcess kills them); a signal kills them sooner.
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  g_nodes = &nodes;
  struct Forget {
    ~Forget() { g_nodes = nullptr; }
  } forget;
  const char* names[] = {"rb-a", "rb-b", "rb-c"};
  for (std::size_t i = 0; i < 3; ++i) {
    ServerConfig config;
    config.binary = server;
    config.clustering_enabled = true;
    config.log_level = "warn";
    config.extra_yaml = std::string("node_id: ") + names[i] +
                        "\nbackup_enabled: false\ntamper_logging_enabled: false\n"
                        "cluster_secret: \"replication-bench-secret-0123456789abcdef\"\n"
                        "gossip_interval_min: 100ms\ngossip_interval_max: 250ms\nfailure_timeout: 1s\nremoval_timeout: 3s\n"
                        "sync_interval: 500ms\ncatchup_interval: 500ms\nthrottle_delay_ms: 5\nfetch_delay_ms: 5\n";
    if (tls) {
      config.tls = true;
      config.extra_yaml += "tls_cert_file: \"" + (pki / "node.pem").string() + "\"\ntls_key_file: \"" +
                           (pki / "node.key").string() + "\"\ntls_ca_file: \"" + (pki / "ca.pem").string() + "\"\n";
    }
    if (i > 0) config.extra_yaml += "seed_nodes: [\"127.0.0.1:" + std::to_string(nodes[0]->port()) + "\"]\n";
    nodes.push_back(std::make_unique<ServerProcess>(config));
    ServerProcess& node = *nodes.back();
    if (i == 0) {
      if (!node.start()) {
        std::fprintf(stderr, "replication_bench: node %s never answered: %s\n", names[i], node.stderr_text().c_str());
        return 1;
      }
    } else {
      node.spawn();
    }
    // Keep the port across the restart below: the members know the node by its address.
    node.write_config_text(node.config_yaml());
  }
  Http a(*nodes[0]);
  Http b(*nodes[1]);
  Http c(*nodes[2]);
  auto all_alive = [&](Http& http, std::size_t count) {
    std::string body;
    return http.get("/members/", body) == 200 && count_of(body, "\"status\":\"alive\"") == count;
  };
  auto formed = Clock::now();
  if (until([&] { return all_alive(a, 3) && all_alive(b, 3) && all_alive(c, 3); }, formed, std::chrono::seconds(30)) < 0) {
    std::fprintf(stderr, "replication_bench: the cluster did not form in 30 s; A's log:\n%s\n", nodes[0]->stderr_text().c_str());
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
  using kvs::bench::percentile;
  std::printf("  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  not seen in 5 s: %d\n", percentile(lags, 0.50, -1),
              percentile(lags, 0.90, -1), percentile(lags, 0.99, -1), percentile(lags, 1.0, -1), lost);

  // Everyone equal before the repair run.
  until([&] { auto r = root_of(a); return !r.empty() && r == root_of(b) && r == root_of(c); }, Clock::now(),
        std::chrono::seconds(30));

  // (b) anti-entropy repair of C.
  nodes[2]->kill();
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
  nodes[2]->spawn();
  double up = until([&] { return c.get("/health", body) == 200; }, restart, std::chrono::seconds(20));
  auto serving = Clock::now();
  double repaired = until([&] { auto r = root_of(c); return !r.empty() && r == root_of(a); }, serving,
                          std::chrono::seconds(120), std::chrono::milliseconds(5));
  std::printf("anti-entropy repair: C SIGKILLed (A removed it after %.0f ms), %d keys written to A in %.0f ms "
              "(%d failed), C restarted (/health after %.0f ms)\n",
              noticed, keys, write_ms, failed, up);
  if (repaired < 0) {
    std::printf("  C's root did not reach A's within 120 s; C's log:\n%s\n", nodes[2]->stderr_text().c_str());
    return 1;
  }
  std::printf("  C's Merkle root equals A's %.0f ms after C answered /health: %.0f keys/s repaired\n", repaired,
              repaired > 0 ? keys * 1000.0 / repaired : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = kvs::bench::default_server_binary(argv[0]);
  int writes = 200;
  int keys = 2000;
  bool tls = false;
  kvs::bench::Flags flags(argc, argv, "usage: replication_bench [--server PATH] [--writes N] [--keys N] [--tls]");
  while (flags.next()) {
    if (flags.is("--tls")) tls = true;
    else if (flags.is("--server")) server = flags.value();
    else if (flags.is("--writes")) writes = std::max(1, static_cast<int>(flags.integer()));
    else if (flags.is("--keys")) keys = std::max(1, static_cast<int>(flags.integer()));
    else flags.unknown();
  }
  server = kvs::bench::server_binary_or_exit(server, "replication_bench");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("replication_bench: TLS %s\n", tls ? "on" : "off");
  int code = run(server, writes, keys, tls);
  return code;
}
