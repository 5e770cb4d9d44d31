#include "auth/peer_hmac.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "auth/secret.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

constexpr std::int64_t kNowMs = 1'700'000'000'000;
constexpr std::string_view kBody = R"({"versions":[1,2,3]})";

Key peer_key(std::string_view secret = "peer test secret") { return derive_keys(secret).peer_signing; }

}  // namespace

TEST_CASE("a signed peer request verifies once", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/sync/push?x=1", kBody, kNowMs, "nonce-1");
  CHECK(header.rfind("v1.1700000000000.nonce-1.", 0) == 0);
  CHECK(signer.verify(header, "POST", "/sync/push?x=1", kBody, kNowMs + 5).is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 1);
}

TEST_CASE("a peer request replayed within the window is rejected", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/members/gossip", kBody, kNowMs, "n");
  REQUIRE(signer.verify(header, "POST", "/members/gossip", kBody, kNowMs).is_ok());
  auto replay = signer.verify(header, "POST", "/members/gossip", kBody, kNowMs + 1000);
  CHECK(replay.code() == Status::Code::kUnauthenticated);
  CHECK(replay.message().find("replay") != std::string::npos);
  // The same request with a fresh nonce is a new request.
  CHECK(signer.verify(signer.sign("POST", "/members/gossip", kBody, kNowMs, "m"), "POST", "/members/gossip", kBody,
                      kNowMs + 1000)
            .is_ok());
}

TEST_CASE("a peer request signed with another secret is rejected", "[auth][peer]") {
  PeerSigner ours(peer_key());
  PeerSigner theirs(peer_key("some other cluster"));
  std::string header = theirs.sign("POST", "/sync/push", kBody, kNowMs, "n");
  CHECK(ours.verify(header, "POST", "/sync/push", kBody, kNowMs).code() == Status::Code::kUnauthenticated);
  // The JWT key of the same secret is not the peer key either.
  PeerSigner token_keyed(derive_keys("peer test secret").token_signing);
  CHECK_FALSE(ours.verify(token_keyed.sign("POST", "/sync/push", kBody, kNowMs, "n"), "POST", "/sync/push", kBody,
                          kNowMs)
                  .is_ok());
}

TEST_CASE("a tampered method, path, body, timestamp or nonce is rejected", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string header = signer.sign("POST", "/sync/push", kBody, kNowMs, "nonce");
  CHECK_FALSE(signer.verify(header, "PUT", "/sync/push", kBody, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/pull", kBody, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push?", kBody, kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push", R"({"versions":[1,2,4]})", kNowMs).is_ok());
  CHECK_FALSE(signer.verify(header, "POST", "/sync/push", "", kNowMs).is_ok());
  std::string other_time = header;
  other_time.replace(3, 13, "1700000000001");
  CHECK_FALSE(signer.verify(other_time, "POST", "/sync/push", kBody, kNowMs).is_ok());
  std::string other_nonce = header;
  other_nonce.replace(other_nonce.find("nonce"), 5, "nonc3");
  CHECK_FALSE(signer.verify(other_nonce, "POST", "/sync/push", kBody, kNowMs).is_ok());
  // Field boundaries are length-prefixed: moving bytes between path and body changes the mac.
  std::string split = signer.sign("POST", "/a", "bc", kNowMs, "n2");
  CHECK_FALSE(signer.verify(split, "POST", "/ab", "c", kNowMs).is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 0);
}

TEST_CASE("a peer request outside the freshness window is stale", "[auth][peer]") {
  PeerSigner signer(peer_key(), PeerSignerOptions{std::chrono::seconds(30), 1000});
  auto at = [&](std::int64_t timestamp_ms, std::string nonce) {
    return signer.verify(signer.sign("GET", "/sync/merkle/root", "", timestamp_ms, nonce), "GET", "/sync/merkle/root",
                         "", kNowMs);
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
    REQUIRE(signer.verify(signer.sign("POST", "/p", "", kNowMs, "n" + std::to_string(i)), "POST", "/p", "", kNowMs)
                .is_ok());
  }
  auto full = signer.verify(signer.sign("POST", "/p", "", kNowMs, "n3"), "POST", "/p", "", kNowMs);
  CHECK(full.code() == Status::Code::kUnavailable);
  // 30 s later the first three are stale (so cannot be replayed) and are dropped.
  CHECK(signer.verify(signer.sign("POST", "/p", "", kNowMs + 30'001, "n4"), "POST", "/p", "", kNowMs + 30'001)
            .is_ok());
  CHECK(signer.replay_cache_size_for_testing() == 1);
}

TEST_CASE("malformed peer signature headers are rejected without crashing", "[auth][peer]") {
  PeerSigner signer(peer_key());
  std::string good = signer.sign("POST", "/p", "", kNowMs, "n");
  const std::string cases[] = {
      "", "v1", "v1...", "v2.1700000000000.n.AAAA", "v1.-5.n.AAAA", "v1.+5.n.AAAA", "v1.01700000000000.n.AAAA",
      "v1.99999999999999999999999.n.AAAA", "v1.1700000000000..AAAA", "v1.1700000000000.n/x.AAAA",
      "v1.1700000000000.n.", "v1.1700000000000.n.AAAA", good + ".x", good + "=", std::string(10000, 'v'),
  };
  for (const auto& header : cases) {
    INFO(header.substr(0, 80));
    auto status = signer.verify(header, "POST", "/p", "", kNowMs);
    CHECK(status.code() == Status::Code::kUnauthenticated);
  }
}

TEST_CASE("peer nonces are 22 base64url characters and differ per draw", "[auth][peer]") {
  std::string a = make_peer_nonce(1, 2);
  std::string b = make_peer_nonce(1, 3);
  CHECK(a.size() == 22);
  CHECK(a != b);
}
