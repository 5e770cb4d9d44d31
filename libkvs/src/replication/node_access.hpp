#pragma once

// NodeReplicationAccess: the replication handlers of a kvs::Node, reachable in-process without
// HTTP, signatures or the background threads, so that a test can carry every /sync/ request
// itself and decide, from a seed, which ones are lost (tests/unit/replication/sim_test.cpp).
// Production code goes through Node::handle_sync_request and the AntiEntropy thread instead.
// Internal: include from libkvs/src only. Safe from any thread, like every Node method.

#include <functional>
#include <string>
#include <string_view>

#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "replication/anti_entropy.hpp"

namespace kvs {

struct NodeReplicationAccess {
  // A signed POST of `body` to `target` at `address`: the answer body, or an error.
  using CallFn = std::function<Result<std::string>(const std::string& address, std::string_view target,
                                                   const std::string& body)>;

  // The answer Node::handle_sync_request gives to a POST of `body` to `target`, once its
  // signature has verified; works whether clustering is on or not. Its codes, without
  // kUnauthenticated.
  static Result<std::string> answer_sync(Node& node, std::string_view target, std::string_view body);

  // One anti-entropy round of `node` with the peer at `address` (AntiEntropy::sync_with), now,
  // on the calling thread, with no pacing delays; every request goes through `call`. Versions
  // received are applied by the order (Node::apply_version), as the AntiEntropy thread does.
  static Result<replication::RoundReport> sync_with(Node& node, const std::string& address, const CallFn& call);
};

}  // namespace kvs
