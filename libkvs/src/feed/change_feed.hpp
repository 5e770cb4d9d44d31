#pragma once

// feed::ChangeFeed: the change feed behind Node::watch (SPEC section 2, "Watch"; kvs/watch.hpp
// is the public side). Every change the node applies has a sequence number and an entry in the
// store's durable change log, written in the change's own transaction (storage/change_log.hpp),
// so the log is the feed's truth; this class adds the live half and the hand-over between them.
//
// How a watch is served, without a gap or a duplicate:
//   1. It subscribes first. Under subscribers_mutex_, which on_change also holds while it
//      queues a change and advances head_, it learns head_: every change after head_ (that
//      matches its prefix) will be queued to it; none up to head_ will.
//   2. Resuming after cursor sequence S <= head_, it replays the log's entries in (S, head_],
//      page by page from its own read transactions, on the consumer's thread. A first entry that
//      is not S + 1 means the log no longer holds what followed S (retention): resync_required.
//   3. Then it serves its queue: changes with sequence > head_, in commit order.
// A consumer's queue holds at most watch_buffer changes. One more and the queue is dropped and
// the watch remembers the last sequence dropped D: in the live phase the consumer then gets
// resync_required at D, and the queue after it (SPEC: a consumer that falls behind gets
// resync_required; memory stays bounded). During a replay nothing is lost that way: the replay
// simply goes on in the log up to D, since the log holds everything the queue dropped.
//
// Filtering: reserved `_` keys and other prefixes are never queued (on the writer thread, which
// finds the watches of a change through an index of their prefixes, so that a commit costs
// nothing per watch it does not match: a thousand idle watches do not slow the writers);
// permissions are checked on the consumer's thread, per event, with the watch's Caller: a
// change is shown when the caller may read its version (for a delete, the version it replaced).
// A change examined but not shown still moves the watch's position past it.
//
// Threading and lifetime: on_change runs on the store's writer thread (a keyspace observer);
// watch(), close_all(), shutdown() and the counters from any thread; each Watch from its
// consumer's thread (close() from any). A Watch shares ownership of the ChangeFeed, so it may
// outlive the Node: shutdown() (when the Node goes) detaches the store and the permission check
// under life_mutex_, after which every watch's next() answers kUnavailable, and destroying a
// Watch stays safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keyspace/keyspace.hpp"
#include "kvs/auth.hpp"
#include "kvs/status.hpp"
#include "kvs/types.hpp"
#include "kvs/watch.hpp"
#include "storage/store.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::feed {

// A cursor's parts. Its text is "<feed id>-<sequence>": the feed id (16 lower-case hex digits,
// random per data directory) and the sequence number as 16 lower-case hex digits, so the
// cursors of one feed sort as their sequences do.
struct Position {
  std::string feed_id;
  std::uint64_t sequence = 0;
};
std::string format_cursor(std::string_view feed_id, std::uint64_t sequence);
// kInvalidArgument when `text` does not have a cursor's shape.
Result<Position> parse_cursor(std::string_view text);

// Whether `caller` may see a change whose version has `meta`. Called on consumer threads.
using VisibilityCheck = std::function<bool(const Caller& caller, const KeyMeta& meta)>;

struct FeedOptions {
  std::size_t watch_buffer = 10000;  // queued changes per watch (watch_buffer)
  std::size_t max_watches = 1024;    // open watches (max_watches)
};

// One change as the live half queues it: built once on the writer thread and shared by every
// watch it is queued to; immutable once queued.
struct LiveEvent {
  std::uint64_t sequence = 0;
  WatchEvent::Type type = WatchEvent::Type::kPut;
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  KeyMeta visibility;
  std::optional<std::string> data;  // a put's document, when a watch it matched wants values
};

// The queue of one watch: on_change fills it, the watch's consumer drains it.
struct Subscriber {
  Subscriber(std::string prefix_in, bool values_in) : prefix(std::move(prefix_in)), values(values_in) {}
  const std::string prefix;
  const bool values;
  // mutex guards the queue, dropped_through and closed; wakeup tells the consumer of each (the
  // consumer waits only with an empty queue, so a change that finds one queued wakes nobody).
  Mutex mutex;
  std::condition_variable wakeup;
  std::deque<std::shared_ptr<const LiveEvent>> queue KVS_GUARDED_BY(mutex);
  std::uint64_t dropped_through KVS_GUARDED_BY(mutex) = 0;  // an overflow dropped changes up to here
  bool closed KVS_GUARDED_BY(mutex) = false;
  // Watch::set_ready_callback: called under `mutex` wherever `wakeup` would wake a waiting
  // consumer (a change into an empty queue) and once on close. Calling it under the lock is
  // what makes clearing it final: once the Watch has cleared it (under the same lock), no call
  // is running or will start, so the consumer may free what the callback points to.
  std::function<void()> ready_callback KVS_GUARDED_BY(mutex);

  // Marks the subscription closed, drops its queue and tells its consumer (both ways).
  // Requires: `mutex` held.
  void close_locked() KVS_REQUIRES(mutex) {
    if (closed) return;
    closed = true;
    queue.clear();
    wakeup.notify_all();
    if (ready_callback) ready_callback();
  }
};

class ChangeFeed {
 public:
  // Requires: `store` outlives the feed or shutdown(), whichever comes first. `head` is the
  // store's last change sequence, with nothing written since it was read.
  ChangeFeed(const storage::Store& store, std::uint64_t head, VisibilityCheck can_see, FeedOptions options);
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // A committed mutation (a keyspace observer's call, on the writer thread): queues it to
  // every watch whose prefix it matches. Quick: a prefix test per watch, one shared event.
  void on_change(const keyspace::Change& change);

  // A new watch (Node::watch). kInvalidArgument for a malformed `since`; kUnavailable when
  // max_watches are open or the feed is closed. Requires: the feed is held by a shared_ptr.
  Result<std::unique_ptr<Watch::Impl>> watch(std::shared_ptr<ChangeFeed> self, const WatchOptions& options);

  // Ends every watch (their next() answers kUnavailable) and refuses new ones. Idempotent.
  void close_all();
  // close_all(), and detaches the store and the permission check: the Node is going. Waits
  // for a consumer reading the log to finish its page.
  void shutdown();

  const std::string& feed_id() const noexcept { return feed_id_; }
  std::string cursor_of(std::uint64_t sequence) const { return format_cursor(feed_id_, sequence); }
  // The last sequence queued to the watches (release-published after the queueing).
  std::uint64_t head() const noexcept { return head_.load(std::memory_order_acquire); }
  std::size_t open_watches() const;
  std::uint64_t resyncs() const noexcept { return resyncs_.load(std::memory_order_relaxed); }

 private:
  friend struct kvs::Watch::Impl;
  void unsubscribe(const Subscriber* subscriber);
  void count_resync() noexcept { resyncs_.fetch_add(1, std::memory_order_relaxed); }

  const std::string feed_id_;
  const FeedOptions options_;

  // life_mutex_ guards the borrowed store and the check: shared by a consumer while it uses
  // them, exclusive for shutdown(). shut_down_ is set first, so that new readers stay away and
  // shutdown() is not starved.
  mutable SharedMutex life_mutex_;
  const storage::Store* store_ KVS_GUARDED_BY(life_mutex_);
  VisibilityCheck can_see_ KVS_GUARDED_BY(life_mutex_);
  std::atomic<bool> shut_down_{false};

  // The watches of one prefix; wanting_values counts those with values set.
  struct PrefixGroup {
    std::vector<Subscriber*> subscribers;
    std::size_t wanting_values = 0;
  };
  // Calls visit(group) for every group whose prefix `path` starts with.
  template <class Visit>
  void for_each_group_of(std::string_view path, Visit&& visit) KVS_REQUIRES(subscribers_mutex_);

  // subscribers_mutex_ guards the subscribers (by prefix), their count and closing_; on_change
  // holds it while it queues a change and publishes head_, so a new subscriber's head is exact.
  mutable Mutex subscribers_mutex_;
  std::map<std::string, PrefixGroup, std::less<>> by_prefix_ KVS_GUARDED_BY(subscribers_mutex_);
  std::size_t subscriber_count_ KVS_GUARDED_BY(subscribers_mutex_) = 0;
  bool closing_ KVS_GUARDED_BY(subscribers_mutex_) = false;
  std::atomic<std::uint64_t> head_;
  std::atomic<std::uint64_t> resyncs_{0};
};

}  // namespace kvs::feed

namespace kvs {

// The state of one Watch: its subscription, and where its consumer stands. Used by one
// consumer thread (close() aside), as Watch says.
struct Watch::Impl {
  Impl(std::shared_ptr<feed::ChangeFeed> feed, std::shared_ptr<feed::Subscriber> subscriber, Caller caller);
  ~Impl();  // unsubscribes

  Result<std::size_t> next(std::vector<WatchEvent>& out, std::size_t max, std::chrono::milliseconds timeout);
  void set_ready_callback(std::function<void()> callback);
  std::string cursor() const { return feed_->cursor_of(position_.load(std::memory_order_acquire)); }
  void close();

  // Set by ChangeFeed::watch before the first next().
  void start_at(std::uint64_t position, std::optional<std::uint64_t> replay_until, bool resync);

 private:
  // One page of the log, (position_, replay_until_], into `out` (at most `room` events).
  Result<std::size_t> replay_page(std::vector<WatchEvent>& out, std::size_t room);
  // Queued changes into `out` (at most `room` events, a resync_required first when the queue
  // overflowed). `drained`: the queue is empty now.
  Result<std::size_t> take_live(std::vector<WatchEvent>& out, std::size_t room, bool& drained);
  void emit_resync(std::vector<WatchEvent>& out);
  bool matches(std::string_view path) const;

  const std::shared_ptr<feed::ChangeFeed> feed_;
  const std::shared_ptr<feed::Subscriber> subscriber_;
  const Caller caller_;
  // The consumer's own state. position_: the last sequence examined (atomic for cursor()).
  std::atomic<std::uint64_t> position_{0};
  std::optional<std::uint64_t> replay_until_;  // set while replaying the log up to it
  bool pending_resync_ = false;                // the next event is resync_required at position_
};

}  // namespace kvs
