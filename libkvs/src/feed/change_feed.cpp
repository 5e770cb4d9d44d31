// The change feed: cursors, the live queues, and each watch's replay-then-live consumer.
// change_feed.hpp describes the hand-over and the threading.

#include "feed/change_feed.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "util/hex.hpp"
#include "util/key.hpp"

namespace kvs::feed {
namespace {

constexpr std::size_t kFeedIdDigits = 16;
constexpr std::size_t kSequenceDigits = 16;
constexpr std::size_t kCursorSize = kFeedIdDigits + 1 + kSequenceDigits;

}  // namespace

// A replay reads the log a page at a time, each page in its own short read transaction: at most
// this many entries, and no more once they hold this many bytes (a page holds at least one).
constexpr std::size_t kReplayPageEntries = 256;
constexpr std::size_t kReplayPageBytes = std::size_t{4} << 20;

namespace {

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string format_cursor(std::string_view feed_id, std::uint64_t sequence) {
  char digits[kSequenceDigits + 1];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(sequence));
  std::string out;
  out.reserve(kCursorSize);
  out.append(feed_id);
  out.push_back('-');
  out.append(digits, kSequenceDigits);
  return out;
}

Result<Position> parse_cursor(std::string_view text) {
  if (text.size() != kCursorSize || text[kFeedIdDigits] != '-' || !is_lower_hex(text.substr(0, kFeedIdDigits)) ||
      !is_lower_hex(text.substr(kFeedIdDigits + 1))) {
    return Status::invalid_argument("since is not a change feed cursor (expected 16 hex digits, '-', 16 hex digits)");
  }
  Position position;
  position.feed_id.assign(text.substr(0, kFeedIdDigits));
  for (char c : text.substr(kFeedIdDigits + 1)) {
    position.sequence = position.sequence * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return position;
}

ChangeFeed::ChangeFeed(const storage::Store& store, std::uint64_t head, VisibilityCheck can_see, FeedOptions options)
    : feed_id_(store.feed_id()), options_(options), store_(&store), can_see_(std::move(can_see)), head_(head) {}

// The groups whose prefix is a prefix of `path`, longest first, without a look at the others.
// Invariant: every such prefix not yet visited is a prefix of `limit`. The largest prefix in the
// map that is <= limit is either a prefix of limit (visited; the rest are shorter than it), or
// differs from limit first at some position l: then none longer than l exists, since it would
// sort between that one and limit. So each step shortens limit, and a commit costs about a map
// lookup per matching prefix plus a few, however many watches are open.
template <class Visit>
void ChangeFeed::for_each_group_of(std::string_view path, Visit&& visit) {
  std::string_view limit = path;
  for (;;) {
    auto it = by_prefix_.upper_bound(limit);
    if (it == by_prefix_.begin()) return;
    --it;
    const std::string_view prefix = it->first;
    if (limit.starts_with(prefix)) {
      visit(it->second);
      if (prefix.empty()) return;
      limit = prefix.substr(0, prefix.size() - 1);
    } else {
      const auto differ = std::mismatch(prefix.begin(), prefix.end(), limit.begin(), limit.end()).second;
      limit = limit.substr(0, static_cast<std::size_t>(differ - limit.begin()));
    }
  }
}

void ChangeFeed::on_change(const keyspace::Change& change) {
  // A tombstone purge has no sequence: it is no change to anyone watching.
  if (change.sequence == 0 || change.version == nullptr) return;
  const Version& version = *change.version;
  MutexLock lock(subscribers_mutex_);
  // Which watches want it, decided once, so that the shared event is complete before any
  // consumer can see it.
  std::vector<PrefixGroup*> matched;
  bool wants_data = false;
  if (subscriber_count_ > 0 && !util::is_reserved_path(version.path)) {
    for_each_group_of(version.path, [&](PrefixGroup& group) {
      matched.push_back(&group);
      wants_data = wants_data || group.wanting_values > 0;
    });
  }
  if (!matched.empty()) {
    auto event = std::make_shared<LiveEvent>();
    event->sequence = change.sequence;
    event->path = version.path;
    event->uuid = version.uuid;
    event->timestamp_ms = version.timestamp_ms;
    event->visibility = KeyMeta{version.owner_uuid, version.group_uuid, version.permissions};
    if (change.kind == keyspace::Change::Kind::kPurge) {
      // An expiry: as its change log entry says (storage/tables.cpp), the version's uuid and
      // the moment it expired.
      event->type = WatchEvent::Type::kDelete;
      event->timestamp_ms = version.expires_at_ms.value_or(version.timestamp_ms);
    } else if (version.deleted) {
      event->type = WatchEvent::Type::kDelete;
      // An expiry's tombstone (features/ttl_sweeper.hpp) shows the moment the value expired,
      // as its change log entry does.
      event->timestamp_ms = version.expires_at_ms.value_or(version.timestamp_ms);
      if (change.previous != nullptr) {
        event->visibility = KeyMeta{change.previous->owner_uuid, change.previous->group_uuid,
                                    change.previous->permissions};
      }
    } else {
      event->type = WatchEvent::Type::kPut;
      if (wants_data) event->data = version.data;
    }
    std::shared_ptr<const LiveEvent> shared = std::move(event);
    for (PrefixGroup* group : matched) {
      for (Subscriber* subscriber : group->subscribers) {
        MutexLock queue_lock(subscriber->mutex);
        if (subscriber->closed) continue;
        // The consumer waits only on an empty queue with nothing dropped: otherwise it will
        // find this change without being told.
        const bool waiting = subscriber->queue.empty() && subscriber->dropped_through == 0;
        if (subscriber->queue.size() >= options_.watch_buffer) {
          // Too far behind: what is queued goes, and the consumer is told from where on.
          subscriber->queue.clear();
          subscriber->dropped_through = change.sequence;
        } else {
          subscriber->queue.push_back(shared);
        }
        if (waiting) {
          subscriber->wakeup.notify_all();
          if (subscriber->ready_callback) subscriber->ready_callback();
        }
      }
    }
  }
  head_.store(change.sequence, std::memory_order_release);
}

Result<std::unique_ptr<Watch::Impl>> ChangeFeed::watch(std::shared_ptr<ChangeFeed> self, const WatchOptions& options) {
  std::optional<Position> since;
  if (options.since) {
    auto parsed = parse_cursor(*options.since);
    if (!parsed.is_ok()) return parsed.status();
    since = std::move(*parsed);
  }
  if (shut_down_.load(std::memory_order_acquire)) return Status::unavailable("the node is closing its watches");
  auto subscriber = std::make_shared<Subscriber>(options.prefix, options.values);
  std::uint64_t head = 0;
  {
    MutexLock lock(subscribers_mutex_);
    if (closing_) return Status::unavailable("the node is closing its watches");
    if (subscriber_count_ >= options_.max_watches) {
      return Status::unavailable("max_watches (" + std::to_string(options_.max_watches) + ") watches are open");
    }
    PrefixGroup& group = by_prefix_[subscriber->prefix];
    group.subscribers.push_back(subscriber.get());
    if (subscriber->values) ++group.wanting_values;
    ++subscriber_count_;
    head = head_.load(std::memory_order_relaxed);
  }
  // From here the Impl owns the subscription (its destructor unsubscribes).
  auto impl = std::make_unique<Watch::Impl>(std::move(self), subscriber, options.caller);
  if (!since) {
    impl->start_at(head, std::nullopt, false);
  } else if (since->feed_id != feed_id_) {
    impl->start_at(head, std::nullopt, true);  // another node's, or a wiped or restored data_dir's
  } else if (since->sequence <= head) {
    impl->start_at(since->sequence, head, false);
  } else {
    // Past what has been queued: either committed but not yet queued (a _range cursor read
    // from a snapshot a moment ahead of the observers; the queue brings those changes, and
    // the consumer skips them), or never given out by this feed.
    Result<std::uint64_t> committed = Status::unavailable("the node is closing its watches");
    {
      ReaderLock life(life_mutex_);
      if (store_ != nullptr) committed = store_->committed_sequence();
    }
    if (!committed.is_ok()) return committed.status();
    if (since->sequence <= *committed) {
      impl->start_at(since->sequence, std::nullopt, false);
    } else {
      impl->start_at(head, std::nullopt, true);
    }
  }
  return impl;
}

void ChangeFeed::unsubscribe(const Subscriber* subscriber) {
  MutexLock lock(subscribers_mutex_);
  auto found = by_prefix_.find(subscriber->prefix);
  if (found == by_prefix_.end()) return;
  PrefixGroup& group = found->second;
  auto it = std::find(group.subscribers.begin(), group.subscribers.end(), subscriber);
  if (it == group.subscribers.end()) return;
  group.subscribers.erase(it);
  if (subscriber->values) --group.wanting_values;
  --subscriber_count_;
  if (group.subscribers.empty()) by_prefix_.erase(found);
}

void ChangeFeed::close_all() {
  MutexLock lock(subscribers_mutex_);
  closing_ = true;
  for (auto& [prefix, group] : by_prefix_) {
    for (Subscriber* subscriber : group.subscribers) {
      MutexLock queue_lock(subscriber->mutex);
      subscriber->close_locked();
    }
  }
}

void ChangeFeed::shutdown() {
  shut_down_.store(true, std::memory_order_release);
  {
    WriterLock life(life_mutex_);
    store_ = nullptr;
    can_see_ = nullptr;
  }
  close_all();
}

std::size_t ChangeFeed::open_watches() const {
  MutexLock lock(subscribers_mutex_);
  return subscriber_count_;
}

}  // namespace kvs::feed

namespace kvs {

Watch::Impl::Impl(std::shared_ptr<feed::ChangeFeed> feed, std::shared_ptr<feed::Subscriber> subscriber, Caller caller)
    : feed_(std::move(feed)), subscriber_(std::move(subscriber)), caller_(std::move(caller)) {}

Watch::Impl::~Impl() {
  // First the callback: from here no committer calls into the consumer, which may be freeing
  // what the callback points to once this destructor returns.
  set_ready_callback(nullptr);
  feed_->unsubscribe(subscriber_.get());
}

void Watch::Impl::set_ready_callback(std::function<void()> callback) {
  std::function<void()> previous;
  {
    MutexLock lock(subscriber_->mutex);
    previous = std::exchange(subscriber_->ready_callback, std::move(callback));
  }
  // The old callback's captures are released outside the lock: destroying them may take
  // locks of the consumer's own.
}

void Watch::Impl::start_at(std::uint64_t position, std::optional<std::uint64_t> replay_until, bool resync) {
  position_.store(position, std::memory_order_release);
  if (replay_until && *replay_until > position) replay_until_ = replay_until;
  pending_resync_ = resync;
}

void Watch::Impl::close() {
  MutexLock lock(subscriber_->mutex);
  subscriber_->close_locked();
}

bool Watch::Impl::matches(std::string_view path) const {
  return !util::is_reserved_path(path) && path.starts_with(subscriber_->prefix);
}

void Watch::Impl::emit_resync(std::vector<WatchEvent>& out) {
  WatchEvent event;
  event.type = WatchEvent::Type::kResyncRequired;
  event.cursor = cursor();
  out.push_back(std::move(event));
  feed_->count_resync();
}

// The loop serves, in order: a pending resync_required, the replay, then the queue; it returns
// as soon as it holds events and nothing more is ready, or `max` events, and otherwise waits on
// the queue until `timeout`.
Result<std::size_t> Watch::Impl::next(std::vector<WatchEvent>& out, std::size_t max,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t added = 0;
  for (;;) {
    {
      MutexLock lock(subscriber_->mutex);
      if (subscriber_->closed) {
        if (added > 0) return added;
        return Status::unavailable("the watch is closed");
      }
    }
    if (added >= max) return added;
    if (pending_resync_) {
      pending_resync_ = false;
      emit_resync(out);
      ++added;
      continue;
    }
    if (replay_until_) {
      auto replayed = replay_page(out, max - added);
      if (!replayed.is_ok()) return added > 0 ? Result<std::size_t>(added) : replayed;
      added += *replayed;
      continue;
    }
    bool drained = false;
    auto taken = take_live(out, max - added, drained);
    if (!taken.is_ok()) return added > 0 ? Result<std::size_t>(added) : taken;
    added += *taken;
    if (added > 0 && (drained || added >= max)) return added;
    if (!drained) continue;
    // Nothing ready: wait for the queue, an overflow or a close, until the deadline.
    MutexLock lock(subscriber_->mutex);
    while (!subscriber_->closed && subscriber_->queue.empty() && subscriber_->dropped_through == 0) {
      if (lock.wait_until(subscriber_->wakeup, deadline) == std::cv_status::timeout) break;
    }
    if (!subscriber_->closed && subscriber_->queue.empty() && subscriber_->dropped_through == 0 &&
        std::chrono::steady_clock::now() >= deadline) {
      return std::size_t{0};
    }
  }
}

Result<std::size_t> Watch::Impl::replay_page(std::vector<WatchEvent>& out, std::size_t room) {
  feed::ChangeFeed& feed = *feed_;
  if (feed.shut_down_.load(std::memory_order_acquire)) return Status::unavailable("the node is closing its watches");
  const std::uint64_t until = *replay_until_;
  std::uint64_t position = position_.load(std::memory_order_relaxed);
  std::size_t added = 0;
  {
    ReaderLock life(feed.life_mutex_);
    if (feed.store_ == nullptr) return Status::unavailable("the node is closing its watches");
    auto page = feed.store_->read_changes(position, feed::kReplayPageEntries, feed::kReplayPageBytes,
                                          subscriber_->values ? storage::RecordPart::kAll
                                                              : storage::RecordPart::kMetadata);
    if (!page.is_ok()) return page.status();
    if (page->entries.empty() || page->entries.front().sequence != position + 1) {
      // The log no longer holds the change after `position` (trimmed by retention, or written
      // before the log held events): the consumer is told, and goes on from `until`, or from
      // what an overflow of the queue dropped meanwhile.
      std::uint64_t resume = until;
      {
        MutexLock lock(subscriber_->mutex);
        resume = std::max(resume, std::exchange(subscriber_->dropped_through, 0));
      }
      position_.store(resume, std::memory_order_release);
      replay_until_.reset();
      pending_resync_ = true;
      return added;
    }
    for (storage::ChangeEntry& entry : page->entries) {
      if (entry.sequence > until || added >= room) break;
      position = entry.sequence;
      Version& version = entry.version;
      if (!matches(version.path)) continue;
      if (!feed.can_see_(caller_, KeyMeta{version.owner_uuid, version.group_uuid, version.permissions})) continue;
      WatchEvent event;
      event.type = entry.type == storage::ChangeEntry::Type::kPut ? WatchEvent::Type::kPut : WatchEvent::Type::kDelete;
      event.cursor = feed.cursor_of(entry.sequence);
      event.path = std::move(version.path);
      event.uuid = std::move(version.uuid);
      event.timestamp_ms = version.timestamp_ms;
      if (subscriber_->values && event.type == WatchEvent::Type::kPut) event.data = std::move(version.data);
      out.push_back(std::move(event));
      ++added;
    }
  }
  position_.store(position, std::memory_order_release);
  if (position >= until) {
    // Caught up with the log. When the queue overflowed meanwhile, everything it dropped is in
    // the log too: the replay goes on up to there instead of losing it.
    MutexLock lock(subscriber_->mutex);
    if (subscriber_->dropped_through > position) {
      replay_until_ = subscriber_->dropped_through;
    } else {
      replay_until_.reset();
    }
    subscriber_->dropped_through = 0;
  }
  return added;
}

Result<std::size_t> Watch::Impl::take_live(std::vector<WatchEvent>& out, std::size_t room, bool& drained) {
  feed::ChangeFeed& feed = *feed_;
  // Read before the queue: every change up to `head` that this watch matches is queued by now,
  // so once the queue is drained the position may move up to it.
  const std::uint64_t head = feed.head();
  std::uint64_t dropped = 0;
  std::vector<std::shared_ptr<const feed::LiveEvent>> batch;
  {
    MutexLock lock(subscriber_->mutex);
    if (subscriber_->closed) return Status::unavailable("the watch is closed");
    dropped = std::exchange(subscriber_->dropped_through, 0);
    std::size_t take = dropped != 0 ? room - 1 : room;
    while (!subscriber_->queue.empty() && batch.size() < take) {
      batch.push_back(std::move(subscriber_->queue.front()));
      subscriber_->queue.pop_front();
    }
    drained = subscriber_->queue.empty();
  }
  std::size_t added = 0;
  std::uint64_t position = position_.load(std::memory_order_relaxed);
  if (dropped > position) {
    position_.store(dropped, std::memory_order_release);
    position = dropped;
    emit_resync(out);
    ++added;
  }
  if (!batch.empty()) {
    if (feed.shut_down_.load(std::memory_order_acquire)) return Status::unavailable("the node is closing its watches");
    ReaderLock life(feed.life_mutex_);
    if (!feed.can_see_) return Status::unavailable("the node is closing its watches");
    for (const auto& event : batch) {
      if (event->sequence <= position) continue;  // replayed already, or before a since cursor
      position = event->sequence;
      if (!feed.can_see_(caller_, event->visibility)) continue;
      WatchEvent shown;
      shown.type = event->type;
      shown.cursor = feed.cursor_of(event->sequence);
      shown.path = event->path;
      shown.uuid = event->uuid;
      shown.timestamp_ms = event->timestamp_ms;
      if (subscriber_->values) shown.data = event->data;
      out.push_back(std::move(shown));
      ++added;
    }
  }
  if (drained) position = std::max(position, head);
  position_.store(position, std::memory_order_release);
  return added;
}

// ---- Watch ------------------------------------------------------------------------------------

Watch::Watch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Watch::~Watch() = default;

Result<std::size_t> Watch::next(std::vector<WatchEvent>& out, std::size_t max, std::chrono::milliseconds timeout) {
  if (max == 0) return std::size_t{0};
  try {
    return impl_->next(out, max, timeout);
  } catch (const std::exception& error) {
    return Status::internal(std::string("watch: ") + error.what());
  }
}

void Watch::set_ready_callback(std::function<void()> callback) { impl_->set_ready_callback(std::move(callback)); }

std::string Watch::cursor() const { return impl_->cursor(); }

void Watch::close() { impl_->close(); }

}  // namespace kvs
