#pragma once

// The cluster interface (SPEC section 2, "Cluster: /members/"), registered only when
// clustering_enabled, so that the routes are absent (404) otherwise:
//   GET    /members/        client: the member list (a token when auth is on)
//   DELETE /members/leave   client, admin: leave the cluster gracefully
//   POST   /members/join    peer: a node asks to be let in
//   POST   /members/gossip  peer: gossip, join replies, leaves
// Peer routes skip the bearer-token check (needs_auth = false): they are authenticated by the
// X-KVS-Peer-Signature HMAC instead, which kvs::Node::handle_peer_request verifies (401 when it
// is missing or wrong, and nothing changes). Each handler is one call into kvs::Node.

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Registers the routes above. `node` must outlive `server`.
void register_cluster_routes(HttpServer& server, Node& node);

}  // namespace kvs::server
