#pragma once

// PeerTransport: the real network seam of the cluster driver. It POSTs a body to
// `http://<address><path>` with libcurl and hands the answer to a callback. It knows nothing of
// the cluster Core or of message formats; the caller adds its headers (the peer HMAC signature
// among them).
//
// Bounded by construction: a fixed number of worker threads, each with one reusable curl easy
// handle (keep-alive: a worker reuses its connections to a peer), a bounded queue in front of
// them (a full queue refuses at once with kUnavailable: drop and report, never grow), and a
// connect and a total timeout on every request, so a dead or silent peer holds a worker for at
// most `request_timeout`. CURLOPT_NOSIGNAL is set: timeouts never raise signals in the process.
//
// Threading: post() may be called from any thread. Callbacks run on a worker thread, one at a
// time per worker; they must be short and must not block (typically they post the result into
// the cluster loop's own bounded queue). The destructor aborts the requests in flight, stops
// the workers and fails every queued request with kUnavailable.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kvs/status.hpp"

namespace kvs::http {

struct PeerRequest {
  std::string address;  // "host:port"
  std::string path;     // "/members/gossip"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type: application/json
};

struct PeerResponse {
  long status = 0;  // the HTTP status, whatever it is (the caller judges 4xx/5xx)
  std::string body;
};

struct PeerTransportOptions {
  std::size_t workers = 4;
  std::size_t queue_capacity = 1024;                         // queued requests; more are refused
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{5000};           // the whole request, connect included
  std::size_t max_response_bytes = 16u << 20;                // a longer answer fails the request
};

struct PeerTransportStats {
  std::uint64_t completed = 0;  // got an HTTP response (any status)
  std::uint64_t failed = 0;     // refused, timed out, reset, answer too large
  std::uint64_t dropped = 0;    // refused because the queue was full, or cancelled at shutdown
};

// Called with the response, or kUnavailable (could not connect, timed out, shut down) or
// kIOError (any other transfer error, or an answer over max_response_bytes).
using PeerCallback = std::function<void(Result<PeerResponse>)>;

class PeerTransport {
 public:
  explicit PeerTransport(PeerTransportOptions options = {});
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Queues a POST. Ok: `done` will be called exactly once. kUnavailable: the queue is full or the
  // transport is stopping; the request is dropped and `done` is never called.
  Status post(PeerRequest request, PeerCallback done);

  // Sends a POST on the calling thread with a fresh handle and waits for it (bounded by the same
  // timeouts). For rare one-off calls such as a join at start-up, and for tests.
  Result<PeerResponse> post_now(const PeerRequest& request);

  PeerTransportStats stats() const;

 private:
  struct Job {
    PeerRequest request;
    PeerCallback done;
  };

  void run_worker();
  Result<PeerResponse> perform(void* curl, const PeerRequest& request);

  PeerTransportOptions options_;
  // Set first by the destructor: the requests in flight abort within about a second (curl's
  // progress callback) rather than run to request_timeout, so a node closes promptly even when
  // a peer accepts connections but never answers.
  std::atomic<bool> aborting_{false};
  mutable std::mutex mutex_;
  // Guarded by mutex_:
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  PeerTransportStats stats_;
  // Started in the constructor, joined in the destructor.
  std::vector<std::thread> workers_;
};

}  // namespace kvs::http
