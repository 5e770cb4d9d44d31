// kvs::Node: bootstrap (SPEC section 3). A node started with seed_nodes and an empty store,
// that has never finished a bootstrap, starts in mode "syncing": client writes get
// kUnavailable (HTTP 503 with Retry-After) while one thread pulls, from a seed, every version
// no older than bootstrap_max_age_hours through the time index (POST /sync/since, page by
// page, paced by fetch_delay_ms) and applies each page in one store transaction. Then the node
// enters "normal" and records the "bootstrapped" meta flag, so that a restart does not sync
// again. Should no seed answer at all for bootstrap_timeout, the node logs a WARN and enters
// "normal" anyway (a brand-new cluster starting together; anti-entropy repairs it later) rather
// than stay unwritable. A seed that rejects the node's signature (401: another cluster_secret)
// is different: the node logs an ERROR naming cluster_secret at once, stays "syncing" and never
// gives up, for giving up would create an admin of its own and run as a separate cluster that
// nobody asked for.
//
// Onboarding starts earlier, at open: a node with seed_nodes and no secret at all (none
// configured, no <data_dir>/cluster.secret) refuses to start (check_joining_secret).

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <stop_token>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/secret.hpp"
#include "features/audit.hpp"
#include "net/peer_transport.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "node/node_impl.hpp"
#include "replication/sync_codec.hpp"
#include "util/log_limiter.hpp"

namespace kvs {
namespace {

constexpr std::string_view kBootstrappedMetaName = "bootstrapped";
// Between two rounds over the seeds.
constexpr auto kBootstrapRetry = std::chrono::seconds(1);
// A seed that keeps rejecting the signature is reported again this often.
constexpr auto kRejectedReportInterval = std::chrono::seconds(30);
// A /sync/since answer stops adding versions past this many bytes of documents or this many
// versions (one version always goes, whatever its size).
constexpr std::size_t kSincePageBytes = std::size_t{1} << 20;
constexpr std::size_t kSincePageVersions = 1024;

}  // namespace

Status Node::Impl::check_joining_secret() const {
  if (!config.clustering_enabled || config.seed_nodes.empty()) return Status::ok();
  if (config.cluster_secret.find_first_not_of(" \t\r\n") != std::string::npos) return Status::ok();
  auto path = std::filesystem::path(config.data_dir) / std::string(auth::kClusterSecretFileName);
  std::error_code error;
  // A file that cannot even be looked at is reported by the secret's loader, with its reason.
  if (std::filesystem::exists(path, error) || error) return Status::ok();
  return Status::invalid_argument(
      "cluster_secret is not set and " + path.string() +
      " does not exist, but seed_nodes is set: a node that joins a cluster needs the cluster's secret. Copy the "
      "first node's <data_dir>/cluster.secret to " + path.string() +
      " (mode 0600), or set the same cluster_secret (at least 32 bytes) on every node");
}

Status Node::Impl::open_bootstrap() {
  if (!config.clustering_enabled || config.seed_nodes.empty() || offline) return Status::ok();
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
    net::PeerTransport& transport = *peer_transport;
    // Closing (the jthread's stop) closes the bootstrap lane: a pull waiting for its answer
    // fails at once rather than at its request timeout.
    std::stop_callback close_lane(stop, [&transport] { transport.close(net::Lane::kBootstrap); });
    // Waits `delay`; false once the node is closing (the jthread's stop is requested).
    auto pause = [this, &stop](std::chrono::milliseconds delay) {
      std::unique_lock lock(bootstrap_mutex);
      if (delay.count() > 0) bootstrap_wakeup.wait_for(lock, stop, delay, [] { return false; });
      return !stop.stop_requested();
    };

    // When a seed last answered with a page: the give-up counts bootstrap_timeout from there.
    auto answered_at = clock->monotonic_now();
    // Pulls everything from `address`; ok once its last page is applied. kUnauthenticated when
    // the seed rejects the signature.
    auto pull = [&](const std::string& address) -> Status {
      replication::SinceCursor cursor;
      cursor.timestamp_ms = std::max<std::int64_t>(0, now_ms() - config.bootstrap_max_age_hours * 3'600'000);
      for (;;) {
        if (!pause(config.fetch_delay_ms)) return Status::unavailable("stopping");
        net::PeerRequest request;
        request.lane = net::Lane::kBootstrap;
        request.address = address;
        request.path = std::string(replication::kSinceTarget);
        request.body = replication::encode_since(cursor);
        // Signed, and the answer verified, by the transport.
        auto answer = net::post_and_wait(transport, std::move(request));
        if (!answer.is_ok()) return answer.status();
        if (answer->status == 401) {
          return Status::unauthenticated("seed " + address + " rejected this node's peer signature");
        }
        if (answer->status != 200) {
          return Status::unavailable("seed " + address + " answered " + std::to_string(answer->status));
        }
        auto page = replication::decode_versions(answer->body);
        if (!page.is_ok()) return page.status();
        answered_at = clock->monotonic_now();
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

    util::LogLimiter rejected_log(kRejectedReportInterval);
    bool synced = false;
    bool rejected = false;  // by any seed, ever: then the node never gives up
    std::string last_error;
    while (!synced) {
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
        if (pulled.code() != Status::Code::kUnauthenticated) {
          log(LogLevel::kDebug, "bootstrap.seed_failed", {{"seed", seed}, {"error", last_error}});
          continue;
        }
        rejected = true;
        if (auto unsaid = rejected_log.admit(seed, clock->monotonic_now())) {
          log(LogLevel::kError, "bootstrap.signature_rejected",
              {{"seed", seed},
               {"problem", "the seed rejects this node's peer signature: this node's cluster_secret differs from "
                           "the cluster's"},
               {"fix", "copy the first node's <data_dir>/cluster.secret into this node's data_dir (" +
                           config.data_dir + "), or set the same cluster_secret on every node, then restart "
                           "this node; it stays syncing until then"},
               {"repeats", std::to_string(*unsaid)}});
        }
      }
      if (synced) break;
      if (!rejected && clock->monotonic_now() - answered_at >= config.bootstrap_timeout) break;
      if (!pause(std::chrono::duration_cast<std::chrono::milliseconds>(kBootstrapRetry))) return;
    }
    if (synced) {
      if (Status saved = keyspace->put_meta(kBootstrappedMetaName, "1"); !saved.is_ok()) {
        log(LogLevel::kWarn, "bootstrap.flag_not_saved", {{"error", saved.to_string()}});
      }
    } else {
      // Unwritable forever helps nobody: anti-entropy will repair what this node lacks. The
      // flag stays unset, so a restart with a still empty store tries again.
      log(LogLevel::kWarn, "bootstrap.gave_up",
          {{"reason", "no seed answered for bootstrap_timeout"},
           {"bootstrap_timeout_ms", std::to_string(config.bootstrap_timeout.count())}, {"error", last_error},
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
