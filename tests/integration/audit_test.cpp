// The audit log over REST against a real kvs-server (SPEC section 2, "Operations"; issue 7):
// GET /audit and GET /audit/verify for admins, the entries every kind of request leaves, an
// entry edited in the LMDB file of the stopped server reported by verify, and the routes
// absent with tamper_logging_enabled off. Issue 14: the head in /audit/verify and in the log of
// each backup, and entries removed from the end found with ?head_seq=&head_hash=.


#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "features/audit.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/stored_edit.hpp"

namespace kvs::test {
namespace {

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string read_token(const ServerProcess& process) {
  std::ifstream in(process.data_dir() + "/admin.token");
  std::string token;
  std::getline(in, token);
  return token;
}

// Flips the last byte of audit entry `seq`'s path in the stopped server's data directory.
void tamper_with_entry(const std::string& data_dir, std::uint64_t seq) {
  kvs::test::edit_stored_value(data_dir, "audit", features::audit_key(seq), [](std::string value) {
    value[value.size() - 3 * features::kAuditHashBytes - 1] ^= 0x01;
    return value;
  });
}

}  // namespace

TEST_CASE("GET /audit lists every mutation and GET /audit/verify checks the chain", "[integration][audit]") {
  ServerConfig config;
  config.auth_enabled = true;
  ServerProcess process(config);
  REQUIRE(process.start());
  HttpClient client(process.base_url());
  const std::string admin = read_token(process);
  REQUIRE_FALSE(admin.empty());

  REQUIRE(client.put("/kv/docs/a", R"({"v":1})", bearer(admin)).status == 200);
  REQUIRE(client.put("/kv/docs/b", R"({"v":2})", bearer(admin)).status == 200);
  REQUIRE(client.del("/kv/docs/a", bearer(admin)).status == 204);
  CHECK(client.del("/kv/docs/absent", bearer(admin)).status == 404);  // refused: no entry
  auto user = client.request("POST", "/auth/users", R"({"nickname":"reader","scopes":["read"]})", bearer(admin));
  REQUIRE(user.status == 201);
  auto user_uuid = json_string(user.body, "/uuid");
  REQUIRE(user_uuid);

  auto listed = client.get("/audit", bearer(admin));
  INFO(listed.body);
  REQUIRE(listed.status == 200);
  REQUIRE(json_size(listed.body, "/entries") == std::optional<std::size_t>(5));
  CHECK(json_is_null(listed.body, "/next_since"));
  // Entry 1: the bootstrap admin, made by the system; its path names the admin's uuid.
  CHECK(json_string(listed.body, "/entries/0/action") == "auth.user.create");
  CHECK(json_string(listed.body, "/entries/0/actor") == "system");
  auto admin_path = json_string(listed.body, "/entries/0/path");
  REQUIRE(admin_path);
  auto admin_uuid = admin_path->substr(admin_path->rfind('/') + 1);
  CHECK(json_int(listed.body, "/entries/1/seq") == 2);
  CHECK(json_string(listed.body, "/entries/1/action") == "kv.put");
  CHECK(json_string(listed.body, "/entries/1/path") == "docs/a");
  CHECK(json_string(listed.body, "/entries/1/actor") == admin_uuid);
  CHECK(json_string(listed.body, "/entries/1/value_hash").value_or("").size() == 64);
  CHECK(json_string(listed.body, "/entries/1/prev_hash") == json_string(listed.body, "/entries/0/hash"));
  CHECK(json_string(listed.body, "/entries/2/path") == "docs/b");
  CHECK(json_string(listed.body, "/entries/3/action") == "kv.delete");
  CHECK(json_is_null(listed.body, "/entries/3/value_hash"));
  CHECK(json_string(listed.body, "/entries/4/action") == "auth.user.create");
  CHECK(json_string(listed.body, "/entries/4/path").value_or("").find(*user_uuid) != std::string::npos);
  CHECK(json_int(listed.body, "/entries/4/timestamp").value_or(0) > 0);

  auto page = client.get("/audit?since=2&limit=2", bearer(admin));
  REQUIRE(page.status == 200);
  CHECK(json_size(page.body, "/entries") == std::optional<std::size_t>(2));
  CHECK(json_int(page.body, "/entries/0/seq") == 2);
  CHECK(json_int(page.body, "/next_since") == 4);

  auto verified = client.get("/audit/verify", bearer(admin));
  REQUIRE(verified.status == 200);
  CHECK(json_bool(verified.body, "/ok") == true);
  CHECK(json_int(verified.body, "/entries") == 5);

  // Admins only; a token is needed; bad parameters are 400.
  auto minted = client.request("POST", "/auth/tokens", "{\"user_uuid\":\"" + *user_uuid + "\",\"ttl\":\"1h\"}",
                               bearer(admin));
  REQUIRE(minted.status == 201);
  auto reader = json_string(minted.body, "/token");
  REQUIRE(reader);
  CHECK(client.get("/audit", bearer(*reader)).status == 403);
  CHECK(client.get("/audit/verify", bearer(*reader)).status == 403);
  CHECK(client.get("/audit").status == 401);
  CHECK(client.get("/audit/verify").status == 401);
  CHECK(client.get("/audit?limit=0", bearer(admin)).status == 400);
  CHECK(client.get("/audit?limit=10001", bearer(admin)).status == 400);
  CHECK(client.get("/audit?since=x", bearer(admin)).status == 400);

  // Edit entry 3 in the file of the stopped server: verify names it after a restart.
  REQUIRE(process.stop() == std::optional<int>(0));
  tamper_with_entry(process.data_dir(), 3);
  REQUIRE(process.start());
  HttpClient again(process.base_url());
  auto broken = again.get("/audit/verify", bearer(admin));
  INFO(broken.body);
  REQUIRE(broken.status == 200);
  CHECK(json_bool(broken.body, "/ok") == false);
  CHECK(json_int(broken.body, "/first_bad_seq") == 3);
  CHECK_FALSE(json_has(broken.body, "/entries"));
}

TEST_CASE("with tamper_logging_enabled off the audit routes are absent", "[integration][audit]") {
  ServerConfig config;
  config.extra_yaml = "tamper_logging_enabled: false\n";
  ServerProcess process(config);
  REQUIRE(process.start());
  HttpClient client(process.base_url());
  REQUIRE(client.put("/kv/docs/a", R"({"v":1})").status == 200);
  CHECK(client.get("/audit").status == 404);
  CHECK(client.get("/audit/verify").status == 404);
}

TEST_CASE("without auth the audit log records the application as local", "[integration][audit]") {
  ServerProcess process;
  REQUIRE(process.start());
  HttpClient client(process.base_url());
  REQUIRE(client.put("/kv/docs/a", R"({"v":1})").status == 200);
  auto listed = client.get("/audit?since=0");
  INFO(listed.body);
  REQUIRE(listed.status == 200);
  REQUIRE(json_size(listed.body, "/entries") == std::optional<std::size_t>(1));
  CHECK(json_string(listed.body, "/entries/0/actor") == "local");
  CHECK(json_bool(client.get("/audit/verify").body, "/ok") == true);
}

TEST_CASE("issue 14: /audit/verify returns the head, each backup logs it, and a recorded head reveals a truncated chain",
          "[integration][audit]") {
  ServerProcess process;
  REQUIRE(process.start());
  HttpClient client(process.base_url());
  for (int i = 1; i <= 6; ++i) REQUIRE(client.put("/kv/k/" + std::to_string(i), R"({"n":1})").status == 200);

  auto verified = client.get("/audit/verify");
  INFO(verified.body);
  REQUIRE(verified.status == 200);
  CHECK(json_bool(verified.body, "/ok") == true);
  CHECK(json_int(verified.body, "/entries") == 6);
  CHECK(json_int(verified.body, "/head_seq") == 6);
  auto head_hash = json_string(verified.body, "/head_hash");
  REQUIRE(head_hash);
  CHECK(head_hash->size() == 64);
  auto last = client.get("/audit?since=6");
  REQUIRE(last.status == 200);
  CHECK(json_string(last.body, "/entries/0/hash") == *head_hash);

  // The backup logs the head it holds.
  REQUIRE(client.request("POST", "/admin/backup", "").status == 201);
  const std::string log = process.stderr_text();
  CHECK_THAT(log, Catch::Contains("audit.head"));
  CHECK_THAT(log, Catch::Contains("hash=" + *head_hash));

  const std::string known = "/audit/verify?head_seq=6&head_hash=" + *head_hash;
  CHECK(json_bool(client.get(known).body, "/ok") == true);
  // Malformed heads are 400.
  CHECK(client.get("/audit/verify?head_seq=6").status == 400);
  CHECK(client.get("/audit/verify?head_hash=" + *head_hash).status == 400);
  CHECK(client.get("/audit/verify?head_seq=6&head_hash=abc").status == 400);
  CHECK(client.get("/audit/verify?head_seq=x&head_hash=" + *head_hash).status == 400);

  // Remove the two newest entries from the file of the stopped server.
  REQUIRE(process.stop() == std::optional<int>(0));
  for (std::uint64_t seq : {std::uint64_t{5}, std::uint64_t{6}}) delete_stored_value(process.data_dir(), "audit", features::audit_key(seq));
  REQUIRE(process.start());
  HttpClient again(process.base_url());
  auto alone = again.get("/audit/verify");
  CHECK(json_bool(alone.body, "/ok") == true);  // the chain alone cannot tell
  CHECK(json_int(alone.body, "/head_seq") == 4);
  auto truncated = again.get(known);
  INFO(truncated.body);
  REQUIRE(truncated.status == 200);
  CHECK(json_bool(truncated.body, "/ok") == false);
  CHECK(json_int(truncated.body, "/first_bad_seq") == 5);
  CHECK(json_int(truncated.body, "/head_seq") == 4);
  CHECK(json_string(truncated.body, "/head_hash").value_or("").size() == 64);
}

}  // namespace kvs::test
