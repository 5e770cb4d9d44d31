#include "support/server_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/http_client.hpp"

extern char** environ;

namespace kvs::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Polls waitpid until the child exits or the deadline passes: a bounded wait for a process.
std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return decode_status(status);
    if (done < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Starts `argv` with stdin/stdout/stderr from/to the given files ("" = /dev/null).
pid_t spawn_process(const std::vector<std::string>& argv, const std::string& stdin_path, const std::string& stdout_path,
                    const std::string& stderr_path, bool append_stderr) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path.empty() ? "/dev/null" : stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.empty() ? "/dev/null" : stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | (append_stderr ? O_APPEND : O_TRUNC), 0644);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed: " + std::to_string(error));
  return pid;
}

CommandResult run_captured(const std::vector<std::string>& argv, const std::string& input,
                           std::chrono::milliseconds timeout) {
  TempDir io("kvs-cmd");
  std::string in_path = (io / "stdin").string();
  std::string out_path = (io / "stdout").string();
  std::string err_path = (io / "stderr").string();
  std::ofstream(in_path, std::ios::binary) << input;
  pid_t pid = spawn_process(argv, in_path, out_path, err_path, false);
  CommandResult result;
  auto status = wait_child(pid, timeout);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    result.exit_code = -1;
  } else {
    result.exit_code = *status;
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

ServerProcess::ServerProcess(ServerConfig config)
    : config_(std::move(config)), dir_(std::make_unique<TempDir>("kvs-server-test")) {
  config_path_ = (*dir_ / "config.yaml").string();
  data_dir_ = config_.data_dir.empty() ? (*dir_ / "data").string() : config_.data_dir;
  stderr_path_ = (*dir_ / "stderr.log").string();
  if (config_.tls) {
    auto made = run_shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout '" +
                          (*dir_ / "key.pem").string() + "' -out '" + (*dir_ / "cert.pem").string() + "'");
    if (made.exit_code != 0) throw std::runtime_error("openssl could not make a certificate: " + made.err);
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) kill();
}

std::string ServerProcess::config_yaml() const {
  auto flag = [](bool on) { return on ? "true" : "false"; };
  std::string yaml;
  yaml += "node_id: test-node-" + std::to_string(port_) + "\n";
  yaml += "bind_address: 127.0.0.1\n";
  yaml += "port: " + std::to_string(port_) + "\n";
  yaml += "data_dir: \"" + data_dir_ + "\"\n";
  yaml += "backup_path: \"" + (*dir_ / "backups").string() + "\"\n";
  yaml += "log_level: " + config_.log_level + "\n";
  yaml += std::string("auth_enabled: ") + flag(config_.auth_enabled) + "\n";
  yaml += std::string("clustering_enabled: ") + flag(config_.clustering_enabled) + "\n";
  yaml += std::string("rate_limiting_enabled: ") + flag(config_.rate_limiting_enabled) + "\n";
  if (config_.tls) {
    yaml += "tls_cert_file: \"" + (*dir_ / "cert.pem").string() + "\"\n";
    yaml += "tls_key_file: \"" + (*dir_ / "key.pem").string() + "\"\n";
  }
  // A later duplicate key would be ambiguous YAML, so extra_yaml keys replace the lines above.
  std::istringstream extra(config_.extra_yaml);
  std::string merged;
  std::istringstream base(yaml);
  std::vector<std::string> extra_keys;
  for (std::string line; std::getline(extra, line);) {
    auto colon = line.find(':');
    if (colon != std::string::npos) extra_keys.push_back(line.substr(0, colon));
  }
  for (std::string line; std::getline(base, line);) {
    auto colon = line.find(':');
    bool replaced = false;
    for (const auto& key : extra_keys) replaced = replaced || line.substr(0, colon) == key;
    if (!replaced) merged += line + "\n";
  }
  return merged + config_.extra_yaml + (config_.extra_yaml.empty() || config_.extra_yaml.back() == '\n' ? "" : "\n");
}

void ServerProcess::write_config() {
  if (custom_config_) return;
  std::ofstream(config_path_, std::ios::binary | std::ios::trunc) << config_yaml();
}

void ServerProcess::write_config_text(const std::string& yaml) {
  custom_config_ = true;
  std::ofstream(config_path_, std::ios::binary | std::ios::trunc) << yaml;
}

void ServerProcess::spawn() {
  if (pid_ > 0) throw std::runtime_error("kvs-server is already running");
  if (!custom_config_) port_ = free_port();
  write_config();
  std::string binary = config_.binary.empty() ? std::string(KVS_SERVER_BINARY) : config_.binary;
  pid_ = spawn_process({binary, config_path_}, "", "", stderr_path_, true);
}

bool ServerProcess::start(std::chrono::milliseconds timeout) {
  // A free port can be taken between free_port() and the server's bind: retry with another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::size_t log_size = stderr_text().size();
    spawn();
    HttpClient client(base_url());
    client.set_timeout(std::chrono::milliseconds(1000));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto exited = wait_child(pid_, std::chrono::milliseconds(0));
      if (exited) {
        pid_ = -1;
        break;
      }
      auto health = client.get("/health");
      if (health.status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ > 0) {
      kill();
      return false;
    }
    bool port_taken = stderr_text().substr(log_size).find("already in use") != std::string::npos;
    if (!port_taken || custom_config_) return false;
  }
  return false;
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto status = wait_child(pid_, timeout);
  if (status) pid_ = -1;
  return status;
}

std::optional<int> ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, SIGTERM);
  return wait_exit(timeout);
}

void ServerProcess::send_signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

void ServerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string ServerProcess::stderr_text() const { return read_file(stderr_path_); }

CommandResult run_kvs_server(const std::vector<std::string>& args, const std::string& input,
                             const std::string& working_dir, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{KVS_SERVER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  if (working_dir.empty()) return run_captured(argv, input, timeout);
  // posix_spawn has no portable chdir action in glibc 2.36's headers for C++; go through sh.
  std::string command = "cd '" + working_dir + "' && exec";
  for (const auto& arg : argv) command += " '" + arg + "'";
  return run_captured({"/bin/sh", "-c", command}, input, timeout);
}

CommandResult run_shell(const std::string& command, std::chrono::milliseconds timeout) {
  return run_captured({"/bin/sh", "-c", command}, "", timeout);
}

}  // namespace kvs::test
