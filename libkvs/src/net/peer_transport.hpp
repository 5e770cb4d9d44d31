#pragma once

// net::PeerTransport: the one seam through which a node talks to its peers (STYLE section 4).
// Every peer caller of a node (membership, push replication, anti-entropy, bootstrap) posts its
// requests through the node's single transport and gets each answer later, through a callback
// or a PendingAnswer. Production passes in http::PeerTransport (libcurl, http/peer_transport.hpp);
// the simulation tests pass in their own network.
//
// A transport alone secures what it carries: it signs every request for its destination node
// and verifies every answer before a caller sees it (an answer that does not verify reaches no
// caller: the request fails with kUnauthenticated). Callers hand it plain bodies and get plain,
// authentic bodies back.
//
// Lanes keep one kind of traffic from starving another: each lane has its own bounded queue and
// workers, so a slow bulk sync never holds the workers that gossip needs, and closing one lane
// (its caller stopping) leaves the others running.
//
// Threading: post() from any thread. Callbacks run on a transport thread: they must be short and
// must not block (typically they post the result into the caller's own loop). close(lane) waits
// until no callback of the lane runs any more.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::net {

// Who a request is for. Append-only; kLaneCount last.
enum class Lane : std::uint8_t {
  kMembership = 0,  // join, gossip (small, frequent, latency-sensitive)
  kPush,            // push replication batches
  kSync,            // anti-entropy rounds
  kBootstrap,       // a new node's pull of the recent versions
  kLaneCount,
};
inline constexpr std::size_t kLaneCount = static_cast<std::size_t>(Lane::kLaneCount);
std::string_view lane_name(Lane lane) noexcept;  // "membership", "push", "sync", "bootstrap"

// One POST to a peer.
struct PeerRequest {
  std::string address;  // "host:port"
  std::string node_id;  // the destination's node id when the caller knows it; empty: learned
  std::string path;     // a peer_protocol target, "/members/gossip"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and the signature
  Lane lane = Lane::kMembership;
};

// A verified answer.
struct PeerAnswer {
  long status = 0;      // the HTTP status, whatever it is (the caller judges 4xx/5xx)
  std::string body;
  std::string node_id;  // the node that answered (covered by the answer's MAC)
};

// Called exactly once with the verified answer, or kUnavailable (could not connect, timed out,
// lane closed), kUnauthenticated (the answer did not verify: nothing of it is passed on), or
// kIOError (any other transfer failure, an answer too large).
using AnswerCallback = std::function<void(Result<PeerAnswer>)>;

struct LaneStats {
  std::uint64_t completed = 0;  // got an HTTP response (any status)
  std::uint64_t failed = 0;     // refused, timed out, reset, answer too large or unverified
  std::uint64_t dropped = 0;    // refused because the queue was full, or cancelled at close
};

class PeerTransport {
 public:
  virtual ~PeerTransport() = default;

  // Queues a request on its lane. Ok: `done` will be called exactly once. kUnavailable: the
  // lane's queue is full or the lane is closed; the request is dropped and `done` is never called.
  virtual Status post(PeerRequest request, AnswerCallback done) = 0;

  // Closes `lane`: queued requests fail with kUnavailable, those in flight are aborted, later
  // posts are refused. Returns once no callback of the lane runs or will run. Idempotent.
  virtual void close(Lane lane) = 0;

  virtual LaneStats stats(Lane lane) const = 0;
};

// The future-like handle of one request: post_and_wait's building block, for callers that run a
// thread of their own (anti-entropy, bootstrap) and simply wait for their answer.
class PendingAnswer {
 public:
  // Posts `request` on `transport`. A refused post is the answer at once.
  PendingAnswer(PeerTransport& transport, PeerRequest request);
  // The answer; blocks until it came (the transport bounds every request's duration).
  Result<PeerAnswer> get();

 private:
  std::shared_ptr<std::promise<Result<PeerAnswer>>> promise_;
  std::future<Result<PeerAnswer>> future_;
};

// Posts `request` and waits for its answer.
Result<PeerAnswer> post_and_wait(PeerTransport& transport, PeerRequest request);

// Ok for a 2xx answer; else kUnavailable naming the peer, the target and the status (the peer
// will take it later, or another round repairs it).
Status expect_success(std::string_view address, std::string_view path, const PeerAnswer& answer);

}  // namespace kvs::net
