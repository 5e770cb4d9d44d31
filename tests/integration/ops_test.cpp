// Operations over REST against a real kvs-server: rate limiting, GET /metrics, POST
// /admin/backup and GET /admin/backups, and `kvs-server restore`.

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/prometheus.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::Headers;
using kvs::test::HttpClient;
using kvs::test::HttpResponse;
using kvs::test::json_int;
using kvs::test::json_string;
using kvs::test::parse_prometheus;
using kvs::test::run_kvs_server;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::TempDir;

namespace {

void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO(response.body);
  CHECK(response.status == status);
  CHECK(json_string(response.body, "/code") == code);
  CHECK(json_string(response.body, "/error").has_value());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

}  // namespace

TEST_CASE("a client over rate_limit_requests gets 429 with Retry-After; /health and /metrics are exempt",
          "[integration][ops]") {
  ServerConfig config;
  config.rate_limiting_enabled = true;
  config.extra_yaml = "rate_limit_requests: 3\nrate_limit_window: 1m\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  // The start-up probe polled /health, which is exempt, so the allowance is whole.
  CHECK(client.put("/kv/a", "1").status == 200);
  CHECK(client.get("/kv/a").status == 200);
  CHECK(client.get("/kv/missing").status == 404);
  auto refused = client.get("/kv/a");
  check_error(refused, 429, "rate_limited");
  auto retry_after = std::stoll(refused.header("Retry-After"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 120);
  check_error(client.put("/kv/b", "2"), 429, "rate_limited");
  for (int i = 0; i < 20; ++i) CHECK(client.get("/health").status == 200);
  for (int i = 0; i < 5; ++i) CHECK(client.get("/metrics").status == 200);
}

TEST_CASE("peer messages and GET /members/ are exempt from the rate limit; leaving is not", "[integration][ops]") {
  ServerConfig config;
  config.rate_limiting_enabled = true;
  config.clustering_enabled = true;
  config.extra_yaml = "rate_limit_requests: 2\nrate_limit_window: 1m\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  // Unsigned peer messages are refused for their signature, never for the rate.
  for (int i = 0; i < 5; ++i) {
    check_error(client.request("POST", "/members/gossip", "{}"), 401, "unauthenticated");
    check_error(client.request("POST", "/members/join", "{}"), 401, "unauthenticated");
  }
  // Open like /health (SPEC), for monitoring that polls it.
  for (int i = 0; i < 5; ++i) CHECK(client.get("/members/").status == 200);
  CHECK(client.del("/members/leave").status == 204);
  CHECK(client.del("/members/leave").status != 429);
  check_error(client.del("/members/leave"), 429, "rate_limited");
}

TEST_CASE("with auth on, the rate limit follows the token's user rather than the address", "[integration][ops]") {
  ServerConfig config;
  config.auth_enabled = true;
  config.rate_limiting_enabled = true;
  config.extra_yaml = "rate_limit_requests: 4\nrate_limit_window: 1m\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  std::string admin = read_file(server.data_dir() + "/admin.token");
  while (!admin.empty() && (admin.back() == '\n' || admin.back() == '\r')) admin.pop_back();
  REQUIRE_FALSE(admin.empty());
  HttpClient client(server.base_url());

  auto user = client.request("POST", "/auth/users", R"({"nickname":"bob","scopes":["read","write"]})", bearer(admin));
  REQUIRE(user.status == 201);
  auto bob_uuid = json_string(user.body, "/uuid");
  REQUIRE(bob_uuid);
  auto minted = client.request("POST", "/auth/tokens", R"({"user_uuid":")" + *bob_uuid + R"(","scopes":["read"]})",
                               bearer(admin));
  REQUIRE(minted.status == 201);
  auto bob = json_string(minted.body, "/token");
  REQUIRE(bob);

  // Two admin requests so far; two more are allowed, the fifth is refused.
  CHECK(client.get("/kv/x", bearer(admin)).status == 404);
  CHECK(client.get("/kv/x", bearer(admin)).status == 404);
  check_error(client.get("/kv/x", bearer(admin)), 429, "rate_limited");
  // Bob, from the same address, has his own allowance.
  CHECK(client.get("/kv/x", bearer(*bob)).status == 404);
  // A non-admin may not take or list backups.
  check_error(client.request("POST", "/admin/backup", "", bearer(*bob), true), 403, "permission_denied");
  check_error(client.get("/admin/backups", bearer(*bob)), 403, "permission_denied");
  // /metrics is open, and counts the refusal.
  auto metrics = client.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(parse_prometheus(metrics.body).at("kvs_rate_limited_requests_total") == 1);
}

TEST_CASE("GET /metrics is Prometheus text with requests by route and status, latency, keys and bytes",
          "[integration][ops]") {
  ServerProcess server;
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  for (int i = 0; i < 5; ++i) REQUIRE(client.put("/kv/m/" + std::to_string(i), "{\"v\":" + std::to_string(i) + "}").status == 200);
  REQUIRE(client.get("/kv/m/0").status == 200);
  REQUIRE(client.get("/kv/nope").status == 404);
  REQUIRE(client.get("/no/such/route").status == 404);

  auto response = client.get("/metrics");
  REQUIRE(response.status == 200);
  CHECK_THAT(response.header("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
  auto samples = parse_prometheus(response.body);
  CHECK(samples.at(R"(kvs_http_requests_total{route="kv",method="PUT",status="200"})") == 5);
  CHECK(samples.at(R"(kvs_http_requests_total{route="kv",method="GET",status="200"})") == 1);
  CHECK(samples.at(R"(kvs_http_requests_total{route="kv",method="GET",status="404"})") == 1);
  CHECK(samples.at(R"(kvs_http_requests_total{route="unmatched",method="GET",status="404"})") == 1);
  CHECK(samples.at(R"(kvs_http_request_duration_seconds_count{route="kv",method="PUT"})") == 5);
  CHECK(samples.at(R"(kvs_http_request_duration_seconds_bucket{route="kv",method="PUT",le="+Inf"})") == 5);
  CHECK(samples.count(R"(kvs_http_request_duration_seconds_sum{route="kv",method="PUT"})") == 1);
  CHECK(samples.at("kvs_keys") == 5);
  CHECK(samples.at("kvs_stored_bytes") > 0);
  CHECK(samples.at("kvs_rate_limited_requests_total") == 0);
  CHECK(samples.at("kvs_replication_queue_depth") == 0);
  CHECK(samples.at("kvs_replication_lag_seconds") == 0);
  CHECK(samples.count(R"(kvs_anti_entropy_rounds_total{result="ok"})") == 1);
  CHECK(samples.at(R"(kvs_backups_total{result="ok"})") == 0);
}

TEST_CASE("a backup under concurrent writes restores into a fresh data_dir that serves every key acknowledged before it",
          "[integration][ops][backup]") {
  ServerProcess source;
  REQUIRE(source.start());
  HttpClient client(source.base_url());
  for (int i = 0; i < 100; ++i) REQUIRE(client.put("/kv/seed/" + std::to_string(i), std::to_string(i)).status == 200);

  std::atomic<bool> backup_began{false};
  std::atomic<bool> stop{false};
  std::mutex acked_mutex;
  std::map<std::string, std::string> acked_before;  // key -> document acknowledged before the backup began
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      HttpClient writer(source.base_url());
      for (int i = 0; !stop.load() && i < 5000; ++i) {
        std::string key = "w" + std::to_string(w) + "/" + std::to_string(i);
        std::string doc = "{\"w\":" + std::to_string(w) + ",\"i\":" + std::to_string(i) + "}";
        auto put = writer.put("/kv/" + key, doc);
        // Read the flag after the acknowledgement: false means it came before the POST was sent.
        if (put.status == 200 && !backup_began.load()) {
          std::lock_guard lock(acked_mutex);
          acked_before[key] = doc;
        }
      }
    });
  }
  // Let the writers get going, then back up while they write.
  for (int spins = 0; spins < 2000; ++spins) {
    {
      std::lock_guard lock(acked_mutex);
      if (acked_before.size() >= 30) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  backup_began = true;
  auto backup = client.request("POST", "/admin/backup", "", {}, true);
  stop = true;
  for (auto& writer : writers) writer.join();
  INFO(backup.body);
  REQUIRE(backup.status == 201);
  auto path = json_string(backup.body, "/path");
  REQUIRE(path);
  CHECK(json_int(backup.body, "/bytes").value_or(0) > 0);
  CHECK(json_int(backup.body, "/duration_ms").has_value());

  auto listed = client.get("/admin/backups");
  REQUIRE(listed.status == 200);
  CHECK(json_string(listed.body, "/0/path") == *path);

  // restore refuses while a server holds the data_dir.
  auto busy = run_kvs_server({"restore", "--config", source.config_path(), "--from", *path});
  CHECK(busy.exit_code == 1);
  CHECK_THAT(busy.err, Catch::Contains("in use"));
  REQUIRE(source.stop() == 0);

  // A truncated copy is refused with a clear error and restores nothing.
  TempDir scratch("kvs-restore-it");
  std::string bytes = read_file(*path);
  std::string truncated = (scratch / "truncated.kvsbackup").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  ServerProcess target;
  {
    std::ofstream(scratch / "restore.yaml") << "data_dir: \"" << target.data_dir() << "\"\n";
  }
  std::string restore_config = (scratch / "restore.yaml").string();
  auto refused = run_kvs_server({"restore", "--config", restore_config, "--from", truncated});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("truncated"));

  auto restored = run_kvs_server({"restore", "--config", restore_config, "--from", *path});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  REQUIRE(target.start());
  HttpClient reader(target.base_url());
  for (int i = 0; i < 100; ++i) {
    auto got = reader.get("/kv/seed/" + std::to_string(i));
    REQUIRE(got.status == 200);
  }
  REQUIRE(acked_before.size() >= 30);
  std::size_t missing = 0;
  for (const auto& [key, doc] : acked_before) {
    auto got = reader.get("/kv/" + key);
    if (got.status != 200 || json_int(got.body, "/data/i") != json_int(doc, "/i")) ++missing;
  }
  CHECK(missing == 0);
}

TEST_CASE("the backup routes are absent when backup_enabled is false", "[integration][ops][backup]") {
  ServerConfig config;
  config.extra_yaml = "backup_enabled: false\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  check_error(client.request("POST", "/admin/backup", "", {}, true), 404, "not_found");
  check_error(client.get("/admin/backups"), 404, "not_found");
  CHECK(client.get("/metrics").status == 200);
}
