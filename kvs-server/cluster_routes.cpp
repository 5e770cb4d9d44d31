#include "cluster_routes.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"

namespace kvs::server {
namespace {

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
  // POST /members/join and /members/gossip: register_peer_routes (sync_routes.hpp).
}

}  // namespace kvs::server
