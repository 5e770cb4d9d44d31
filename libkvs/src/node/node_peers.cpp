// kvs::Node: how peer traffic is carried and secured (SPEC section 2, Cluster). One
// http::PeerTransport per node, with one http::PeerSecurity, carries every peer caller's requests
// (each on its lane), signs each for its destination node and verifies every answer. The
// receiving side is here too: the check of an incoming request (verify_peer_request, for this
// node's id) and the signature of every answer (Node::peer_answer_headers).

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/peer_hmac.hpp"
#include "http/peer_transport.hpp"
#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "node/node_impl.hpp"

namespace kvs {

Status Node::Impl::open_peer_transport() {
  http::PeerSecurityOptions options;
  const auth::Authority* signer = authority.get();
  options.sign = [signer](std::string_view target, std::string_view body, std::string_view destination) {
    auth::SignedPeerRequest signed_request = signer->sign_peer_request("POST", target, body, destination);
    return http::PeerSignature{std::move(signed_request.header), std::move(signed_request.nonce)};
  };
  options.verify_answer = [signer](std::string_view signature, std::string_view nonce, long status,
                                   std::string_view responder, std::string_view body) {
    return signer->verify_peer_answer(signature, nonce, status, responder, body);
  };
  options.on_answer_rejected = [this] { count_peer_answer_rejected(); };
  // The nodes of one cluster all use TLS or none: a node that serves HTTPS calls HTTPS.
  options.tls = !config.tls_cert_file.empty();
  options.tls_ca_file = config.tls_ca_file;
  if (!options.tls_ca_file.empty()) {
    // Caught here, once, rather than as a TLS failure on every peer request.
    std::ifstream ca(options.tls_ca_file);
    if (!ca.good()) return Status::invalid_argument("tls_ca_file " + options.tls_ca_file + " cannot be read");
  }
  peer_security = std::make_shared<http::PeerSecurity>(std::move(options));

  // Each lane sized and timed for its traffic.
  http::PeerTransport::LaneOptions lanes;
  // Membership: a peer silent past the shortest gossip period is not worth a worker for longer.
  auto& membership = lanes[static_cast<std::size_t>(net::Lane::kMembership)];
  auto gossip_timeout = std::clamp<std::chrono::milliseconds>(config.gossip_interval_min, std::chrono::seconds(1),
                                                              std::chrono::seconds(5));
  membership.request_timeout = gossip_timeout;
  membership.connect_timeout = std::min<std::chrono::milliseconds>(gossip_timeout, std::chrono::seconds(1));
  // Push: small batches, at most one in flight per peer.
  auto& push = lanes[static_cast<std::size_t>(net::Lane::kPush)];
  push.workers = 2;
  push.request_timeout = std::chrono::seconds(5);
  push.connect_timeout = std::chrono::seconds(1);
  // Anti-entropy: one round at a time, pages of up to a few MiB.
  auto& sync = lanes[static_cast<std::size_t>(net::Lane::kSync)];
  sync.workers = 1;
  sync.request_timeout = std::chrono::seconds(10);
  sync.connect_timeout = std::chrono::seconds(1);
  sync.max_response_bytes = std::size_t{64} << 20;
  // Bootstrap: one pull at a time; a short timeout, since the give-up counts from the last answer.
  auto& bootstrap = lanes[static_cast<std::size_t>(net::Lane::kBootstrap)];
  bootstrap.workers = 1;
  bootstrap.request_timeout = std::chrono::seconds(5);
  bootstrap.connect_timeout = std::chrono::seconds(1);
  bootstrap.max_response_bytes = std::size_t{64} << 20;
  peer_transport = std::make_unique<http::PeerTransport>(lanes, peer_security);
  return Status::ok();
}

std::string detail::NodeAccess::sign_peer_request(const Node& node, std::string_view method, std::string_view target,
                                                  std::string_view body, std::string_view destination) {
  return node.impl_->authority->sign_peer_request(method, target, body, destination).header;
}

std::string detail::NodeAccess::sign_peer_request(const Node& node, std::string_view method, std::string_view target,
                                                  std::string_view body) {
  return sign_peer_request(node, method, target, body, node.impl_->config.node_id);
}

Status detail::NodeAccess::verify_peer_request(Node& node, const PeerRequest& request) {
  return node.impl_->authority->verify_peer_request(request.signature, request.method, request.target, request.body,
                                                    node.impl_->config.node_id);
}

std::vector<PeerAnswerHeader> Node::peer_answer_headers(const PeerRequest& request, int status,
                                                        std::string_view body) const {
  if (!impl_->config.clustering_enabled) return {};
  // Refusals are signed too: a caller that signed for no or the wrong node learns, from a 401
  // it can trust, which node answers here. The MAC covers only what this node says, over a
  // nonce the caller chose, so signing it for an unauthenticated request gives nothing away.
  std::string_view nonce = auth::peer_nonce_of(request.signature);
  if (nonce.empty()) return {};
  const std::string& self = impl_->config.node_id;
  std::vector<PeerAnswerHeader> headers;
  headers.push_back({std::string(peer_protocol::kAnswerNodeHeader), self});
  headers.push_back({std::string(peer_protocol::kAnswerSignatureHeader),
                     impl_->authority->sign_peer_answer(nonce, status, self, body)});
  return headers;
}

}  // namespace kvs
