#pragma once

// The data interface (SPEC section 2, "Data: /kv/"), GET /health and GET /ready: each handler parses the
// request, makes one call into kvs::Node (two for conditional forms the Node has no direct
// call for) and writes the JSON answer.

#include <cstddef>

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Bytes a PUT body may carry beyond max_json_size: room for the envelope form around a
// document of the maximum size. The document itself is held to max_json_size by Node::put.
inline constexpr std::size_t kEnvelopeSlackBytes = 64 * 1024;

// Registers /kv/ (PUT, GET, DELETE), /kv/_range (GET). `node` must outlive `server`.
void register_data_routes(HttpServer& server, Node& node);

// Registers GET /health and GET /ready (open even when authentication is on).
void register_health_route(HttpServer& server, Node& node);

}  // namespace kvs::server
