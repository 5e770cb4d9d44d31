#include "auth_routes.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
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

Result<std::uint8_t> scopes_member(simdjson::dom::element value, std::string_view name) {
  auto names = string_array_member(value, name);
  if (!names.is_ok()) return names.status();
  std::uint8_t scopes = 0;
  for (const auto& scope : *names) {
    auto bit = scope_from_name(scope);
    if (!bit) {
      return Status::invalid_argument("unknown scope '" + scope.substr(0, 100) + "' (scopes: read, write, admin)");
    }
    scopes |= *bit;
  }
  return scopes;
}

// A duration string ("90s", "24h"); a bad spelling is reported with the member's name.
Result<std::chrono::milliseconds> duration_member(simdjson::dom::element value, std::string_view name) {
  auto text = string_member(value, name);
  if (!text.is_ok()) return text.status();
  auto duration = parse_duration(*text);
  if (!duration.is_ok()) return duration.status().with_context(name);
  return *duration;
}

// One member a request body may carry: its name, and how its value is decoded and kept.
struct BodyMember {
  std::string_view name;
  std::function<Status(simdjson::dom::element)> read;
};

// Decodes the member `name` with `decode` into `target`.
template <class T, class Decode>
BodyMember member(std::string_view name, std::optional<T>& target, Decode decode) {
  return {name, [name, &target, decode](simdjson::dom::element value) -> Status {
            auto decoded = decode(value, name);
            if (!decoded.is_ok()) return decoded.status();
            target = std::move(*decoded);
            return Status::ok();
          }};
}

// What a PUT may carry back from the GET it edits, and is ignored.
const std::vector<std::string_view> kGetEchoes = {"uuid", "created_at"};

// Reads the JSON object `body` into `members`. kInvalidArgument for a body that is not an
// object, a member of the wrong type, or a member that is neither listed nor in `ignored`.
Status read_body(const std::string& body, const std::vector<BodyMember>& members,
                 const std::vector<std::string_view>& ignored = {}) {
  auto object = parse_object(body);
  if (!object.is_ok()) return object.status();
  for (auto [key, value] : *object) {
    auto known = std::find_if(members.begin(), members.end(), [key](const BodyMember& m) { return m.name == key; });
    if (known != members.end()) {
      if (Status read = known->read(value); !read.is_ok()) return read;
    } else if (std::find(ignored.begin(), ignored.end(), key) == ignored.end()) {
      std::string allowed;
      for (const auto& m : members) allowed.append(allowed.empty() ? "" : ", ").append(m.name);
      return unknown_member(key, allowed);
    }
  }
  return Status::ok();
}

std::vector<BodyMember> user_members(UserChange& change) {
  return {member("nickname", change.nickname, string_member), member("scopes", change.scopes, scopes_member)};
}

std::vector<BodyMember> group_members(GroupChange& change) {
  return {member("name", change.name, string_member), member("members", change.members, string_array_member)};
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
    UserChange body;
    if (Status read = read_body(context.http.body, user_members(body)); !read.is_ok()) {
      return write_error(response, read);
    }
    if (!body.nickname) return write_error(response, Status::invalid_argument("member 'nickname' is required"));
    auto user = node_.create_user(*body.nickname, body.scopes.value_or(kDefaultUserScopes), {context.caller});
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
    answer_item(context, response, kUsersPath, user_json,
                [&](const std::string& uuid) { return node_.get_user(uuid, {context.caller}); });
  }

  void update_user(RequestContext& context, httplib::Response& response) {
    answer_item(context, response, kUsersPath, user_json, [&](const std::string& uuid) -> Result<User> {
      UserChange change;
      if (Status read = read_body(context.http.body, user_members(change), kGetEchoes); !read.is_ok()) return read;
      return node_.update_user(uuid, change, {context.caller});
    });
  }

  void delete_user(RequestContext& context, httplib::Response& response) {
    remove_item(context, response, kUsersPath,
                [&](const std::string& uuid) { return node_.remove_user(uuid, {context.caller}); });
  }

  // ---- Groups ----

  void create_group(RequestContext& context, httplib::Response& response) {
    GroupChange body;
    if (Status read = read_body(context.http.body, group_members(body)); !read.is_ok()) {
      return write_error(response, read);
    }
    if (!body.name) return write_error(response, Status::invalid_argument("member 'name' is required"));
    auto group = node_.create_group(*body.name, std::move(body.members).value_or(std::vector<std::string>{}),
                                    {context.caller});
    if (!group.is_ok()) return write_error(response, group.status());
    write_json(response, 201, group_json(*group));
  }

  void get_group(RequestContext& context, httplib::Response& response) {
    answer_item(context, response, kGroupsPath, group_json,
                [&](const std::string& uuid) { return node_.get_group(uuid, {context.caller}); });
  }

  void update_group(RequestContext& context, httplib::Response& response) {
    answer_item(context, response, kGroupsPath, group_json, [&](const std::string& uuid) -> Result<Group> {
      GroupChange change;
      if (Status read = read_body(context.http.body, group_members(change), kGetEchoes); !read.is_ok()) return read;
      return node_.update_group(uuid, change, {context.caller});
    });
  }

  void delete_group(RequestContext& context, httplib::Response& response) {
    remove_item(context, response, kGroupsPath,
                [&](const std::string& uuid) { return node_.remove_group(uuid, {context.caller}); });
  }

  // ---- Tokens ----

  // {"user_uuid","scopes","ttl"}: user_uuid defaults to the caller; scopes to the caller's own
  // (for itself) or the user's (an admin minting for another); ttl to token_ttl.
  void mint_token(RequestContext& context, httplib::Response& response) {
    std::optional<std::string> named_user;
    std::optional<std::uint8_t> scopes;
    std::optional<std::chrono::milliseconds> ttl;
    Status read = read_body(context.http.body.empty() ? std::string("{}") : context.http.body,
                            {member("user_uuid", named_user, string_member), member("scopes", scopes, scopes_member),
                             member("ttl", ttl, duration_member)});
    if (!read.is_ok()) return write_error(response, read);
    std::string user_uuid = named_user.value_or(context.caller.user_uuid);
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
    remove_item(context, response, kTokensPath,
                [&](const std::string& jti) { return node_.revoke_token(jti, {context.caller}); });
  }

 private:
  // Answers 200 with the item `find` gives for the id in the path, rendered by `render`.
  template <class Render, class Find>
  static void answer_item(RequestContext& context, httplib::Response& response, std::string_view collection,
                          Render render, Find find) {
    auto id = item_id(context, collection);
    if (!id.is_ok()) return write_error(response, id.status());
    auto item = find(*id);
    if (!item.is_ok()) return write_error(response, item.status());
    write_json(response, 200, render(*item));
  }

  // Answers 204 once `remove` has removed the item named in the path.
  template <class Remove>
  static void remove_item(RequestContext& context, httplib::Response& response, std::string_view collection,
                          Remove remove) {
    auto id = item_id(context, collection);
    if (!id.is_ok()) return write_error(response, id.status());
    if (Status removed = remove(*id); !removed.is_ok()) return write_error(response, removed);
    response.status = 204;
  }

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
