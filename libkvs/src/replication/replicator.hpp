#pragma once

// Replicator: push replication (SPEC section 3). Every version a node accepts from a local
// write is queued for every known peer and POSTed to it in the background as a signed
// /sync/push batch (replication/sync_codec.hpp) on the push lane of the node's peer transport
// (which signs it for the peer's node id), so an acknowledged write reaches the cluster in about
// one round trip instead of waiting for anti-entropy.
//
// Per peer (by member id; its address is refreshed from the member list): a FIFO of versions,
// at most one batch in flight, retries with exponential back-off (retry_min doubling to
// retry_max) while the peer does not answer 2xx. Memory is bounded: a queue over
// max_queue_versions or max_queue_bytes is dropped whole, and that peer is left to Merkle
// anti-entropy (which repairs whatever pushes miss, whatever the reason). A peer that leaves
// the member list loses its queue; a new peer starts with an empty one. Versions are shared
// between the queues (one immutable copy per write).
//
// Receivers apply by the version order, so a batch delivered twice, late or out of order
// changes nothing.
//
// Threading: enqueue, stats may be called from any thread. One sender thread builds batches;
// the transport's push lane carries them and reports back. stop() (and the destructor) is
// prompt: it closes the push lane, and queued versions are dropped. The transport must outlive
// the Replicator.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/peer_transport.hpp"
#include "kvs/cluster.hpp"
#include "kvs/version.hpp"
#include "util/log_limiter.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::replication {

struct PeerAddress {
  std::string id;
  std::string address;  // "host:port"
};

inline constexpr std::string_view kPushTarget = peer_protocol::kSyncPush;

struct ReplicatorOptions {
  std::size_t max_queue_versions = 10000;                 // per peer; beyond: drop the queue
  std::size_t max_queue_bytes = std::size_t{64} << 20;    // per peer, bytes of queued documents
  std::size_t max_batch_versions = 512;                   // per POST
  std::size_t max_batch_bytes = std::size_t{512} << 10;   // body size to stop adding at (a larger
                                                          // single version goes alone)
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{5000};
  std::chrono::milliseconds peer_refresh{250};            // how often the member list is read
};

struct ReplicatorHooks {
  // The peers to push to (this node excluded). Called on the sender thread.
  std::function<std::vector<PeerAddress>()> peers;
  // Carries the pushes on its kPush lane, signed, and verifies the answers (the node's one
  // transport, borrowed). Required.
  net::PeerTransport* transport = nullptr;
};

struct ReplicatorStats {
  std::uint64_t queued = 0;            // versions waiting, summed over peers
  std::int64_t oldest_queued_ms = 0;   // age of the oldest waiting version, 0 when none
  std::uint64_t pushed = 0;            // versions acknowledged by a peer
  std::uint64_t failed_batches = 0;    // POSTs that failed (and were retried)
  std::uint64_t overflows = 0;         // queues dropped for being full
};

class Replicator {
 public:
  Replicator(ReplicatorOptions options, ReplicatorHooks hooks);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  void start();
  void stop();

  // Queues `version` for every known peer.
  void enqueue(const Version& version);

  ReplicatorStats stats() const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Entry {
    std::shared_ptr<const Version> version;
    SteadyTime queued_at;
    std::size_t bytes = 0;
  };
  struct PeerQueue {
    std::string address;
    std::deque<Entry> entries;
    std::size_t bytes = 0;
    std::size_t in_flight = 0;       // entries at the front that the batch in flight carries
    std::uint64_t generation = 0;    // bumped when the queue is dropped, so a late answer is ignored
    unsigned failures = 0;
    SteadyTime next_attempt{};
  };
  struct Outgoing {
    std::string id;
    std::uint64_t generation = 0;
    net::PeerRequest request;
  };

  void run();
  void refresh_peers();
  void collect(std::vector<Outgoing>& out, SteadyTime now) KVS_REQUIRES(mutex_);
  void finish(const std::string& id, std::uint64_t generation, bool delivered, bool give_up);

  const ReplicatorOptions options_;
  const ReplicatorHooks hooks_;

  mutable Mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, PeerQueue> peers_ KVS_GUARDED_BY(mutex_);
  bool stopping_ KVS_GUARDED_BY(mutex_) = false;
  bool started_ KVS_GUARDED_BY(mutex_) = false;
  ReplicatorStats counters_ KVS_GUARDED_BY(mutex_);
  // A peer whose pushes keep failing is reported at most once a minute.
  util::LogLimiter unreachable_log_{std::chrono::minutes(1)};

  std::thread sender_;
};

}  // namespace kvs::replication
