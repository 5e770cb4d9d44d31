// GET /admin/export against a real kvs-server: it streams, from a running node, the same
// lines `kvs-server export` writes once the node has stopped; it is admin only and present
// whatever backup_enabled says; and its private copy is gone once the answer is over. Not
// covered: a storage failure in mid-stream (the unit tests cover the snapshot itself).

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

using kvs::test::Headers;
using kvs::test::HttpClient;
using kvs::test::HttpResponse;
using kvs::test::json_bool;
using kvs::test::json_string;
using kvs::test::json_valid;
using kvs::test::run_kvs_server;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;

namespace {

std::string read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string token((std::istreambuf_iterator<char>(in)), {});
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO(response.body);
  CHECK(response.status == status);
  CHECK(json_string(response.body, "/code") == code);
}

}  // namespace

TEST_CASE("GET /admin/export streams what kvs-server export writes after the stop; admins only",
          "[integration][ops][export]") {
  ServerConfig config;
  config.auth_enabled = true;
  config.extra_yaml = "backup_enabled: false\n";  // the route is there all the same
  ServerProcess server(config);
  REQUIRE(server.start());
  const std::string admin = read_token(server.data_dir() + "/admin.token");
  REQUIRE_FALSE(admin.empty());
  HttpClient client(server.base_url());

  // Enough versions for several chunks, a tombstone, a TTL, and documents that need escaping.
  for (int i = 0; i < 600; ++i) {
    REQUIRE(client.put("/kv/bulk/" + std::to_string(1000 + i), "{\"n\":" + std::to_string(i) + "}", bearer(admin))
                .status == 200);
  }
  REQUIRE(client.put("/kv/gone", "true", bearer(admin)).status == 200);
  REQUIRE(client.del("/kv/gone", bearer(admin)).status == 204);
  REQUIRE(client.put("/kv/ttl?ttl=1h", "[1, \"two\"]", bearer(admin)).status == 200);
  REQUIRE(client.put("/kv/text", "\"line\\nbreak \\\"quoted\\\" \\u00e9\"", bearer(admin)).status == 200);

  auto user = client.request("POST", "/auth/users", R"({"nickname":"bob","scopes":["read","write"]})", bearer(admin));
  REQUIRE(user.status == 201);
  auto minted = client.request("POST", "/auth/tokens",
                               R"({"user_uuid":")" + *json_string(user.body, "/uuid") + R"(","scopes":["read","write"]})",
                               bearer(admin));
  REQUIRE(minted.status == 201);
  const std::string bob = *json_string(minted.body, "/token");

  check_error(client.get("/admin/export"), 401, "unauthenticated");
  check_error(client.get("/admin/export", bearer(bob)), 403, "permission_denied");

  auto streamed = client.get("/admin/export", bearer(admin));
  REQUIRE(streamed.status == 200);
  CHECK_THAT(streamed.header("Content-Type"), Catch::StartsWith("application/x-ndjson"));
  CHECK(streamed.header("Transfer-Encoding") == "chunked");
  auto lines = lines_of(streamed.body);
  std::set<std::string> paths;
  for (const auto& line : lines) {
    INFO(line);
    REQUIRE(json_valid(line));
    paths.insert(*json_string(line, "/path"));
    if (*json_string(line, "/path") == "gone") CHECK(json_bool(line, "/deleted") == true);
  }
  CHECK(paths.count("bulk/1000") == 1);
  CHECK(paths.count("bulk/1599") == 1);
  CHECK(paths.count("gone") == 1);
  CHECK(paths.count("ttl") == 1);
  CHECK(paths.size() == lines.size());  // each version once

  // The private copy goes with the answer: the server drops it just after the last chunk, so
  // the client may look a moment before that (bounded wait).
  std::error_code error;
  const auto exports = std::filesystem::path(server.data_dir()) / "exports";
  bool emptied = false;
  for (int i = 0; i < 100 && !emptied; ++i) {
    emptied = std::filesystem::is_empty(exports, error) && !error;
    if (!emptied) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(emptied);

  REQUIRE(server.stop() == 0);
  auto offline = run_kvs_server({"export", "--config", server.config_path()});
  INFO(offline.err);
  REQUIRE(offline.exit_code == 0);
  CHECK(streamed.body == offline.out);  // byte for byte: one encoder, one snapshot of the same data
}

TEST_CASE("HEAD /admin/export answers a GET's headers without taking the copy a GET takes",
          "[integration][ops][export]") {
  ServerConfig config;
  config.auth_enabled = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  const std::string admin = read_token(server.data_dir() + "/admin.token");
  REQUIRE_FALSE(admin.empty());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/some/key", "{\"n\":1}", bearer(admin)).status == 200);

  // A file where the copies go: any copy fails, so a GET answers 500 and a HEAD that took
  // one could not answer 200.
  const auto exports = std::filesystem::path(server.data_dir()) / "exports";
  std::filesystem::remove_all(exports);
  std::ofstream(exports) << "not a directory";
  check_error(client.get("/admin/export", bearer(admin)), 500, "io_error");

  auto head = client.request("HEAD", "/admin/export", "", bearer(admin));
  CHECK(head.status == 200);
  CHECK_THAT(head.header("Content-Type"), Catch::StartsWith("application/x-ndjson"));
  CHECK(head.header("Transfer-Encoding") == "chunked");
  CHECK(head.body.empty());
  CHECK(std::filesystem::is_regular_file(exports));  // untouched: no copy was attempted

  // The same check as a GET: admins only.
  CHECK(client.request("HEAD", "/admin/export", "").status == 401);

  REQUIRE(server.stop() == 0);
}
