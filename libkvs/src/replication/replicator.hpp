#pragma once

// Replicator: the driver of push replication (SPEC section 3). The protocol is
// replication::PushQueues (push_queues.hpp), a pure state machine; this class runs it for real:
// every version a local write makes is queued for every known peer, and one sender thread
// carries out the PushQueues' effects, POSTing each batch to /sync/push on the push lane of the
// node's peer transport (which signs it for the peer's node id and verifies the answer), so an
// acknowledged write reaches the cluster in about one round trip instead of waiting for
// anti-entropy. Answers come back through the transport's callbacks and are fed to the
// PushQueues; the member list is read every peer_refresh.
//
// Threading: enqueue and stats may be called from any thread (the writer thread enqueues). One
// mutex serializes every call into the PushQueues. stop() (and the destructor) is prompt: it
// closes the push lane (so no callback runs once it returns), and queued versions are dropped.
// The transport and the clock must outlive the Replicator.

#include <chrono>
#include <functional>
#include <string_view>
#include <vector>

#include "kvs/clock.hpp"
#include "kvs/cluster.hpp"
#include "kvs/version.hpp"
#include "net/peer_transport.hpp"
#include "replication/push_queues.hpp"
#include "util/background_thread.hpp"
#include "util/log_limiter.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::replication {

struct ReplicatorOptions {
  PushOptions push;
  std::chrono::milliseconds peer_refresh{250};  // how often the member list is read
};

struct ReplicatorHooks {
  // The peers to push to (this node excluded). Called on the sender thread.
  std::function<std::vector<PeerAddress>()> peers;
  // Carries the pushes on its kPush lane, signed, and verifies the answers (the node's one
  // transport, borrowed). Required.
  net::PeerTransport* transport = nullptr;
  // Monotonic time for the back-off and the queue ages (borrowed). Required.
  const Clock* clock = nullptr;
};

using ReplicatorStats = PushStats;

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
  void run();
  // Posts the batches and logs the events of one take_effects().
  void carry_out(PushEffects effects);
  void answered(const std::string& peer_id, std::uint64_t ticket, PushOutcome outcome);

  const ReplicatorOptions options_;
  const ReplicatorHooks hooks_;

  mutable Mutex mutex_;
  PushQueues queues_ KVS_GUARDED_BY(mutex_);
  // A peer whose pushes keep failing is reported at most once a minute (sender thread only).
  util::LogLimiter unreachable_log_{std::chrono::minutes(1)};

  util::BackgroundThread sender_;  // last: stopped before the members its body uses go
};

}  // namespace kvs::replication
