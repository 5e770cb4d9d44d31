#pragma once

// cluster::Driver: runs a cluster::Core for real (core.hpp, "What a driver does"). It owns the
// Core, one loop thread that alone touches it, a bounded inbox that other threads post into, and
// borrows the node's net::PeerTransport, whose membership lane carries the Core's outgoing
// messages.
//
// The loop: wait until the Core's next_wakeup() (at most `max_sleep`) or an inbox entry; take
// the whole inbox; feed each entry to the Core (a peer message, a failed send, a leave or join
// command); tick the Core with the monotonic clock; after every input carry out the Effects in
// order: persist the SelfRecord (hooks.persist, durable) before sending anything, then post
// each outbound message (the transport signs it and verifies the answer), then
// publish the events (hooks.notify). The snapshot of the member list that any thread may read
// (snapshot()) is refreshed before events are published and after every loop iteration, so an
// observer woken by an event finds the change in it.
//
// Every message is one-way: a POST that the receiver answers with 2xx once the message is in
// its inbox; replies (join replies, push-pull answers) travel as POSTs of their own. A refused,
// timed-out or non-2xx send is reported to the Core (on_send_failed), which widens a seed's
// back-off; members are judged by heartbeats only.
//
// Bounds: the inbox holds at most `inbox_capacity` peer messages (deliver() answers kUnavailable
// beyond, so the HTTP handler answers 503) and as many failure reports and commands; the
// transport's lane has a fixed worker pool, a bounded queue and connect/request timeouts, so a
// dead peer costs a worker at most its request timeout. stop() is prompt: the loop wakes at
// once, and the membership lane is closed (queued sends failed, not waited for).
//
// Threading: deliver, leave, join, snapshot and stats may be called from any thread. The hooks
// run on the loop thread (persist may block briefly: a durable meta write); notify must
// not call leave() or join(), which wait for the loop. `clock`, `random` and the transport must
// outlive the Driver.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cluster/core.hpp"
#include "cluster/message.hpp"
#include "net/peer_transport.hpp"
#include "kvs/clock.hpp"
#include "kvs/status.hpp"
#include "util/background_thread.hpp"
#include "util/log_limiter.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::cluster {

struct DriverOptions {
  std::size_t inbox_capacity{1024};               // peer messages waiting for the loop; more: kUnavailable
  std::chrono::milliseconds max_sleep{100};       // the loop ticks the Core at least this often
  std::chrono::milliseconds command_timeout{5000};// leave()/join() wait at most this for the loop
  std::chrono::milliseconds leave_timeout{1000};  // leave() then waits at most this for the members' answers
  std::size_t max_effect_rounds{64};              // take_effects() rounds per input (a runaway guard)
  net::PeerTransport* transport = nullptr;        // borrowed, lane kMembership; required
};

struct DriverHooks {
  // Makes the record durable; an error is logged and the sends go ahead (the Core's in-memory
  // state is already ahead of the disk; refusing to talk would not bring the disk back).
  std::function<Status(const SelfRecord&)> persist;
  // A membership change, in the order the Core made them. Optional.
  std::function<void(const MemberEvent&)> notify;
};

// What any thread may read: the member list as of the loop's last iteration.
struct DriverSnapshot {
  std::vector<MemberInfo> members;  // self included, ordered by id
  std::size_t live_member_count = 1;
  bool left = false;                // leave() ran and no join() since
  bool joining = false;             // still looking for a seed that answers
  CoreStats core;
  net::LaneStats transport;        // the membership lane
  std::uint64_t inbox_rejected = 0; // peer messages refused because the inbox was full
};

class Driver {
 public:
  // Requires: self.id and self.address non-empty; hooks.persist and driver_options.transport set.
  Driver(SelfRecord self, ClusterOptions options, const Clock& clock, Random& random, DriverHooks hooks,
         DriverOptions driver_options = {});
  ~Driver();  // stop()
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Starts the loop thread, which starts the Core (joins through the seeds). Once only.
  void start();
  // Stops the loop and closes the membership lane; queued sends are dropped. Idempotent; not
  // from a hook.
  void stop();

  // A decoded, authenticated peer message for the Core. kUnavailable when the inbox is full or
  // the driver is not running (the peer retries at its next round).
  Status deliver(PeerMessage message);

  // Leaves gracefully: the Core tells every member and then runs standalone until join(). Ok
  // once the leave messages are answered or failed, or after leave_timeout (a member that has
  // not heard of it suspects this node as usual); kUnavailable when the driver is not running
  // or the loop did not get to it within command_timeout.
  Status leave(bool remember_peers = false);  // Core::leave's remember_peers

  // Joins (again) through `seeds` (the configured seeds when empty). Ok once the Core has sent
  // its joins; the answer arrives later (watch snapshot() or the notify hook).
  Status join(std::vector<std::string> seeds);

  DriverSnapshot snapshot() const;

 private:
  struct SendFailed {
    std::string address;
  };
  struct LeaveCommand {
    bool remember_peers = false;
  };
  struct JoinCommand {
    std::vector<std::string> seeds;
  };
  using Input = std::variant<PeerMessage, SendFailed, LeaveCommand, JoinCommand>;

  void run();
  void apply(Input& input, TimePoint now);
  void carry_out(TimePoint now);
  void send(Outbound outbound, TimePoint now);
  void report_send_failed(std::string address);
  // A send has completed (answered, or failed): logs what an operator must hear of, counts it.
  void on_sent(const std::string& address, const Result<net::PeerAnswer>& response);
  void publish();
  Status command(Input input);

  Core core_;  // the loop thread's alone once start() ran
  const Clock& clock_;
  DriverHooks hooks_;
  const DriverOptions options_;
  net::PeerTransport& transport_;

  // Lock order: mutex_ before loop_'s own (loop_.stopping() and running() are read under it).
  mutable Mutex mutex_;
  std::condition_variable done_;       // command callers: commands_done_ moved
  std::deque<Input> inbox_ KVS_GUARDED_BY(mutex_);
  std::size_t queued_messages_ KVS_GUARDED_BY(mutex_) = 0;
  std::size_t queued_other_ KVS_GUARDED_BY(mutex_) = 0;
  std::uint64_t commands_posted_ KVS_GUARDED_BY(mutex_) = 0;
  std::uint64_t commands_done_ KVS_GUARDED_BY(mutex_) = 0;
  std::uint64_t inbox_rejected_ KVS_GUARDED_BY(mutex_) = 0;
  std::size_t sends_in_flight_ KVS_GUARDED_BY(mutex_) = 0;  // posted, not yet answered or failed
  std::condition_variable sent_;       // leave(): sends_in_flight_ went down
  // Peers that reject our signature (another cluster_secret), or that do not answer at all.
  util::LogLimiter rejected_log_{std::chrono::seconds(30)};
  util::LogLimiter unreachable_log_{std::chrono::minutes(1)};

  mutable Mutex snapshot_mutex_;
  DriverSnapshot snapshot_ KVS_GUARDED_BY(snapshot_mutex_);

  util::BackgroundThread loop_;  // last: stopped before the members its body uses go
};

}  // namespace kvs::cluster
