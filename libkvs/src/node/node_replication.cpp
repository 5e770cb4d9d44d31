// kvs::Node: replication (SPEC section 3). The Merkle tree (replication/merkle.hpp) is built
// once at open from a scan and then kept current as an observer of the keyspace, which tells
// it of every commit and purge; local writes are also handed to the push Replicator. The
// AntiEntropyDriver (the thread of the replication::AntiEntropy state machine) repairs whatever
// pushes miss. /sync/bucket (and the push back of a round) read only the keys the tree lists for
// the differing leaves. Peers reach this node through
// Node::handle_peer_request (POST /sync/...).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/peer_transport.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "node/node_access.hpp"
#include "node/node_impl.hpp"
#include "replication/anti_entropy.hpp"
#include "replication/anti_entropy_driver.hpp"
#include "replication/merkle.hpp"
#include "replication/replicator.hpp"
#include "replication/sync_codec.hpp"
#include "util/hex.hpp"

namespace kvs {
namespace {

// A /sync/bucket answer stops adding versions past this many bytes of documents (one version
// always goes, whatever its size).
constexpr std::size_t kBucketPageBytes = std::size_t{1} << 20;

}  // namespace

struct Node::Impl::Replication final : keyspace::Observer {
  replication::MerkleTree tree;
  // Set by start_replication when clustering is on. Both post through the node's transport
  // (borrowed; it outlives `replication`): pushes on its push lane, rounds on its sync lane.
  net::PeerTransport* transport = nullptr;
  std::unique_ptr<replication::Replicator> pusher;
  std::unique_ptr<replication::AntiEntropyDriver> anti_entropy;
  // `pusher` as the writer thread reads it: set once it is ready, after the observer is
  // registered, so it is read without a lock.
  std::atomic<replication::Replicator*> push_to{nullptr};
  keyspace::Keyspace::Registration registration;  // last: unregisters before the rest goes

  // Every commit moves the tree; a local write is also pushed to the peers.
  void on_change(const keyspace::Change& change) override {
    if (change.kind == keyspace::Change::Kind::kPurge) {
      tree.remove(*change.version);
      return;
    }
    if (change.previous != nullptr) {
      tree.replace(*change.previous, *change.version);
    } else {
      tree.add(*change.version);
    }
    if (change.origin != keyspace::Origin::kLocal) return;
    if (replication::Replicator* replicator = push_to.load(std::memory_order_acquire)) {
      replicator->enqueue(*change.version);
    }
  }
};

void Node::Impl::ReplicationDeleter::operator()(Replication* replication) const noexcept {
  if (replication == nullptr) return;
  // No more commits reach it; then the threads. The sync lane closes first, so that a request in
  // flight fails at once rather than at its request timeout.
  replication->registration = {};
  replication->push_to.store(nullptr, std::memory_order_release);
  if (replication->transport != nullptr) replication->transport->close(net::Lane::kSync);
  if (replication->anti_entropy) replication->anti_entropy->stop();
  if (replication->pusher) replication->pusher->stop();
  delete replication;
}

Status Node::Impl::open_replication() {
  replication.reset(new Replication());
  replication::MerkleTree& tree = replication->tree;
  Status scanned = store->scan("", "", [&](const Version& version) {
    tree.add(version);
    return true;
  });
  if (!scanned.is_ok()) return scanned.with_context("building the Merkle tree");
  // Nothing writes before open is over, so no commit falls between the scan and this.
  replication->registration = keyspace->observe(*replication);
  log(LogLevel::kDebug, "replication.merkle_built", {{"keys", std::to_string(tree.keys())}});
  return Status::ok();
}

namespace {

// Members other than this node, alive or suspect (a suspect one may be back any moment; pushes
// to it back off, and its queue is bounded).
std::vector<replication::PeerAddress> peers_of(const cluster::Driver& driver) {
  std::vector<replication::PeerAddress> peers;
  auto snapshot = driver.snapshot();
  for (const auto& member : snapshot.members) {
    if (!member.is_self && !member.address.empty()) peers.push_back({member.id, member.address});
  }
  return peers;
}

}  // namespace

void Node::Impl::start_replication(Node& node) {
  if (!cluster || !replication) return;
  const cluster::Driver* driver = cluster.get();
  auto peers = [driver] { return peers_of(*driver); };

  net::PeerTransport* transport = peer_transport.get();
  replication->transport = transport;
  replication->pusher = std::make_unique<replication::Replicator>(
      replication::ReplicatorOptions{}, replication::ReplicatorHooks{peers, transport, clock});

  replication::AntiEntropyDriverHooks hooks;
  hooks.peers = peers;
  // Signed, and the answers verified, by the transport: only an authentic answer reaches a round.
  hooks.transport = transport;
  hooks.clock = clock;
  hooks.random = random;
  const storage::Store* storage = store;
  hooks.scan = replication::indexed_bucket_scan(replication->tree, [storage](const std::string& path) {
    return storage->get(path);
  });
  Node* owner = &node;
  hooks.apply = [owner](const std::vector<Version>& versions) {
    auto results = owner->apply_versions(versions);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].is_ok()) continue;
      log(LogLevel::kDebug, "anti_entropy.version_refused",
          {{"path", versions[i].path.substr(0, 100)}, {"error", results[i].status().to_string()}});
    }
  };
  hooks.on_round = [this](bool ok) { count_anti_entropy_round(ok); };

  replication::AntiEntropyOptions options;
  options.sync_interval = config.sync_interval;
  options.catchup_interval = config.catchup_interval;
  options.throttle_delay = config.throttle_delay_ms;
  options.fetch_delay = config.fetch_delay_ms;
  replication->anti_entropy =
      std::make_unique<replication::AntiEntropyDriver>(options, std::move(hooks), replication->tree);

  replication->pusher->start();
  replication->push_to.store(replication->pusher.get(), std::memory_order_release);
  replication->anti_entropy->start();
}

Node::Impl::ReplicationCounters Node::Impl::replication_counters() const {
  ReplicationCounters counters;
  if (!replication || !replication->pusher) return counters;
  auto stats = replication->pusher->stats();
  counters.queued = stats.queued;
  counters.oldest_queued_ms = stats.oldest_queued_ms;
  return counters;
}


MerkleRoot Node::merkle_root() const {
  MerkleRoot root;
  if (!impl_->replication) return root;
  root.root = util::to_hex(impl_->replication->tree.root());
  root.keys = impl_->replication->tree.keys();
  return root;
}

Result<std::string> detail::NodeAccess::answer_sync(Node& node, std::string_view target, std::string_view body) {
  if (!node.impl_->replication) return Status::unavailable("replication is not open");
  std::string_view path = target.substr(0, target.find('?'));
  replication::MerkleTree& tree = node.impl_->replication->tree;

  if (path == replication::kPushTarget) {
    auto page = replication::decode_versions(body);
    if (!page.is_ok()) return page.status();
    std::size_t applied = 0;
    std::size_t refused = 0;
    // By the order, so a duplicate or a late batch changes nothing; also in read-only mode.
    // The whole batch in one store transaction (apply_versions).
    auto results = node.apply_versions(page->versions);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].is_ok()) {
        ++refused;
        log(LogLevel::kDebug, "replication.version_refused",
            {{"path", page->versions[i].path.substr(0, 100)}, {"error", results[i].status().to_string()}});
      } else if (*results[i]) {
        ++applied;
      }
    }
    return "{\"applied\":" + std::to_string(applied) + ",\"refused\":" + std::to_string(refused) + "}";
  }
  if (path == replication::kSinceTarget) return node.impl_->answer_since(body);
  if (path == peer_protocol::kSyncBranches) {
    replication::MerkleSummary summary;
    // Branches before the root: should a write land in between, the root differs and the
    // caller descends, rather than stopping at a root that no longer matches the branches.
    summary.branches = tree.branches();
    summary.root = tree.root();
    summary.keys = tree.keys();
    return replication::encode_summary(summary);
  }
  if (path == peer_protocol::kSyncLeaves) {
    auto branches = replication::decode_indexes(body, "branches", replication::kBranchCount, replication::kBranchCount);
    if (!branches.is_ok()) return branches.status();
    std::vector<std::vector<replication::Digest>> leaves;
    leaves.reserve(branches->size());
    for (std::size_t branch : *branches) leaves.push_back(tree.leaves(branch));
    return replication::encode_leaves(leaves);
  }
  if (path == peer_protocol::kSyncBucket) {
    std::string after;
    auto buckets = replication::decode_indexes(body, "buckets", replication::kLeafCount, replication::kLeafCount, &after);
    if (!buckets.is_ok()) return buckets.status();
    std::vector<bool> wanted(replication::kLeafCount, false);
    for (std::size_t bucket : *buckets) wanted[bucket] = true;
    const storage::Store* storage = node.impl_->store;
    // Only the keys of the wanted leaves are read (the tree lists them), not the keyspace.
    auto page = replication::bucket_page(
        replication::indexed_bucket_scan(tree, [storage](const std::string& key) { return storage->get(key); }),
        wanted, after, kBucketPageBytes);
    if (!page.is_ok()) return page.status();
    return replication::encode_versions(page->versions, page->next);
  }
  return Status::not_found("no sync target " + std::string(path.substr(0, 100)));
}

Result<std::unique_ptr<replication::AntiEntropy>> detail::NodeAccess::anti_entropy(
    Node& node, replication::AntiEntropyOptions options, Random& random, replication::SyncTime now) {
  if (!node.impl_->replication) return Status::unavailable("replication is not open");
  const storage::Store* storage = node.impl_->store;
  const replication::MerkleTree& tree = node.impl_->replication->tree;
  // As start_replication builds it for the AntiEntropyDriver.
  auto ours = replication::indexed_bucket_scan(tree, [storage](const std::string& path) { return storage->get(path); });
  return std::make_unique<replication::AntiEntropy>(std::move(options), tree, std::move(ours), random, now);
}

}  // namespace kvs
