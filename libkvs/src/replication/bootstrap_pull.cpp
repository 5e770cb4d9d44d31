#include "replication/bootstrap_pull.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace kvs::replication {

BootstrapPull::BootstrapPull(BootstrapOptions options, BootstrapTime now)
    : options_(std::move(options)),
      next_request_(now),
      answered_at_(now),
      round_backoff_(options_.retry_interval, options_.retry_max) {
  cursor_.timestamp_ms = std::max<std::int64_t>(0, options_.start_ms);
}

void BootstrapPull::on_tick(BootstrapTime now) {
  if (state_ != BootstrapState::kPulling || ticket_ != 0 || now < next_request_) return;
  if (options_.seeds.empty()) {
    state_ = BootstrapState::kGaveUp;
    effects_.events.push_back({BootstrapEvent::Kind::kGaveUp, "", "no seeds", stats_.versions});
    return;
  }
  ticket_ = next_ticket_++;
  effects_.send = SinceRequest{options_.seeds[seed_], cursor_, ticket_};
}

void BootstrapPull::seed_failed(std::string error, BootstrapTime now) {
  ++stats_.seed_failures;
  effects_.events.push_back({BootstrapEvent::Kind::kSeedFailed, options_.seeds[seed_], std::move(error), 0});
  // The next seed starts from the beginning: what the failed one gave is applied already, and
  // applying it again changes nothing.
  cursor_ = SinceCursor{};
  cursor_.timestamp_ms = std::max<std::int64_t>(0, options_.start_ms);
  seed_ += 1;
  next_request_ = now;
  if (seed_ < options_.seeds.size()) return;
  // A round over every seed failed.
  seed_ = 0;
  if (!stats_.rejected && now - answered_at_ >= options_.timeout) {
    state_ = BootstrapState::kGaveUp;
    effects_.events.push_back({BootstrapEvent::Kind::kGaveUp, "", "no seed answered for bootstrap_timeout",
                               stats_.versions});
    return;
  }
  next_request_ = now + round_backoff_.fail(now);
}

void BootstrapPull::on_answer(std::uint64_t ticket, const SinceAnswer& answer, BootstrapTime now) {
  if (state_ != BootstrapState::kPulling || ticket == 0 || ticket != ticket_) return;
  ticket_ = 0;
  const std::string& seed = options_.seeds[seed_];
  if (!answer.answered && !answer.unauthenticated) return seed_failed(answer.error, now);
  if (!answer.answered || answer.status == 401) {
    stats_.rejected = true;
    effects_.events.push_back({BootstrapEvent::Kind::kSignatureRejected, seed,
                               answer.answered ? "HTTP 401" : answer.error, 0});
    return seed_failed("seed " + seed + " rejected this node's peer signature", now);
  }
  if (answer.status != 200) return seed_failed("seed " + seed + " answered " + std::to_string(answer.status), now);
  auto page = decode_versions(answer.body);
  if (!page.is_ok()) return seed_failed(page.status().to_string(), now);
  if (page->next && !page->versions.empty()) {
    const Version& last = page->versions.back();
    if (last.timestamp_ms < cursor_.timestamp_ms ||
        (last.timestamp_ms == cursor_.timestamp_ms && last.path <= cursor_.path)) {
      return seed_failed("seed " + seed + "'s page did not advance", now);
    }
  }
  answered_at_ = now;
  round_backoff_.reset();
  ++stats_.pages;
  for (const auto& version : page->versions) stats_.bytes += version.path.size() + version.data.size();
  stats_.versions += page->versions.size();
  effects_.events.push_back({BootstrapEvent::Kind::kProgress, seed, "", page->versions.size()});
  if (!page->next || page->versions.empty()) {
    state_ = BootstrapState::kDone;
    effects_.events.push_back({BootstrapEvent::Kind::kDone, seed, "", stats_.versions});
  } else {
    cursor_.timestamp_ms = page->versions.back().timestamp_ms;
    cursor_.path = page->versions.back().path;
    next_request_ = now + options_.fetch_delay;
  }
  // Applied before the next request goes: the driver carries out `apply` first.
  std::move(page->versions.begin(), page->versions.end(), std::back_inserter(effects_.apply));
}

BootstrapEffects BootstrapPull::take_effects() {
  BootstrapEffects taken = std::move(effects_);
  effects_ = {};
  return taken;
}

BootstrapTime BootstrapPull::next_wakeup() const {
  if (state_ != BootstrapState::kPulling || ticket_ != 0) return BootstrapTime::max();
  return next_request_;
}

}  // namespace kvs::replication
