#pragma once

// The one place kvsctl does network I/O: a request sent with libcurl, its answer buffered or,
// for a successful streamed answer (watch, export), handed to a sink as it arrives. One
// HttpClient keeps one connection alive across requests (the pages of `ls`); not thread-safe.

#include <csignal>
#include <functional>
#include <string>
#include <string_view>

#include "request.hpp"

namespace kvsctl {

struct Endpoint {
  std::string url;     // "http://127.0.0.1:8080", no trailing '/'
  std::string token;   // empty: no Authorization header
  std::string cacert;  // empty: the system trust store
};

struct HttpAnswer {
  bool reached = false;         // false: no HTTP answer (connection, TLS or transfer failure)
  bool stopped = false;         // the sink or the stop flag ended a streamed answer (reached stays true)
  std::string transport_error;  // curl's message when !reached
  long status = 0;
  std::string body;  // the whole body, except what went to the sink
};

class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`. When `sink` is set and the answer is a 2xx, the body goes to the sink in
  // chunks as they arrive instead of into HttpAnswer::body; an error answer is always buffered
  // (to print its code). The sink returns false to end the transfer (its output is gone), and
  // so does `stop` turning true (checked at least once a second, data or not): either reads as
  // reached and stopped. A stream cut short otherwise reads as !reached.
  HttpAnswer send(const HttpRequest& request, const std::function<bool(std::string_view)>& sink = nullptr,
                  const volatile std::sig_atomic_t* stop = nullptr);

 private:
  Endpoint endpoint_;
  void* curl_;  // CURL*; curl.h stays out of this header
};

}  // namespace kvsctl
