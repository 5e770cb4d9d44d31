#include "replication/anti_entropy_driver.hpp"

#include <algorithm>
#include <utility>

#include "kvs/log.hpp"

namespace kvs::replication {

namespace {

// The longest the thread sleeps without looking at the time again (a request in flight has no
// wakeup of its own: its answer wakes the thread).
constexpr auto kMaxSleep = std::chrono::seconds(1);

}  // namespace

AntiEntropyDriver::AntiEntropyDriver(AntiEntropyOptions options, AntiEntropyDriverHooks hooks, const MerkleTree& tree)
    : options_(std::move(options)), hooks_(std::move(hooks)), tree_(tree) {}

AntiEntropyDriver::~AntiEntropyDriver() { stop(); }

void AntiEntropyDriver::start() {
  MutexLock lock(mutex_);
  if (rounds_ || thread_.stopping()) return;
  rounds_ = std::make_unique<AntiEntropy>(options_, tree_, hooks_.scan, *hooks_.random, hooks_.clock->monotonic_now());
  thread_.start([this] { run(); });
}

void AntiEntropyDriver::stop() {
  thread_.stop();
  // Fails what is still queued on the lane (its answer is queued for nobody) and waits out the
  // callbacks in flight: none runs once this returns.
  if (hooks_.transport != nullptr) hooks_.transport->close(net::Lane::kSync);
}

void AntiEntropyDriver::answered(std::uint64_t ticket, Result<std::string> answer) {
  {
    MutexLock lock(mutex_);
    if (thread_.stopping()) return;
    answers_.emplace_back(ticket, std::move(answer));
  }
  thread_.wake();
}

void AntiEntropyDriver::run() {
  while (!thread_.stopping()) {
    std::deque<std::pair<std::uint64_t, Result<std::string>>> answers;
    {
      MutexLock lock(mutex_);
      answers.swap(answers_);
    }
    auto now = hooks_.clock->monotonic_now();
    for (auto& [ticket, answer] : answers) rounds_->on_answer(ticket, std::move(answer), now);
    // The member list is read as a round comes due, outside the lock (it has its own).
    if (!rounds_->in_round() && rounds_->next_wakeup() <= now && hooks_.peers) rounds_->set_peers(hooks_.peers());
    rounds_->on_tick(now);
    AntiEntropyEffects effects = rounds_->take_effects();
    if (!effects.empty()) {
      carry_out(std::move(effects));
      continue;
    }
    // Until an answer, the end of a pause or the next round. An answer queued since the swap
    // above has called wake(): the wait then returns at once.
    if (!thread_.wait_until(std::min(rounds_->next_wakeup(), now + kMaxSleep))) return;
  }
}

void AntiEntropyDriver::carry_out(AntiEntropyEffects effects) {
  // 1. Apply the fetched page before anything else is sent.
  if (!effects.apply.empty()) hooks_.apply(effects.apply);
  // 2. Report the rounds that ended.
  for (const auto& round : effects.rounds) {
    if (hooks_.on_round) hooks_.on_round(round.ok);
    if (!round.ok) {
      log(LogLevel::kDebug, "anti_entropy.failed", {{"peer", round.peer_id}, {"error", round.error}});
      continue;
    }
    if (round.report.buckets > 0) {
      log(LogLevel::kInfo, "anti_entropy.repaired",
          {{"peer", round.peer_id}, {"buckets", std::to_string(round.report.buckets)},
           {"fetched", std::to_string(round.report.fetched)}, {"pushed", std::to_string(round.report.pushed)}});
    }
  }
  // 3. Send the next request.
  if (!effects.send) return;
  SyncRequest& send = *effects.send;
  net::PeerRequest request;
  request.lane = net::Lane::kSync;
  request.address = send.address;
  request.node_id = send.peer_id;  // the transport signs for it
  request.path = send.target;
  request.body = std::move(send.body);
  const std::uint64_t ticket = send.ticket;
  std::string address = send.address;
  std::string target = send.target;
  Status posted = hooks_.transport->post(
      std::move(request), [this, ticket, address, target](Result<net::PeerAnswer> answer) {
        // Only an authentic answer gets here as a PeerAnswer: the transport verified it.
        if (!answer.is_ok()) return answered(ticket, answer.status());
        if (Status success = net::expect_success(address, target, *answer); !success.is_ok()) {
          return answered(ticket, success);
        }
        answered(ticket, std::move(answer->body));
      });
  if (!posted.is_ok()) answered(ticket, posted);
}

}  // namespace kvs::replication
