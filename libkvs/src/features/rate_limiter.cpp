#include "features/rate_limiter.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <sodium.h>

#include "util/coding.hpp"

namespace kvs::features {
namespace {

// Exact products of a count (< 2^32) and a window in ms (< 2^63) need more than 64 bits.
__extension__ using Wide = unsigned __int128;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string rate_limit_key(std::string_view user_uuid, std::string_view remote_address) {
  if (!user_uuid.empty()) return "user:" + std::string(user_uuid);
  return "addr:" + std::string(remote_address);
}

static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);

RateLimiter::RateLimiter(const RateLimiterOptions& options) : options_(options) {
  if (options_.shard_key) {
    shard_key_ = *options_.shard_key;
  } else {
    // sodium_init is idempotent and thread-safe; randombytes_buf needs it first.
    if (sodium_init() < 0) {
      std::fputs("kvs: libsodium failed to initialise\n", stderr);
      std::abort();
    }
    randombytes_buf(shard_key_.data(), shard_key_.size());
  }
  options_.requests = std::max<std::uint32_t>(options_.requests, 1);
  options_.window = std::max(options_.window, std::chrono::milliseconds(1));
  options_.shards = std::max<std::size_t>(options_.shards, 1);
  options_.max_clients = std::max(options_.max_clients, options_.shards);
  per_shard_cap_ = options_.max_clients / options_.shards;
  shards_.reserve(options_.shards);
  for (std::size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

RateLimiter::~RateLimiter() = default;

std::size_t RateLimiter::shard_of_for_testing(std::string_view client) const {
  unsigned char hash[crypto_shorthash_BYTES];
  crypto_shorthash(hash, reinterpret_cast<const unsigned char*>(client.data()), client.size(), shard_key_.data());
  return static_cast<std::size_t>(util::get_u64_be(std::string_view(reinterpret_cast<const char*>(hash), sizeof hash)) %
                                  shards_.size());
}

RateLimiter::Shard& RateLimiter::shard_for(std::string_view client) { return *shards_[shard_of_for_testing(client)]; }

void RateLimiter::drop_stale(Shard& shard, EntryList& list, std::int64_t window_index) {
  // The list is in least-recently-seen order from the back, so the stalest entries are there:
  // an entry last counted two or more windows ago weighs nothing and is dropped.
  while (!list.empty() && list.back().window_index + 1 < window_index) {
    shard.index.erase(list.back().client);
    list.pop_back();
  }
}

void RateLimiter::place(Shard& shard, EntryList::iterator at, bool throttled) {
  // Splicing moves no node, so `index` and `at` stay valid.
  EntryList& from = at->throttled ? shard.throttled : shard.order;
  EntryList& to = throttled ? shard.throttled : shard.order;
  to.splice(to.begin(), from, at);
  at->throttled = throttled;
}

void RateLimiter::evict_one(Shard& shard) {
  // The unthrottled list's least recently seen entry is the idlest client that can lose its
  // count without being let off a limit; only a shard of throttled clients gives one up.
  EntryList& victims = shard.order.empty() ? shard.throttled : shard.order;
  shard.index.erase(victims.back().client);
  victims.pop_back();
}

RateDecision RateLimiter::check(std::string_view client, std::chrono::steady_clock::time_point now) {
  const std::int64_t window_ms = options_.window.count();
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t index = floor_div(now_ms, window_ms);
  const std::uint32_t limit = options_.requests;

  Shard& shard = shard_for(client);
  MutexLock lock(shard.mutex);
  drop_stale(shard, shard.order, index);
  drop_stale(shard, shard.throttled, index);

  EntryList::iterator at;
  if (auto it = shard.index.find(client); it != shard.index.end()) {
    at = it->second;
  } else {
    if (shard.order.size() + shard.throttled.size() >= per_shard_cap_) evict_one(shard);
    shard.order.push_front(Entry{std::string(client), index, 0, 0, false});
    at = shard.order.begin();
    shard.index.emplace(at->client, at);
  }
  Entry* entry = &*at;

  // Roll the windows forward. A clock that went backwards keeps the newer window's counts.
  if (index == entry->window_index + 1) {
    entry->previous = entry->current;
    entry->current = 0;
    entry->window_index = index;
  } else if (index > entry->window_index + 1) {
    entry->previous = 0;
    entry->current = 0;
    entry->window_index = index;
  }
  const std::int64_t e = std::max<std::int64_t>(0, now_ms - entry->window_index * window_ms);
  const std::int64_t left = std::max<std::int64_t>(0, window_ms - std::min(e, window_ms));

  const Wide w = static_cast<Wide>(window_ms);
  const Wide budget = static_cast<Wide>(limit) * w;               // N * W
  const Wide weighted_previous = static_cast<Wide>(entry->previous) * static_cast<Wide>(left);
  // Allowed iff previous * (W - e) / W + current + 1 <= N, multiplied through by W.
  const Wide needed = weighted_previous + (static_cast<Wide>(entry->current) + 1) * w;

  RateDecision decision;
  decision.limit = limit;
  if (needed <= budget) {
    ++entry->current;
    decision.allowed = true;
    decision.remaining = static_cast<std::uint32_t>((budget - needed) / w);
    place(shard, at, decision.remaining == 0);
    return decision;
  }

  decision.allowed = false;
  decision.remaining = 0;
  // The earliest moment the estimate admits one more request, if no more are counted.
  std::int64_t at_ms = 0;
  const std::int64_t window_start = entry->window_index * window_ms;
  bool found = false;
  if (entry->current + 1 <= limit && entry->previous > 0) {
    // Still in this window, once enough of the previous window has slid out:
    // previous * (W - e') <= (N - 1 - current) * W.
    const Wide room = static_cast<Wide>(limit - 1 - entry->current) * w;
    const Wide max_left = room / static_cast<Wide>(entry->previous);
    const std::int64_t e_needed = window_ms - static_cast<std::int64_t>(std::min<Wide>(max_left, w));
    if (e_needed < window_ms) {
      at_ms = window_start + e_needed;
      found = true;
    }
  }
  if (!found) {
    // In the next window, where this window's count becomes the previous one:
    // current * (W - e') <= (N - 1) * W.
    std::int64_t e_needed = 0;
    if (entry->current > 0) {
      const Wide max_left = static_cast<Wide>(limit - 1) * w / static_cast<Wide>(entry->current);
      e_needed = window_ms - static_cast<std::int64_t>(std::min<Wide>(max_left, w));
    }
    at_ms = window_start + window_ms + e_needed;
  }
  decision.retry_after = std::chrono::milliseconds(std::max<std::int64_t>(1, at_ms - now_ms));
  place(shard, at, true);
  return decision;
}

std::size_t RateLimiter::size() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    MutexLock lock(shard->mutex);
    total += shard->order.size() + shard->throttled.size();
  }
  return total;
}

}  // namespace kvs::features
