#include "auth/records.hpp"

#include <algorithm>

#include "auth/json_text.hpp"
#include "auth/scopes.hpp"
#include "util/json_writer.hpp"

namespace kvs::auth {
namespace {

Status corrupt(std::string_view key_prefix, std::string_view id, std::string_view reason) {
  return Status::corruption(std::string(key_prefix) + std::string(id) + ": " + std::string(reason));
}

// Reads the members common to every record: "format" must be kRecordFormat, and the id field
// (`id_name`) must equal `id`.
Result<simdjson::dom::object> open_record(std::string_view json, std::string_view key_prefix, std::string_view id,
                                          std::string_view id_name) {
  simdjson::dom::object object;
  if (parse_json(json).get_object().get(object) != simdjson::SUCCESS) {
    return corrupt(key_prefix, id, "not a JSON object");
  }
  std::int64_t format = 0;
  if (object["format"].get_int64().get(format) != simdjson::SUCCESS || format != kRecordFormat) {
    return corrupt(key_prefix, id, "unknown record format");
  }
  std::string_view stored_id;
  if (object[id_name].get_string().get(stored_id) != simdjson::SUCCESS || stored_id != id) {
    return corrupt(key_prefix, id, std::string(id_name) + " does not match the key");
  }
  return object;
}

bool read_int64(simdjson::dom::object object, std::string_view name, std::int64_t& out) {
  return object[name].get_int64().get(out) == simdjson::SUCCESS;
}

// Reads the string member `name` into `out` when `valid` accepts it.
bool read_string(simdjson::dom::object object, std::string_view name, bool (*valid)(std::string_view) noexcept,
                 std::string& out) {
  std::string_view text;
  if (object[name].get_string().get(text) != simdjson::SUCCESS || !valid(text)) return false;
  out = std::string(text);
  return true;
}

// Hands each element of the array member `name` to `take`; false when the member is not an
// array of strings or `take` refuses one of them.
template <typename Take>
bool read_strings(simdjson::dom::object object, std::string_view name, Take take) {
  simdjson::dom::array array;
  if (object[name].get_array().get(array) != simdjson::SUCCESS) return false;
  for (auto element : array) {
    std::string_view text;
    if (element.get_string().get(text) != simdjson::SUCCESS || !take(text)) return false;
  }
  return true;
}

}  // namespace

bool is_valid_record_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxRecordIdBytes || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

bool is_valid_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= kMaxNameBytes && is_clean_text(name);
}

std::optional<AuthKey> parse_auth_key(std::string_view path) noexcept {
  struct Layout {
    std::string_view prefix;
    RecordKind kind;
  };
  static constexpr Layout kLayouts[] = {
      {kUsersPrefix, RecordKind::kUser},
      {kGroupsPrefix, RecordKind::kGroup},
      {kRevokedPrefix, RecordKind::kRevocation},
  };
  for (const auto& layout : kLayouts) {
    if (path.substr(0, layout.prefix.size()) == layout.prefix) {
      std::string_view id = path.substr(layout.prefix.size());
      if (!is_valid_record_id(id)) return std::nullopt;
      return AuthKey{layout.kind, id};
    }
  }
  return std::nullopt;
}

std::string user_key(std::string_view uuid) { return std::string(kUsersPrefix) + std::string(uuid); }
std::string group_key(std::string_view uuid) { return std::string(kGroupsPrefix) + std::string(uuid); }
std::string revocation_key(std::string_view token_id) { return std::string(kRevokedPrefix) + std::string(token_id); }

bool GroupRecord::has_member(std::string_view user_uuid) const noexcept {
  return std::binary_search(members.begin(), members.end(), user_uuid,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

void normalize_members(std::vector<std::string>& members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
}

std::string encode_user(const UserRecord& user) {
  std::string out = "{\"format\":" + std::to_string(kRecordFormat) + ",\"uuid\":";
  util::append_json_string(out, user.uuid);
  out += ",\"nickname\":";
  util::append_json_string(out, user.nickname);
  out += ",\"scopes\":" + scopes_to_json(user.scopes);
  out += ",\"created_at\":" + std::to_string(user.created_at_ms) + "}";
  return out;
}

std::string encode_group(const GroupRecord& group) {
  std::string out = "{\"format\":" + std::to_string(kRecordFormat) + ",\"uuid\":";
  util::append_json_string(out, group.uuid);
  out += ",\"name\":";
  util::append_json_string(out, group.name);
  out += ",\"members\":[";
  for (std::size_t i = 0; i < group.members.size(); ++i) {
    if (i > 0) out += ',';
    util::append_json_string(out, group.members[i]);
  }
  out += "],\"created_at\":" + std::to_string(group.created_at_ms) + "}";
  return out;
}

std::string user_view_json(const UserRecord& user) {
  std::string stored = encode_user(user);
  // Drop the leading {"format":N, so that the view starts at "uuid".
  return "{" + stored.substr(stored.find(",\"uuid\"") + 1);
}

std::string group_view_json(const GroupRecord& group) {
  std::string stored = encode_group(group);
  return "{" + stored.substr(stored.find(",\"uuid\"") + 1);
}

std::string encode_revocation(const RevocationRecord& revocation) {
  std::string out = "{\"format\":" + std::to_string(kRecordFormat) + ",\"jti\":";
  util::append_json_string(out, revocation.token_id);
  out += ",\"expires_at\":" + std::to_string(revocation.expires_at_ms);
  out += ",\"revoked_at\":" + std::to_string(revocation.revoked_at_ms) + "}";
  return out;
}

namespace {

// What a user and a group record share: {"format","uuid", a name member, a list member,
// "created_at"}. `take` keeps one element of the list, or refuses it (a corrupt record).
template <class Record, class Take>
Result<Record> decode_named(std::string_view prefix, std::string_view id, std::string_view json,
                            std::string_view name_member, std::string Record::*name, std::string_view list_member,
                            Take take) {
  auto object = open_record(json, prefix, id, "uuid");
  if (!object.is_ok()) return object.status();
  Record record;
  record.uuid = std::string(id);
  if (!read_string(*object, name_member, is_valid_name, record.*name)) {
    return corrupt(prefix, id, "bad " + std::string(name_member));
  }
  if (!read_strings(*object, list_member, [&](std::string_view item) { return take(record, item); })) {
    return corrupt(prefix, id, "bad " + std::string(list_member));
  }
  if (!read_int64(*object, "created_at", record.created_at_ms)) return corrupt(prefix, id, "bad created_at");
  return record;
}

}  // namespace

Result<UserRecord> decode_user(std::string_view id, std::string_view json) {
  return decode_named<UserRecord>(kUsersPrefix, id, json, "nickname", &UserRecord::nickname, "scopes",
                                  [](UserRecord& user, std::string_view scope) {
                                    std::optional<std::uint8_t> bit = parse_scope(scope);
                                    if (bit) user.scopes = static_cast<std::uint8_t>(user.scopes | *bit);
                                    return bit.has_value();
                                  });
}

Result<GroupRecord> decode_group(std::string_view id, std::string_view json) {
  auto group = decode_named<GroupRecord>(kGroupsPrefix, id, json, "name", &GroupRecord::name, "members",
                                         [](GroupRecord& record, std::string_view member) {
                                           if (is_valid_record_id(member)) record.members.emplace_back(member);
                                           return is_valid_record_id(member);
                                         });
  if (group.is_ok()) normalize_members(group->members);
  return group;
}

Result<RevocationRecord> decode_revocation(std::string_view id, std::string_view json) {
  auto object = open_record(json, kRevokedPrefix, id, "jti");
  if (!object.is_ok()) return object.status();
  RevocationRecord revocation;
  revocation.token_id = std::string(id);
  if (!read_int64(*object, "expires_at", revocation.expires_at_ms)) {
    return corrupt(kRevokedPrefix, id, "bad expires_at");
  }
  if (!read_int64(*object, "revoked_at", revocation.revoked_at_ms)) {
    return corrupt(kRevokedPrefix, id, "bad revoked_at");
  }
  return revocation;
}

}  // namespace kvs::auth
