#pragma once

// HttpServer: kvs-server's HTTP layer over cpp-httplib 0.11. It owns the listening socket, the
// worker pool and the route table; route handlers are thin calls into kvs::Node.
//
// cpp-httplib's defaults do not suit a database server, so this class changes them:
//  - TCP_NODELAY on the listening socket, which accepted sockets inherit on Linux (Nagle's
//    algorithm against delayed ACKs otherwise holds every keep-alive response ~40 ms);
//  - SO_REUSEADDR but not SO_REUSEPORT (httplib's default), so a second server on the same
//    port fails to bind instead of silently sharing it;
//  - a listen backlog of 1024 instead of httplib's hard-coded 5 (listen() again on the bound
//    socket), so a burst of connects does not stall in SYN retries;
//  - an elastic worker pool: httplib serves one connection per worker for the connection's
//    whole keep-alive life, so the pool grows up to `max_threads` as connections arrive;
//  - unlimited requests per keep-alive connection, an idle keep-alive timeout, read and write
//    timeouts, and a payload cap derived from max_json_size.
//
// Request flow: parse and strictly percent-decode the target -> find the route (404 unknown
// path, 405 known path with another method) -> interceptors in order (authentication, rate
// limiting, ...; each may answer) -> the handler. Every error body is {"error","code"}.
// All handlers run on pool threads, concurrently.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "url.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace kvs::server {

class TunedServer;

// Maps a Status code to its HTTP status: the one table (STYLE section 3).
int http_status(Status::Code code) noexcept;

// Writes `status` as the JSON error body with its HTTP status and extra headers
// (WWW-Authenticate for 401, Retry-After for 429/503).
void write_error(httplib::Response& response, const Status& status);

// Writes a JSON body with `http_status`.
void write_json(httplib::Response& response, int http_status, std::string body);

struct RouteInfo;

// What a handler sees of a request.
struct RequestContext {
  const httplib::Request& http;
  Target target;                // decoded path and query
  std::string_view method;      // "GET", "PUT", ... (HEAD is served as GET)
  const RouteInfo* route = nullptr;
  Caller caller;                // who is calling; the authentication interceptor sets it

  // A request header, or "" when absent.
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const;
};

using Handler = std::function<void(RequestContext&, httplib::Response&)>;

struct RouteInfo {
  std::string name;             // for logs and metrics: "kv", "kv_range", "health"
  std::string method;
  std::string path;             // exact path, or prefix when `prefix` is set
  bool prefix = false;
  bool needs_auth = true;       // false: open even when auth is on (/health, /metrics)
  Handler handler;
};

// Runs before the handler of every routed request, in registration order. Returns true when
// it has answered the request itself (401, 429, ...); the handler then does not run.
using Interceptor = std::function<bool(RequestContext&, httplib::Response&)>;

// Called after every response is written (metrics, audit): the route's name ("" when no route
// matched), the request, the response and the time since routing began.
using ResponseObserver = std::function<void(std::string_view route, const httplib::Request&, const httplib::Response&,
                                            std::chrono::microseconds elapsed)>;

struct HttpOptions {
  std::string bind_address{"127.0.0.1"};
  std::uint16_t port{8080};
  std::string tls_cert_file;    // both set: HTTPS
  std::string tls_key_file;
  std::size_t min_threads{8};   // kept alive while idle
  std::size_t max_threads{512}; // one per open connection at most
  int listen_backlog{1024};
  std::size_t payload_max_bytes{1 << 20};
  std::time_t keep_alive_timeout_s{15};
  std::time_t read_timeout_s{10};
  std::time_t write_timeout_s{10};
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers a route. Exact routes win over prefix routes; longer prefixes over shorter.
  void add_route(RouteInfo route);
  void add_interceptor(Interceptor interceptor);
  // Requires: called before serve().
  void add_response_observer(ResponseObserver observer);

  // Binds the listening socket. kUnavailable when the address is in use, kIOError otherwise.
  Status bind();
  // Serves until stop(); returns after in-flight requests have finished. Requires: bind() ok.
  Status serve();
  // Stops accepting and makes serve() return once in-flight requests are done. Safe from any
  // thread, but not from a signal handler.
  void stop();

  const HttpOptions& options() const noexcept { return options_; }

 private:
  void dispatch(const httplib::Request& request, httplib::Response& response);
  void close_idle_connections();
  static std::string connection_key(const std::string& address, int port);

  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::function<int()> listening_socket_;   // the bound socket's fd (protected in httplib)
  std::vector<RouteInfo> routes_;
  std::vector<Interceptor> interceptors_;
  std::vector<ResponseObserver> observers_;
  // Per worker thread, the connection ("address|port") whose request it is between routing
  // and the written response. Guarded by busy_mutex_.
  std::mutex busy_mutex_;
  std::unordered_map<std::thread::id, std::string> busy_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> serve_entered_{false};
  std::atomic<bool> serve_finished_{false};
};

}  // namespace kvs::server
