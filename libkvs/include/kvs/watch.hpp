#pragma once

// The change feed, in-process (SPEC section 2, "Watch", and section 6): Node::watch returns a
// Watch that yields, in the order the node applied them, every change under a prefix that the
// caller may read: local writes and deletes, expiries, versions from peers, imports.
//
//   auto watch = node->watch({.prefix = "users/"});
//   std::vector<kvs::WatchEvent> events;
//   while ((*watch)->next(events, 100, std::chrono::seconds(10))) {
//     for (const auto& event : events) { ... }
//     events.clear();
//   }
//
// Events are served from the node's durable change log, so a consumer that stops and comes
// back (after a restart too) resumes after any cursor it was given, with no gap and no
// duplicate, as long as the log still holds the changes after it (change_retention,
// change_retention_bytes). When it does not, or the cursor is another node's (or of a wiped or
// restored data_dir, or ahead of this node), the first event is kResyncRequired, carrying the
// node's current cursor, and the feed goes on from there: a consumer is told, never skipped.
// A consumer that falls more than watch_buffer events behind gets kResyncRequired too; what a
// Watch holds in memory does not grow with a stalled consumer. (A consumer still replaying the
// log after `since` is not told: its replay simply goes on in the log, which lost nothing.)
//
// Lifetime: a Watch may outlive its Node. Once the Node is destroyed, or close_watches() was
// called, next() answers kUnavailable; destroying a Watch is always safe.
//
// A consumer that must not block a thread per watch (an event loop serving many streams) sets
// a ready callback and takes events with a timeout of 0:
//
//   watch->set_ready_callback([loop, id] { loop->post_ready(id); });  // quick, from any thread
//   ... on the loop thread, at start and at each post:
//   next(events, 256, 0ms), again while it returns 256: fewer than max means nothing is left

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvs/auth.hpp"
#include "kvs/export.hpp"
#include "kvs/status.hpp"

namespace kvs {

struct WatchEvent {
  enum class Type { kPut, kDelete, kResyncRequired };
  Type type = Type::kPut;
  // Where this event sits in the feed: passed back as WatchOptions::since, the feed resumes
  // after it. Opaque; increasing on the node that issued it. For kResyncRequired: the node's
  // cursor from which the feed goes on.
  std::string cursor;
  // For kPut and kDelete: the key, and the version's own uuid and timestamp: for a delete the
  // tombstone's; for an expiry (a delete too, sent when the node purges the expired key, within
  // about a second of expires_at) the expired version's uuid, and its expires_at as timestamp.
  // Empty for kResyncRequired.
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  // The document of that version, for a kPut when WatchOptions::values is set.
  std::optional<std::string> data;
};

struct WatchOptions {
  Caller caller;
  // Changes to paths starting with `prefix`; empty: every path. Reserved `_` keys never.
  std::string prefix;
  // Absent: changes from now on. Set: every change after this cursor, then live.
  std::optional<std::string> since;
  // Put events carry the document.
  bool values = false;
};

// One subscription to the change feed. Unsubscribes when destroyed. next() is for one
// consumer thread; close() and set_ready_callback() may be called from any thread.
class KVS_EXPORT Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // Waits until at least one event is ready, `timeout` passes, or the watch is closed, and
  // appends up to `max` events to `out`; returns how many (0 when `timeout` passed first, or
  // `max` is 0). A timeout of 0 takes what is ready without waiting. kUnavailable once close()
  // was called, the node is closing its watches, or the node is gone.
  Result<std::size_t> next(std::vector<WatchEvent>& out, std::size_t max, std::chrono::milliseconds timeout);

  // Where the feed stands for this consumer: after the last event next() returned (and past
  // any change it examined but may not show this caller). Before the first next(), the
  // position the watch started from. A consumer resumes from here with WatchOptions::since.
  std::string cursor() const;

  // Ends the watch: a waiting next() returns at once, and every later one with kUnavailable.
  void close();

  // Readiness without a waiting thread. `callback` is called when the watch goes from nothing
  // ready to something ready: for the first change queued after a next() that returned fewer
  // than its `max` (such a next() has taken all that was ready), and once when the watch is
  // closed (close(), Node::close_watches, the Node going). It is not called again for changes
  // that find events still untaken: a consumer that takes `max` and stops must come back by
  // itself. A consumer that falls behind gets its kResyncRequired from the events it takes.
  // A watch may hold events before any change comes (a replay after `since`, a resync), so a
  // consumer calls next() once after setting the callback.
  // The callback runs on the thread that commits the change or closes the watch, under the
  // watch's lock: it must be quick, must not throw, and must not call this Watch; it hands
  // the news to the consumer's thread, which calls next(out, max, 0ms) there.
  // Replaces the previous callback (empty: none). Once this call, or the Watch's destructor,
  // has returned, the previous callback is not running and is never called again: the
  // consumer may then free what it points to. May be called from any thread.
  void set_ready_callback(std::function<void()> callback);

  struct Impl;

 private:
  friend class Node;
  explicit Watch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvs
