#pragma once

// Peer messages of the cluster protocol and their wire encoding. A message is a plain value:
// the Core produces and consumes them, the driver encodes them into an HTTP body and decodes
// what peers send. Decoding never trusts its input: any byte string yields either a message or
// a non-ok Status, never a crash, and sizes are bounded. Value types; concurrent const use is safe.
//
// The encoding is one JSON object whose first member is the format version:
//
//   {"v":1,"type":"gossip","from":"n1","members":[
//     {"id":"n1","address":"127.0.0.1:8080","joined_ms":1700000000000,
//      "incarnation":3,"heartbeat":42,"state":"alive"}, ...]}
//
// Fields:
//   v        format version (kMessageFormatVersion). A decoder refuses any other value.
//   type     "join", "join_reply", "gossip" or "leave". Append-only: replication adds its own.
//   from     the sender's node id (join_reply, gossip).
//   member   (join, leave) the sender's own entry.
//   members  (join_reply, gossip) member entries: the sender's view, itself included.
//   reply    (gossip, optional, default false) true: the answer to a push; not answered.
// A member entry:
//   id           node id, 1..kMaxIdBytes bytes
//   address      "host:port" peers use to reach it, 1..kMaxAddressBytes bytes
//   joined_ms    the node's joined_timestamp, ms since the Unix epoch (persisted across restarts)
//   incarnation  bumped by the owner on every start and to refute a stale view of itself
//   heartbeat    bumped by the owner on every gossip round; (incarnation, heartbeat) orders
//                two entries of one member, so stale gossip can never win over fresh
//   state        "alive" or "left" (suspect is each node's own judgement, never gossiped)
// Unknown members of an object are ignored, so a later minor addition stays readable.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::cluster {

inline constexpr std::int64_t kMessageFormatVersion = 1;
inline constexpr std::size_t kMaxIdBytes = 256;
inline constexpr std::size_t kMaxAddressBytes = 512;
inline constexpr std::size_t kMaxMembersPerMessage = 100'000;
inline constexpr std::size_t kMaxMessageBytes = 64u << 20;

// Gossiped state of a member. Append-only (the text names are on the wire).
enum class EntryState : std::uint8_t { kAlive = 0, kLeft = 1 };

struct MemberEntry {
  std::string id;
  std::string address;
  std::int64_t joined_ms = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t heartbeat = 0;
  EntryState state = EntryState::kAlive;

  friend bool operator==(const MemberEntry&, const MemberEntry&) = default;
};

// Orders two entries of the same member: >0 when `a` is fresher than `b`, <0 when staler, 0 when
// equal. Fresher means a higher (incarnation, heartbeat); at equal counters `left` beats `alive`,
// so a leave can never be undone by gossip of the same age.
int compare_freshness(const MemberEntry& a, const MemberEntry& b) noexcept;

// A node asks a seed (or a peer) to let it in. The receiver adds `member` and answers with a
// JoinReply carrying its view.
struct JoinRequest {
  MemberEntry member;
  friend bool operator==(const JoinRequest&, const JoinRequest&) = default;
};

// The answer to a JoinRequest: the receiver's whole view.
struct JoinReply {
  std::string from;
  std::vector<MemberEntry> members;
  friend bool operator==(const JoinReply&, const JoinReply&) = default;
};

// Periodic push of the sender's view to a few random peers. The receiver answers a push with
// the entries it holds fresher (or the push lacks), marked `reply`, which is never answered:
// push-pull, so one exchange brings both sides up to date.
struct Gossip {
  std::string from;
  std::vector<MemberEntry> members;
  bool reply = false;
  friend bool operator==(const Gossip&, const Gossip&) = default;
};

// A graceful leave: receivers drop `member` at once and keep a tombstone of it.
struct Leave {
  MemberEntry member;  // state is kLeft
  friend bool operator==(const Leave&, const Leave&) = default;
};

// Replication messages will be added as further alternatives (append at the end).
using PeerMessage = std::variant<JoinRequest, JoinReply, Gossip, Leave>;

// The wire name of the message's type: "join", "join_reply", "gossip", "leave".
std::string_view message_type_name(const PeerMessage& message) noexcept;

// The HTTP path a driver POSTs the message to: "/members/join" for a JoinRequest, and
// "/members/gossip" for the rest of the membership protocol (join replies, gossip, leaves).
std::string_view peer_path(const PeerMessage& message) noexcept;

// The message as JSON text (see the format above).
std::string encode_message(const PeerMessage& message);

// Parses bytes produced by `encode_message`. kInvalidArgument for anything else (not JSON, wrong
// format version, unknown type, a missing or mistyped field, an id or address out of bounds),
// kTooLarge over kMaxMessageBytes or kMaxMembersPerMessage. Never crashes on any input.
Result<PeerMessage> decode_message(std::string_view bytes);

}  // namespace kvs::cluster
