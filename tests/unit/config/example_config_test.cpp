// packaging/config.yaml, the example `cmake --install` puts in share/doc/kvs for the systemd
// unit's /etc/kvs/config.yaml: it loads with no warning (no misspelt or unknown key), passes
// validation, and says what its comments promise. Not covered: running a server with it (its
// relative paths are meant for the unit's working directory, /var/lib/kvs).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/config.hpp"

TEST_CASE("the installed example config loads without warnings and is valid", "[config]") {
  std::vector<std::string> warnings;
  auto config = kvs::load_config(std::string(KVS_SOURCE_DIR) + "/packaging/config.yaml", &warnings);
  INFO((config.is_ok() ? std::string() : config.status().to_string()));
  REQUIRE(config.is_ok());
  std::string said;
  for (const auto& warning : warnings) said += warning + "\n";
  INFO(said);
  CHECK(warnings.empty());
  CHECK(kvs::validate_config(*config).is_ok());

  CHECK(config->bind_address == "0.0.0.0");
  CHECK(config->port == 8080);
  CHECK(config->data_dir == "./data");  // under the unit's WorkingDirectory, /var/lib/kvs
  CHECK(config->auth_enabled);
  CHECK(config->backup_enabled);
  CHECK(config->backup_schedule == "0 3 * * *");
  CHECK(config->cluster_secret.empty());  // never shipped: each cluster makes its own
}
