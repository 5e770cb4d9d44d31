#pragma once

// Config: every setting of a kvs node, named after its key in the YAML configuration file
// (SPEC section 4). An embedder fills one in code or loads a file with `load_config`; kvs-server
// does the latter. Each member's comment gives its unit and default.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/export.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs {

struct Config {
  // Identity and network.
  std::string node_id;                        // default: the host name
  std::string bind_address{"127.0.0.1"};
  std::uint16_t port{8080};
  std::string advertise_address;              // "host:port" peers use; default bind_address:port
  std::string data_dir{"./data"};
  std::vector<std::string> seed_nodes;        // "host:port" of peers to join through
  bool read_only{false};
  std::string log_level{"info"};              // trace, debug, info, warn, error
  std::string log_format{"text"};             // text (key=value) or json (one object per line)
  std::string tls_cert_file;                  // both set: serve HTTPS
  std::string tls_key_file;
  std::string tls_ca_file;                    // PEM CAs that peers' certificates must chain to; default: system store

  // Connection limits against hostile or broken clients (SPEC section 2, "Limits").
  std::size_t max_connections{4096};          // open client connections in all; beyond: closed at once
  std::size_t max_connections_per_client{256};  // from one remote address
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // whole request head
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};    // idle keep-alive connection
  std::size_t max_header_bytes{16384};        // request line and headers; larger: 431
  std::size_t max_headers{100};               // header lines; more: 431
  std::size_t max_range_bytes{4194304};       // a _range page ends once its body would pass this

  // Cluster timing. Interval keys take whole seconds or a duration string ("250ms").
  std::chrono::milliseconds gossip_interval_min{std::chrono::seconds(60)};
  std::chrono::milliseconds gossip_interval_max{std::chrono::seconds(120)};
  std::chrono::milliseconds sync_interval{std::chrono::seconds(300)};
  std::chrono::milliseconds catchup_interval{std::chrono::seconds(120)};
  std::chrono::milliseconds failure_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds removal_timeout{std::chrono::minutes(10)};
  std::int64_t bootstrap_max_age_hours{720};
  std::chrono::milliseconds throttle_delay_ms{100};
  std::chrono::milliseconds fetch_delay_ms{50};
  // A bootstrapping node whose seeds do not answer at all for this long gives up and enters
  // "normal" (a brand-new cluster starting together); seeds that reject its signature never
  // make it give up.
  std::chrono::milliseconds bootstrap_timeout{std::chrono::seconds(30)};
  std::string cluster_secret;                 // empty: generated once into data_dir; else >= 32 bytes

  // Storage.
  bool compression_enabled{true};
  int compression_level{3};                   // zstd level, 1..19
  std::chrono::milliseconds default_ttl{0};   // 0: keys never expire unless a TTL is given
  std::size_t max_json_size{1048576};         // bytes
  std::chrono::milliseconds tombstone_ttl{std::chrono::hours(24 * 7)};
  bool revision_history_enabled{true};
  std::size_t max_revisions{10};              // per key
  std::size_t map_size_mb{1024};              // LMDB map size; grows the file lazily

  // The change feed (SPEC section 2, "Watch"). The durable change log keeps entries for
  // change_retention and at most change_retention_bytes, whichever is reached first.
  std::chrono::milliseconds change_retention{std::chrono::hours(24)};
  std::uint64_t change_retention_bytes{1073741824};  // bytes
  std::chrono::milliseconds watch_heartbeat{std::chrono::seconds(10)};  // silence before a heartbeat line
  std::size_t watch_buffer{10000};            // events a watch may fall behind before resync_required
  std::size_t max_watches{1024};              // open watches (streams and long polls) per node

  // Features.
  bool auth_enabled{true};
  std::uint16_t default_permissions{kDefaultPermissions};
  std::chrono::milliseconds token_ttl{std::chrono::hours(24)};
  bool tamper_logging_enabled{true};
  bool clustering_enabled{true};
  bool rate_limiting_enabled{true};
  std::uint32_t rate_limit_requests{100};     // per client per window
  std::chrono::milliseconds rate_limit_window{std::chrono::minutes(1)};
  bool backup_enabled{true};
  std::string backup_schedule{"0 0 * * *"};   // 5-field cron
  std::string backup_path{"./backups"};
  std::int64_t backup_retention{7};           // days
};

// Reads a YAML configuration file. Unknown keys are appended to `warnings` (when given);
// a missing file is kNotFound; a bad value is kInvalidArgument naming the key.
KVS_EXPORT Result<Config> load_config(const std::string& path, std::vector<std::string>* warnings = nullptr);

// Parses YAML text, as `load_config` does for a file.
KVS_EXPORT Result<Config> parse_config(const std::string& yaml, std::vector<std::string>* warnings = nullptr);

// The configuration file kvs-server writes on first start: every key with its default.
KVS_EXPORT std::string default_config_yaml();

// Checks values that depend on each other (intervals, ranges). Names the key on failure.
KVS_EXPORT Status validate_config(const Config& config);

// Parses a Go-style duration ("500ms", "10s", "1h30m", "0"); kInvalidArgument otherwise.
KVS_EXPORT Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace kvs
