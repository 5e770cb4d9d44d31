#pragma once

// The cluster interface (SPEC section 2, "Cluster: /members/"), registered only when
// clustering_enabled, so that the routes are absent (404) otherwise:
//   GET    /members/        client: the member list (open, like /health)
//   DELETE /members/leave   client, admin: leave the cluster gracefully
// The peer routes (POST /members/join, /members/gossip) are registered with the other peer
// targets by register_peer_routes (sync_routes.hpp). Each handler is one call into kvs::Node.

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Registers the two client routes above. `node` must outlive `server`.
void register_cluster_routes(HttpServer& server, Node& node);

}  // namespace kvs::server
