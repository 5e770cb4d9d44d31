#include "ops_routes.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>

#include "json_writer.hpp"
#include "kvs/cluster.hpp"
#include "kvs/log.hpp"
#include "version_lines.hpp"

namespace kvs::server {
namespace {

// Prometheus text exposition format, version 0.0.4.
constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
// GET /admin/export: one JSON object per line.
constexpr const char* kExportContentType = "application/x-ndjson";

// Requests the rate limiter never counts: health and readiness checks, metrics and the member
// list (load balancers and monitoring poll them) and peer traffic (a limited peer would stall
// replication; peers authenticate with the cluster HMAC).
bool exempt_from_rate_limit(const RequestContext& context) {
  const std::string& path = context.target.path;
  if (path == "/health" || path == "/ready" || path == "/metrics") return true;
  if (context.method == "GET" && (path == "/members/" || path == "/members")) return true;
  // Peer-to-peer traffic; DELETE /members/leave and GET /sync/merkle/root are a client's.
  return context.method == "POST" && peer_protocol::is_peer_target(path);
}

void write_backup_info(JsonWriter& json, const BackupInfo& info) {
  json.begin_object()
      .key("path").string(info.path)
      .key("bytes").number(info.bytes)
      .key("created_at").number(info.created_at_ms)
      .key("node_id").string(info.node_id)
      .key("uncompressed_bytes").number(info.uncompressed_bytes);
  if (!info.problem.empty()) json.key("error").string(info.problem);
  json.end_object();
}

// GET /admin/export: the export lines of a snapshot (Node::export_snapshot, a private copy
// of the store), sent in chunks as the client takes them. The snapshot is taken before the
// answer starts, so a refusal or a failed copy is an ordinary error answer; a storage failure
// after the first chunk can only cut the stream short (no final chunk), which a client sees as
// an incomplete transfer rather than as a complete but partial export.
void stream_export(Node& node, RequestContext& context, httplib::Response& response) {
  if (context.http.method == "HEAD") {
    // The headers a GET gets, without the copy of the whole store a GET takes: a monitor or a
    // client that probes the route must not cost a node that much disk and time. httplib
    // sends no body to a HEAD, so the provider never runs.
    if (Status allowed = node.check_export({context.caller}); !allowed.is_ok()) return write_error(response, allowed);
    response.status = 200;
    response.set_chunked_content_provider(kExportContentType, [](std::size_t, httplib::DataSink&) { return false; });
    return;
  }
  auto taken = node.export_snapshot({context.caller});
  if (!taken.is_ok()) return write_error(response, taken.status());
  // Shared by the provider, which httplib may copy; the last copy goes (and deletes the store
  // copy) with the response, however the answer ended.
  auto snapshot = std::shared_ptr<ExportSnapshot>(std::move(*taken));
  response.status = 200;
  response.set_chunked_content_provider(
      kExportContentType,
      [snapshot](std::size_t, httplib::DataSink& sink) {
        constexpr std::size_t kPageVersions = 256;
        std::vector<Version> page;
        auto more = snapshot->next(page, kPageVersions);
        if (!more.is_ok()) {
          log(LogLevel::kError, "export.failed", {{"error", more.status().to_string()}});
          return false;  // httplib drops the connection: the client sees a cut transfer
        }
        std::string chunk;
        for (const Version& version : page) chunk += version_line(version);
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
        if (!*more) sink.done();
        return true;
      });
}

}  // namespace

void write_rate_limited(httplib::Response& response, const RateLimitDecision& decision) {
  // Whole seconds, rounded up, at least 1: a client that waits that long gets through.
  auto ms = decision.retry_after.count();
  std::int64_t seconds = ms <= 0 ? 1 : (ms + 999) / 1000;
  response.set_header("Retry-After", std::to_string(seconds));
  response.set_header("X-RateLimit-Limit", std::to_string(decision.limit));
  response.set_header("X-RateLimit-Remaining", "0");
  write_error(response, Status::rate_limited("more than " + std::to_string(decision.limit) +
                                             " requests per rate_limit_window; retry in " +
                                             std::to_string(seconds) + " s"));
}

void install_rate_limiter(HttpServer& server, Node& node, const Config& config) {
  if (!config.rate_limiting_enabled) return;
  server.add_interceptor([&node](RequestContext& context, httplib::Response& response) {
    if (exempt_from_rate_limit(context)) return false;
    RateLimitDecision decision = node.admit_request(context.caller, context.http.remote_addr);
    if (decision.allowed) return false;
    write_rate_limited(response, decision);
    return true;
  });
}

void register_ops_routes(HttpServer& server, Node& node, const Config& config) {
  install_rate_limiter(server, node, config);

  server.add_response_observer([&node](std::string_view route, const httplib::Request& request,
                                       const httplib::Response& response, std::chrono::microseconds elapsed) {
    // A watch that was answered (a stream, a long poll) lasted as long as its client chose:
    // that is no latency, and would swamp the route's histogram. Counted, not timed.
    if (route == "kv_watch" && response.status == 200) elapsed = std::chrono::microseconds(-1);
    node.record_request(route, request.method, response.status, elapsed);
  });
  server.add_refusal_observer([&node](std::string_view reason) { node.record_connection_refused(reason); });
  server.add_route({"metrics", "GET", "/metrics", false, false, [&node](RequestContext&, httplib::Response& response) {
                      response.status = 200;
                      response.set_content(node.metrics_text(), kPrometheusContentType);
                    }});

  // Present whatever backup_enabled says: an export is not a backup, and an operator without
  // backups needs it the more.
  server.add_route({"admin_export", "GET", "/admin/export", false, true,
                    [&node](RequestContext& context, httplib::Response& response) { stream_export(node, context, response); }});

  if (!config.backup_enabled) return;  // the routes are absent (404), as SPEC wants
  server.add_route({"admin_backup", "POST", "/admin/backup", false, true,
                    [&node](RequestContext& context, httplib::Response& response) {
                      auto taken = node.backup_now({context.caller});
                      if (!taken.is_ok()) return write_error(response, taken.status());
                      JsonWriter json;
                      json.begin_object()
                          .key("path").string(taken->path)
                          .key("bytes").number(taken->bytes)
                          .key("duration_ms").number(taken->duration_ms)
                          .end_object();
                      write_json(response, 201, json.take());
                    }});
  server.add_route({"admin_backups", "GET", "/admin/backups", false, true,
                    [&node](RequestContext& context, httplib::Response& response) {
                      auto listed = node.list_backups({context.caller});
                      if (!listed.is_ok()) return write_error(response, listed.status());
                      JsonWriter json;
                      json.begin_array();
                      for (const auto& info : *listed) write_backup_info(json, info);
                      json.end_array();
                      write_json(response, 200, json.take());
                    }});
}

}  // namespace kvs::server
