#include "data_routes.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <simdjson.h>

#include "json_members.hpp"
#include "json_writer.hpp"
#include "put_body.hpp"
#include "kvs/config.hpp"

namespace kvs::server {
namespace {

constexpr std::string_view kKvPrefix = "/kv/";

// Built by appending: GCC 12 at -O3 warns (-Wrestrict, falsely) on "\"" + std::string(uuid).
std::string etag(std::string_view uuid) {
  std::string tag;
  tag.reserve(uuid.size() + 2);
  tag.append(1, '"').append(uuid).append(1, '"');
  return tag;
}

// The entity tags of an If-Match / If-None-Match header: "*" or a list of quoted tags (weak
// tags compare by their value). kInvalidArgument for an empty list.
Result<std::vector<std::string>> parse_etags(std::string_view header, std::string_view name) {
  std::vector<std::string> tags;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view item = trim(header.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') item = item.substr(1, item.size() - 2);
    if (!item.empty()) tags.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (tags.empty()) return Status::invalid_argument(std::string(name) + " header holds no entity tag");
  return tags;
}

bool contains(const std::vector<std::string>& tags, std::string_view value) {
  return std::find(tags.begin(), tags.end(), value) != tags.end();
}

// Entry JSON: {"uuid","timestamp","data"[,"expires_at"]}.
std::string entry_json(const Entry& entry) {
  JsonWriter json;
  json.begin_object().key("uuid").string(entry.uuid).key("timestamp").number(entry.timestamp_ms).key("data").raw(entry.data);
  if (entry.expires_at_ms) json.key("expires_at").number(*entry.expires_at_ms);
  json.end_object();
  return json.take();
}

std::string meta_json(const KeyMeta& meta) {
  JsonWriter json;
  json.begin_object().key("owner_uuid");
  if (meta.owner_uuid.empty()) json.null(); else json.string(meta.owner_uuid);
  json.key("group_uuid");
  if (meta.group_uuid.empty()) json.null(); else json.string(meta.group_uuid);
  json.key("permissions").number(static_cast<std::int64_t>(meta.permissions)).end_object();
  return json.take();
}

// The request's key: the path after /kv/, percent-decoded (by parse_target), normalised.
Result<std::string> request_key(const RequestContext& context) {
  std::string_view raw = std::string_view(context.target.path).substr(kKvPrefix.size());
  return normalize_key(raw);
}

// Resolves If-Match into what Node must find: "*" (any live version) or a single tag goes to
// Node as it is, so the check is atomic with the write. A list is resolved against the current
// version first; Node then checks that version's uuid, so the write still applies only to the
// version that was checked. When no listed tag is current (or the key is absent), the first tag
// goes on to Node, which fails the precondition only after its permission check: a caller that
// may not write gets 403, never 412 (SPEC).
Result<std::optional<std::string>> resolve_if_match(const RequestContext& context, Node& node, const std::string& key) {
  if (!context.has_header("If-Match")) return std::optional<std::string>();
  auto tags = parse_etags(context.header("If-Match"), "If-Match");
  if (!tags.is_ok()) return tags.status();
  if (contains(*tags, "*")) return std::optional<std::string>("*");
  if (tags->size() == 1) return std::optional<std::string>(tags->front());
  auto current = node.get(key, ReadOptions{context.caller});
  if (!current.is_ok() && current.status().code() != Status::Code::kNotFound) return current.status();
  if (current.is_ok() && contains(*tags, current->uuid)) return std::optional<std::string>(current->uuid);
  return std::optional<std::string>(tags->front());
}

class DataRoutes {
 public:
  explicit DataRoutes(Node& node) : node_(node) {}

  void get(RequestContext& context, httplib::Response& response) {
    auto key = request_key(context);
    if (!key.is_ok()) return write_error(response, key.status());
    const Target& target = context.target;
    int modes = target.has("history") + target.has("revision") + target.has("meta");
    if (modes > 1) return write_error(response, Status::invalid_argument("use only one of ?history, ?revision and ?meta"));
    ReadOptions read{context.caller};

    if (target.has("history") || target.has("revision")) {
      // A feature that is off has its routes absent.
      if (!node_.config().revision_history_enabled) {
        return write_error(response, Status::not_found("revision history is disabled on this node"));
      }
    }
    if (target.has("history")) {
      auto history = node_.history(*key, read);
      if (!history.is_ok()) return write_error(response, history.status());
      JsonWriter json;
      json.begin_object().key("path").string(history->path).key("revisions").begin_array();
      for (const auto& revision : history->revisions) {
        json.begin_object()
            .key("revision").number(revision.revision)
            .key("uuid").string(revision.uuid)
            .key("timestamp").number(revision.timestamp_ms)
            .key("data");
        if (revision.data) json.raw(*revision.data); else json.null();
        json.key("deleted").boolean(revision.deleted).end_object();
      }
      json.end_array().end_object();
      return write_json(response, 200, json.take());
    }
    if (const QueryParam* param = target.find("revision")) {
      auto number = parse_unsigned(param->value.value_or(""), "revision", 1, UINT64_MAX >> 1);
      if (!number.is_ok()) return write_error(response, number.status());
      auto entry = node_.get_revision(*key, *number, read);
      if (!entry.is_ok()) return write_error(response, entry.status());
      response.set_header("ETag", etag(entry->uuid));
      return write_json(response, 200, entry_json(*entry));
    }
    if (target.has("meta")) {
      auto meta = node_.get_meta(*key, read);
      if (!meta.is_ok()) return write_error(response, meta.status());
      return write_json(response, 200, meta_json(*meta));
    }

    auto entry = node_.get(*key, read);
    if (!entry.is_ok()) return write_error(response, entry.status());
    response.set_header("ETag", etag(entry->uuid));
    if (context.has_header("If-None-Match")) {
      auto tags = parse_etags(context.header("If-None-Match"), "If-None-Match");
      if (!tags.is_ok()) return write_error(response, tags.status());
      if (contains(*tags, "*") || contains(*tags, entry->uuid)) {
        response.status = 304;
        return;
      }
    }
    write_json(response, 200, entry_json(*entry));
  }

  void put(RequestContext& context, httplib::Response& response) {
    auto key = request_key(context);
    if (!key.is_ok()) return write_error(response, key.status());
    const Target& target = context.target;
    if (target.has("history") || target.has("revision")) {
      return write_error(response, Status::invalid_argument("?history and ?revision are read-only views; use GET"));
    }
    if (target.has("meta")) return put_meta(context, response, *key);

    PutOptions options;
    options.caller = context.caller;
    options.group_uuid = context.header("X-KVS-Group");
    if (const QueryParam* param = target.find("ttl")) {
      auto ttl = parse_duration(param->value.value_or(""));
      if (!ttl.is_ok()) return write_error(response, ttl.status().with_context("query parameter ttl"));
      options.ttl = *ttl;
    }
    const std::string& body = context.http.body;
    if (body.size() > node_.config().max_json_size + kEnvelopeSlackBytes) {
      return write_error(response, Status::too_large("the request body exceeds max_json_size"));
    }
    auto parsed = parse_put_body(body);
    if (!parsed.is_ok()) return write_error(response, parsed.status());
    if (parsed->envelope) {
      if (options.ttl) {
        return write_error(response, Status::invalid_argument("ttl given both as a query parameter and in the body"));
      }
      options.ttl = parsed->ttl;
    }

    auto if_match = resolve_if_match(context, node_, *key);
    if (!if_match.is_ok()) return write_error(response, if_match.status());
    options.if_match = *if_match;
    if (context.has_header("If-None-Match")) {
      auto tags = parse_etags(context.header("If-None-Match"), "If-None-Match");
      if (!tags.is_ok()) return write_error(response, tags.status());
      if (contains(*tags, "*")) {
        options.if_none_match = true;
      } else {
        // Specific tags: refuse when the current version is one of them. The refusal is left
        // to Node as "create only" (the key exists), so that its permission check comes first.
        // Comparing tags needs the current version: a caller that may not read it gets that
        // refusal rather than a write whose precondition went unchecked.
        auto current = node_.get(*key, ReadOptions{context.caller});
        if (!current.is_ok() && current.status().code() != Status::Code::kNotFound) {
          return write_error(response, current.status());
        }
        if (current.is_ok() && contains(*tags, current->uuid)) options.if_none_match = true;
      }
    }

    std::string_view document = parsed->envelope ? std::string_view(parsed->envelope_data) : std::string_view(body);
    auto written = node_.put(*key, document, options);
    if (!written.is_ok()) return write_error(response, written.status());
    response.set_header("ETag", etag(written->uuid));
    JsonWriter json;
    json.begin_object().key("uuid").string(written->uuid).key("timestamp").number(written->timestamp_ms).end_object();
    write_json(response, 200, json.take());
  }

  void remove(RequestContext& context, httplib::Response& response) {
    auto key = request_key(context);
    if (!key.is_ok()) return write_error(response, key.status());
    const Target& target = context.target;
    if (target.has("history") || target.has("revision") || target.has("meta")) {
      return write_error(response, Status::invalid_argument("DELETE takes no ?history, ?revision or ?meta"));
    }
    RemoveOptions options;
    options.caller = context.caller;
    auto if_match = resolve_if_match(context, node_, *key);
    if (!if_match.is_ok()) return write_error(response, if_match.status());
    options.if_match = *if_match;
    Status removed = node_.remove(*key, options);
    if (!removed.is_ok()) return write_error(response, removed);
    response.status = 204;
  }

  void range(RequestContext& context, httplib::Response& response) {
    const Target& target = context.target;
    RangeQuery query;
    query.caller = context.caller;
    if (const QueryParam* p = target.find("start_key")) query.start_key = p->value.value_or("");
    if (const QueryParam* p = target.find("end_key")) query.end_key = p->value.value_or("");
    if (const QueryParam* p = target.find("prefix")) query.prefix = p->value.value_or("");
    if (const QueryParam* p = target.find("delimiter")) {
      query.delimiter = p->value.value_or("");
      if (query.delimiter != "/") return write_error(response, Status::invalid_argument("the only delimiter is \"/\""));
    }
    if (const QueryParam* p = target.find("limit")) {
      auto limit = parse_unsigned(p->value.value_or(""), "limit", 1, kMaxRangeLimit);
      if (!limit.is_ok()) return write_error(response, limit.status());
      query.limit = static_cast<std::size_t>(*limit);
    }
    auto values = query_flag(target, "values");
    if (!values.is_ok()) return write_error(response, values.status());
    query.values = *values;

    auto result = node_.range(query);
    if (!result.is_ok()) return write_error(response, result.status());
    JsonWriter json;
    // Documents are copied as they are; the rest of an item is under 128 bytes plus its path
    // and uuid (escaping aside), so one allocation usually holds the whole page.
    std::size_t estimate = 256 + result->cursor.size();
    for (const auto& item : result->items) {
      estimate += 128 + item.path.size() + item.uuid.size() + (item.data ? item.data->size() : 0);
    }
    for (const auto& prefix : result->prefixes) estimate += 8 + prefix.size();
    json.reserve(estimate);
    json.begin_object().key("items").begin_array();
    for (const auto& item : result->items) {
      json.begin_object().key("path").string(item.path).key("uuid").string(item.uuid).key("timestamp").number(item.timestamp_ms);
      if (item.data) json.key("data").raw(*item.data);
      json.end_object();
    }
    json.end_array();
    if (!query.delimiter.empty()) {
      json.key("prefixes").begin_array();
      for (const auto& prefix : result->prefixes) json.string(prefix);
      json.end_array();
    }
    json.key("next_start_key");
    if (result->next_start_key) json.string(*result->next_start_key); else json.null();
    // Where a client that listed this page starts watching (since=cursor) to miss nothing.
    json.key("cursor").string(result->cursor);
    json.end_object();
    write_json(response, 200, json.take());
  }

 private:
  void put_meta(RequestContext& context, httplib::Response& response, const std::string& key) {
    thread_local simdjson::dom::parser dom;
    const std::string& body = context.http.body;
    simdjson::dom::object object;
    if (dom.parse(body.data(), body.size(), true).get_object().get(object) != simdjson::SUCCESS) {
      return write_error(response, Status::invalid_argument(
          "the ?meta body must be a JSON object with owner_uuid, group_uuid and/or permissions"));
    }
    MetaUpdate update;
    for (auto [name, value] : object) {
      if (name == "owner_uuid" || name == "group_uuid") {
        std::string text;
        if (!value.is_null()) {
          std::string_view view;
          if (value.get_string().get(view) != simdjson::SUCCESS) {
            return write_error(response, Status::invalid_argument(std::string(name) + " must be a string or null"));
          }
          text = view;
        }
        (name == "owner_uuid" ? update.owner_uuid : update.group_uuid) = text;
      } else if (name == "permissions") {
        std::uint64_t bits = 0;
        std::string_view text;
        if (value.get_uint64().get(bits) == simdjson::SUCCESS) {
        } else if (value.get_string().get(text) == simdjson::SUCCESS && !text.empty()) {
          try {
            std::size_t used = 0;
            bits = std::stoull(std::string(text), &used, 0);
            if (used != text.size()) bits = 0x10000;
          } catch (const std::exception&) {
            bits = 0x10000;
          }
        } else {
          bits = 0x10000;
        }
        if (bits > 0xFFF) {
          return write_error(response, Status::invalid_argument(
              "permissions must be a number from 0 to 4095 (0xFFF), or a string such as \"0xF10\""));
        }
        update.permissions = static_cast<std::uint16_t>(bits);
      } else {
        return write_error(response, Status::invalid_argument("unknown ?meta member " + std::string(name)));
      }
    }
    if (!update.owner_uuid && !update.group_uuid && !update.permissions) {
      return write_error(response, Status::invalid_argument("the ?meta body changes nothing"));
    }
    // The answer is the meta written, even when the caller may no longer read it (SPEC).
    auto written = node_.set_meta(key, update, ReadOptions{context.caller});
    if (!written.is_ok()) return write_error(response, written.status());
    write_json(response, 200, meta_json(*written));
  }

  Node& node_;
};

}  // namespace

void register_data_routes(HttpServer& server, Node& node) {
  auto routes = std::make_shared<DataRoutes>(node);
  server.add_route({"kv", "GET", std::string(kKvPrefix), true, true,
                    [routes](RequestContext& c, httplib::Response& r) { routes->get(c, r); }});
  server.add_route({"kv", "PUT", std::string(kKvPrefix), true, true,
                    [routes](RequestContext& c, httplib::Response& r) { routes->put(c, r); }});
  server.add_route({"kv", "DELETE", std::string(kKvPrefix), true, true,
                    [routes](RequestContext& c, httplib::Response& r) { routes->remove(c, r); }});
  server.add_route({"kv_range", "GET", "/kv/_range", false, true,
                    [routes](RequestContext& c, httplib::Response& r) { routes->range(c, r); }});
  // A _range with values builds up to max_range_bytes of answer: capped per address.
  server.add_costly_request_filter([](const RequestContext& c) {
    auto values = query_flag(c.target, "values");
    return c.route->name == "kv_range" && values.is_ok() && *values;
  });
}

void register_health_route(HttpServer& server, Node& node) {
  server.add_route({"health", "GET", "/health", false, false, [&node](RequestContext&, httplib::Response& response) {
                      Health health = node.health();
                      JsonWriter json;
                      json.begin_object()
                          .key("status").string(health.status)
                          .key("mode").string(to_string(health.mode))
                          .key("member_count").number(static_cast<std::uint64_t>(health.member_count))
                          .key("node_id").string(health.node_id)
                          .key("version").string(health.version)
                          .key("uptime_s").number(health.uptime_s)
                          .key("keys").number(health.keys);
                      // Bootstrap progress, while syncing and after a pull since the start.
                      if (health.mode == Mode::kSyncing || health.sync_keys > 0) {
                        json.key("sync_progress").begin_object()
                            .key("keys").number(health.sync_keys)
                            .key("bytes").number(health.sync_bytes)
                            .end_object();
                      }
                      json.end_object();
                      write_json(response, 200, json.take());
                    }});
  // Readiness (SPEC "Operations"): Node decides, this renders. 503 tells a load balancer to
  // send traffic elsewhere while the node syncs or is out of storage headroom.
  server.add_route({"ready", "GET", "/ready", false, false, [&node](RequestContext&, httplib::Response& response) {
                      Readiness readiness = node.readiness();
                      JsonWriter json;
                      json.begin_object()
                          .key("ready").boolean(readiness.ready)
                          .key("mode").string(to_string(readiness.mode));
                      if (!readiness.ready) json.key("reason").string(readiness.reason);
                      json.end_object();
                      write_json(response, readiness.ready ? 200 : 503, json.take());
                    }});
}

}  // namespace kvs::server
