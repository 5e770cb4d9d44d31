#include "http/peer_transport.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <curl/curl.h>

#include "kvs/cluster.hpp"
#include "kvs/log.hpp"

namespace kvs::http {

namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  std::size_t limit;
  bool overflow = false;
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::size_t bytes = size * count;
  if (sink->body->size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, bytes);
  return bytes;
}

// CURLOPT_XFERINFOFUNCTION: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int abort_if_stopping(void* aborting, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(aborting)->load(std::memory_order_relaxed) ? 1 : 0;
}

// The answer's authentication headers, as curl hands over header lines. A new status line (an
// interim 1xx answer) starts over.
struct AnswerHeaders {
  std::string node_id;
  std::string signature;
};

bool header_is(std::string_view line, std::string_view name, std::string_view& value) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char a = line[i];
    char b = name[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  value = line.substr(name.size() + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  return true;
}

std::size_t read_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* headers = static_cast<AnswerHeaders*>(user);
  std::size_t bytes = size * count;
  std::string_view line(data, bytes);
  std::string_view value;
  if (line.starts_with("HTTP/")) {
    *headers = AnswerHeaders{};
  } else if (header_is(line, peer_protocol::kAnswerNodeHeader, value)) {
    headers->node_id.assign(value.substr(0, 256));
  } else if (header_is(line, peer_protocol::kAnswerSignatureHeader, value)) {
    headers->signature.assign(value.substr(0, 256));
  }
  return bytes;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& line) { list = curl_slist_append(list, line.c_str()); }
};

struct EasyHandle {
  CURL* curl = curl_easy_init();
  ~EasyHandle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

}  // namespace

PeerSecurity::PeerSecurity(PeerSecurityOptions options) : options_(std::move(options)) {}

std::string PeerSecurity::node_id_of(const std::string& address) const {
  MutexLock lock(mutex_);
  auto found = node_ids_.find(address);
  return found == node_ids_.end() ? std::string() : found->second;
}

void PeerSecurity::learn(const std::string& address, const std::string& node_id) {
  // Addresses come from the member list and the seeds; this many means something is off, and
  // forgetting costs one more 401 round trip per peer, not correctness.
  constexpr std::size_t kMaxAddresses = 4096;
  MutexLock lock(mutex_);
  if (node_ids_.size() >= kMaxAddresses && node_ids_.count(address) == 0) node_ids_.clear();
  node_ids_[address] = node_id;
}

void PeerSecurity::reject_answer(const std::string& address, const Status& why) {
  constexpr std::size_t kMaxWarned = 4096;
  auto now = std::chrono::steady_clock::now();
  bool warn = false;
  std::uint64_t total = 0;
  {
    MutexLock lock(mutex_);
    total = ++answers_rejected_;
    if (last_warn_.size() >= kMaxWarned && last_warn_.count(address) == 0) last_warn_.clear();
    auto [at, inserted] = last_warn_.try_emplace(address, now);
    if (inserted || now - at->second >= options_.warn_interval) {
      at->second = now;
      warn = true;
    }
  }
  if (options_.on_answer_rejected) options_.on_answer_rejected();
  if (warn) {
    log(LogLevel::kWarn, "peer.answer_rejected",
        {{"address", address}, {"error", why.to_string()}, {"rejected_total", std::to_string(total)},
         {"hint", "nothing from this answer was applied; check cluster_secret on both nodes"}});
  }
}

std::uint64_t PeerSecurity::answers_rejected() const {
  MutexLock lock(mutex_);
  return answers_rejected_;
}

PeerTransport::PeerTransport(PeerTransportOptions options, std::shared_ptr<PeerSecurity> security)
    : PeerTransport(LaneOptions{options, options, options, options}, std::move(security)) {}

PeerTransport::PeerTransport(const LaneOptions& lanes, std::shared_ptr<PeerSecurity> security)
    : security_(std::move(security)) {
  global_init_once();
  for (std::size_t i = 0; i < net::kLaneCount; ++i) {
    lanes_[i] = std::make_unique<LaneState>();
    lanes_[i]->options = lanes[i];
    lanes_[i]->options.workers = std::max<std::size_t>(1, lanes[i].workers);
  }
}

PeerTransport::~PeerTransport() {
  // Every lane at once first, so that no lane waits for another's requests to abort.
  for (auto& state : lanes_) state->aborting.store(true, std::memory_order_relaxed);
  for (std::size_t i = 0; i < net::kLaneCount; ++i) close(static_cast<net::Lane>(i));
}

void PeerTransport::close(net::Lane which) {
  LaneState& state = lane(which);
  state.aborting.store(true, std::memory_order_relaxed);
  std::deque<Job> cancelled;
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(state.mutex);
    state.closed = true;
    cancelled.swap(state.queue);
    state.stats.dropped += cancelled.size();
    workers.swap(state.workers);
  }
  state.wake.notify_all();
  for (auto& worker : workers) worker.join();
  for (auto& job : cancelled) {
    job.done(Status::unavailable("peer transport lane " + std::string(net::lane_name(which)) +
                                 " closed before sending to " + job.request.address));
  }
}

Status PeerTransport::post(PeerRequest request, PeerCallback done) {
  if (request.lane >= net::Lane::kLaneCount) return Status::invalid_argument("no such peer transport lane");
  LaneState& state = lane(request.lane);
  {
    std::lock_guard lock(state.mutex);
    if (state.closed) return Status::unavailable("peer transport lane is closed");
    if (state.queue.size() >= state.options.queue_capacity) {
      state.stats.dropped += 1;
      return Status::unavailable("peer transport queue is full (" + std::to_string(state.options.queue_capacity) +
                                 " requests); dropped the request to " + request.address);
    }
    state.queue.push_back(Job{std::move(request), std::move(done)});
    // A lane nobody uses costs no thread.
    if (state.workers.empty()) {
      for (std::size_t i = 0; i < state.options.workers; ++i) {
        state.workers.emplace_back([this, &state] { run_worker(state); });
      }
    }
  }
  state.wake.notify_one();
  return Status::ok();
}

Result<PeerResponse> PeerTransport::post_now(const PeerRequest& request) {
  if (request.lane >= net::Lane::kLaneCount) return Status::invalid_argument("no such peer transport lane");
  LaneState& state = lane(request.lane);
  EasyHandle handle;
  if (handle.curl == nullptr) return Status::internal("curl_easy_init failed");
  auto result = exchange(handle.curl, state, request);
  std::lock_guard lock(state.mutex);
  (result.is_ok() ? state.stats.completed : state.stats.failed) += 1;
  return result;
}

PeerTransportStats PeerTransport::stats(net::Lane which) const {
  LaneState& state = lane(which);
  std::lock_guard lock(state.mutex);
  return state.stats;
}

PeerTransportStats PeerTransport::stats() const {
  PeerTransportStats total;
  for (std::size_t i = 0; i < net::kLaneCount; ++i) {
    PeerTransportStats one = stats(static_cast<net::Lane>(i));
    total.completed += one.completed;
    total.failed += one.failed;
    total.dropped += one.dropped;
  }
  return total;
}

void PeerTransport::run_worker(LaneState& state) {
  // One handle per worker for its whole life: curl keeps its connections (keep-alive) and DNS
  // cache across requests, so gossip to the same peers reuses TCP connections.
  EasyHandle handle;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(state.mutex);
      state.wake.wait(lock, [&state] { return state.closed || !state.queue.empty(); });
      if (state.closed) return;
      job = std::move(state.queue.front());
      state.queue.pop_front();
    }
    Result<PeerResponse> result = handle.curl != nullptr ? exchange(handle.curl, state, job.request)
                                                         : Result<PeerResponse>(Status::internal("curl_easy_init failed"));
    {
      std::lock_guard lock(state.mutex);
      (result.is_ok() ? state.stats.completed : state.stats.failed) += 1;
    }
    job.done(std::move(result));
  }
}

Result<PeerResponse> PeerTransport::exchange(void* curl, LaneState& state, const PeerRequest& request) {
  std::string destination = request.node_id.empty() ? security_->node_id_of(request.address) : request.node_id;
  for (int attempt = 0;; ++attempt) {
    std::string nonce;
    std::string answer_signature;
    auto response = perform(curl, state, request, destination, nonce, answer_signature);
    if (!response.is_ok()) return response;
    // Nothing of an answer reaches the caller before it verifies.
    Status verified = security_->options().verify_answer(answer_signature, nonce, response->status,
                                                         response->node_id, response->body);
    if (!verified.is_ok()) {
      Status why = Status::unauthenticated("answer from peer " + request.address + " to " + request.path + " (HTTP " +
                                           std::to_string(response->status) + ") discarded: " + verified.message());
      security_->reject_answer(request.address, why);
      return why;
    }
    if (!response->node_id.empty()) security_->learn(request.address, response->node_id);
    // A verified 401 from a node other than the one we signed for: the request was meant for
    // whoever answers at this address (a seed, or a peer that came back under another id).
    // Once more, signed for it.
    if (response->status == 401 && attempt == 0 && !response->node_id.empty() && response->node_id != destination) {
      destination = response->node_id;
      continue;
    }
    return response;
  }
}

Result<PeerResponse> PeerTransport::perform(void* handle, LaneState& state, const PeerRequest& request,
                                            const std::string& destination, std::string& nonce,
                                            std::string& answer_signature) {
  const PeerTransportOptions& options = state.options;
  CURL* curl = static_cast<CURL*>(handle);
  // Reset clears the options of the previous request but keeps the connection cache.
  curl_easy_reset(curl);
  const PeerSecurityOptions& security = security_->options();
  std::string url = (security.tls ? "https://" : "http://") + request.address + request.path;
  PeerResponse response;
  Sink sink{&response.body, options.max_response_bytes};
  AnswerHeaders answer;
  PeerSignature signature = security.sign(request.path, request.body, destination);
  nonce = std::move(signature.nonce);
  HeaderList headers;
  headers.add("Content-Type: application/json");
  headers.add("Expect:");  // no 100-continue round trip for larger bodies
  headers.add(std::string(peer_protocol::kSignatureHeader) + ": " + signature.header);
  for (const auto& [name, value] : request.headers) headers.add(name + ": " + value);

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &read_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &abort_if_stopping);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state.aborting);
  if (security.tls) {
    // The peer proves it holds a certificate for the address we dial, issued by the cluster's
    // CA: the HMAC proves it holds the secret, TLS keeps the traffic private and the peer genuine.
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!security.tls_ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, security.tls_ca_file.c_str());
  } else {
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  }

  CURLcode code = curl_easy_perform(curl);
  if (sink.overflow) {
    return Status::io_error("peer " + request.address + " answered more than " +
                            std::to_string(options.max_response_bytes) + " bytes");
  }
  if (code != CURLE_OK) {
    std::string what = std::string(curl_easy_strerror(code)) + " (" + url + ")";
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_GOT_NOTHING:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
        return Status::unavailable("peer unreachable: " + what);
      default:
        return Status::io_error("peer request failed: " + what);
    }
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  response.node_id = std::move(answer.node_id);
  answer_signature = std::move(answer.signature);
  return response;
}

}  // namespace kvs::http
