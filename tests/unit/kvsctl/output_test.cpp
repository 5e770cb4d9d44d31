// What kvsctl prints: the server's JSON as it came, or tables for people; refusal messages;
// the merge of `ls` pages; watch lines split as chunks arrive. Not covered: the terminal
// itself (widths are counted in code points, not in terminal cells).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli.hpp"
#include "output.hpp"

using kvsctl::Invocation;
using kvsctl::OutputFormat;
using kvsctl::render_output;

namespace {

Invocation invocation(const std::vector<std::string>& args) {
  auto parsed = kvsctl::parse_command_line(args);
  INFO(parsed.error);
  REQUIRE(parsed.invocation.has_value());
  return *parsed.invocation;
}

}  // namespace

TEST_CASE("tables align their columns by two spaces without trailing blanks", "[kvsctl]") {
  kvsctl::Table table{{"PATH", "UUID"}, {{"a", "1"}, {"longer/päth", ""}}};
  CHECK(kvsctl::render_table(table) ==
        "PATH         UUID\n"
        "a            1\n"
        "longer/päth\n");
}

TEST_CASE("milliseconds since the epoch are shown in UTC", "[kvsctl]") {
  CHECK(kvsctl::format_time_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(kvsctl::format_time_ms(1764934908123) == "2025-12-05T11:41:48.123Z");
}

TEST_CASE("json output is the server's body as it came, with a final newline", "[kvsctl]") {
  const std::string body = R"({"uuid":"u","timestamp":1,"data":{"b": 1.50,"a":[]}})";
  CHECK(render_output(invocation({"get", "k"}), body) == body + "\n");
  CHECK(render_output(invocation({"del", "k"}), "").empty());
}

TEST_CASE("a single object is shown as key: value lines", "[kvsctl]") {
  const std::string body = R"({"uuid":"u1","timestamp":0,"data":{"name":"John"},"expires_at":1000})";
  CHECK(render_output(invocation({"get", "k", "-o", "table"}), body) ==
        "uuid:       u1\n"
        "timestamp:  1970-01-01T00:00:00.000Z\n"
        "data:       {\"name\":\"John\"}\n"
        "expires_at: 1970-01-01T00:00:01.000Z\n");
  CHECK(render_output(invocation({"user", "get", "x", "-o", "table"}),
                      R"({"uuid":"x","nickname":"bob","scopes":["read","write"]})") ==
        "uuid:     x\n"
        "nickname: bob\n"
        "scopes:   read,write\n");
}

TEST_CASE("lists are shown as columns, with the answer's other members below", "[kvsctl]") {
  const std::string range = R"({"items":[{"path":"a","uuid":"u1","timestamp":0},)"
                            R"({"path":"bb","uuid":"u2","timestamp":1000,"data":[1,{"x":null}]}],)"
                            R"("next_start_key":"c"})";
  CHECK(render_output(invocation({"range", "-o", "table"}), range) ==
        "PATH  UUID  TIMESTAMP                 DATA\n"
        "a     u1    1970-01-01T00:00:00.000Z\n"
        "bb    u2    1970-01-01T00:00:01.000Z  [1,{\"x\":null}]\n"
        "\n"
        "next_start_key: c\n");
  const std::string members = R"([{"id":"n1","address":"127.0.0.1:1","status":"alive"},{"id":"n2","address":null}])";
  CHECK(render_output(invocation({"members", "-o", "table"}), members) ==
        "ID  ADDRESS      STATUS\n"
        "n1  127.0.0.1:1  alive\n"
        "n2  -\n");
  CHECK(render_output(invocation({"history", "k", "-o", "table"}), R"({"path":"k","revisions":[]})") ==
        "path: k\n");
}

TEST_CASE("ls shows sub-prefixes and keys together in key order", "[kvsctl]") {
  const std::string page = R"({"items":[{"path":"users/zed","uuid":"u2","timestamp":0},)"
                           R"({"path":"users/al","uuid":"u1","timestamp":0}],)"
                           R"("prefixes":["users/bob/"],"next_start_key":null})";
  CHECK(render_output(invocation({"ls", "users/", "-o", "table"}), page) ==
        "PATH        UUID  TIMESTAMP\n"
        "users/al    u1    1970-01-01T00:00:00.000Z\n"
        "users/bob/  -     -\n"
        "users/zed   u2    1970-01-01T00:00:00.000Z\n");
}

TEST_CASE("ls pages merge into one page-shaped object", "[kvsctl]") {
  const std::vector<std::string> pages = {
      R"({"items":[{"path":"a","uuid":"1","timestamp":5}],"prefixes":["a/"],"next_start_key":"a/\uffff","cursor":"c1"})",
      R"({"items":[],"prefixes":["b/"],"next_start_key":"b/\uffff","cursor":"c2"})",
      R"({"items":[{"path":"c","uuid":"3","timestamp":6}],"prefixes":[],"next_start_key":null,"cursor":"c3"})"};
  CHECK(kvsctl::merge_listing_pages(pages) ==
        R"({"items":[{"path":"a","uuid":"1","timestamp":5},{"path":"c","uuid":"3","timestamp":6}],)"
        R"("prefixes":["a/","b/"],"next_start_key":null,"cursor":"c1"})");
  CHECK(kvsctl::merge_listing_pages({pages[1]}) == pages[1]);  // one page: as it came
  CHECK_FALSE(kvsctl::merge_listing_pages({pages[0], "not json"}));
  CHECK(kvsctl::next_start_key(pages[0]) == "a/\xEF\xBF\xBF");
  CHECK_FALSE(kvsctl::next_start_key(pages[2]));
}

TEST_CASE("a refusal prints the server's code and message", "[kvsctl]") {
  CHECK(kvsctl::refusal_message(412, R"({"error":"key k exists","code":"precondition_failed"})") ==
        "kvsctl: precondition_failed (HTTP 412): key k exists");
  CHECK(kvsctl::refusal_message(502, "<html>bad gateway</html>\n") ==
        "kvsctl: the server answered HTTP 502: <html>bad gateway</html>");
  CHECK(kvsctl::refusal_message(500, "") == "kvsctl: the server answered HTTP 500");
}

TEST_CASE("watch lines are split as chunks arrive and shown per format", "[kvsctl]") {
  kvsctl::LineSplitter splitter;
  CHECK(splitter.feed("{\"type\":\"put\"").empty());
  CHECK(splitter.feed(",\"path\":\"a\"}\n{\"ty") == std::vector<std::string>{R"({"type":"put","path":"a"})"});
  CHECK(splitter.feed("pe\":\"delete\"}\r\n\n") == std::vector<std::string>{R"({"type":"delete"})"});
  CHECK(splitter.feed("{\"partial\":") .empty());
  CHECK(splitter.finish() == "{\"partial\":");
  CHECK_FALSE(splitter.finish());

  const std::string put = R"({"type":"put","cursor":"c9","path":"users/a","uuid":"u","timestamp":1})";
  CHECK(kvsctl::render_watch_line(OutputFormat::kJson, put) == put);
  CHECK(kvsctl::render_watch_line(OutputFormat::kTable, put) == "put      users/a  c9");
  CHECK(kvsctl::render_watch_line(OutputFormat::kTable, R"({"type":"resync_required","cursor":"c1"})") ==
        "resync_required  -  c1");
  CHECK_FALSE(kvsctl::render_watch_line(OutputFormat::kTable, R"({"type":"heartbeat","cursor":"c1"})"));
  CHECK(kvsctl::render_watch_line(OutputFormat::kJson, R"({"type":"heartbeat","cursor":"c1"})"));
}
