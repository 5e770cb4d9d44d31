#include "replication/replicator.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "kvs/log.hpp"
#include "replication/sync_codec.hpp"

namespace kvs::replication {

Replicator::Replicator(ReplicatorOptions options, ReplicatorHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

Replicator::~Replicator() { stop(); }

void Replicator::start() {
  MutexLock lock(mutex_);
  if (started_) return;
  started_ = true;
  sender_ = std::thread([this] { run(); });
}

void Replicator::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
  // Fails what is still queued on the lane (those callbacks find stopping_ set) and waits out
  // the callbacks in flight: none runs once this returns.
  if (hooks_.transport != nullptr) hooks_.transport->close(net::Lane::kPush);
}

void Replicator::enqueue(const Version& version) {
  auto shared = std::make_shared<const Version>(version);
  std::size_t bytes = version.data.size() + version.path.size() + 256;
  auto now = std::chrono::steady_clock::now();
  bool wake = false;
  {
    MutexLock lock(mutex_);
    if (stopping_) return;
    for (auto& [id, peer] : peers_) {
      if (peer.entries.size() + 1 > options_.max_queue_versions || peer.bytes + bytes > options_.max_queue_bytes) {
        // Full: drop the whole queue rather than grow or block the writer. Anti-entropy
        // brings the peer up to date; the batch in flight, if any, is forgotten.
        log(LogLevel::kWarn, "replication.queue_overflow",
            {{"peer", id}, {"dropped", std::to_string(peer.entries.size())}});
        peer.entries.clear();
        peer.bytes = 0;
        peer.in_flight = 0;
        ++peer.generation;
        ++counters_.overflows;
        continue;
      }
      peer.entries.push_back(Entry{shared, now, bytes});
      peer.bytes += bytes;
      wake = true;
    }
  }
  if (wake) wake_.notify_one();
}

ReplicatorStats Replicator::stats() const {
  MutexLock lock(mutex_);
  ReplicatorStats stats = counters_;
  stats.queued = 0;
  auto now = std::chrono::steady_clock::now();
  for (const auto& [id, peer] : peers_) {
    stats.queued += peer.entries.size();
    if (!peer.entries.empty()) {
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - peer.entries.front().queued_at).count();
      stats.oldest_queued_ms = std::max<std::int64_t>(stats.oldest_queued_ms, age);
    }
  }
  return stats;
}

void Replicator::refresh_peers() {
  std::vector<PeerAddress> current = hooks_.peers ? hooks_.peers() : std::vector<PeerAddress>{};
  MutexLock lock(mutex_);
  std::set<std::string> seen;
  for (auto& peer : current) {
    seen.insert(peer.id);
    peers_[peer.id].address = std::move(peer.address);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = seen.count(it->first) ? std::next(it) : peers_.erase(it);
  }
}

void Replicator::collect(std::vector<Outgoing>& out, SteadyTime now) {
  for (auto& [id, peer] : peers_) {
    if (peer.in_flight > 0 || peer.entries.empty() || now < peer.next_attempt || peer.address.empty()) continue;
    std::string body = "{\"v\":1,\"versions\":[";
    std::size_t count = 0;
    for (const auto& entry : peer.entries) {
      if (count == options_.max_batch_versions) break;
      if (count > 0 && body.size() + entry.bytes > options_.max_batch_bytes) break;
      if (count > 0) body.push_back(',');
      append_version(body, *entry.version);
      ++count;
    }
    body += "]}";
    peer.in_flight = count;
    Outgoing outgoing;
    outgoing.id = id;
    outgoing.generation = peer.generation;
    outgoing.request.lane = net::Lane::kPush;
    outgoing.request.address = peer.address;
    outgoing.request.node_id = id;  // the transport signs for it
    outgoing.request.path = std::string(kPushTarget);
    outgoing.request.body = std::move(body);
    out.push_back(std::move(outgoing));
  }
}

void Replicator::finish(const std::string& id, std::uint64_t generation, bool delivered, bool give_up) {
  MutexLock lock(mutex_);
  auto it = peers_.find(id);
  if (it == peers_.end() || it->second.generation != generation) return;
  PeerQueue& peer = it->second;
  std::size_t sent = std::min(peer.in_flight, peer.entries.size());
  peer.in_flight = 0;
  if (delivered || give_up) {
    for (std::size_t i = 0; i < sent; ++i) {
      peer.bytes -= peer.entries.front().bytes;
      peer.entries.pop_front();
    }
    if (delivered) counters_.pushed += sent;
    if (peer.failures > 0) unreachable_log_.clear(id);
    peer.failures = 0;
    peer.next_attempt = {};
  } else {
    ++counters_.failed_batches;
    ++peer.failures;
    // The first failure may be a blip; a peer that fails again stays unreachable.
    if (peer.failures >= 2) {
      if (auto unsaid = unreachable_log_.admit(id, std::chrono::steady_clock::now())) {
        log(LogLevel::kWarn, "replication.peer_unreachable",
            {{"peer", id}, {"address", peer.address}, {"failures", std::to_string(peer.failures)},
             {"queued", std::to_string(peer.entries.size())}, {"repeats", std::to_string(*unsaid)}});
      }
    }
    auto delay = options_.retry_min * (1LL << std::min(peer.failures - 1, 16u));
    peer.next_attempt = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(delay, options_.retry_max);
  }
  wake_.notify_one();
}

void Replicator::run() {
  auto next_refresh = std::chrono::steady_clock::now();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_refresh) {
      refresh_peers();
      next_refresh = now + options_.peer_refresh;
    }
    std::vector<Outgoing> outgoing;
    {
      MutexLock lock(mutex_);
      if (stopping_) return;
      collect(outgoing, now);
      if (outgoing.empty()) {
        // Sleep until a write, an answer, a retry deadline or the next member refresh.
        auto until = next_refresh;
        for (const auto& [id, peer] : peers_) {
          if (peer.in_flight == 0 && !peer.entries.empty() && !peer.address.empty()) until = std::min(until, peer.next_attempt);
        }
        lock.wait_until(wake_, until);
        continue;
      }
    }
    for (auto& item : outgoing) {
      std::string id = item.id;
      std::uint64_t generation = item.generation;
      Status posted = hooks_.transport->post(std::move(item.request), [this, id, generation](Result<net::PeerAnswer> answer) {
        if (!answer.is_ok()) {
          finish(id, generation, false, false);
          return;
        }
        long status = answer->status;
        // 400/413: the peer will never take this batch (a malformed or oversized body); drop it
        // and leave the keys to anti-entropy rather than block the queue forever.
        bool permanent = status == 400 || status == 413;
        if (permanent) {
          log(LogLevel::kWarn, "replication.push_refused", {{"peer", id}, {"status", std::to_string(status)}});
        }
        finish(id, generation, status >= 200 && status < 300, permanent);
      });
      if (!posted.is_ok()) finish(id, generation, false, false);
    }
  }
}

}  // namespace kvs::replication
