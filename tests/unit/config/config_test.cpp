#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/config.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using kvs::Status;

namespace {

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

// The error message of parsing `yaml`, which must fail with kInvalidArgument.
std::string error_of(const std::string& yaml) {
  auto config = kvs::parse_config(yaml);
  REQUIRE_FALSE(config.is_ok());
  CHECK(config.status().code() == Status::Code::kInvalidArgument);
  return config.status().message();
}

}  // namespace

TEST_CASE("parse_duration accepts Go-style durations", "[config]") {
  CHECK(*kvs::parse_duration("500ms") == 500ms);
  CHECK(*kvs::parse_duration("10s") == 10s);
  CHECK(*kvs::parse_duration("5m") == 5min);
  CHECK(*kvs::parse_duration("1h30m") == 90min);
  CHECK(*kvs::parse_duration("168h") == 168h);
  CHECK(*kvs::parse_duration("0") == 0ms);
  CHECK(*kvs::parse_duration("0s") == 0ms);
  CHECK(*kvs::parse_duration("1.5s") == 1500ms);
  CHECK(*kvs::parse_duration("2h45m30s250ms") == 2h + 45min + 30s + 250ms);
  CHECK(*kvs::parse_duration("1000000us") == 1s);
}

TEST_CASE("parse_duration rejects what Go would and days, signs, overflow", "[config]") {
  for (const char* bad : {"7d", "", "-1s", "1x", "10", "s", "1h 30m", "1.s5", "abc", ".", "1e3s", "9999999999h",
                          "9223372036854775807ms", "99999999999999999999s", "1ns", " 1s", "1s "}) {
    INFO("duration '" << bad << "'");
    auto parsed = kvs::parse_duration(bad);
    CHECK_FALSE(parsed.is_ok());
    CHECK(parsed.status().code() == Status::Code::kInvalidArgument);
  }
  CHECK_THAT(kvs::parse_duration("7d").status().message(), Catch::Contains("168h"));
  CHECK_THAT(kvs::parse_duration("9999999999h").status().message(), Catch::Contains("overflow"));
  CHECK_THAT(kvs::parse_duration("-1s").status().message(), Catch::Contains("negative"));
}

TEST_CASE("an empty configuration yields every default, node_id being the host name", "[config]") {
  std::vector<std::string> warnings;
  auto config = kvs::parse_config("", &warnings);
  REQUIRE(config.is_ok());
  CHECK(warnings.empty());
  CHECK(config->node_id == host_name());
  CHECK(config->bind_address == "127.0.0.1");
  CHECK(config->port == 8080);
  CHECK(config->data_dir == "./data");
  CHECK(config->seed_nodes.empty());
  CHECK_FALSE(config->read_only);
  CHECK(config->log_level == "info");
  CHECK(config->gossip_interval_min == 60s);
  CHECK(config->gossip_interval_max == 120s);
  CHECK(config->sync_interval == 300s);
  CHECK(config->catchup_interval == 120s);
  CHECK(config->bootstrap_max_age_hours == 720);
  CHECK(config->throttle_delay_ms == 100ms);
  CHECK(config->fetch_delay_ms == 50ms);
  CHECK(config->compression_enabled);
  CHECK(config->compression_level == 3);
  CHECK(config->default_ttl == 0ms);
  CHECK(config->max_json_size == 1048576);
  CHECK(config->rate_limit_requests == 100);
  CHECK(config->rate_limit_window == 1min);
  CHECK(config->auth_enabled);
  CHECK(config->tamper_logging_enabled);
  CHECK(config->clustering_enabled);
  CHECK(config->rate_limiting_enabled);
  CHECK(config->revision_history_enabled);
  CHECK(config->backup_enabled);
  CHECK(config->backup_schedule == "0 0 * * *");
  CHECK(config->backup_path == "./backups");
  CHECK(config->backup_retention == 7);
  CHECK(config->cluster_secret.empty());
  CHECK(config->advertise_address.empty());
  CHECK(config->failure_timeout == 5min);
  CHECK(config->removal_timeout == 10min);
  CHECK(config->tombstone_ttl == 168h);
  CHECK(config->max_revisions == 10);
  CHECK(config->default_permissions == 0xF10);
  CHECK(config->token_ttl == 24h);
  CHECK(config->tls_cert_file.empty());
  CHECK(config->tls_key_file.empty());
}

TEST_CASE("every key of the configuration is read", "[config]") {
  const std::string yaml = R"(
node_id: node-a
bind_address: 0.0.0.0
port: 9090
advertise_address: "10.0.0.1:9090"
data_dir: /var/lib/kvs
seed_nodes: ["10.0.0.2:9090", "10.0.0.3:9090"]
read_only: true
log_level: debug
tls_cert_file: /etc/kvs/cert.pem
tls_key_file: /etc/kvs/key.pem
gossip_interval_min: 250ms
gossip_interval_max: 2
sync_interval: 1m
catchup_interval: 30
failure_timeout: 1m30s
removal_timeout: 3m
bootstrap_max_age_hours: 48
throttle_delay_ms: 7
fetch_delay_ms: 1s
cluster_secret: "a long enough secret of 32+ bytes"
compression_enabled: false
compression_level: 19
default_ttl: 1h
max_json_size: 2048
tombstone_ttl: 48h
revision_history_enabled: false
max_revisions: 3
map_size_mb: 64
auth_enabled: false
default_permissions: 0xF31
token_ttl: 2h
tamper_logging_enabled: false
clustering_enabled: false
rate_limiting_enabled: false
rate_limit_requests: 5000
rate_limit_window: 10s
backup_enabled: false
backup_schedule: "*/15 2-4 1,15 jan-jun mon-fri"
backup_path: /backups
backup_retention: 30
)";
  std::vector<std::string> warnings;
  auto config = kvs::parse_config(yaml, &warnings);
  REQUIRE(config.is_ok());
  CHECK(warnings.empty());
  CHECK(config->node_id == "node-a");
  CHECK(config->bind_address == "0.0.0.0");
  CHECK(config->port == 9090);
  CHECK(config->advertise_address == "10.0.0.1:9090");
  CHECK(config->data_dir == "/var/lib/kvs");
  CHECK(config->seed_nodes == std::vector<std::string>{"10.0.0.2:9090", "10.0.0.3:9090"});
  CHECK(config->read_only);
  CHECK(config->log_level == "debug");
  CHECK(config->tls_cert_file == "/etc/kvs/cert.pem");
  CHECK(config->tls_key_file == "/etc/kvs/key.pem");
  CHECK(config->gossip_interval_min == 250ms);
  CHECK(config->gossip_interval_max == 2s);
  CHECK(config->sync_interval == 1min);
  CHECK(config->catchup_interval == 30s);
  CHECK(config->failure_timeout == 90s);
  CHECK(config->removal_timeout == 3min);
  CHECK(config->bootstrap_max_age_hours == 48);
  CHECK(config->throttle_delay_ms == 7ms);
  CHECK(config->fetch_delay_ms == 1s);
  CHECK(config->cluster_secret == "a long enough secret of 32+ bytes");
  CHECK_FALSE(config->compression_enabled);
  CHECK(config->compression_level == 19);
  CHECK(config->default_ttl == 1h);
  CHECK(config->max_json_size == 2048);
  CHECK(config->tombstone_ttl == 48h);
  CHECK_FALSE(config->revision_history_enabled);
  CHECK(config->max_revisions == 3);
  CHECK(config->map_size_mb == 64);
  CHECK_FALSE(config->auth_enabled);
  CHECK(config->default_permissions == 0xF31);
  CHECK(config->token_ttl == 2h);
  CHECK_FALSE(config->tamper_logging_enabled);
  CHECK_FALSE(config->clustering_enabled);
  CHECK_FALSE(config->rate_limiting_enabled);
  CHECK(config->rate_limit_requests == 5000);
  CHECK(config->rate_limit_window == 10s);
  CHECK_FALSE(config->backup_enabled);
  CHECK(config->backup_schedule == "*/15 2-4 1,15 jan-jun mon-fri");
  CHECK(config->backup_path == "/backups");
  CHECK(config->backup_retention == 30);
}

TEST_CASE("an unknown key is a warning, not an error", "[config]") {
  std::vector<std::string> warnings;
  auto config = kvs::parse_config("port: 8081\nsync_intervall: 10s\n", &warnings);
  REQUIRE(config.is_ok());
  CHECK(config->port == 8081);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("sync_intervall"));
  // Without a warnings vector the key is still ignored.
  CHECK(kvs::parse_config("whatever: 1\n").is_ok());
}

TEST_CASE("a bad value is an error naming the key and the problem", "[config]") {
  struct Case {
    const char* yaml;
    const char* key;
    const char* why;
  };
  const Case cases[] = {
      {"port: 70000\n", "port", "out of range"},
      {"port: 0\n", "port", "out of range"},
      {"port: eighty\n", "port", "not an integer"},
      {"port: [1, 2]\n", "port", "single value"},
      {"read_only: maybe\n", "read_only", "not a boolean"},
      {"log_level: loud\n", "log_level", "loud"},
      {"sync_interval: 7d\n", "sync_interval", "168h"},
      {"sync_interval: -5\n", "sync_interval", "negative"},
      {"sync_interval: 0\n", "sync_interval", "greater than zero"},
      {"default_ttl: 1x\n", "default_ttl", "unknown unit"},
      {"rate_limit_window: \"\"\n", "rate_limit_window", "empty"},
      {"gossip_interval_min: 10s\ngossip_interval_max: 5s\n", "gossip_interval_max", "gossip_interval_min"},
      {"failure_timeout: 10m\nremoval_timeout: 5m\n", "removal_timeout", "failure_timeout"},
      {"compression_level: 25\n", "compression_level", "out of range"},
      {"max_json_size: 0\n", "max_json_size", "out of range"},
      {"max_json_size: -1\n", "max_json_size", "out of range"},
      {"max_revisions: 0\n", "max_revisions", "out of range"},
      {"default_permissions: 0x1000\n", "default_permissions", "out of range"},
      {"rate_limit_requests: 0\n", "rate_limit_requests", "out of range"},
      {"backup_schedule: \"0 0 * *\"\n", "backup_schedule", "5"},
      {"backup_schedule: \"61 0 * * *\"\n", "backup_schedule", "minute"},
      {"backup_schedule: \"0 0 * 13 *\"\n", "backup_schedule", "month"},
      {"backup_retention: 0\n", "backup_retention", "out of range"},
      {"seed_nodes: \"10.0.0.1:80\"\n", "seed_nodes", "list"},
      {"seed_nodes: [\"no-port\"]\n", "seed_nodes", "host:port"},
      {"advertise_address: nohost\n", "advertise_address", "host:port"},
      {"data_dir: \"\"\n", "data_dir", "empty"},
      {"node_id: \"has space\"\n", "node_id", "spaces"},
      {"bind_address:\n", "bind_address", "no value"},
      {"tls_cert_file: /a.pem\n", "tls_key_file", "together"},
      {"cluster_secret: short\n", "cluster_secret", "32 bytes"},
      {"cluster_secret: \"0123456789abcdef0123456789abcde\"\n", "cluster_secret", "32 bytes"},
      {"throttle_delay_ms: -3\n", "throttle_delay_ms", "negative"},
      {"bootstrap_max_age_hours: 0\n", "bootstrap_max_age_hours", "out of range"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    std::string message = error_of(c.yaml);
    CHECK_THAT(message, Catch::Contains(std::string("'") + c.key + "'"));
    CHECK_THAT(message, Catch::Contains(c.why));
  }
}

TEST_CASE("malformed YAML is an error, never an exception", "[config]") {
  for (const char* yaml : {"port: [1, 2\n", "a: b: c\n", "- just\n- a list\n", "\"unterminated\n", "{port: }}"}) {
    INFO(yaml);
    auto config = kvs::parse_config(yaml);
    CHECK_FALSE(config.is_ok());
    CHECK(config.status().code() == Status::Code::kInvalidArgument);
  }
}

TEST_CASE("tls_ca_file is read, defaults to the system trust store, and needs TLS to be on", "[config]") {
  auto defaults = kvs::parse_config("");
  REQUIRE(defaults.is_ok());
  CHECK(defaults->tls_ca_file.empty());
  auto with_tls = kvs::parse_config("tls_cert_file: /c.pem\ntls_key_file: /k.pem\ntls_ca_file: /etc/kvs/ca.pem\n");
  REQUIRE(with_tls.is_ok());
  CHECK(with_tls->tls_ca_file == "/etc/kvs/ca.pem");
  CHECK_THAT(kvs::default_config_yaml(), Catch::Contains("\ntls_ca_file: "));
  // Alone it would verify nothing: peers are called over TLS only by a node that serves TLS.
  std::string message = error_of("tls_ca_file: /etc/kvs/ca.pem\n");
  CHECK_THAT(message, Catch::Contains("'tls_ca_file'"));
  CHECK_THAT(message, Catch::Contains("tls_cert_file"));
}

TEST_CASE("the default configuration file lists every key and parses to the defaults", "[config]") {
  std::string yaml = kvs::default_config_yaml();
  for (const char* key :
       {"node_id", "bind_address", "port", "data_dir", "seed_nodes", "read_only", "log_level", "gossip_interval_min",
        "gossip_interval_max", "sync_interval", "catchup_interval", "bootstrap_max_age_hours", "throttle_delay_ms",
        "fetch_delay_ms", "compression_enabled", "compression_level", "default_ttl", "max_json_size",
        "rate_limit_requests", "rate_limit_window", "auth_enabled", "tamper_logging_enabled", "clustering_enabled",
        "rate_limiting_enabled", "revision_history_enabled", "backup_enabled", "backup_schedule", "backup_path",
        "backup_retention", "cluster_secret", "advertise_address", "failure_timeout", "removal_timeout",
        "tombstone_ttl", "max_revisions", "default_permissions", "token_ttl", "tls_cert_file", "tls_key_file"}) {
    INFO(key);
    CHECK_THAT(yaml, Catch::Contains(std::string("\n") + key + ": "));
  }
  CHECK_THAT(yaml, Catch::Contains("node_id: \"" + host_name() + "\""));
  CHECK_THAT(yaml, Catch::Contains("default_ttl: \"0\""));
  std::vector<std::string> warnings;
  auto parsed = kvs::parse_config(yaml, &warnings);
  REQUIRE(parsed.is_ok());
  CHECK(warnings.empty());
  kvs::Config expected;
  expected.node_id = host_name();
  CHECK(parsed->node_id == expected.node_id);
  CHECK(parsed->sync_interval == expected.sync_interval);
  CHECK(parsed->tombstone_ttl == expected.tombstone_ttl);
  CHECK(parsed->default_permissions == expected.default_permissions);
  CHECK(parsed->throttle_delay_ms == expected.throttle_delay_ms);
  CHECK(parsed->rate_limit_window == expected.rate_limit_window);
  CHECK(parsed->backup_schedule == expected.backup_schedule);
}

TEST_CASE("load_config reads a file and reports a missing one as not_found", "[config]") {
  kvs::test::TempDir dir;
  auto missing = kvs::load_config((dir / "absent.yaml").string());
  CHECK(missing.status().code() == Status::Code::kNotFound);

  std::string path = (dir / "config.yaml").string();
  std::ofstream(path) << "port: 1234\nbogus: 1\n";
  std::vector<std::string> warnings;
  auto config = kvs::load_config(path, &warnings);
  REQUIRE(config.is_ok());
  CHECK(config->port == 1234);
  CHECK(warnings.size() == 1);

  std::ofstream(path) << "port: -1\n";
  auto bad = kvs::load_config(path);
  CHECK(bad.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::Contains("'port'"));
  CHECK_THAT(bad.status().message(), Catch::Contains(path));
}

TEST_CASE("validate_config accepts the in-code defaults and names a bad key", "[config]") {
  kvs::Config config;
  CHECK(kvs::validate_config(config).is_ok());
  config.gossip_interval_max = std::chrono::milliseconds(1);
  auto status = kvs::validate_config(config);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(status.message(), Catch::Contains("gossip_interval_max"));
}

TEST_CASE("the connection limits have the SPEC defaults, are read, written and checked", "[config]") {
  auto defaults = kvs::parse_config("");
  REQUIRE(defaults.is_ok());
  CHECK(defaults->max_connections == 4096);
  CHECK(defaults->max_connections_per_client == 256);
  CHECK(defaults->header_timeout == 10s);
  CHECK(defaults->idle_timeout == 30s);
  CHECK(defaults->max_header_bytes == 16384);
  CHECK(defaults->max_headers == 100);
  CHECK(defaults->max_range_bytes == 4194304);

  std::string yaml = kvs::default_config_yaml();
  for (const char* key : {"max_connections", "max_connections_per_client", "header_timeout", "idle_timeout",
                          "max_header_bytes", "max_headers", "max_range_bytes"}) {
    INFO(key);
    CHECK_THAT(yaml, Catch::Contains(std::string("\n") + key + ": "));
  }

  auto read = kvs::parse_config(
      "max_connections: 100\nmax_connections_per_client: 10\nheader_timeout: 1500ms\nidle_timeout: 2\n"
      "max_header_bytes: 4096\nmax_headers: 20\nmax_range_bytes: 65536\n");
  REQUIRE(read.is_ok());
  CHECK(read->max_connections == 100);
  CHECK(read->max_connections_per_client == 10);
  CHECK(read->header_timeout == 1500ms);
  CHECK(read->idle_timeout == 2s);
  CHECK(read->max_header_bytes == 4096);
  CHECK(read->max_headers == 20);
  CHECK(read->max_range_bytes == 65536);

  CHECK_THAT(error_of("max_connections: 0\n"), Catch::Contains("max_connections"));
  CHECK_THAT(error_of("max_connections: 10\nmax_connections_per_client: 11\n"),
             Catch::Contains("max_connections_per_client"));
  CHECK_THAT(error_of("header_timeout: 0\n"), Catch::Contains("header_timeout"));
  CHECK_THAT(error_of("idle_timeout: soon\n"), Catch::Contains("idle_timeout"));
  CHECK_THAT(error_of("max_header_bytes: 100\n"), Catch::Contains("max_header_bytes"));
  CHECK_THAT(error_of("max_headers: 0\n"), Catch::Contains("max_headers"));
  CHECK_THAT(error_of("max_range_bytes: 10\n"), Catch::Contains("max_range_bytes"));
}

TEST_CASE("bootstrap_timeout is an interval, 30s by default, and must be positive", "[config]") {
  CHECK(kvs::Config{}.bootstrap_timeout == 30s);
  CHECK_THAT(kvs::default_config_yaml(), Catch::Contains("\nbootstrap_timeout: \"30s\""));
  auto seconds = kvs::parse_config("bootstrap_timeout: 5\n");
  REQUIRE(seconds.is_ok());
  CHECK(seconds->bootstrap_timeout == 5s);
  auto duration = kvs::parse_config("bootstrap_timeout: 1500ms\n");
  REQUIRE(duration.is_ok());
  CHECK(duration->bootstrap_timeout == 1500ms);
  for (const char* yaml : {"bootstrap_timeout: 0\n", "bootstrap_timeout: -5\n", "bootstrap_timeout: 7d\n"}) {
    INFO(yaml);
    CHECK_THAT(error_of(yaml), Catch::Contains("'bootstrap_timeout'"));
  }
}

TEST_CASE("the change feed keys have the SPEC defaults, are read, written and checked", "[config]") {
  auto defaults = kvs::parse_config("");
  REQUIRE(defaults.is_ok());
  CHECK(defaults->change_retention == 24h);
  CHECK(defaults->change_retention_bytes == 1073741824);
  CHECK(defaults->watch_heartbeat == 10s);
  CHECK(defaults->watch_buffer == 10000);
  CHECK(defaults->max_watches == 1024);

  std::string yaml = kvs::default_config_yaml();
  CHECK_THAT(yaml, Catch::Contains("\nchange_retention: \"24h\""));
  CHECK_THAT(yaml, Catch::Contains("\nchange_retention_bytes: 1073741824"));
  CHECK_THAT(yaml, Catch::Contains("\nwatch_heartbeat: \"10s\""));
  CHECK_THAT(yaml, Catch::Contains("\nwatch_buffer: 10000"));
  CHECK_THAT(yaml, Catch::Contains("\nmax_watches: 1024"));
  auto round_trip = kvs::parse_config(yaml);
  REQUIRE(round_trip.is_ok());
  CHECK(round_trip->change_retention == 24h);

  auto read = kvs::parse_config(
      "change_retention: 90m\nchange_retention_bytes: 4096\nwatch_heartbeat: 2\nwatch_buffer: 7\n"
      "max_watches: 3\n");
  REQUIRE(read.is_ok());
  CHECK(read->change_retention == 90min);
  CHECK(read->change_retention_bytes == 4096);
  CHECK(read->watch_heartbeat == 2s);
  CHECK(read->watch_buffer == 7);
  CHECK(read->max_watches == 3);

  for (const char* bad : {"change_retention: 0\n", "change_retention: forever\n", "change_retention_bytes: 0\n",
                          "change_retention_bytes: 1GB\n", "watch_heartbeat: 0\n", "watch_buffer: 0\n",
                          "max_watches: 0\n", "max_watches: -1\n"}) {
    INFO(bad);
    std::string key(bad, std::string_view(bad).find(':'));
    CHECK_THAT(error_of(bad), Catch::Contains("'" + key + "'"));
  }
}
