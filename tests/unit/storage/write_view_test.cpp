// WriteView::scan: a range read inside the writer's transaction, as a Decide sees it (the
// subtree rule of kvs::Node reads descendants this way, so that no concurrent create slips
// between its check and its commit). Store::scan has its own tests in store_test.cpp.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {

using kvs::test::TempDir;

TEST_CASE("a Decide scans current versions in path order, its own batch's included, until told to stop",
          "[storage]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  require_put(*store, make_version("a/2", "u2", 1'000, "{}"));
  require_put(*store, make_version("b/1", "u3", 1'000, "{}"));
  std::string long_path = "a/" + std::string(450, 'x');  // stored under a hashed key

  std::vector<std::string> seen;
  std::vector<std::string> first_only;
  std::vector<Store::WriteRequest> requests;
  requests.push_back({writes(make_version("a/1", "u1", 1'000, "{}")), {}});
  requests.push_back({writes(make_version(long_path, "u4", 1'000, "{}")), {}});
  requests.push_back({writes(make_version("a0", "u5", 1'000, "{}")), {}});  // past "a/" ('0' follows '/')
  requests.push_back({[&](WriteView& view) -> Result<std::optional<Version>> {
    Status all = view.scan("a/", "a0", [&](const Version& version) {
      seen.push_back(version.path);
      return true;
    });
    if (!all.is_ok()) return all;
    Status first = view.scan("a/", "", [&](const Version& version) {
      first_only.push_back(version.path);
      return false;
    });
    if (!first.is_ok()) return first;
    return std::optional<Version>();
  }, {}});
  auto outcomes = store->write_all(std::move(requests));
  REQUIRE(outcomes.size() == 4);
  for (const auto& outcome : outcomes) REQUIRE(outcome.is_ok());

  CHECK(seen == std::vector<std::string>{"a/1", "a/2", long_path});
  CHECK(first_only == std::vector<std::string>{"a/1"});
}

}  // namespace kvs::storage::test
