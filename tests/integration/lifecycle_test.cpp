// The server process: configuration file handling, exit statuses, signals, restarts and the
// data_dir lock.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::HttpClient;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::TempDir;
using kvs::test::json_int;
using kvs::test::json_string;
using kvs::test::run_kvs_server;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a bad configuration value exits with status 2 and a message naming the key", "[integration]") {
  struct Case {
    const char* yaml;
    const char* key;
  };
  for (const Case& c : {Case{"port: 99999\n", "port"}, Case{"sync_interval: 7d\n", "sync_interval"},
                        Case{"log_level: loud\n", "log_level"}, Case{"read_only: perhaps\n", "read_only"},
                        Case{"max_json_size: -1\n", "max_json_size"},
                        Case{"backup_schedule: \"every day\"\n", "backup_schedule"},
                        Case{"gossip_interval_min: 2m\ngossip_interval_max: 1m\n", "gossip_interval_max"},
                        // 31 bytes: one short of SPEC's minimum.
                        Case{"cluster_secret: \"0123456789abcdef0123456789abcde\"\n", "cluster_secret"}}) {
    INFO(c.yaml);
    ServerProcess server;
    server.write_config_text(std::string("data_dir: \"") + server.data_dir() + "\"\n" + c.yaml);
    server.spawn();
    CHECK(server.wait_exit() == 2);
    CHECK_THAT(server.stderr_text(), Catch::Contains(std::string("'") + c.key + "'"));
  }
  ServerProcess broken;
  broken.write_config_text("port: [1, 2\n");
  broken.spawn();
  CHECK(broken.wait_exit() == 2);
  CHECK_THAT(broken.stderr_text(), Catch::Contains("YAML"));
}

TEST_CASE("an unknown configuration key is a warning and the server starts", "[integration]") {
  ServerConfig config;
  config.extra_yaml = "no_such_key: 1\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  CHECK_THAT(server.stderr_text(), Catch::Contains("no_such_key"));
  CHECK_THAT(server.stderr_text(), Catch::Contains("WARN"));
  CHECK(server.stop() == 0);
}

TEST_CASE("a missing configuration file is written with every default and used", "[integration]") {
  TempDir dir("kvs-first-start");
  // The default config serves 127.0.0.1:8080 with data in ./data relative to the working
  // directory; another process may hold port 8080, so the run may end with a bind failure.
  // Either way the file is written first and the log says so.
  auto path = dir / "fresh" / "config.yaml";
  auto result = run_kvs_server({path.string()}, "", dir.str(), std::chrono::seconds(2));
  REQUIRE(std::filesystem::exists(path));
  std::string yaml = read_file(path);
  for (const char* key : {"node_id:", "port: 8080", "data_dir: \"./data\"", "auth_enabled: true", "sync_interval:",
                          "backup_schedule: \"0 0 * * *\"", "default_ttl: \"0\"", "max_json_size: 1048576"}) {
    CHECK_THAT(yaml, Catch::Contains(key));
  }
  CHECK_THAT(result.err, Catch::Contains("config.written"));
  CHECK(result.exit_code != 2);  // it was a valid configuration
}

TEST_CASE("the server writes a debug request log line with method, path, status and duration", "[integration]") {
  ServerConfig config;
  config.log_level = "debug";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/logged", "1").status == 200);
  REQUIRE(server.stop() == 0);
  std::string log = server.stderr_text();
  CHECK_THAT(log, Catch::Contains("http.request method=PUT path=/kv/logged status=200 duration_us="));

  ServerProcess quiet;  // log_level info: no request lines
  REQUIRE(quiet.start());
  HttpClient quiet_client(quiet.base_url());
  REQUIRE(quiet_client.put("/kv/logged", "1").status == 200);
  REQUIRE(quiet.stop() == 0);
  CHECK_THAT(quiet.stderr_text(), !Catch::Contains("http.request"));
}

TEST_CASE("SIGTERM and SIGINT stop the server with exit status 0 and a restart keeps the data", "[integration]") {
  ServerProcess server;
  REQUIRE(server.start());
  std::string uuid;
  {
    HttpClient client(server.base_url());
    auto put = client.put("/kv/durable", "{\"v\":42}");
    REQUIRE(put.status == 200);
    uuid = *json_string(put.body, "/uuid");
    REQUIRE(client.put("/kv/gone", "1").status == 200);
    REQUIRE(client.del("/kv/gone").status == 204);
  }
  CHECK(server.stop() == 0);
  CHECK_THAT(server.stderr_text(), Catch::Contains("server.stopped"));

  REQUIRE(server.start());
  {
    HttpClient client(server.base_url());
    auto get = client.get("/kv/durable");
    REQUIRE(get.status == 200);
    CHECK(json_string(get.body, "/uuid") == uuid);
    CHECK(json_int(get.body, "/data/v") == 42);
    CHECK(client.get("/kv/gone").status == 404);
  }
  // SIGINT too.
  server.send_signal(SIGINT);
  CHECK(server.wait_exit() == 0);
}

TEST_CASE("SIGTERM does not wait for idle keep-alive connections", "[integration]") {
  ServerProcess server;
  REQUIRE(server.start());
  HttpClient client(server.base_url());  // keeps its connection open and idle
  REQUIRE(client.get("/health").status == 200);
  auto started = std::chrono::steady_clock::now();
  CHECK(server.stop() == 0);
  // httplib alone would wait out the 15 s keep-alive timeout.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("an acknowledged write survives SIGKILL", "[integration]") {
  ServerProcess server;
  REQUIRE(server.start());
  std::string uuid;
  {
    HttpClient client(server.base_url());
    auto put = client.put("/kv/acked", "[1,2,3]");
    REQUIRE(put.status == 200);
    uuid = *json_string(put.body, "/uuid");
  }
  server.kill();
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  auto get = client.get("/kv/acked");
  REQUIRE(get.status == 200);
  CHECK(json_string(get.body, "/uuid") == uuid);
}

TEST_CASE("a second server on the same data_dir refuses to start, clearly", "[integration]") {
  ServerProcess first;
  REQUIRE(first.start());
  ServerConfig config;
  config.data_dir = first.data_dir();
  ServerProcess second(config);
  CHECK_FALSE(second.start(std::chrono::seconds(10)));
  CHECK_FALSE(second.running());
  CHECK_THAT(second.stderr_text(), Catch::Contains(first.data_dir()));
  CHECK_THAT(second.stderr_text(), Catch::Contains("unavailable"));
  // The first one is unaffected.
  HttpClient client(first.base_url());
  CHECK(client.get("/health").status == 200);
  CHECK(first.stop() == 0);
}

TEST_CASE("a port already in use makes the server exit 1 with a clear message", "[integration]") {
  ServerProcess first;
  REQUIRE(first.start());
  ServerProcess second;
  second.write_config_text("port: " + std::to_string(first.port()) + "\ndata_dir: \"" + second.data_dir() +
                           "\"\nauth_enabled: false\n");
  second.spawn();
  CHECK(second.wait_exit() == 1);
  CHECK_THAT(second.stderr_text(), Catch::Contains("already in use"));
  CHECK(first.stop() == 0);
}

TEST_CASE("with tls_cert_file and tls_key_file the server speaks HTTPS", "[integration]") {
  ServerConfig config;
  config.tls = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/secure", "{\"ok\":true}").status == 200);
  CHECK(client.get("/kv/secure").status == 200);
  HttpClient plain("http://127.0.0.1:" + std::to_string(server.port()));
  plain.set_timeout(std::chrono::seconds(5));
  CHECK(plain.get("/health").status != 200);
  CHECK(server.stop() == 0);

  ServerProcess broken;
  broken.write_config_text("data_dir: \"" + broken.data_dir() + "\"\nport: " + std::to_string(kvs::test::free_port()) +
                           "\nauth_enabled: false\ntls_cert_file: /nonexistent/cert.pem\ntls_key_file: /nonexistent/key.pem\n");
  broken.spawn();
  CHECK(broken.wait_exit() == 2);
  CHECK_THAT(broken.stderr_text(), Catch::Contains("tls_cert_file"));
}
