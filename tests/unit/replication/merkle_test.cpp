// The Merkle tree of replication/merkle.hpp: order independence, O(1) replacement, and that a
// difference is confined to the branch and leaf of the key that differs.

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "replication/merkle.hpp"
#include "util/hex.hpp"

using kvs::Version;
using kvs::replication::bucket_of;
using kvs::replication::kBranchCount;
using kvs::replication::kFanout;
using kvs::replication::kLeafCount;
using kvs::replication::MerkleTree;

namespace {

Version version_of(const std::string& path, const std::string& uuid, std::int64_t timestamp, bool deleted = false) {
  Version version;
  version.path = path;
  version.uuid = uuid;
  version.timestamp_ms = timestamp;
  version.origin_joined_ms = 1000;
  version.deleted = deleted;
  if (!deleted) version.data = "{\"n\":" + std::to_string(timestamp) + "}";
  return version;
}

std::vector<Version> sample(std::size_t count) {
  std::vector<Version> versions;
  for (std::size_t i = 0; i < count; ++i) {
    versions.push_back(version_of("key/" + std::to_string(i), "uuid-" + std::to_string(i),
                                  1'700'000'000'000 + static_cast<std::int64_t>(i), i % 7 == 0));
  }
  return versions;
}

}  // namespace

TEST_CASE("the same versions give the same root whatever order they were added in", "[replication]") {
  auto versions = sample(500);
  MerkleTree forward;
  for (const auto& version : versions) forward.add(version);
  std::mt19937 shuffle(42);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(versions.begin(), versions.end(), shuffle);
    MerkleTree shuffled;
    for (const auto& version : versions) shuffled.add(version);
    CHECK(shuffled.root() == forward.root());
    CHECK(shuffled.branches() == forward.branches());
    CHECK(shuffled.keys() == 500);
  }
}

TEST_CASE("replacing a key's version gives the tree of the replacement alone", "[replication]") {
  Version old_version = version_of("users/john", "u1", 100);
  Version new_version = version_of("users/john", "u2", 200);
  Version other = version_of("users/jane", "u3", 150);

  MerkleTree incremental;
  incremental.add(other);
  incremental.add(old_version);
  auto before = incremental.root();
  incremental.remove(old_version);
  incremental.add(new_version);
  CHECK(incremental.root() != before);

  MerkleTree direct;
  direct.add(new_version);
  direct.add(other);
  CHECK(incremental.root() == direct.root());
  CHECK(incremental.keys() == 2);

  // Reports may arrive out of order (two writers finishing in either order): still equal.
  MerkleTree reordered;
  reordered.add(other);
  reordered.add(new_version);
  reordered.remove(old_version);
  reordered.add(old_version);
  CHECK(reordered.root() == direct.root());
  CHECK(reordered.keys() == 2);
}

TEST_CASE("replace is remove then add whatever order the reports arrive in", "[replication]") {
  Version v1 = version_of("users/john", "u1", 100);
  Version v2 = version_of("users/john", "u2", 200);
  Version v3 = version_of("users/john", "u3", 300, true);
  Version other = version_of("users/jane", "u4", 150);
  const std::vector<bool> every(kLeafCount, true);

  MerkleTree direct;
  direct.add(other);
  direct.add(v3);

  // In order: the key's listing and the counts stay as they were.
  MerkleTree replaced;
  replaced.add(other);
  replaced.add(v1);
  replaced.replace(v1, v2);
  replaced.replace(v2, v3);
  CHECK(replaced.root() == direct.root());
  CHECK(replaced.keys() == 2);
  CHECK(replaced.paths(every, "", 10) == direct.paths(every, "", 10));

  // A replacement reported before the add it replaces, and one before its own predecessor's.
  MerkleTree reordered;
  reordered.replace(v2, v3);
  reordered.replace(v1, v2);
  reordered.add(other);
  CHECK(reordered.root() != direct.root());  // v1 is not in yet
  reordered.add(v1);
  CHECK(reordered.root() == direct.root());
  CHECK(reordered.keys() == 2);
  CHECK(reordered.paths(every, "", 10) == std::vector<std::string>{"users/jane", "users/john"});

  // Across two paths it is a remove and an add.
  MerkleTree moved;
  moved.add(other);
  moved.add(v1);
  moved.replace(v1, version_of("users/joan", "u5", 100));
  MerkleTree moved_direct;
  moved_direct.add(other);
  moved_direct.add(version_of("users/joan", "u5", 100));
  CHECK(moved.root() == moved_direct.root());
  CHECK(moved.paths(every, "", 10) == std::vector<std::string>{"users/jane", "users/joan"});
}

TEST_CASE("an empty tree and a tree emptied again have the same root", "[replication]") {
  MerkleTree empty;
  MerkleTree emptied;
  auto versions = sample(50);
  for (const auto& version : versions) emptied.add(version);
  CHECK(emptied.root() != empty.root());
  for (const auto& version : versions) emptied.remove(version);
  CHECK(emptied.root() == empty.root());
  CHECK(emptied.keys() == 0);
  for (const auto& version : versions) emptied.add(version);
  emptied.clear();
  CHECK(emptied.root() == empty.root());
}

TEST_CASE("a difference in one key shows in exactly one branch and one leaf", "[replication]") {
  auto versions = sample(300);
  MerkleTree a;
  MerkleTree b;
  for (const auto& version : versions) {
    a.add(version);
    b.add(version);
  }
  Version tombstone = version_of("key/42", "uuid-x", 1'800'000'000'000, /*deleted=*/true);
  b.remove(versions[42]);
  b.add(tombstone);
  REQUIRE(a.root() != b.root());

  std::size_t bucket = bucket_of("key/42");
  auto branches_a = a.branches();
  auto branches_b = b.branches();
  REQUIRE(branches_a.size() == kBranchCount);
  for (std::size_t branch = 0; branch < kBranchCount; ++branch) {
    CHECK((branches_a[branch] != branches_b[branch]) == (branch == bucket / kFanout));
  }
  auto leaves_a = a.leaves(bucket / kFanout);
  auto leaves_b = b.leaves(bucket / kFanout);
  REQUIRE(leaves_a.size() == kFanout);
  for (std::size_t k = 0; k < kFanout; ++k) CHECK((leaves_a[k] != leaves_b[k]) == (k == bucket % kFanout));
}

TEST_CASE("the deleted flag, timestamp and uuid each change a version's digest", "[replication]") {
  Version base = version_of("a", "u", 5);
  auto digest = kvs::replication::version_digest(base);
  Version changed = base;
  changed.deleted = true;
  CHECK(kvs::replication::version_digest(changed) != digest);
  changed = base;
  changed.timestamp_ms = 6;
  CHECK(kvs::replication::version_digest(changed) != digest);
  changed = base;
  changed.uuid = "v";
  CHECK(kvs::replication::version_digest(changed) != digest);
  changed = base;
  changed.data = "{\"other\":true}";  // the uuid names the write; the document is not hashed
  CHECK(kvs::replication::version_digest(changed) == digest);
}

TEST_CASE("keys spread over the buckets and hex digests round-trip", "[replication]") {
  std::vector<int> hits(kLeafCount, 0);
  for (int i = 0; i < 40000; ++i) ++hits[bucket_of("k" + std::to_string(i))];
  CHECK(*std::min_element(hits.begin(), hits.end()) > 0);
  CHECK(bucket_of("users/john") == bucket_of("users/john"));

  MerkleTree tree;
  tree.add(version_of("x", "y", 1));
  auto root = tree.root();
  kvs::replication::Digest back{};
  REQUIRE(kvs::util::from_hex(kvs::util::to_hex(root), back));
  CHECK(back == root);
  CHECK_FALSE(kvs::util::from_hex("zz", back));
}
