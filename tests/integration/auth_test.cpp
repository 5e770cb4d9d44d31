// Authentication over REST against a real kvs-server (SPEC section 2, Authentication and
// Permissions): bearer tokens, the admin bootstrap file, /auth/ users, groups and tokens,
// 401 / 403, and `kvs-server token`.

#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

namespace kvs::test {
namespace {

struct AuthServer {
  AuthServer() : process(config()) {
    REQUIRE(process.start());
    client = std::make_unique<HttpClient>(process.base_url());
    std::ifstream in(process.data_dir() + "/admin.token");
    std::getline(in, admin_token);
    REQUIRE_FALSE(admin_token.empty());
  }
  static ServerConfig config() {
    ServerConfig config;
    config.auth_enabled = true;
    return config;
  }
  Headers as_admin() const { return bearer(admin_token); }
  static Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

  // A user and a token of it with `scopes` (a JSON array).
  std::string user_token(const std::string& nickname, const std::string& scopes, std::string* uuid = nullptr) {
    auto created = client->request("POST", "/auth/users", "{\"nickname\":\"" + nickname + "\",\"scopes\":" + scopes + "}",
                                   as_admin());
    REQUIRE(created.status == 201);
    auto id = json_string(created.body, "/uuid");
    REQUIRE(id);
    if (uuid) *uuid = *id;
    auto minted = client->request("POST", "/auth/tokens", "{\"user_uuid\":\"" + *id + "\",\"ttl\":\"1h\"}", as_admin());
    REQUIRE(minted.status == 201);
    auto token = json_string(minted.body, "/token");
    REQUIRE(token);
    return *token;
  }

  ServerProcess process;
  std::unique_ptr<HttpClient> client;
  std::string admin_token;
};

void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO("body: " << response.body);
  CHECK(response.status == status);
  CHECK(json_string(response.body, "/code") == code);
}

}  // namespace

TEST_CASE("protected routes need a valid bearer token; /health stays open", "[integration][auth]") {
  AuthServer server;
  auto bare = server.client->get("/kv/x");
  check_error(bare, 401, "unauthenticated");
  CHECK(bare.header("WWW-Authenticate") == "Bearer");
  check_error(server.client->put("/kv/x", "1"), 401, "unauthenticated");
  check_error(server.client->get("/kv/x", {{"Authorization", "Basic YTpi"}}), 401, "unauthenticated");
  check_error(server.client->get("/kv/x", AuthServer::bearer("not.a.token")), 401, "unauthenticated");
  check_error(server.client->get("/kv/x", AuthServer::bearer(server.admin_token + "x")), 401, "unauthenticated");
  check_error(server.client->get("/auth/users"), 401, "unauthenticated");
  CHECK(server.client->get("/health").status == 200);

  // The bootstrap admin token works; the scheme is case-insensitive.
  CHECK(server.client->put("/kv/x", "1", server.as_admin()).status == 200);
  CHECK(server.client->get("/kv/x", {{"Authorization", "bearer " + server.admin_token}}).status == 200);
  // The admin user is not a data key.
  CHECK(json_int(server.client->get("/health").body, "/keys") == 1);
}

TEST_CASE("users, tokens and permissions over REST", "[integration][auth]") {
  AuthServer server;
  std::string alice_uuid;
  std::string alice = server.user_token("alice", "[\"read\",\"write\"]", &alice_uuid);
  std::string bob = server.user_token("bob", "[\"read\",\"write\"]");

  auto user = server.client->get("/auth/users/" + alice_uuid, AuthServer::bearer(alice));
  REQUIRE(user.status == 200);
  CHECK(json_string(user.body, "/nickname") == "alice");
  CHECK(json_size(user.body, "/scopes") == 2u);
  check_error(server.client->request("POST", "/auth/users", "{\"nickname\":\"alice\"}", server.as_admin()), 409,
              "conflict");
  check_error(server.client->request("POST", "/auth/users", "{\"nickname\":\"eve\"}", AuthServer::bearer(alice)), 403,
              "permission_denied");
  check_error(server.client->request("POST", "/auth/users", "{\"nick\":\"eve\"}", server.as_admin()), 400,
              "invalid_argument");
  check_error(server.client->request("POST", "/auth/users", "[1]", server.as_admin()), 400, "invalid_argument");

  // Alice's key: hers by default (0xF10), closed to bob.
  REQUIRE(server.client->put("/kv/docs/a", "{\"v\":1}", AuthServer::bearer(alice)).status == 200);
  auto meta = server.client->get("/kv/docs/a?meta", AuthServer::bearer(alice));
  REQUIRE(meta.status == 200);
  CHECK(json_string(meta.body, "/owner_uuid") == alice_uuid);
  CHECK(json_int(meta.body, "/permissions") == 0xF10);
  check_error(server.client->get("/kv/docs/a", AuthServer::bearer(bob)), 403, "permission_denied");
  check_error(server.client->put("/kv/docs/a", "2", AuthServer::bearer(bob)), 403, "permission_denied");
  check_error(server.client->del("/kv/docs/a", AuthServer::bearer(bob)), 403, "permission_denied");
  check_error(server.client->put("/kv/docs/a/sub", "2", AuthServer::bearer(bob)), 403, "permission_denied");
  auto listed = server.client->get("/kv/_range?prefix=docs/", AuthServer::bearer(bob));
  REQUIRE(listed.status == 200);
  CHECK(json_size(listed.body, "/items") == 0u);
  CHECK(server.client->get("/kv/docs/a", server.as_admin()).status == 200);

  // The owner opens it to others for reading.
  REQUIRE(server.client->put("/kv/docs/a?meta", "{\"permissions\":3857}", AuthServer::bearer(alice)).status == 200);
  CHECK(server.client->get("/kv/docs/a", AuthServer::bearer(bob)).status == 200);

  // A user mints a narrower token for itself, and revokes it.
  auto minted = server.client->request("POST", "/auth/tokens", "{\"scopes\":[\"read\"]}", AuthServer::bearer(alice));
  REQUIRE(minted.status == 201);
  auto reader = json_string(minted.body, "/token");
  auto jti = json_string(minted.body, "/jti");
  REQUIRE(reader);
  REQUIRE(jti);
  CHECK(json_int(minted.body, "/expires_at").value_or(0) > 0);
  CHECK(server.client->get("/kv/docs/a", AuthServer::bearer(*reader)).status == 200);
  check_error(server.client->put("/kv/docs/b", "1", AuthServer::bearer(*reader)), 403, "permission_denied");
  check_error(server.client->request("POST", "/auth/tokens", "{\"scopes\":[\"admin\"]}", AuthServer::bearer(alice)), 403,
              "permission_denied");
  CHECK(server.client->del("/auth/tokens/" + *jti, AuthServer::bearer(*reader)).status == 204);
  check_error(server.client->get("/kv/docs/a", AuthServer::bearer(*reader)), 401, "unauthenticated");

  // Deleting a user ends its tokens.
  auto bob_id = json_string(server.client->request("POST", "/auth/users", "{\"nickname\":\"tmp\"}", server.as_admin()).body,
                            "/uuid");
  REQUIRE(bob_id);
  CHECK(server.client->del("/auth/users/" + *bob_id, server.as_admin()).status == 204);
  check_error(server.client->get("/auth/users/" + *bob_id, server.as_admin()), 404, "not_found");
}

TEST_CASE("groups over REST give members the group bits", "[integration][auth]") {
  AuthServer server;
  std::string alice_uuid;
  std::string bob_uuid;
  std::string alice = server.user_token("alice", "[\"read\",\"write\"]", &alice_uuid);
  std::string bob = server.user_token("bob", "[\"read\"]", &bob_uuid);
  std::string carol = server.user_token("carol", "[\"read\"]");

  auto group = server.client->request(
      "POST", "/auth/groups", "{\"name\":\"team\",\"members\":[\"" + alice_uuid + "\",\"" + bob_uuid + "\"]}",
      server.as_admin());
  REQUIRE(group.status == 201);
  auto group_uuid = json_string(group.body, "/uuid");
  REQUIRE(group_uuid);
  CHECK(json_size(server.client->get("/auth/groups/" + *group_uuid, server.as_admin()).body, "/members") == 2u);

  Headers shared = AuthServer::bearer(alice);
  shared.emplace_back("X-KVS-Group", *group_uuid);
  REQUIRE(server.client->put("/kv/team/plan", "1", shared).status == 200);
  CHECK(server.client->get("/kv/team/plan", AuthServer::bearer(bob)).status == 200);
  check_error(server.client->get("/kv/team/plan", AuthServer::bearer(carol)), 403, "permission_denied");

  CHECK(server.client->del("/auth/groups/" + *group_uuid, server.as_admin()).status == 204);
  check_error(server.client->get("/kv/team/plan", AuthServer::bearer(bob)), 403, "permission_denied");
}

TEST_CASE("kvs-server token prints a working token for a stopped node", "[integration][auth]") {
  AuthServer server;
  REQUIRE(server.client->put("/kv/k", "7", server.as_admin()).status == 200);
  // The data_dir is held while the server runs.
  CHECK(run_kvs_server({"token", "--config", server.process.config_path(), "--user", "admin"}).exit_code == 1);
  REQUIRE(server.process.stop() == 0);

  auto printed = run_kvs_server({"token", "--config", server.process.config_path(), "--user", "admin", "--scopes",
                                 "read", "--ttl", "1h"});
  REQUIRE(printed.exit_code == 0);
  std::string token = printed.out.substr(0, printed.out.find('\n'));
  CHECK(run_kvs_server({"token", "--config", server.process.config_path(), "--user", "nobody"}).exit_code == 1);
  CHECK(run_kvs_server({"token", "--config", server.process.config_path(), "--user", "admin", "--scopes", "root"})
            .exit_code == 2);

  REQUIRE(server.process.start());
  HttpClient client(server.process.base_url());
  CHECK(client.get("/kv/k", AuthServer::bearer(token)).status == 200);
  check_error(client.put("/kv/k", "8", AuthServer::bearer(token)), 403, "permission_denied");
}

TEST_CASE("with auth off, /auth/ is absent and everything is open", "[integration][auth]") {
  ServerProcess process;
  REQUIRE(process.start());
  HttpClient client(process.base_url());
  check_error(client.get("/auth/users"), 404, "not_found");
  check_error(client.request("POST", "/auth/tokens", "{}"), 404, "not_found");
  CHECK(client.put("/kv/open", "1").status == 200);
}

}  // namespace kvs::test
