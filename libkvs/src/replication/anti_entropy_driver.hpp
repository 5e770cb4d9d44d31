#pragma once

// AntiEntropyDriver: the driver of anti-entropy (SPEC section 3). The protocol is
// replication::AntiEntropy (anti_entropy.hpp), a pure state machine; this class runs it for
// real: one thread feeds it the time, the member list (read as a round comes due) and the
// answers, applies the versions it fetched, reports the rounds that ended (log, on_round), and
// posts its requests on the sync lane of the node's peer transport (which signs each for the
// peer's node id and verifies the answer). The thread never waits for an answer: answers come
// back through the transport's callbacks, which only queue them and wake the thread.
//
// Threading: start/stop from any thread; the hooks run on the driver's thread only (apply and
// scan read or write the store; peers reads the member list). stop() (and the destructor) is
// prompt: it joins the thread, then closes the sync lane, so no callback runs once it returns.
// The transport, the clock, the random source and `tree` must outlive the driver.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "net/peer_transport.hpp"
#include "replication/anti_entropy.hpp"
#include "replication/merkle.hpp"
#include "util/background_thread.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::replication {

struct AntiEntropyDriverHooks {
  // The peers a round may pick from (this node excluded). Called on the driver thread.
  std::function<std::vector<PeerAddress>()> peers;
  // Carries the rounds' requests on its kSync lane, signed, and verifies the answers (the node's
  // one transport, borrowed). Required.
  net::PeerTransport* transport = nullptr;
  // Monotonic time for the schedule (borrowed). Required.
  const Clock* clock = nullptr;
  // Picks each round's peer (borrowed). Required.
  Random* random = nullptr;
  // Our versions of the differing leaves, for the push back (indexed_bucket_scan). Required.
  BucketScanFn scan;
  // Applies a fetched page by the version order (one store transaction; the node may refuse
  // some versions). Required.
  std::function<void(const std::vector<Version>&)> apply;
  // Told the outcome of every round. Optional.
  std::function<void(bool ok)> on_round;
};

class AntiEntropyDriver {
 public:
  AntiEntropyDriver(AntiEntropyOptions options, AntiEntropyDriverHooks hooks, const MerkleTree& tree);
  ~AntiEntropyDriver();
  AntiEntropyDriver(const AntiEntropyDriver&) = delete;
  AntiEntropyDriver& operator=(const AntiEntropyDriver&) = delete;

  // Starts the thread; the first round comes min(sync_interval, first_round_max) later.
  void start();
  void stop();

 private:
  void run();
  void carry_out(AntiEntropyEffects effects);
  void answered(std::uint64_t ticket, Result<std::string> answer);

  const AntiEntropyOptions options_;
  const AntiEntropyDriverHooks hooks_;
  const MerkleTree& tree_;
  // The state machine: built by start(), then touched by the driver thread only.
  std::unique_ptr<AntiEntropy> rounds_;

  // mutex_ also makes start() build rounds_ once, before the thread that alone touches it.
  Mutex mutex_;
  std::deque<std::pair<std::uint64_t, Result<std::string>>> answers_ KVS_GUARDED_BY(mutex_);

  util::BackgroundThread thread_;  // last: stopped before the members its body uses go
};

}  // namespace kvs::replication
