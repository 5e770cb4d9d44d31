#pragma once

// http::PeerTransport: the one implementation of net::PeerTransport (net/peer_transport.hpp) that
// production uses, over HTTP(S) with libcurl. A node has one, shared by every peer caller
// (membership, push replication, anti-entropy, bootstrap), each on its own lane. It POSTs a body
// to `http(s)://<address><path>` and hands the answer to a callback. It knows nothing of the
// cluster Core or of message formats, but it alone secures peer traffic, through the node's
// PeerSecurity:
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
// Bounded by construction: each lane has a fixed number of worker threads (started at its first
// post), each with one reusable curl easy handle (keep-alive: a worker reuses its connections to
// a peer), a bounded queue in front of them (a full queue refuses at once with kUnavailable:
// drop and report, never grow), and a connect and a total timeout on every request, so a dead
// or silent peer holds a worker for at most `request_timeout` (twice, when the peer's id had to
// be learned first). CURLOPT_NOSIGNAL is set: timeouts never raise signals in the process.
//
// Threading: post() may be called from any thread. Callbacks run on a worker thread of their
// lane, one at a time per worker; they must be short and must not block. close(lane) and the
// destructor abort the lane's requests in flight (within about a second), stop its workers and
// fail every queued request with kUnavailable; close must not be called from a callback of the
// same lane. PeerSecurity is safe from any thread; its hooks may be called from several at once.

#include <array>
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
#include "net/peer_transport.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::http {

using PeerRequest = net::PeerRequest;
using PeerResponse = net::PeerAnswer;

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

// One lane's pool.
struct PeerTransportOptions {
  std::size_t workers = 4;
  std::size_t queue_capacity = 1024;                         // queued requests; more are refused
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{5000};           // the whole request, connect included
  std::size_t max_response_bytes = 16u << 20;                // a longer answer fails the request
};

using PeerTransportStats = net::LaneStats;
using PeerCallback = net::AnswerCallback;

class PeerTransport final : public net::PeerTransport {
 public:
  using LaneOptions = std::array<PeerTransportOptions, net::kLaneCount>;

  // Every lane with `options`. Requires: `security` non-null.
  PeerTransport(PeerTransportOptions options, std::shared_ptr<PeerSecurity> security);
  // Each lane with its own options, by net::Lane. Requires: `security` non-null.
  PeerTransport(const LaneOptions& lanes, std::shared_ptr<PeerSecurity> security);
  ~PeerTransport() override;
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  Status post(PeerRequest request, PeerCallback done) override;
  void close(net::Lane lane) override;
  PeerTransportStats stats(net::Lane lane) const override;
  // Summed over the lanes.
  PeerTransportStats stats() const;

  // Sends a POST on the calling thread with a fresh handle and waits for it (bounded by its
  // lane's timeouts), signed and verified as post() does. For tests.
  Result<PeerResponse> post_now(const PeerRequest& request);

 private:
  struct Job {
    PeerRequest request;
    PeerCallback done;
  };
  struct LaneState {
    PeerTransportOptions options;
    // Set first by close(): the requests in flight abort within about a second (curl's
    // progress callback) rather than run to request_timeout, so a node closes promptly even
    // when a peer accepts connections but never answers.
    std::atomic<bool> aborting{false};
    mutable std::mutex mutex;
    // Guarded by mutex:
    std::condition_variable wake;
    std::deque<Job> queue;
    bool closed = false;
    PeerTransportStats stats;
    std::vector<std::thread> workers;  // started at the first post, joined by close()
  };

  LaneState& lane(net::Lane lane) const { return *lanes_[static_cast<std::size_t>(lane)]; }
  void run_worker(LaneState& lane);
  // One request, signed and verified, with the one retry that learning a peer's id takes.
  Result<PeerResponse> exchange(void* curl, LaneState& lane, const PeerRequest& request);
  Result<PeerResponse> perform(void* curl, LaneState& lane, const PeerRequest& request, const std::string& destination,
                               std::string& nonce, std::string& answer_signature);

  std::shared_ptr<PeerSecurity> security_;
  std::array<std::unique_ptr<LaneState>, net::kLaneCount> lanes_;
};

}  // namespace kvs::http
