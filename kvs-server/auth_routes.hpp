#pragma once

// Authentication over REST (SPEC section 2, "Authentication"): the bearer-token interceptor
// that turns every protected request into a kvs::Caller, and the /auth/ routes for users,
// groups and tokens. Each handler is one call into kvs::Node, which decides.

#include <string_view>

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Authenticates every request to a route with needs_auth: a missing, malformed, badly signed,
// expired or revoked token gets 401 with WWW-Authenticate: Bearer. Register it before every
// interceptor that needs the caller (rate limiting). `node` must outlive `server`.
void install_authentication(HttpServer& server, Node& node);

// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
// kUnauthenticated, saying what is wrong, for a missing header or another scheme.
Result<std::string_view> bearer_token(std::string_view header);

// Registers /auth/users, /auth/groups and /auth/tokens. Only when auth is enabled.
void register_auth_routes(HttpServer& server, Node& node);

}  // namespace kvs::server
