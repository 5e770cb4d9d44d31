#include "request.hpp"

#include <cstdio>

namespace kvsctl {
namespace {

// Appends "name=value" to a query string being built ("" or "?a=b").
void add_query(std::string& query, std::string_view name, std::string_view value) {
  query += query.empty() ? '?' : '&';
  query += name;
  query += '=';
  query += percent_encode(value);
}

std::string key_path(std::string_view key) { return "/kv/" + percent_encode(key, true); }

// The value of If-Match: a quoted entity tag; a uuid given bare gets its quotes here.
std::string entity_tag(std::string_view uuid) {
  if (uuid == "*" || (uuid.size() >= 2 && uuid.front() == '"' && uuid.back() == '"')) return std::string(uuid);
  std::string tag = "\"";
  tag += uuid;
  tag += '"';
  return tag;
}

HttpRequest request(std::string method, std::string target, std::string body = {}) {
  HttpRequest result;
  result.method = std::move(method);
  result.target = std::move(target);
  result.body = std::move(body);
  return result;
}

}  // namespace

std::string percent_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') ||
                      byte == '-' || byte == '.' || byte == '_' || byte == '~' || (keep_slash && byte == '/');
    if (unreserved) {
      out += c;
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  return out;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04X", byte);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string json_string_array(std::string_view comma_list) {
  std::string out = "[";
  bool first = true;
  while (true) {
    std::size_t comma = comma_list.find(',');
    std::string_view item = comma_list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      if (!first) out += ',';
      out += json_quote(item);
      first = false;
    }
    if (comma == std::string_view::npos) break;
    comma_list.remove_prefix(comma + 1);
  }
  out += ']';
  return out;
}

HttpRequest ls_request(std::string_view prefix, std::string_view start_key) {
  std::string query;
  add_query(query, "prefix", prefix);
  add_query(query, "delimiter", "/");
  if (!start_key.empty()) add_query(query, "start_key", start_key);
  return request("GET", "/kv/_range" + query);
}

HttpRequest build_request(const Invocation& invocation, std::string_view document) {
  const std::string& command = invocation.command;
  const std::string& action = invocation.action;
  auto operand = [&](std::size_t i) { return i < invocation.operands.size() ? invocation.operands[i] : std::string(); };

  if (command == "get") {
    std::string query;
    if (invocation.has("revision")) add_query(query, "revision", invocation.value("revision"));
    return request("GET", key_path(operand(0)) + query);
  }
  if (command == "put") {
    std::string query;
    if (invocation.has("ttl")) add_query(query, "ttl", invocation.value("ttl"));
    HttpRequest put = request("PUT", key_path(operand(0)) + query, std::string(document));
    if (invocation.has("if-match")) put.headers.emplace_back("If-Match", entity_tag(invocation.value("if-match")));
    if (invocation.has("create-only")) put.headers.emplace_back("If-None-Match", "*");
    return put;
  }
  if (command == "del") {
    HttpRequest del = request("DELETE", key_path(operand(0)));
    if (invocation.has("if-match")) del.headers.emplace_back("If-Match", entity_tag(invocation.value("if-match")));
    return del;
  }
  if (command == "ls") return ls_request(operand(0), "");
  if (command == "range") {
    std::string query;
    if (invocation.has("prefix")) add_query(query, "prefix", invocation.value("prefix"));
    if (invocation.has("start")) add_query(query, "start_key", invocation.value("start"));
    if (invocation.has("end")) add_query(query, "end_key", invocation.value("end"));
    if (invocation.has("limit")) add_query(query, "limit", invocation.value("limit"));
    if (invocation.has("values")) add_query(query, "values", "true");
    return request("GET", "/kv/_range" + query);
  }
  if (command == "history") return request("GET", key_path(operand(0)) + "?history");
  if (command == "watch") {
    std::string query;
    add_query(query, "prefix", operand(0));
    if (invocation.has("since")) add_query(query, "since", invocation.value("since"));
    if (invocation.has("values")) add_query(query, "values", "true");
    HttpRequest watch = request("GET", "/kv/_watch" + query);
    watch.headers.emplace_back("Accept", "application/x-ndjson");
    watch.mode = BodyMode::kLines;
    return watch;
  }
  if (command == "members") return request("GET", "/members/");
  if (command == "leave") return request("DELETE", "/members/leave");
  if (command == "health") return request("GET", "/health");
  if (command == "ready") return request("GET", "/ready");
  if (command == "export") {
    HttpRequest out = request("GET", "/admin/export");
    out.mode = BodyMode::kRaw;
    return out;
  }
  if (command == "user") {
    const std::string item = "/auth/users/" + percent_encode(operand(0));
    if (action == "create") {
      std::string body = "{\"nickname\":" + json_quote(operand(0));
      if (invocation.has("scopes")) body += ",\"scopes\":" + json_string_array(invocation.value("scopes"));
      return request("POST", "/auth/users", body + "}");
    }
    if (action == "list") return request("GET", "/auth/users");
    if (action == "get") return request("GET", item);
    if (action == "update") {
      std::string body;
      if (invocation.has("nickname")) body += ",\"nickname\":" + json_quote(invocation.value("nickname"));
      if (invocation.has("scopes")) body += ",\"scopes\":" + json_string_array(invocation.value("scopes"));
      body[0] = '{';
      return request("PUT", item, body + "}");
    }
    return request("DELETE", item);
  }
  if (command == "group") {
    const std::string item = "/auth/groups/" + percent_encode(operand(0));
    if (action == "create") {
      std::string body = "{\"name\":" + json_quote(operand(0));
      if (invocation.has("members")) body += ",\"members\":" + json_string_array(invocation.value("members"));
      return request("POST", "/auth/groups", body + "}");
    }
    if (action == "get") return request("GET", item);
    if (action == "update") {
      std::string body;
      if (invocation.has("name")) body += ",\"name\":" + json_quote(invocation.value("name"));
      if (invocation.has("members")) body += ",\"members\":" + json_string_array(invocation.value("members"));
      body[0] = '{';
      return request("PUT", item, body + "}");
    }
    return request("DELETE", item);
  }
  if (command == "token") {
    if (action == "create") {
      std::string body;
      if (invocation.has("user")) body += ",\"user_uuid\":" + json_quote(invocation.value("user"));
      if (invocation.has("scopes")) body += ",\"scopes\":" + json_string_array(invocation.value("scopes"));
      if (invocation.has("ttl")) body += ",\"ttl\":" + json_quote(invocation.value("ttl"));
      if (body.empty()) return request("POST", "/auth/tokens", "{}");
      body[0] = '{';
      return request("POST", "/auth/tokens", body + "}");
    }
    return request("DELETE", "/auth/tokens/" + percent_encode(operand(0)));
  }
  if (command == "backup") {
    if (action == "create") return request("POST", "/admin/backup");
    return request("GET", "/admin/backups");
  }
  // audit
  if (action == "verify") {
    std::string query;
    if (invocation.has("head-seq")) {
      add_query(query, "head_seq", invocation.value("head-seq"));
      add_query(query, "head_hash", invocation.value("head-hash"));
    }
    return request("GET", "/audit/verify" + query);
  }
  std::string query;
  if (invocation.has("since")) add_query(query, "since", invocation.value("since"));
  if (invocation.has("limit")) add_query(query, "limit", invocation.value("limit"));
  return request("GET", "/audit" + query);
}

}  // namespace kvsctl
