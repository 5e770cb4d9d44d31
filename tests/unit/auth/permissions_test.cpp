#include "auth/permissions.hpp"

#include <catch2/catch.hpp>

#include "auth/scopes.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

Caller user(std::string uuid, std::uint8_t scopes = kScopeRead | kScopeWrite) {
  Caller caller;
  caller.trusted = false;
  caller.user_uuid = std::move(uuid);
  caller.scopes = scopes;
  caller.token_id = "tok-" + caller.user_uuid;
  return caller;
}

KeyMeta meta(std::uint16_t permissions, std::string owner = "owner", std::string group = "g1") {
  return KeyMeta{std::move(owner), std::move(group), permissions};
}

// `bits` in the nibble of class `cls` (0 owner, 1 group, 2 others) and every bit in the others.
std::uint16_t nibble_for(int cls, std::uint8_t bits) {
  int shift = 4 * (2 - cls);
  return static_cast<std::uint16_t>((0xFFF & ~(0xF << shift)) | (bits << shift));
}

}  // namespace

TEST_CASE("the applicable nibble is owner, else group, else others, first match only", "[auth][permissions]") {
  KeyMeta key = meta(0x731);
  CHECK(applicable_bits(user("owner"), key, /*in_group=*/true) == 0x7);
  CHECK(applicable_bits(user("member"), key, true) == 0x3);
  CHECK(applicable_bits(user("stranger"), key, false) == 0x1);
  // An owner who lacks a bit is not rescued by the group or others nibble.
  KeyMeta others_only = meta(0x0F1);
  CHECK_FALSE(may_read(user("owner"), others_only, true));
  CHECK(may_read(user("stranger"), others_only, false));
  // Membership of no group never selects the group nibble.
  CHECK(applicable_bits(user("member"), meta(0x0F0, "owner", ""), true) == 0x0);
  // A key without an owner has no owner nibble, even for a caller with an empty uuid.
  CHECK(applicable_bits(user(""), meta(0xF00, ""), false) == 0x0);
}

TEST_CASE("read, replace and delete need their bit in the caller's class", "[auth][permissions]") {
  const char* names[] = {"owner", "group", "others"};
  for (int cls = 0; cls < 3; ++cls) {
    Caller caller = user(cls == 0 ? "owner" : cls == 1 ? "member" : "stranger");
    bool in_group = cls == 1;
    for (std::uint8_t bits = 0; bits < 16; ++bits) {
      INFO(names[cls] << " bits " << int(bits));
      // Every other class gets every bit, so only this class's nibble can decide.
      std::uint16_t permissions = nibble_for(cls, bits);
      KeyMeta key = meta(permissions);
      CHECK(may_read(caller, key, in_group) == ((bits & kPermRead) != 0));
      CHECK(may_replace(caller, key, in_group) == ((bits & kPermWrite) != 0));
      CHECK(may_delete(caller, key, in_group) == ((bits & kPermDelete) != 0));
      CHECK(may_create(caller, &key, in_group) == ((bits & kPermCreate) != 0));
    }
  }
}

TEST_CASE("the default permissions let the owner do all, the group read and others nothing",
          "[auth][permissions]") {
  KeyMeta key = meta(kDefaultPermissions);
  Caller owner = user("owner"), member = user("member"), stranger = user("stranger");
  CHECK(may_read(owner, key, false));
  CHECK(may_replace(owner, key, false));
  CHECK(may_delete(owner, key, false));
  CHECK(may_create(owner, &key, false));
  CHECK(may_read(member, key, true));
  CHECK_FALSE(may_replace(member, key, true));
  CHECK_FALSE(may_delete(member, key, true));
  CHECK_FALSE(may_create(member, &key, true));
  CHECK_FALSE(may_read(stranger, key, false));
  CHECK_FALSE(may_replace(stranger, key, false));
}

TEST_CASE("bits do not help a caller whose token lacks the scope", "[auth][permissions]") {
  KeyMeta key = meta(0xFFF);
  Caller reader = user("owner", kScopeRead);
  Caller writer = user("owner", kScopeWrite);
  CHECK(may_read(reader, key, false));
  CHECK_FALSE(may_replace(reader, key, false));
  CHECK_FALSE(may_delete(reader, key, false));
  CHECK_FALSE(may_create(reader, &key, false));
  CHECK_FALSE(may_create(reader, nullptr, false));
  CHECK_FALSE(may_read(writer, key, false));
  CHECK(may_replace(writer, key, false));
  CHECK(may_delete(writer, key, false));
  CHECK(may_create(writer, nullptr, false));
  CHECK_FALSE(may_read_meta(writer, key, false));
  CHECK_FALSE(may_change_meta(reader, key));
}

TEST_CASE("creating needs C on the nearest existing ancestor, or only write scope without one",
          "[auth][permissions]") {
  Caller writer = user("stranger");
  CHECK(may_create(writer, nullptr, false));
  KeyMeta closed = meta(0xF00);
  KeyMeta open_to_others = meta(0xF08);
  KeyMeta open_to_group = meta(0xF80);
  CHECK_FALSE(may_create(writer, &closed, false));
  CHECK(may_create(writer, &open_to_others, false));
  CHECK_FALSE(may_create(writer, &open_to_group, false));
  CHECK(may_create(user("member"), &open_to_group, true));
  CHECK(ancestors("a/b/c") == std::vector<std::string>{"a/b", "a"});
  CHECK(ancestors("a").empty());
}

TEST_CASE("admin scope and trusted callers bypass every bit", "[auth][permissions]") {
  KeyMeta nothing = meta(0x000);
  Caller admin = user("someone", kScopeAdmin);
  Caller local = Caller::local();
  for (const Caller& caller : {admin, local}) {
    CHECK(may_read(caller, nothing, false));
    CHECK(may_replace(caller, nothing, false));
    CHECK(may_delete(caller, nothing, false));
    CHECK(may_create(caller, &nothing, false));
    CHECK(may_read_meta(caller, nothing, false));
    CHECK(may_change_meta(caller, nothing));
    CHECK(may_administer(caller));
    CHECK(may_revoke(caller, "any-jti"));
  }
  CHECK_FALSE(may_administer(user("owner", kScopeRead | kScopeWrite)));
}

TEST_CASE("meta is read by the owner or a reader and changed by the owner only", "[auth][permissions]") {
  KeyMeta key = meta(0x001);
  CHECK(may_read_meta(user("owner"), key, false));  // owner without R still sees the meta
  CHECK(may_read_meta(user("stranger"), key, false));
  CHECK_FALSE(may_read_meta(user("stranger"), meta(0xF00), false));
  CHECK(may_change_meta(user("owner"), key));
  CHECK_FALSE(may_change_meta(user("member"), meta(0xFFF)));
  CHECK_FALSE(may_change_meta(user("stranger"), meta(0xFFF)));
  CHECK_FALSE(may_change_meta(user(""), meta(0xFFF, "")));  // no owner: admins only
}

TEST_CASE("a user mints for itself only a subset of its token's scopes; others need admin", "[auth][permissions]") {
  Caller rw = user("alice", kScopeRead | kScopeWrite);
  CHECK(check_mint(rw, "alice", kScopeRead, kScopeRead | kScopeWrite).is_ok());
  CHECK(check_mint(rw, "alice", kScopeRead | kScopeWrite, kScopeRead | kScopeWrite).is_ok());
  CHECK(check_mint(rw, "alice", kScopeAdmin, kScopeAll).code() == Status::Code::kPermissionDenied);
  CHECK(check_mint(user("alice", kScopeRead), "alice", kScopeWrite, kScopeAll).code() ==
        Status::Code::kPermissionDenied);
  CHECK(check_mint(rw, "bob", kScopeRead, kScopeRead).code() == Status::Code::kPermissionDenied);
  CHECK(check_mint(rw, "alice", 0, kScopeAll).code() == Status::Code::kInvalidArgument);
  Caller admin = user("root", kScopeAdmin);
  CHECK(check_mint(admin, "bob", kScopeRead, kScopeRead).is_ok());
  CHECK(check_mint(admin, "bob", kScopeWrite, kScopeRead).code() == Status::Code::kInvalidArgument);
  CHECK(check_mint(Caller::local(), "bob", kScopeRead, kScopeRead).is_ok());
}

TEST_CASE("a user may revoke its own token and only an admin another's", "[auth][permissions]") {
  Caller alice = user("alice");
  CHECK(may_revoke(alice, alice.token_id));
  CHECK_FALSE(may_revoke(alice, "tok-bob"));
  Caller no_token = user("carol");
  no_token.token_id.clear();
  CHECK_FALSE(may_revoke(no_token, ""));
}

TEST_CASE("scope names convert to bits and back", "[auth][scopes]") {
  CHECK(parse_scope("read") == kScopeRead);
  CHECK_FALSE(parse_scope("READ").has_value());
  CHECK(scopes_to_json(kScopeAll) == R"(["read","write","admin"])");
  CHECK(scopes_to_json(0) == "[]");
  CHECK(parse_scope_list(" read , write") .value() == (kScopeRead | kScopeWrite));
  CHECK(parse_scope_list("read,root").status().code() == Status::Code::kInvalidArgument);
  CHECK(parse_scope_list(",").status().code() == Status::Code::kInvalidArgument);
  CHECK(parse_scope_names({"admin", "read"}).value() == (kScopeAdmin | kScopeRead));
  CHECK(is_scope_subset(kScopeRead, kScopeRead | kScopeWrite));
  CHECK_FALSE(is_scope_subset(kScopeAdmin, kScopeRead | kScopeWrite));
}
