#pragma once

// ServerProcess: runs the real kvs-server binary for integration tests and benchmarks. It writes a config
// (auth, clustering and rate limiting off unless a test turns them on) with a free loopback
// port and a data_dir in its own temp dir, starts the process with stderr captured into a
// file, waits (polling, bounded) until GET /health answers, and stops it with SIGTERM or
// SIGKILL. The destructor kills a process that is still running.
//
// run_kvs_server() runs one operator subcommand to completion and captures its output.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace kvs::test {

struct ServerConfig {
  bool auth_enabled = false;
  bool clustering_enabled = false;
  bool rate_limiting_enabled = false;
  std::string log_level = "info";
  std::string data_dir;      // empty: <temp dir>/data
  std::string extra_yaml;    // appended lines; a key given here overrides the ones above
  bool tls = false;          // serve HTTPS with a self-signed certificate (made with openssl)
  std::string binary;        // the kvs-server to run; empty: the build tree's (KVS_SERVER_BINARY)
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerConfig config = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts kvs-server (re-writing the config with a fresh free port) and waits until /health
  // answers 200, up to `timeout`. False when the process exited or never answered; stderr()
  // says why.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Starts the process without waiting for it (for configs that must fail).
  void spawn();
  // Waits up to `timeout` for the process to exit; its exit status, or nullopt on timeout.
  // A death by signal reads as 128 + signal number.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then wait_exit.
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `signal` to the running process.
  void send_signal(int signal);
  // SIGKILL, then wait for it.
  void kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // -1 when not running

  std::uint16_t port() const { return port_; }
  std::string base_url() const {
    return std::string(config_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  const std::string& config_path() const { return config_path_; }
  const std::string& data_dir() const { return data_dir_; }
  const TempDir& dir() const { return *dir_; }
  // Everything the process wrote to stderr so far (all runs).
  std::string stderr_text() const;

  // Rewrites the config file with `yaml` as it is (for bad-config tests).
  void write_config_text(const std::string& yaml);
  // The YAML this process's config file gets from its ServerConfig.
  std::string config_yaml() const;

 private:
  void write_config();

  ServerConfig config_;
  std::unique_ptr<TempDir> dir_;
  std::string config_path_;
  std::string data_dir_;
  std::string stderr_path_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool custom_config_ = false;
};

// A free TCP port on 127.0.0.1 (bound and released; another process could take it meanwhile).
std::uint16_t free_port();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `kvs-server args...` with `input` on stdin, in `working_dir` when given, and waits for it
// (bounded by `timeout`; a hung process is killed and reported as exit code -1).
CommandResult run_kvs_server(const std::vector<std::string>& args, const std::string& input = "",
                             const std::string& working_dir = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Runs `/bin/sh -c command` the same way (for README examples).
CommandResult run_shell(const std::string& command, std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace kvs::test
