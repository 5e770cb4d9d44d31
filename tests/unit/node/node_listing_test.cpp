// One-level listing (SPEC section 2, `_range ... delimiter=/`): keys and rolled-up prefixes in
// key order, paged across both, a prefix shown only to a caller who may read a key under it.
// The model test compares random listings with an in-memory model; these are the cases it
// does not reach: permissions, paths longer than the store's inline key, and refusals.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

RangeQuery one_level(std::string prefix, std::size_t limit = 100) {
  RangeQuery query;
  query.prefix = std::move(prefix);
  query.delimiter = "/";
  query.limit = limit;
  return query;
}

std::vector<std::string> item_paths(const RangeResult& result) {
  std::vector<std::string> paths;
  for (const auto& item : result.items) paths.push_back(item.path);
  return paths;
}

}  // namespace

TEST_CASE("a one-level listing rolls each subtree up into its prefix, in key order", "[node][range]") {
  NodeFixture f;
  for (const char* path : {"users/ann", "users/bob/profile", "users/bob/keys/1", "users/bob/keys/2", "users/cy",
                           "users/dee/x", "usersx/y", "top"}) {
    REQUIRE(f.node().put(path, "1").is_ok());
  }
  auto listed = f.node().range(one_level("users/"));
  REQUIRE(listed.is_ok());
  CHECK(item_paths(*listed) == std::vector<std::string>{"users/ann", "users/cy"});
  CHECK(listed->prefixes == std::vector<std::string>{"users/bob/", "users/dee/"});
  CHECK_FALSE(listed->next_start_key);

  auto top = f.node().range(one_level(""));
  REQUIRE(top.is_ok());
  CHECK(item_paths(*top) == std::vector<std::string>{"top"});
  CHECK(top->prefixes == std::vector<std::string>{"users/", "usersx/"});

  // Pages count prefixes and keys together; next_start_key resumes past a listed subtree.
  std::vector<std::string> seen;
  RangeQuery query = one_level("users/", 1);
  for (int pages = 0; pages < 10; ++pages) {
    auto page = f.node().range(query);
    REQUIRE(page.is_ok());
    REQUIRE(page->items.size() + page->prefixes.size() == 1);
    seen.push_back(page->items.empty() ? page->prefixes.front() : page->items.front().path);
    if (!page->next_start_key) break;
    query.start_key = *page->next_start_key;
  }
  CHECK(seen == std::vector<std::string>{"users/ann", "users/bob/", "users/cy", "users/dee/"});
}

TEST_CASE("a one-level listing shows a prefix only to a caller who may read a key under it", "[node][range]") {
  NodeFixture f([](Config& config) { config.auth_enabled = true; });
  Caller admin = admin_caller(f);
  Caller alice = new_user_caller(f, admin, "alice", kScopeRead | kScopeWrite);
  Caller bob = new_user_caller(f, admin, "bob", kScopeRead | kScopeWrite);
  PutOptions as_alice;
  as_alice.caller = alice;
  PutOptions as_bob;
  as_bob.caller = bob;
  // Alice's subtree is closed to others (default permissions 0xF10: others none); under
  // shared/ the first key is Alice's, the second Bob's.
  REQUIRE(f.node().put("home/alice/notes", "1", as_alice).is_ok());
  REQUIRE(f.node().put("shared/a/1", "1", as_alice).is_ok());
  REQUIRE(f.node().put("shared/b/2", "1", as_bob).is_ok());
  REQUIRE(f.node().put("shared/b/3", "1", as_alice).is_ok());

  RangeQuery query = one_level("");
  query.caller = bob;
  auto bobs = f.node().range(query);
  REQUIRE(bobs.is_ok());
  CHECK(bobs->prefixes == std::vector<std::string>{"shared/"});
  query = one_level("shared/");
  query.caller = bob;
  bobs = f.node().range(query);
  REQUIRE(bobs.is_ok());
  CHECK(bobs->prefixes == std::vector<std::string>{"shared/b/"});

  query.caller = alice;
  auto alices = f.node().range(query);
  REQUIRE(alices.is_ok());
  CHECK(alices->prefixes == std::vector<std::string>{"shared/a/", "shared/b/"});
  query = one_level("");
  query.caller = admin;
  auto admins = f.node().range(query);
  REQUIRE(admins.is_ok());
  CHECK(admins->prefixes == std::vector<std::string>{"home/", "shared/"});
}

TEST_CASE("a one-level listing steps over subtrees of paths longer than the inline key", "[node][range]") {
  NodeFixture f;
  // Paths over 400 bytes are stored under a hashed key; the listing must still roll them up
  // once each and keep key order around them.
  const std::string long_dir = "p/" + std::string(450, 'd');
  for (const std::string& path : {long_dir + "/1", long_dir + "/2", long_dir + "x/3", std::string("p/a/1"),
                                  std::string("p/z")}) {
    REQUIRE(f.node().put(path, "1").is_ok());
  }
  auto listed = f.node().range(one_level("p/"));
  REQUIRE(listed.is_ok());
  CHECK(listed->prefixes == std::vector<std::string>{"p/a/", long_dir + "/", long_dir + "x/"});
  CHECK(item_paths(*listed) == std::vector<std::string>{"p/z"});
}

TEST_CASE("a delimiter other than / is refused", "[node][range]") {
  NodeFixture f;
  RangeQuery query = one_level("a/");
  query.delimiter = ":";
  CHECK(f.node().range(query).status().code() == Code::kInvalidArgument);
}

}  // namespace kvs::test
