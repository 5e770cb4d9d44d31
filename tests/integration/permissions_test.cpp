// SPEC section 2 "Permissions" over REST against a real kvs-server (issue 14): ?history and
// ?revision=N checked per revision (delete-then-recreate and expire-then-recreate by another
// user), the subtree rule, 403 before 412 for conditional writes, and PUT ?meta answering with
// the meta it wrote. The rules themselves are unit-tested in tests/unit/node/
// node_permissions_test.cpp; this file checks the status codes and bodies a client sees.

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

namespace kvs::test {
namespace {

// A server with auth on, its admin token, and users with read and write tokens.
struct Server {
  Server() : process(config()) {
    REQUIRE(process.start());
    client = std::make_unique<HttpClient>(process.base_url());
    std::ifstream in(process.data_dir() + "/admin.token");
    std::getline(in, admin);
    REQUIRE_FALSE(admin.empty());
  }
  static ServerConfig config() {
    ServerConfig config;
    config.auth_enabled = true;
    return config;
  }

  // A new user with the read and write scopes: its token, and its uuid in `uuid`.
  std::string user(const std::string& nickname, std::string* uuid = nullptr) {
    auto created = client->request("POST", "/auth/users",
                                   "{\"nickname\":\"" + nickname + "\",\"scopes\":[\"read\",\"write\"]}", as(admin));
    REQUIRE(created.status == 201);
    auto id = json_string(created.body, "/uuid");
    REQUIRE(id);
    if (uuid) *uuid = *id;
    auto minted = client->request("POST", "/auth/tokens", "{\"user_uuid\":\"" + *id + "\",\"ttl\":\"1h\"}", as(admin));
    REQUIRE(minted.status == 201);
    auto token = json_string(minted.body, "/token");
    REQUIRE(token);
    return *token;
  }

  static Headers as(const std::string& token, Headers more = {}) {
    more.emplace_back("Authorization", "Bearer " + token);
    return more;
  }

  ServerProcess process;
  std::unique_ptr<HttpClient> client;
  std::string admin;
};

void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO("body: " << response.body);
  CHECK(response.status == status);
  CHECK(json_string(response.body, "/code") == code);
}

}  // namespace

TEST_CASE("issue 14: ?history and ?revision hide a deleted key's revisions from the user who re-creates it",
          "[integration][auth][history]") {
  Server server;
  HttpClient& client = *server.client;
  std::string alice = server.user("alice");
  std::string bob = server.user("bob");
  std::string carol = server.user("carol");

  REQUIRE(client.put("/kv/vault/pin", R"({"pin":"1234"})", Server::as(alice)).status == 200);
  REQUIRE(client.put("/kv/vault/pin", R"({"pin":"5678"})", Server::as(alice)).status == 200);
  REQUIRE(client.del("/kv/vault/pin", Server::as(alice)).status == 204);
  REQUIRE(client.put("/kv/vault/pin", R"({"pin":"0000"})", Server::as(bob)).status == 200);

  auto bobs = client.get("/kv/vault/pin?history", Server::as(bob));
  REQUIRE(bobs.status == 200);
  INFO("bob's history: " << bobs.body);
  CHECK(json_string(bobs.body, "/path") == "vault/pin");
  REQUIRE(json_size(bobs.body, "/revisions") == 1u);
  CHECK(json_int(bobs.body, "/revisions/0/revision") == 4);
  CHECK(json_string(bobs.body, "/revisions/0/data/pin") == "0000");
  CHECK(bobs.body.find("1234") == std::string::npos);
  CHECK(bobs.body.find("5678") == std::string::npos);
  check_error(client.get("/kv/vault/pin?revision=1", Server::as(bob)), 403, "permission_denied");
  check_error(client.get("/kv/vault/pin?revision=2", Server::as(bob)), 403, "permission_denied");
  check_error(client.get("/kv/vault/pin?revision=3", Server::as(bob)), 403, "permission_denied");
  CHECK(json_string(client.get("/kv/vault/pin?revision=4", Server::as(bob)).body, "/data/pin") == "0000");
  check_error(client.get("/kv/vault/pin?revision=5", Server::as(bob)), 404, "not_found");

  // Alice still reads her own revisions, not Bob's; Carol reads none (403); the admin reads all.
  auto alices = client.get("/kv/vault/pin?history", Server::as(alice));
  REQUIRE(alices.status == 200);
  REQUIRE(json_size(alices.body, "/revisions") == 3u);
  CHECK(json_int(alices.body, "/revisions/0/revision") == 3);
  CHECK(json_bool(alices.body, "/revisions/0/deleted") == true);
  CHECK(json_string(alices.body, "/revisions/2/data/pin") == "1234");
  CHECK(alices.body.find("0000") == std::string::npos);
  CHECK(json_string(client.get("/kv/vault/pin?revision=1", Server::as(alice)).body, "/data/pin") == "1234");
  check_error(client.get("/kv/vault/pin?revision=4", Server::as(alice)), 403, "permission_denied");
  check_error(client.get("/kv/vault/pin?history", Server::as(carol)), 403, "permission_denied");
  CHECK(json_size(client.get("/kv/vault/pin?history", Server::as(server.admin)).body, "/revisions") == 4u);
}

TEST_CASE("issue 14: ?history and ?revision hide an expired key's revisions from the user who re-creates it",
          "[integration][auth][history]") {
  Server server;
  HttpClient& client = *server.client;
  std::string alice = server.user("alice");
  std::string bob = server.user("bob");

  REQUIRE(client.put("/kv/vault/pin?ttl=1s", R"({"pin":"1234"})", Server::as(alice)).status == 200);
  REQUIRE(client.put("/kv/vault/pin?ttl=1s", R"({"pin":"5678"})", Server::as(alice)).status == 200);
  // Expired keys read as absent at once; wait (bounded) for the expiry.
  long status = 200;
  for (int i = 0; i < 100 && status == 200; ++i) {
    status = client.get("/kv/vault/pin", Server::as(alice)).status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(status == 404);

  REQUIRE(client.put("/kv/vault/pin", R"({"pin":"0000"})", Server::as(bob)).status == 200);
  auto bobs = client.get("/kv/vault/pin?history", Server::as(bob));
  REQUIRE(bobs.status == 200);
  INFO("bob's history: " << bobs.body);
  // Bob's own revision, whether or not the sweeper purged Alice's expired version first (a
  // purge drops its revisions, and numbering starts again at 1).
  REQUIRE(json_size(bobs.body, "/revisions") == 1u);
  CHECK(json_string(bobs.body, "/revisions/0/data/pin") == "0000");
  CHECK(bobs.body.find("1234") == std::string::npos);
  CHECK(bobs.body.find("5678") == std::string::npos);
  auto first = client.get("/kv/vault/pin?revision=1", Server::as(bob));
  INFO("revision 1: " << first.body);
  if (json_int(bobs.body, "/revisions/0/revision") == 3) {
    check_error(first, 403, "permission_denied");  // Alice's, still kept
  } else {
    CHECK(json_string(first.body, "/data/pin") == "0000");  // purged: Bob's is revision 1
  }
  CHECK(first.body.find("1234") == std::string::npos);
}

TEST_CASE("issue 14: only an admin creates a key above another user's live keys", "[integration][auth][subtree]") {
  Server server;
  HttpClient& client = *server.client;
  std::string alice = server.user("alice");
  std::string bob = server.user("bob");

  REQUIRE(client.put("/kv/alice/docs/x", "1", Server::as(alice)).status == 200);
  check_error(client.put("/kv/alice", "{}", Server::as(bob)), 403, "permission_denied");
  check_error(client.put("/kv/alice/docs", "{}", Server::as(bob)), 403, "permission_denied");
  CHECK(client.get("/kv/alice", Server::as(server.admin)).status == 404);

  // Alice is not locked out of her own tree.
  CHECK(client.put("/kv/alice/docs/y", "2", Server::as(alice)).status == 200);
  CHECK(client.put("/kv/alice/new", "3", Server::as(alice)).status == 200);
  CHECK(client.put("/kv/alice", "{}", Server::as(alice)).status == 200);
  // The admin may claim any parent.
  REQUIRE(client.put("/kv/bob/x", "1", Server::as(bob)).status == 200);
  CHECK(client.put("/kv/bob", "{}", Server::as(server.admin)).status == 200);
}

TEST_CASE("issue 14: a caller that may not write gets 403 for a conditional write, never 412",
          "[integration][auth][conditional]") {
  Server server;
  HttpClient& client = *server.client;
  std::string alice = server.user("alice");
  std::string bob = server.user("bob");

  auto created = client.put("/kv/vault/pin", R"({"pin":"1234"})", Server::as(alice));
  REQUIRE(created.status == 200);
  std::string etag = created.header("ETag");
  REQUIRE_FALSE(etag.empty());

  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-None-Match", "*"}})), 403, "permission_denied");
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-Match", etag}})), 403, "permission_denied");
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-Match", "\"other\""}})), 403, "permission_denied");
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-Match", "*"}})), 403, "permission_denied");
  check_error(client.del("/kv/vault/pin", Server::as(bob, {{"If-Match", "\"other\""}})), 403, "permission_denied");

  // Opened for reading, Bob still may not write: 403 also where he could compare tags himself.
  REQUIRE(client.put("/kv/vault/pin?meta", "{\"permissions\":\"0xF11\"}", Server::as(alice)).status == 200);
  etag = client.get("/kv/vault/pin", Server::as(bob)).header("ETag");  // a meta change is a new version
  REQUIRE_FALSE(etag.empty());
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-None-Match", "*"}})), 403, "permission_denied");
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-None-Match", etag}})), 403, "permission_denied");
  check_error(client.put("/kv/vault/pin", "1", Server::as(bob, {{"If-Match", "\"a\", \"b\""}})), 403,
              "permission_denied");
  check_error(client.del("/kv/vault/pin", Server::as(bob, {{"If-Match", "\"a\", \"b\""}})), 403, "permission_denied");
  CHECK(json_string(client.get("/kv/vault/pin", Server::as(alice)).body, "/data/pin") == "1234");

  // The owner gets the preconditions.
  check_error(client.put("/kv/vault/pin", "1", Server::as(alice, {{"If-None-Match", "*"}})), 412, "precondition_failed");
  check_error(client.put("/kv/vault/pin", "1", Server::as(alice, {{"If-None-Match", etag}})), 412,
              "precondition_failed");
  check_error(client.put("/kv/vault/pin", "1", Server::as(alice, {{"If-Match", "\"a\", \"b\""}})), 412,
              "precondition_failed");
  CHECK(client.put("/kv/vault/pin", "2", Server::as(alice, {{"If-Match", "\"a\", " + etag}})).status == 200);

  // A drop box: others may write but not read. "*" needs no read (Node checks it with the
  // write); specific tags do, so a writer that may not read gets 403, not an unchecked write.
  REQUIRE(client.put("/kv/dropbox", "0", Server::as(alice)).status == 200);
  REQUIRE(client.put("/kv/dropbox?meta", "{\"permissions\":\"0xF12\"}", Server::as(alice)).status == 200);
  std::string box = client.get("/kv/dropbox", Server::as(alice)).header("ETag");
  check_error(client.get("/kv/dropbox", Server::as(bob)), 403, "permission_denied");
  check_error(client.put("/kv/dropbox", "1", Server::as(bob, {{"If-None-Match", box}})), 403, "permission_denied");
  check_error(client.put("/kv/dropbox", "1", Server::as(bob, {{"If-Match", "\"a\", " + box}})), 403,
              "permission_denied");
  CHECK(json_int(client.get("/kv/dropbox", Server::as(alice)).body, "/data") == 0);
  CHECK(client.put("/kv/dropbox", "2", Server::as(bob, {{"If-Match", "*"}})).status == 200);
  CHECK(json_int(client.get("/kv/dropbox", Server::as(alice)).body, "/data") == 2);
}

TEST_CASE("issue 14: PUT ?meta answers 200 with the meta written, even when the caller gave the key away",
          "[integration][auth][meta]") {
  Server server;
  HttpClient& client = *server.client;
  std::string alice_uuid;
  std::string bob_uuid;
  std::string alice = server.user("alice", &alice_uuid);
  std::string bob = server.user("bob", &bob_uuid);

  REQUIRE(client.put("/kv/gift", "1", Server::as(alice)).status == 200);
  auto given = client.put("/kv/gift?meta", "{\"owner_uuid\":\"" + bob_uuid + "\"}", Server::as(alice));
  INFO("body: " << given.body);
  REQUIRE(given.status == 200);
  CHECK(json_string(given.body, "/owner_uuid") == bob_uuid);
  CHECK(json_is_null(given.body, "/group_uuid"));
  CHECK(json_int(given.body, "/permissions") == 0xF10);
  check_error(client.get("/kv/gift", Server::as(alice)), 403, "permission_denied");
  CHECK(client.get("/kv/gift", Server::as(bob)).status == 200);

  // chgrp: only a group the owner belongs to.
  auto group = client.request("POST", "/auth/groups", "{\"name\":\"bobs\",\"members\":[\"" + bob_uuid + "\"]}",
                              Server::as(server.admin));
  REQUIRE(group.status == 201);
  auto group_uuid = json_string(group.body, "/uuid");
  REQUIRE(group_uuid);
  REQUIRE(client.put("/kv/mine", "1", Server::as(alice)).status == 200);
  check_error(client.put("/kv/mine?meta", "{\"group_uuid\":\"" + *group_uuid + "\"}", Server::as(alice)), 403,
              "permission_denied");
  CHECK(json_is_null(client.get("/kv/mine?meta", Server::as(alice)).body, "/group_uuid"));
  auto bobs = client.put("/kv/gift?meta", "{\"group_uuid\":\"" + *group_uuid + "\"}", Server::as(bob));
  REQUIRE(bobs.status == 200);
  CHECK(json_string(bobs.body, "/group_uuid") == *group_uuid);
}

}  // namespace kvs::test
