// Operator subcommands: --help, --version, export, import, restore.

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"

using kvs::test::HttpClient;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::json_bool;
using kvs::test::json_int;
using kvs::test::json_is_null;
using kvs::test::json_string;
using kvs::test::json_valid;
using kvs::test::run_kvs_server;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("kvs-server --help and --version", "[integration]") {
  auto help = run_kvs_server({"--help"});
  CHECK(help.exit_code == 0);
  for (const char* word : {"export", "import", "restore", "--config", "--version"}) {
    CHECK_THAT(help.out, Catch::Contains(word));
  }
  auto version = run_kvs_server({"--version"});
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.out, Catch::StartsWith("kvs-server 0."));
  auto bad = run_kvs_server({"--frobnicate", "x"});
  CHECK(bad.exit_code == 2);
}

TEST_CASE("export writes every version with tombstones and metadata; import round-trips it", "[integration]") {
  ServerProcess source;
  REQUIRE(source.start());
  {
    HttpClient client(source.base_url());
    REQUIRE(client.put("/kv/users/john", "{ \"age\" : 42 }").status == 200);
    REQUIRE(client.put("/kv/users/jane?ttl=1h", "[1, \"two\"]").status == 200);
    REQUIRE(client.put("/kv/users/gone", "true").status == 200);
    REQUIRE(client.del("/kv/users/gone").status == 204);
    REQUIRE(client.put("/kv/text", "\"line\\nbreak \\\"quoted\\\" \\u00e9\"").status == 200);
    REQUIRE(client.put("/kv/users/john?meta", "{\"permissions\":\"0xF31\",\"owner_uuid\":\"u-1\"}").status == 200);
  }
  SECTION("export refuses while the server holds the data_dir") {
    auto refused = run_kvs_server({"export", "--config", source.config_path()});
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.err, Catch::Contains("unavailable"));
    CHECK(refused.out.empty());
    auto import_refused = run_kvs_server({"import", "--config", source.config_path()}, "");
    CHECK(import_refused.exit_code == 1);
  }
  SECTION("round trip") {
    REQUIRE(source.stop() == 0);
    auto exported = run_kvs_server({"export", "--config", source.config_path()});
    REQUIRE(exported.exit_code == 0);
    auto lines = lines_of(exported.out);
    REQUIRE(lines.size() == 4);
    std::set<std::string> paths;
    for (const auto& line : lines) {
      INFO(line);
      REQUIRE(json_valid(line));
      auto path = *json_string(line, "/path");
      paths.insert(path);
      CHECK(json_string(line, "/uuid").has_value());
      CHECK(json_int(line, "/timestamp").has_value());
      CHECK(json_string(line, "/origin_node_id") == "test-node-" + std::to_string(source.port()));
      CHECK(json_int(line, "/origin_joined_timestamp").has_value());
      CHECK(json_int(line, "/permissions").has_value());
      CHECK(json_string(line, "/owner_uuid").has_value());
      CHECK(json_string(line, "/group_uuid").has_value());
      if (path == "users/gone") {
        CHECK(json_bool(line, "/deleted") == true);
        CHECK(json_is_null(line, "/data"));
      } else {
        CHECK(json_bool(line, "/deleted") == false);
      }
      if (path == "users/jane") {
        CHECK(json_int(line, "/expires_at").has_value());
      } else {
        CHECK(json_is_null(line, "/expires_at"));
      }
      if (path == "users/john") {
        CHECK(line.find("\"data\":{ \"age\" : 42 }") != std::string::npos);
        CHECK(json_int(line, "/permissions") == 0xF31);
        CHECK(json_string(line, "/owner_uuid") == "u-1");
      }
    }
    CHECK(paths == std::set<std::string>{"text", "users/gone", "users/jane", "users/john"});

    ServerProcess target;
    REQUIRE(target.start());  // writes its config and creates its data_dir
    REQUIRE(target.stop() == 0);
    auto imported = run_kvs_server({"import", "--config", target.config_path()}, exported.out);
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
    auto again = run_kvs_server({"export", "--config", target.config_path()});
    REQUIRE(again.exit_code == 0);
    CHECK(again.out == exported.out);  // byte for byte: every field and every document

    // Importing the same lines again changes nothing (the held versions are the same writes).
    auto twice = run_kvs_server({"import", "--config", target.config_path()}, exported.out);
    CHECK(twice.exit_code == 0);
    CHECK(run_kvs_server({"export", "--config", target.config_path()}).out == exported.out);

    REQUIRE(target.start());
    HttpClient client(target.base_url());
    auto john = client.get("/kv/users/john");
    REQUIRE(john.status == 200);
    CHECK(json_int(john.body, "/data/age") == 42);
    CHECK(client.get("/kv/users/gone").status == 404);
    CHECK(json_string(client.get("/kv/text").body, "/data") == "line\nbreak \"quoted\" \xC3\xA9");
    CHECK(target.stop() == 0);
  }
}

TEST_CASE("import stops at a bad line, naming its number, and exits non-zero", "[integration]") {
  ServerProcess target;
  REQUIRE(target.start());
  REQUIRE(target.stop() == 0);
  std::string good =
      "{\"path\":\"a\",\"uuid\":\"00000000-0000-4000-8000-000000000001\",\"timestamp\":1000,\"data\":{\"x\":1},"
      "\"origin_node_id\":\"n1\",\"origin_joined_timestamp\":5,\"expires_at\":null,\"owner_uuid\":\"\","
      "\"group_uuid\":\"\",\"permissions\":3856,\"deleted\":false}\n";
  for (const std::string& bad : {std::string("not json"), std::string("{\"path\":\"b\"}"),
                                 std::string("{\"path\":\"a//b\",\"uuid\":\"u\",\"timestamp\":1,\"data\":1,"
                                             "\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1}"),
                                 std::string("{\"path\":\"c\",\"uuid\":\"u\",\"timestamp\":\"soon\",\"data\":1,"
                                             "\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1}"),
                                 std::string("{\"path\":\"c\",\"uuid\":\"u\",\"timestamp\":1,\"data\":{\"a\":},"
                                             "\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1}"),
                                 std::string("{\"path\":\"c\",\"uuid\":\"u\",\"timestamp\":1,\"data\":1,"
                                             "\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1,\"colour\":1}"),
                                 std::string("{\"path\":\"c\",\"uuid\":\"u\",\"timestamp\":1,\"data\":1,"
                                             "\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1} extra")}) {
    INFO(bad);
    auto result = run_kvs_server({"import", "--config", target.config_path()}, good + "\n" + bad + "\n" + good);
    CHECK(result.exit_code != 0);
    CHECK_THAT(result.err, Catch::Contains("line 3"));
  }
  // The good first line was applied; nothing of the bad one.
  auto exported = run_kvs_server({"export", "--config", target.config_path()});
  REQUIRE(exported.exit_code == 0);
  CHECK(lines_of(exported.out).size() == 1);
  CHECK(json_string(exported.out, "/path") == "a");
}

TEST_CASE("import applies lines by the version order", "[integration]") {
  ServerProcess target;
  REQUIRE(target.start());
  REQUIRE(target.stop() == 0);
  auto line = [](const char* uuid, int timestamp, const char* data) {
    return std::string("{\"path\":\"k\",\"uuid\":\"") + uuid + "\",\"timestamp\":" + std::to_string(timestamp) +
           ",\"data\":" + data +
           ",\"origin_node_id\":\"n\",\"origin_joined_timestamp\":1,\"expires_at\":null,\"owner_uuid\":\"\","
           "\"group_uuid\":\"\",\"permissions\":3856,\"deleted\":false}\n";
  };
  // The newer version first, then an older one, then an equal timestamp with a larger uuid:
  // the first stays the winner.
  std::string input = line("bbbb", 2000, "\"newer\"") + line("aaaa", 1000, "\"older\"") +
                      line("cccc", 2000, "\"same-time-larger-uuid\"");
  auto result = run_kvs_server({"import", "--config", target.config_path()}, input);
  REQUIRE(result.exit_code == 0);
  REQUIRE(target.start());
  HttpClient client(target.base_url());
  CHECK(json_string(client.get("/kv/k").body, "/data") == "newer");
}

TEST_CASE("restore names a missing backup and needs --from", "[integration]") {
  ServerProcess target;
  REQUIRE(target.start());
  REQUIRE(target.stop() == 0);
  auto result = run_kvs_server({"restore", "--config", target.config_path(), "--from", "/nonexistent/backup"});
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.err, Catch::Contains("/nonexistent/backup"));
  CHECK_THAT(result.err, Catch::Contains("not_found"));
  auto usage = run_kvs_server({"restore", "--config", target.config_path()});
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Catch::Contains("--from"));
  auto missing = run_kvs_server({"export", "--config", "/nonexistent/config.yaml"});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("does not exist"));
}
