// Node::range pages bounded in bytes (SPEC section 2, max_range_bytes): a page of large documents
// ends early with next_start_key set, and still holds one item while any remain. The REST body
// size itself is checked by the integration tests.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

// A JSON string document of about `bytes` bytes.
std::string document_of(std::size_t bytes) { return "\"" + std::string(bytes, 'x') + "\""; }

std::vector<std::string> all_paths_by_pages(Node& node, RangeQuery query, std::size_t& pages) {
  std::vector<std::string> paths;
  pages = 0;
  for (;;) {
    auto page = node.range(query);
    REQUIRE(page.is_ok());
    ++pages;
    REQUIRE_FALSE(page->items.empty());
    std::size_t bytes = 0;
    for (const auto& item : page->items) {
      paths.push_back(item.path);
      if (item.data) bytes += item.data->size();
    }
    // One item may pass the cap on its own; more than one never do.
    if (page->items.size() > 1) CHECK(bytes <= query.max_bytes);
    if (!page->next_start_key) break;
    query.start_key = *page->next_start_key;
  }
  return paths;
}

}  // namespace

TEST_CASE("a range page ends once its bytes would pass max_bytes, with next_start_key set", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* key : {"k1", "k2", "k3", "k4", "k5", "k6"}) REQUIRE(node.put(key, document_of(3000)).is_ok());
  RangeQuery query;
  query.values = true;
  query.max_bytes = 8000;  // two documents of 3000 fit, a third does not
  auto first = node.range(query);
  REQUIRE(first.is_ok());
  CHECK(first->items.size() == 2);
  REQUIRE(first->next_start_key.has_value());
  CHECK(*first->next_start_key == "k3");

  std::size_t pages = 0;
  auto paths = all_paths_by_pages(node, query, pages);
  CHECK(paths == std::vector<std::string>{"k1", "k2", "k3", "k4", "k5", "k6"});
  CHECK(pages == 3);

  // Without values the documents do not count: one page.
  query.values = false;
  query.start_key.clear();
  auto keys_only = node.range(query);
  REQUIRE(keys_only.is_ok());
  CHECK(keys_only->items.size() == 6);
  CHECK_FALSE(keys_only->next_start_key.has_value());
}

TEST_CASE("a range page holds one item even when that item alone passes max_bytes", "[node][range]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (const char* key : {"a", "b"}) REQUIRE(node.put(key, document_of(5000)).is_ok());
  RangeQuery query;
  query.values = true;
  query.max_bytes = 1024;
  std::size_t pages = 0;
  auto paths = all_paths_by_pages(node, query, pages);
  CHECK(paths == std::vector<std::string>{"a", "b"});
  CHECK(pages == 2);
}

TEST_CASE("a range query without max_bytes uses the node's max_range_bytes", "[node][range]") {
  NodeFixture fixture([](Config& config) { config.max_range_bytes = 7000; });
  Node& node = fixture.node();
  for (const char* key : {"a", "b", "c"}) REQUIRE(node.put(key, document_of(3000)).is_ok());
  RangeQuery query;
  query.values = true;
  auto page = node.range(query);
  REQUIRE(page.is_ok());
  CHECK(page->items.size() == 2);
  REQUIRE(page->next_start_key.has_value());
  CHECK(*page->next_start_key == "c");
}

}  // namespace kvs::test
