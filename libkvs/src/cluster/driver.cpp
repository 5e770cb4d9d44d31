#include "cluster/driver.hpp"

#include <algorithm>
#include <utility>

#include "kvs/log.hpp"

namespace kvs::cluster {

Driver::Driver(SelfRecord self, ClusterOptions options, const Clock& clock, Random& random, DriverHooks hooks,
               DriverOptions driver_options)
    : core_(std::move(self), std::move(options), random),
      clock_(clock),
      hooks_(std::move(hooks)),
      options_(std::move(driver_options)),
      transport_(*options_.transport) {
  // No thread runs yet: the Core may be read here.
  MutexLock lock(snapshot_mutex_);
  snapshot_.members = core_.members();
  snapshot_.live_member_count = core_.live_member_count();
}

Driver::~Driver() { stop(); }

void Driver::start() { loop_.start([this] { run(); }); }

void Driver::stop() {
  if (loop_.stopping()) return;
  loop_.stop();
  {
    // The loop is gone, and deliver() and report_send_failed() now refuse: nobody takes these.
    // Taking mutex_ also orders the notify below after any command caller's look at
    // loop_.stopping(): one that saw it false is asleep on done_ by now, and hears it.
    MutexLock lock(mutex_);
    inbox_.clear();
    queued_messages_ = 0;
    queued_other_ = 0;
  }
  done_.notify_all();
  // After the loop: no one posts on the lane any more. Closing it fails the queued requests
  // (their callbacks find the loop stopping and drop the report) and waits out those in flight.
  transport_.close(net::Lane::kMembership);
}

Status Driver::deliver(PeerMessage message) {
  {
    MutexLock lock(mutex_);
    if (!loop_.running()) return Status::unavailable("the cluster loop is not running");
    if (queued_messages_ >= options_.inbox_capacity) {
      inbox_rejected_ += 1;
      return Status::unavailable("the cluster inbox is full");
    }
    queued_messages_ += 1;
    inbox_.emplace_back(std::move(message));
  }
  loop_.wake();
  return Status::ok();
}

void Driver::report_send_failed(std::string address) {
  {
    MutexLock lock(mutex_);
    // A lost report only means a seed's back-off does not widen: drop it rather than grow.
    if (loop_.stopping() || queued_other_ >= options_.inbox_capacity) return;
    queued_other_ += 1;
    inbox_.emplace_back(SendFailed{std::move(address)});
  }
  loop_.wake();
}

Status Driver::command(Input input) {
  MutexLock lock(mutex_);
  if (!loop_.running()) return Status::unavailable("the cluster loop is not running");
  if (queued_other_ >= options_.inbox_capacity) return Status::unavailable("the cluster inbox is full");
  queued_other_ += 1;
  inbox_.push_back(std::move(input));
  std::uint64_t ticket = ++commands_posted_;
  loop_.wake();
  // Commands are applied in posting order, so commands_done_ >= ticket means ours ran.
  bool done = lock.wait_for(done_, options_.command_timeout,
                             [&]() KVS_REQUIRES(mutex_) { return loop_.stopping() || commands_done_ >= ticket; });
  if (!done || commands_done_ < ticket) return Status::unavailable("the cluster loop did not answer in time");
  return Status::ok();
}

Status Driver::leave(bool remember_peers) {
  if (Status left = command(LeaveCommand{remember_peers}); !left.is_ok()) return left;
  // The members drop this node when the message arrives: wait for it, briefly, so that a
  // process that exits right after leaving (SIGTERM) does not cancel the messages on its way out.
  MutexLock lock(mutex_);
  (void)lock.wait_for(sent_, options_.leave_timeout,
                      [&]() KVS_REQUIRES(mutex_) { return loop_.stopping() || sends_in_flight_ == 0; });
  return Status::ok();
}

Status Driver::join(std::vector<std::string> seeds) { return command(JoinCommand{std::move(seeds)}); }

DriverSnapshot Driver::snapshot() const {
  DriverSnapshot copy;
  {
    MutexLock lock(snapshot_mutex_);
    copy = snapshot_;
  }
  MutexLock lock(mutex_);
  copy.inbox_rejected = inbox_rejected_;
  return copy;
}

void Driver::run() {
  core_.start(clock_.monotonic_now());
  carry_out(clock_.monotonic_now());
  publish();
  std::deque<Input> batch;
  for (;;) {
    // The Core is the loop's alone, so reading its next wakeup needs no lock.
    TimePoint now = clock_.monotonic_now();
    TimePoint wakeup = core_.next_wakeup();
    Duration sleep = options_.max_sleep;
    if (wakeup <= now) {
      sleep = Duration::zero();
    } else if (wakeup < now + options_.max_sleep) {
      sleep = std::chrono::duration_cast<Duration>(wakeup - now) + Duration(1);
    }
    std::uint64_t commands_in_batch = 0;
    // An entry posted since the last swap has called wake(): the wait then returns at once.
    if (!loop_.wait_for(sleep)) break;
    {
      MutexLock lock(mutex_);
      batch.swap(inbox_);
      queued_messages_ = 0;
      queued_other_ = 0;
    }
    for (auto& input : batch) {
      if (std::holds_alternative<LeaveCommand>(input) || std::holds_alternative<JoinCommand>(input)) {
        commands_in_batch += 1;
      }
      TimePoint at = clock_.monotonic_now();
      apply(input, at);
      carry_out(at);
    }
    batch.clear();
    TimePoint at = clock_.monotonic_now();
    core_.on_tick(at);
    carry_out(at);
    publish();
    if (commands_in_batch > 0) {
      {
        MutexLock lock(mutex_);
        commands_done_ += commands_in_batch;
      }
      done_.notify_all();
    }
  }
}

void Driver::apply(Input& input, TimePoint now) {
  if (auto* message = std::get_if<PeerMessage>(&input)) {
    core_.on_message(*message, now);
  } else if (auto* failed = std::get_if<SendFailed>(&input)) {
    core_.on_send_failed(failed->address, now);
  } else if (auto* leave = std::get_if<LeaveCommand>(&input)) {
    core_.leave(now, leave->remember_peers);
    log(LogLevel::kInfo, "cluster.left", {{"node_id", core_.self().id}});
  } else if (auto* join = std::get_if<JoinCommand>(&input)) {
    core_.join(std::move(join->seeds), now);
    log(LogLevel::kInfo, "cluster.joining", {{"node_id", core_.self().id}});
  }
}

void Driver::carry_out(TimePoint now) {
  for (std::size_t round = 0; round < options_.max_effect_rounds; ++round) {
    Effects effects = core_.take_effects();
    if (effects.empty()) return;
    // 1. Durable before anything leaves the node: a restart must never reuse an incarnation
    //    that peers have already seen.
    if (effects.persist_self) {
      Status persisted = hooks_.persist(*effects.persist_self);
      if (!persisted.is_ok()) {
        log(LogLevel::kError, "cluster.persist_failed", {{"error", persisted.to_string()}});
      }
    }
    // 2. Send. A refused post is reported to the Core at once, which may add effects: the
    //    next round takes them.
    for (auto& outbound : effects.send) send(std::move(outbound), now);
    // 3. Tell observers, once the snapshot shows the change: whoever an event wakes must find
    //    members() agreeing with it.
    if (!effects.notify.empty()) publish();
    for (const auto& event : effects.notify) {
      log(event.kind == MemberEventKind::kSuspect || event.kind == MemberEventKind::kRemoved ? LogLevel::kWarn
                                                                                            : LogLevel::kInfo,
          "cluster.member", {{"event", std::string(member_event_name(event.kind))},
                             {"id", event.member.id},
                             {"address", event.member.address}});
      if (hooks_.notify) hooks_.notify(event);
    }
  }
  log(LogLevel::kWarn, "cluster.effects_capped", {{"rounds", std::to_string(options_.max_effect_rounds)}});
}

void Driver::send(Outbound outbound, TimePoint now) {
  net::PeerRequest request;
  request.lane = net::Lane::kMembership;
  request.address = outbound.address;
  request.path = std::string(peer_path(outbound.message));
  request.body = encode_message(outbound.message);
  std::string address = outbound.address;
  {
    MutexLock lock(mutex_);
    sends_in_flight_ += 1;
  }
  Status posted = transport_.post(std::move(request), [this, address](Result<net::PeerAnswer> response) {
    on_sent(address, response);
    if (response.is_ok() && response->status >= 200 && response->status < 300) return;
    report_send_failed(address);
  });
  if (!posted.is_ok()) {
    {
      MutexLock lock(mutex_);
      sends_in_flight_ -= 1;
    }
    core_.on_send_failed(outbound.address, now);
  }
}

void Driver::on_sent(const std::string& address, const Result<net::PeerAnswer>& response) {
  bool stopping = false;
  {
    MutexLock lock(mutex_);
    sends_in_flight_ -= 1;
    stopping = loop_.stopping();
  }
  sent_.notify_all();
  if (stopping) return;  // the transport fails what is queued at shutdown: nothing to report
  if (response.is_ok() && response->status >= 200 && response->status < 300) {
    unreachable_log_.clear(address);
    rejected_log_.clear(address);
    return;
  }
  std::string error = response.is_ok() ? "HTTP " + std::to_string(response->status) : response.status().to_string();
  if (response.is_ok() && response->status == 401) {
    // SPEC: a node whose peers reject its signature says so, naming the setting to fix.
    if (auto unsaid = rejected_log_.admit(address, clock_.monotonic_now())) {
      log(LogLevel::kError, "cluster.signature_rejected",
          {{"address", address},
           {"problem", "the peer rejects this node's signature: this node's cluster_secret differs from the "
                       "cluster's"},
           {"fix", "copy the first node's <data_dir>/cluster.secret into this node's data_dir, or set the same "
                   "cluster_secret on every node, then restart this node"},
           {"repeats", std::to_string(*unsaid)}});
    }
    return;
  }
  if (!response.is_ok()) {
    if (auto unsaid = unreachable_log_.admit(address, clock_.monotonic_now())) {
      log(LogLevel::kWarn, "cluster.peer_unreachable",
          {{"address", address}, {"error", error}, {"repeats", std::to_string(*unsaid)}});
    }
    return;
  }
  if (log_enabled(LogLevel::kDebug)) log(LogLevel::kDebug, "cluster.send_failed", {{"address", address}, {"error", error}});
}

void Driver::publish() {
  DriverSnapshot next;
  next.members = core_.members();
  next.live_member_count = core_.live_member_count();
  next.left = core_.has_left();
  next.joining = core_.joining();
  next.core = core_.stats();
  next.transport = transport_.stats(net::Lane::kMembership);
  MutexLock lock(snapshot_mutex_);
  snapshot_ = std::move(next);
}

}  // namespace kvs::cluster
