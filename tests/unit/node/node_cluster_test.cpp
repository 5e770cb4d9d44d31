// kvs::Node's membership API (node_cluster.cpp) with the cluster driver running on a
// ManualClock: peer messages must be signed, a signed join adds a member, leave needs the admin
// scope, and a restart keeps the node's joined_timestamp. The driver's loop is another thread:
// the tests wait for its member events (bounded), never for a fixed time.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster/message.hpp"
#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "support/node_fixture.hpp"

namespace {

using kvs::Caller;
using kvs::MemberEvent;
using kvs::Status;
using kvs::detail::NodeAccess;
using kvs::test::NodeFixture;

void clustered(kvs::Config& config) {
  config.clustering_enabled = true;
  config.cluster_secret = "node-cluster-test-secret-0123456789";
  config.port = 7001;
}

// Collects the node's member events; wait_for blocks (bounded) until one of `kind` about `id`.
class EventLog {
 public:
  explicit EventLog(kvs::Node& node) {
    node.set_member_observer([this](const MemberEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      changed_.notify_all();
    });
  }

  bool wait_for(MemberEvent::Kind kind, const std::string& id) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const auto& event : events_) {
        if (event.kind == kind && event.member.id == id) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<MemberEvent> events_;
};

// A join from a peer "peer-1" that nobody serves (its join reply is refused, which is fine).
std::string join_body() {
  kvs::cluster::MemberEntry entry;
  entry.id = "peer-1";
  entry.address = "127.0.0.1:9";
  entry.joined_ms = 1'600'000'000'000;
  entry.incarnation = 1;
  entry.heartbeat = 1;
  return kvs::cluster::encode_message(kvs::cluster::PeerMessage{kvs::cluster::JoinRequest{entry}});
}

}  // namespace

TEST_CASE("with clustering off a node is its only member and join and leave are unavailable", "[node][cluster]") {
  NodeFixture fixture;
  auto members = fixture.node().members();
  REQUIRE(members.size() == 1);
  CHECK(members[0].id == "test-node");
  CHECK(members[0].is_self);
  CHECK(members[0].status == kvs::MemberStatus::kAlive);
  CHECK(fixture.node().health().member_count == 1);
  CHECK(fixture.node().join("127.0.0.1:7002").code() == Status::Code::kUnavailable);
  CHECK(fixture.node().leave().code() == Status::Code::kUnavailable);
  CHECK(fixture.node().handle_peer_request({"POST", "/members/join", join_body(), ""}).status().code() ==
        Status::Code::kUnavailable);
}

TEST_CASE("a signed join adds the peer as a member and an unsigned one changes nothing", "[node][cluster]") {
  NodeFixture fixture(clustered);
  kvs::Node& node = fixture.node();
  EventLog events(node);
  std::string body = join_body();

  CHECK(node.handle_peer_request({"POST", "/members/join", body, ""}).status().code() ==
        Status::Code::kUnauthenticated);
  std::string forged = NodeAccess::sign_peer_request(node, "POST", "/members/join", body + " ");
  CHECK(node.handle_peer_request({"POST", "/members/join", body, forged}).status().code() ==
        Status::Code::kUnauthenticated);
  CHECK(node.member_changes() == 0);
  CHECK(node.members().size() == 1);

  // Signed, but for another route than its type belongs to.
  std::string misrouted = NodeAccess::sign_peer_request(node, "POST", "/members/gossip", body);
  CHECK(node.handle_peer_request({"POST", "/members/gossip", body, misrouted}).status().code() ==
        Status::Code::kInvalidArgument);

  std::string signature = NodeAccess::sign_peer_request(node, "POST", "/members/join", body);
  auto queued = node.handle_peer_request({"POST", "/members/join", body, signature});
  REQUIRE(queued.is_ok());
  CHECK(queued->status == 202);
  CHECK(queued->body == "{}");
  REQUIRE(events.wait_for(MemberEvent::Kind::kJoined, "peer-1"));
  auto members = node.members();
  REQUIRE(members.size() == 2);
  CHECK(members[0].id == "peer-1");
  CHECK(members[0].address == "127.0.0.1:9");
  CHECK(members[0].joined_timestamp_ms == 1'600'000'000'000);
  CHECK(members[0].status == kvs::MemberStatus::kAlive);
  CHECK(members[1].id == "test-node");
  CHECK(members[1].address == "127.0.0.1:7001");
  CHECK(node.health().member_count == 2);

  // The same signed request again is a replay.
  CHECK(node.handle_peer_request({"POST", "/members/join", body, signature}).status().code() ==
        Status::Code::kUnauthenticated);

  // Silent for failure_timeout (default 5 min, by the manual clock): suspect, and no longer live.
  fixture.clock.advance(std::chrono::minutes(6));
  REQUIRE(events.wait_for(MemberEvent::Kind::kSuspect, "peer-1"));
  CHECK(node.health().member_count == 1);
}

TEST_CASE("leaving needs the admin scope and leaves the node alone", "[node][cluster]") {
  NodeFixture fixture([](kvs::Config& config) {
    clustered(config);
    config.auth_enabled = true;
  });
  kvs::Node& node = fixture.node();
  EventLog events(node);
  std::string body = join_body();
  std::string signature = NodeAccess::sign_peer_request(node, "POST", "/members/join", body);
  REQUIRE(node.handle_peer_request({"POST", "/members/join", body, signature}).is_ok());
  REQUIRE(events.wait_for(MemberEvent::Kind::kJoined, "peer-1"));

  Caller reader{false, "00000000-0000-4000-8000-000000000001", kvs::kScopeRead | kvs::kScopeWrite, "jti"};
  CHECK(node.leave({reader}).code() == Status::Code::kPermissionDenied);
  CHECK(node.members().size() == 2);
  Caller admin{false, "00000000-0000-4000-8000-000000000002", kvs::kScopeAdmin, "jti2"};
  REQUIRE(node.leave({admin}).is_ok());
  auto members = node.members();
  REQUIRE(members.size() == 1);
  CHECK(members[0].is_self);
  CHECK(node.join("not an address").code() == Status::Code::kInvalidArgument);
  CHECK(node.join("127.0.0.1:9").is_ok());
}

TEST_CASE("a reopened clustered node keeps its joined_timestamp", "[node][cluster]") {
  NodeFixture fixture(clustered);
  std::int64_t joined = fixture.node().members().at(0).joined_timestamp_ms;
  fixture.clock.advance(std::chrono::hours(1));
  fixture.reopen();
  auto members = fixture.node().members();
  REQUIRE(members.size() == 1);
  CHECK(members[0].joined_timestamp_ms == joined);
}

TEST_CASE("a signed /sync/ request is answered 200 through the one peer entry point", "[node][cluster]") {
  NodeFixture fixture(clustered);
  kvs::Node& node = fixture.node();
  REQUIRE(node.put("k", "{}").is_ok());
  const std::string body = "{}";
  CHECK(node.handle_peer_request({"POST", "/sync/merkle/branches", body, ""}).status().code() ==
        Status::Code::kUnauthenticated);
  std::string signature = NodeAccess::sign_peer_request(node, "POST", "/sync/merkle/branches", body);
  auto answer = node.handle_peer_request({"POST", "/sync/merkle/branches", body, signature});
  REQUIRE(answer.is_ok());
  CHECK(answer->status == 200);
  CHECK(answer->body.find("\"root\":\"" + node.merkle_root().root + "\"") != std::string::npos);

  signature = NodeAccess::sign_peer_request(node, "POST", "/sync/nothing", body);
  CHECK(node.handle_peer_request({"POST", "/sync/nothing", body, signature}).status().code() ==
        Status::Code::kNotFound);
  // Outside /members/ and /sync/: no peer target, whatever the signature.
  CHECK(node.handle_peer_request({"POST", "/kv/k", body, ""}).status().code() == Status::Code::kNotFound);
}

TEST_CASE("member states and event kinds spell as GET /members/ and the logs do", "[node][cluster]") {
  CHECK(to_string(kvs::MemberStatus::kAlive) == "alive");
  CHECK(to_string(kvs::MemberStatus::kSuspect) == "suspect");
  CHECK(to_string(MemberEvent::Kind::kJoined) == "joined");
  CHECK(to_string(MemberEvent::Kind::kUpdated) == "updated");
  CHECK(to_string(MemberEvent::Kind::kSuspect) == "suspect");
  CHECK(to_string(MemberEvent::Kind::kAlive) == "alive");
  CHECK(to_string(MemberEvent::Kind::kRemoved) == "removed");
  CHECK(to_string(MemberEvent::Kind::kLeft) == "left");
}
