#include "cluster_routes.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"

namespace kvs::server {
namespace {

// The header peers sign their requests with (libkvs auth/peer_hmac.hpp).
constexpr const char* kPeerSignatureHeader = "X-KVS-Peer-Signature";

// [{"id","address","last_seen","joined_timestamp","status"}], the node itself included.
std::string members_json(const std::vector<Member>& members) {
  JsonWriter json;
  json.begin_array();
  for (const auto& member : members) {
    json.begin_object()
        .key("id").string(member.id)
        .key("address").string(member.address)
        .key("last_seen").number(member.last_seen_ms)
        .key("joined_timestamp").number(member.joined_timestamp_ms)
        .key("status").string(to_string(member.status))
        .end_object();
  }
  json.end_array();
  return json.take();
}

// A peer message: verified, decoded and queued by the Node, which answers 202 once queued. The
// signature covers the target exactly as the peer sent it, so the raw target is passed, not the
// decoded one.
void peer_message(Node& node, RequestContext& context, httplib::Response& response) {
  auto answer = node.handle_peer_request(
      {context.method, context.http.target, context.http.body, context.header(kPeerSignatureHeader),
       context.http.remote_addr});
  if (!answer.is_ok()) {
    write_error(response, answer.status());
    return;
  }
  write_json(response, answer->status, std::move(answer->body));
}

}  // namespace

void register_cluster_routes(HttpServer& server, Node& node) {
  auto list = [&node](RequestContext&, httplib::Response& response) {
    write_json(response, 200, members_json(node.members()));
  };
  // Open like /health (SPEC): a plain curl of it checks that a cluster has formed.
  server.add_route({"members", "GET", "/members/", false, false, list});
  server.add_route({"members", "GET", "/members", false, false, list});
  server.add_route({"members_leave", "DELETE", "/members/leave", false, true,
                    [&node](RequestContext& context, httplib::Response& response) {
                      Status left = node.leave({context.caller});
                      if (!left.is_ok()) {
                        write_error(response, left);
                        return;
                      }
                      response.status = 204;
                    }});
  auto peer = [&node](RequestContext& context, httplib::Response& response) { peer_message(node, context, response); };
  server.add_route({"members_join", "POST", "/members/join", false, false, peer});
  server.add_route({"members_gossip", "POST", "/members/gossip", false, false, peer});
}

}  // namespace kvs::server
