#pragma once

// replication::BootstrapPull: a new node's pull of the cluster's recent versions (SPEC section
// 3, Bootstrap) as a pure state machine, like cluster::Core (STYLE section 4): time and answers
// come in as arguments, the requests to send and the versions to apply come out. The driver is
// the node's bootstrap thread (node_bootstrap.cpp); the simulation drives the same class.
//
// The pull: from the first seed, POST /sync/since with a cursor (timestamp, path) starting at
// now - max_age, page by page (fetch_delay apart), applying each page, until a page says it is
// the last: done. A seed that fails (no answer, an error status, a page that does not advance)
// is left for the next one, which starts again from the first cursor (applying twice changes
// nothing). After a round over every seed without success, the next round starts after a
// back-off (replication/backoff.hpp): retry_interval, doubling per failed round up to retry_max
// (by default equal: a fixed interval); a page starts it over. Two ways out besides success:
// - no seed has answered with a page for `timeout` (counted from the start or the last page):
//   the node gives up (kGaveUp; a brand-new cluster starting together), unless
// - any seed ever rejected this node's signature (a 401, or an answer that does not verify:
//   another cluster_secret): then the node
//   never gives up, for giving up would make it a cluster of its own; it keeps trying, and
//   reports it (kSignatureRejected events).
//
// Single-threaded: the driver serializes every call.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvs/version.hpp"
#include "replication/backoff.hpp"
#include "replication/sync_codec.hpp"

namespace kvs::replication {

using BootstrapTime = std::chrono::steady_clock::time_point;

struct BootstrapOptions {
  std::vector<std::string> seeds;                       // "host:port", tried in this order
  std::int64_t start_ms = 0;                            // the first cursor: now - bootstrap_max_age
  std::chrono::milliseconds timeout{30000};             // bootstrap_timeout
  std::chrono::milliseconds fetch_delay{0};             // fetch_delay_ms, between pages
  std::chrono::milliseconds retry_interval{1000};       // between rounds over the seeds...
  std::chrono::milliseconds retry_max{1000};            // ...doubling per failed round up to this
};

enum class BootstrapState : std::uint8_t { kPulling, kDone, kGaveUp };

// One /sync/since POST to make: encode_since(cursor) to `seed`.
struct SinceRequest {
  std::string seed;
  SinceCursor cursor;
  std::uint64_t ticket = 0;  // hand back to on_answer
};

struct BootstrapEvent {
  enum class Kind : std::uint8_t {
    kProgress,            // a page applied (`versions`, totals in stats())
    kSeedFailed,          // `seed` failed (`error`); the next one is tried
    kSignatureRejected,   // `seed` rejected this node's signature
    kDone,                // every page of `seed` applied
    kGaveUp,              // no seed answered for `timeout`
  };
  Kind kind = Kind::kProgress;
  std::string seed;            // the seed it is about; empty for kGaveUp
  std::string error;           // kSeedFailed, kSignatureRejected, kGaveUp: why
  std::uint64_t versions = 0;  // kProgress: in the page; kDone, kGaveUp: applied in all
};

struct BootstrapEffects {
  std::optional<SinceRequest> send;
  std::vector<Version> apply;           // apply these (one page), before sending anything else
  std::vector<BootstrapEvent> events;

  bool empty() const noexcept { return !send && apply.empty() && events.empty(); }
};

struct BootstrapStats {
  std::uint64_t versions = 0;  // received
  std::uint64_t bytes = 0;     // their path and document bytes
  std::uint64_t pages = 0;
  std::uint64_t seed_failures = 0;
  bool rejected = false;       // a seed rejected the signature
};

// What came back for a request: the HTTP status and body of a verified answer, or no answer.
struct SinceAnswer {
  bool answered = false;         // false: no (verified) answer at all
  bool unauthenticated = false;  // when !answered: an answer came that did not verify (another
                                 // cluster's secret signs the seed's refusals)
  long status = 0;
  std::string body;
  std::string error;             // when !answered: why
};

class BootstrapPull {
 public:
  // Requires: options.seeds non-empty.
  BootstrapPull(BootstrapOptions options, BootstrapTime now);

  // Sends the next request when one is due. Call at next_wakeup() and after every answer.
  void on_tick(BootstrapTime now);
  // The answer to the request with `ticket` (ignored unless it is the one in flight).
  void on_answer(std::uint64_t ticket, const SinceAnswer& answer, BootstrapTime now);

  BootstrapEffects take_effects();
  // When on_tick next has something to do; BootstrapTime::max() while a request is in flight or
  // once the pull is over.
  BootstrapTime next_wakeup() const;

  BootstrapState state() const noexcept { return state_; }
  const BootstrapStats& stats() const noexcept { return stats_; }

 private:
  void seed_failed(std::string error, BootstrapTime now);

  const BootstrapOptions options_;
  BootstrapState state_ = BootstrapState::kPulling;
  std::size_t seed_ = 0;            // the seed being pulled from
  SinceCursor cursor_;
  std::uint64_t ticket_ = 0;        // of the request in flight; 0 when none
  std::uint64_t next_ticket_ = 1;
  BootstrapTime next_request_{};    // when the next request may go
  BootstrapTime answered_at_{};     // start, or the last page: the give-up counts from here
  Backoff round_backoff_;           // between failed rounds over the seeds
  BootstrapEffects effects_;
  BootstrapStats stats_;
};

}  // namespace kvs::replication
