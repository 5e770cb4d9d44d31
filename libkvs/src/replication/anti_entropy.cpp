#include "replication/anti_entropy.hpp"

#include <algorithm>
#include <utility>

#include "kvs/cluster.hpp"
#include "kvs/log.hpp"

namespace kvs::replication {

namespace {

// Paths read from the tree per chunk by indexed_bucket_scan (the lock is held while one chunk
// is listed, never while the store is read).
constexpr std::size_t kPathChunk = 256;

}  // namespace

BucketScanFn indexed_bucket_scan(const MerkleTree& tree, GetFn get) {
  return [&tree, get = std::move(get)](const std::vector<bool>& buckets, const std::string& start,
                                       const std::function<bool(const Version&)>& visit) -> Status {
    std::string from = start;
    for (;;) {
      std::vector<std::string> paths = tree.paths(buckets, from, kPathChunk);
      for (const auto& path : paths) {
        auto version = get(path);
        if (!version.is_ok()) return version.status();
        if (!version->has_value()) continue;
        if (!visit(**version)) return Status::ok();
      }
      if (paths.size() < kPathChunk) return Status::ok();
      from = paths.back() + std::string(1, '\0');
    }
  };
}

BucketScanFn filtered_bucket_scan(ScanFn scan) {
  return [scan = std::move(scan)](const std::vector<bool>& buckets, const std::string& start,
                                  const std::function<bool(const Version&)>& visit) -> Status {
    return scan(start, [&](const Version& version) {
      if (!buckets[bucket_of(version.path)]) return true;
      return visit(version);
    });
  };
}

Result<VersionPage> bucket_page(const BucketScanFn& scan, const std::vector<bool>& buckets,
                                const std::string& after, std::size_t max_bytes) {
  VersionPage page;
  std::size_t bytes = 0;
  // Starting at `after` + "\0", the smallest path greater than `after`.
  std::string start = after.empty() ? std::string() : after + std::string(1, '\0');
  Status scanned = scan(buckets, start, [&](const Version& version) {
    if (!page.versions.empty() && bytes + version.data.size() > max_bytes) {
      page.next = page.versions.back().path;
      return false;
    }
    bytes += version.data.size() + version.path.size();
    page.versions.push_back(version);
    return true;
  });
  if (!scanned.is_ok()) return scanned;
  return page;
}

AntiEntropy::AntiEntropy(AntiEntropyOptions options, AntiEntropyHooks hooks, const MerkleTree& tree)
    : options_(std::move(options)), hooks_(std::move(hooks)), tree_(tree) {}

AntiEntropy::~AntiEntropy() { stop(); }

void AntiEntropy::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void AntiEntropy::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool AntiEntropy::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  if (delay.count() > 0) wake_.wait_for(lock, delay, [&] { return stopping_; });
  return !stopping_;
}

void AntiEntropy::run() {
  auto wait = std::min(options_.sync_interval, options_.first_round_max);
  while (pause(wait)) {
    wait = options_.sync_interval;
    auto peers = hooks_.peers();
    if (peers.empty()) continue;
    const PeerAddress& peer = peers[static_cast<std::size_t>(hooks_.random->next_u64() % peers.size())];
    auto report = sync_with(peer.address);
    if (!report.is_ok()) {
      rounds_failed_.fetch_add(1, std::memory_order_relaxed);
      if (hooks_.on_round) hooks_.on_round(false);
      log(LogLevel::kDebug, "anti_entropy.failed", {{"peer", peer.id}, {"error", report.status().to_string()}});
      continue;
    }
    rounds_ok_.fetch_add(1, std::memory_order_relaxed);
    if (hooks_.on_round) hooks_.on_round(true);
    if (report->differed) {
      // Behind (or ahead): come back sooner, until a round finds the trees equal.
      wait = std::min(options_.sync_interval, options_.catchup_interval);
    }
    if (report->buckets > 0) {
      log(LogLevel::kInfo, "anti_entropy.repaired",
          {{"peer", peer.id}, {"buckets", std::to_string(report->buckets)},
           {"fetched", std::to_string(report->fetched)}, {"pushed", std::to_string(report->pushed)}});
    }
  }
}

Result<RoundReport> AntiEntropy::sync_with(const std::string& address) {
  RoundReport report;
  auto answer = hooks_.call(address, peer_protocol::kSyncBranches, "{\"v\":1}");
  if (!answer.is_ok()) return answer.status();
  auto summary = decode_summary(*answer);
  if (!summary.is_ok()) return summary.status();
  if (summary->root == tree_.root()) return report;
  report.differed = true;

  std::vector<Digest> ours = tree_.branches();
  std::vector<std::size_t> branches;
  for (std::size_t b = 0; b < kBranchCount; ++b) {
    if (summary->branches[b] != ours[b]) branches.push_back(b);
  }
  if (branches.empty()) return report;  // a write landed between the two reads: next round
  if (!pause(options_.throttle_delay)) return Status::unavailable("stopping");

  answer = hooks_.call(address, peer_protocol::kSyncLeaves, encode_indexes("branches", branches));
  if (!answer.is_ok()) return answer.status();
  auto leaves = decode_leaves(*answer);
  if (!leaves.is_ok()) return leaves.status();
  if (leaves->size() != branches.size()) return Status::invalid_argument("peer answered the wrong number of branches");
  std::vector<bool> differing(kLeafCount, false);
  std::vector<std::size_t> buckets;
  for (std::size_t i = 0; i < branches.size(); ++i) {
    std::vector<Digest> mine = tree_.leaves(branches[i]);
    for (std::size_t k = 0; k < kFanout; ++k) {
      if ((*leaves)[i][k] != mine[k]) {
        std::size_t bucket = branches[i] * kFanout + k;
        differing[bucket] = true;
        buckets.push_back(bucket);
      }
    }
  }
  report.buckets = buckets.size();
  if (buckets.empty()) return report;

  // Their versions of the differing leaves, page by page; what they hold is remembered
  // without documents, to decide what to send back.
  std::map<std::string, Version> theirs;
  std::string after;
  for (;;) {
    if (!pause(options_.fetch_delay)) return Status::unavailable("stopping");
    answer = hooks_.call(address, peer_protocol::kSyncBucket, encode_indexes("buckets", buckets, after));
    if (!answer.is_ok()) return answer.status();
    auto page = decode_versions(*answer);
    if (!page.is_ok()) return page.status();
    for (const auto& version : page->versions) {
      if (version.path <= after && !after.empty()) return Status::invalid_argument("peer's page went backwards");
    }
    if (hooks_.apply_page) {
      hooks_.apply_page(page->versions);
    } else {
      for (const auto& version : page->versions) hooks_.apply(version);
    }
    for (auto& version : page->versions) {
      ++report.fetched;
      version.data.clear();
      std::string path = version.path;
      theirs.emplace(std::move(path), std::move(version));
    }
    if (!page->next) break;
    if (*page->next <= after) return Status::invalid_argument("peer's page did not advance");
    after = *page->next;
  }

  if (!pause(options_.throttle_delay)) return Status::unavailable("stopping");
  if (Status pushed = push_back(address, differing, theirs, report.pushed); !pushed.is_ok()) return pushed;
  return report;
}

Status AntiEntropy::push_back(const std::string& address, const std::vector<bool>& buckets,
                              const std::map<std::string, Version>& theirs, std::size_t& pushed) {
  // The local scan runs page by page: network I/O never happens inside the scan's read
  // transaction, and at most max_push_bytes of documents are held at once.
  std::string after;
  for (;;) {
    auto page = bucket_page(hooks_.scan, buckets, after, options_.max_push_bytes);
    if (!page.is_ok()) return page.status();
    std::vector<Version> batch;
    for (auto& version : page->versions) {
      auto held = theirs.find(version.path);
      if (held != theirs.end() && !supersedes(version, held->second)) continue;
      batch.push_back(std::move(version));
    }
    if (!batch.empty()) {
      auto answer = hooks_.call(address, kPushTarget, encode_versions(batch));
      if (!answer.is_ok()) return answer.status();
      pushed += batch.size();
    }
    if (!page->next) return Status::ok();
    after = *page->next;
    if (!pause(options_.fetch_delay)) return Status::unavailable("stopping");
  }
}

}  // namespace kvs::replication
