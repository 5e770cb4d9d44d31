#include "auth_routes.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>
#include <simdjson.h>

#include "json_writer.hpp"
#include "kvs/config.hpp"
#include "ops_routes.hpp"

namespace kvs::server {
namespace {

constexpr std::string_view kUsersPath = "/auth/users";
constexpr std::string_view kGroupsPath = "/auth/groups";
constexpr std::string_view kTokensPath = "/auth/tokens";
// Scopes a new user gets when the request names none.
constexpr std::uint8_t kDefaultUserScopes = kScopeRead | kScopeWrite;

}  // namespace

Result<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  if (header.empty()) return Status::unauthenticated("missing Authorization header (expected: Bearer <token>)");
  bool scheme = header.size() > kScheme.size() && (header[kScheme.size()] == ' ' || header[kScheme.size()] == '\t');
  for (std::size_t i = 0; scheme && i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    scheme = c == kScheme[i];
  }
  if (!scheme) return Status::unauthenticated("the Authorization header is not a Bearer token");
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  if (token.empty()) return Status::unauthenticated("the Authorization header has an empty token");
  return token;
}

namespace {

// ---- Request bodies --------------------------------------------------------------------------

// The members of a JSON object body. kInvalidArgument for anything else.
Result<simdjson::dom::object> parse_object(const std::string& body) {
  // One parser per thread; the returned object lives until this thread parses again.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS) {
    return Status::invalid_argument("the body is not valid JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return Status::invalid_argument("the body must be a JSON object");
  return object;
}

Status unknown_member(std::string_view key, std::string_view allowed) {
  return Status::invalid_argument("unknown member '" + std::string(key.substr(0, 100)) + "' (allowed: " +
                                  std::string(allowed) + ")");
}

Result<std::string> string_member(simdjson::dom::element value, std::string_view name) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return Status::invalid_argument("member '" + std::string(name) + "' must be a string");
  }
  return std::string(text);
}

Result<std::vector<std::string>> string_array_member(simdjson::dom::element value, std::string_view name) {
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return Status::invalid_argument("member '" + std::string(name) + "' must be an array of strings");
  }
  std::vector<std::string> out;
  for (simdjson::dom::element item : array) {
    std::string_view text;
    if (item.get_string().get(text) != simdjson::SUCCESS) {
      return Status::invalid_argument("member '" + std::string(name) + "' must be an array of strings");
    }
    out.emplace_back(text);
  }
  return out;
}

Result<std::uint8_t> scopes_member(simdjson::dom::element value) {
  auto names = string_array_member(value, "scopes");
  if (!names.is_ok()) return names.status();
  std::uint8_t scopes = 0;
  for (const auto& name : *names) {
    auto bit = scope_from_name(name);
    if (!bit) {
      return Status::invalid_argument("unknown scope '" + name.substr(0, 100) + "' (scopes: read, write, admin)");
    }
    scopes |= *bit;
  }
  return scopes;
}

// ---- Response bodies -------------------------------------------------------------------------

void write_scopes(JsonWriter& json, std::uint8_t scopes) {
  json.begin_array();
  for (std::string_view name : scope_names(scopes)) json.string(name);
  json.end_array();
}

std::string user_json(const User& user) {
  JsonWriter json;
  json.begin_object().key("uuid").string(user.uuid).key("nickname").string(user.nickname).key("scopes");
  write_scopes(json, user.scopes);
  json.key("created_at").number(user.created_at_ms).end_object();
  return json.take();
}

std::string group_json(const Group& group) {
  JsonWriter json;
  json.begin_object().key("uuid").string(group.uuid).key("name").string(group.name).key("members").begin_array();
  for (const auto& member : group.members) json.string(member);
  json.end_array().key("created_at").number(group.created_at_ms).end_object();
  return json.take();
}

// The id after a collection path ("/auth/users/<id>"): one non-empty segment.
Result<std::string> item_id(const RequestContext& context, std::string_view collection) {
  std::string_view id = std::string_view(context.target.path).substr(collection.size() + 1);
  if (id.empty() || id.find('/') != std::string_view::npos) {
    return Status::not_found("no such resource: " + context.target.path.substr(0, 200));
  }
  return std::string(id);
}

class AuthRoutes {
 public:
  explicit AuthRoutes(Node& node) : node_(node) {}

  // ---- Users ----

  void create_user(RequestContext& context, httplib::Response& response) {
    auto object = parse_object(context.http.body);
    if (!object.is_ok()) return write_error(response, object.status());
    std::optional<std::string> nickname;
    std::uint8_t scopes = kDefaultUserScopes;
    for (auto [key, value] : *object) {
      if (key == "nickname") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        nickname = std::move(*text);
      } else if (key == "scopes") {
        auto bits = scopes_member(value);
        if (!bits.is_ok()) return write_error(response, bits.status());
        scopes = *bits;
      } else {
        return write_error(response, unknown_member(key, "nickname, scopes"));
      }
    }
    if (!nickname) return write_error(response, Status::invalid_argument("member 'nickname' is required"));
    auto user = node_.create_user(*nickname, scopes, {context.caller});
    if (!user.is_ok()) return write_error(response, user.status());
    write_json(response, 201, user_json(*user));
  }

  void list_users(RequestContext& context, httplib::Response& response) {
    auto users = node_.list_users({context.caller});
    if (!users.is_ok()) return write_error(response, users.status());
    std::string body = "[";
    for (std::size_t i = 0; i < users->size(); ++i) {
      if (i > 0) body += ',';
      body += user_json((*users)[i]);
    }
    body += ']';
    write_json(response, 200, std::move(body));
  }

  void get_user(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kUsersPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    auto user = node_.get_user(*uuid, {context.caller});
    if (!user.is_ok()) return write_error(response, user.status());
    write_json(response, 200, user_json(*user));
  }

  void update_user(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kUsersPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    auto object = parse_object(context.http.body);
    if (!object.is_ok()) return write_error(response, object.status());
    UserChange change;
    for (auto [key, value] : *object) {
      if (key == "nickname") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        change.nickname = std::move(*text);
      } else if (key == "scopes") {
        auto bits = scopes_member(value);
        if (!bits.is_ok()) return write_error(response, bits.status());
        change.scopes = *bits;
      } else if (key != "uuid" && key != "created_at") {  // echoes of a GET are tolerated
        return write_error(response, unknown_member(key, "nickname, scopes"));
      }
    }
    auto user = node_.update_user(*uuid, change, {context.caller});
    if (!user.is_ok()) return write_error(response, user.status());
    write_json(response, 200, user_json(*user));
  }

  void delete_user(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kUsersPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    if (Status removed = node_.remove_user(*uuid, {context.caller}); !removed.is_ok()) {
      return write_error(response, removed);
    }
    response.status = 204;
  }

  // ---- Groups ----

  void create_group(RequestContext& context, httplib::Response& response) {
    auto object = parse_object(context.http.body);
    if (!object.is_ok()) return write_error(response, object.status());
    std::optional<std::string> name;
    std::vector<std::string> members;
    for (auto [key, value] : *object) {
      if (key == "name") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        name = std::move(*text);
      } else if (key == "members") {
        auto list = string_array_member(value, key);
        if (!list.is_ok()) return write_error(response, list.status());
        members = std::move(*list);
      } else {
        return write_error(response, unknown_member(key, "name, members"));
      }
    }
    if (!name) return write_error(response, Status::invalid_argument("member 'name' is required"));
    auto group = node_.create_group(*name, std::move(members), {context.caller});
    if (!group.is_ok()) return write_error(response, group.status());
    write_json(response, 201, group_json(*group));
  }

  void get_group(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kGroupsPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    auto group = node_.get_group(*uuid, {context.caller});
    if (!group.is_ok()) return write_error(response, group.status());
    write_json(response, 200, group_json(*group));
  }

  void update_group(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kGroupsPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    auto object = parse_object(context.http.body);
    if (!object.is_ok()) return write_error(response, object.status());
    GroupChange change;
    for (auto [key, value] : *object) {
      if (key == "name") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        change.name = std::move(*text);
      } else if (key == "members") {
        auto list = string_array_member(value, key);
        if (!list.is_ok()) return write_error(response, list.status());
        change.members = std::move(*list);
      } else if (key != "uuid" && key != "created_at") {
        return write_error(response, unknown_member(key, "name, members"));
      }
    }
    auto group = node_.update_group(*uuid, change, {context.caller});
    if (!group.is_ok()) return write_error(response, group.status());
    write_json(response, 200, group_json(*group));
  }

  void delete_group(RequestContext& context, httplib::Response& response) {
    auto uuid = item_id(context, kGroupsPath);
    if (!uuid.is_ok()) return write_error(response, uuid.status());
    if (Status removed = node_.remove_group(*uuid, {context.caller}); !removed.is_ok()) {
      return write_error(response, removed);
    }
    response.status = 204;
  }

  // ---- Tokens ----

  // {"user_uuid","scopes","ttl"}: user_uuid defaults to the caller; scopes to the caller's own
  // (for itself) or the user's (an admin minting for another); ttl to token_ttl.
  void mint_token(RequestContext& context, httplib::Response& response) {
    auto object = parse_object(context.http.body.empty() ? std::string("{}") : context.http.body);
    if (!object.is_ok()) return write_error(response, object.status());
    std::string user_uuid = context.caller.user_uuid;
    std::optional<std::uint8_t> scopes;
    std::optional<std::chrono::milliseconds> ttl;
    for (auto [key, value] : *object) {
      if (key == "user_uuid") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        user_uuid = std::move(*text);
      } else if (key == "scopes") {
        auto bits = scopes_member(value);
        if (!bits.is_ok()) return write_error(response, bits.status());
        scopes = *bits;
      } else if (key == "ttl") {
        auto text = string_member(value, key);
        if (!text.is_ok()) return write_error(response, text.status());
        auto duration = parse_duration(*text);
        if (!duration.is_ok()) return write_error(response, duration.status().with_context("ttl"));
        ttl = *duration;
      } else {
        return write_error(response, unknown_member(key, "user_uuid, scopes, ttl"));
      }
    }
    if (user_uuid.empty()) return write_error(response, Status::invalid_argument("member 'user_uuid' is required"));
    if (!scopes) {
      if (user_uuid == context.caller.user_uuid) {
        scopes = context.caller.scopes;
      } else {
        auto user = node_.get_user(user_uuid, {context.caller});
        if (!user.is_ok()) return write_error(response, user.status());
        scopes = user->scopes;
      }
    }
    auto token = node_.mint_token(user_uuid, *scopes, {context.caller, ttl});
    if (!token.is_ok()) return write_error(response, token.status());
    JsonWriter json;
    json.begin_object()
        .key("token").string(token->token)
        .key("jti").string(token->token_id)
        .key("user_uuid").string(user_uuid)
        .key("scopes");
    write_scopes(json, *scopes);
    json.key("expires_at").number(token->expires_at_ms).end_object();
    write_json(response, 201, json.take());
  }

  void revoke_token(RequestContext& context, httplib::Response& response) {
    auto jti = item_id(context, kTokensPath);
    if (!jti.is_ok()) return write_error(response, jti.status());
    if (Status revoked = node_.revoke_token(*jti, {context.caller}); !revoked.is_ok()) {
      return write_error(response, revoked);
    }
    response.status = 204;
  }

 private:
  Node& node_;
};

}  // namespace

void install_authentication(HttpServer& server, Node& node) {
  server.add_interceptor([&node](RequestContext& context, httplib::Response& response) {
    if (!context.route->needs_auth) return false;
    // A request that fails authentication counts against its remote address (SPEC section 2,
    // "Limits"), so a flood of forged tokens is answered 429 once the address is over its
    // limit, instead of costing a signature check each (admit_request allows all when rate
    // limiting is off).
    auto refuse = [&](const Status& status) {
      RateLimitDecision decision = node.admit_request(Caller::local(), context.http.remote_addr);
      if (decision.allowed) {
        write_error(response, status);
      } else {
        write_rate_limited(response, decision);
      }
      return true;
    };
    std::string authorization = context.header("Authorization");
    auto token = bearer_token(authorization);
    if (!token.is_ok()) return refuse(token.status());
    auto caller = node.authenticate(*token);
    if (!caller.is_ok()) return refuse(caller.status());
    context.caller = std::move(*caller);
    return false;
  });
}

void register_auth_routes(HttpServer& server, Node& node) {
  auto routes = std::make_shared<AuthRoutes>(node);
  auto route = [&](std::string name, std::string method, std::string_view path, bool prefix,
                   void (AuthRoutes::*handler)(RequestContext&, httplib::Response&)) {
    RouteInfo info;
    info.name = std::move(name);
    info.method = std::move(method);
    info.path = std::string(path) + (prefix ? "/" : "");
    info.prefix = prefix;
    info.handler = [routes, handler](RequestContext& context, httplib::Response& response) {
      ((*routes).*handler)(context, response);
    };
    server.add_route(std::move(info));
  };
  route("auth_users", "POST", kUsersPath, false, &AuthRoutes::create_user);
  route("auth_users", "GET", kUsersPath, false, &AuthRoutes::list_users);
  route("auth_user", "GET", kUsersPath, true, &AuthRoutes::get_user);
  route("auth_user", "PUT", kUsersPath, true, &AuthRoutes::update_user);
  route("auth_user", "DELETE", kUsersPath, true, &AuthRoutes::delete_user);
  route("auth_groups", "POST", kGroupsPath, false, &AuthRoutes::create_group);
  route("auth_group", "GET", kGroupsPath, true, &AuthRoutes::get_group);
  route("auth_group", "PUT", kGroupsPath, true, &AuthRoutes::update_group);
  route("auth_group", "DELETE", kGroupsPath, true, &AuthRoutes::delete_group);
  route("auth_tokens", "POST", kTokensPath, false, &AuthRoutes::mint_token);
  route("auth_token", "DELETE", kTokensPath, true, &AuthRoutes::revoke_token);
}

}  // namespace kvs::server
