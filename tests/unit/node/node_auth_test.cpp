// Authentication and permissions enforced by kvs::Node itself (SPEC section 2, Authentication
// and Permissions): the admin bootstrap, users, groups, tokens, and the permission checks of
// every data call made for a token's caller.

#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

void auth_on(Config& config) { config.auth_enabled = true; }

std::string read_file(const std::filesystem::path& path) { return first_line(path); }

Caller admin_of(NodeFixture& f) { return admin_caller(f); }

Caller make_user(NodeFixture& f, const Caller& admin, const std::string& nickname,
                 std::uint8_t scopes = kScopeRead | kScopeWrite) {
  return new_user_caller(f, admin, nickname, scopes);
}

PutOptions as(const Caller& caller) {
  PutOptions options;
  options.caller = caller;
  return options;
}

}  // namespace

TEST_CASE("first start with auth on creates admin and writes its token 0600", "[node][auth]") {
  NodeFixture f(auth_on);
  auto path = f.dir / "data" / "admin.token";
  REQUIRE(std::filesystem::exists(path));
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);

  Caller admin = admin_of(f);
  CHECK_FALSE(admin.trusted);
  CHECK(admin.scopes == (kScopeRead | kScopeWrite | kScopeAdmin));
  auto users = f.node().list_users({admin});
  REQUIRE(users.is_ok());
  REQUIRE(users->size() == 1);
  CHECK(users->front().nickname == "admin");
  CHECK(users->front().uuid == admin.user_uuid);

  // A second start finds the user and leaves the token file alone.
  std::string token = read_file(path);
  f.reopen();
  CHECK(read_file(path) == token);
  CHECK(f.node().authenticate(token).is_ok());
  CHECK(f.node().list_users({admin})->size() == 1);
}

TEST_CASE("bad tokens are refused with kUnauthenticated", "[node][auth]") {
  NodeFixture f(auth_on);
  std::string token = read_file(f.dir / "data" / "admin.token");
  for (std::string bad : {std::string(), std::string("x"), token + "x", token.substr(0, token.size() - 2),
                          std::string("a.b.c")}) {
    auto caller = f.node().authenticate(bad);
    REQUIRE_FALSE(caller.is_ok());
    CHECK(caller.status().code() == Code::kUnauthenticated);
  }
}

TEST_CASE("a key belongs to its creator; others need the permission bits", "[node][auth]") {
  NodeFixture f(auth_on);
  Caller admin = admin_of(f);
  Caller alice = make_user(f, admin, "alice");
  Caller bob = make_user(f, admin, "bob");

  REQUIRE(f.node().put("notes/a", "1", as(alice)).is_ok());
  auto meta = f.node().get_meta("notes/a", ReadOptions{alice});
  REQUIRE(meta.is_ok());
  CHECK(meta->owner_uuid == alice.user_uuid);
  CHECK(meta->permissions == 0xF10);

  CHECK(f.node().get("notes/a", ReadOptions{alice}).is_ok());
  CHECK(f.node().get("notes/a", ReadOptions{bob}).status().code() == Code::kPermissionDenied);
  CHECK(f.node().put("notes/a", "2", as(bob)).status().code() == Code::kPermissionDenied);
  RemoveOptions bob_removes;
  bob_removes.caller = bob;
  CHECK(f.node().remove("notes/a", bob_removes).code() == Code::kPermissionDenied);
  CHECK(f.node().history("notes/a", ReadOptions{bob}).status().code() == Code::kPermissionDenied);
  CHECK(f.node().get_meta("notes/a", ReadOptions{bob}).status().code() == Code::kPermissionDenied);
  MetaUpdate grab;
  grab.owner_uuid = bob.user_uuid;
  CHECK(f.node().set_meta("notes/a", grab, ReadOptions{bob}).status().code() == Code::kPermissionDenied);
  // Nothing bob tried changed the key.
  CHECK(f.node().get("notes/a")->data == "1");

  // The admin bypasses every bit; the owner opens the key to others.
  CHECK(f.node().get("notes/a", ReadOptions{admin}).is_ok());
  MetaUpdate open;
  open.permissions = 0xF13;
  REQUIRE(f.node().set_meta("notes/a", open, ReadOptions{alice}).is_ok());
  CHECK(f.node().get("notes/a", ReadOptions{bob}).is_ok());
  CHECK(f.node().put("notes/a", "3", as(bob)).is_ok());
  CHECK(f.node().get_meta("notes/a")->owner_uuid == alice.user_uuid);  // a replace keeps the owner
  CHECK(f.node().remove("notes/a", bob_removes).code() == Code::kPermissionDenied);  // no D bit
}

TEST_CASE("creating a key needs C on its nearest existing ancestor", "[node][auth]") {
  NodeFixture f(auth_on);
  Caller admin = admin_of(f);
  Caller alice = make_user(f, admin, "alice");
  Caller bob = make_user(f, admin, "bob");

  REQUIRE(f.node().put("home/alice", "{}", as(alice)).is_ok());
  // No ancestor of "other/x": the write scope alone suffices.
  CHECK(f.node().put("other/x", "1", as(bob)).is_ok());
  // "home/alice" is alice's (0xF10: others have no C), so bob cannot create beneath it, at
  // any depth; alice can.
  CHECK(f.node().put("home/alice/notes", "1", as(bob)).status().code() == Code::kPermissionDenied);
  CHECK(f.node().put("home/alice/deep/er/key", "1", as(bob)).status().code() == Code::kPermissionDenied);
  CHECK_FALSE(f.node().get("home/alice/notes").is_ok());
  CHECK(f.node().put("home/alice/notes", "1", as(alice)).is_ok());
  // The nearest ancestor decides: bob creates under a key of his own inside alice's tree only
  // if he may create there, which he may not; once alice grants others C, he may.
  MetaUpdate grant;
  grant.permissions = 0xF18;
  REQUIRE(f.node().set_meta("home/alice", grant, ReadOptions{alice}).is_ok());
  CHECK(f.node().put("home/alice/bob", "1", as(bob)).is_ok());
  CHECK(f.node().get_meta("home/alice/bob")->owner_uuid == bob.user_uuid);

  // A read-only token cannot write at all.
  auto token = f.node().mint_token(bob.user_uuid, kScopeRead, {admin});
  REQUIRE(token.is_ok());
  Caller reader = *f.node().authenticate(token->token);
  CHECK(f.node().put("fresh", "1", as(reader)).status().code() == Code::kPermissionDenied);
}

TEST_CASE("range shows only keys the caller may read", "[node][auth]") {
  NodeFixture f(auth_on);
  Caller admin = admin_of(f);
  Caller alice = make_user(f, admin, "alice");
  Caller bob = make_user(f, admin, "bob");
  REQUIRE(f.node().put("k/1", "1", as(alice)).is_ok());
  REQUIRE(f.node().put("k/2", "2", as(bob)).is_ok());
  REQUIRE(f.node().put("k/3", "3", as(alice)).is_ok());

  RangeQuery query;
  query.prefix = "k/";
  query.caller = bob;
  auto mine = f.node().range(query);
  REQUIRE(mine.is_ok());
  REQUIRE(mine->items.size() == 1);
  CHECK(mine->items[0].path == "k/2");
  query.caller = admin;
  CHECK(f.node().range(query)->items.size() == 3);
  // Reserved keys never show, not even to an admin or the application.
  query = RangeQuery{};
  query.limit = kMaxRangeLimit;
  auto everything = f.node().range(query);
  REQUIRE(everything.is_ok());
  CHECK(everything->items.size() == 3);
  for (const auto& item : everything->items) CHECK(item.path.front() != '_');
  CHECK(f.node().get("_auth/users").status().code() == Code::kInvalidArgument);
}

TEST_CASE("groups give their members the group bits", "[node][auth]") {
  NodeFixture f(auth_on);
  Caller admin = admin_of(f);
  Caller alice = make_user(f, admin, "alice");
  Caller bob = make_user(f, admin, "bob");
  Caller carol = make_user(f, admin, "carol");
  auto team = f.node().create_group("team", {alice.user_uuid, bob.user_uuid}, {admin});
  REQUIRE(team.is_ok());
  CHECK(f.node().create_group("mine", {}, {alice}).status().code() == Code::kPermissionDenied);

  PutOptions shared = as(alice);
  shared.group_uuid = team->uuid;
  REQUIRE(f.node().put("team/plan", "1", shared).is_ok());
  CHECK(f.node().get_meta("team/plan")->group_uuid == team->uuid);
  CHECK(f.node().get("team/plan", ReadOptions{bob}).is_ok());  // group read (0xF10)
  CHECK(f.node().get("team/plan", ReadOptions{carol}).status().code() == Code::kPermissionDenied);
  // Only members may give a key their group; an unknown group is invalid.
  PutOptions foreign = as(carol);
  foreign.group_uuid = team->uuid;
  CHECK(f.node().put("carol/x", "1", foreign).status().code() == Code::kPermissionDenied);
  foreign.group_uuid = "no-such-group";
  CHECK(f.node().put("carol/x", "1", foreign).status().code() == Code::kInvalidArgument);

  // Membership changes take effect at once.
  GroupChange change;
  change.members = std::vector<std::string>{alice.user_uuid, carol.user_uuid};
  REQUIRE(f.node().update_group(team->uuid, change, {admin}).is_ok());
  CHECK(f.node().get("team/plan", ReadOptions{carol}).is_ok());
  CHECK(f.node().get("team/plan", ReadOptions{bob}).status().code() == Code::kPermissionDenied);
  REQUIRE(f.node().remove_group(team->uuid, {admin}).is_ok());
  CHECK(f.node().get_group(team->uuid, {admin}).status().code() == Code::kNotFound);
}

TEST_CASE("users, tokens and revocations: who may do what", "[node][auth]") {
  NodeFixture f(auth_on);
  Caller admin = admin_of(f);
  Caller alice = make_user(f, admin, "alice");
  Caller bob = make_user(f, admin, "bob");

  CHECK(f.node().create_user("alice", kScopeRead, {admin}).status().code() == Code::kConflict);
  CHECK(f.node().create_user("eve", kScopeRead, {alice}).status().code() == Code::kPermissionDenied);
  CHECK(f.node().get_user(alice.user_uuid, {alice}).is_ok());
  CHECK(f.node().get_user(bob.user_uuid, {alice}).status().code() == Code::kPermissionDenied);
  CHECK(f.node().list_users({alice}).status().code() == Code::kPermissionDenied);

  // A user mints for itself within its token's scopes, never for others or beyond.
  auto own = f.node().mint_token(alice.user_uuid, kScopeRead, {alice});
  REQUIRE(own.is_ok());
  CHECK(f.node().mint_token(alice.user_uuid, kScopeAdmin, {alice}).status().code() == Code::kPermissionDenied);
  CHECK(f.node().mint_token(bob.user_uuid, kScopeRead, {alice}).status().code() == Code::kPermissionDenied);

  // Revocation: by the token's bearer or an admin; the token fails at once.
  auto reader = f.node().authenticate(own->token);
  REQUIRE(reader.is_ok());
  CHECK(f.node().revoke_token(own->token_id, {bob}).code() == Code::kPermissionDenied);
  REQUIRE(f.node().revoke_token(own->token_id, {*reader}).is_ok());
  CHECK(f.node().authenticate(own->token).status().code() == Code::kUnauthenticated);

  // Lowering a user's scopes or deleting it invalidates its tokens.
  auto bob_token = f.node().mint_token(bob.user_uuid, kScopeRead | kScopeWrite, {admin});
  REQUIRE(bob_token.is_ok());
  UserChange lower;
  lower.scopes = kScopeRead;
  REQUIRE(f.node().update_user(bob.user_uuid, lower, {admin}).is_ok());
  CHECK(f.node().authenticate(bob_token->token).status().code() == Code::kUnauthenticated);
  REQUIRE(f.node().remove_user(bob.user_uuid, {admin}).is_ok());
  CHECK(f.node().get_user(bob.user_uuid, {admin}).status().code() == Code::kNotFound);

  // The last admin cannot be removed.
  CHECK(f.node().remove_user(admin.user_uuid, {admin}).code() == Code::kPreconditionFailed);

  // Everything survives a restart: users, groups and revocations are stored keys.
  f.reopen();
  CHECK(f.node().authenticate(own->token).status().code() == Code::kUnauthenticated);
  CHECK(f.node().get_user(alice.user_uuid, {admin}).is_ok());
  CHECK(f.node().get_user(bob.user_uuid, {admin}).status().code() == Code::kNotFound);
}

TEST_CASE("the operator token names a user by nickname", "[node][auth]") {
  NodeFixture f(auth_on);
  auto token = f.node().issue_token("admin");
  REQUIRE(token.is_ok());
  auto caller = f.node().authenticate(token->token);
  REQUIRE(caller.is_ok());
  CHECK(caller->scopes == (kScopeRead | kScopeWrite | kScopeAdmin));
  auto narrow = f.node().issue_token("admin", kScopeRead, std::chrono::hours(1));
  REQUIRE(narrow.is_ok());
  CHECK(f.node().authenticate(narrow->token)->scopes == kScopeRead);
  CHECK(narrow->expires_at_ms == f.clock.now_ms() / 1000 * 1000 + 3'600'000);
  CHECK(f.node().issue_token("nobody").status().code() == Code::kNotFound);
}

TEST_CASE("users written on another node count here once applied", "[node][auth]") {
  // Two nodes share a cluster secret; what one writes under _auth/ reaches the other as
  // versions (as replication or import would carry them), and its tokens then work there.
  NodeFixture a([](Config& c) { c.auth_enabled = true; c.cluster_secret = "shared-secret-for-both-nodes-0123456789"; });
  NodeFixture b([](Config& c) { c.auth_enabled = true; c.cluster_secret = "shared-secret-for-both-nodes-0123456789"; });
  Caller admin = admin_of(a);
  auto user = a.node().create_user("traveller", kScopeRead, {admin});
  REQUIRE(user.is_ok());
  auto token = a.node().mint_token(user->uuid, kScopeRead, {admin});
  REQUIRE(token.is_ok());
  CHECK(b.node().authenticate(token->token).status().code() == Code::kUnauthenticated);
  REQUIRE(a.node().export_versions([&](const Version& version) {
    if (version.path.rfind("_auth/", 0) == 0) REQUIRE(b.node().apply_version(version).is_ok());
    return true;
  }).is_ok());
  auto caller = b.node().authenticate(token->token);
  REQUIRE(caller.is_ok());
  CHECK(caller->user_uuid == user->uuid);
}

TEST_CASE("with auth off the auth calls are unavailable and every token is trusted", "[node][auth]") {
  NodeFixture f;
  CHECK_FALSE(f.node().auth_enabled());
  CHECK_FALSE(std::filesystem::exists(f.dir / "data" / "admin.token"));
  CHECK(f.node().create_user("x", kScopeRead).status().code() == Code::kUnavailable);
  CHECK(f.node().issue_token("admin").status().code() == Code::kUnavailable);
  auto caller = f.node().authenticate("anything");
  REQUIRE(caller.is_ok());
  CHECK(caller->trusted);
  // Peer signatures work either way: they are keyed by the cluster secret.
  std::string signature = detail::NodeAccess::sign_peer_request(f.node(), "POST", "/members/gossip", "{}");
  PeerRequest request{"POST", "/members/gossip", "{}", signature};
  CHECK(detail::NodeAccess::verify_peer_request(f.node(), request).is_ok());
  CHECK(detail::NodeAccess::verify_peer_request(f.node(), request).code() == Code::kUnauthenticated);
  request.signature = "";
  CHECK(detail::NodeAccess::verify_peer_request(f.node(), request).code() == Code::kUnauthenticated);
}

}  // namespace kvs::test
