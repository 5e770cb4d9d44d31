// kvs-server: one kvs node behind the REST interface of SPEC section 2, plus the operator
// subcommands. Exit status: 0 clean stop, 1 runtime failure (data_dir held, port in use),
// 2 bad usage or configuration (a node with seed_nodes and no cluster secret among them).
// SIGTERM or SIGINT: stop accepting, finish the requests in flight, leave the cluster
// gracefully, close the store.

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "audit_routes.hpp"
#include "auth_routes.hpp"
#include "cluster_routes.hpp"
#include "connection_limits.hpp"
#include "data_routes.hpp"
#include "http_server.hpp"
#include "kvs/config.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "ops_routes.hpp"
#include "stream_loop.hpp"
#include "subcommands.hpp"
#include "sync_routes.hpp"
#include "watch_routes.hpp"

namespace {

constexpr const char* kUsage =
    "usage: kvs-server [CONFIG]                  run a node (CONFIG defaults to ./config.yaml;\n"
    "                                            a missing file is written with every default)\n"
    "       kvs-server export --config FILE      write every version, tombstones included, as\n"
    "                                            JSON lines to stdout\n"
    "       kvs-server import --config FILE      apply JSON lines from stdin by the version order\n"
    "       kvs-server restore --config FILE --from BACKUP\n"
    "                                            restore a backup into data_dir\n"
    "       kvs-server token --config FILE --user NICKNAME [--scopes read,write] [--ttl 24h]\n"
    "                                            print a fresh token for a user\n"
    "       kvs-server --help | --version\n"
    "\n"
    "The subcommands work on a stopped node's data_dir; they refuse to run while a server holds it.\n"
    "Exit status: 0 success, 1 failure, 2 bad usage or configuration.\n";

// Writes the default configuration to `path` (creating its directory). Returns false and
// prints why when it cannot.
bool write_default_config(const std::string& path) {
  std::error_code error;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << kvs::default_config_yaml();
  out.close();
  if (!out) {
    std::fprintf(stderr, "kvs-server: cannot write the default configuration to %s: %s\n", path.c_str(),
                 std::strerror(errno));
    return false;
  }
  return true;
}

int run_server(const std::string& config_path) {
  bool written = false;
  std::error_code exists_error;
  if (!std::filesystem::exists(config_path, exists_error)) {
    if (!write_default_config(config_path)) return 1;
    written = true;
  }
  std::vector<std::string> warnings;
  auto config = kvs::load_config(config_path, &warnings);
  if (!config.is_ok()) {
    std::fprintf(stderr, "kvs-server: bad configuration: %s\n", config.status().message().c_str());
    return config.status().code() == kvs::Status::Code::kInvalidArgument ? 2 : 1;
  }
  // validate_config has accepted log_level and log_format.
  kvs::set_log_level(*kvs::parse_log_level(config->log_level));
  kvs::set_log_format(*kvs::parse_log_format(config->log_format));
  if (written) kvs::log(kvs::LogLevel::kInfo, "config.written", {{"path", config_path}});
  kvs::log(kvs::LogLevel::kInfo, "config.loaded", {{"path", config_path}});
  for (const auto& warning : warnings) kvs::log(kvs::LogLevel::kWarn, "config.warning", {{"detail", warning}});

  // Block the stop signals in every thread (they inherit the mask); one thread takes them
  // with sigwait, which may then call anything, unlike a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects mid-response must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  auto opened = kvs::Node::open(*config);
  if (!opened.is_ok()) {
    kvs::log(kvs::LogLevel::kError, "node.open_failed", {{"data_dir", config->data_dir}, {"error", opened.status().to_string()}});
    // kInvalidArgument is the configuration's fault (a joining node without the cluster's
    // secret, say): exit status 2, like any bad configuration.
    if (opened.status().code() == kvs::Status::Code::kInvalidArgument) {
      std::fprintf(stderr, "kvs-server: bad configuration: %s\n", opened.status().message().c_str());
      return 2;
    }
    std::fprintf(stderr, "kvs-server: cannot open data_dir %s: %s\n", config->data_dir.c_str(),
                 opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<kvs::Node> node = std::move(*opened);

  kvs::server::HttpOptions http;
  http.bind_address = config->bind_address;
  http.port = config->port;
  http.tls_cert_file = config->tls_cert_file;
  http.tls_key_file = config->tls_key_file;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  http.min_threads = std::max<std::size_t>(8, 4 * std::size_t{cores});
  // Every connection needs a descriptor: raise the open-files limit, and lower the connection
  // cap to what it allows rather than fail accept() under load.
  http.max_connections = kvs::server::fit_open_files_limit(config->max_connections);
  http.max_connections_per_client = std::min(config->max_connections_per_client, http.max_connections);
  if (http.max_connections < config->max_connections) {
    kvs::log(kvs::LogLevel::kWarn, "server.max_connections_lowered",
             {{"max_connections", std::to_string(http.max_connections)},
              {"configured", std::to_string(config->max_connections)},
              {"reason", "the open-files limit (RLIMIT_NOFILE) is too low"}});
  }
  http.header_timeout = config->header_timeout;
  http.idle_timeout = config->idle_timeout;
  http.max_header_bytes = config->max_header_bytes;
  http.max_headers = config->max_headers;
  // SPEC section 2: a client body over max_json_size + 1024 is refused (room for the envelope
  // form around a document of max_json_size).
  http.client_body_max_bytes = config->max_json_size + 1024;
  // A peer's /sync/ batch carries documents as JSON strings, which escaping can double in size,
  // and its sender stops adding versions past 512 KiB: a batch holding a document of
  // max_json_size fits in twice that plus 1 MiB.
  http.peer_body_max_bytes = 2 * config->max_json_size + (std::size_t{1} << 20);
  kvs::server::HttpServer server(http);
  // Open watch streams are served by one thread rather than a worker each (stream_loop.hpp).
  // Declared after the server, whose connection counts the streams release; stopped below
  // before the node goes, since its streams hold watches and check tokens with it.
  kvs::server::StreamLoop stream_loop(http.write_timeout);
  kvs::server::StreamLoop* watch_loop = &stream_loop;
  if (kvs::Status started = stream_loop.start(); !started.is_ok()) {
    kvs::log(kvs::LogLevel::kWarn, "server.stream_loop_failed",
             {{"error", started.to_string()}, {"effect", "watch streams are refused (503); long polls still work"}});
    watch_loop = nullptr;
  }

  if (config->auth_enabled) {
    // First: every later interceptor (rate limiting) sees the authenticated caller.
    kvs::server::install_authentication(server, *node);
    kvs::server::register_auth_routes(server, *node);
  }
  kvs::server::register_health_route(server, *node);
  kvs::server::register_data_routes(server, *node);
  kvs::server::register_watch_routes(server, *node, config->watch_heartbeat, watch_loop);
  kvs::server::register_audit_routes(server, *node);  // only when tamper_logging_enabled
  if (config->clustering_enabled) kvs::server::register_cluster_routes(server, *node);
  if (config->clustering_enabled) kvs::server::register_sync_routes(server, *node);
  if (config->clustering_enabled) kvs::server::register_peer_routes(server, *node);
  kvs::server::register_ops_routes(server, *node, *config);  // after authentication: rate limits by user

  kvs::Status bound = server.bind();
  if (!bound.is_ok()) {
    std::fprintf(stderr, "kvs-server: %s\n", bound.message().c_str());
    kvs::log(kvs::LogLevel::kError, "server.bind_failed", {{"error", bound.to_string()}});
    // An unloadable certificate is a configuration error; a taken port is not.
    return bound.code() == kvs::Status::Code::kInvalidArgument ? 2 : 1;
  }

  std::thread signal_thread([&server, &node, stop_signals] {
    int received = 0;
    sigwait(&stop_signals, &received);
    kvs::log(kvs::LogLevel::kInfo, "server.stopping", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
    // First the watches: an open stream is a request in flight that would never finish by
    // itself, and SPEC ends streams at once on SIGTERM. New watches are refused from here on.
    node->close_watches();
    server.stop();
  });

  kvs::log(kvs::LogLevel::kInfo, "server.listening",
           {{"address", config->bind_address + ":" + std::to_string(config->port)},
            {"node_id", node->config().node_id},
            {"tls", config->tls_cert_file.empty() ? "off" : "on"},
            {"max_connections", std::to_string(http.max_connections)}});
  kvs::Status served = server.serve();
  int exit_code = 0;
  if (!served.is_ok()) {
    kvs::log(kvs::LogLevel::kError, "server.failed", {{"error", served.to_string()}});
    exit_code = 1;
    // Wake the signal thread so that it can be joined.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  // The node has closed its watches, so the loop's streams have ended or are ending: the rest
  // get their final chunk, and the loop's thread is joined while the node is still there.
  stream_loop.stop();
  // SPEC: a clustered node leaves gracefully on SIGTERM, so that its peers drop it at once rather
  // than suspect it. After the requests in flight (a write acknowledged to a client has been
  // queued for its push) and bounded (about a second when peers do not answer).
  if (config->clustering_enabled && served.is_ok()) {
    kvs::Status left = node->leave_before_close();
    if (!left.is_ok()) kvs::log(kvs::LogLevel::kWarn, "server.leave_failed", {{"error", left.to_string()}});
  }
  // Every request has finished: close the node, which drains its writer and syncs.
  node.reset();
  kvs::log(kvs::LogLevel::kInfo, "server.stopped", {});
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty()) {
    const std::string& first = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (first == "--help" || first == "-h" || first == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (first == "--version" || first == "-V" || first == "version") {
      std::printf("kvs-server %s (commit %s)\n", std::string(kvs::library_version()).c_str(),
                  std::string(kvs::library_commit()).c_str());
      return 0;
    }
    if (first == "export") return kvs::server::run_export(rest);
    if (first == "import") return kvs::server::run_import(rest);
    if (first == "restore") return kvs::server::run_restore(rest);
    if (first == "token") return kvs::server::run_token(rest);
  }
  std::string config_path = "./config.yaml";
  if (args.size() == 1 && !args[0].empty() && args[0][0] != '-') {
    config_path = args[0];
  } else if (args.size() == 2 && args[0] == "--config") {
    config_path = args[1];
  } else if (!args.empty()) {
    std::fprintf(stderr, "kvs-server: unexpected arguments\n%s", kUsage);
    return 2;
  }
  return run_server(config_path);
}
