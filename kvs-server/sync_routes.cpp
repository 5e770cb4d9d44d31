#include "sync_routes.hpp"

#include <string>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"

namespace kvs::server {
namespace {

constexpr const char* kPeerSignatureHeader = "X-KVS-Peer-Signature";

// A signed peer request: one call into the Node; the signature covers the target exactly as
// the peer sent it, so the raw target is passed, not the decoded one.
void sync_request(Node& node, RequestContext& context, httplib::Response& response) {
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

void register_sync_routes(HttpServer& server, Node& node) {
  server.add_route({"sync_merkle_root", "GET", "/sync/merkle/root", false, true,
                    [&node](RequestContext&, httplib::Response& response) {
                      MerkleRoot root = node.merkle_root();
                      JsonWriter json;
                      json.begin_object().key("root").string(root.root).key("keys").number(
                          static_cast<std::int64_t>(root.keys)).end_object();
                      write_json(response, 200, json.take());
                    }});
  auto peer = [&node](RequestContext& context, httplib::Response& response) { sync_request(node, context, response); };
  for (const char* path : {"/sync/push", "/sync/merkle/branches", "/sync/merkle/leaves", "/sync/bucket", "/sync/since"}) {
    std::string name = std::string("sync_") + (path + 6);
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    server.add_route({name, "POST", path, false, false, peer});
  }
}

}  // namespace kvs::server
