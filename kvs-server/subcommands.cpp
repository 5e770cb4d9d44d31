#include "subcommands.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "json_members.hpp"
#include "json_writer.hpp"
#include "kvs/config.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"

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

}  // namespace

// Loads the configuration (which must exist: an operator command never writes one) and opens
// the node. Prints the problem and sets `exit_code` on failure.
std::unique_ptr<Node> open_node(const char* command, const std::string& config_path, int& exit_code) {
  std::vector<std::string> warnings;
  auto config = load_config(config_path, &warnings);
  if (!config.is_ok()) {
    std::fprintf(stderr, "kvs-server %s: %s\n", command, config.status().message().c_str());
    exit_code = 2;
    return nullptr;
  }
  for (const auto& warning : warnings) std::fprintf(stderr, "kvs-server %s: warning: %s\n", command, warning.c_str());
  // Commands print their own results; the node's routine log lines would only be noise.
  if (auto level = parse_log_level(config->log_level); level.is_ok() && *level > LogLevel::kWarn) {
    set_log_level(*level);
  } else if (level.is_ok() && *level < LogLevel::kInfo) {
    set_log_level(*level);
  } else {
    set_log_level(LogLevel::kWarn);
  }
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

namespace {

// One export line: every field of a version, "data" embedded as the stored JSON text.
std::string version_line(const Version& version) {
  JsonWriter json;
  json.begin_object()
      .key("path").string(version.path)
      .key("uuid").string(version.uuid)
      .key("timestamp").number(version.timestamp_ms)
      .key("data");
  if (version.deleted || version.data.empty()) json.null(); else json.raw(version.data);
  json.key("origin_node_id").string(version.origin_node_id)
      .key("origin_joined_timestamp").number(version.origin_joined_ms)
      .key("expires_at");
  if (version.expires_at_ms) json.number(*version.expires_at_ms); else json.null();
  json.key("owner_uuid").string(version.owner_uuid)
      .key("group_uuid").string(version.group_uuid)
      .key("permissions").number(static_cast<std::int64_t>(version.permissions))
      .key("deleted").boolean(version.deleted)
      .end_object();
  std::string line = json.take();
  line.push_back('\n');
  return line;
}

// Parses one export line back into a Version; kInvalidArgument names the bad field. The
// document is kept as the exact text of the line's "data" member.
Result<Version> parse_version_line(const std::string& line) {
  auto members = split_object(line);
  if (!members.is_ok()) return members.status();
  auto find = [&](std::string_view name) -> const JsonMember* {
    for (const auto& member : *members) {
      if (member.key == name) return &member;
    }
    return nullptr;
  };
  for (const auto& member : *members) {
    static const char* const kKnown[] = {"path", "uuid", "timestamp", "data", "origin_node_id",
                                         "origin_joined_timestamp", "expires_at", "owner_uuid", "group_uuid",
                                         "permissions", "deleted"};
    if (std::find(std::begin(kKnown), std::end(kKnown), member.key) == std::end(kKnown)) {
      return Status::invalid_argument("unknown field " + member.key);
    }
  }
  Version version;
  auto need_string = [&](const char* name, std::string& out, bool required) -> Status {
    const JsonMember* member = find(name);
    if (member == nullptr) return required ? Status::invalid_argument(std::string("missing field ") + name) : Status::ok();
    auto text = decode_string(*member);
    if (!text.is_ok()) return text.status();
    out = *text;
    return Status::ok();
  };
  auto need_int = [&](const char* name, std::int64_t& out) -> Status {
    const JsonMember* member = find(name);
    if (member == nullptr) return Status::invalid_argument(std::string("missing field ") + name);
    auto value = decode_int(*member);
    if (!value.is_ok()) return value.status();
    out = *value;
    return Status::ok();
  };
  for (Status s : {need_string("path", version.path, true), need_string("uuid", version.uuid, true),
                   need_int("timestamp", version.timestamp_ms), need_string("origin_node_id", version.origin_node_id, true),
                   need_int("origin_joined_timestamp", version.origin_joined_ms),
                   need_string("owner_uuid", version.owner_uuid, false),
                   need_string("group_uuid", version.group_uuid, false)}) {
    if (!s.is_ok()) return s;
  }
  std::int64_t permissions = kDefaultPermissions;
  if (find("permissions") != nullptr) {
    if (Status s = need_int("permissions", permissions); !s.is_ok()) return s;
    if (permissions < 0 || permissions > 0xFFF) return Status::invalid_argument("field permissions must be 0 to 4095");
  }
  version.permissions = static_cast<std::uint16_t>(permissions);
  if (const JsonMember* expires = find("expires_at"); expires != nullptr && !is_null(*expires)) {
    auto at = decode_int(*expires);
    if (!at.is_ok()) return Status::invalid_argument("field expires_at must be an integer or null");
    version.expires_at_ms = *at;
  }
  if (const JsonMember* deleted = find("deleted"); deleted != nullptr) {
    auto flag = decode_bool(*deleted);
    if (!flag.is_ok()) return flag.status();
    version.deleted = *flag;
  }
  const JsonMember* data = find("data");
  bool has_data = data != nullptr && !is_null(*data);
  if (!version.deleted && !has_data) return Status::invalid_argument("a live version (deleted: false) needs data");
  // Validated by Node::apply_version, like any replicated document.
  if (has_data && !version.deleted) version.data = data->raw;
  return version;
}

}  // namespace

int run_export(const std::vector<std::string>& args) {
  auto parsed = parse_args("export", args, false);
  if (!parsed) return 2;
  int exit_code = 0;
  auto node = open_node("export", parsed->config_path, exit_code);
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
  auto parsed = parse_args("import", args, false);
  if (!parsed) return 2;
  int exit_code = 0;
  auto node = open_node("import", parsed->config_path, exit_code);
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
  std::vector<std::string> warnings;
  auto config = load_config(parsed->config_path, &warnings);
  if (!config.is_ok()) {
    std::fprintf(stderr, "kvs-server restore: %s\n", config.status().message().c_str());
    return 2;
  }
  for (const auto& warning : warnings) std::fprintf(stderr, "kvs-server restore: warning: %s\n", warning.c_str());
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
