#pragma once

// AntiEntropy: the repair path of replication (SPEC section 3). Every sync_interval (every
// catchup_interval after a round that found a difference) one thread picks a random peer and
// compares Merkle trees (replication/merkle.hpp) top-down, over the /sync/ requests of
// replication/sync_codec.hpp:
//   1. /sync/merkle/branches: the peer's root; equal roots end the round. Else its 64 branch
//      hashes, compared with ours;
//   2. /sync/merkle/leaves: the leaf values of the differing branches only, compared with ours;
//   3. /sync/bucket: the peer's versions in the differing leaves, page by page; each is
//      applied here by the version order (hooks.apply);
//   4. /sync/push: our versions of those leaves that the peer lacks or that beat the peer's,
//      so one round repairs both sides.
// Steps are paced: throttle_delay between requests, fetch_delay between pages.
//
// Threading: start/stop and sync_with from any thread; the round thread is the only caller of
// the hooks besides sync_with's caller. `tree` must outlive the AntiEntropy.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "replication/merkle.hpp"
#include "replication/replicator.hpp"
#include "replication/sync_codec.hpp"

namespace kvs::replication {

struct AntiEntropyOptions {
  std::chrono::milliseconds sync_interval{std::chrono::seconds(300)};
  std::chrono::milliseconds catchup_interval{std::chrono::seconds(120)};
  std::chrono::milliseconds first_round_max{std::chrono::seconds(5)};  // the first round waits at most this
  std::chrono::milliseconds throttle_delay{100};
  std::chrono::milliseconds fetch_delay{50};
  std::size_t max_push_bytes = std::size_t{512} << 10;   // per /sync/push body
};

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

struct AntiEntropyHooks {
  std::function<std::vector<PeerAddress>()> peers;  // this node excluded
  // A signed POST of `body` to `target` at `address`: the answer body on 2xx, else an error.
  std::function<Result<std::string>(const std::string& address, std::string_view target, const std::string& body)> call;
  // Our versions of the differing leaves, for the push back (indexed_bucket_scan in production).
  BucketScanFn scan;
  // Applies a version received from a peer (by the order; the node may skip it).
  std::function<void(const Version&)> apply;
  // Applies a whole /sync/bucket page at once (one store transaction); when set, it is used
  // instead of `apply` for fetched pages. Optional.
  std::function<void(const std::vector<Version>&)> apply_page;
  Random* random = nullptr;
  // Told the outcome of every round of the background thread. Optional.
  std::function<void(bool ok)> on_round;
};

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

class AntiEntropy {
 public:
  AntiEntropy(AntiEntropyOptions options, AntiEntropyHooks hooks, const MerkleTree& tree);
  ~AntiEntropy();
  AntiEntropy(const AntiEntropy&) = delete;
  AntiEntropy& operator=(const AntiEntropy&) = delete;

  void start();
  void stop();

  // One round with the peer at `address`, now, on the calling thread.
  Result<RoundReport> sync_with(const std::string& address);

  std::uint64_t rounds_ok() const noexcept { return rounds_ok_.load(std::memory_order_relaxed); }
  std::uint64_t rounds_failed() const noexcept { return rounds_failed_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Sleeps `delay` unless stop() comes first; false when stopping.
  bool pause(std::chrono::milliseconds delay);
  Status push_back(const std::string& address, const std::vector<bool>& buckets,
                   const std::map<std::string, Version>& theirs, std::size_t& pushed);

  const AntiEntropyOptions options_;
  const AntiEntropyHooks hooks_;
  const MerkleTree& tree_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
  std::atomic<std::uint64_t> rounds_ok_{0};
  std::atomic<std::uint64_t> rounds_failed_{0};
};

}  // namespace kvs::replication
