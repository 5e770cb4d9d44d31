#pragma once

// A node's view of its cluster (SPEC sections 2 "Cluster" and 3): the members and their changes,
// the Merkle summary replication compares, and the one shape in which peer traffic enters a node.
// All are plain values; Node::members() and the member observer hand out copies, so concurrent
// const use is safe.
//
// Peer traffic is HTTP, but kvs serves no HTTP itself: the embedder's server hands each peer
// request (POST /members/join, /members/gossip, /sync/...) to Node::handle_peer_request as a
// PeerRequest and writes back the PeerResponse, or the error's HTTP status. The strings a
// PeerRequest points to are borrowed for the length of the call only.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvs {

// ---- Members -------------------------------------------------------------------------------

enum class MemberStatus : std::uint8_t {
  kAlive,    // heard from within failure_timeout
  kSuspect,  // silent past failure_timeout; removed after removal_timeout
};

// "alive", "suspect" (GET /members/'s "status").
constexpr std::string_view to_string(MemberStatus status) noexcept {
  switch (status) {
    case MemberStatus::kAlive: return "alive";
    case MemberStatus::kSuspect: return "suspect";
  }
  return "unknown";
}

// A cluster member as this node sees it (SPEC: GET /members/).
struct Member {
  std::string id;
  std::string address;                        // "host:port" peers use to reach it
  std::int64_t last_seen_ms = 0;              // wall-clock ms it was last heard of (now, for itself)
  std::int64_t joined_timestamp_ms = 0;       // wall-clock ms of its very first start
  MemberStatus status{MemberStatus::kAlive};
  bool is_self = false;
};

// A membership change, as the cluster loop saw it.
struct MemberEvent {
  enum class Kind : std::uint8_t {
    kJoined,   // a new member (or one back after removal)
    kUpdated,  // restarted (new incarnation) or moved (new address)
    kSuspect,  // silent for failure_timeout
    kAlive,    // a suspect member was heard from again
    kRemoved,  // silent for removal_timeout
    kLeft,     // left gracefully
  };
  Kind kind{Kind::kJoined};
  Member member;
};

// "joined", "updated", "suspect", "alive", "removed", "left" (the logs' spelling).
constexpr std::string_view to_string(MemberEvent::Kind kind) noexcept {
  switch (kind) {
    case MemberEvent::Kind::kJoined: return "joined";
    case MemberEvent::Kind::kUpdated: return "updated";
    case MemberEvent::Kind::kSuspect: return "suspect";
    case MemberEvent::Kind::kAlive: return "alive";
    case MemberEvent::Kind::kRemoved: return "removed";
    case MemberEvent::Kind::kLeft: return "left";
  }
  return "unknown";
}

// ---- Replication ---------------------------------------------------------------------------

// The Merkle summary of every version a node holds, tombstones included (SPEC: GET
// /sync/merkle/root): two nodes holding the same versions report the same root.
struct MerkleRoot {
  std::string root;                           // 64 lower-case hex characters
  std::uint64_t keys = 0;                     // current versions, tombstones and reserved keys included
};

// ---- Peer traffic --------------------------------------------------------------------------

// The peer protocol's targets and headers, in one place: libkvs's senders and receivers and the
// embedder's routes (kvs-server) all use these. Every target is POSTed.
namespace peer_protocol {
inline constexpr std::string_view kJoin = "/members/join";
inline constexpr std::string_view kGossip = "/members/gossip";
inline constexpr std::string_view kSyncPush = "/sync/push";                // push replication
inline constexpr std::string_view kSyncSince = "/sync/since";              // bootstrap pages
inline constexpr std::string_view kSyncBranches = "/sync/merkle/branches"; // anti-entropy, step 1
inline constexpr std::string_view kSyncLeaves = "/sync/merkle/leaves";     // step 2
inline constexpr std::string_view kSyncBucket = "/sync/bucket";            // step 3
inline constexpr std::array<std::string_view, 5> kSyncTargets{kSyncPush, kSyncSince, kSyncBranches, kSyncLeaves,
                                                              kSyncBucket};
// Every peer target: what Node::handle_peer_request answers, and what an embedder routes to it.
inline constexpr std::array<std::string_view, 7> kTargets{kJoin,        kGossip,       kSyncPush,  kSyncSince,
                                                          kSyncBranches, kSyncLeaves, kSyncBucket};
// Whether `target` (a query string, if any, ignored) is one of kTargets.
constexpr bool is_peer_target(std::string_view target) noexcept {
  std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view known : kTargets) {
    if (path == known) return true;
  }
  return false;
}
// The request's HMAC (sent by the caller), and the answer's: the responder's node id and the
// HMAC over the request's nonce, the status, that id and the body (sent back with every answer).
inline constexpr std::string_view kSignatureHeader = "X-KVS-Peer-Signature";
inline constexpr std::string_view kAnswerSignatureHeader = "X-KVS-Peer-Answer";
inline constexpr std::string_view kAnswerNodeHeader = "X-KVS-Peer-Node";
}  // namespace peer_protocol

// One HTTP request a peer sent, as the embedder's server received it. Every member is borrowed.
struct PeerRequest {
  std::string_view method;                    // "POST"
  std::string_view target;                    // the raw request target, exactly as sent (the
                                              // signature covers it): not decoded
  std::string_view body;
  std::string_view signature;                 // the X-KVS-Peer-Signature header; empty when absent
  std::string_view remote_address{};          // the sender's IP address, for the log; may be empty
};

// One header of a peer answer (Node::peer_answer_headers).
struct PeerAnswerHeader {
  std::string name;
  std::string value;
};

// What to answer a PeerRequest that succeeded: write `body` as JSON with HTTP status `status`.
struct PeerResponse {
  int status = 200;
  std::string body;                           // JSON
};

}  // namespace kvs
