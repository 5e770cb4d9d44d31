// The wire form of GET /kv/_watch (kvs-server/watch_wire.hpp): the query and headers read into a
// request (framing, resume point, long-poll bounds), events rendered as ndjson lines, as
// server-sent events and as the long-poll answer, and where a long poll cuts at a resync.
// Not covered here: the waiting, heartbeats, token checks and disconnects (tests/integration/
// watch_test.cpp runs them against a real server).

#include "watch_wire.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "url.hpp"

using kvs::WatchEvent;
using kvs::server::WatchFraming;

namespace {

kvs::server::Target target(const std::string& raw) {
  auto parsed = kvs::server::parse_target(raw);
  REQUIRE(parsed.is_ok());
  return *parsed;
}

kvs::Result<kvs::server::WatchRequest> parse(const std::string& raw, std::string_view accept = "",
                                             std::string_view last_event_id = "") {
  return kvs::server::parse_watch_request(target(raw), accept, last_event_id);
}

WatchEvent event(WatchEvent::Type type, std::string cursor, std::string path = "", std::string uuid = "",
                 std::int64_t timestamp_ms = 0, std::optional<std::string> data = std::nullopt) {
  WatchEvent e;
  e.type = type;
  e.cursor = std::move(cursor);
  e.path = std::move(path);
  e.uuid = std::move(uuid);
  e.timestamp_ms = timestamp_ms;
  e.data = std::move(data);
  return e;
}

}  // namespace

TEST_CASE("a watch request without wait is an ndjson stream from now on", "[server][watch]") {
  auto request = parse("/kv/_watch?prefix=users%2F");
  REQUIRE(request.is_ok());
  CHECK(request->framing == WatchFraming::kNdjson);
  CHECK(request->prefix == "users/");
  CHECK_FALSE(request->since.has_value());
  CHECK_FALSE(request->values);

  auto everything = parse("/kv/_watch");
  REQUIRE(everything.is_ok());
  CHECK(everything->prefix.empty());
}

TEST_CASE("since and values are read, and an empty since is refused", "[server][watch]") {
  auto request = parse("/kv/_watch?prefix=a&since=n1%3A42&values=true");
  REQUIRE(request.is_ok());
  CHECK(request->since == std::optional<std::string>("n1:42"));
  CHECK(request->values);
  CHECK(parse("/kv/_watch?values")->values);
  CHECK_FALSE(parse("/kv/_watch?values=0")->values);

  auto empty = parse("/kv/_watch?since=");
  REQUIRE_FALSE(empty.is_ok());
  CHECK(empty.status().code() == kvs::Status::Code::kInvalidArgument);
  CHECK(empty.status().message().find("since") != std::string::npos);
  auto bad = parse("/kv/_watch?values=yes");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("values") != std::string::npos);
}

TEST_CASE("Accept: text/event-stream asks for SSE, and Last-Event-ID wins over since", "[server][watch]") {
  auto sse = parse("/kv/_watch?since=old", "text/event-stream");
  REQUIRE(sse.is_ok());
  CHECK(sse->framing == WatchFraming::kSse);
  CHECK(sse->since == std::optional<std::string>("old"));

  // An EventSource reconnects to the URL it was given, with the last id it saw.
  auto resumed = parse("/kv/_watch?since=old", "Text/Event-Stream; charset=utf-8", "newer");
  REQUIRE(resumed.is_ok());
  CHECK(resumed->framing == WatchFraming::kSse);
  CHECK(resumed->since == std::optional<std::string>("newer"));

  // Last-Event-ID is an SSE header: an ndjson request ignores it.
  auto ndjson = parse("/kv/_watch?since=old", "application/x-ndjson", "newer");
  REQUIRE(ndjson.is_ok());
  CHECK(ndjson->framing == WatchFraming::kNdjson);
  CHECK(ndjson->since == std::optional<std::string>("old"));
}

TEST_CASE("wait makes a long poll, bounded to 5m, with limit 1..10000 defaulting to 100", "[server][watch]") {
  auto poll = parse("/kv/_watch?wait=30s", "text/event-stream");
  REQUIRE(poll.is_ok());
  CHECK(poll->framing == WatchFraming::kLongPoll);
  CHECK(poll->wait == std::chrono::seconds(30));
  CHECK(poll->limit == 100);

  CHECK(parse("/kv/_watch?wait=5m&limit=10000")->limit == 10000);
  CHECK(parse("/kv/_watch?wait=5m")->wait == std::chrono::minutes(5));
  CHECK(parse("/kv/_watch?wait=0")->wait == std::chrono::milliseconds(0));
  CHECK(parse("/kv/_watch?wait=250ms&limit=1")->limit == 1);

  for (const char* raw : {"/kv/_watch?wait=5m1s", "/kv/_watch?wait=1h", "/kv/_watch?wait=30", "/kv/_watch?wait=",
                          "/kv/_watch?wait", "/kv/_watch?wait=-1s"}) {
    INFO(raw);
    auto refused = parse(raw);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == kvs::Status::Code::kInvalidArgument);
    CHECK(refused.status().message().find("wait") != std::string::npos);
  }
  for (const char* raw : {"/kv/_watch?wait=1s&limit=0", "/kv/_watch?wait=1s&limit=10001", "/kv/_watch?wait=1s&limit=x",
                          "/kv/_watch?limit=5"}) {
    INFO(raw);
    auto refused = parse(raw);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == kvs::Status::Code::kInvalidArgument);
    CHECK(refused.status().message().find("limit") != std::string::npos);
  }
}

TEST_CASE("a put event carries its version and, on one line, its document", "[server][watch]") {
  auto put = event(WatchEvent::Type::kPut, "c7", "users/a\"b", "u-1", 1700000000123, "{\n  \"x\": [1,\r\n 2],\"s\":\"a\\nb\"\n}");
  CHECK(kvs::server::watch_event_json(put) ==
        R"({"type":"put","cursor":"c7","path":"users/a\"b","uuid":"u-1","timestamp":1700000000123,)"
        R"("data":{   "x": [1,   2],"s":"a\nb" }})");
  auto without = put;
  without.data.reset();
  CHECK(kvs::server::watch_event_json(without) ==
        R"({"type":"put","cursor":"c7","path":"users/a\"b","uuid":"u-1","timestamp":1700000000123})");
}

TEST_CASE("delete, resync and heartbeat objects have their SPEC members only", "[server][watch]") {
  auto removed = event(WatchEvent::Type::kDelete, "c8", "users/a", "u-2", 5, std::string("{}"));
  CHECK(kvs::server::watch_event_json(removed) ==
        R"({"type":"delete","cursor":"c8","path":"users/a","uuid":"u-2","timestamp":5})");
  CHECK(kvs::server::watch_event_json(event(WatchEvent::Type::kResyncRequired, "c9")) ==
        R"({"type":"resync_required","cursor":"c9"})");
  CHECK(kvs::server::heartbeat_json("c10") == R"({"type":"heartbeat","cursor":"c10"})");
}

TEST_CASE("ndjson frames an object as a line, SSE as an event whose id is the cursor", "[server][watch]") {
  const std::string object = R"({"type":"heartbeat","cursor":"c1"})";
  CHECK(kvs::server::ndjson_line(object) == object + "\n");
  CHECK(kvs::server::sse_event("c1", object) == "id: c1\ndata: " + object + "\n\n");
  CHECK(kvs::server::framed(WatchFraming::kNdjson, "c1", object) == object + "\n");
  CHECK(kvs::server::framed(WatchFraming::kSse, "c1", object) == "id: c1\ndata: " + object + "\n\n");
}

TEST_CASE("the long-poll answer lists the events and the cursor to resume from", "[server][watch]") {
  std::vector<WatchEvent> events{event(WatchEvent::Type::kPut, "c1", "a", "u1", 1),
                                 event(WatchEvent::Type::kDelete, "c2", "b", "u2", 2)};
  CHECK(kvs::server::long_poll_json(events, "c2") ==
        R"({"events":[{"type":"put","cursor":"c1","path":"a","uuid":"u1","timestamp":1},)"
        R"({"type":"delete","cursor":"c2","path":"b","uuid":"u2","timestamp":2}],"cursor":"c2"})");
  CHECK(kvs::server::long_poll_json({}, "c0") == R"({"events":[],"cursor":"c0"})");
}

TEST_CASE("a long poll returns a leading resync alone and stops before a later one", "[server][watch]") {
  using kvs::server::cut_for_long_poll;
  auto put = event(WatchEvent::Type::kPut, "c1", "a", "u1", 1);
  auto resync = event(WatchEvent::Type::kResyncRequired, "c5");

  auto plain = cut_for_long_poll({put, put});
  CHECK(plain.keep == 2);
  CHECK_FALSE(plain.stop);

  auto leading = cut_for_long_poll({resync, put});
  CHECK(leading.keep == 1);
  CHECK(leading.stop);

  auto later = cut_for_long_poll({put, resync, put});
  CHECK(later.keep == 1);
  CHECK(later.stop);

  CHECK(cut_for_long_poll({}).keep == 0);
}

TEST_CASE("a stream's head is a chunked 200 of its framing's type, uncached, unbuffered and closing with the stream",
          "[server][watch]") {
  CHECK(kvs::server::stream_head(WatchFraming::kNdjson) ==
        "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n\r\n");
  CHECK(kvs::server::stream_head(WatchFraming::kSse) ==
        "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n\r\n");
}
