#include "sync_routes.hpp"

#include <string>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"

namespace kvs::server {

// The signature covers the target exactly as the peer sent it, so the raw target is passed,
// not the decoded one.
void answer_peer_request(Node& node, RequestContext& context, httplib::Response& response) {
  std::string signature = context.header(std::string(peer_protocol::kSignatureHeader));
  PeerRequest request{context.method, context.http.target, context.http.body, signature, context.http.remote_addr};
  auto answer = node.handle_peer_request(request);
  if (answer.is_ok()) {
    write_json(response, answer->status, std::move(answer->body));
  } else {
    write_error(response, answer.status());
  }
  // Last: the MAC covers the status and the body as they leave.
  for (auto& header : node.peer_answer_headers(request, response.status, response.body)) {
    response.set_header(header.name, header.value);
  }
}

void register_sync_routes(HttpServer& server, Node& node) {
  server.add_route({"sync_merkle_root", "GET", "/sync/merkle/root", false, true,
                    [&node](RequestContext&, httplib::Response& response) {
                      MerkleRoot root = node.merkle_root();
                      JsonWriter json;
                      json.begin_object().key("root").string(root.root).key("keys").number(
                          static_cast<std::int64_t>(root.keys)).end_object();
                      write_json(response, 200, json.take());
                    }});
}

void register_peer_routes(HttpServer& server, Node& node) {
  auto peer = [&node](RequestContext& context, httplib::Response& response) {
    answer_peer_request(node, context, response);
  };
  // Every target of the peer protocol, named after its path ("/sync/merkle/leaves" is route
  // "sync_merkle_leaves" in the metrics).
  for (std::string_view path : peer_protocol::kTargets) {
    std::string name(path.substr(1));
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    server.add_route({name, "POST", std::string(path), false, false, peer});
  }
}

}  // namespace kvs::server
