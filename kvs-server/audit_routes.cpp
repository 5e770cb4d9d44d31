#include "audit_routes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "json_writer.hpp"

namespace kvs::server {
namespace {

constexpr std::size_t kDefaultAuditLimit = 100;

Result<std::uint64_t> parse_count(const Target& target, std::string_view name, std::uint64_t fallback,
                                  std::uint64_t min, std::uint64_t max) {
  const QueryParam* param = target.find(name);
  if (param == nullptr) return fallback;
  return parse_unsigned(param->value.value_or(""), name, min, max);
}

void write_entry(JsonWriter& json, const AuditEntry& entry) {
  json.begin_object()
      .key("seq").number(entry.seq)
      .key("timestamp").number(entry.timestamp_ms)
      .key("actor").string(entry.actor)
      .key("action").string(entry.action)
      .key("path").string(entry.path)
      .key("value_hash");
  if (entry.value_hash.empty()) {
    json.null();
  } else {
    json.string(entry.value_hash);
  }
  json.key("prev_hash").string(entry.prev_hash).key("hash").string(entry.hash).end_object();
}

}  // namespace

void register_audit_routes(HttpServer& server, Node& node) {
  if (!node.config().tamper_logging_enabled) return;  // the routes are absent (404), as SPEC wants
  server.add_route({"audit", "GET", "/audit", false, true, [&node](RequestContext& context, httplib::Response& response) {
                      auto since = parse_count(context.target, "since", 1, 0, UINT64_MAX >> 1);
                      if (!since.is_ok()) return write_error(response, since.status());
                      auto limit = parse_count(context.target, "limit", kDefaultAuditLimit, 1, kMaxAuditLimit);
                      if (!limit.is_ok()) return write_error(response, limit.status());
                      auto entries = node.audit({context.caller, *since, static_cast<std::size_t>(*limit)});
                      if (!entries.is_ok()) return write_error(response, entries.status());
                      JsonWriter json;
                      json.begin_object().key("entries").begin_array();
                      for (const auto& entry : *entries) write_entry(json, entry);
                      json.end_array().key("next_since");
                      // A full page may have more after it; a short one reached the end.
                      if (entries->size() == *limit) {
                        json.number(entries->back().seq + 1);
                      } else {
                        json.null();
                      }
                      json.end_object();
                      write_json(response, 200, json.take());
                    }});
  server.add_route({"audit_verify", "GET", "/audit/verify", false, true,
                    [&node](RequestContext& context, httplib::Response& response) {
                      // ?head_seq=S&head_hash=H: a head recorded earlier, which the chain must
                      // still hold (both or neither).
                      const QueryParam* head_seq = context.target.find("head_seq");
                      const QueryParam* head_hash = context.target.find("head_hash");
                      if ((head_seq == nullptr) != (head_hash == nullptr)) {
                        return write_error(response,
                                           Status::invalid_argument("head_seq and head_hash go together"));
                      }
                      std::optional<AuditHead> head;
                      if (head_seq != nullptr) {
                        auto seq = parse_unsigned(head_seq->value.value_or(""), "head_seq", 0, UINT64_MAX >> 1);
                        if (!seq.is_ok()) return write_error(response, seq.status());
                        head = AuditHead{*seq, head_hash->value.value_or("")};
                      }
                      auto verified =
                          head ? node.verify_audit({context.caller}, *head) : node.verify_audit({context.caller});
                      if (!verified.is_ok()) return write_error(response, verified.status());
                      JsonWriter json;
                      json.begin_object().key("ok").boolean(verified->ok);
                      if (verified->ok) {
                        json.key("entries").number(verified->entries);
                      } else {
                        json.key("first_bad_seq").number(verified->first_bad_seq.value_or(0));
                      }
                      // The last entry that verified: the chain's head when ok.
                      json.key("head_seq").number(verified->head_seq).key("head_hash").string(verified->head_hash);
                      json.end_object();
                      write_json(response, 200, json.take());
                    }});
}

}  // namespace kvs::server
