// The permission rules of SPEC section 2 "Permissions" that go beyond one key's current bits
// (issue 14): each revision of ?history and ?revision=N is checked against its own owner,
// group and bits; creating a key above another user's live keys needs admin; permission is
// checked before preconditions; PUT ?meta answers with the meta it wrote, and an owner may
// name only a group it belongs to. In-process, on a ManualClock.
//
// Not covered here: the REST status codes of the same rules (tests/integration/
// permissions_test.cpp), and revisions that arrive from peers (they carry their own metadata
// and are read by the same check).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

void auth_on(Config& config) { config.auth_enabled = true; }

PutOptions as(const Caller& caller) {
  PutOptions options;
  options.caller = caller;
  return options;
}

RemoveOptions removing_as(const Caller& caller) {
  RemoveOptions options;
  options.caller = caller;
  return options;
}

// The revision numbers `caller` sees in the history of `path`, newest first.
std::vector<std::uint64_t> visible_revisions(Node& node, const std::string& path, const Caller& caller) {
  auto history = node.history(path, ReadOptions{caller});
  REQUIRE(history.is_ok());
  std::vector<std::uint64_t> numbers;
  for (const auto& revision : history->revisions) numbers.push_back(revision.revision);
  return numbers;
}

using Numbers = std::vector<std::uint64_t>;

// The three users of every case, created by the bootstrap admin.
struct Users {
  explicit Users(NodeFixture& f)
      : admin(admin_caller(f)),
        alice(new_user_caller(f, admin, "alice", kScopeRead | kScopeWrite)),
        bob(new_user_caller(f, admin, "bob", kScopeRead | kScopeWrite)),
        carol(new_user_caller(f, admin, "carol", kScopeRead | kScopeWrite)) {}
  Caller admin, alice, bob, carol;
};

}  // namespace

// ---- Per-revision authorisation -------------------------------------------------------------

TEST_CASE("issue 14: a key deleted and re-created by another user hides the earlier owner's revisions",
          "[node][auth][history]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  REQUIRE(node.put("vault/pin", R"({"pin":"1234"})", as(u.alice)).is_ok());
  REQUIRE(node.put("vault/pin", R"({"pin":"5678"})", as(u.alice)).is_ok());
  REQUIRE(node.remove("vault/pin", removing_as(u.alice)).is_ok());
  REQUIRE(node.put("vault/pin", R"({"pin":"0000"})", as(u.bob)).is_ok());
  REQUIRE(node.get_meta("vault/pin")->owner_uuid == u.bob.user_uuid);

  // Bob sees his own revision only; Alice's values and her tombstone are hidden from him.
  auto bobs = node.history("vault/pin", ReadOptions{u.bob});
  REQUIRE(bobs.is_ok());
  REQUIRE(bobs->revisions.size() == 1);
  CHECK(bobs->revisions[0].revision == 4);
  CHECK(bobs->revisions[0].data == R"({"pin":"0000"})");
  CHECK(node.get_revision("vault/pin", 1, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(node.get_revision("vault/pin", 2, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  // Alice's tombstone is hers too: 403 before "deleted" (404).
  CHECK(node.get_revision("vault/pin", 3, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(node.get_revision("vault/pin", 4, ReadOptions{u.bob})->data == R"({"pin":"0000"})");
  CHECK(node.get_revision("vault/pin", 99, ReadOptions{u.bob}).status().code() == Code::kNotFound);

  // Alice keeps reading what she wrote, and not what Bob wrote after her.
  CHECK(visible_revisions(node, "vault/pin", u.alice) == Numbers{3, 2, 1});
  CHECK(node.get_revision("vault/pin", 1, ReadOptions{u.alice})->data == R"({"pin":"1234"})");
  CHECK(node.get_revision("vault/pin", 3, ReadOptions{u.alice}).status().code() == Code::kNotFound);  // tombstone
  CHECK(node.get_revision("vault/pin", 4, ReadOptions{u.alice}).status().code() == Code::kPermissionDenied);

  // Someone who may read none of them: 403, as for a GET; the admin and the embedder see all.
  CHECK(node.history("vault/pin", ReadOptions{u.carol}).status().code() == Code::kPermissionDenied);
  CHECK(visible_revisions(node, "vault/pin", u.admin) == Numbers{4, 3, 2, 1});
  CHECK(node.history("vault/pin")->revisions.size() == 4);
  CHECK(node.history("vault/never", ReadOptions{u.bob}).status().code() == Code::kNotFound);
}

TEST_CASE("issue 14: a key expired and re-created by another user hides the earlier owner's revisions",
          "[node][auth][history]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  PutOptions with_ttl = as(u.alice);
  with_ttl.ttl = milliseconds(1'000);
  REQUIRE(node.put("vault/pin", R"({"pin":"1234"})", with_ttl).is_ok());
  REQUIRE(node.put("vault/pin", R"({"pin":"5678"})", with_ttl).is_ok());
  f.clock.advance(milliseconds(1'001));
  REQUIRE(node.get("vault/pin").status().code() == Code::kNotFound);

  // Expired, not yet purged: Bob's put is a create, and the key is his.
  REQUIRE(node.put("vault/pin", R"({"pin":"0000"})", as(u.bob)).is_ok());
  REQUIRE(node.get_meta("vault/pin")->owner_uuid == u.bob.user_uuid);
  CHECK(visible_revisions(node, "vault/pin", u.bob) == Numbers{3});
  CHECK(node.get_revision("vault/pin", 1, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(node.get_revision("vault/pin", 2, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(visible_revisions(node, "vault/pin", u.alice) == Numbers{2, 1});

  // The sweep leaves Bob's key (and so its history) alone: the expired version is no longer current.
  REQUIRE(node.sweep_now().is_ok());
  CHECK(node.get("vault/pin", ReadOptions{u.bob})->data == R"({"pin":"0000"})");
  CHECK(visible_revisions(node, "vault/pin", u.bob) == Numbers{3});
  CHECK(node.get_revision("vault/pin", 1, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
}

TEST_CASE("each revision is read under the bits it was written with, not the current ones",
          "[node][auth][history]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  REQUIRE(node.put("notes/a", R"("private")", as(u.alice)).is_ok());             // 1: 0xF10
  MetaUpdate open;
  open.permissions = 0xF11;
  REQUIRE(node.set_meta("notes/a", open, ReadOptions{u.alice}).is_ok());         // 2: others read
  REQUIRE(node.put("notes/a", R"("public")", as(u.alice)).is_ok());              // 3: keeps 0xF11
  CHECK(visible_revisions(node, "notes/a", u.bob) == Numbers{3, 2});
  CHECK(node.get_revision("notes/a", 1, ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(node.get_revision("notes/a", 3, ReadOptions{u.bob})->data == R"("public")");

  // Closing the key again hides the newest revision, not the ones written while it was open.
  MetaUpdate close;
  close.permissions = 0xF00;
  REQUIRE(node.set_meta("notes/a", close, ReadOptions{u.alice}).is_ok());        // 4: closed
  CHECK(node.get("notes/a", ReadOptions{u.bob}).status().code() == Code::kPermissionDenied);
  CHECK(visible_revisions(node, "notes/a", u.bob) == Numbers{3, 2});
  CHECK(visible_revisions(node, "notes/a", u.alice) == Numbers{4, 3, 2, 1});
}

// ---- The subtree rule -------------------------------------------------------------------------

TEST_CASE("issue 14: no one but an admin creates a key above another user's live keys", "[node][auth][subtree]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  REQUIRE(node.put("alice/docs/x", "1", as(u.alice)).is_ok());

  // Bob, with the write scope and no ancestor in the way, may not claim either parent.
  CHECK(node.put("alice", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);
  CHECK(node.put("alice/docs", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);
  PutOptions create_only = as(u.bob);
  create_only.if_none_match = true;
  CHECK(node.put("alice", "{}", create_only).status().code() == Code::kPermissionDenied);
  CHECK(node.get("alice").status().code() == Code::kNotFound);
  CHECK(node.get("alice/docs").status().code() == Code::kNotFound);
  // Keys that only share the first letters are not beneath: "carl-x" and "carl0" sort right
  // before and after "carl/..." but are siblings of "carl".
  REQUIRE(node.put("carl-x", "1", as(u.alice)).is_ok());
  REQUIRE(node.put("carl0", "1", as(u.alice)).is_ok());
  CHECK(node.put("carl", "1", as(u.bob)).is_ok());

  // So Alice still creates in her own tree, and may claim its parents herself.
  CHECK(node.put("alice/docs/y", "2", as(u.alice)).is_ok());
  CHECK(node.put("alice", "{}", as(u.alice)).is_ok());
  CHECK(node.put("alice/new", "3", as(u.alice)).is_ok());
  CHECK(node.put("alice/bobs", "3", as(u.bob)).status().code() == Code::kPermissionDenied);  // no C for others

  // An admin may create above anyone's keys.
  REQUIRE(node.put("team/carol/x", "1", as(u.carol)).is_ok());
  CHECK(node.put("team", "{}", as(u.admin)).is_ok());
  CHECK(node.get_meta("team")->owner_uuid == u.admin.user_uuid);
}

TEST_CASE("the subtree rule counts only live descendants, and looks past the caller's own",
          "[node][auth][subtree]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();

  // Deleted and expired keys of others do not stand in the way.
  REQUIRE(node.put("gone/x", "1", as(u.alice)).is_ok());
  REQUIRE(node.remove("gone/x", removing_as(u.alice)).is_ok());
  CHECK(node.put("gone", "{}", as(u.bob)).is_ok());
  PutOptions short_lived = as(u.alice);
  short_lived.ttl = milliseconds(500);
  REQUIRE(node.put("brief/x", "1", short_lived).is_ok());
  CHECK(node.put("brief", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);
  f.clock.advance(milliseconds(501));
  CHECK(node.put("brief", "{}", as(u.bob)).is_ok());

  // Many keys of Bob's own come first in key order; Carol's comes last and still counts.
  for (int i = 0; i < 50; ++i) REQUIRE(node.put("mixed/a" + std::to_string(100 + i), "1", as(u.bob)).is_ok());
  REQUIRE(node.put("mixed/zz", "1", as(u.carol)).is_ok());
  CHECK(node.put("mixed", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);
  REQUIRE(node.remove("mixed/zz", removing_as(u.carol)).is_ok());
  CHECK(node.put("mixed", "{}", as(u.bob)).is_ok());

  // A path too long to be its own storage key (stored under a hash) is found too.
  std::string deep = "long/" + std::string(500, 'p');
  REQUIRE(node.put(deep, "1", as(u.alice)).is_ok());
  CHECK(node.put("long", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);

  // Keys that belong to no user (written by the embedding application) are no one's to claim.
  REQUIRE(node.put("system/config", "1").is_ok());
  CHECK(node.put("system", "{}", as(u.bob)).status().code() == Code::kPermissionDenied);
  CHECK(node.put("system", "{}").is_ok());  // the embedder is never checked

  // Replacing a live key is no claim: the rule is about creating.
  REQUIRE(node.put("shared", "{}", as(u.bob)).is_ok());
  MetaUpdate grant;
  grant.permissions = 0xF18;  // others may create beneath
  REQUIRE(node.set_meta("shared", grant, ReadOptions{u.bob}).is_ok());
  REQUIRE(node.put("shared/alice", "1", as(u.alice)).is_ok());
  CHECK(node.put("shared", "{\"v\":2}", as(u.bob)).is_ok());
}

// ---- Permission before precondition ---------------------------------------------------------

TEST_CASE("issue 14: a caller that may not write gets kPermissionDenied, never kPreconditionFailed",
          "[node][auth][conditional]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  auto written = node.put("vault/pin", R"({"pin":"1234"})", as(u.alice));
  REQUIRE(written.is_ok());

  PutOptions create_only = as(u.bob);
  create_only.if_none_match = true;
  CHECK(node.put("vault/pin", "1", create_only).status().code() == Code::kPermissionDenied);
  for (std::string tag : {written->uuid, std::string("not-the-uuid"), std::string("*")}) {
    PutOptions conditional = as(u.bob);
    conditional.if_match = tag;
    CHECK(node.put("vault/pin", "1", conditional).status().code() == Code::kPermissionDenied);
    RemoveOptions remove = removing_as(u.bob);
    remove.if_match = tag;
    CHECK(node.remove("vault/pin", remove).code() == Code::kPermissionDenied);
  }
  // Even a reader (R but no W) learns nothing from a precondition.
  MetaUpdate readable;
  readable.permissions = 0xF11;
  REQUIRE(node.set_meta("vault/pin", readable, ReadOptions{u.alice}).is_ok());
  CHECK(node.put("vault/pin", "1", create_only).status().code() == Code::kPermissionDenied);
  // Beneath Alice's key Bob may not create (no C), whatever the key's state: 403 with If-Match too.
  PutOptions below = as(u.bob);
  below.if_match = "some-uuid";
  CHECK(node.put("vault/pin/x", "1", below).status().code() == Code::kPermissionDenied);
  CHECK(node.get("vault/pin")->data == R"({"pin":"1234"})");

  // Whoever may write gets the preconditions as before.
  PutOptions alice_creates = as(u.alice);
  alice_creates.if_none_match = true;
  CHECK(node.put("vault/pin", "1", alice_creates).status().code() == Code::kPreconditionFailed);
  PutOptions stale = as(u.alice);
  stale.if_match = "not-the-uuid";
  CHECK(node.put("vault/pin", "1", stale).status().code() == Code::kPreconditionFailed);
  PutOptions absent = as(u.bob);
  absent.if_match = "*";
  CHECK(node.put("bob/absent", "1", absent).status().code() == Code::kPreconditionFailed);
  // "*" matches any live version, atomically.
  PutOptions any = as(u.alice);
  any.if_match = "*";
  CHECK(node.put("vault/pin", R"({"pin":"9999"})", any).is_ok());
  RemoveOptions remove_any = removing_as(u.alice);
  remove_any.if_match = "*";
  CHECK(node.remove("vault/pin", remove_any).is_ok());
  CHECK(node.remove("vault/pin", remove_any).code() == Code::kNotFound);
}

// ---- PUT ?meta -------------------------------------------------------------------------------

TEST_CASE("issue 14: set_meta returns the meta it wrote, even when the caller can no longer read the key",
          "[node][auth][meta]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  REQUIRE(node.put("gift", "1", as(u.alice)).is_ok());
  MetaUpdate give;
  give.owner_uuid = u.bob.user_uuid;
  auto written = node.set_meta("gift", give, ReadOptions{u.alice});
  REQUIRE(written.is_ok());
  CHECK(written->owner_uuid == u.bob.user_uuid);
  CHECK(written->group_uuid.empty());
  CHECK(written->permissions == 0xF10);
  // Applied: the key is Bob's, and Alice can no longer read it or change it back.
  CHECK(node.get_meta("gift")->owner_uuid == u.bob.user_uuid);
  CHECK(node.get("gift", ReadOptions{u.alice}).status().code() == Code::kPermissionDenied);
  CHECK(node.get("gift", ReadOptions{u.bob})->data == "1");
  MetaUpdate back;
  back.owner_uuid = u.alice.user_uuid;
  CHECK(node.set_meta("gift", back, ReadOptions{u.alice}).status().code() == Code::kPermissionDenied);
}

TEST_CASE("an owner may set only a group it belongs to, or keep the one the key has", "[node][auth][meta]") {
  NodeFixture f(auth_on);
  Users u(f);
  Node& node = f.node();
  auto mine = node.create_group("mine", {u.alice.user_uuid}, {u.admin});
  auto theirs = node.create_group("theirs", {u.bob.user_uuid}, {u.admin});
  REQUIRE(mine.is_ok());
  REQUIRE(theirs.is_ok());
  REQUIRE(node.put("doc", "1", as(u.alice)).is_ok());

  MetaUpdate to_theirs;
  to_theirs.group_uuid = theirs->uuid;
  CHECK(node.set_meta("doc", to_theirs, ReadOptions{u.alice}).status().code() == Code::kPermissionDenied);
  CHECK(node.get_meta("doc")->group_uuid.empty());
  MetaUpdate to_unknown;
  to_unknown.group_uuid = "0123456789abcdef0123456789abcdef";
  CHECK(node.set_meta("doc", to_unknown, ReadOptions{u.alice}).status().code() == Code::kInvalidArgument);

  MetaUpdate to_mine;
  to_mine.group_uuid = mine->uuid;
  auto written = node.set_meta("doc", to_mine, ReadOptions{u.alice});
  REQUIRE(written.is_ok());
  CHECK(written->group_uuid == mine->uuid);

  // Once Alice leaves the group, writing back the meta she read (same group) is no change of
  // group and is allowed; choosing it anew elsewhere is not.
  GroupChange leave;
  leave.members = std::vector<std::string>{};
  REQUIRE(node.update_group(mine->uuid, leave, {u.admin}).is_ok());
  auto current = node.get_meta("doc", ReadOptions{u.alice});
  REQUIRE(current.is_ok());
  MetaUpdate round_trip{current->owner_uuid, current->group_uuid, std::uint16_t{0xF30}};
  auto kept = node.set_meta("doc", round_trip, ReadOptions{u.alice});
  REQUIRE(kept.is_ok());
  CHECK(kept->group_uuid == mine->uuid);
  CHECK(kept->permissions == 0xF30);
  REQUIRE(node.put("doc2", "1", as(u.alice)).is_ok());
  CHECK(node.set_meta("doc2", to_mine, ReadOptions{u.alice}).status().code() == Code::kPermissionDenied);

  // An admin names any existing group.
  CHECK(node.set_meta("doc2", to_theirs, ReadOptions{u.admin})->group_uuid == theirs->uuid);
}

}  // namespace kvs::test
