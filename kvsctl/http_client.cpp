#include "http_client.hpp"

#include <utility>
#include <vector>

#include <curl/curl.h>

namespace kvsctl {
namespace {

// An error answer is kept only up to this size: enough for any {"error","code"} body, and a
// misdirected endpoint (a large HTML page) cannot fill memory.
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

struct Transfer {
  CURL* curl;
  const std::function<bool(std::string_view)>* sink;
  const volatile std::sig_atomic_t* stop;
  std::string body;
  bool stopped = false;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (success && transfer->sink != nullptr && *transfer->sink) {
    if (!(*transfer->sink)(std::string_view(data, bytes))) {
      transfer->stopped = true;
      return 0;  // fewer bytes than given: curl ends the transfer
    }
  } else if (success || transfer->body.size() < kMaxErrorBodyBytes) {
    transfer->body.append(data, bytes);
  }
  return bytes;
}

// Called by curl at least once a second while a transfer runs, also when no data comes.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->stop == nullptr || *transfer->stop == 0) return 0;
  transfer->stopped = true;
  return 1;  // non-zero: curl ends the transfer
}

}  // namespace

HttpClient::HttpClient(Endpoint endpoint) : endpoint_(std::move(endpoint)), curl_(curl_easy_init()) {}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpAnswer HttpClient::send(const HttpRequest& request, const std::function<bool(std::string_view)>& sink,
                            const volatile std::sig_atomic_t* stop) {
  HttpAnswer answer;
  auto* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    answer.transport_error = "cannot initialise libcurl";
    return answer;
  }
  curl_easy_reset(curl);
  const std::string url = endpoint_.url + request.target;
  Transfer transfer{curl, &sink, stop, {}};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "kvsctl");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  if (stop != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  }
  if (!endpoint_.cacert.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, endpoint_.cacert.c_str());
  // A PUT or POST always carries its (possibly empty) body with a Content-Length: the server
  // answers 411 to a PUT without framing.
  if (request.method == "PUT" || request.method == "POST" || !request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  // A watch runs until the server ends it; no overall timeout, but a dead connection is
  // noticed through TCP keep-alive.
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);

  curl_slist* headers = nullptr;
  std::string authorization;
  if (!endpoint_.token.empty()) {
    authorization = "Authorization: Bearer " + endpoint_.token;
    headers = curl_slist_append(headers, authorization.c_str());
  }
  if (!request.body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for large documents
  std::vector<std::string> lines;
  lines.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    lines.push_back(name + ": " + value);
    headers = curl_slist_append(headers, lines.back().c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  if (transfer.stopped && (code == CURLE_WRITE_ERROR || code == CURLE_ABORTED_BY_CALLBACK)) {
    answer.reached = true;
    answer.stopped = true;
    return answer;
  }
  if (code != CURLE_OK) {
    answer.transport_error = curl_easy_strerror(code);
    return answer;
  }
  answer.reached = true;
  answer.body = std::move(transfer.body);
  return answer;
}

}  // namespace kvsctl
