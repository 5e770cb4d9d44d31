#include "auth/auth_state.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "auth/records.hpp"
#include "auth/scopes.hpp"
#include "kvs/node.hpp"
#include "support/versions.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

constexpr std::int64_t kNowMs = 1'700'000'000'000;

Version auth_version(std::string path, std::string json, std::int64_t timestamp_ms, std::string uuid = "v-1") {
  return kvs::test::make_version(std::move(path), std::move(uuid), timestamp_ms, std::move(json), "node-a", 1);
}

Version tombstone(std::string path, std::int64_t timestamp_ms, std::string uuid = "v-t") {
  Version version = auth_version(std::move(path), "", timestamp_ms, std::move(uuid));
  version.deleted = true;
  return version;
}

UserRecord alice() { return UserRecord{"alice-uuid", "alice", kScopeRead | kScopeWrite, kNowMs}; }

}  // namespace

TEST_CASE("reserved auth keys parse into their kind and id and nothing else does", "[auth][records]") {
  auto user = parse_auth_key("_auth/users/abc-1");
  REQUIRE(user.has_value());
  CHECK(user->kind == RecordKind::kUser);
  CHECK(user->id == "abc-1");
  CHECK(parse_auth_key("_auth/groups/g1")->kind == RecordKind::kGroup);
  CHECK(parse_auth_key("_auth/revoked/j1")->kind == RecordKind::kRevocation);
  CHECK_FALSE(parse_auth_key("_auth/users/").has_value());
  CHECK_FALSE(parse_auth_key("_auth/users/a/b").has_value());
  CHECK_FALSE(parse_auth_key("_auth/users/..").has_value());
  CHECK_FALSE(parse_auth_key("_auth/other/x").has_value());
  CHECK_FALSE(parse_auth_key("users/alice").has_value());
  CHECK(is_auth_key("_auth/anything"));
  CHECK_FALSE(is_auth_key("_authx/users/a"));
  CHECK(user_key("u") == "_auth/users/u");
  CHECK(group_key("g") == "_auth/groups/g");
  CHECK(revocation_key("j") == "_auth/revoked/j");
}

TEST_CASE("user, group and revocation records round-trip through their JSON", "[auth][records]") {
  UserRecord user{"u-1", "Zoë \"the\" admin\\", kScopeAll, 123};
  auto decoded_user = decode_user("u-1", encode_user(user));
  REQUIRE(decoded_user.is_ok());
  CHECK(*decoded_user == user);
  CHECK(encode_user(user) ==
        R"({"format":1,"uuid":"u-1","nickname":"Zoë \"the\" admin\\","scopes":["read","write","admin"],"created_at":123})");

  GroupRecord group{"g-1", "ops", {"b", "a"}, 5};
  normalize_members(group.members);
  auto decoded_group = decode_group("g-1", encode_group(group));
  REQUIRE(decoded_group.is_ok());
  CHECK(*decoded_group == group);
  CHECK(decoded_group->has_member("a"));
  CHECK_FALSE(decoded_group->has_member("c"));

  RevocationRecord revocation{"j-1", 2000, 1000};
  auto decoded_revocation = decode_revocation("j-1", encode_revocation(revocation));
  REQUIRE(decoded_revocation.is_ok());
  CHECK(*decoded_revocation == revocation);
}

TEST_CASE("the API view of a user or group is its record without the format field", "[auth][records]") {
  CHECK(user_view_json(UserRecord{"u-1", "ann", kScopeRead, 9}) ==
        R"({"uuid":"u-1","nickname":"ann","scopes":["read"],"created_at":9})");
  CHECK(group_view_json(GroupRecord{"g-1", "ops", {"a", "b"}, 3}) ==
        R"({"uuid":"g-1","name":"ops","members":["a","b"],"created_at":3})");
}

TEST_CASE("records that do not match their key or their format are corrupt", "[auth][records]") {
  CHECK(decode_user("u-2", encode_user(UserRecord{"u-1", "a", kScopeRead, 1})).status().code() ==
        Status::Code::kCorruption);
  CHECK(decode_user("u-1", R"({"format":2,"uuid":"u-1","nickname":"a","scopes":[],"created_at":1})").status().code() ==
        Status::Code::kCorruption);
  CHECK(decode_user("u-1", R"({"format":1,"uuid":"u-1","nickname":"a","scopes":["sudo"],"created_at":1})")
            .status()
            .code() == Status::Code::kCorruption);
  CHECK(decode_group("g", R"({"format":1,"uuid":"g","name":"n","members":["../x"],"created_at":1})").status().code() ==
        Status::Code::kCorruption);
  CHECK(decode_revocation("j", "not json").status().code() == Status::Code::kCorruption);
  CHECK(decode_revocation("j", R"({"format":1,"jti":"j"})").status().code() == Status::Code::kCorruption);
}

TEST_CASE("the cache learns users, groups and revocations from applied versions", "[auth][state]") {
  AuthState state;
  CHECK_FALSE(state.has_users());
  REQUIRE(state.apply(auth_version(user_key("alice-uuid"), encode_user(alice()), 10), kNowMs).is_ok());
  REQUIRE(state.apply(auth_version(group_key("g1"), encode_group(GroupRecord{"g1", "ops", {"alice-uuid"}, 1}), 10),
                      kNowMs)
              .is_ok());
  REQUIRE(state.apply(auth_version(revocation_key("j1"), encode_revocation(RevocationRecord{"j1", kNowMs + 10, 1}), 10),
                      kNowMs)
              .is_ok());
  CHECK(state.has_users());
  CHECK(state.user("alice-uuid") == alice());
  CHECK(state.find_user_by_nickname("alice")->uuid == "alice-uuid");
  CHECK_FALSE(state.find_user_by_nickname("bob").has_value());
  CHECK(state.is_member("g1", "alice-uuid"));
  CHECK_FALSE(state.is_member("g1", "bob-uuid"));
  CHECK_FALSE(state.is_member("g2", "alice-uuid"));
  CHECK(state.is_revoked("j1"));
  auto standing = state.standing("alice-uuid", "j1");
  CHECK(standing.revoked);
  CHECK(standing.scopes == alice().scopes);
  CHECK_FALSE(state.standing("nobody", "j2").scopes.has_value());
  CHECK(state.users().size() == 1);
  CHECK(state.groups().size() == 1);
}

TEST_CASE("a tombstone deletes a user and an older write does not bring it back", "[auth][state]") {
  AuthState state;
  std::string path = user_key("alice-uuid");
  REQUIRE(state.apply(auth_version(path, encode_user(alice()), 10, "v-a"), kNowMs).is_ok());
  REQUIRE(state.apply(tombstone(path, 20), kNowMs).is_ok());
  CHECK_FALSE(state.user("alice-uuid").has_value());
  // The put that the tombstone replaced arrives again from a slow peer.
  REQUIRE(state.apply(auth_version(path, encode_user(alice()), 10, "v-a"), kNowMs).is_ok());
  CHECK_FALSE(state.user("alice-uuid").has_value());
  // A newer write re-creates it.
  REQUIRE(state.apply(auth_version(path, encode_user(alice()), 30, "v-b"), kNowMs).is_ok());
  CHECK(state.user("alice-uuid").has_value());
}

TEST_CASE("versions applied out of order leave the winner of the version order", "[auth][state]") {
  AuthState state;
  std::string path = user_key("alice-uuid");
  UserRecord older = alice();
  UserRecord newer = alice();
  newer.scopes = kScopeRead;
  REQUIRE(state.apply(auth_version(path, encode_user(newer), 20, "v-b"), kNowMs).is_ok());
  REQUIRE(state.apply(auth_version(path, encode_user(older), 19, "v-a"), kNowMs).is_ok());
  CHECK(state.user("alice-uuid")->scopes == kScopeRead);
  // Equal timestamps: the smaller uuid wins, as in compare_versions.
  UserRecord tie = alice();
  tie.scopes = kScopeAll;
  REQUIRE(state.apply(auth_version(path, encode_user(tie), 20, "v-a"), kNowMs).is_ok());
  CHECK(state.user("alice-uuid")->scopes == kScopeAll);
  REQUIRE(state.apply(auth_version(path, encode_user(newer), 20, "v-b"), kNowMs).is_ok());
  CHECK(state.user("alice-uuid")->scopes == kScopeAll);
}

TEST_CASE("a corrupt record removes the entry and is reported", "[auth][state]") {
  AuthState state;
  std::string path = user_key("alice-uuid");
  REQUIRE(state.apply(auth_version(path, encode_user(alice()), 10, "v-a"), kNowMs).is_ok());
  auto status = state.apply(auth_version(path, "{\"format\":1}", 11, "v-b"), kNowMs);
  CHECK(status.code() == Status::Code::kCorruption);
  CHECK_FALSE(state.user("alice-uuid").has_value());
  CHECK(state.apply(auth_version("users/alice", "{}", 12), kNowMs).code() == Status::Code::kInvalidArgument);
}

TEST_CASE("revocations are forgotten once the token has expired, and tombstone stamps after tombstone_ttl",
          "[auth][state]") {
  AuthState state(/*tombstone_ttl_ms=*/1000);
  REQUIRE(state.apply(auth_version(revocation_key("j1"), encode_revocation(RevocationRecord{"j1", kNowMs + 500, 1}), 10),
                      kNowMs)
              .is_ok());
  REQUIRE(state.apply(tombstone(user_key("gone"), kNowMs), kNowMs).is_ok());
  CHECK(state.forget_expired(kNowMs + 499) == 0);
  CHECK(state.is_revoked("j1"));
  CHECK(state.forget_expired(kNowMs + 500) == 1);
  CHECK_FALSE(state.is_revoked("j1"));
  CHECK(state.revocation_count() == 0);
  CHECK(state.forget_expired(kNowMs + 1000) == 1);  // the tombstone stamp
}

TEST_CASE("a version already expired when applied counts as a deletion", "[auth][state]") {
  AuthState state;
  Version version =
      auth_version(revocation_key("j1"), encode_revocation(RevocationRecord{"j1", kNowMs, kNowMs - 10}), kNowMs - 10);
  version.expires_at_ms = kNowMs;
  REQUIRE(state.apply(version, kNowMs).is_ok());
  CHECK_FALSE(state.is_revoked("j1"));
}

TEST_CASE("two users with one nickname resolve to the earliest created on every node", "[auth][state]") {
  AuthState state;
  REQUIRE(state.apply(auth_version(user_key("u-2"), encode_user(UserRecord{"u-2", "dup", kScopeRead, 5}), 1), kNowMs)
              .is_ok());
  REQUIRE(state.apply(auth_version(user_key("u-1"), encode_user(UserRecord{"u-1", "dup", kScopeRead, 7}), 1), kNowMs)
              .is_ok());
  CHECK(state.find_user_by_nickname("dup")->uuid == "u-2");
}
