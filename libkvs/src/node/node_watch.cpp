// Node's change feed: Node::watch and close_watches, the feed's observer registration, and the
// change log's retention. feed/change_feed.hpp is the feed itself.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "feed/change_feed.hpp"
#include "kvs/log.hpp"
#include "node/node_impl.hpp"

namespace kvs {
namespace {

// Retention: each trim transaction removes at most this many entries, and one call runs at
// most this many of them, so one sweep stays short however far behind retention is; a log
// that grows faster than that is caught up over the following sweeps.
constexpr std::size_t kTrimEntriesPerTxn = 10'000;
constexpr int kTrimTxnsPerCall = 8;

}  // namespace

// Owns the feed (shared with the open Watches) and its keyspace registration. Destroyed
// before the authority and the keyspace: the registration goes first (waiting out a dispatch),
// then shutdown() detaches the store and the permission check from the watches.
struct Node::Impl::Feed final : keyspace::Observer {
  std::shared_ptr<feed::ChangeFeed> feed;
  keyspace::Keyspace::Registration registration;

  void on_change(const keyspace::Change& change) override { feed->on_change(change); }
  ~Feed() override {
    registration = keyspace::Keyspace::Registration();
    feed->shutdown();
  }
};

void Node::Impl::FeedDeleter::operator()(Feed* feed) const noexcept { delete feed; }

void Node::Impl::open_feed() {
  Impl* self = this;
  // A trusted Caller (the embedding application), or any caller with auth off, sees every
  // change; others what they may read. The authority is created later in open, before any
  // watch can exist.
  feed::VisibilityCheck can_see = [self](const Caller& caller, const KeyMeta& meta) {
    return !self->checked(caller) || self->authority->can_read(caller, meta);
  };
  feed::FeedOptions options{config.watch_buffer, config.max_watches};
  auto owner = std::unique_ptr<Feed, FeedDeleter>(new Feed());
  owner->feed = std::make_shared<feed::ChangeFeed>(*store, store->stats().last_sequence, std::move(can_see), options);
  owner->registration = keyspace->observe(*owner);
  feed = std::move(owner);
}

void Node::Impl::trim_change_log() {
  auto info = store->change_log_info();
  if (!info.is_ok()) {
    log(LogLevel::kWarn, "feed.trim_failed", {{"error", info.status().to_string()}});
    return;
  }
  storage::ChangeTrim trim;
  trim.cutoff_ms = now_ms() - config.change_retention.count();
  trim.max_bytes = config.change_retention_bytes;
  trim.limit = kTrimEntriesPerTxn;
  // Most sweeps find nothing to trim: decided from one read, without a write transaction.
  const bool old_entry = info->first_sequence != 0 &&
                         (!info->first_applied_ms || *info->first_applied_ms < trim.cutoff_ms);
  if (!old_entry && info->bytes <= trim.max_bytes) return;
  std::size_t removed = 0;
  for (int round = 0; round < kTrimTxnsPerCall; ++round) {
    auto trimmed = keyspace->trim_changes(trim);
    if (!trimmed.is_ok()) {
      log(LogLevel::kWarn, "feed.trim_failed", {{"error", trimmed.status().to_string()}});
      break;
    }
    removed += *trimmed;
    if (*trimmed < trim.limit) break;
  }
  if (removed > 0) log(LogLevel::kDebug, "feed.trimmed", {{"entries", std::to_string(removed)}});
}

std::string Node::Impl::feed_cursor(std::uint64_t sequence) const { return feed->feed->cursor_of(sequence); }

Node::Impl::WatchCounts Node::Impl::watch_counts() const {
  return WatchCounts{feed->feed->open_watches(), feed->feed->resyncs()};
}

Result<std::unique_ptr<Watch>> Node::watch(const WatchOptions& options) {
  if (!impl_->feed) return Status::unavailable("the change feed is not open");
  auto watch = impl_->feed->feed->watch(impl_->feed->feed, options);
  if (!watch.is_ok()) return watch.status();
  return std::unique_ptr<Watch>(new Watch(std::move(*watch)));
}

void Node::close_watches() {
  if (impl_->feed) impl_->feed->feed->close_all();
}

}  // namespace kvs
