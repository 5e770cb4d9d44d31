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
// Memory is bounded: at most `max_clients` entries in all. Each shard keeps its entries in
// least-recently-seen order; an entry whose two windows have both passed says nothing more than
// a fresh one and is dropped as soon as it reaches the old end, and when a shard is full the
// least recently seen client is evicted. Evicting a client that is still active forgets its
// count (it gets a fresh allowance): the price of a hard memory bound under a flood of
// distinct keys, and it only ever errs towards allowing.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
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

 private:
  struct Entry {
    std::string client;
    std::int64_t window_index = 0;   // which window `current` counts
    std::uint32_t current = 0;
    std::uint32_t previous = 0;      // count of window_index - 1
  };
  struct Shard {
    Mutex mutex;
    // Guarded by `mutex`. Most recently seen first; `index` points into it (list nodes never
    // move, so the string_view keys stay valid until their node is erased).
    std::list<Entry> order KVS_GUARDED_BY(mutex);
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index KVS_GUARDED_BY(mutex);
  };

  Shard& shard_for(std::string_view client);
  void drop_stale(Shard& shard, std::int64_t window_index) KVS_REQUIRES(shard.mutex);

  RateLimiterOptions options_;
  std::size_t per_shard_cap_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace kvs::features
