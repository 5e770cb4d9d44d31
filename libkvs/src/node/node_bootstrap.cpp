// kvs::Node: bootstrap (SPEC section 3). A node started with seed_nodes and an empty store,
// that has never finished a bootstrap, starts in mode "syncing": client writes get
// kUnavailable (HTTP 503 with Retry-After) while one thread pulls, from a seed, every version
// no older than bootstrap_max_age_hours through the time index (POST /sync/since, page by
// page, paced by fetch_delay_ms) and applies each page in one store transaction. Then the node
// enters "normal" and records the "bootstrapped" meta flag, so that a restart does not sync
// again. Should no seed answer within kBootstrapDeadline, the node logs it and enters "normal"
// anyway (anti-entropy repairs it later) rather than stay unwritable.

#include <chrono>
#include <memory>
#include <string>
#include <stop_token>
#include <string_view>
#include <utility>
#include <vector>

#include "features/audit.hpp"
#include "http/peer_transport.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "node/node_impl.hpp"
#include "replication/sync_codec.hpp"

namespace kvs {
namespace {

constexpr std::string_view kBootstrappedMetaName = "bootstrapped";
// How long a node stays syncing at most when no seed answers.
constexpr auto kBootstrapDeadline = std::chrono::seconds(30);
// Between two rounds over the seeds.
constexpr auto kBootstrapRetry = std::chrono::seconds(1);
// A /sync/since answer stops adding versions past this many bytes of documents or this many
// versions (one version always goes, whatever its size).
constexpr std::size_t kSincePageBytes = std::size_t{1} << 20;
constexpr std::size_t kSincePageVersions = 1024;

}  // namespace

Status Node::Impl::open_bootstrap() {
  if (!config.clustering_enabled || config.seed_nodes.empty()) return Status::ok();
  auto done = store->get_meta(kBootstrappedMetaName);
  if (!done.is_ok()) return done.status();
  if (done->has_value()) return Status::ok();
  if (store->stats().keys > 0) {
    // Data from before the flag existed, or an import: nothing to bootstrap.
    return keyspace->put_meta(kBootstrappedMetaName, "1");
  }
  syncing.store(true, std::memory_order_release);
  audit_event("system", features::audit_action::kModeChange, "syncing");
  log(LogLevel::kInfo, "bootstrap.syncing",
      {{"seeds", std::to_string(config.seed_nodes.size())},
       {"max_age_hours", std::to_string(config.bootstrap_max_age_hours)}});
  return Status::ok();
}

void Node::Impl::start_bootstrap(Node& node) {
  if (!syncing.load(std::memory_order_acquire)) return;
  bootstrapper = std::jthread([this, &node](std::stop_token stop) {
    http::PeerTransportOptions options;
    options.workers = 1;
    options.connect_timeout = std::chrono::seconds(1);
    options.request_timeout = std::chrono::seconds(5);
    options.max_response_bytes = std::size_t{64} << 20;
    std::unique_ptr<http::PeerTransport> transport = make_peer_transport(options);
    // Waits `delay`; false once the node is closing (the jthread's stop is requested).
    auto pause = [this, &stop](std::chrono::milliseconds delay) {
      std::unique_lock lock(bootstrap_mutex);
      if (delay.count() > 0) bootstrap_wakeup.wait_for(lock, stop, delay, [] { return false; });
      return !stop.stop_requested();
    };

    // Pulls everything from `address`; ok once its last page is applied.
    auto pull = [&](const std::string& address) -> Status {
      replication::SinceCursor cursor;
      cursor.timestamp_ms = std::max<std::int64_t>(0, now_ms() - config.bootstrap_max_age_hours * 3'600'000);
      for (;;) {
        if (!pause(config.fetch_delay_ms)) return Status::unavailable("stopping");
        http::PeerRequest request;
        request.address = address;
        request.path = std::string(replication::kSinceTarget);
        request.body = replication::encode_since(cursor);
        auto answer = transport->post_now(request);  // signed, and the answer verified, by the transport
        if (!answer.is_ok()) return answer.status();
        if (answer->status != 200) {
          return Status::unavailable("seed " + address + " answered " + std::to_string(answer->status));
        }
        auto page = replication::decode_versions(answer->body);
        if (!page.is_ok()) return page.status();
        std::uint64_t bytes = 0;
        for (const auto& version : page->versions) bytes += version.path.size() + version.data.size();
        auto results = node.apply_versions(page->versions);
        for (std::size_t i = 0; i < results.size(); ++i) {
          if (results[i].is_ok()) continue;
          log(LogLevel::kDebug, "bootstrap.version_refused",
              {{"path", page->versions[i].path.substr(0, 100)}, {"error", results[i].status().to_string()}});
        }
        std::uint64_t keys = sync_keys.fetch_add(page->versions.size()) + page->versions.size();
        std::uint64_t total = sync_bytes.fetch_add(bytes) + bytes;
        log(LogLevel::kInfo, "bootstrap.progress",
            {{"seed", address}, {"keys", std::to_string(keys)}, {"bytes", std::to_string(total)}});
        if (!page->next || page->versions.empty()) return Status::ok();
        const Version& last = page->versions.back();
        if (last.timestamp_ms < cursor.timestamp_ms ||
            (last.timestamp_ms == cursor.timestamp_ms && last.path <= cursor.path)) {
          return Status::invalid_argument("seed " + address + "'s page did not advance");
        }
        cursor.timestamp_ms = last.timestamp_ms;
        cursor.path = last.path;
      }
    };

    auto deadline = std::chrono::steady_clock::now() + kBootstrapDeadline;
    bool synced = false;
    std::string last_error;
    while (!synced && std::chrono::steady_clock::now() < deadline) {
      for (const auto& seed : config.seed_nodes) {
        Status pulled = pull(seed);
        if (pulled.is_ok()) {
          synced = true;
          log(LogLevel::kInfo, "bootstrap.done",
              {{"seed", seed}, {"keys", std::to_string(sync_keys.load())},
               {"bytes", std::to_string(sync_bytes.load())}});
          break;
        }
        last_error = pulled.to_string();
        log(LogLevel::kDebug, "bootstrap.seed_failed", {{"seed", seed}, {"error", last_error}});
      }
      if (!synced && !pause(std::chrono::duration_cast<std::chrono::milliseconds>(kBootstrapRetry))) return;
    }
    if (synced) {
      if (Status saved = keyspace->put_meta(kBootstrappedMetaName, "1"); !saved.is_ok()) {
        log(LogLevel::kWarn, "bootstrap.flag_not_saved", {{"error", saved.to_string()}});
      }
    } else {
      // Unwritable forever helps nobody: anti-entropy will repair what this node lacks. The
      // flag stays unset, so a restart with a still empty store tries again.
      log(LogLevel::kWarn, "bootstrap.gave_up",
          {{"after_s", std::to_string(kBootstrapDeadline.count())}, {"error", last_error},
           {"keys", std::to_string(sync_keys.load())}});
    }
    // Users came with the pull when the cluster has any; otherwise this node needs an admin.
    if (Status admin = ensure_admin(); !admin.is_ok()) {
      log(LogLevel::kError, "auth.admin_failed", {{"error", admin.to_string()}});
    }
    syncing.store(false, std::memory_order_release);
    audit_event("system", features::audit_action::kModeChange, config.read_only ? "read-only" : "normal");
  });
}

Result<std::string> Node::Impl::answer_since(std::string_view body) const {
  auto cursor = replication::decode_since(body);
  if (!cursor.is_ok()) return cursor.status();
  std::vector<Version> versions;
  std::optional<std::string> next;
  std::size_t bytes = 0;
  Status scanned = store->scan_since(cursor->timestamp_ms, [&](const Version& version) {
    if (version.timestamp_ms == cursor->timestamp_ms && version.path <= cursor->path) return true;
    if (!versions.empty() && (bytes + version.data.size() > kSincePageBytes || versions.size() >= kSincePageVersions)) {
      next = versions.back().path;
      return false;
    }
    bytes += version.data.size() + version.path.size();
    versions.push_back(version);
    return true;
  });
  if (!scanned.is_ok()) return scanned;
  return replication::encode_versions(versions, next);
}

}  // namespace kvs
