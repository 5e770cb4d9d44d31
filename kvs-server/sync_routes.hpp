#pragma once

// The replication interface (SPEC section 2, "Cluster: /sync/") and every peer route, registered
// only when clustering_enabled, so that the routes are absent (404) otherwise:
//   GET  /sync/merkle/root       client (any valid token when auth is on): {"root","keys"}
//   POST /members/join           peer: a node asks to be let in
//   POST /members/gossip         peer: gossip, join replies, leaves
//   POST /sync/push              peer: a batch of versions to apply by the order
//   POST /sync/merkle/branches   peer: root, key count and the 64 branch hashes
//   POST /sync/merkle/leaves     peer: the leaf values under some branches
//   POST /sync/bucket            peer: one page of the versions in some leaf buckets
//   POST /sync/since             peer: one page of the versions newer than a cursor (bootstrap)
// (the targets: kvs::peer_protocol::kTargets in kvs/cluster.hpp). Peer routes skip the bearer-token check
// (needs_auth = false): kvs::Node::handle_peer_request verifies their X-KVS-Peer-Signature (401
// when missing, wrong or meant for another node, and nothing changes), and every answer, error
// or not, carries the Node's answer signature (Node::peer_answer_headers). Bodies are
// described in libkvs/src/replication/sync_codec.hpp.

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Registers GET /sync/merkle/root. `node` must outlive `server`.
void register_sync_routes(HttpServer& server, Node& node);

// Registers every peer route (kvs::peer_protocol::kTargets: POST /members/join, /members/gossip
// and the POSTs under /sync/ above), each answered by answer_peer_request. `node` must outlive
// `server`.
void register_peer_routes(HttpServer& server, Node& node);

// Answers one peer request (under /sync/ or /members/, as POSTed by a peer): hands it to
// Node::handle_peer_request, writes the answer or the error, then signs whatever was written.
// The one place kvs-server serves the peer protocol.
void answer_peer_request(Node& node, RequestContext& context, httplib::Response& response);

}  // namespace kvs::server
