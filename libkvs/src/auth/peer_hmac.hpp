#pragma once

// Peer request signatures: how nodes of one cluster prove to each other that a request under
// /members/ or /sync/ comes from a holder of the cluster secret (SPEC section 2, Cluster).
//
// The sender adds the header
// `X-KVS-Peer-Signature: v2.<timestamp_ms>.<nonce>.<destination>.<mac>` where
//   timestamp_ms  the sender's wall clock, decimal ms since the epoch;
//   nonce         1..64 characters of [A-Za-z0-9_-], fresh per request (16 random bytes,
//                 base64url), so that two identical requests in one millisecond differ;
//   destination   base64url of the node id of the node the request is meant for (empty when
//                 the sender does not know it yet), so that a request captured on its way to
//                 node A is refused by node B;
//   mac           base64url(HMAC-SHA256(peer key, M)), 43 characters;
//   M             "kvs-peer-v2" followed by, for each of method, target, timestamp_ms (the
//                 decimal text), nonce, destination (the id itself), body in this order: its
//                 length as 8 bytes little-endian, then its bytes. Length prefixes make the
//                 fields unambiguous.
// `method` is the HTTP method in upper case; `target` the request target as sent (path and
// query string, percent-encoding untouched); `body` the exact body bytes.
//
// The receiver accepts a request when the header parses, |now - timestamp| <= window
// (default 30 s: nodes must keep their clocks within that of each other, e.g. by NTP), the mac
// matches (constant-time compare), the destination is its own node id, and the same
// (timestamp, mac) was not accepted before. An authentic request meant for another node is
// refused with its own reason (kUnauthenticated, "meant for another node"), so that a receiver
// can tell a caller that has yet to learn its id from one without the cluster secret. The
// replay cache keeps accepted signatures until they leave the window, so it holds at most
// window * 2 worth of requests; past `replay_capacity` entries new requests are refused with
// kUnavailable (fail closed; the peer retries with back-off) rather than forgetting a
// signature that could then be replayed.
//
// Every answer to a peer request carries `X-KVS-Peer-Node: <responder's node id>` and
// `X-KVS-Peer-Answer: v2.<mac>`, mac = base64url(HMAC-SHA256(peer key, A)) with A =
// "kvs-peer-answer-v2" followed by the length-prefixed request nonce, the HTTP status (decimal
// text), the responder's node id and the body. The nonce ties the answer to one request, so an
// old answer cannot be replayed to a new one; the domain string keeps a request MAC from ever
// passing as an answer MAC. Refusals (401 included) are signed too: a caller that named no or
// the wrong destination learns, from a verified 401, which node answers at that address.
//
// Thread safety: sign, sign_answer and verify_answer are const and lock-free; verify
// serialises on the replay cache mutex.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "auth/secret.hpp"
#include "kvs/cluster.hpp"
#include "kvs/status.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::auth {

inline constexpr std::string_view kPeerSignatureHeader = peer_protocol::kSignatureHeader;
inline constexpr std::string_view kPeerAnswerHeader = peer_protocol::kAnswerSignatureHeader;
inline constexpr std::string_view kPeerNodeHeader = peer_protocol::kAnswerNodeHeader;

// An outgoing request's X-KVS-Peer-Signature value and the nonce in it.
struct SignedPeerRequest {
  std::string header;
  std::string nonce;
};

struct PeerSignerOptions {
  std::chrono::milliseconds window{std::chrono::seconds(30)};  // accepted clock difference, each way
  std::size_t replay_capacity{200000};                         // signatures remembered at most
};

class PeerSigner {
 public:
  explicit PeerSigner(const Key& peer_key, PeerSignerOptions options = {});
  ~PeerSigner();
  PeerSigner(const PeerSigner&) = delete;
  PeerSigner& operator=(const PeerSigner&) = delete;

  // The header value for one request to the node `destination`. Requires: `nonce` is 1..64
  // chars of [A-Za-z0-9_-].
  std::string sign(std::string_view method, std::string_view target, std::string_view body,
                   std::string_view destination, std::int64_t timestamp_ms, std::string_view nonce) const;

  // ok when `header_value` is a fresh, valid, first-seen signature of this request to the node
  // `self` at `now_ms`, and records it. kUnauthenticated with the reason (missing, malformed,
  // stale, bad mac or meant for another node, replayed); kUnavailable when the replay cache is
  // full.
  Status verify(std::string_view header_value, std::string_view method, std::string_view target,
                std::string_view body, std::string_view self, std::int64_t now_ms);

  // The X-KVS-Peer-Answer value of an answer with `status` and `body` from node `responder` to
  // the request that carried `nonce`.
  std::string sign_answer(std::string_view nonce, long status, std::string_view responder, std::string_view body) const;

  // ok when `header_value` is the answer MAC of exactly this answer; kUnauthenticated otherwise
  // (missing, malformed, does not match).
  Status verify_answer(std::string_view header_value, std::string_view nonce, long status, std::string_view responder,
                       std::string_view body) const;

  std::size_t replay_cache_size_for_testing() const;

 private:
  // The first 16 bytes of an accepted mac, with its timestamp: enough to recognise a replay
  // (a 128-bit collision is not a concern) at half the memory of the whole mac.
  using SeenId = std::pair<std::int64_t, std::array<unsigned char, 16>>;

  std::array<unsigned char, 32> mac(std::string_view method, std::string_view target, std::string_view body,
                                    std::string_view timestamp_text, std::string_view nonce,
                                    std::string_view destination) const;
  std::array<unsigned char, 32> answer_mac(std::string_view nonce, long status, std::string_view responder,
                                           std::string_view body) const;

  Key key_;
  const PeerSignerOptions options_;

  mutable Mutex mutex_;
  std::set<SeenId> seen_ KVS_GUARDED_BY(mutex_);  // ordered by timestamp, so pruning is cheap
};

// A fresh nonce for `sign`: the 16 bytes of two draws of the Random seam, as base64url
// (22 characters).
std::string make_peer_nonce(std::uint64_t first, std::uint64_t second);

// The nonce of a request's X-KVS-Peer-Signature value, or empty when the header has none that
// is well formed. What an answer is signed over; says nothing of the request's authenticity.
std::string_view peer_nonce_of(std::string_view header_value) noexcept;

}  // namespace kvs::auth
