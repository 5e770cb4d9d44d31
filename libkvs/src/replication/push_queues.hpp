#pragma once

// replication::PushQueues: push replication (SPEC section 3) as a pure state machine, like
// cluster::Core (STYLE section 4). It reads no clock, touches no socket and starts no thread:
// time comes in as an argument, and what comes out is a batch of effects (the /sync/push
// batches to send, and what an operator must hear of) that a driver carries out. Production's
// driver is replication::Replicator (a thread and the node's peer transport); the simulation
// (tests/unit/replication/sim_test.cpp) drives the same class over its seeded network.
//
// Per peer (by member id; its address follows the member list): a FIFO of versions, at most one
// batch in flight, retries with exponential back-off (retry_min doubling to retry_max) while the
// peer does not take the batch. Memory is bounded: a queue over max_queue_versions or
// max_queue_bytes is dropped whole (an overflow), and that peer is left to Merkle anti-entropy,
// which repairs whatever pushes miss. A peer that leaves the member list loses its queue; a new
// peer starts with an empty one. Versions are shared between the queues (one immutable copy per
// write).
//
// Every batch carries a ticket; an answer counts only for the batch in flight with that ticket,
// so an answer that comes late (after an overflow, after the peer left and came back) or twice
// changes nothing. Receivers apply by the version order, so a batch delivered twice, late or out
// of order changes nothing there either.
//
// What a driver does:
// 1. set_peers() with the member list (this node excluded) whenever it may have changed.
// 2. enqueue() each version a local write made.
// 3. on_tick(now) after any input and at next_wakeup(); then take_effects(): POST each batch's
//    body to /sync/push at its address, signed for its peer id, and log the events.
// 4. on_answer() once per batch: kDelivered for a 2xx, kRefused for an answer that says the peer
//    will never take it (400, 413: dropped, left to anti-entropy), kFailed for anything else
//    (no answer, 5xx, 401, an answer that did not verify): retried after the back-off.
//
// Single-threaded: the driver serializes every call.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/cluster.hpp"
#include "kvs/version.hpp"
#include "replication/backoff.hpp"

namespace kvs::replication {

using PushTime = std::chrono::steady_clock::time_point;

inline constexpr std::string_view kPushTarget = peer_protocol::kSyncPush;

struct PeerAddress {
  std::string id;
  std::string address;  // "host:port"
};

struct PushOptions {
  std::size_t max_queue_versions = 10000;                 // per peer; beyond: drop the queue
  std::size_t max_queue_bytes = std::size_t{64} << 20;    // per peer, bytes of queued documents
  std::size_t max_batch_versions = 512;                   // per POST
  std::size_t max_batch_bytes = std::size_t{512} << 10;   // body size to stop adding at (a larger
                                                          // single version goes alone)
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{5000};
};

// One /sync/push POST to make.
struct PushBatch {
  std::string peer_id;
  std::string address;
  std::uint64_t ticket = 0;  // hand back to on_answer
  std::size_t versions = 0;
  std::string body;          // {"v":1,"versions":[...]} (sync_codec.hpp)
};

enum class PushOutcome : std::uint8_t { kDelivered, kFailed, kRefused };

// What an operator must hear of.
struct PushEvent {
  enum class Kind : std::uint8_t {
    kOverflow,     // a peer's queue was full and dropped (`count`: versions dropped)
    kUnreachable,  // a peer failed again (`count`: consecutive failures)
    kRefused,      // a peer will never take a batch (`count`: versions dropped)
    kRecovered,    // a peer that had failed took a batch
  };
  Kind kind = Kind::kOverflow;
  std::string peer_id;
  std::string address;
  std::uint64_t count = 0;
};

struct PushEffects {
  std::vector<PushBatch> send;
  std::vector<PushEvent> events;

  bool empty() const noexcept { return send.empty() && events.empty(); }
};

struct PushStats {
  std::uint64_t queued = 0;            // versions waiting, summed over peers
  std::int64_t oldest_queued_ms = 0;   // age of the oldest waiting version, 0 when none
  std::uint64_t pushed = 0;            // versions a peer took
  std::uint64_t failed_batches = 0;    // batches that failed (and were retried)
  std::uint64_t overflows = 0;         // queues dropped for being full
  std::uint64_t refused_batches = 0;   // batches a peer will never take (dropped)
};

class PushQueues {
 public:
  explicit PushQueues(PushOptions options = {});

  // The peers to push to, this node excluded. A peer not listed any more loses its queue (and a
  // late answer for it is ignored); a new one starts empty; a known one keeps its queue and
  // takes the new address.
  void set_peers(const std::vector<PeerAddress>& peers);

  // Queues `version` for every peer (a full queue overflows instead: dropped whole).
  void enqueue(const Version& version, PushTime now);

  // The answer to the batch with `ticket` for `peer_id`. Ignored unless it is that peer's batch
  // in flight.
  void on_answer(const std::string& peer_id, std::uint64_t ticket, PushOutcome outcome, PushTime now);

  // Makes a batch for every peer with versions waiting, none in flight and its back-off over.
  void on_tick(PushTime now);

  PushEffects take_effects();

  // When on_tick next has a batch to make (a back-off ending); PushTime::max() when only an
  // input can make one.
  PushTime next_wakeup() const;

  PushStats stats(PushTime now) const;
  // Versions waiting for `peer_id` (0 for an unknown peer).
  std::size_t queued(const std::string& peer_id) const;

 private:
  struct Entry {
    std::shared_ptr<const Version> version;
    PushTime queued_at{};
    std::size_t bytes = 0;
  };
  struct Peer {
    std::string address;
    std::deque<Entry> entries;
    std::size_t bytes = 0;
    std::size_t in_flight = 0;       // entries at the front that the batch in flight carries
    std::uint64_t ticket = 0;        // of the batch in flight; 0 when none
    Backoff backoff;                 // retry_min doubling to retry_max while batches fail
  };

  void drop(Peer& peer);

  const PushOptions options_;
  std::map<std::string, Peer> peers_;  // by id; ordered, so batches come out in a fixed order
  std::uint64_t next_ticket_ = 1;
  PushEffects effects_;
  PushStats counters_;
};

}  // namespace kvs::replication
