#pragma once

// Operations over REST (SPEC section 2, "Operations"): the rate limiting interceptor, GET
// /metrics with the observers that feed it, the online export and the backup routes. Each piece is
// a thin call into kvs::Node, which owns the limiter, the metrics and the backups.

#include "http_server.hpp"
#include "kvs/config.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// When rate_limiting_enabled: refuses a client over rate_limit_requests per rate_limit_window
// with 429, Retry-After (whole seconds) and the {"error","code"} body. The client is the
// authenticated caller's user, else the remote address, so this must be registered after the
// authentication interceptor. /health and peer routes (/members/*, /sync/* except GET
// /sync/merkle/root, which clients use for monitoring) are exempt. `node` must outlive `server`.
void install_rate_limiter(HttpServer& server, Node& node, const Config& config);

// Writes the 429 answer for a refused `decision`: Retry-After (whole seconds, at least 1),
// X-RateLimit-* and the {"error","code"} body.
void write_rate_limited(httplib::Response& response, const RateLimitDecision& decision);

// GET /metrics (open, Prometheus text) and the response and refusal observers that feed it;
// GET /admin/export (admin, always: the export lines of a snapshot, streamed in chunks);
// POST /admin/backup and GET /admin/backups (admin) when backup_enabled; and the rate limiter
// above. Register after the authentication interceptor.
void register_ops_routes(HttpServer& server, Node& node, const Config& config);

}  // namespace kvs::server
