#include "replication/push_queues.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "replication/sync_codec.hpp"

namespace kvs::replication {

namespace {

// What a queued version is charged against max_queue_bytes and max_batch_bytes: its document
// and path, plus the other fields of its encoding.
std::size_t charge(const Version& version) { return version.data.size() + version.path.size() + 256; }

}  // namespace

PushQueues::PushQueues(PushOptions options) : options_(std::move(options)) {}

void PushQueues::set_peers(const std::vector<PeerAddress>& peers) {
  std::set<std::string> listed;
  for (const auto& peer : peers) {
    listed.insert(peer.id);
    auto [it, added] = peers_.try_emplace(peer.id);
    if (added) it->second.backoff = Backoff(options_.retry_min, options_.retry_max);
    it->second.address = peer.address;
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = listed.count(it->first) ? std::next(it) : peers_.erase(it);
  }
}

void PushQueues::drop(Peer& peer) {
  peer.entries.clear();
  peer.bytes = 0;
  peer.in_flight = 0;
  peer.ticket = 0;  // the answer to the batch in flight, if any, now counts for nothing
}

void PushQueues::enqueue(const Version& version, PushTime now) {
  if (peers_.empty()) return;
  auto shared = std::make_shared<const Version>(version);
  std::size_t bytes = charge(version);
  for (auto& [id, peer] : peers_) {
    if (peer.entries.size() + 1 > options_.max_queue_versions || peer.bytes + bytes > options_.max_queue_bytes) {
      // Full: drop the whole queue rather than grow or block the writer. Anti-entropy brings
      // the peer up to date.
      effects_.events.push_back({PushEvent::Kind::kOverflow, id, peer.address, peer.entries.size()});
      drop(peer);
      ++counters_.overflows;
      continue;
    }
    peer.entries.push_back(Entry{shared, now, bytes});
    peer.bytes += bytes;
  }
}

void PushQueues::on_answer(const std::string& peer_id, std::uint64_t ticket, PushOutcome outcome, PushTime now) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || ticket == 0 || it->second.ticket != ticket) return;
  Peer& peer = it->second;
  std::size_t sent = std::min(peer.in_flight, peer.entries.size());
  peer.in_flight = 0;
  peer.ticket = 0;
  if (outcome == PushOutcome::kFailed) {
    ++counters_.failed_batches;
    (void)peer.backoff.fail(now);
    // The first failure may be a blip; a peer that fails again is reported.
    if (peer.backoff.failures() >= 2) {
      effects_.events.push_back({PushEvent::Kind::kUnreachable, peer_id, peer.address, peer.backoff.failures()});
    }
    return;
  }
  for (std::size_t i = 0; i < sent; ++i) {
    peer.bytes -= peer.entries.front().bytes;
    peer.entries.pop_front();
  }
  if (outcome == PushOutcome::kDelivered) {
    counters_.pushed += sent;
  } else {
    // The peer will never take this batch (malformed or oversized to it): anti-entropy will
    // carry those keys, rather than the queue stay blocked forever.
    ++counters_.refused_batches;
    effects_.events.push_back({PushEvent::Kind::kRefused, peer_id, peer.address, sent});
  }
  if (peer.backoff.failures() > 0) effects_.events.push_back({PushEvent::Kind::kRecovered, peer_id, peer.address, 0});
  peer.backoff.reset();
}

void PushQueues::on_tick(PushTime now) {
  for (auto& [id, peer] : peers_) {
    if (peer.ticket != 0 || peer.entries.empty() || !peer.backoff.ready(now) || peer.address.empty()) continue;
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
    peer.ticket = next_ticket_++;
    effects_.send.push_back(PushBatch{id, peer.address, peer.ticket, count, std::move(body)});
  }
}

PushEffects PushQueues::take_effects() {
  PushEffects taken = std::move(effects_);
  effects_ = {};
  return taken;
}

PushTime PushQueues::next_wakeup() const {
  PushTime wakeup = PushTime::max();
  for (const auto& [id, peer] : peers_) {
    if (peer.ticket == 0 && !peer.entries.empty() && !peer.address.empty()) wakeup = std::min(wakeup, peer.backoff.ready_at());
  }
  return wakeup;
}

PushStats PushQueues::stats(PushTime now) const {
  PushStats stats = counters_;
  stats.queued = 0;
  stats.oldest_queued_ms = 0;
  for (const auto& [id, peer] : peers_) {
    stats.queued += peer.entries.size();
    if (!peer.entries.empty()) {
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - peer.entries.front().queued_at).count();
      stats.oldest_queued_ms = std::max<std::int64_t>(stats.oldest_queued_ms, age);
    }
  }
  return stats;
}

std::size_t PushQueues::queued(const std::string& peer_id) const {
  auto it = peers_.find(peer_id);
  return it == peers_.end() ? 0 : it->second.entries.size();
}

}  // namespace kvs::replication
