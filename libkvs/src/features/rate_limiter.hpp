#pragma once

// RateLimiter: at most `requests` per `window` for each client key (the token's user, else the
// remote address; the caller builds the key with `rate_limit_key`). It is sans-IO: every call
// takes the current monotonic time as an argument and nothing reads a clock. All methods are
// safe from any thread; the table is split into shards, each behind its own mutex, so requests
// from different clients rarely contend.
//
// Algorithm: sliding-window counter. Time is cut into fixed windows of length W aligned on the
// clock's epoch; per client we keep the count of the current window (c) and of the previous one
// (p). At a moment `e` into the current window the rate estimate is
//     p * (W - e) / W + c
// i.e. the previous window's count weighted by how much of it still overlaps the sliding
// window [now - W, now]. A request is allowed when estimate + 1 <= requests, and then counted.
// It costs a few words per client instead of one timestamp per request (an exact sliding log)
// and gives an exact Retry-After: the moment the estimate next admits one more request. The
// price is the usual approximation: the estimate assumes the previous window's requests were
// spread evenly, so a client that bunches them at the very end of a window may briefly get
// more than N through in some W-long span (never 2N), and one that bunches them at the start
// may wait longer than W (at most 2W, as for N = 1). A client that stays steadily
// below N per W is never refused.
//
// Memory is bounded: at most `max_clients` entries in all. Each shard keeps its entries in two
// least-recently-seen lists: the throttled ones (refused, or with no request left, at their
// last check) and the others. An entry whose two windows have both passed says nothing more
// than a fresh one and is dropped as soon as it reaches the old end of its list. When a shard
// is full, a new client evicts the least recently seen unthrottled client (so an idle one
// before any active one); a throttled client goes only when every entry of the shard is
// throttled. Evicting forgets a count (the client gets a fresh allowance), so a throttled
// client, the one that most wants it, cannot buy its way out by sending distinct keys while
// idle clients remain. The cost is two list moves per throttle change.
//
// Shards are chosen by SipHash-2-4 (libsodium crypto_shorthash) under a key drawn at random
// per limiter, so a client cannot pick keys that all land in one shard to fill it.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/thread_annotations.hpp"

namespace kvs::features {

struct RateLimiterOptions {
  std::uint32_t requests = 100;                          // per client per window; config rate_limit_requests
  std::chrono::milliseconds window{std::chrono::minutes(1)};  // config rate_limit_window
  std::size_t max_clients = 100'000;                      // entries kept at most, all shards together
  std::size_t shards = 16;
  // The SipHash key that picks shards; nullopt (production): random from the OS CSPRNG.
  // Tests set it to get a known shard layout.
  std::optional<std::array<std::uint8_t, 16>> shard_key;
};

struct RateDecision {
  bool allowed = true;
  std::uint32_t limit = 0;                 // the configured requests per window
  std::uint32_t remaining = 0;             // requests still allowed right now (after this one)
  std::chrono::milliseconds retry_after{0};  // when refused: how long until one more is allowed

  // Retry-After header value: whole seconds, rounded up, at least 1. Meaningful when refused.
  std::int64_t retry_after_seconds() const noexcept {
    const auto ms = retry_after.count();
    return ms <= 0 ? 1 : (ms + 999) / 1000;
  }
};

// The client key of a request: "user:<uuid>" when authenticated, else "addr:<remote address>".
std::string rate_limit_key(std::string_view user_uuid, std::string_view remote_address);

class RateLimiter {
 public:
  // Requires: options.requests >= 1, options.window > 0 (the config loader checks both);
  // out-of-range values are clamped to those minimums.
  explicit RateLimiter(const RateLimiterOptions& options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request of `client` at `now` when it is allowed. Refused requests are not
  // counted, so a client that keeps retrying too early is not locked out for longer.
  RateDecision check(std::string_view client, std::chrono::steady_clock::time_point now);

  // Entries currently held (at most options.max_clients).
  std::size_t size() const;
  const RateLimiterOptions& options() const noexcept { return options_; }
  // The shard `client` maps to.
  std::size_t shard_of_for_testing(std::string_view client) const;

 private:
  struct Entry {
    std::string client;
    std::int64_t window_index = 0;   // which window `current` counts
    std::uint32_t current = 0;
    std::uint32_t previous = 0;      // count of window_index - 1
    bool throttled = false;          // in Shard::throttled (refused or none left at last check)
  };
  using EntryList = std::list<Entry>;
  struct Shard {
    Mutex mutex;
    // Guarded by `mutex`. Each list is most recently seen first; an entry is in `throttled`
    // when its `throttled` is set, else in `order`. `index` points into both (splicing never
    // moves a node, so the string_view keys stay valid until their node is erased).
    EntryList order KVS_GUARDED_BY(mutex);
    EntryList throttled KVS_GUARDED_BY(mutex);
    std::unordered_map<std::string_view, EntryList::iterator> index KVS_GUARDED_BY(mutex);
  };

  Shard& shard_for(std::string_view client);
  void drop_stale(Shard& shard, EntryList& list, std::int64_t window_index) KVS_REQUIRES(shard.mutex);
  // Makes room for one more entry in a full shard (see the header comment for whom it evicts).
  void evict_one(Shard& shard) KVS_REQUIRES(shard.mutex);
  // Makes `at` the most recently seen entry of the list `throttled` names.
  void place(Shard& shard, EntryList::iterator at, bool throttled) KVS_REQUIRES(shard.mutex);

  RateLimiterOptions options_;
  std::array<std::uint8_t, 16> shard_key_{};
  std::size_t per_shard_cap_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace kvs::features
