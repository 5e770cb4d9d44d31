// The REST data interface (SPEC section 2, "Data" and /health) against a real kvs-server.

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

using kvs::test::HttpClient;
using kvs::test::HttpResponse;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::json_bool;
using kvs::test::json_has;
using kvs::test::json_int;
using kvs::test::json_is_null;
using kvs::test::json_minified;
using kvs::test::json_size;
using kvs::test::json_string;

namespace {

// An error body is {"error": "<message>", "code": "<code>"} and nothing else.
void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO("body: " << response.body);
  CHECK(response.status == status);
  CHECK(response.header("Content-Type") == "application/json");
  CHECK(json_string(response.body, "/code") == code);
  CHECK(json_string(response.body, "/error").value_or("").size() > 0);
  CHECK(json_size(response.body, "") == 2u);
}

struct Server {
  explicit Server(ServerConfig config = {}) : process(std::move(config)) {
    REQUIRE(process.start());
    client = std::make_unique<HttpClient>(process.base_url());
  }
  ServerProcess process;
  std::unique_ptr<HttpClient> client;
};

}  // namespace

TEST_CASE("GET /health reports status, mode, members, node id, version, uptime and keys", "[integration]") {
  Server server;
  auto health = server.client->get("/health");
  REQUIRE(health.status == 200);
  CHECK(health.header("Content-Type") == "application/json");
  CHECK(json_string(health.body, "/status") == "ok");
  CHECK(json_string(health.body, "/mode") == "normal");
  CHECK(json_int(health.body, "/member_count") == 1);
  CHECK(json_string(health.body, "/node_id") == "test-node-" + std::to_string(server.process.port()));
  CHECK(json_string(health.body, "/version").has_value());
  CHECK(json_int(health.body, "/uptime_s").has_value());
  CHECK(json_int(health.body, "/keys") == 0);
  REQUIRE(server.client->put("/kv/a", "1").status == 200);
  CHECK(json_int(server.client->get("/health").body, "/keys") == 1);
}

TEST_CASE("PUT creates and replaces, GET returns the document as sent with its ETag, DELETE removes", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  const std::string document = "{ \"name\" : \"John\",\n  \"tags\": [1, 2.5, null] }";
  auto put = client.put("/kv/users/john/profile", document);
  REQUIRE(put.status == 200);
  auto uuid = json_string(put.body, "/uuid");
  auto timestamp = json_int(put.body, "/timestamp");
  REQUIRE(uuid);
  REQUIRE(timestamp);
  CHECK(json_size(put.body, "") == 2u);
  CHECK(put.header("ETag") == "\"" + *uuid + "\"");

  auto get = client.get("/kv/users/john/profile");
  REQUIRE(get.status == 200);
  CHECK(get.header("ETag") == "\"" + *uuid + "\"");
  CHECK(json_string(get.body, "/uuid") == uuid);
  CHECK(json_int(get.body, "/timestamp") == timestamp);
  CHECK_FALSE(json_has(get.body, "/expires_at"));
  // Stored exactly as sent: the raw text appears in the response, whitespace and all.
  CHECK(get.body.find(document) != std::string::npos);

  // Leading and trailing slashes are stripped.
  CHECK(client.get("/kv//users/john/profile/").status == 200);

  auto replaced = client.put("/kv/users/john/profile", "\"v2\"");
  REQUIRE(replaced.status == 200);
  CHECK(json_string(replaced.body, "/uuid") != uuid);
  CHECK(json_int(replaced.body, "/timestamp").value_or(0) > *timestamp);
  CHECK(json_string(client.get("/kv/users/john/profile").body, "/data") == "v2");

  auto removed = client.del("/kv/users/john/profile");
  CHECK(removed.status == 204);
  CHECK(removed.body.empty());
  check_error(client.get("/kv/users/john/profile"), 404, "not_found");
  check_error(client.del("/kv/users/john/profile"), 404, "not_found");
  check_error(client.del("/kv/never/was"), 404, "not_found");
  check_error(client.get("/kv/never/was"), 404, "not_found");
}

TEST_CASE("HEAD answers like GET without a body; If-None-Match on GET gives 304", "[integration]") {
  Server server;
  auto put = server.client->put("/kv/k", "{\"a\":1}");
  auto etag = put.header("ETag");
  auto head = server.client->request("HEAD", "/kv/k");
  CHECK(head.status == 200);
  CHECK(head.header("ETag") == etag);
  CHECK(head.body.empty());
  auto not_modified = server.client->get("/kv/k", {{"If-None-Match", etag}});
  CHECK(not_modified.status == 304);
  CHECK(server.client->get("/kv/k", {{"If-None-Match", "\"other\""}}).status == 200);
}

TEST_CASE("percent-encoded keys are decoded before validation", "[integration]") {
  Server server;
  REQUIRE(server.client->put("/kv/a%20b/c%2Fd", "1").status == 200);
  CHECK(server.client->get("/kv/a%20b/c/d").status == 200);
  auto range = server.client->get("/kv/_range");
  CHECK(json_string(range.body, "/items/0/path") == "a b/c/d");
  REQUIRE(server.client->put("/kv/caf%C3%A9", "2").status == 200);
  CHECK(server.client->get("/kv/caf\xC3\xA9").status == 200);
}

TEST_CASE("the envelope form stores data with a TTL; only an object of exactly data and ttl is one", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  auto put = client.put("/kv/session", "{\"data\": {\"user\": \"john\" }, \"ttl\": \"1h\"}");
  REQUIRE(put.status == 200);
  auto get = client.get("/kv/session");
  REQUIRE(get.status == 200);
  CHECK(json_minified(get.body, "/data") == "{\"user\":\"john\"}");
  CHECK(get.body.find("{\"user\": \"john\" }") != std::string::npos);  // the inner text as sent
  CHECK(json_int(get.body, "/expires_at") == *json_int(get.body, "/timestamp") + 3600 * 1000);

  // Scalars and arrays as envelope data.
  REQUIRE(client.put("/kv/s", "{\"ttl\":\"10s\",\"data\":\"text\"}").status == 200);
  CHECK(json_string(client.get("/kv/s").body, "/data") == "text");
  REQUIRE(client.put("/kv/arr", "{\"data\":[1,{\"x\":2}],\"ttl\":\"0\"}").status == 200);
  auto array = client.get("/kv/arr");
  CHECK(json_minified(array.body, "/data") == "[1,{\"x\":2}]");
  CHECK_FALSE(json_has(array.body, "/expires_at"));  // "0": no expiry

  // A third member makes it a plain document.
  REQUIRE(client.put("/kv/plain", "{\"data\":1,\"ttl\":\"1h\",\"x\":2}").status == 200);
  auto plain = client.get("/kv/plain");
  CHECK(json_minified(plain.body, "/data") == "{\"data\":1,\"ttl\":\"1h\",\"x\":2}");
  CHECK_FALSE(json_has(plain.body, "/expires_at"));
  // Only data: a plain document too.
  REQUIRE(client.put("/kv/plain2", "{\"data\":1}").status == 200);
  CHECK(json_minified(client.get("/kv/plain2").body, "/data") == "{\"data\":1}");

  // A bad ttl in the envelope is a 400 and writes nothing.
  check_error(client.put("/kv/bad", "{\"data\":1,\"ttl\":\"7d\"}"), 400, "invalid_argument");
  check_error(client.put("/kv/bad", "{\"data\":1,\"ttl\":5}"), 400, "invalid_argument");
  check_error(client.put("/kv/bad", "{\"data\":1,\"ttl\":\"1h\"} trailing"), 400, "invalid_argument");
  check_error(client.put("/kv/bad", "{\"data\":{\"a\":},\"ttl\":\"1h\"}"), 400, "invalid_argument");
  check_error(client.get("/kv/bad"), 404, "not_found");

  // A number beyond 64 bits inside the envelope's data never turns the envelope into a plain
  // document: it is stored as the inner text, or refused as a whole.
  auto big = client.put("/kv/big", "{\"data\":{\"n\":123456789012345678901234567890},\"ttl\":\"1h\"}");
  if (big.status == 200) {
    auto stored = client.get("/kv/big");
    CHECK(stored.body.find("\"data\":{\"n\":123456789012345678901234567890}") != std::string::npos);
    // Found by text: whether simdjson reads a 30-digit integer (as a double) depends on its
    // build, so the body is not parsed here.
    CHECK(stored.body.find("\"expires_at\":") != std::string::npos);
  } else {
    check_error(big, 400, "invalid_argument");
    check_error(client.get("/kv/big"), 404, "not_found");
  }
}

TEST_CASE("?ttl sets an expiry; giving the TTL both ways or a bad one is a 400", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  REQUIRE(client.put("/kv/q?ttl=30s", "{\"a\":1}").status == 200);
  auto get = client.get("/kv/q");
  CHECK(json_int(get.body, "/expires_at") == *json_int(get.body, "/timestamp") + 30'000);
  REQUIRE(client.put("/kv/q2?ttl=1h30m", "1").status == 200);
  get = client.get("/kv/q2");
  CHECK(json_int(get.body, "/expires_at") == *json_int(get.body, "/timestamp") + 90 * 60'000);

  check_error(client.put("/kv/both?ttl=30s", "{\"data\":1,\"ttl\":\"1h\"}"), 400, "invalid_argument");
  for (const char* bad : {"7d", "", "-1s", "1x", "abc"}) {
    INFO(bad);
    check_error(client.put(std::string("/kv/badttl?ttl=") + bad, "1"), 400, "invalid_argument");
  }
  check_error(client.put("/kv/badttl?ttl", "1"), 400, "invalid_argument");
  check_error(client.get("/kv/both"), 404, "not_found");
  check_error(client.get("/kv/badttl"), 404, "not_found");
}

TEST_CASE("an expired key reads as absent", "[integration]") {
  Server server;
  REQUIRE(server.client->put("/kv/short?ttl=300ms", "1").status == 200);
  // Bounded polling on the wall clock: the key must disappear within a few seconds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  long status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = server.client->get("/kv/short").status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(status == 404);
  CHECK(json_size(server.client->get("/kv/_range").body, "/items") == 0u);
}

TEST_CASE("If-Match and If-None-Match make PUT and DELETE conditional (412 otherwise)", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  auto created = client.put("/kv/c", "1", {{"If-None-Match", "*"}});
  REQUIRE(created.status == 200);
  std::string etag = created.header("ETag");
  check_error(client.put("/kv/c", "2", {{"If-None-Match", "*"}}), 412, "precondition_failed");
  check_error(client.put("/kv/c", "2", {{"If-Match", "\"not-the-uuid\""}}), 412, "precondition_failed");
  check_error(client.put("/kv/absent", "2", {{"If-Match", "*"}}), 412, "precondition_failed");
  check_error(client.put("/kv/absent", "2", {{"If-Match", etag}}), 412, "precondition_failed");
  CHECK(json_int(client.get("/kv/c").body, "/data") == 1);

  auto updated = client.put("/kv/c", "3", {{"If-Match", etag}});
  REQUIRE(updated.status == 200);
  check_error(client.put("/kv/c", "4", {{"If-Match", etag}}), 412, "precondition_failed");  // stale now
  REQUIRE(client.put("/kv/c", "5", {{"If-Match", "*"}}).status == 200);
  std::string current = client.get("/kv/c").header("ETag");
  REQUIRE(client.put("/kv/c", "6", {{"If-Match", "\"x\", " + current}}).status == 200);

  current = client.get("/kv/c").header("ETag");
  check_error(client.del("/kv/c", {{"If-Match", "\"wrong\""}}), 412, "precondition_failed");
  CHECK(client.get("/kv/c").status == 200);
  CHECK(client.del("/kv/c", {{"If-Match", current}}).status == 204);
  // After a delete, If-None-Match: * creates again.
  CHECK(client.put("/kv/c", "7", {{"If-None-Match", "*"}}).status == 200);
}

TEST_CASE("GET /kv/_range pages through keys in order with start, end, prefix, limit and values", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  for (const char* key : {"a/1", "a/2", "a/3", "a/4", "a/5", "b/1", "ab"}) {
    REQUIRE(client.put(std::string("/kv/") + key, std::string("{\"k\":\"") + key + "\"}").status == 200);
  }
  REQUIRE(client.del("/kv/a/4").status == 204);

  auto all = client.get("/kv/_range");
  REQUIRE(all.status == 200);
  CHECK(json_size(all.body, "/items") == 6u);
  CHECK(json_is_null(all.body, "/next_start_key"));
  CHECK(json_string(all.body, "/items/0/path") == "a/1");
  CHECK(json_string(all.body, "/items/5/path") == "b/1");
  CHECK(json_string(all.body, "/items/0/uuid").has_value());
  CHECK(json_int(all.body, "/items/0/timestamp").has_value());
  CHECK_FALSE(json_has(all.body, "/items/0/data"));

  auto page = client.get("/kv/_range?prefix=a/&limit=2&values=true");
  REQUIRE(page.status == 200);
  CHECK(json_size(page.body, "/items") == 2u);
  CHECK(json_string(page.body, "/items/1/data/k") == "a/2");
  REQUIRE(json_string(page.body, "/next_start_key") == "a/3");
  auto next = client.get("/kv/_range?prefix=a/&limit=2&start_key=a/3");
  CHECK(json_size(next.body, "/items") == 2u);  // a/3, a/5 (a/4 is deleted)
  CHECK(json_string(next.body, "/items/1/path") == "a/5");
  CHECK(json_is_null(next.body, "/next_start_key"));

  auto window = client.get("/kv/_range?start_key=a/2&end_key=ab");
  CHECK(json_size(window.body, "/items") == 3u);  // a/2, a/3, a/5: end exclusive
  CHECK(json_string(window.body, "/items/2/path") == "a/5");
  CHECK(json_size(client.get("/kv/_range?start_key=z").body, "/items") == 0u);

  for (const char* bad : {"limit=0", "limit=10001", "limit=abc", "limit=-1", "limit=", "values=maybe"}) {
    INFO(bad);
    check_error(client.get(std::string("/kv/_range?") + bad), 400, "invalid_argument");
  }
  CHECK(client.get("/kv/_range?limit=10000").status == 200);
}

TEST_CASE("GET /kv/_range with delimiter=/ lists one level: keys and rolled-up prefixes", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  for (const char* key : {"users/ann", "users/bob/profile", "users/bob/keys/1", "users/cy", "top"}) {
    REQUIRE(client.put(std::string("/kv/") + key, "1").status == 200);
  }
  auto level = client.get("/kv/_range?prefix=users/&delimiter=/");
  REQUIRE(level.status == 200);
  CHECK(json_size(level.body, "/items") == 2u);
  CHECK(json_string(level.body, "/items/0/path") == "users/ann");
  CHECK(json_string(level.body, "/items/1/path") == "users/cy");
  CHECK(json_size(level.body, "/prefixes") == 1u);
  CHECK(json_string(level.body, "/prefixes/0") == "users/bob/");
  CHECK(json_is_null(level.body, "/next_start_key"));

  // The top level with an empty prefix; the prefix counts against the limit.
  auto top = client.get("/kv/_range?delimiter=/&limit=1");
  REQUIRE(top.status == 200);
  CHECK(json_size(top.body, "/items") == 1u);
  CHECK(json_string(top.body, "/items/0/path") == "top");
  CHECK(json_size(top.body, "/prefixes") == 0u);
  REQUIRE(json_string(top.body, "/next_start_key") == "users/ann");
  auto rest = client.get("/kv/_range?delimiter=/&limit=1&start_key=users/ann");
  CHECK(json_string(rest.body, "/prefixes/0") == "users/");
  CHECK(json_is_null(rest.body, "/next_start_key"));

  // Without a delimiter there is no prefixes member; any delimiter but / is refused.
  CHECK_FALSE(json_has(client.get("/kv/_range?prefix=users/").body, "/prefixes"));
  for (const char* bad : {"delimiter=:", "delimiter=", "delimiter=//"}) {
    INFO(bad);
    check_error(client.get(std::string("/kv/_range?") + bad), 400, "invalid_argument");
  }
}

TEST_CASE("the range limit defaults to 100", "[integration]") {
  Server server;
  for (int i = 0; i < 101; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "/kv/k%03d", i);
    REQUIRE(server.client->put(key, "0").status == 200);
  }
  auto page = server.client->get("/kv/_range");
  CHECK(json_size(page.body, "/items") == 100u);
  CHECK(json_string(page.body, "/next_start_key") == "k100");
}

TEST_CASE("?history lists revisions newest first and ?revision=N reads one", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  std::vector<std::string> uuids;
  for (int i = 1; i <= 3; ++i) {
    auto put = client.put("/kv/h", "{\"v\":" + std::to_string(i) + "}");
    REQUIRE(put.status == 200);
    uuids.push_back(*json_string(put.body, "/uuid"));
  }
  REQUIRE(client.del("/kv/h").status == 204);
  auto history = client.get("/kv/h?history");
  REQUIRE(history.status == 200);
  CHECK(json_string(history.body, "/path") == "h");
  REQUIRE(json_size(history.body, "/revisions") == 4u);
  CHECK(json_int(history.body, "/revisions/0/revision") == 4);
  CHECK(json_bool(history.body, "/revisions/0/deleted") == true);
  CHECK(json_is_null(history.body, "/revisions/0/data"));
  CHECK(json_int(history.body, "/revisions/1/revision") == 3);
  CHECK(json_string(history.body, "/revisions/1/uuid") == uuids[2]);
  CHECK(json_int(history.body, "/revisions/1/data/v") == 3);
  CHECK(json_int(history.body, "/revisions/3/data/v") == 1);
  CHECK(json_int(history.body, "/revisions/3/timestamp").has_value());

  auto first = client.get("/kv/h?revision=1");
  REQUIRE(first.status == 200);
  CHECK(json_string(first.body, "/uuid") == uuids[0]);
  CHECK(json_int(first.body, "/data/v") == 1);
  CHECK(first.header("ETag") == "\"" + uuids[0] + "\"");
  check_error(client.get("/kv/h?revision=99"), 404, "not_found");
  check_error(client.get("/kv/h?revision=4"), 404, "not_found");  // the tombstone
  check_error(client.get("/kv/h?revision=0"), 400, "invalid_argument");
  check_error(client.get("/kv/h?revision=abc"), 400, "invalid_argument");
  check_error(client.get("/kv/never?history"), 404, "not_found");
  check_error(client.get("/kv/h?history&meta"), 400, "invalid_argument");
}

TEST_CASE("with revision history disabled, ?history and ?revision are absent (404)", "[integration]") {
  ServerConfig config;
  config.extra_yaml = "revision_history_enabled: false\n";
  Server server(config);
  REQUIRE(server.client->put("/kv/h", "1").status == 200);
  check_error(server.client->get("/kv/h?history"), 404, "not_found");
  check_error(server.client->get("/kv/h?revision=1"), 404, "not_found");
  CHECK(server.client->get("/kv/h").status == 200);
}

TEST_CASE("?meta reads and changes owner, group and permissions", "[integration]") {
  Server server;
  HttpClient& client = *server.client;
  REQUIRE(client.put("/kv/m", "1", {{"X-KVS-Group", "group-1"}}).status == 200);
  auto meta = client.get("/kv/m?meta");
  REQUIRE(meta.status == 200);
  CHECK(json_int(meta.body, "/permissions") == 0xF10);
  CHECK(json_string(meta.body, "/group_uuid") == "group-1");
  CHECK(json_is_null(meta.body, "/owner_uuid"));

  auto changed = client.put("/kv/m?meta", "{\"permissions\":\"0xF31\",\"owner_uuid\":\"user-1\"}");
  REQUIRE(changed.status == 200);
  CHECK(json_int(changed.body, "/permissions") == 0xF31);
  CHECK(json_string(changed.body, "/owner_uuid") == "user-1");
  CHECK(json_int(client.get("/kv/m?meta").body, "/permissions") == 0xF31);
  REQUIRE(client.put("/kv/m?meta", "{\"permissions\":3840,\"group_uuid\":null}").status == 200);
  auto after = client.get("/kv/m?meta");
  CHECK(json_int(after.body, "/permissions") == 3840);
  CHECK(json_is_null(after.body, "/group_uuid"));
  CHECK(json_int(client.get("/kv/m").body, "/data") == 1);  // the document is unchanged

  check_error(client.put("/kv/m?meta", "{\"permissions\":4096}"), 400, "invalid_argument");
  check_error(client.put("/kv/m?meta", "{\"permissions\":\"rwx\"}"), 400, "invalid_argument");
  check_error(client.put("/kv/m?meta", "{\"colour\":\"red\"}"), 400, "invalid_argument");
  check_error(client.put("/kv/m?meta", "[1]"), 400, "invalid_argument");
  check_error(client.put("/kv/m?meta", "{}"), 400, "invalid_argument");
  check_error(client.get("/kv/absent?meta"), 404, "not_found");
  check_error(client.put("/kv/absent?meta", "{\"permissions\":1}"), 404, "not_found");
}

TEST_CASE("read_only mode refuses client writes with 403 read_only and still serves reads", "[integration]") {
  ServerProcess writer;
  REQUIRE(writer.start());
  {
    HttpClient client(writer.base_url());
    REQUIRE(client.put("/kv/r", "1").status == 200);
  }
  REQUIRE(writer.stop() == 0);
  ServerConfig config;
  config.data_dir = writer.data_dir();
  config.extra_yaml = "read_only: true\n";
  Server server(config);
  check_error(server.client->put("/kv/r", "2"), 403, "read_only");
  check_error(server.client->del("/kv/r"), 403, "read_only");
  check_error(server.client->put("/kv/r?meta", "{\"permissions\":1}"), 403, "read_only");
  CHECK(json_int(server.client->get("/kv/r").body, "/data") == 1);
  CHECK(json_string(server.client->get("/health").body, "/mode") == "read-only");
}

TEST_CASE("features that are not built or are off have no routes (404)", "[integration]") {
  Server server;
  // (/audit, on by default, is checked off in audit_test.cpp.)
  for (const char* path : {"/members/", "/sync/merkle/root", "/auth/users"}) {
    INFO(path);
    check_error(server.client->get(path), 404, "not_found");
  }
}

TEST_CASE("64 clients connecting at once are all served promptly", "[integration]") {
  Server server;
  REQUIRE(server.client->put("/kv/hot", "{\"v\":1}").status == 200);
  constexpr int kClients = 64;
  std::vector<std::thread> threads;
  std::vector<int> ok(kClients, 0);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client(server.process.base_url());
      for (int n = 0; n < 20; ++n) ok[i] += client.get("/kv/hot").status == 200;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kClients; ++i) CHECK(ok[i] == 20);
  // httplib's hard-coded backlog of 5 makes a burst of connects stall in SYN retries; the
  // listening socket must have been given the larger one. ss shows a listener's backlog in
  // its Send-Q column.
  auto listening = kvs::test::run_shell("ss -ltnH 'sport = :" + std::to_string(server.process.port()) + "'");
  REQUIRE(listening.exit_code == 0);
  std::istringstream fields(listening.out);
  std::string state;
  long queued = -1;
  long backlog = -1;
  fields >> state >> queued >> backlog;
  CHECK(state == "LISTEN");
  CHECK(backlog >= 1024);
}
