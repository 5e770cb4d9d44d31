#include "replication/merkle.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

namespace kvs::replication {
namespace {

void update_field(crypto_generichash_state& state, std::string_view bytes) {
  std::uint8_t length[8];
  std::uint64_t size = bytes.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(size >> (8 * i));
  crypto_generichash_update(&state, length, sizeof length);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Digest hash_of(const std::uint8_t* bytes, std::size_t size) {
  Digest out{};
  crypto_generichash(out.data(), out.size(), bytes, size, nullptr, 0);
  return out;
}

}  // namespace

std::size_t bucket_of(std::string_view path) noexcept {
  std::uint8_t hash[crypto_generichash_BYTES_MIN];  // 16 bytes
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(path.data()), path.size(), nullptr, 0);
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | hash[i];
  return static_cast<std::size_t>(value % kLeafCount);
}

Digest version_digest(const Version& version) noexcept {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  update_field(state, version.path);
  update_field(state, version.uuid);
  update_field(state, std::to_string(version.timestamp_ms));
  update_field(state, std::to_string(version.origin_joined_ms));
  update_field(state, version.deleted ? "1" : "0");
  Digest out{};
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

std::string to_hex(const Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (std::uint8_t byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
  }
  return out;
}

bool from_hex(std::string_view hex, Digest& out) noexcept {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

MerkleTree::MerkleTree() : leaves_(kLeafCount), branch_hashes_(kBranchCount), branch_dirty_(kBranchCount, true) {}

void MerkleTree::add(const Version& version) { fold(version, true); }
void MerkleTree::remove(const Version& version) { fold(version, false); }

void MerkleTree::fold(const Version& version, bool add) {
  // Hashing happens outside the lock; only the 256-bit addition is serialised.
  Digest digest = version_digest(version);
  std::array<std::uint64_t, 4> term{};
  for (std::size_t limb = 0; limb < 4; ++limb) {
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | digest[limb * 8 + static_cast<std::size_t>(i)];
    term[limb] = value;
  }
  std::size_t bucket = bucket_of(version.path);
  MutexLock lock(mutex_);
  Leaf& leaf = leaves_[bucket];
  {
    auto [entry, inserted] = leaf.paths.try_emplace(version.path, 0);
    entry->second += add ? 1 : -1;
    if (entry->second == 0) leaf.paths.erase(entry);
  }
  if (add) {
    unsigned carry = 0;
    for (std::size_t limb = 0; limb < 4; ++limb) {
      std::uint64_t a = leaf.sum[limb];
      std::uint64_t s = a + term[limb];
      unsigned c1 = s < a ? 1u : 0u;
      std::uint64_t t = s + carry;
      unsigned c2 = t < s ? 1u : 0u;
      leaf.sum[limb] = t;
      carry = c1 | c2;
    }
    ++leaf.count;
    ++keys_;
  } else {
    unsigned borrow = 0;
    for (std::size_t limb = 0; limb < 4; ++limb) {
      std::uint64_t a = leaf.sum[limb];
      std::uint64_t d = a - term[limb];
      unsigned b1 = a < term[limb] ? 1u : 0u;
      std::uint64_t t = d - borrow;
      unsigned b2 = d < borrow ? 1u : 0u;
      leaf.sum[limb] = t;
      borrow = b1 | b2;
    }
    // Counts wrap like the sums: a removal reported before its addition (reports commute)
    // leaves them right once both are in.
    --leaf.count;
    --keys_;
  }
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
    branch_hashes_[branch] = hash_of(buffer.data(), buffer.size());
    branch_dirty_[branch] = false;
  }
  std::vector<std::uint8_t> top(kBranchCount * 32);
  for (std::size_t branch = 0; branch < kBranchCount; ++branch) {
    std::memcpy(top.data() + branch * 32, branch_hashes_[branch].data(), 32);
  }
  root_ = hash_of(top.data(), top.size());
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
