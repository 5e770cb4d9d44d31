#pragma once

// replication::AntiEntropy: the repair path of replication (SPEC section 3) as a pure state
// machine, like cluster::Core and PushQueues (STYLE section 4). It reads no clock, touches no
// socket and starts no thread: time and the peers' answers come in as arguments; the requests to
// send, the versions to apply and the rounds that ended come out (take_effects). Production's
// driver is AntiEntropyDriver (anti_entropy_driver.hpp: a thread and the node's peer
// transport); the simulation (tests/unit/replication/sim_test.cpp) drives the same class over
// its seeded network.
//
// A round, every sync_interval (catchup_interval after a round that found a difference; after a
// failed round, a back-off from retry_min doubling to retry_max, never past sync_interval), with
// a random peer, compares Merkle trees (replication/merkle.hpp) top-down over the /sync/
// requests of replication/sync_codec.hpp:
//   1. /sync/merkle/branches: the peer's root; equal roots end the round. Else its 64 branch
//      hashes, compared with ours;
//   2. /sync/merkle/leaves: the leaf values of the differing branches only, compared with ours;
//   3. /sync/bucket: the peer's versions in the differing leaves, page by page; each page comes
//      out to be applied here by the version order;
//   4. /sync/push: our versions of those leaves that the peer lacks or that beat the peer's,
//      so one round repairs both sides.
// Steps are paced: throttle_delay between steps, fetch_delay between pages. A request that fails
// (no answer, an error status, an answer that did not verify, a page that goes backwards) fails
// the round; what was applied stays applied (by the order, so a later round applying it again
// changes nothing).
//
// Two reads of the local replica are not effects: the Merkle tree (in memory, its own lock) and
// `ours`, the versions of the differing leaves for step 4 (indexed_bucket_scan over the store in
// production), read a page of at most max_push_bytes at a time.
//
// What a driver does:
// 1. set_peers() with the member list (this node excluded) before a round is due.
// 2. on_tick(now) at next_wakeup() and after every input; then take_effects() and carry them
//    out in order: apply the versions, report the rounds that ended, then POST the request's
//    body to its target at its address, signed for its peer id.
// 3. on_answer() once per request: the body of a verified 2xx answer, else the failure.
//
// Single-threaded: the driver serializes every call. `tree`, `ours` and `random` are borrowed and
// must outlive the AntiEntropy.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "replication/backoff.hpp"
#include "replication/merkle.hpp"
#include "replication/push_queues.hpp"
#include "replication/sync_codec.hpp"

namespace kvs::replication {

struct AntiEntropyOptions {
  std::chrono::milliseconds sync_interval{std::chrono::seconds(300)};
  std::chrono::milliseconds catchup_interval{std::chrono::seconds(120)};
  std::chrono::milliseconds first_round_max{std::chrono::seconds(5)};  // the first round waits at most this
  std::chrono::milliseconds throttle_delay{100};
  std::chrono::milliseconds fetch_delay{50};
  std::size_t max_push_bytes = std::size_t{512} << 10;   // per /sync/push body
  // After a failed round (another random peer is likely tried): retry_min doubling to
  // retry_max, never later than sync_interval.
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{std::chrono::seconds(60)};
};

using SyncTime = std::chrono::steady_clock::time_point;

// Every current version with path >= `start`, in key order; visit returns false to stop.
using ScanFn = std::function<Status(const std::string& start, const std::function<bool(const Version&)>& visit)>;
// Every current version in the leaves flagged in `buckets` (kLeafCount flags) with path >=
// `start`, in key order, tombstones included; visit returns false to stop.
using BucketScanFn = std::function<Status(const std::vector<bool>& buckets, const std::string& start,
                                          const std::function<bool(const Version&)>& visit)>;
// The current version of one path (tombstones included), or nullopt.
using GetFn = std::function<Result<std::optional<Version>>(const std::string& path)>;

// A BucketScanFn that reads only the paths `tree` lists for the flagged leaves, each through
// `get`, a chunk of paths at a time: cost proportional to the keys in those leaves. A path the
// tree lists but `get` no longer finds (purged, its report still on the way) is skipped.
// `tree` must outlive the result.
BucketScanFn indexed_bucket_scan(const MerkleTree& tree, GetFn get);
// A BucketScanFn over a full key-order scan filtered by bucket: O(all keys). The reference
// indexed_bucket_scan is tested against.
BucketScanFn filtered_bucket_scan(ScanFn scan);

struct RoundReport {
  bool differed = false;
  std::size_t buckets = 0;   // differing leaves
  std::size_t fetched = 0;   // versions received
  std::size_t pushed = 0;    // versions sent back
};

// One page of the versions in `buckets` (kLeafCount flags) with path > `after`, tombstones
// included, stopping once the page holds `max_bytes` of documents (one version at least).
// Serves /sync/bucket.
Result<VersionPage> bucket_page(const BucketScanFn& scan, const std::vector<bool>& buckets,
                                const std::string& after, std::size_t max_bytes);

// One /sync/ POST to make.
struct SyncRequest {
  std::string peer_id;
  std::string address;     // "host:port"
  std::string target;      // a peer_protocol::kSync* target
  std::string body;
  std::uint64_t ticket = 0;  // hand back to on_answer
};

// A round that ended.
struct RoundEvent {
  std::string peer_id;
  std::string address;
  bool ok = false;
  RoundReport report;      // what it did, failed rounds too (up to the failure)
  std::string error;       // when !ok
};

struct AntiEntropyEffects {
  std::vector<Version> apply;        // 1. apply these (a fetched page), by the version order
  std::vector<RoundEvent> rounds;    // 2. rounds that ended
  std::optional<SyncRequest> send;   // 3. then send this

  bool empty() const noexcept { return apply.empty() && rounds.empty() && !send; }
};

struct AntiEntropyStats {
  std::uint64_t rounds_ok = 0;
  std::uint64_t rounds_failed = 0;
  std::uint64_t fetched = 0;  // versions received
  std::uint64_t pushed = 0;   // versions a peer took
};

class AntiEntropy {
 public:
  // The first round comes at `now` + min(sync_interval, first_round_max).
  AntiEntropy(AntiEntropyOptions options, const MerkleTree& tree, BucketScanFn ours, Random& random, SyncTime now);

  // The peers a round may pick from, this node excluded. A round in progress goes on.
  void set_peers(std::vector<PeerAddress> peers);

  // Starts a round with `peer` at once (its first request goes at the next on_tick). False, and
  // nothing changes, while a round is in progress.
  bool start_round(const PeerAddress& peer, SyncTime now);

  // Starts a round when one is due, and sends the round's next request once its pause is over.
  void on_tick(SyncTime now);

  // The answer to the request with `ticket`: the body of a verified 2xx answer, or why there is
  // none. Ignored unless it is the request in flight.
  void on_answer(std::uint64_t ticket, Result<std::string> answer, SyncTime now);

  AntiEntropyEffects take_effects();

  // When on_tick next has something to do; SyncTime::max() while a request is in flight.
  SyncTime next_wakeup() const;

  bool in_round() const noexcept { return step_ != Step::kIdle; }
  const AntiEntropyStats& stats() const noexcept { return stats_; }

 private:
  enum class Step : std::uint8_t { kIdle, kBranches, kLeaves, kBuckets, kPush };

  void begin(const PeerAddress& peer, SyncTime now);
  void send(std::string_view target, std::string body);
  // Reads our next page of the differing leaves and sends what the peer lacks (step 4).
  void push_next(SyncTime now);
  void on_branches(const std::string& body, SyncTime now);
  void on_leaves(const std::string& body, SyncTime now);
  void on_bucket(const std::string& body, SyncTime now);
  void finish(SyncTime now);
  void fail(const Status& status, SyncTime now);

  const AntiEntropyOptions options_;
  const MerkleTree& tree_;
  const BucketScanFn ours_;
  Random& random_;
  std::vector<PeerAddress> peers_;
  Backoff failures_;

  Step step_ = Step::kIdle;
  SyncTime next_round_{};
  SyncTime next_step_{};
  std::uint64_t ticket_ = 0;  // of the request in flight; 0 when none
  std::uint64_t next_ticket_ = 1;
  // The round in progress.
  PeerAddress peer_;
  RoundReport report_;
  std::vector<std::size_t> branches_;  // differing branches
  std::vector<std::size_t> buckets_;   // differing leaves
  std::vector<bool> differing_;        // the same, as kLeafCount flags
  // The peer's versions of the differing leaves, without documents: what to push back.
  std::map<std::string, Version> theirs_;
  std::string after_;                  // cursor of the pages (theirs in step 3, ours in step 4)
  std::optional<std::string> push_next_;  // our page after the batch in flight
  std::size_t push_count_ = 0;         // versions in the batch in flight

  AntiEntropyEffects effects_;
  AntiEntropyStats stats_;
};

}  // namespace kvs::replication
