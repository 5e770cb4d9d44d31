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
// The protocol (cursor, seeds, retries, give-up) is replication::BootstrapPull, a pure state
// machine; the thread here only drives it: it applies the pages, logs, and carries the requests
// over the bootstrap lane of the node's peer transport.
//
// Onboarding starts earlier, at open: a node with seed_nodes and no secret at all (none
// configured, no <data_dir>/cluster.secret) refuses to start (check_joining_secret).

#include <algorithm>
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
#include "replication/bootstrap_pull.hpp"
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

    replication::BootstrapOptions options;
    options.seeds = config.seed_nodes;
    options.start_ms = now_ms() - config.bootstrap_max_age_hours * 3'600'000;
    options.timeout = config.bootstrap_timeout;
    options.fetch_delay = config.fetch_delay_ms;
    options.retry_interval = std::chrono::duration_cast<std::chrono::milliseconds>(kBootstrapRetry);
    replication::BootstrapPull pull(options, clock->monotonic_now());
    util::LogLimiter rejected_log(kRejectedReportInterval);
    std::string last_error;
    // Progress and the end report the same running totals.
    auto log_totals = [&pull](std::string_view event, const std::string& seed) {
      log(LogLevel::kInfo, event,
          {{"seed", seed}, {"keys", std::to_string(pull.stats().versions)},
           {"bytes", std::to_string(pull.stats().bytes)}});
    };

    // The driver of the state machine: carry out its effects in order (apply the page, log,
    // then send), feed it each answer, sleep until its next wakeup.
    for (;;) {
      pull.on_tick(clock->monotonic_now());
      replication::BootstrapEffects effects = pull.take_effects();
      if (!effects.apply.empty()) {
        auto results = node.apply_versions(effects.apply);
        for (std::size_t i = 0; i < results.size(); ++i) {
          if (results[i].is_ok()) continue;
          log(LogLevel::kDebug, "bootstrap.version_refused",
              {{"path", effects.apply[i].path.substr(0, 100)}, {"error", results[i].status().to_string()}});
        }
      }
      sync_keys.store(pull.stats().versions);
      sync_bytes.store(pull.stats().bytes);
      for (const auto& event : effects.events) {
        switch (event.kind) {
          case replication::BootstrapEvent::Kind::kProgress:
            log_totals("bootstrap.progress", event.seed);
            break;
          case replication::BootstrapEvent::Kind::kSeedFailed:
            last_error = event.error;
            log(LogLevel::kDebug, "bootstrap.seed_failed", {{"seed", event.seed}, {"error", event.error}});
            break;
          case replication::BootstrapEvent::Kind::kSignatureRejected:
            if (auto unsaid = rejected_log.admit(event.seed, clock->monotonic_now())) {
              log(LogLevel::kError, "bootstrap.signature_rejected",
                  {{"seed", event.seed},
                   {"problem", "the seed rejects this node's peer signature: this node's cluster_secret differs "
                               "from the cluster's"},
                   {"fix", "copy the first node's <data_dir>/cluster.secret into this node's data_dir (" +
                               config.data_dir + "), or set the same cluster_secret on every node, then restart "
                               "this node; it stays syncing until then"},
                   {"repeats", std::to_string(*unsaid)}});
            }
            break;
          case replication::BootstrapEvent::Kind::kDone:
            log_totals("bootstrap.done", event.seed);
            break;
          case replication::BootstrapEvent::Kind::kGaveUp:
            // Unwritable forever helps nobody: anti-entropy will repair what this node lacks.
            // The flag stays unset, so a restart with a still empty store tries again.
            log(LogLevel::kWarn, "bootstrap.gave_up",
                {{"reason", "no seed answered for bootstrap_timeout"},
                 {"bootstrap_timeout_ms", std::to_string(config.bootstrap_timeout.count())}, {"error", last_error},
                 {"keys", std::to_string(pull.stats().versions)}});
            break;
        }
      }
      if (pull.state() != replication::BootstrapState::kPulling) break;
      if (effects.send) {
        net::PeerRequest request;
        request.lane = net::Lane::kBootstrap;
        request.address = effects.send->seed;
        request.path = std::string(replication::kSinceTarget);
        request.body = replication::encode_since(effects.send->cursor);
        // Signed, and the answer verified, by the transport.
        auto answer = net::post_and_wait(transport, std::move(request));
        if (stop.stop_requested()) return;
        replication::SinceAnswer since;
        if (answer.is_ok()) {
          since.answered = true;
          since.status = answer->status;
          since.body = std::move(answer->body);
        } else {
          since.unauthenticated = answer.status().code() == Status::Code::kUnauthenticated;
          since.error = answer.status().to_string();
        }
        pull.on_answer(effects.send->ticket, since, clock->monotonic_now());
        continue;
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(pull.next_wakeup() - clock->monotonic_now());
      if (!pause(std::clamp<std::chrono::milliseconds>(wait, std::chrono::milliseconds(1), kBootstrapRetry))) return;
    }
    if (pull.state() == replication::BootstrapState::kDone) {
      if (Status saved = keyspace->put_meta(kBootstrappedMetaName, "1"); !saved.is_ok()) {
        log(LogLevel::kWarn, "bootstrap.flag_not_saved", {{"error", saved.to_string()}});
      }
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
