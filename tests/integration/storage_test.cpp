// Storage over REST against a real kvs-server (SPEC section 2, "Storage full", "Files", and
// "Operations": GET /ready): 507 insufficient_storage for client writes on a full map while
// deletes and token revocations still succeed, GET /ready in normal, read-only and storage-full
// states, a larger map at restart bringing writes back with nothing acknowledged lost, and the
// modes of every file and folder a node creates.
//
// Not covered here: a full disk (tests/unit/storage/space_test.cpp mounts a small tmpfs for
// that) and syncing mode (tests/cluster/bootstrap_test.cpp starts nodes that sync).

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::Headers;
using kvs::test::HttpClient;
using kvs::test::HttpResponse;
using kvs::test::json_bool;
using kvs::test::json_string;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::TempDir;

namespace {

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string admin_token(const ServerProcess& server) {
  std::ifstream in(server.data_dir() + "/admin.token");
  std::string token;
  std::getline(in, token);
  REQUIRE_FALSE(token.empty());
  return token;
}

// A JSON string of about `size` bytes that zstd would not shrink much (compression is off in
// these servers anyway).
std::string document(std::size_t size, unsigned seed) {
  std::string doc = "\"";
  unsigned x = seed * 2654435761u + 1;
  while (doc.size() + 1 < size) {
    x = x * 1664525u + 1013904223u;
    doc.push_back(static_cast<char>('a' + (x >> 24) % 26));
  }
  doc.push_back('"');
  return doc;
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

}  // namespace

TEST_CASE("GET /ready answers 200 in normal and read-only mode, without a token and never rate limited",
          "[integration][storage]") {
  ServerConfig config;
  config.auth_enabled = true;
  config.rate_limiting_enabled = true;
  config.extra_yaml = "rate_limit_requests: 2\nrate_limit_window: 1m\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  for (int i = 0; i < 10; ++i) {
    auto ready = client.get("/ready");
    INFO(ready.body);
    REQUIRE(ready.status == 200);
    CHECK(json_bool(ready.body, "/ready") == true);
    CHECK(json_string(ready.body, "/mode") == "normal");
    CHECK_FALSE(json_string(ready.body, "/reason").has_value());
  }
  CHECK(client.put("/ready", "1").status == 405);
  REQUIRE(server.stop() == 0);

  ServerConfig read_only;
  read_only.extra_yaml = "read_only: true\n";
  ServerProcess reader(read_only);
  REQUIRE(reader.start());
  HttpClient reader_client(reader.base_url());
  auto ready = reader_client.get("/ready");
  INFO(ready.body);
  CHECK(ready.status == 200);
  CHECK(json_bool(ready.body, "/ready") == true);
  CHECK(json_string(ready.body, "/mode") == "read-only");
}

TEST_CASE("a full map answers 507 to client writes and 503 on /ready, still takes deletes and revocations, "
          "and a larger map at restart brings writes back with nothing lost",
          "[integration][storage]") {
  ServerConfig config;
  config.auth_enabled = true;
  config.extra_yaml = "map_size_mb: 1\ncompression_enabled: false\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  const Headers admin = bearer(admin_token(server));

  // A token to revoke later: minting writes nothing.
  auto minted = client.request("POST", "/auth/tokens", "{\"scopes\":[\"read\"]}", admin);
  REQUIRE(minted.status == 201);
  auto reader = json_string(minted.body, "/token");
  auto jti = json_string(minted.body, "/jti");
  REQUIRE(reader);
  REQUIRE(jti);

  // 1 KiB documents until one is refused, then the smallest ones until they are too.
  std::map<std::string, std::string> acknowledged;
  HttpResponse refused;
  bool small = false;
  for (int i = 0; i < 5000; ++i) {
    std::string key = "fill/" + std::to_string(i);
    std::string body = small ? std::string("\"s\"") : document(1024, static_cast<unsigned>(i));
    auto put = client.put("/kv/" + key, body, admin);
    if (put.status == 200) {
      acknowledged[key] = body;
      continue;
    }
    refused = put;
    if (small || put.status != 507) break;
    small = true;
  }
  INFO(refused.body);
  REQUIRE(refused.status == 507);
  CHECK(json_string(refused.body, "/code") == "insufficient_storage");
  CHECK_THAT(json_string(refused.body, "/error").value_or(""), Catch::Contains("map_size_mb"));
  REQUIRE(acknowledged.size() > 50);

  auto ready = client.get("/ready");
  INFO(ready.body);
  CHECK(ready.status == 503);
  CHECK(json_bool(ready.body, "/ready") == false);
  CHECK(json_string(ready.body, "/mode") == "normal");
  CHECK_THAT(json_string(ready.body, "/reason").value_or(""), Catch::Contains("map_size_mb"));
  CHECK(client.get("/health").status == 200);  // alive all the same

  // Other client writes are refused the same way.
  auto user = client.request("POST", "/auth/users", "{\"nickname\":\"late\"}", admin);
  CHECK(user.status == 507);
  CHECK(json_string(user.body, "/code") == "insufficient_storage");

  // Deletes and a revocation still succeed; reads too.
  std::vector<std::string> deleted;
  for (auto it = acknowledged.begin(); deleted.size() < 20 && it != acknowledged.end();) {
    auto removed = client.del("/kv/" + it->first, admin);
    INFO(removed.body);
    REQUIRE(removed.status == 204);
    deleted.push_back(it->first);
    it = acknowledged.erase(it);
  }
  CHECK(client.get("/kv/" + acknowledged.begin()->first, bearer(*reader)).status == 200);
  auto revoked = client.del("/auth/tokens/" + *jti, admin);
  INFO(revoked.body);
  CHECK(revoked.status == 204);
  CHECK(client.get("/kv/" + acknowledged.begin()->first, bearer(*reader)).status == 401);
  REQUIRE(server.stop() == 0);

  // The same data_dir with a map four times larger: writes resume, nothing acknowledged is lost.
  ServerConfig grown = config;
  grown.data_dir = server.data_dir();
  grown.extra_yaml = "map_size_mb: 4\ncompression_enabled: false\n";
  ServerProcess restarted(grown);
  REQUIRE(restarted.start());
  HttpClient after(restarted.base_url());
  auto ready_again = after.get("/ready");
  INFO(ready_again.body);
  CHECK(ready_again.status == 200);
  CHECK(json_bool(ready_again.body, "/ready") == true);
  auto put = after.put("/kv/after/restart", "{\"ok\":true}", admin);
  INFO(put.body);
  CHECK(put.status == 200);
  for (const auto& [key, body] : acknowledged) {
    auto got = after.get("/kv/" + key, admin);
    INFO(key);
    REQUIRE(got.status == 200);
    CHECK(json_string(got.body, "/data") == body.substr(1, body.size() - 2));
  }
  for (const auto& key : deleted) CHECK(after.get("/kv/" + key, admin).status == 404);
}

TEST_CASE("every folder a node creates is 0700 and every file 0600, and an open data_dir is a WARN",
          "[integration][storage]") {
  TempDir root("kvs-modes-it");
  ServerConfig config;
  config.auth_enabled = true;
  config.data_dir = (root.path() / "new" / "data").string();
  config.extra_yaml = "backup_path: \"" + (root.path() / "made" / "backups").string() + "\"\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  const Headers admin = bearer(admin_token(server));
  REQUIRE(client.put("/kv/a", "{\"x\":1}", admin).status == 200);
  auto backup = client.request("POST", "/admin/backup", "", admin, true);
  INFO(backup.body);
  REQUIRE(backup.status == 201);
  auto backup_file = json_string(backup.body, "/path");
  REQUIRE(backup_file);

  CHECK(mode_of(root.path() / "new") == 0700);
  CHECK(mode_of(root.path() / "made") == 0700);
  std::vector<std::string> files;
  for (const auto& top : {root.path() / "new", root.path() / "made"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(top)) {
      INFO(entry.path().string());
      if (entry.is_directory()) {
        CHECK(mode_of(entry.path()) == 0700);
      } else {
        CHECK(mode_of(entry.path()) == 0600);
        files.push_back(entry.path().filename().string());
      }
    }
  }
  // The ones SPEC names are among them.
  for (const char* name : {"data.mdb", "lock.mdb", "admin.token", "cluster.secret"}) {
    INFO(name);
    CHECK(std::find(files.begin(), files.end(), name) != files.end());
  }
  CHECK(std::find(files.begin(), files.end(), std::filesystem::path(*backup_file).filename().string()) != files.end());
  CHECK(server.stderr_text().find("data_dir_open_to_others") == std::string::npos);
  REQUIRE(server.stop() == 0);

  // A data_dir others can read is a WARN at start (and left as it is).
  std::filesystem::permissions(root.path() / "new" / "data", std::filesystem::perms(0755));
  ServerConfig again = config;
  ServerProcess reopened(again);
  REQUIRE(reopened.start());
  CHECK(reopened.stderr_text().find("data_dir_open_to_others") != std::string::npos);
}
