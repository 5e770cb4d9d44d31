#include "replication/replicator.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "kvs/log.hpp"

namespace kvs::replication {

Replicator::Replicator(ReplicatorOptions options, ReplicatorHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)), queues_(options_.push) {}

Replicator::~Replicator() { stop(); }

void Replicator::start() { sender_.start([this] { run(); }); }

void Replicator::stop() {
  sender_.stop();
  // Fails what is still queued on the lane (those answers find the sender stopping) and waits
  // out the callbacks in flight: none runs once this returns.
  if (hooks_.transport != nullptr) hooks_.transport->close(net::Lane::kPush);
}

void Replicator::enqueue(const Version& version) {
  auto now = hooks_.clock->monotonic_now();
  {
    MutexLock lock(mutex_);
    if (sender_.stopping()) return;
    queues_.enqueue(version, now);
  }
  sender_.wake();
}

ReplicatorStats Replicator::stats() const {
  auto now = hooks_.clock->monotonic_now();
  MutexLock lock(mutex_);
  return queues_.stats(now);
}

void Replicator::answered(const std::string& peer_id, std::uint64_t ticket, PushOutcome outcome) {
  auto now = hooks_.clock->monotonic_now();
  {
    MutexLock lock(mutex_);
    if (sender_.stopping()) return;
    queues_.on_answer(peer_id, ticket, outcome, now);
  }
  sender_.wake();
}

void Replicator::run() {
  auto next_refresh = hooks_.clock->monotonic_now();
  while (!sender_.stopping()) {
    auto now = hooks_.clock->monotonic_now();
    std::vector<PeerAddress> peers;
    bool refresh = now >= next_refresh;
    if (refresh) {
      // Read outside the lock: the member list has its own.
      peers = hooks_.peers ? hooks_.peers() : std::vector<PeerAddress>{};
      next_refresh = now + options_.peer_refresh;
    }
    PushEffects effects;
    std::optional<std::chrono::steady_clock::time_point> idle_until;
    {
      MutexLock lock(mutex_);
      if (refresh) queues_.set_peers(peers);
      queues_.on_tick(now);
      effects = queues_.take_effects();
      if (effects.empty()) idle_until = std::min(next_refresh, queues_.next_wakeup());
    }
    if (!idle_until) {
      carry_out(std::move(effects));
      continue;
    }
    // Sleep until a write, an answer, a back-off's end or the next member refresh. A write or
    // an answer since the lock was let go has called wake(): the wait then returns at once.
    if (!sender_.wait_until(*idle_until)) return;
  }
}

void Replicator::carry_out(PushEffects effects) {
  for (const auto& event : effects.events) {
    switch (event.kind) {
      case PushEvent::Kind::kOverflow:
        log(LogLevel::kWarn, "replication.queue_overflow", {{"peer", event.peer_id}, {"dropped", std::to_string(event.count)}});
        break;
      case PushEvent::Kind::kUnreachable:
        if (auto unsaid = unreachable_log_.admit(event.peer_id, hooks_.clock->monotonic_now())) {
          log(LogLevel::kWarn, "replication.peer_unreachable",
              {{"peer", event.peer_id}, {"address", event.address}, {"failures", std::to_string(event.count)},
               {"repeats", std::to_string(*unsaid)}});
        }
        break;
      case PushEvent::Kind::kRefused:
        log(LogLevel::kWarn, "replication.push_refused", {{"peer", event.peer_id}, {"dropped", std::to_string(event.count)}});
        break;
      case PushEvent::Kind::kRecovered:
        unreachable_log_.clear(event.peer_id);
        break;
    }
  }
  for (auto& batch : effects.send) {
    net::PeerRequest request;
    request.lane = net::Lane::kPush;
    request.address = batch.address;
    request.node_id = batch.peer_id;  // the transport signs for it
    request.path = std::string(kPushTarget);
    request.body = std::move(batch.body);
    std::string id = batch.peer_id;
    std::uint64_t ticket = batch.ticket;
    Status posted = hooks_.transport->post(std::move(request), [this, id, ticket](Result<net::PeerAnswer> answer) {
      if (!answer.is_ok()) {
        answered(id, ticket, PushOutcome::kFailed);
        return;
      }
      long status = answer->status;
      // 400/413: the peer will never take this batch (a malformed or oversized body).
      PushOutcome outcome = status >= 200 && status < 300   ? PushOutcome::kDelivered
                            : status == 400 || status == 413 ? PushOutcome::kRefused
                                                             : PushOutcome::kFailed;
      answered(id, ticket, outcome);
    });
    if (!posted.is_ok()) answered(id, ticket, PushOutcome::kFailed);
  }
}

}  // namespace kvs::replication
