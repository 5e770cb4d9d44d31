#pragma once

// detail::NodeAccess: the one door from internal code and tests into a kvs::Node's private state
// (its Impl) and the calls kept out of the public API. It is kvs::Node's only friend, so what
// reaches past the public surface is listed here and nowhere else.
//
// - Peer signatures: the X-KVS-Peer-Signature of an outgoing request, and the check of an
//   incoming one (Node::handle_peer_request runs it first).
// - Replication in-process: the /sync/ answers and an anti-entropy state machine over the node's
//   own replica, without HTTP, signatures or the background threads, so that a test can carry
//   every /sync/ request itself and decide, from a seed, which ones are lost
//   (tests/unit/replication/sim_test.cpp). Production goes through Node::handle_peer_request and
//   the AntiEntropyDriver instead.
//
// Internal: include from libkvs/src and tests only. Safe from any thread, like every Node method.

#include <memory>
#include <string>
#include <string_view>

#include "kvs/cluster.hpp"
#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "replication/anti_entropy.hpp"

namespace kvs::detail {

class NodeAccess {
 public:
  // The node's state. Requires: `node` outlives the reference.
  static Node::Impl& impl(Node& node) noexcept { return *node.impl_.get(); }
  static const Node::Impl& impl(const Node& node) noexcept { return *node.impl_.get(); }

  // ---- Peer signatures (node_peers.cpp) ----
  // The X-KVS-Peer-Signature value for an outgoing peer request to the node `destination`: an
  // HMAC under the cluster secret over method, target, body, a timestamp, a nonce and the
  // destination. Without `destination`: signed for `node` itself.
  static std::string sign_peer_request(const Node& node, std::string_view method, std::string_view target,
                                       std::string_view body, std::string_view destination);
  static std::string sign_peer_request(const Node& node, std::string_view method, std::string_view target,
                                       std::string_view body);
  // Ok when `request.signature` signs its method, target and body for this node; kUnauthenticated
  // for a missing, wrong, stale, replayed or misdirected signature.
  static Status verify_peer_request(Node& node, const PeerRequest& request);

  // ---- Replication (node_replication.cpp) ----
  // The answer body Node::handle_peer_request gives to a POST of `body` to the /sync/ `target`,
  // once its signature has verified (the /sync/ half of its dispatch); works whether clustering
  // is on or not. Its codes, without kUnauthenticated.
  static Result<std::string> answer_sync(Node& node, std::string_view target, std::string_view body);

  // Production's anti-entropy state machine over `node`'s Merkle tree and store, as the
  // AntiEntropyDriver runs it; the caller drives it and applies its pages (Node::apply_versions).
  // kUnavailable when replication is not open. Requires: `node` and `random` outlive the result.
  static Result<std::unique_ptr<replication::AntiEntropy>> anti_entropy(Node& node,
                                                                        replication::AntiEntropyOptions options,
                                                                        Random& random, replication::SyncTime now);
};

}  // namespace kvs::detail
