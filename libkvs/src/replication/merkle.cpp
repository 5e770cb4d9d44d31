#include "replication/merkle.hpp"

#include <algorithm>
#include <cstring>

#include "util/blake2b.hpp"
#include "util/coding.hpp"

namespace kvs::replication {
namespace {

// A field of a version digest: its length (u64, little-endian), then its bytes.
void update_field(util::Blake2bHasher& hasher, std::string_view bytes) {
  std::string length;
  util::put_u64_le(length, bytes.size());
  hasher.update(length);
  hasher.update(bytes);
}

Digest hash_of(const std::vector<std::uint8_t>& bytes) {
  return util::blake2b<std::tuple_size_v<Digest>>(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// The little-endian u64 at `offset` of a digest.
std::uint64_t u64_le_at(const std::uint8_t* digest, std::size_t offset) {
  return util::get_u64_le(std::string_view(reinterpret_cast<const char*>(digest) + offset, 8));
}

using Limbs = std::array<std::uint64_t, 4>;  // little-endian limbs of a 256-bit number

Limbs limbs_of(const Digest& digest) {
  Limbs limbs{};
  for (std::size_t limb = 0; limb < 4; ++limb) limbs[limb] = u64_le_at(digest.data(), limb * 8);
  return limbs;
}

// sum += term, mod 2^256.
void add_to(Limbs& sum, const Limbs& term) {
  unsigned carry = 0;
  for (std::size_t limb = 0; limb < 4; ++limb) {
    const std::uint64_t a = sum[limb];
    const std::uint64_t s = a + term[limb];
    const unsigned c1 = s < a ? 1u : 0u;
    const std::uint64_t t = s + carry;
    const unsigned c2 = t < s ? 1u : 0u;
    sum[limb] = t;
    carry = c1 | c2;
  }
}

// sum -= term, mod 2^256.
void subtract_from(Limbs& sum, const Limbs& term) {
  unsigned borrow = 0;
  for (std::size_t limb = 0; limb < 4; ++limb) {
    const std::uint64_t a = sum[limb];
    const std::uint64_t d = a - term[limb];
    const unsigned b1 = a < term[limb] ? 1u : 0u;
    const std::uint64_t t = d - borrow;
    const unsigned b2 = d < borrow ? 1u : 0u;
    sum[limb] = t;
    borrow = b1 | b2;
  }
}

}  // namespace

std::size_t bucket_of(std::string_view path) noexcept {
  const auto hash = util::blake2b<16>(path);
  return static_cast<std::size_t>(u64_le_at(hash.data(), 0) % kLeafCount);
}

Digest version_digest(const Version& version) noexcept {
  util::Blake2bHasher hasher(std::tuple_size_v<Digest>);
  update_field(hasher, version.path);
  update_field(hasher, version.uuid);
  update_field(hasher, std::to_string(version.timestamp_ms));
  update_field(hasher, std::to_string(version.origin_joined_ms));
  update_field(hasher, version.deleted ? "1" : "0");
  return hasher.final<std::tuple_size_v<Digest>>();
}

MerkleTree::MerkleTree() : leaves_(kLeafCount), branch_hashes_(kBranchCount), branch_dirty_(kBranchCount, true) {}

void MerkleTree::add(const Version& version) { fold(version, true); }
void MerkleTree::remove(const Version& version) { fold(version, false); }

void MerkleTree::fold(const Version& version, bool add) {
  // Hashing happens outside the lock; only the 256-bit addition is serialised.
  const Limbs term = limbs_of(version_digest(version));
  const std::size_t bucket = bucket_of(version.path);
  MutexLock lock(mutex_);
  Leaf& leaf = leaves_[bucket];
  {
    auto [entry, inserted] = leaf.paths.try_emplace(version.path, 0);
    entry->second += add ? 1 : -1;
    if (entry->second == 0) leaf.paths.erase(entry);
  }
  if (add) {
    add_to(leaf.sum, term);
    ++leaf.count;
    ++keys_;
  } else {
    subtract_from(leaf.sum, term);
    // Counts wrap like the sums: a removal reported before its addition (reports commute)
    // leaves them right once both are in.
    --leaf.count;
    --keys_;
  }
  touch(bucket);
}

void MerkleTree::replace(const Version& previous, const Version& current) {
  if (previous.path != current.path) {
    remove(previous);
    add(current);
    return;
  }
  const Limbs out = limbs_of(version_digest(previous));
  const Limbs in = limbs_of(version_digest(current));
  const std::size_t bucket = bucket_of(current.path);
  MutexLock lock(mutex_);
  // One path's -1 and +1 cancel, in its listing and in the counts.
  Leaf& leaf = leaves_[bucket];
  subtract_from(leaf.sum, out);
  add_to(leaf.sum, in);
  touch(bucket);
}

void MerkleTree::touch(std::size_t bucket) {
  branch_dirty_[bucket / kFanout] = true;
  root_dirty_ = true;
}

void MerkleTree::clear() {
  MutexLock lock(mutex_);
  for (auto& leaf : leaves_) leaf = Leaf{};
  keys_ = 0;
  std::fill(branch_dirty_.begin(), branch_dirty_.end(), true);
  root_dirty_ = true;
}

Digest MerkleTree::leaf_value(const Leaf& leaf) const {
  // The leaf's value as exchanged between nodes: its 256-bit sum, little-endian.
  Digest out{};
  for (std::size_t limb = 0; limb < 4; ++limb) {
    for (std::size_t i = 0; i < 8; ++i) out[limb * 8 + i] = static_cast<std::uint8_t>(leaf.sum[limb] >> (8 * i));
  }
  return out;
}

void MerkleTree::refresh() const {
  if (!root_dirty_) return;
  std::vector<std::uint8_t> buffer(kFanout * 32);
  for (std::size_t branch = 0; branch < kBranchCount; ++branch) {
    if (!branch_dirty_[branch]) continue;
    for (std::size_t k = 0; k < kFanout; ++k) {
      Digest value = leaf_value(leaves_[branch * kFanout + k]);
      std::memcpy(buffer.data() + k * 32, value.data(), 32);
    }
    branch_hashes_[branch] = hash_of(buffer);
    branch_dirty_[branch] = false;
  }
  std::vector<std::uint8_t> top(kBranchCount * 32);
  for (std::size_t branch = 0; branch < kBranchCount; ++branch) {
    std::memcpy(top.data() + branch * 32, branch_hashes_[branch].data(), 32);
  }
  root_ = hash_of(top);
  root_dirty_ = false;
}

Digest MerkleTree::root() const {
  MutexLock lock(mutex_);
  refresh();
  return root_;
}

std::uint64_t MerkleTree::keys() const {
  MutexLock lock(mutex_);
  return keys_;
}

std::vector<Digest> MerkleTree::branches() const {
  MutexLock lock(mutex_);
  refresh();
  return branch_hashes_;
}

std::vector<Digest> MerkleTree::leaves(std::size_t branch) const {
  std::vector<Digest> out;
  if (branch >= kBranchCount) return out;
  MutexLock lock(mutex_);
  out.reserve(kFanout);
  for (std::size_t k = 0; k < kFanout; ++k) out.push_back(leaf_value(leaves_[branch * kFanout + k]));
  return out;
}

std::vector<std::string> MerkleTree::paths(const std::vector<bool>& buckets, std::string_view start,
                                           std::size_t limit) const {
  using Iterator = std::map<std::string, std::int64_t, std::less<>>::const_iterator;
  struct Cursor {
    Iterator at;
    Iterator end;
  };
  std::vector<std::string> out;
  if (limit == 0) return out;
  MutexLock lock(mutex_);
  // A k-way merge of the flagged leaves, each already in path order; the heap's top is the
  // cursor with the smallest path.
  std::vector<Cursor> heap;
  auto later = [](const Cursor& a, const Cursor& b) { return a.at->first > b.at->first; };
  for (std::size_t bucket = 0; bucket < kLeafCount && bucket < buckets.size(); ++bucket) {
    if (!buckets[bucket]) continue;
    const auto& leaf_paths = leaves_[bucket].paths;
    auto at = leaf_paths.lower_bound(start);
    if (at != leaf_paths.end()) heap.push_back({at, leaf_paths.end()});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty() && out.size() < limit) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Cursor& cursor = heap.back();
    if (cursor.at->second > 0) out.push_back(cursor.at->first);
    if (++cursor.at == cursor.end) {
      heap.pop_back();
    } else {
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
  return out;
}

}  // namespace kvs::replication
