// The peer message codec: every message survives a round trip, and no input, however broken,
// does anything worse than return a Status.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cluster/message.hpp"
#include "support/manual_clock.hpp"

namespace {

using namespace kvs::cluster;

MemberEntry entry(std::string id, std::uint64_t incarnation = 1, std::uint64_t heartbeat = 7,
                  EntryState state = EntryState::kAlive) {
  return MemberEntry{id, id + ":8080", 1'700'000'000'123, incarnation, heartbeat, state};
}

std::vector<PeerMessage> samples() {
  return {
      JoinRequest{entry("n1")},
      JoinReply{"n2", {entry("n1"), entry("n2", 3, 0), entry("n3", 2, 9, EntryState::kLeft)}},
      Gossip{"n3", {entry("n3", 18446744073709551615ULL, 18446744073709551614ULL)}},
      Gossip{"n3", {entry("n1")}, /*reply=*/true},
      Gossip{"n4", {}},
      Leave{entry("n5", 4, 12, EntryState::kLeft)},
      JoinRequest{MemberEntry{"we\"ird\\id\n\x01 é", "[::1]:80", -5, 0, 0, EntryState::kAlive}},
  };
}

}  // namespace

TEST_CASE("every peer message survives an encode and decode round trip", "[cluster][message]") {
  for (const auto& message : samples()) {
    std::string bytes = encode_message(message);
    INFO(bytes);
    REQUIRE(bytes.rfind("{\"v\":1,", 0) == 0);  // the format version comes first
    auto decoded = decode_message(bytes);
    REQUIRE(decoded.is_ok());
    CHECK(*decoded == message);
  }
}

TEST_CASE("peer messages go to the membership routes", "[cluster][message]") {
  CHECK(peer_path(JoinRequest{entry("a")}) == "/members/join");
  CHECK(peer_path(Gossip{"a", {}}) == "/members/gossip");
  CHECK(peer_path(JoinReply{"a", {}}) == "/members/gossip");
  CHECK(peer_path(Leave{entry("a", 1, 1, EntryState::kLeft)}) == "/members/gossip");
}

TEST_CASE("a fresher entry is one with a higher incarnation, then heartbeat, then left", "[cluster][message]") {
  CHECK(compare_freshness(entry("a", 2, 0), entry("a", 1, 99)) > 0);
  CHECK(compare_freshness(entry("a", 1, 5), entry("a", 1, 6)) < 0);
  CHECK(compare_freshness(entry("a", 1, 5, EntryState::kLeft), entry("a", 1, 5)) > 0);
  CHECK(compare_freshness(entry("a", 1, 5), entry("a", 1, 5)) == 0);
}

TEST_CASE("malformed peer messages are refused with a status", "[cluster][message]") {
  const std::vector<std::string> bad = {
      "",
      "null",
      "[]",
      "{",
      "not json at all",
      R"({"type":"gossip","from":"a","members":[]})",
      R"({"v":2,"type":"gossip","from":"a","members":[]})",
      R"({"v":"1","type":"gossip","from":"a","members":[]})",
      R"({"v":1,"type":"shrug","from":"a","members":[]})",
      R"({"v":1,"type":7})",
      R"({"v":1,"type":"gossip","members":[]})",
      R"({"v":1,"type":"gossip","from":"","members":[]})",
      R"({"v":1,"type":"gossip","from":"a","members":{}})",
      R"({"v":1,"type":"gossip","from":"a","members":[1]})",
      R"({"v":1,"type":"gossip","from":"a","reply":"yes","members":[]})",
      R"({"v":1,"type":"gossip","from":"a","members":[{"id":"b","address":"b:1","joined_ms":1,"incarnation":-1,"heartbeat":0,"state":"alive"}]})",
      R"({"v":1,"type":"gossip","from":"a","members":[{"id":"b","address":"b:1","joined_ms":1.5,"incarnation":1,"heartbeat":0,"state":"alive"}]})",
      R"({"v":1,"type":"gossip","from":"a","members":[{"id":"b","address":"b:1","joined_ms":1,"incarnation":1,"heartbeat":0,"state":"zombie"}]})",
      R"({"v":1,"type":"gossip","from":"a","members":[{"id":"b","joined_ms":1,"incarnation":1,"heartbeat":0,"state":"alive"}]})",
      R"({"v":1,"type":"join"})",
      R"({"v":1,"type":"join","member":"me"})",
      R"({"v":1,"type":"leave","member":{"id":"b","address":"b:1","joined_ms":1,"incarnation":1,"heartbeat":0,"state":"alive"}})",
      R"({"v":1,"type":"join","member":{"id":")" + std::string(300, 'x') + R"(","address":"b:1","joined_ms":1,"incarnation":1,"heartbeat":0,"state":"alive"}})",
      R"({"v":1,"type":"gossip","from":"a","members":[{"id":"b","address":"b:1","joined_ms":1,"incarnation":99999999999999999999999,"heartbeat":0,"state":"alive"}]})",
  };
  for (const auto& bytes : bad) {
    INFO(bytes);
    auto decoded = decode_message(bytes);
    REQUIRE_FALSE(decoded.is_ok());
    CHECK(decoded.status().code() == kvs::Status::Code::kInvalidArgument);
    CHECK_FALSE(decoded.status().message().empty());
  }
}

TEST_CASE("oversized peer messages are refused as too large", "[cluster][message]") {
  std::string huge(kMaxMessageBytes + 1, ' ');
  auto decoded = decode_message(huge);
  REQUIRE_FALSE(decoded.is_ok());
  CHECK(decoded.status().code() == kvs::Status::Code::kTooLarge);
}

TEST_CASE("random corruptions of valid messages never crash the decoder", "[cluster][message]") {
  kvs::test::SeededRandom random(12345);
  auto messages = samples();
  std::size_t refused = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes = encode_message(messages[random.next_u64() % messages.size()]);
    int edits = 1 + static_cast<int>(random.next_u64() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      std::size_t at = random.next_u64() % bytes.size();
      switch (random.next_u64() % 4) {
        case 0: bytes[at] = static_cast<char>(random.next_u64()); break;
        case 1: bytes.erase(at, 1 + random.next_u64() % 8); break;
        case 2: bytes.insert(at, 1, "{}[]\",:0\\"[random.next_u64() % 10]); break;
        default: bytes.resize(at); break;
      }
    }
    auto decoded = decode_message(bytes);
    if (!decoded.is_ok()) {
      refused += 1;
    } else {
      // Whatever decodes re-encodes to something that decodes to the same message.
      auto again = decode_message(encode_message(*decoded));
      REQUIRE(again.is_ok());
      CHECK(*again == *decoded);
    }
  }
  CHECK(refused > 10'000);
}
