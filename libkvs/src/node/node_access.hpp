#pragma once

// detail::NodeAccess: the one door from internal code and tests into a kvs::Node's private state
// (its Impl) and the calls kept out of the public API. It is kvs::Node's only friend, so what
// reaches past the public surface is listed here and nowhere else.
//
// - Peer signatures: the X-KVS-Peer-Signature of an outgoing request, and the check of an
//   incoming one (Node::handle_peer_request runs it first).
// - Replication in-process: the /sync/ answers and one anti-entropy round, without HTTP,
//   signatures or the background threads, so that a test can carry every /sync/ request itself
//   and decide, from a seed, which ones are lost (tests/unit/replication/sim_test.cpp).
//   Production goes through Node::handle_peer_request and the AntiEntropy thread instead.
//
// Internal: include from libkvs/src and tests only. Safe from any thread, like every Node method.

#include <functional>
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
  // A signed POST of `body` to `target` at `address`: the answer body, or an error.
  using CallFn = std::function<Result<std::string>(const std::string& address, std::string_view target,
                                                   const std::string& body)>;

  // The answer body Node::handle_peer_request gives to a POST of `body` to the /sync/ `target`,
  // once its signature has verified (the /sync/ half of its dispatch); works whether clustering
  // is on or not. Its codes, without kUnauthenticated.
  static Result<std::string> answer_sync(Node& node, std::string_view target, std::string_view body);

  // One anti-entropy round of `node` with the peer at `address` (AntiEntropy::sync_with), now,
  // on the calling thread, with no pacing delays; every request goes through `call`. Versions
  // received are applied by the order (Node::apply_version), as the AntiEntropy thread does.
  static Result<replication::RoundReport> sync_with(Node& node, const std::string& address, const CallFn& call);
};

}  // namespace kvs::detail
