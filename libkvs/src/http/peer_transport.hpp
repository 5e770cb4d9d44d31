#pragma once

// PeerTransport: the one network seam of every peer caller of a node (membership driver, push
// replication, anti-entropy, bootstrap). It POSTs a body to `http(s)://<address><path>` with
// libcurl and hands the answer to a callback. It knows nothing of the cluster Core or of message
// formats, but it alone secures peer traffic, through the node's PeerSecurity:
//
// - Every request is signed (X-KVS-Peer-Signature, auth/peer_hmac.hpp) for its destination
//   node: the node id the caller names, else the one last learned for that address. A peer
//   whose id is not known yet (a seed) answers 401 with a signed answer naming itself; the
//   transport learns the id and sends the request once more, signed for it.
// - Every answer is verified (X-KVS-Peer-Answer over the request's nonce, the status, the
//   responder's id from X-KVS-Peer-Node, and the body) before the caller sees it. An answer that
//   does not verify reaches no caller: the request fails with kUnauthenticated, the rejection is
//   counted (PeerSecurity::answers_rejected and the on_answer_rejected hook) and logged (a WARN at
//   most once per address per warn_interval).
// - With tls on, requests go over HTTPS only, the peer's certificate verified against
//   tls_ca_file (else the system trust store) and its host name checked.
//
// A node has one PeerSecurity, shared by its transports. Each caller keeps its own
// PeerTransport instance (its own worker pool and timeouts), so a slow bulk sync never holds
// the workers that gossip needs.
//
// Bounded by construction: a fixed number of worker threads, each with one reusable curl easy
// handle (keep-alive: a worker reuses its connections to a peer), a bounded queue in front of
// them (a full queue refuses at once with kUnavailable: drop and report, never grow), and a
// connect and a total timeout on every request, so a dead or silent peer holds a worker for at
// most `request_timeout` (twice, when the peer's id had to be learned first). CURLOPT_NOSIGNAL
// is set: timeouts never raise signals in the process.
//
// Threading: post() may be called from any thread. Callbacks run on a worker thread, one at a
// time per worker; they must be short and must not block (typically they post the result into
// the cluster loop's own bounded queue). The destructor aborts the requests in flight, stops
// the workers and fails every queued request with kUnavailable. PeerSecurity is safe from any
// thread; its hooks may be called from several at once.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kvs/status.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::http {

struct PeerRequest {
  std::string address;  // "host:port"
  std::string node_id;  // the destination's node id when the caller knows it; empty: learned
  std::string path;     // "/members/gossip"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and the signature
};

// A verified answer.
struct PeerResponse {
  long status = 0;      // the HTTP status, whatever it is (the caller judges 4xx/5xx)
  std::string body;
  std::string node_id;  // the node that answered (X-KVS-Peer-Node, covered by the answer's MAC)
};

// An outgoing request's X-KVS-Peer-Signature value, and the nonce in it.
struct PeerSignature {
  std::string header;
  std::string nonce;
};

struct PeerSecurityOptions {
  // Signs a POST of `body` to `target` for the node `destination` (empty when unknown).
  std::function<PeerSignature(std::string_view target, std::string_view body, std::string_view destination)> sign;
  // Ok when `signature` (X-KVS-Peer-Answer) authenticates the answer (`status`, `responder`,
  // `body`) to the request that carried `nonce`.
  std::function<Status(std::string_view signature, std::string_view nonce, long status, std::string_view responder,
                       std::string_view body)>
      verify_answer;
  // Called once per answer that did not verify (a metric). Optional.
  std::function<void()> on_answer_rejected;
  bool tls = false;                                     // https:// with verification, else http://
  std::string tls_ca_file;                              // PEM CA bundle; empty: the system trust store
  std::chrono::milliseconds warn_interval{10000};       // one WARN per address at most this often
};

class PeerSecurity {
 public:
  // Requires: options.sign and options.verify_answer set.
  explicit PeerSecurity(PeerSecurityOptions options);

  const PeerSecurityOptions& options() const noexcept { return options_; }

  // The node id last learned for `address`, or empty.
  std::string node_id_of(const std::string& address) const;
  // Remembers that `node_id` answers at `address` (from a verified answer only).
  void learn(const std::string& address, const std::string& node_id);
  // Counts and logs an answer from `address` that did not verify (`why`).
  void reject_answer(const std::string& address, const Status& why);

  std::uint64_t answers_rejected() const;

 private:
  const PeerSecurityOptions options_;
  mutable Mutex mutex_;
  std::map<std::string, std::string> node_ids_ KVS_GUARDED_BY(mutex_);  // by address; bounded
  std::map<std::string, std::chrono::steady_clock::time_point> last_warn_ KVS_GUARDED_BY(mutex_);
  std::uint64_t answers_rejected_ KVS_GUARDED_BY(mutex_) = 0;
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

// Called with the verified response, or kUnavailable (could not connect, timed out, shut down),
// kUnauthenticated (the answer did not verify: nothing of it is passed on), or kIOError (any
// other transfer error, a TLS failure, or an answer over max_response_bytes).
using PeerCallback = std::function<void(Result<PeerResponse>)>;

class PeerTransport {
 public:
  // Requires: `security` non-null; it is shared with the node's other transports.
  PeerTransport(PeerTransportOptions options, std::shared_ptr<PeerSecurity> security);
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
  // One request, signed and verified, with the one retry that learning a peer's id takes.
  Result<PeerResponse> exchange(void* curl, const PeerRequest& request);
  Result<PeerResponse> perform(void* curl, const PeerRequest& request, const std::string& destination,
                               std::string& nonce, std::string& answer_signature);

  PeerTransportOptions options_;
  // Set first by the destructor: the requests in flight abort within about a second (curl's
  // progress callback) rather than run to request_timeout, so a node closes promptly even when
  // a peer accepts connections but never answers.
  std::atomic<bool> aborting_{false};
  std::shared_ptr<PeerSecurity> security_;
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
