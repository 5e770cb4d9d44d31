// The change feed across a two-node cluster of real kvs-server processes (label cluster): a
// watch on node A sees, as put and delete events, the versions node B's writes push to A.
// Timers are short (sub-second gossip, 1 s sync rounds); every wait is bounded and no assertion
// is about speed.

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/event_stream.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using kvs::test::address_of;
using kvs::test::eventually;
using kvs::test::EventStream;
using kvs::test::HttpClient;
using kvs::test::json_int;
using kvs::test::json_minified;
using kvs::test::json_string;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;

namespace {

constexpr const char* kSecret = "watch-cluster-test-secret-5f2a9c1e7b";

ServerConfig node_config(const std::string& node_id, const std::vector<std::string>& seeds) {
  return kvs::test::cluster_node_config(node_id, seeds, kSecret,
                                        kvs::test::fast_cluster_timings() + "watch_heartbeat: 1s\n");
}

bool has_members(const ServerProcess& server, std::int64_t count) {
  HttpClient client(server.base_url());
  return json_int(client.get("/health").body, "/member_count") == count;
}

// The next event of `stream` that is not a heartbeat, or "" when none came in time.
std::string next_event(EventStream& stream, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto line = stream.next_line(left);
    if (!line) return "";
    if (json_string(*line, "/type") != "heartbeat") return *line;
  }
  return "";
}

}  // namespace

TEST_CASE("a watch on one node sees the writes and deletes made on another", "[cluster][watch]") {
  ServerProcess a(node_config("watch-a", {}));
  REQUIRE(a.start());
  ServerProcess b(node_config("watch-b", {address_of(a)}));
  REQUIRE(b.start());
  REQUIRE(eventually([&] { return has_members(a, 2) && has_members(b, 2); }));

  EventStream stream(a.port(), "/kv/_watch?prefix=shared/&values=true");
  REQUIRE(stream.status(std::chrono::seconds(10)) == 200);

  HttpClient on_b(b.base_url());
  auto put = on_b.put("/kv/shared/doc", R"({"from":"b"})");
  REQUIRE(put.status == 200);
  std::string event = next_event(stream, std::chrono::seconds(30));
  INFO(event);
  CHECK(json_string(event, "/type") == "put");
  CHECK(json_string(event, "/path") == "shared/doc");
  // The version B made, not a copy of A's own.
  CHECK(json_string(event, "/uuid") == json_string(put.body, "/uuid"));
  CHECK(json_int(event, "/timestamp") == json_int(put.body, "/timestamp"));
  CHECK(json_minified(event, "/data") == R"({"from":"b"})");

  REQUIRE(on_b.del("/kv/shared/doc").status == 204);
  std::string removed = next_event(stream, std::chrono::seconds(30));
  INFO(removed);
  CHECK(json_string(removed, "/type") == "delete");
  CHECK(json_string(removed, "/path") == "shared/doc");

  stream.close();
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}
