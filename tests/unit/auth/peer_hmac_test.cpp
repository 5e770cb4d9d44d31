#include "auth/peer_hmac.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "auth/secret.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

constexpr std::int64_t kNowMs = 1'700'000'000'000;
constexpr std::string_view kBody = R"({"versions":[1,2,3]})";
constexpr std::string_view kDest = "node-a";

Key peer_key(std::string_view secret = "peer test secret") { return derive_keys(secret).peer_signing; }

}  // namespace

TEST_CASE("a signed peer request verifies once", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/sync/push?x=1", kBody, kDest, kNowMs, "nonce-1");
  // The destination travels base64url-encoded ("node-a" -> "bm9kZS1h").
  CHECK(header.rfind("v2.1700000000000.nonce-1.bm9kZS1h.", 0) == 0);
  CHECK(signer.verify(header, "POST", "/sync/push?x=1", kBody, kDest, kNowMs + 5).is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 1);
}

TEST_CASE("a peer request replayed within the window is rejected", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/members/gossip", kBody, kDest, kNowMs, "n");
  REQUIRE(signer.verify(header, "POST", "/members/gossip", kBody, kDest, kNowMs).is_ok());
  auto replay = signer.verify(header, "POST", "/members/gossip", kBody, kDest, kNowMs + 1000);
  CHECK(replay.code() == Status::Code::kUnauthenticated);
  CHECK(replay.message().find("replay") != std::string::npos);
  // The same request with a fresh nonce is a new request.
  CHECK(signer.verify(signer.sign("POST", "/members/gossip", kBody, kDest, kNowMs, "m"), "POST", "/members/gossip", kBody, kDest,
                      kNowMs + 1000)
            .is_ok());
}

TEST_CASE("a peer request signed with another secret is rejected", "[auth][peer]") {
  PeerSigner ours(peer_key());
  PeerSigner theirs(peer_key("some other cluster"));
  std::string header = theirs.sign("POST", "/sync/push", kBody, kDest, kNowMs, "n");
  CHECK(ours.verify(header, "POST", "/sync/push", kBody, kDest, kNowMs).code() == Status::Code::kUnauthenticated);
  // The JWT key of the same secret is not the peer key either.
  PeerSigner token_keyed(derive_keys("peer test secret").token_signing);
  CHECK_FALSE(ours.verify(token_keyed.sign("POST", "/sync/push", kBody, kDest, kNowMs, "n"), "POST", "/sync/push", kBody, kDest,
                          kNowMs)
                  .is_ok());
}

TEST_CASE("a tampered method, path, body, timestamp or nonce is rejected", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/sync/push", kBody, kDest, kNowMs, "nonce");
  CHECK_FALSE(signer.verify(header, "PUT", "/sync/push", kBody, kDest, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/pull", kBody, kDest, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push?", kBody, kDest, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push", R"({"versions":[1,2,4]})", kDest, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push", "", kDest, kNowMs).is_ok());
  std::string other_time = header;
  other_time.replace(3, 13, "1700000000001");
  CHECK_FALSE(signer.verify(other_time, "POST", "/sync/push", kBody, kDest, kNowMs).is_ok());
  std::string other_nonce = header;
  other_nonce.replace(other_nonce.find("nonce"), 5, "nonc3");
  CHECK_FALSE(signer.verify(other_nonce, "POST", "/sync/push", kBody, kDest, kNowMs).is_ok());
  // Field boundaries are length-prefixed: moving bytes between path and body changes the mac.
  std::string split = signer.sign("POST", "/a", "bc", kDest, kNowMs, "n2");
  CHECK_FALSE(signer.verify(split, "POST", "/ab", "c", kDest, kNowMs).is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 0);
}

TEST_CASE("a peer request outside the freshness window is stale", "[auth][peer]") {
  PeerSigner signer(peer_key(), PeerSignerOptions{std::chrono::seconds(30), 1000});
  auto at = [&](std::int64_t timestamp_ms, std::string nonce) {
    return signer.verify(signer.sign("GET", "/sync/merkle/root", "", kDest, timestamp_ms, nonce), "GET", "/sync/merkle/root",
                         "", kDest, kNowMs);
  };
  CHECK(at(kNowMs - 30'000, "a").is_ok());
  CHECK(at(kNowMs + 30'000, "b").is_ok());
  auto old = at(kNowMs - 30'001, "c");
  CHECK(old.code() == Status::Code::kUnauthenticated);
  CHECK(old.message().find("stale") != std::string::npos);
  CHECK_FALSE(at(kNowMs + 30'001, "d").is_ok());
  CHECK_FALSE(at(0, "e").is_ok());
}

TEST_CASE("the replay cache forgets signatures that left the window and refuses work when full",
          "[auth][peer]") {
  PeerSigner signer(peer_key(), PeerSignerOptions{std::chrono::seconds(30), 3});
  for (int i = 0; i < 3; ++i) {
    REQUIRE(signer.verify(signer.sign("POST", "/p", "", kDest, kNowMs, "n" + std::to_string(i)), "POST", "/p", "", kDest, kNowMs)
                .is_ok());
  }
  auto full = signer.verify(signer.sign("POST", "/p", "", kDest, kNowMs, "n3"), "POST", "/p", "", kDest, kNowMs);
  CHECK(full.code() == Status::Code::kUnavailable);
  // 30 s later the first three are stale (so cannot be replayed) and are dropped.
  CHECK(signer.verify(signer.sign("POST", "/p", "", kDest, kNowMs + 30'001, "n4"), "POST", "/p", "", kDest, kNowMs + 30'001)
            .is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 1);
}

TEST_CASE("malformed peer signature headers are rejected without crashing", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string good = signer.sign("POST", "/p", "", kDest, kNowMs, "n");
  const std::string cases[] = {
      "", "v2", "v2....", "v1.1700000000000.n.bm9kZS1h.AAAA", "v2.-5.n.bm9kZS1h.AAAA", "v2.+5.n.bm9kZS1h.AAAA",
      "v2.01700000000000.n.bm9kZS1h.AAAA", "v2.99999999999999999999999.n.bm9kZS1h.AAAA",
      "v2.1700000000000..bm9kZS1h.AAAA", "v2.1700000000000.n/x.bm9kZS1h.AAAA", "v2.1700000000000.n.bm9kZS1h.",
      "v2.1700000000000.n.bm9kZS1h.AAAA", "v2.1700000000000.n.b*.AAAA", "v2.1700000000000.n.AAAA",
      good + ".x", good + "=", std::string(10000, 'v'),
  };
  for (const auto& header : cases) {
    INFO(header.substr(0, 80));
    auto status = signer.verify(header, "POST", "/p", "", kDest, kNowMs);
    CHECK(status.code() == Status::Code::kUnauthenticated);
  }
}

TEST_CASE("peer nonces are 22 base64url characters and differ per draw", "[auth][peer]") {
  std::string a = make_peer_nonce(1, 2);
  std::string b = make_peer_nonce(1, 3);
  CHECK(a.size() == 22);
  CHECK(a != b);
}

TEST_CASE("a peer request signed for one node is refused by another, and says so", "[auth][peer]") {
  // Two nodes of one cluster share the key; each verifies for its own node id.
  PeerSigner node_a(peer_key());
  PeerSigner node_b(peer_key());
  std::string for_a = node_a.sign("POST", "/sync/since", kBody, "node-a", kNowMs, "captured");
  auto at_b = node_b.verify(for_a, "POST", "/sync/since", kBody, "node-b", kNowMs + 10);
  CHECK(at_b.code() == Status::Code::kUnauthenticated);
  CHECK(at_b.message().find("another node") != std::string::npos);
  CHECK(node_b.replay_cache_size_for_testing() == 0);
  // The destination cannot be rewritten in the header: it is under the mac.
  std::string rewritten = for_a;
  rewritten.replace(rewritten.find("bm9kZS1h"), 8, "bm9kZS1i");  // "node-b"
  auto forged = node_b.verify(rewritten, "POST", "/sync/since", kBody, "node-b", kNowMs + 10);
  CHECK(forged.code() == Status::Code::kUnauthenticated);
  CHECK(forged.message().find("does not match") != std::string::npos);
  // Node A, its destination, accepts it once.
  CHECK(node_a.verify(for_a, "POST", "/sync/since", kBody, "node-a", kNowMs + 10).is_ok());
  // A request that names no node (a caller that has yet to learn the id) is authentic but
  // meant for no one.
  auto unaddressed = node_a.verify(node_a.sign("POST", "/members/join", kBody, "", kNowMs, "u"), "POST",
                                   "/members/join", kBody, "node-a", kNowMs);
  CHECK(unaddressed.code() == Status::Code::kUnauthenticated);
  CHECK(unaddressed.message().find("another node") != std::string::npos);
}

TEST_CASE("an answer verifies only for its request's nonce, status, responder and body", "[auth][peer]") {
  PeerSigner responder(peer_key());
  PeerSigner caller(peer_key());
  std::string mac = responder.sign_answer("nonce-1", 200, "node-a", kBody);
  CHECK(mac.rfind("v2.", 0) == 0);
  CHECK(caller.verify_answer(mac, "nonce-1", 200, "node-a", kBody).is_ok());
  // Answers are not single-use on the caller's side: it verifies the one answer it waited for.
  CHECK(caller.verify_answer(mac, "nonce-1", 200, "node-a", kBody).is_ok());
  CHECK_FALSE(caller.verify_answer(mac, "nonce-2", 200, "node-a", kBody).is_ok());  // another request's
  CHECK_FALSE(caller.verify_answer(mac, "nonce-1", 201, "node-a", kBody).is_ok());
  CHECK_FALSE(caller.verify_answer(mac, "nonce-1", 200, "node-b", kBody).is_ok());
  CHECK_FALSE(caller.verify_answer(mac, "nonce-1", 200, "node-a", R"({"versions":[1,2,4]})").is_ok());
  CHECK_FALSE(caller.verify_answer("", "nonce-1", 200, "node-a", kBody).is_ok());
  CHECK_FALSE(caller.verify_answer("v2.AAAA", "nonce-1", 200, "node-a", kBody).is_ok());
  CHECK_FALSE(caller.verify_answer(mac + "x", "nonce-1", 200, "node-a", kBody).is_ok());
  // Another cluster's answer does not verify.
  PeerSigner stranger(peer_key("some other cluster"));
  CHECK(caller.verify_answer(stranger.sign_answer("nonce-1", 200, "node-a", kBody), "nonce-1", 200, "node-a", kBody)
            .code() == Status::Code::kUnauthenticated);
  // A request's mac never passes as an answer's (separate domains), even over the same fields.
  std::string request = responder.sign("POST", "/p", kBody, "node-a", kNowMs, "nonce-1");
  std::string request_mac = request.substr(request.rfind('.') + 1);
  CHECK_FALSE(caller.verify_answer("v2." + request_mac, "nonce-1", 200, "node-a", kBody).is_ok());
}

TEST_CASE("the nonce of a signature header is found, or empty for a malformed one", "[auth][peer]") {
  PeerSigner signer(peer_key());
  CHECK(peer_nonce_of(signer.sign("POST", "/p", "", "node-a", kNowMs, "abc_-9")) == "abc_-9");
  CHECK(peer_nonce_of("").empty());
  CHECK(peer_nonce_of("v2.1.n").empty());
  CHECK(peer_nonce_of("v2.1.n/x.AA.BB").empty());
  CHECK(peer_nonce_of("v1.1.n.AA.BB").empty());
}
