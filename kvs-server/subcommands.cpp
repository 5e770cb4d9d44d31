#include "subcommands.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "kvs/config.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "version_lines.hpp"

namespace kvs::server {
namespace {

struct CommonArgs {
  std::string config_path{"./config.yaml"};
  std::string from;  // restore only
};

// Parses --config FILE (and --from FILE when `want_from`). Prints the problem and returns
// nullopt on bad usage.
std::optional<CommonArgs> parse_args(const char* command, const std::vector<std::string>& args, bool want_from) {
  CommonArgs parsed;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (arg == name) {
        if (i + 1 >= args.size()) return std::nullopt;
        return args[++i];
      }
      if (arg.rfind(name + "=", 0) == 0) return arg.substr(name.size() + 1);
      return std::nullopt;
    };
    if (arg == "--config" || arg.rfind("--config=", 0) == 0) {
      auto v = value("--config");
      if (!v) {
        std::fprintf(stderr, "kvs-server %s: --config needs a file\n", command);
        return std::nullopt;
      }
      parsed.config_path = *v;
    } else if (want_from && (arg == "--from" || arg.rfind("--from=", 0) == 0)) {
      auto v = value("--from");
      if (!v) {
        std::fprintf(stderr, "kvs-server %s: --from needs a backup path\n", command);
        return std::nullopt;
      }
      parsed.from = *v;
    } else {
      std::fprintf(stderr, "kvs-server %s: unexpected argument '%s' (see kvs-server --help)\n", command, arg.c_str());
      return std::nullopt;
    }
  }
  if (want_from && parsed.from.empty()) {
    std::fprintf(stderr, "kvs-server %s: --from BACKUP is required\n", command);
    return std::nullopt;
  }
  return parsed;
}

// The configuration at `config_path`, which must exist (an operator command never writes one),
// with its warnings printed. Prints the problem and returns nullopt when it cannot be loaded.
std::optional<Config> load_command_config(const char* command, const std::string& config_path) {
  std::vector<std::string> warnings;
  auto config = load_config(config_path, &warnings);
  if (!config.is_ok()) {
    std::fprintf(stderr, "kvs-server %s: %s\n", command, config.status().message().c_str());
    return std::nullopt;
  }
  for (const auto& warning : warnings) std::fprintf(stderr, "kvs-server %s: warning: %s\n", command, warning.c_str());
  return std::move(*config);
}

// The node an export or import works on: `args` parsed (--config only) and open_node. Prints
// the problem and sets `exit_code` on failure.
std::unique_ptr<Node> open_command_node(const char* command, const std::vector<std::string>& args, int& exit_code) {
  auto parsed = parse_args(command, args, false);
  if (!parsed) {
    exit_code = 2;
    return nullptr;
  }
  return open_node(command, parsed->config_path, exit_code);
}

}  // namespace

std::unique_ptr<Node> open_node(const char* command, const std::string& config_path, int& exit_code) {
  auto config = load_command_config(command, config_path);
  if (!config) {
    exit_code = 2;
    return nullptr;
  }
  // Commands print their own results; the node's routine log lines would only be noise.
  if (auto level = parse_log_level(config->log_level); level.is_ok() && *level > LogLevel::kWarn) {
    set_log_level(*level);
  } else if (level.is_ok() && *level < LogLevel::kInfo) {
    set_log_level(*level);
  } else {
    set_log_level(LogLevel::kWarn);
  }
  if (auto format = parse_log_format(config->log_format); format.is_ok()) set_log_format(*format);
  NodeEnv env;
  env.background_sweeper = false;  // an export must see tombstones and expired keys as stored
  env.backup_scheduler = false;    // an operator command takes no scheduled backups
  env.offline = true;              // SPEC: never joins the cluster, contacts peers or creates users
  auto node = Node::open(*config, env);
  if (!node.is_ok()) {
    std::fprintf(stderr, "kvs-server %s: cannot open data_dir %s: %s\n", command, config->data_dir.c_str(),
                 node.status().to_string().c_str());
    exit_code = node.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
    return nullptr;
  }
  return std::move(*node);
}

int run_export(const std::vector<std::string>& args) {
  int exit_code = 0;
  auto node = open_command_node("export", args, exit_code);
  if (!node) return exit_code;
  std::size_t count = 0;
  bool write_failed = false;
  Status exported = node->export_versions([&](const Version& version) {
    std::string line = version_line(version);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      write_failed = true;
      return false;
    }
    ++count;
    return true;
  });
  if (std::fflush(stdout) != 0) write_failed = true;
  if (!exported.is_ok()) {
    std::fprintf(stderr, "kvs-server export: %s\n", exported.to_string().c_str());
    return 1;
  }
  if (write_failed) {
    std::fprintf(stderr, "kvs-server export: cannot write to stdout\n");
    return 1;
  }
  std::fprintf(stderr, "kvs-server export: %zu versions\n", count);
  return 0;
}

int run_import(const std::vector<std::string>& args) {
  int exit_code = 0;
  auto node = open_command_node("import", args, exit_code);
  if (!node) return exit_code;
  std::size_t applied = 0;
  std::size_t kept = 0;
  std::size_t number = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto version = parse_version_line(line);
    if (!version.is_ok()) {
      std::fprintf(stderr, "kvs-server import: line %zu: %s (%zu versions applied before it)\n", number,
                   version.status().message().c_str(), applied);
      return 1;
    }
    auto result = node->apply_version(*version);
    if (!result.is_ok()) {
      std::fprintf(stderr, "kvs-server import: line %zu: %s (%zu versions applied before it)\n", number,
                   result.status().to_string().c_str(), applied);
      return 1;
    }
    (*result ? applied : kept)++;
  }
  std::fprintf(stderr, "kvs-server import: %zu versions applied, %zu older than the held version\n", applied, kept);
  return 0;
}

int run_restore(const std::vector<std::string>& args) {
  auto parsed = parse_args("restore", args, true);
  if (!parsed) return 2;
  auto config = load_command_config("restore", parsed->config_path);
  if (!config) return 2;
  // The whole backup is verified (checksum, sizes, an LMDB file that opens) before data_dir
  // changes, and the data_dir lock is held meanwhile: a running server makes this refuse.
  std::error_code exists_error;
  bool had_data = std::filesystem::exists(std::filesystem::path(config->data_dir) / "data.mdb", exists_error);
  auto restored = restore_backup(*config, parsed->from);
  if (!restored.is_ok()) {
    std::fprintf(stderr, "kvs-server restore: cannot restore %s into %s: %s\n", parsed->from.c_str(),
                 config->data_dir.c_str(), restored.status().to_string().c_str());
    return 1;
  }
  std::fprintf(stderr, "kvs-server restore: restored %s (taken on node %s at %lld ms, %llu bytes of data) into %s\n",
               parsed->from.c_str(), restored->node_id.c_str(), static_cast<long long>(restored->created_at_ms),
               static_cast<unsigned long long>(restored->uncompressed_bytes), config->data_dir.c_str());
  if (had_data) {
    std::fprintf(stderr, "kvs-server restore: the data it replaced is kept in %s/data.mdb.before-restore\n",
                 config->data_dir.c_str());
  }
  return 0;
}

}  // namespace kvs::server
