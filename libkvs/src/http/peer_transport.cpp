#include "http/peer_transport.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <curl/curl.h>

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

PeerTransport::PeerTransport(PeerTransportOptions options) : options_(std::move(options)) {
  global_init_once();
  options_.workers = std::max<std::size_t>(1, options_.workers);
  workers_.reserve(options_.workers);
  for (std::size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { run_worker(); });
}

PeerTransport::~PeerTransport() {
  aborting_.store(true, std::memory_order_relaxed);
  std::deque<Job> cancelled;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cancelled.swap(queue_);
    stats_.dropped += cancelled.size();
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
  for (auto& job : cancelled) job.done(Status::unavailable("peer transport stopped before sending to " + job.request.address));
}

Status PeerTransport::post(PeerRequest request, PeerCallback done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Status::unavailable("peer transport is stopping");
    if (queue_.size() >= options_.queue_capacity) {
      stats_.dropped += 1;
      return Status::unavailable("peer transport queue is full (" + std::to_string(options_.queue_capacity) +
                                 " requests); dropped the request to " + request.address);
    }
    queue_.push_back(Job{std::move(request), std::move(done)});
  }
  wake_.notify_one();
  return Status::ok();
}

Result<PeerResponse> PeerTransport::post_now(const PeerRequest& request) {
  EasyHandle handle;
  if (handle.curl == nullptr) return Status::internal("curl_easy_init failed");
  auto result = perform(handle.curl, request);
  std::lock_guard lock(mutex_);
  (result.is_ok() ? stats_.completed : stats_.failed) += 1;
  return result;
}

PeerTransportStats PeerTransport::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void PeerTransport::run_worker() {
  // One handle per worker for its whole life: curl keeps its connections (keep-alive) and DNS
  // cache across requests, so gossip to the same peers reuses TCP connections.
  EasyHandle handle;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<PeerResponse> result =
        handle.curl != nullptr ? perform(handle.curl, job.request) : Result<PeerResponse>(Status::internal("curl_easy_init failed"));
    {
      std::lock_guard lock(mutex_);
      (result.is_ok() ? stats_.completed : stats_.failed) += 1;
    }
    job.done(std::move(result));
  }
}

Result<PeerResponse> PeerTransport::perform(void* handle, const PeerRequest& request) {
  CURL* curl = static_cast<CURL*>(handle);
  // Reset clears the options of the previous request but keeps the connection cache.
  curl_easy_reset(curl);
  std::string url = "http://" + request.address + request.path;
  PeerResponse response;
  Sink sink{&response.body, options_.max_response_bytes};
  HeaderList headers;
  headers.add("Content-Type: application/json");
  headers.add("Expect:");  // no 100-continue round trip for larger bodies
  for (const auto& [name, value] : request.headers) headers.add(name + ": " + value);

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &abort_if_stopping);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &aborting_);

  CURLcode code = curl_easy_perform(curl);
  if (sink.overflow) {
    return Status::io_error("peer " + request.address + " answered more than " +
                            std::to_string(options_.max_response_bytes) + " bytes");
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
  return response;
}

}  // namespace kvs::http
