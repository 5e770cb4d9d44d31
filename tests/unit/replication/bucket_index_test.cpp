// A differing leaf is answered from the paths the Merkle tree lists for it
// (indexed_bucket_scan), not from a scan of the keyspace filtered by bucket. Both must give the
// same pages: checked against the old full-scan answer, on a model store with random puts,
// deletes and purges, and on a real node's /sync/bucket answer (tombstones, purges, reopen).

#include <cstddef>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "node_access.hpp"
#include "replication/anti_entropy.hpp"
#include "replication/merkle.hpp"
#include "replication/sync_codec.hpp"
#include "support/node_fixture.hpp"

using kvs::Version;
using kvs::replication::BucketScanFn;
using kvs::replication::kLeafCount;

namespace {

// Every page of bucket_page(scan, buckets) from the start, each as its versions and next.
std::vector<kvs::replication::VersionPage> all_pages(const BucketScanFn& scan, const std::vector<bool>& buckets,
                                                     std::size_t max_bytes) {
  std::vector<kvs::replication::VersionPage> pages;
  std::string after;
  for (;;) {
    auto page = kvs::replication::bucket_page(scan, buckets, after, max_bytes);
    REQUIRE(page.is_ok());
    pages.push_back(*page);
    if (!page->next) return pages;
    REQUIRE(*page->next > after);
    after = *page->next;
  }
}

std::vector<bool> random_buckets(std::mt19937_64& random, std::size_t count) {
  std::vector<bool> buckets(kLeafCount, false);
  for (std::size_t i = 0; i < count; ++i) buckets[random() % kLeafCount] = true;
  return buckets;
}

}  // namespace

TEST_CASE("indexed bucket pages equal filtered full-scan pages on a model store", "[replication]") {
  std::mt19937_64 random(611);
  std::map<std::string, Version> store;
  kvs::replication::MerkleTree tree;
  std::uint64_t next_uuid = 0;
  auto write = [&](const std::string& path, bool deleted) {
    Version version;
    version.path = path;
    version.uuid = "u" + std::to_string(++next_uuid);
    version.timestamp_ms = static_cast<std::int64_t>(next_uuid);
    version.deleted = deleted;
    if (!deleted) version.data = std::string(1 + random() % 300, 'x');
    auto held = store.find(path);
    // Reports after the "commit", as Node does; a removal sometimes reported after the add.
    bool late_remove = random() % 4 == 0;
    std::optional<Version> previous;
    if (held != store.end()) previous = held->second;
    store[path] = version;
    if (previous && !late_remove) tree.remove(*previous);
    tree.add(version);
    if (previous && late_remove) tree.remove(*previous);
  };
  for (int step = 0; step < 20000; ++step) {
    std::string path = "k/" + std::to_string(random() % 6000);
    auto roll = random() % 10;
    if (roll < 7) {
      write(path, false);
    } else if (roll < 9) {
      write(path, true);
    } else if (auto held = store.find(path); held != store.end()) {
      tree.remove(held->second);  // a purge
      store.erase(held);
    }
  }
  REQUIRE(tree.keys() == store.size());

  auto full = kvs::replication::filtered_bucket_scan(
      [&](const std::string& start, const std::function<bool(const Version&)>& visit) {
        for (auto it = store.lower_bound(start); it != store.end(); ++it) {
          if (!visit(it->second)) break;
        }
        return kvs::Status::ok();
      });
  auto indexed = kvs::replication::indexed_bucket_scan(tree, [&](const std::string& path) -> kvs::Result<std::optional<Version>> {
    auto held = store.find(path);
    if (held == store.end()) return std::optional<Version>();
    return std::optional<Version>(held->second);
  });

  for (std::size_t count : {std::size_t{1}, std::size_t{3}, std::size_t{40}, std::size_t{600}, kLeafCount * 4}) {
    for (std::size_t max_bytes : {std::size_t{1}, std::size_t{700}, std::size_t{1} << 20}) {
      auto buckets = random_buckets(random, count);
      auto expected = all_pages(full, buckets, max_bytes);
      auto got = all_pages(indexed, buckets, max_bytes);
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].next == expected[i].next);
        CHECK(got[i].versions == expected[i].versions);
      }
    }
  }
}

TEST_CASE("a node's /sync/bucket answer equals the full-scan answer, tombstones and purges included", "[replication]") {
  kvs::test::NodeFixture fixture([](kvs::Config& config) { config.tombstone_ttl = std::chrono::hours(1); });
  auto check_answers = [&](kvs::Node& node) {
    auto full = kvs::replication::filtered_bucket_scan(
        [&](const std::string& start, const std::function<bool(const Version&)>& visit) {
          bool going = true;
          return node.export_versions([&](const Version& version) {
            if (version.path < start) return true;
            going = visit(version);
            return going;
          });
        });
    std::mt19937_64 random(97);
    for (std::size_t count : {std::size_t{1}, std::size_t{17}, std::size_t{900}, kLeafCount}) {
      std::vector<bool> buckets(kLeafCount, false);
      std::vector<std::size_t> indexes;
      if (count == kLeafCount) {
        buckets.assign(kLeafCount, true);
        for (std::size_t b = 0; b < kLeafCount; ++b) indexes.push_back(b);
      } else {
        for (std::size_t i = 0; i < count; ++i) {
          std::size_t b = random() % kLeafCount;
          if (!buckets[b]) indexes.push_back(b);
          buckets[b] = true;
        }
      }
      std::string after;
      std::size_t pages = 0;
      for (;;) {
        auto answer = kvs::detail::NodeAccess::answer_sync(node, "/sync/bucket",
                                                             kvs::replication::encode_indexes("buckets", indexes, after));
        REQUIRE(answer.is_ok());
        auto expected = kvs::replication::bucket_page(full, buckets, after, std::size_t{1} << 20);
        REQUIRE(expected.is_ok());
        CHECK(*answer == kvs::replication::encode_versions(expected->versions, expected->next));
        ++pages;
        if (!expected->next) break;
        after = *expected->next;
      }
      if (count == kLeafCount) CHECK(pages > 1);  // the big documents span several pages
    }
  };

  kvs::Node& node = fixture.node();
  for (int i = 0; i < 3000; ++i) {
    // Every 100th document is big, so that the whole-keyspace answer needs several pages.
    std::string json = i % 100 == 0 ? kvs::test::json_of_size(60000, static_cast<std::uint64_t>(i))
                                     : "{\"i\":" + std::to_string(i) + "}";
    REQUIRE(node.put("doc/" + std::to_string(i), json).is_ok());
  }
  for (int i = 0; i < 3000; i += 7) REQUIRE(node.remove("doc/" + std::to_string(i)).is_ok());
  check_answers(node);

  // Purge those tombstones, then make new ones and overwrite some keys.
  fixture.clock.advance(std::chrono::hours(2));
  auto purged = node.sweep_now();
  REQUIRE(purged.is_ok());
  CHECK(*purged > 0);
  for (int i = 1; i < 3000; i += 11) {
    if (i % 7 != 0) REQUIRE(node.remove("doc/" + std::to_string(i)).is_ok());
  }
  for (int i = 0; i < 3000; i += 13) REQUIRE(node.put("doc/" + std::to_string(i), "[1]").is_ok());
  check_answers(node);

  // The path lists are rebuilt at open along with the tree.
  fixture.reopen();
  check_answers(fixture.node());
}
