#pragma once

// HttpClient: a small libcurl client for integration tests. One client keeps one keep-alive
// connection; use one client per thread. Paths are sent exactly as given (no normalisation),
// so tests can send bad percent-escapes and dot segments.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kvs::test {

struct HttpResponse {
  long status = 0;                              // 0: no response (connection failed)
  std::map<std::string, std::string> headers;   // names lower-cased
  std::string body;
  std::string error;                            // curl's message when status is 0

  // A header's value, or "" when absent; `name` in any case.
  std::string header(const std::string& name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  explicit HttpClient(std::string base_url);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // `body` is sent when non-empty or when `send_empty_body` is set (Content-Length: 0).
  HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                       const Headers& headers = {}, bool send_empty_body = false);
  HttpResponse get(const std::string& path, const Headers& headers = {}) { return request("GET", path, "", headers); }
  HttpResponse put(const std::string& path, const std::string& body, const Headers& headers = {}) {
    return request("PUT", path, body, headers, true);
  }
  HttpResponse del(const std::string& path, const Headers& headers = {}) { return request("DELETE", path, "", headers); }

 private:
  std::string base_url_;
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_{std::chrono::seconds(30)};
};

// Sends `bytes` over a fresh TCP connection to 127.0.0.1:port and returns everything read
// until the server closes the connection or `timeout` passes.
std::string raw_http(std::uint16_t port, const std::string& bytes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The status code of a raw HTTP response ("HTTP/1.1 400 ..."), or 0.
int raw_status(const std::string& response);

// Reading JSON bodies by JSON Pointer ("/items/0/path"); nullopt when the body is not JSON,
// the pointer does not resolve or the value has another type.
bool json_valid(const std::string& body);
std::optional<std::string> json_string(const std::string& body, const std::string& pointer);
std::optional<std::int64_t> json_int(const std::string& body, const std::string& pointer);
std::optional<bool> json_bool(const std::string& body, const std::string& pointer);
bool json_is_null(const std::string& body, const std::string& pointer);
bool json_has(const std::string& body, const std::string& pointer);
// Element count of an array or object.
std::optional<std::size_t> json_size(const std::string& body, const std::string& pointer);
// The value re-serialised compactly (for comparing documents).
std::optional<std::string> json_minified(const std::string& body, const std::string& pointer);

}  // namespace kvs::test
