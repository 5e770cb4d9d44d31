// The YAML configuration file (SPEC section 4): one table of keys, each with its reader, the
// text written into a default file, and a one-line comment. Reading, writing defaults and the
// list of known keys all come from that table, so a key cannot be read but not written.

#include "kvs/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "features/cron.hpp"
#include "kvs/log.hpp"
#include "util/host_name.hpp"
#include "util/json_writer.hpp"

namespace kvs {
namespace {

// SPEC section 4: a given cluster_secret has at least this many bytes.
constexpr std::size_t kMinClusterSecretBytes = 32;

Status bad_key(std::string_view key, std::string_view why) {
  return Status::invalid_argument("config key '" + std::string(key) + "': " + std::string(why));
}

// The text of a scalar node, or an error naming the key. A YAML null (`key:` with nothing)
// reads as "" only when `allow_null` is set.
Result<std::string> scalar_text(std::string_view key, const YAML::Node& node, bool allow_null = false) {
  if (node.IsNull()) {
    if (allow_null) return std::string();
    return bad_key(key, "has no value");
  }
  if (!node.IsScalar()) return bad_key(key, "must be a single value, not a list or a mapping");
  return node.Scalar();
}

// Parses a decimal integer (optionally 0x hex or 0o octal) with a range check.
Result<std::int64_t> parse_integer(std::string_view key, std::string_view text, std::int64_t min,
                                   std::int64_t max) {
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
    base = 8;
    digits.remove_prefix(2);
  }
  if (digits.empty()) return bad_key(key, "'" + std::string(text) + "' is not an integer");
  // Magnitudes accumulate as unsigned so that the range check below sees the true value.
  std::uint64_t value = 0;
  for (char c : digits) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return bad_key(key, "'" + std::string(text) + "' is not an integer");
    }
    if (digit >= base) return bad_key(key, "'" + std::string(text) + "' is not an integer");
    if (value > (std::numeric_limits<std::uint64_t>::max() - static_cast<std::uint64_t>(digit)) /
                    static_cast<std::uint64_t>(base)) {
      return bad_key(key, "'" + std::string(text) + "' is out of range (" + std::to_string(min) + " to " +
                              std::to_string(max) + ")");
    }
    value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
  }
  bool in_range;
  std::int64_t result = 0;
  if (negative) {
    in_range = value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
               -static_cast<std::int64_t>(value) >= min;
    if (in_range) result = -static_cast<std::int64_t>(value);
  } else {
    in_range = value <= static_cast<std::uint64_t>(max);
    if (in_range) result = static_cast<std::int64_t>(value);
  }
  if (!in_range || result < min) {
    return bad_key(key, "'" + std::string(text) + "' is out of range (" + std::to_string(min) + " to " +
                            std::to_string(max) + ")");
  }
  return result;
}

Result<std::int64_t> read_integer(std::string_view key, const YAML::Node& node, std::int64_t min,
                                  std::int64_t max) {
  auto text = scalar_text(key, node);
  if (!text.is_ok()) return text.status();
  return parse_integer(key, *text, min, max);
}

Result<bool> read_bool(std::string_view key, const YAML::Node& node) {
  auto text = scalar_text(key, node);
  if (!text.is_ok()) return text.status();
  std::string lower = *text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return bad_key(key, "'" + *text + "' is not a boolean (expected true or false)");
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An interval: whole seconds (a plain integer) or a duration string.
// `unit_ms` is what a bare integer counts: 1000 for seconds, 1 for the *_ms keys.
Result<std::chrono::milliseconds> read_interval(std::string_view key, const YAML::Node& node,
                                                std::int64_t unit_ms = 1000) {
  auto text = scalar_text(key, node);
  if (!text.is_ok()) return text.status();
  if (!text->empty() && (*text)[0] == '-') return bad_key(key, "'" + *text + "' is negative");
  if (all_digits(*text)) {
    auto value = parse_integer(key, *text, 0, std::numeric_limits<std::int64_t>::max() / 1'000'000'000);
    if (!value.is_ok()) return value.status();
    return std::chrono::milliseconds(*value * unit_ms);
  }
  auto duration = parse_duration(*text);
  if (!duration.is_ok()) return bad_key(key, duration.status().message());
  return *duration;
}

// Writes `text` as a YAML double-quoted scalar: a JSON string is one (YAML 1.2 reads JSON's
// escapes), so the one JSON writer serves, with its UTF-8 policy.
std::string yaml_quoted(std::string_view text) { return util::json_string(text); }

// "500ms", "90s", "5m", "2h": the shortest exact spelling of an interval.
std::string format_interval(std::chrono::milliseconds value) {
  auto ms = value.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_bool(bool value) { return value ? "true" : "false"; }

std::string format_hex(std::uint16_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%03X", static_cast<unsigned>(value));
  return buffer;
}

// One configuration key.
struct KeySpec {
  std::string_view name;
  std::string_view comment;
  std::function<Status(const YAML::Node&, Config&)> read;
  std::function<std::string(const Config&)> write;  // YAML text of the value
};

template <class T>
Status assign(Result<T> value, T& target) {
  if (!value.is_ok()) return value.status();
  target = *value;
  return Status::ok();
}

Status read_string(std::string_view key, const YAML::Node& node, std::string& target, bool allow_empty) {
  auto text = scalar_text(key, node, allow_empty);
  if (!text.is_ok()) return text.status();
  if (!allow_empty && text->empty()) return bad_key(key, "must not be empty");
  target = *text;
  return Status::ok();
}

const std::vector<KeySpec>& key_table() {
  using std::chrono::milliseconds;
  static const std::vector<KeySpec> table = [] {
    std::vector<KeySpec> t;
    auto string_key = [&t](std::string_view name, std::string_view comment, std::string Config::*member,
                           bool allow_empty) {
      t.push_back({name, comment,
                   [name, member, allow_empty](const YAML::Node& n, Config& c) {
                     return read_string(name, n, c.*member, allow_empty);
                   },
                   [member](const Config& c) { return yaml_quoted(c.*member); }});
    };
    auto bool_key = [&t](std::string_view name, std::string_view comment, bool Config::*member) {
      t.push_back({name, comment,
                   [name, member](const YAML::Node& n, Config& c) { return assign(read_bool(name, n), c.*member); },
                   [member](const Config& c) { return format_bool(c.*member); }});
    };
    auto interval_key = [&t](std::string_view name, std::string_view comment, milliseconds Config::*member,
                             std::int64_t unit_ms) {
      t.push_back({name, comment,
                   [name, member, unit_ms](const YAML::Node& n, Config& c) {
                     return assign(read_interval(name, n, unit_ms), c.*member);
                   },
                   [member, unit_ms](const Config& c) {
                     // The *_ms keys are written as plain milliseconds, the rest as durations.
                     if (unit_ms == 1) return std::to_string((c.*member).count());
                     return yaml_quoted(format_interval(c.*member));
                   }});
    };
    auto int_key = [&t](std::string_view name, std::string_view comment, auto Config::*member, std::int64_t min,
                        std::int64_t max) {
      t.push_back({name, comment,
                   [name, member, min, max](const YAML::Node& n, Config& c) {
                     auto value = read_integer(name, n, min, max);
                     if (!value.is_ok()) return value.status();
                     using T = std::remove_reference_t<decltype(c.*member)>;
                     c.*member = static_cast<T>(*value);
                     return Status::ok();
                   },
                   [member](const Config& c) { return std::to_string(c.*member); }});
    };

    string_key("node_id", "This node's unique name in the cluster; default: the host name.", &Config::node_id,
               false);
    string_key("bind_address", "Address the REST interface listens on.", &Config::bind_address, false);
    int_key("port", "TCP port of the REST interface.", &Config::port, 1, 65535);
    string_key("advertise_address", "host:port that peers use to reach this node; empty: bind_address:port.",
               &Config::advertise_address, true);
    string_key("data_dir", "Directory of the node's data (relative to the working directory).", &Config::data_dir,
               false);
    t.push_back({"seed_nodes", "Peers (host:port) to join through on start; [] runs standalone.",
                 [](const YAML::Node& n, Config& c) -> Status {
                   if (n.IsNull()) {
                     c.seed_nodes.clear();
                     return Status::ok();
                   }
                   if (!n.IsSequence()) return bad_key("seed_nodes", "must be a list of host:port strings");
                   std::vector<std::string> seeds;
                   for (const auto& item : n) {
                     auto text = scalar_text("seed_nodes", item);
                     if (!text.is_ok()) return text.status();
                     seeds.push_back(*text);
                   }
                   c.seed_nodes = std::move(seeds);
                   return Status::ok();
                 },
                 [](const Config& c) {
                   std::string out = "[";
                   for (std::size_t i = 0; i < c.seed_nodes.size(); ++i) {
                     if (i > 0) out += ", ";
                     out += yaml_quoted(c.seed_nodes[i]);
                   }
                   return out + "]";
                 }});
    bool_key("read_only", "true: client writes are refused (403 read_only); replication still applies.",
             &Config::read_only);
    string_key("log_level", "trace, debug (adds one line per request), info, warn, error or off.",
               &Config::log_level, false);
    string_key("log_format", "text (time, level, event, key=value fields) or json (one object per line: ts, "
               "level, msg and the fields).", &Config::log_format, false);
    string_key("tls_cert_file", "PEM certificate; with tls_key_file, serve HTTPS.", &Config::tls_cert_file, true);
    string_key("tls_key_file", "PEM private key for tls_cert_file.", &Config::tls_key_file, true);
    string_key("tls_ca_file",
               "PEM CA bundle that peers' certificates are verified against (with TLS on, peers are called over "
               "HTTPS, host name checked); empty: the system trust store.",
               &Config::tls_ca_file, true);
    int_key("max_connections", "Open client connections in all; beyond, a new one is closed at once (lowered "
            "to fit the open-files limit).", &Config::max_connections, 1, 1'000'000);
    int_key("max_connections_per_client", "Open connections from one remote address.",
            &Config::max_connections_per_client, 1, 1'000'000);
    interval_key("header_timeout", "The request line and headers must arrive whole within this, else the "
                 "connection is closed.", &Config::header_timeout, 1000);
    interval_key("idle_timeout", "An idle keep-alive connection is closed after this.", &Config::idle_timeout, 1000);
    int_key("max_header_bytes", "Largest request head (request line and headers), in bytes; larger: 431.",
            &Config::max_header_bytes, 1024, std::int64_t{1} << 20);
    int_key("max_headers", "Most header lines in one request; more: 431.", &Config::max_headers, 1, 10'000);
    int_key("max_range_bytes", "A _range page ends once its body would pass this many bytes.",
            &Config::max_range_bytes, 1024, std::int64_t{1} << 32);

    interval_key("gossip_interval_min", "Gossip period lower bound (seconds or a duration).",
                 &Config::gossip_interval_min, 1000);
    interval_key("gossip_interval_max", "Gossip period upper bound.", &Config::gossip_interval_max, 1000);
    interval_key("sync_interval", "Merkle anti-entropy period.", &Config::sync_interval, 1000);
    interval_key("catchup_interval", "Catch-up period after a partition or restart.", &Config::catchup_interval,
                 1000);
    interval_key("failure_timeout", "A member silent this long is suspect.", &Config::failure_timeout, 1000);
    interval_key("removal_timeout", "A member silent this long is removed.", &Config::removal_timeout, 1000);
    int_key("bootstrap_max_age_hours", "A joining node pulls versions no older than this many hours.",
            &Config::bootstrap_max_age_hours, 1, 1'000'000);
    interval_key("throttle_delay_ms", "Pause between sync batches, in milliseconds.", &Config::throttle_delay_ms, 1);
    interval_key("fetch_delay_ms", "Pause between sync fetches, in milliseconds.", &Config::fetch_delay_ms, 1);
    interval_key("bootstrap_timeout", "A joining node whose seeds do not answer at all for this long gives up "
                 "syncing and enters normal mode (seeds that reject its signature never make it give up).",
                 &Config::bootstrap_timeout, 1000);
    string_key("cluster_secret", "Shared secret of the cluster (peer HMAC, token keys); empty: generated into "
               "data_dir.", &Config::cluster_secret, true);

    bool_key("compression_enabled", "Compress stored documents with zstd.", &Config::compression_enabled);
    int_key("compression_level", "zstd level, 1 to 19.", &Config::compression_level, 1, 19);
    interval_key("default_ttl", "TTL of a write that gives none; \"0\": never expire.", &Config::default_ttl, 1000);
    int_key("max_json_size", "Largest document accepted, in bytes (larger: 413).", &Config::max_json_size, 1,
            std::int64_t{1} << 30);
    interval_key("tombstone_ttl", "Deleted keys' tombstones are purged after this long.", &Config::tombstone_ttl,
                 1000);
    bool_key("revision_history_enabled", "Keep past revisions of each key (?history, ?revision=N).",
             &Config::revision_history_enabled);
    int_key("max_revisions", "Revisions kept per key.", &Config::max_revisions, 1, 100'000);
    int_key("map_size_mb", "Largest size of the LMDB data file, in MiB; the file grows lazily.",
            &Config::map_size_mb, 1, std::int64_t{1} << 24);

    interval_key("change_retention", "The change log (/kv/_watch?since=) keeps changes this long.",
                 &Config::change_retention, 1000);
    int_key("change_retention_bytes", "The change log keeps at most this many bytes; beyond, the oldest changes go first.",
            &Config::change_retention_bytes, 1, std::numeric_limits<std::int64_t>::max());
    interval_key("watch_heartbeat", "A watch stream silent this long gets a heartbeat line.",
                 &Config::watch_heartbeat, 1000);
    int_key("watch_buffer", "Events a watcher may fall behind before it gets resync_required.",
            &Config::watch_buffer, 1, 100'000'000);
    int_key("max_watches", "Open watch streams and long polls per node; beyond: 503.", &Config::max_watches, 1,
            1'000'000);

    bool_key("auth_enabled", "Require bearer tokens on /kv/, /auth/, /audit and /admin/.", &Config::auth_enabled);
    t.push_back({"default_permissions", "Permission bits of a new key (owner, group, others nibbles; C=8 D=4 W=2 "
                 "R=1).",
                 [](const YAML::Node& n, Config& c) {
                   auto value = read_integer("default_permissions", n, 0, 0xFFF);
                   if (!value.is_ok()) return value.status();
                   c.default_permissions = static_cast<std::uint16_t>(*value);
                   return Status::ok();
                 },
                 [](const Config& c) { return format_hex(c.default_permissions); }});
    interval_key("token_ttl", "Lifetime of a token minted without a ttl.", &Config::token_ttl, 1000);
    bool_key("tamper_logging_enabled", "Keep the tamper-evident audit log (/audit).",
             &Config::tamper_logging_enabled);
    bool_key("clustering_enabled", "Gossip, replication and anti-entropy (/members/, /sync/).",
             &Config::clustering_enabled);
    bool_key("rate_limiting_enabled", "Limit each client to rate_limit_requests per rate_limit_window.",
             &Config::rate_limiting_enabled);
    int_key("rate_limit_requests", "Requests allowed per client per window.", &Config::rate_limit_requests, 1,
            std::numeric_limits<std::uint32_t>::max());
    interval_key("rate_limit_window", "The rate limiting window.", &Config::rate_limit_window, 1000);
    bool_key("backup_enabled", "Take scheduled backups.", &Config::backup_enabled);
    string_key("backup_schedule", "When to back up: a 5-field cron expression (UTC).", &Config::backup_schedule,
               false);
    string_key("backup_path", "Directory backups are written to.", &Config::backup_path, false);
    int_key("backup_retention", "Days backups are kept.", &Config::backup_retention, 1, 100'000);
    return t;
  }();
  return table;
}

// --- cron ----------------------------------------------------------------------------------

// The scheduler's own parser decides, so that an expression config load accepts is exactly one
// the backup scheduler can run (lists, ranges, steps, names, @daily and friends).
Status check_cron(std::string_view expression) {
  auto parsed = features::CronSchedule::parse(expression);
  return parsed.is_ok() ? Status::ok() : parsed.status();
}

// "host:port" with a non-empty host and a port in 1..65535.
bool is_host_port(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (!all_digits(port) || port.size() > 5) return false;
  int value = std::stoi(std::string(port));
  if (value < 1 || value > 65535) return false;
  return std::none_of(host.begin(), host.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == '/'; });
}

bool is_printable_word(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
}

Result<Config> parse_root(const YAML::Node& root, std::vector<std::string>* warnings) {
  Config config;
  if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
    return Status::invalid_argument("the configuration must be a YAML mapping of key: value");
  }
  bool node_id_given = false;
  if (root.IsMap()) {
    for (const auto& item : root) {
      std::string key;
      if (item.first.IsScalar()) key = item.first.Scalar();
      const auto& table = key_table();
      auto spec = std::find_if(table.begin(), table.end(), [&](const KeySpec& s) { return s.name == key; });
      if (spec == table.end()) {
        if (warnings != nullptr) warnings->push_back("unknown config key '" + key + "' is ignored");
        continue;
      }
      Status read = spec->read(item.second, config);
      if (!read.is_ok()) return read;
      if (key == "node_id") node_id_given = true;
    }
  }
  if (!node_id_given) config.node_id = util::host_name();
  Status valid = validate_config(config);
  if (!valid.is_ok()) return valid;
  return config;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml, std::vector<std::string>* warnings) {
  try {
    YAML::Node root = YAML::Load(yaml);
    return parse_root(root, warnings);
  } catch (const YAML::Exception& error) {
    // error.mark gives the position; what() already includes "line L, column C".
    return Status::invalid_argument(std::string("the configuration is not valid YAML: ") + error.what());
  } catch (const std::exception& error) {
    return Status::invalid_argument(std::string("the configuration could not be read: ") + error.what());
  }
}

Result<Config> load_config(const std::string& path, std::vector<std::string>* warnings) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return Status::not_found("config file " + path + " does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read config file " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::io_error("cannot read config file " + path);
  auto config = parse_config(text.str(), warnings);
  if (!config.is_ok()) return config.status().with_context(path);
  return config;
}

std::string default_config_yaml() {
  Config config;
  config.node_id = util::host_name();
  std::string out =
      "# kvs node configuration. Every key is listed with its default.\n"
      "# Intervals take whole seconds (60) or a duration string (\"250ms\", \"5m\", \"1h30m\").\n";
  for (const auto& spec : key_table()) {
    out += "\n# ";
    out += spec.comment;
    out += "\n";
    out += spec.name;
    out += ": ";
    out += spec.write(config);
    out += "\n";
  }
  return out;
}

Status validate_config(const Config& c) {
  if (!c.node_id.empty() && (!is_printable_word(c.node_id) || c.node_id.size() > 255)) {
    return bad_key("node_id", "'" + c.node_id + "' must be at most 255 bytes without spaces or control characters");
  }
  if (c.bind_address.empty() || !is_printable_word(c.bind_address)) {
    return bad_key("bind_address", "'" + c.bind_address + "' is not an address");
  }
  if (c.port == 0) return bad_key("port", "must be between 1 and 65535");
  if (!c.advertise_address.empty() && !is_host_port(c.advertise_address)) {
    return bad_key("advertise_address", "'" + c.advertise_address + "' is not host:port");
  }
  if (c.data_dir.empty()) return bad_key("data_dir", "must not be empty");
  for (const auto& seed : c.seed_nodes) {
    if (!is_host_port(seed)) return bad_key("seed_nodes", "'" + seed + "' is not host:port");
  }
  if (auto level = parse_log_level(c.log_level); !level.is_ok()) return bad_key("log_level", level.status().message());
  if (auto format = parse_log_format(c.log_format); !format.is_ok()) {
    return bad_key("log_format", format.status().message());
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return bad_key(c.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
                   "tls_cert_file and tls_key_file must be set together");
  }
  // A CA only verifies the peers of a node that calls them over TLS, which a node does when it
  // serves TLS itself: alone, it would suggest a protection that is not there.
  if (!c.tls_ca_file.empty() && c.tls_cert_file.empty()) {
    return bad_key("tls_ca_file", "needs tls_cert_file and tls_key_file (peers are called over TLS only when "
                                  "this node serves TLS)");
  }
  using std::chrono::milliseconds;
  auto positive = [](std::string_view key, milliseconds value) -> Status {
    if (value.count() <= 0) return bad_key(key, "must be greater than zero");
    return Status::ok();
  };
  for (auto [key, value] : {std::pair<std::string_view, milliseconds>{"gossip_interval_min", c.gossip_interval_min},
                            {"gossip_interval_max", c.gossip_interval_max},
                            {"sync_interval", c.sync_interval},
                            {"catchup_interval", c.catchup_interval},
                            {"failure_timeout", c.failure_timeout},
                            {"removal_timeout", c.removal_timeout},
                            {"bootstrap_timeout", c.bootstrap_timeout},
                            {"tombstone_ttl", c.tombstone_ttl},
                            {"token_ttl", c.token_ttl},
                            {"rate_limit_window", c.rate_limit_window}}) {
    if (Status s = positive(key, value); !s.is_ok()) return s;
  }
  if (Status s = positive("header_timeout", c.header_timeout); !s.is_ok()) return s;
  if (Status s = positive("idle_timeout", c.idle_timeout); !s.is_ok()) return s;
  if (Status s = positive("change_retention", c.change_retention); !s.is_ok()) return s;
  if (Status s = positive("watch_heartbeat", c.watch_heartbeat); !s.is_ok()) return s;
  if (c.change_retention_bytes < 1) return bad_key("change_retention_bytes", "must be at least 1 byte");
  if (c.watch_buffer < 1) return bad_key("watch_buffer", "must be at least 1");
  if (c.max_watches < 1) return bad_key("max_watches", "must be at least 1");
  if (c.max_connections < 1) return bad_key("max_connections", "must be at least 1");
  if (c.max_connections_per_client < 1 || c.max_connections_per_client > c.max_connections) {
    return bad_key("max_connections_per_client", "must be between 1 and max_connections");
  }
  if (c.max_header_bytes < 1024 || c.max_header_bytes > (std::size_t{1} << 20)) {
    return bad_key("max_header_bytes", "must be between 1024 and 1048576 bytes");
  }
  if (c.max_headers < 1) return bad_key("max_headers", "must be at least 1");
  if (c.max_range_bytes < 1024) return bad_key("max_range_bytes", "must be at least 1024 bytes");
  if (c.gossip_interval_max < c.gossip_interval_min) {
    return bad_key("gossip_interval_max", "must not be less than gossip_interval_min");
  }
  if (c.removal_timeout < c.failure_timeout) return bad_key("removal_timeout", "must not be less than failure_timeout");
  if (c.throttle_delay_ms.count() < 0) return bad_key("throttle_delay_ms", "must not be negative");
  if (c.fetch_delay_ms.count() < 0) return bad_key("fetch_delay_ms", "must not be negative");
  if (c.default_ttl.count() < 0) return bad_key("default_ttl", "must not be negative");
  if (c.bootstrap_max_age_hours < 1) return bad_key("bootstrap_max_age_hours", "must be at least 1");
  if (c.compression_level < 1 || c.compression_level > 19) return bad_key("compression_level", "must be between 1 and 19");
  if (c.max_json_size < 1 || c.max_json_size > (std::size_t{1} << 30)) {
    return bad_key("max_json_size", "must be between 1 and 1073741824 bytes");
  }
  if (c.max_revisions < 1) return bad_key("max_revisions", "must be at least 1");
  if (c.map_size_mb < 1) return bad_key("map_size_mb", "must be at least 1");
  if (c.default_permissions > 0xFFF) return bad_key("default_permissions", "must fit in 12 bits (0 to 0xFFF)");
  if (c.rate_limit_requests < 1) return bad_key("rate_limit_requests", "must be at least 1");
  if (c.backup_retention < 1) return bad_key("backup_retention", "must be at least 1 day");
  if (Status cron = check_cron(c.backup_schedule); !cron.is_ok()) return bad_key("backup_schedule", cron.message());
  if (c.backup_path.empty()) return bad_key("backup_path", "must not be empty");
  // Any token is an offline oracle for the secret (its HS256 key derives from it), so a short
  // one could be brute-forced; 32 bytes is as much as the derived keys hold.
  if (!c.cluster_secret.empty() && c.cluster_secret.size() < kMinClusterSecretBytes) {
    return bad_key("cluster_secret", "must be at least " + std::to_string(kMinClusterSecretBytes) +
                                         " bytes (or empty to generate one)");
  }
  return Status::ok();
}

}  // namespace kvs
