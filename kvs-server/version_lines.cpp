#include "version_lines.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "json_members.hpp"
#include "json_writer.hpp"

namespace kvs::server {

std::string version_line(const Version& version) {
  JsonWriter json;
  json.begin_object()
      .key("path").string(version.path)
      .key("uuid").string(version.uuid)
      .key("timestamp").number(version.timestamp_ms)
      .key("data");
  if (version.deleted || version.data.empty()) json.null(); else json.raw(version.data);
  json.key("origin_node_id").string(version.origin_node_id)
      .key("origin_joined_timestamp").number(version.origin_joined_ms)
      .key("expires_at");
  if (version.expires_at_ms) json.number(*version.expires_at_ms); else json.null();
  json.key("owner_uuid").string(version.owner_uuid)
      .key("group_uuid").string(version.group_uuid)
      .key("permissions").number(static_cast<std::int64_t>(version.permissions))
      .key("deleted").boolean(version.deleted)
      .end_object();
  std::string line = json.take();
  line.push_back('\n');
  return line;
}

Result<Version> parse_version_line(const std::string& line) {
  auto members = split_object(line);
  if (!members.is_ok()) return members.status();
  auto find = [&](std::string_view name) -> const JsonMember* {
    for (const auto& member : *members) {
      if (member.key == name) return &member;
    }
    return nullptr;
  };
  for (const auto& member : *members) {
    static const char* const kKnown[] = {"path", "uuid", "timestamp", "data", "origin_node_id",
                                         "origin_joined_timestamp", "expires_at", "owner_uuid", "group_uuid",
                                         "permissions", "deleted"};
    if (std::find(std::begin(kKnown), std::end(kKnown), member.key) == std::end(kKnown)) {
      return Status::invalid_argument("unknown field " + member.key);
    }
  }
  Version version;
  auto need_string = [&](const char* name, std::string& out, bool required) -> Status {
    const JsonMember* member = find(name);
    if (member == nullptr) return required ? Status::invalid_argument(std::string("missing field ") + name) : Status::ok();
    auto text = decode_string(*member);
    if (!text.is_ok()) return text.status();
    out = *text;
    return Status::ok();
  };
  auto need_int = [&](const char* name, std::int64_t& out) -> Status {
    const JsonMember* member = find(name);
    if (member == nullptr) return Status::invalid_argument(std::string("missing field ") + name);
    auto value = decode_int(*member);
    if (!value.is_ok()) return value.status();
    out = *value;
    return Status::ok();
  };
  for (Status s : {need_string("path", version.path, true), need_string("uuid", version.uuid, true),
                   need_int("timestamp", version.timestamp_ms), need_string("origin_node_id", version.origin_node_id, true),
                   need_int("origin_joined_timestamp", version.origin_joined_ms),
                   need_string("owner_uuid", version.owner_uuid, false),
                   need_string("group_uuid", version.group_uuid, false)}) {
    if (!s.is_ok()) return s;
  }
  std::int64_t permissions = kDefaultPermissions;
  if (find("permissions") != nullptr) {
    if (Status s = need_int("permissions", permissions); !s.is_ok()) return s;
    if (permissions < 0 || permissions > 0xFFF) return Status::invalid_argument("field permissions must be 0 to 4095");
  }
  version.permissions = static_cast<std::uint16_t>(permissions);
  if (const JsonMember* expires = find("expires_at"); expires != nullptr && !is_null(*expires)) {
    auto at = decode_int(*expires);
    if (!at.is_ok()) return Status::invalid_argument("field expires_at must be an integer or null");
    version.expires_at_ms = *at;
  }
  if (const JsonMember* deleted = find("deleted"); deleted != nullptr) {
    auto flag = decode_bool(*deleted);
    if (!flag.is_ok()) return flag.status();
    version.deleted = *flag;
  }
  const JsonMember* data = find("data");
  bool has_data = data != nullptr && !is_null(*data);
  if (!version.deleted && !has_data) return Status::invalid_argument("a live version (deleted: false) needs data");
  // Validated by Node::apply_version, like any replicated document.
  if (has_data && !version.deleted) version.data = data->raw;
  return version;
}

}  // namespace kvs::server
