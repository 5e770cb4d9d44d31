#include "replication/sync_codec.hpp"

#include <simdjson.h>

#include "auth/json_text.hpp"
#include "util/hex.hpp"
#include "util/json_writer.hpp"

namespace kvs::replication {
namespace {

using simdjson::dom::element;

// "name":"text", or "name_hex":"..." when `text` is not clean UTF-8 text.
void append_text_field(std::string& out, std::string_view name, std::string_view text) {
  out.push_back('"');
  out += name;
  if (auth::is_clean_text(text)) {
    out += "\":";
    util::append_json_string(out, text);
  } else {
    out += "_hex\":\"";
    out += util::to_hex(text);
    out.push_back('"');
  }
}

Status text_field(element object, std::string_view name, std::string& out, bool required) {
  std::string_view text;
  if (object[name].get_string().get(text) == simdjson::SUCCESS) {
    out.assign(text);
    return Status::ok();
  }
  std::string hex_name = std::string(name) + "_hex";
  if (object[hex_name].get_string().get(text) == simdjson::SUCCESS) {
    auto bytes = util::from_hex(text);
    if (!bytes) return Status::invalid_argument("field " + hex_name + " is not hex");
    out = std::move(*bytes);
    return Status::ok();
  }
  if (!required) return Status::ok();
  return Status::invalid_argument("missing string field " + std::string(name));
}

Status check_format(element root) {
  std::int64_t version = 0;
  if (root["v"].get_int64().get(version) != simdjson::SUCCESS || version != kSyncFormat) {
    return Status::invalid_argument("sync body has no or an unknown format version \"v\"");
  }
  return Status::ok();
}

Result<element> parse_body(std::string_view body) {
  element root;
  if (auth::parse_json(body).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::invalid_argument("sync body is not a JSON object");
  }
  if (Status format = check_format(root); !format.is_ok()) return format;
  return root;
}

Result<Version> decode_version(element object) {
  if (!object.is_object()) return Status::invalid_argument("a version is not an object");
  Version version;
  for (Status s : {text_field(object, "path", version.path, true), text_field(object, "uuid", version.uuid, true),
                   text_field(object, "origin_node_id", version.origin_node_id, false),
                   text_field(object, "owner_uuid", version.owner_uuid, false),
                   text_field(object, "group_uuid", version.group_uuid, false)}) {
    if (!s.is_ok()) return s;
  }
  if (object["timestamp"].get_int64().get(version.timestamp_ms) != simdjson::SUCCESS ||
      object["origin_joined_timestamp"].get_int64().get(version.origin_joined_ms) != simdjson::SUCCESS) {
    return Status::invalid_argument("version of " + version.path + " lacks an integer timestamp");
  }
  element expires;
  if (object["expires_at"].get(expires) == simdjson::SUCCESS && !expires.is_null()) {
    std::int64_t at = 0;
    if (expires.get_int64().get(at) != simdjson::SUCCESS) {
      return Status::invalid_argument("version of " + version.path + ": expires_at is not an integer");
    }
    version.expires_at_ms = at;
  }
  std::uint64_t permissions = 0;
  if (object["permissions"].get_uint64().get(permissions) != simdjson::SUCCESS || permissions > 0xFFF) {
    return Status::invalid_argument("version of " + version.path + ": permissions must be 0 to 4095");
  }
  version.permissions = static_cast<std::uint16_t>(permissions);
  if (object["deleted"].get_bool().get(version.deleted) != simdjson::SUCCESS) {
    return Status::invalid_argument("version of " + version.path + ": deleted is not a boolean");
  }
  std::string_view data;
  if (object["data"].get_string().get(data) != simdjson::SUCCESS) {
    return Status::invalid_argument("version of " + version.path + ": data is not a string");
  }
  if (!version.deleted) version.data.assign(data);
  return version;
}

}  // namespace

void append_version(std::string& out, const Version& version) {
  out.push_back('{');
  append_text_field(out, "path", version.path);
  out.push_back(',');
  append_text_field(out, "uuid", version.uuid);
  out += ",\"timestamp\":" + std::to_string(version.timestamp_ms) + ',';
  append_text_field(out, "origin_node_id", version.origin_node_id);
  out += ",\"origin_joined_timestamp\":" + std::to_string(version.origin_joined_ms);
  out += ",\"expires_at\":";
  out += version.expires_at_ms ? std::to_string(*version.expires_at_ms) : std::string("null");
  out.push_back(',');
  append_text_field(out, "owner_uuid", version.owner_uuid);
  out.push_back(',');
  append_text_field(out, "group_uuid", version.group_uuid);
  out += ",\"permissions\":" + std::to_string(version.permissions);
  out += version.deleted ? ",\"deleted\":true" : ",\"deleted\":false";
  out += ",\"data\":";
  util::append_json_string(out, version.deleted ? std::string_view() : std::string_view(version.data));
  out.push_back('}');
}

std::string encode_versions(const std::vector<Version>& versions, const std::optional<std::string>& next) {
  std::string out = "{\"v\":1,\"versions\":[";
  for (std::size_t i = 0; i < versions.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_version(out, versions[i]);
  }
  out.push_back(']');
  if (next) {
    out.push_back(',');
    append_text_field(out, "next", *next);
  }
  out.push_back('}');
  return out;
}

Result<VersionPage> decode_versions(std::string_view body) {
  auto root = parse_body(body);
  if (!root.is_ok()) return root.status();
  simdjson::dom::array list;
  if ((*root)["versions"].get_array().get(list) != simdjson::SUCCESS) {
    return Status::invalid_argument("sync body has no \"versions\" array");
  }
  VersionPage page;
  for (element item : list) {
    auto version = decode_version(item);
    if (!version.is_ok()) return version.status();
    page.versions.push_back(std::move(*version));
  }
  std::string next;
  bool has_next = (*root)["next"].error() == simdjson::SUCCESS || (*root)["next_hex"].error() == simdjson::SUCCESS;
  if (has_next) {
    if (Status s = text_field(*root, "next", next, true); !s.is_ok()) return s;
    page.next = std::move(next);
  }
  return page;
}

std::string encode_summary(const MerkleSummary& summary) {
  std::string out = "{\"v\":1,\"root\":\"" + util::to_hex(summary.root) +
                    "\",\"keys\":" + std::to_string(summary.keys) + ",\"branches\":[";
  for (std::size_t i = 0; i < summary.branches.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += '"' + util::to_hex(summary.branches[i]) + '"';
  }
  out += "]}";
  return out;
}

namespace {

Status decode_digests(element list_element, std::size_t expected, std::vector<Digest>& out) {
  simdjson::dom::array list;
  if (list_element.get_array().get(list) != simdjson::SUCCESS || list.size() != expected) {
    return Status::invalid_argument("expected a list of " + std::to_string(expected) + " digests");
  }
  out.clear();
  for (element item : list) {
    std::string_view hex;
    Digest digest{};
    if (item.get_string().get(hex) != simdjson::SUCCESS || !util::from_hex(hex, digest)) {
      return Status::invalid_argument("a digest is not 64 hex characters");
    }
    out.push_back(digest);
  }
  return Status::ok();
}

}  // namespace

Result<MerkleSummary> decode_summary(std::string_view body) {
  auto root = parse_body(body);
  if (!root.is_ok()) return root.status();
  MerkleSummary summary;
  std::string_view hex;
  if ((*root)["root"].get_string().get(hex) != simdjson::SUCCESS || !util::from_hex(hex, summary.root) ||
      (*root)["keys"].get_uint64().get(summary.keys) != simdjson::SUCCESS) {
    return Status::invalid_argument("merkle summary lacks root or keys");
  }
  element branches;
  if ((*root)["branches"].get(branches) != simdjson::SUCCESS) return Status::invalid_argument("no branches");
  if (Status s = decode_digests(branches, kBranchCount, summary.branches); !s.is_ok()) return s;
  return summary;
}

std::string encode_indexes(std::string_view name, const std::vector<std::size_t>& indexes, const std::string& after) {
  std::string out = "{\"v\":1,\"";
  out += name;
  out += "\":[";
  for (std::size_t i = 0; i < indexes.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string(indexes[i]);
  }
  out.push_back(']');
  if (!after.empty()) {
    out.push_back(',');
    append_text_field(out, "after", after);
  }
  out.push_back('}');
  return out;
}

Result<std::vector<std::size_t>> decode_indexes(std::string_view body, std::string_view name, std::size_t limit,
                                                std::size_t max_count, std::string* after) {
  auto root = parse_body(body);
  if (!root.is_ok()) return root.status();
  simdjson::dom::array list;
  if ((*root)[name].get_array().get(list) != simdjson::SUCCESS || list.size() > max_count) {
    return Status::invalid_argument("sync body needs a \"" + std::string(name) + "\" list of at most " +
                                    std::to_string(max_count));
  }
  std::vector<std::size_t> indexes;
  for (element item : list) {
    std::uint64_t index = 0;
    if (item.get_uint64().get(index) != simdjson::SUCCESS || index >= limit) {
      return Status::invalid_argument("an index in \"" + std::string(name) + "\" is out of range");
    }
    indexes.push_back(static_cast<std::size_t>(index));
  }
  if (after != nullptr) {
    after->clear();
    if (Status s = text_field(*root, "after", *after, false); !s.is_ok()) return s;
  }
  return indexes;
}

std::string encode_since(const SinceCursor& cursor) {
  std::string out = "{\"v\":1,\"since\":" + std::to_string(cursor.timestamp_ms);
  if (!cursor.path.empty()) {
    out.push_back(',');
    append_text_field(out, "after", cursor.path);
  }
  out.push_back('}');
  return out;
}

Result<SinceCursor> decode_since(std::string_view body) {
  auto root = parse_body(body);
  if (!root.is_ok()) return root.status();
  SinceCursor cursor;
  if ((*root)["since"].get_int64().get(cursor.timestamp_ms) != simdjson::SUCCESS || cursor.timestamp_ms < 0) {
    return Status::invalid_argument("sync body needs a \"since\" timestamp (ms, not negative)");
  }
  if (Status s = text_field(*root, "after", cursor.path, false); !s.is_ok()) return s;
  return cursor;
}

std::string encode_leaves(const std::vector<std::vector<Digest>>& leaves) {
  std::string out = "{\"v\":1,\"leaves\":[";
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('[');
    for (std::size_t k = 0; k < leaves[i].size(); ++k) {
      if (k > 0) out.push_back(',');
      out += '"' + util::to_hex(leaves[i][k]) + '"';
    }
    out.push_back(']');
  }
  out += "]}";
  return out;
}

Result<std::vector<std::vector<Digest>>> decode_leaves(std::string_view body) {
  auto root = parse_body(body);
  if (!root.is_ok()) return root.status();
  simdjson::dom::array list;
  if ((*root)["leaves"].get_array().get(list) != simdjson::SUCCESS) return Status::invalid_argument("no leaves");
  std::vector<std::vector<Digest>> out;
  for (element item : list) {
    std::vector<Digest> digests;
    if (Status s = decode_digests(item, kFanout, digests); !s.is_ok()) return s;
    out.push_back(std::move(digests));
  }
  return out;
}

}  // namespace kvs::replication
