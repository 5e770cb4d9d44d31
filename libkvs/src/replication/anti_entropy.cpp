#include "replication/anti_entropy.hpp"

#include <algorithm>
#include <utility>

#include "kvs/cluster.hpp"

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

AntiEntropy::AntiEntropy(AntiEntropyOptions options, const MerkleTree& tree, BucketScanFn ours, Random& random,
                         SyncTime now)
    : options_(std::move(options)),
      tree_(tree),
      ours_(std::move(ours)),
      random_(random),
      failures_(options_.retry_min, options_.retry_max),
      next_round_(now + std::min(options_.sync_interval, options_.first_round_max)) {}

void AntiEntropy::set_peers(std::vector<PeerAddress> peers) { peers_ = std::move(peers); }

bool AntiEntropy::start_round(const PeerAddress& peer, SyncTime now) {
  if (step_ != Step::kIdle) return false;
  begin(peer, now);
  return true;
}

void AntiEntropy::begin(const PeerAddress& peer, SyncTime now) {
  peer_ = peer;
  report_ = {};
  branches_.clear();
  buckets_.clear();
  differing_.clear();
  theirs_.clear();
  after_.clear();
  push_next_.reset();
  push_count_ = 0;
  step_ = Step::kBranches;
  next_step_ = now;
}

void AntiEntropy::on_tick(SyncTime now) {
  if (step_ == Step::kIdle) {
    if (now < next_round_) return;
    if (peers_.empty()) {
      next_round_ = now + options_.sync_interval;
      return;
    }
    begin(peers_[static_cast<std::size_t>(random_.next_u64() % peers_.size())], now);
  }
  if (ticket_ != 0 || now < next_step_) return;
  switch (step_) {
    case Step::kIdle:
      return;
    case Step::kBranches:
      return send(peer_protocol::kSyncBranches, "{\"v\":1}");
    case Step::kLeaves:
      return send(peer_protocol::kSyncLeaves, encode_indexes("branches", branches_));
    case Step::kBuckets:
      return send(peer_protocol::kSyncBucket, encode_indexes("buckets", buckets_, after_));
    case Step::kPush:
      return push_next(now);
  }
}

void AntiEntropy::send(std::string_view target, std::string body) {
  ticket_ = next_ticket_++;
  effects_.send = SyncRequest{peer_.id, peer_.address, std::string(target), std::move(body), ticket_};
}

void AntiEntropy::push_next(SyncTime now) {
  // Our pages are read one at a time: at most max_push_bytes of documents are held, and no read
  // of the store spans a request.
  for (;;) {
    auto page = bucket_page(ours_, differing_, after_, options_.max_push_bytes);
    if (!page.is_ok()) return fail(page.status(), now);
    std::vector<Version> batch;
    for (auto& version : page->versions) {
      auto held = theirs_.find(version.path);
      if (held != theirs_.end() && !supersedes(version, held->second)) continue;
      batch.push_back(std::move(version));
    }
    if (!batch.empty()) {
      push_next_ = page->next;
      push_count_ = batch.size();
      return send(kPushTarget, encode_versions(batch));
    }
    if (!page->next) return finish(now);
    after_ = *page->next;
  }
}

void AntiEntropy::on_answer(std::uint64_t ticket, Result<std::string> answer, SyncTime now) {
  if (ticket == 0 || ticket != ticket_) return;
  ticket_ = 0;
  if (!answer.is_ok()) return fail(answer.status(), now);
  switch (step_) {
    case Step::kIdle:
      return;
    case Step::kBranches:
      return on_branches(*answer, now);
    case Step::kLeaves:
      return on_leaves(*answer, now);
    case Step::kBuckets:
      return on_bucket(*answer, now);
    case Step::kPush:
      report_.pushed += push_count_;
      stats_.pushed += push_count_;
      push_count_ = 0;
      if (!push_next_) return finish(now);
      after_ = *push_next_;
      push_next_.reset();
      next_step_ = now + options_.fetch_delay;
      return;
  }
}

void AntiEntropy::on_branches(const std::string& body, SyncTime now) {
  auto summary = decode_summary(body);
  if (!summary.is_ok()) return fail(summary.status(), now);
  if (summary->root == tree_.root()) return finish(now);
  report_.differed = true;
  std::vector<Digest> ours = tree_.branches();
  for (std::size_t b = 0; b < kBranchCount; ++b) {
    if (summary->branches[b] != ours[b]) branches_.push_back(b);
  }
  if (branches_.empty()) return finish(now);  // a write landed between the two reads: next round
  step_ = Step::kLeaves;
  next_step_ = now + options_.throttle_delay;
}

void AntiEntropy::on_leaves(const std::string& body, SyncTime now) {
  auto leaves = decode_leaves(body);
  if (!leaves.is_ok()) return fail(leaves.status(), now);
  if (leaves->size() != branches_.size()) {
    return fail(Status::invalid_argument("peer answered the wrong number of branches"), now);
  }
  differing_.assign(kLeafCount, false);
  for (std::size_t i = 0; i < branches_.size(); ++i) {
    std::vector<Digest> mine = tree_.leaves(branches_[i]);
    for (std::size_t k = 0; k < kFanout; ++k) {
      if ((*leaves)[i][k] != mine[k]) {
        std::size_t bucket = branches_[i] * kFanout + k;
        differing_[bucket] = true;
        buckets_.push_back(bucket);
      }
    }
  }
  report_.buckets = buckets_.size();
  if (buckets_.empty()) return finish(now);
  step_ = Step::kBuckets;
  after_.clear();
  next_step_ = now + options_.fetch_delay;
}

void AntiEntropy::on_bucket(const std::string& body, SyncTime now) {
  auto page = decode_versions(body);
  if (!page.is_ok()) return fail(page.status(), now);
  for (const auto& version : page->versions) {
    if (!after_.empty() && version.path <= after_) return fail(Status::invalid_argument("peer's page went backwards"), now);
  }
  if (page->next && *page->next <= after_) return fail(Status::invalid_argument("peer's page did not advance"), now);
  // Applied by the driver before anything else is sent; what the peer holds is remembered
  // without documents, to decide what to send back.
  for (auto& version : page->versions) {
    ++report_.fetched;
    ++stats_.fetched;
    Version held = version;
    held.data.clear();
    std::string path = held.path;
    theirs_.insert_or_assign(std::move(path), std::move(held));
    effects_.apply.push_back(std::move(version));
  }
  if (page->next) {
    after_ = *page->next;
    next_step_ = now + options_.fetch_delay;
    return;
  }
  step_ = Step::kPush;
  after_.clear();
  next_step_ = now + options_.throttle_delay;
}

void AntiEntropy::finish(SyncTime now) {
  ++stats_.rounds_ok;
  failures_.reset();
  // Behind (or ahead): come back sooner, until a round finds the trees equal.
  next_round_ = now + (report_.differed ? std::min(options_.sync_interval, options_.catchup_interval)
                                        : options_.sync_interval);
  effects_.rounds.push_back(RoundEvent{peer_.id, peer_.address, true, report_, {}});
  step_ = Step::kIdle;
  theirs_.clear();
}

void AntiEntropy::fail(const Status& status, SyncTime now) {
  ++stats_.rounds_failed;
  next_round_ = now + std::min(failures_.fail(now), options_.sync_interval);
  effects_.rounds.push_back(RoundEvent{peer_.id, peer_.address, false, report_, status.to_string()});
  step_ = Step::kIdle;
  theirs_.clear();
}

AntiEntropyEffects AntiEntropy::take_effects() {
  AntiEntropyEffects taken = std::move(effects_);
  effects_ = {};
  return taken;
}

SyncTime AntiEntropy::next_wakeup() const {
  if (step_ == Step::kIdle) return next_round_;
  if (ticket_ != 0) return SyncTime::max();
  return next_step_;
}

}  // namespace kvs::replication
