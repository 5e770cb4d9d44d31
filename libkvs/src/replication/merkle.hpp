#pragma once

// MerkleTree: a fixed-shape hash tree over every current version a node holds (tombstones and
// reserved keys included), the summary that anti-entropy compares between two nodes.
//
// Shape (never changes, so two nodes always compare like with like):
//   leaves    kLeafCount = 4096 buckets; a key's bucket is the first 8 bytes of BLAKE2b(path),
//             little-endian, mod 4096 (bucket_of).
//   branches  kBranchCount = 64 nodes of kFanout = 64 consecutive leaves each.
//   root      one node over the 64 branches.
// A leaf's value is the sum, mod 2^256, of the digests of the versions in it (version_digest:
// BLAKE2b-256 of path, uuid, timestamp, origin joined timestamp and the deleted flag), and
// its key count. Addition is commutative and invertible, so the same set of versions gives the
// same leaves whatever the order they arrived in, and replacing a key's version costs one
// subtraction and one addition: O(1) per write, never a rebuild. Branch and root hashes are
// BLAKE2b-256 of their children's values; they are recomputed lazily, only for branches a
// write touched since the last read.
//
// Because updates commute, callers may report a replacement (previous -> current) after the
// storage commit and in any order relative to other replacements of the same key: the tree
// ends equal to the set of current versions once every report is in.
//
// Each leaf also lists the paths of its current versions (in memory, never on disk), so that a
// differing bucket is answered by reading only its own keys (paths()), not by scanning the
// keyspace. A path is counted like the sums: +1 per add, -1 per remove, listed while its count
// is positive, so out-of-order reports end right too. Memory: one std::map node per key
// (about 90 bytes on 64-bit libstdc++, plus the path itself past 15 bytes).
//
// Threading: every method is safe from any thread (one internal mutex; each call is short).

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/version.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::replication {

inline constexpr std::size_t kLeafCount = 4096;
inline constexpr std::size_t kFanout = 64;
inline constexpr std::size_t kBranchCount = kLeafCount / kFanout;

using Digest = std::array<std::uint8_t, 32>;

// The leaf bucket (0..kLeafCount-1) of a key.
std::size_t bucket_of(std::string_view path) noexcept;

// What a version contributes to its leaf: BLAKE2b-256 over, each length-prefixed (8 bytes
// little-endian), path, uuid, timestamp_ms (decimal), origin_joined_ms (decimal) and "1"/"0"
// for deleted. The document is left out: a uuid names one write.
Digest version_digest(const Version& version) noexcept;


class MerkleTree {
 public:
  MerkleTree();

  // Folds `version` in (a key that became current) or out (a key replaced or purged).
  void add(const Version& version);
  void remove(const Version& version);
  // The same as remove(previous) then add(current), in one step. For one path, the common case
  // (every write of a key that has a version), the path's listing does not change, so the
  // leaf's map is not touched: only the sum moves.
  void replace(const Version& previous, const Version& current);
  // Removes every contribution.
  void clear();

  // The root hash (two trees over the same versions have the same root).
  Digest root() const;
  // Keys (current versions) counted in the tree.
  std::uint64_t keys() const;
  // The kBranchCount branch hashes, in order.
  std::vector<Digest> branches() const;
  // The kFanout leaf values of branch `branch` (< kBranchCount), in order: leaf k of the
  // result is bucket branch * kFanout + k.
  std::vector<Digest> leaves(std::size_t branch) const;
  // The paths of the current versions in the leaves flagged in `buckets` (kLeafCount flags)
  // with path >= `start`, in path order, at most `limit`. Costs O(flagged leaves * log n +
  // limit * log(flagged leaves)), whatever the number of keys outside those leaves.
  std::vector<std::string> paths(const std::vector<bool>& buckets, std::string_view start, std::size_t limit) const;

 private:
  struct Leaf {
    std::array<std::uint64_t, 4> sum{};  // little-endian limbs of a 256-bit number
    std::uint64_t count = 0;
    // Path -> adds minus removes (transiently <= 0 when a removal is reported first).
    std::map<std::string, std::int64_t, std::less<>> paths;
  };

  void fold(const Version& version, bool add);
  // Marks the hashes over `bucket` for recomputation.
  void touch(std::size_t bucket) KVS_REQUIRES(mutex_);
  Digest leaf_value(const Leaf& leaf) const;
  void refresh() const KVS_REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::vector<Leaf> leaves_ KVS_GUARDED_BY(mutex_);
  std::uint64_t keys_ KVS_GUARDED_BY(mutex_) = 0;
  // Lazily computed hashes: a branch is dirty after a write under it.
  mutable std::vector<Digest> branch_hashes_ KVS_GUARDED_BY(mutex_);
  mutable std::vector<bool> branch_dirty_ KVS_GUARDED_BY(mutex_);
  mutable Digest root_ KVS_GUARDED_BY(mutex_){};
  mutable bool root_dirty_ KVS_GUARDED_BY(mutex_) = true;
};

}  // namespace kvs::replication
