// The REST request behind each kvsctl command (SPEC section 2): methods, percent-encoded paths
// and queries, condition headers and JSON bodies. Not covered: sending them (http_client.cpp,
// exercised by the integration tests).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli.hpp"
#include "request.hpp"

using kvsctl::BodyMode;
using kvsctl::build_request;
using kvsctl::HttpRequest;
using kvsctl::parse_command_line;

namespace {

HttpRequest request_for(const std::vector<std::string>& args, std::string_view document = {}) {
  auto parsed = parse_command_line(args);
  INFO(parsed.error);
  REQUIRE(parsed.invocation.has_value());
  return build_request(*parsed.invocation, document);
}

std::string header(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("percent-encoding keeps unreserved bytes, and slashes only in keys", "[kvsctl]") {
  CHECK(kvsctl::percent_encode("a-b.c_d~E9") == "a-b.c_d~E9");
  CHECK(kvsctl::percent_encode("a b/c?d&e=f%") == "a%20b%2Fc%3Fd%26e%3Df%25");
  CHECK(kvsctl::percent_encode("users/jöhn", true) == "users/j%C3%B6hn");
}

TEST_CASE("JSON strings and comma lists are quoted and escaped", "[kvsctl]") {
  CHECK(kvsctl::json_quote("plain") == "\"plain\"");
  CHECK(kvsctl::json_quote("a\"b\\c\nd\x01") == "\"a\\\"b\\\\c\\nd\\u0001\"");
  CHECK(kvsctl::json_string_array("read, write,,admin") == "[\"read\",\"write\",\"admin\"]");
  CHECK(kvsctl::json_string_array("") == "[]");
}

TEST_CASE("get, put and del address the key under /kv/ with their conditions", "[kvsctl]") {
  auto get = request_for({"get", "users/john doe"});
  CHECK(get.method == "GET");
  CHECK(get.target == "/kv/users/john%20doe");
  CHECK(get.mode == BodyMode::kBuffered);
  CHECK(request_for({"get", "k", "--revision", "3"}).target == "/kv/k?revision=3");

  auto put = request_for({"put", "users/john", "-", "--ttl", "1h30m"}, "{\"age\":42}");
  CHECK(put.method == "PUT");
  CHECK(put.target == "/kv/users/john?ttl=1h30m");
  CHECK(put.body == "{\"age\":42}");
  CHECK(header(put, "If-Match") == "<absent>");
  CHECK(header(put, "If-None-Match") == "<absent>");

  CHECK(header(request_for({"put", "k", "1", "--create-only"}, "1"), "If-None-Match") == "*");
  CHECK(header(request_for({"put", "k", "1", "--if-match", "abc"}, "1"), "If-Match") == "\"abc\"");
  CHECK(header(request_for({"put", "k", "1", "--if-match", "\"abc\""}, "1"), "If-Match") == "\"abc\"");

  auto del = request_for({"del", "a/b", "--if-match", "u1"});
  CHECK(del.method == "DELETE");
  CHECK(del.target == "/kv/a/b");
  CHECK(header(del, "If-Match") == "\"u1\"");
}

TEST_CASE("ls, range and history query _range and ?history", "[kvsctl]") {
  CHECK(request_for({"ls", "users/"}).target == "/kv/_range?prefix=users%2F&delimiter=%2F");
  CHECK(request_for({"ls"}).target == "/kv/_range?prefix=&delimiter=%2F");
  CHECK(kvsctl::ls_request("users/", "users/k").target == "/kv/_range?prefix=users%2F&delimiter=%2F&start_key=users%2Fk");
  CHECK(request_for({"range"}).target == "/kv/_range");
  CHECK(request_for({"range", "--prefix", "a/", "--start", "a/b", "--end", "a/c", "--limit", "5", "--values"}).target ==
        "/kv/_range?prefix=a%2F&start_key=a%2Fb&end_key=a%2Fc&limit=5&values=true");
  CHECK(request_for({"history", "users/john"}).target == "/kv/users/john?history");
}

TEST_CASE("watch streams ndjson lines from /kv/_watch", "[kvsctl]") {
  auto watch = request_for({"watch", "users/", "--since", "c:1/2", "--values"});
  CHECK(watch.method == "GET");
  CHECK(watch.target == "/kv/_watch?prefix=users%2F&since=c%3A1%2F2&values=true");
  CHECK(watch.mode == BodyMode::kLines);
  CHECK(header(watch, "Accept") == "application/x-ndjson");
  CHECK(request_for({"watch"}).target == "/kv/_watch?prefix=");
}

TEST_CASE("the cluster, operations and export commands use their routes", "[kvsctl]") {
  CHECK(request_for({"members"}).target == "/members/");
  CHECK(request_for({"health"}).target == "/health");
  CHECK(request_for({"ready"}).target == "/ready");
  auto leave = request_for({"leave"});
  CHECK(leave.method == "DELETE");
  CHECK(leave.target == "/members/leave");
  auto exported = request_for({"export"});
  CHECK(exported.target == "/admin/export");
  CHECK(exported.mode == BodyMode::kRaw);
  auto backup = request_for({"backup", "create"});
  CHECK(backup.method == "POST");
  CHECK(backup.target == "/admin/backup");
  CHECK(request_for({"backup", "list"}).target == "/admin/backups");
  CHECK(request_for({"audit", "list", "--since", "10", "--limit", "2"}).target == "/audit?since=10&limit=2");
  CHECK(request_for({"audit", "verify"}).target == "/audit/verify");
  CHECK(request_for({"audit", "verify", "--head-seq", "12", "--head-hash", "ab01"}).target ==
        "/audit/verify?head_seq=12&head_hash=ab01");
}

TEST_CASE("user, group and token commands send the /auth/ bodies", "[kvsctl]") {
  auto create = request_for({"user", "create", "jo\"hn", "--scopes", "read,admin"});
  CHECK(create.method == "POST");
  CHECK(create.target == "/auth/users");
  CHECK(create.body == "{\"nickname\":\"jo\\\"hn\",\"scopes\":[\"read\",\"admin\"]}");
  CHECK(request_for({"user", "create", "john"}).body == "{\"nickname\":\"john\"}");
  CHECK(request_for({"user", "list"}).target == "/auth/users");
  CHECK(request_for({"user", "get", "u-1"}).target == "/auth/users/u-1");
  auto update = request_for({"user", "update", "u-1", "--scopes", "read"});
  CHECK(update.method == "PUT");
  CHECK(update.body == "{\"scopes\":[\"read\"]}");
  CHECK(request_for({"user", "delete", "u-1"}).method == "DELETE");

  auto group = request_for({"group", "create", "team", "--members", "u1,u2"});
  CHECK(group.target == "/auth/groups");
  CHECK(group.body == "{\"name\":\"team\",\"members\":[\"u1\",\"u2\"]}");
  CHECK(request_for({"group", "update", "g1", "--name", "t2", "--members", ""}).body ==
        "{\"name\":\"t2\",\"members\":[]}");
  CHECK(request_for({"group", "delete", "g1"}).target == "/auth/groups/g1");

  auto token = request_for({"token", "create", "--user", "u1", "--scopes", "read", "--ttl", "1h"});
  CHECK(token.method == "POST");
  CHECK(token.target == "/auth/tokens");
  CHECK(token.body == "{\"user_uuid\":\"u1\",\"scopes\":[\"read\"],\"ttl\":\"1h\"}");
  CHECK(request_for({"token", "create"}).body == "{}");
  auto revoke = request_for({"token", "revoke", "j/1"});
  CHECK(revoke.method == "DELETE");
  CHECK(revoke.target == "/auth/tokens/j%2F1");
}
