// Peer authentication between real kvs-server processes on loopback (label cluster), SPEC
// section 2 "Cluster": a signed request names its destination node, so one captured on its way
// to node A is refused (401) by node B of the same cluster; every answer is signed, and a node
// discards an answer that does not verify (counted in kvs_peer_answers_rejected_total, logged as
// a WARN) and applies nothing from it, reserved _auth/ keys included. The tampering peer is a
// fake seed served by this test (cpp-httplib on 127.0.0.1) that answers a bootstrap pull with a
// page it signed and then altered; the same fake, honest, is the control that shows the page
// would have been applied. Not covered here: TLS (tls_test.cpp).

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "auth/peer_hmac.hpp"
#include "auth/records.hpp"
#include "auth/scopes.hpp"
#include "auth/secret.hpp"
#include "kvs/version.hpp"
#include "replication/sync_codec.hpp"
#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace kvs::test;

namespace {

constexpr const char* kSecret = "peer-security-test-secret-5b2f9e1c7d";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

kvs::auth::Key cluster_peer_key() { return kvs::auth::derive_keys(kSecret).peer_signing; }

std::optional<std::int64_t> merkle_keys(const ServerProcess& server) {
  return json_int(get_from(server, "/sync/merkle/root").body, "/keys");
}

// A fake seed: answers /members/join and /members/gossip with 202 and /sync/since with one page
// holding a reserved _auth/ user and a plain key, every answer signed with the cluster's key as
// node "fake-seed" does. `tamper` alters each body after signing it, as a man in the middle would.
class FakeSeed {
 public:
  explicit FakeSeed(bool tamper) : tamper_(tamper), signer_(cluster_peer_key()) {
    auto answer = [this](const httplib::Request& request, httplib::Response& response, int status, std::string body) {
      requests_ += 1;
      std::string nonce(kvs::auth::peer_nonce_of(request.get_header_value("X-KVS-Peer-Signature")));
      std::string mac = signer_.sign_answer(nonce, status, "fake-seed", body);
      if (tamper_) body.insert(body.size() - 1, " ");  // still JSON, no longer what was signed
      response.status = status;
      response.set_header("X-KVS-Peer-Node", "fake-seed");
      response.set_header("X-KVS-Peer-Answer", mac);
      response.set_content(body, "application/json");
    };
    server_.Post("/members/join", [answer](const httplib::Request& q, httplib::Response& r) { answer(q, r, 202, "{}"); });
    server_.Post("/members/gossip", [answer](const httplib::Request& q, httplib::Response& r) { answer(q, r, 202, "{}"); });
    server_.Post("/sync/since", [answer](const httplib::Request& q, httplib::Response& r) {
      answer(q, r, 200, kvs::replication::encode_versions({reserved_user(), plain_key()}));
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeSeed() {
    server_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

  static kvs::Version plain_key() {
    kvs::Version version;
    version.path = "planted/key";
    version.uuid = "0b6f7a52-8c1d-4e3f-9a2b-5c6d7e8f9a0b";
    version.timestamp_ms = wall_ms() - 1000;
    version.data = R"({"planted":true})";
    version.origin_node_id = "fake-seed";
    version.origin_joined_ms = 1;
    return version;
  }
  static kvs::Version reserved_user() {
    kvs::auth::UserRecord user{"6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b", "planted", kvs::auth::kScopeAll, wall_ms()};
    kvs::Version version = plain_key();
    version.path = std::string(kvs::auth::kUsersPrefix) + user.uuid;
    version.uuid = "1c7e8b63-9d2e-4f40-8b3c-6d7e8f9a0b1c";
    version.data = kvs::auth::encode_user(user);
    return version;
  }

 private:
  bool tamper_;
  kvs::auth::PeerSigner signer_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
};

}  // namespace

TEST_CASE("a signed peer request captured on its way to one node is refused by another", "[cluster][peer]") {
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start("node-a");
  ServerProcess& b = cluster.start("node-b", {address_of(a)});
  REQUIRE(eventually([&] { return member_count(a) == 2; }));

  // What node b's bootstrap would send to node a, signed with the cluster's key for node-a.
  kvs::auth::PeerSigner signer(cluster_peer_key());
  std::string body = kvs::replication::encode_since(kvs::replication::SinceCursor{});
  std::string nonce = kvs::auth::make_peer_nonce(7, 11);
  std::string captured = signer.sign("POST", "/sync/since", body, "node-a", wall_ms(), nonce);
  kvs::test::Headers headers{{"Content-Type", "application/json"}, {"X-KVS-Peer-Signature", captured}};

  // Replayed to node b: refused, nothing answered but the refusal.
  HttpResponse at_b = HttpClient(b.base_url()).request("POST", "/sync/since", body, headers);
  CHECK(at_b.status == 401);
  CHECK(at_b.body.find("versions") == std::string::npos);
  // b's refusal is signed by b, over the captured nonce.
  CHECK(at_b.header("X-KVS-Peer-Node") == "node-b");
  CHECK(signer.verify_answer(at_b.header("X-KVS-Peer-Answer"), nonce, 401, "node-b", at_b.body).is_ok());

  // The same request reaches node a, its destination: accepted, and the answer verifies.
  HttpResponse at_a = HttpClient(a.base_url()).request("POST", "/sync/since", body, headers);
  CHECK(at_a.status == 200);
  CHECK(at_a.header("X-KVS-Peer-Node") == "node-a");
  CHECK(signer.verify_answer(at_a.header("X-KVS-Peer-Answer"), nonce, 200, "node-a", at_a.body).is_ok());
  // ... once.
  CHECK(HttpClient(a.base_url()).request("POST", "/sync/since", body, headers).status == 401);

  // The cluster itself was never in doubt: its own traffic verifies both ways.
  CHECK(metric_value(a, "kvs_peer_answers_rejected_total") == 0);
  CHECK(metric_value(b, "kvs_peer_answers_rejected_total") == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("a tampered sync answer is discarded, counted and logged, and nothing of it is applied",
          "[cluster][peer]") {
  // The control: the same seed, honest, gets its page applied, the reserved key with it.
  {
    FakeSeed honest(/*tamper=*/false);
    ClusterFixture cluster(kSecret);
    ServerProcess& control = cluster.start("node-control", {honest.address()});
    CHECK(eventually([&] { return get_from(control, "/kv/planted/key").status == 200; }, std::chrono::seconds(15)));
    // A version is readable from its commit; the Merkle index hears of it once it is durable,
    // a moment later.
    CHECK(eventually([&] { return merkle_keys(control) == 2; }, std::chrono::seconds(5)));
    CHECK(metric_value(control, "kvs_peer_answers_rejected_total") == 0);
    CHECK(control.stop() == 0);
  }

  FakeSeed tampering(/*tamper=*/true);
  ClusterFixture cluster(kSecret);
  ServerProcess& victim = cluster.start("node-victim", {tampering.address()});
  // Several answers (joins and bootstrap pulls) have come back altered by now.
  REQUIRE(eventually([&] { return metric_value(victim, "kvs_peer_answers_rejected_total") >= 3; },
                     std::chrono::seconds(15)));
  CHECK(tampering.requests() >= 3);
  CHECK(get_from(victim, "/kv/planted/key").status != 200);
  CHECK(merkle_keys(victim) == 0);  // neither the plain key nor the reserved _auth/ user
  std::string log = victim.stderr_text();
  CHECK(log.find("WARN") != std::string::npos);
  CHECK(log.find("peer.answer_rejected") != std::string::npos);
  // Rate-limited: far fewer WARN lines than rejected answers.
  std::size_t warnings = 0;
  for (auto at = log.find("peer.answer_rejected"); at != std::string::npos; at = log.find("peer.answer_rejected", at + 1)) {
    ++warnings;
  }
  CHECK(warnings < static_cast<std::size_t>(metric_value(victim, "kvs_peer_answers_rejected_total")));
  CHECK(victim.stop() == 0);
}
