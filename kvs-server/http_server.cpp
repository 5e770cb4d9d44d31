#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"
#include "kvs/log.hpp"

namespace kvs::server {

// httplib keeps the listening socket in a protected member; this subclass reads it so that
// bind() can raise the listen backlog that httplib hard-codes to 5.
template <class Base>
class Tuned : public Base {
 public:
  using Base::Base;
  int listening_socket() const { return static_cast<int>(this->svr_sock_.load()); }
};

namespace {

// The worker pool handed to httplib. httplib runs one job per connection and that job lives as
// long as the keep-alive connection, so a fixed pool smaller than the number of clients leaves
// the extra clients waiting for a free worker. This pool starts `min_threads` workers and adds
// one whenever a job arrives with no idle worker, up to `max_threads`; past that, jobs queue.
// Workers above the minimum exit after a minute without work.
class ElasticThreadPool final : public httplib::TaskQueue {
 public:
  ElasticThreadPool(std::size_t min_threads, std::size_t max_threads)
      : min_threads_(min_threads), max_threads_(std::max(min_threads, max_threads)) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < min_threads_; ++i) spawn_locked();
  }

  ~ElasticThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    if (idle_ < jobs_.size() && live_ < max_threads_) spawn_locked();
    wakeup_.notify_one();
  }

  // Lets queued jobs finish, then waits for every worker to exit.
  void shutdown() override {
    std::unique_lock lock(mutex_);
    shutting_down_ = true;
    wakeup_.notify_all();
    exited_.wait(lock, [&] { return live_ == 0; });
  }

 private:
  // Requires: mutex_ held.
  void spawn_locked() {
    ++live_;
    // Detached: a worker's last touch of the pool is under mutex_ (decrementing live_ and
    // notifying), and shutdown() waits for live_ == 0 under the same mutex.
    std::thread([this] { run(); }).detach();
  }

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      bool woke = wakeup_.wait_for(lock, std::chrono::seconds(60),
                                   [&] { return !jobs_.empty() || shutting_down_; });
      --idle_;
      if (jobs_.empty()) {
        if (shutting_down_ || (!woke && live_ > min_threads_)) break;
        continue;
      }
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    --live_;
    exited_.notify_all();
  }

  const std::size_t min_threads_;
  const std::size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::condition_variable exited_;
  // Guarded by mutex_.
  std::deque<std::function<void()>> jobs_;
  std::size_t live_ = 0;
  std::size_t idle_ = 0;
  bool shutting_down_ = false;
};

// The code name of an error httplib produced itself (before any handler ran).
Status status_for_http(int http) {
  switch (http) {
    case 400: return Status::invalid_argument("malformed HTTP request");
    case 404: return Status::not_found("no such route");
    case 413: return Status::too_large("the request body is too large");
    case 414: return Status::invalid_argument("the request URI is too long");
    case 416: return Status::invalid_argument("bad Range header");
    default: return Status::internal("HTTP error " + std::to_string(http));
  }
}

// The request's start time, set when httplib hands the request to routing and read by the
// request logger on the same worker thread.
thread_local std::chrono::steady_clock::time_point t_request_started{};
// The matched route's name, for response observers; set by dispatch() on the same thread.
thread_local std::string_view t_route_name{};

}  // namespace

int http_status(Status::Code code) noexcept {
  using Code = Status::Code;
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kReadOnly: return 403;
    case Code::kNotFound: return 404;
    case Code::kConflict: return 409;
    case Code::kPreconditionFailed: return 412;
    case Code::kTooLarge: return 413;
    case Code::kRateLimited: return 429;
    case Code::kUnavailable: return 503;
    case Code::kCorruption: return 500;
    case Code::kIOError: return 500;
    case Code::kInternal: return 500;
  }
  return 500;
}

void write_json(httplib::Response& response, int http_status, std::string body) {
  response.status = http_status;
  response.set_content(std::move(body), "application/json");
}

void write_error(httplib::Response& response, const Status& status) {
  int http = http_status(status.code());
  JsonWriter json;
  json.begin_object()
      .key("error").string(status.message().empty() ? std::string(status.code_name()) : status.message())
      .key("code").string(status.code_name())
      .end_object();
  if (status.code() == Status::Code::kUnauthenticated) response.set_header("WWW-Authenticate", "Bearer");
  if (status.code() == Status::Code::kRateLimited || status.code() == Status::Code::kUnavailable) {
    if (!response.has_header("Retry-After")) response.set_header("Retry-After", "1");
  }
  if (http >= 500) log(LogLevel::kError, "http.server_error", {{"error", status.to_string()}});
  write_json(response, http, json.take());
}

std::string RequestContext::header(const std::string& name) const { return http.get_header_value(name); }

bool RequestContext::has_header(const std::string& name) const { return http.has_header(name); }

HttpServer::HttpServer(HttpOptions options) : options_(std::move(options)) {
  if (!options_.tls_cert_file.empty()) {
    auto tls = std::make_unique<Tuned<httplib::SSLServer>>(options_.tls_cert_file.c_str(),
                                                          options_.tls_key_file.c_str());
    auto* raw = tls.get();
    listening_socket_ = [raw] { return raw->listening_socket(); };
    server_ = std::move(tls);
  } else {
    auto plain = std::make_unique<Tuned<httplib::Server>>();
    auto* raw = plain.get();
    listening_socket_ = [raw] { return raw->listening_socket(); };
    server_ = std::move(plain);
  }
  httplib::Server& s = *server_;

  s.set_tcp_nodelay(true);
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  });
  s.set_keep_alive_max_count(std::numeric_limits<std::size_t>::max());
  s.set_keep_alive_timeout(options_.keep_alive_timeout_s);
  s.set_read_timeout(options_.read_timeout_s, 0);
  s.set_write_timeout(options_.write_timeout_s, 0);
  s.set_payload_max_length(options_.payload_max_bytes);
  std::size_t min_threads = options_.min_threads;
  std::size_t max_threads = options_.max_threads;
  s.new_task_queue = [min_threads, max_threads] { return new ElasticThreadPool(min_threads, max_threads); };

  // A request without a body is answered here, before httplib's routing: for POST/PUT/
  // PATCH/DELETE without Content-Length, httplib would otherwise wait for a body until the
  // read timeout. Requests with a body go on to routing, which reads it (bounded by
  // payload_max_bytes) and then calls dispatch() through the catch-all handlers below.
  s.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    t_request_started = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(busy_mutex_);
      busy_[std::this_thread::get_id()] = connection_key(request.remote_addr, request.remote_port);
    }
    bool has_body = request.has_header("Transfer-Encoding") ||
                    (request.has_header("Content-Length") && request.get_header_value("Content-Length") != "0");
    if (has_body) return httplib::Server::HandlerResponse::Unhandled;
    dispatch(request, response);
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib calls the error handler for every response with status >= 400, including the
  // ones our handlers wrote; only fill in a body where httplib answered on its own.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        write_error(response, status_for_http(response.status));
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler([](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log(LogLevel::kError, "http.exception", {{"method", request.method}, {"path", request.path}, {"error", what}});
    write_error(response, Status::internal("internal error"));
  });
  // httplib calls the logger once the response is written: the connection is idle again.
  // (When a write fails the logger is skipped; the worker's entry is then replaced by its
  // next request, so the table never holds more entries than there are workers.)
  s.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    {
      std::lock_guard lock(busy_mutex_);
      busy_.erase(std::this_thread::get_id());
    }
    std::chrono::microseconds elapsed{-1};
    if (t_request_started.time_since_epoch().count() != 0) {
      elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                      t_request_started);
      t_request_started = {};
    }
    std::string_view route = t_route_name;
    t_route_name = {};
    for (const auto& observer : observers_) observer(route, request, response, elapsed);
    if (!log_enabled(LogLevel::kDebug)) return;
    std::string duration = elapsed.count() >= 0 ? std::to_string(elapsed.count()) : "-";
    log(LogLevel::kDebug, "http.request",
        {{"method", request.method}, {"path", request.path}, {"status", std::to_string(response.status)},
         {"duration_us", duration}, {"remote", request.remote_addr}});
  });

  // Every route goes through dispatch(), which does its own matching so that a known path with
  // another method is a 405 and a bad percent-escape a 400.
  auto handler = [this](const httplib::Request& request, httplib::Response& response) { dispatch(request, response); };
  // "[\s\S]*", not ".*": a decoded path may hold a newline, which '.' does not match.
  const std::string any = R"([\s\S]*)";
  s.Get(any, handler);
  s.Post(any, handler);
  s.Put(any, handler);
  s.Patch(any, handler);
  s.Delete(any, handler);
  s.Options(any, handler);
}

HttpServer::~HttpServer() = default;

void HttpServer::add_route(RouteInfo route) { routes_.push_back(std::move(route)); }

void HttpServer::add_interceptor(Interceptor interceptor) { interceptors_.push_back(std::move(interceptor)); }

void HttpServer::add_response_observer(ResponseObserver observer) { observers_.push_back(std::move(observer)); }

void HttpServer::dispatch(const httplib::Request& request, httplib::Response& response) {
  auto target = parse_target(request.target);
  if (!target.is_ok()) {
    write_error(response, target.status());
    return;
  }
  std::string_view method = request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);

  // The most specific matching path: exact beats prefix, longer prefix beats shorter.
  std::size_t best = 0;
  for (const auto& route : routes_) {
    std::size_t score = 0;
    if (!route.prefix && target->path == route.path) {
      score = std::numeric_limits<std::size_t>::max();
    } else if (route.prefix && target->path.compare(0, route.path.size(), route.path) == 0) {
      score = route.path.size();
    }
    best = std::max(best, score);
  }
  if (best == 0) {
    write_error(response, Status::not_found("no route for " + target->path));
    return;
  }
  const RouteInfo* match = nullptr;
  std::string allow;
  for (const auto& route : routes_) {
    bool same = route.prefix ? (route.path.size() == best && target->path.compare(0, best, route.path) == 0)
                             : (best == std::numeric_limits<std::size_t>::max() && target->path == route.path);
    if (!same) continue;
    if (route.method == method) match = &route;
    if (!allow.empty()) allow += ", ";
    allow += route.method;
    if (route.method == "GET") allow += ", HEAD";
  }
  if (match == nullptr) {
    response.set_header("Allow", allow);
    JsonWriter json;
    json.begin_object()
        .key("error").string(std::string(request.method) + " is not allowed on " + target->path + " (allowed: " + allow + ")")
        .key("code").string("method_not_allowed")
        .end_object();
    write_json(response, 405, json.take());
    return;
  }

  t_route_name = match->name;  // routes_ is fixed once serving, so the view stays valid
  RequestContext context{request, std::move(*target), method, match, Caller::local()};
  for (const auto& interceptor : interceptors_) {
    if (interceptor(context, response)) return;
  }
  match->handler(context, response);
}

Status HttpServer::bind() {
  errno = 0;
  if (!server_->is_valid()) {
    return Status::invalid_argument("cannot load the TLS certificate or key (tls_cert_file, tls_key_file)");
  }
  if (!server_->bind_to_port(options_.bind_address, options_.port)) {
    int error = errno;
    std::string where = options_.bind_address + ":" + std::to_string(options_.port);
    if (error == EADDRINUSE) return Status::unavailable("address " + where + " is already in use");
    return Status::io_error("cannot listen on " + where + (error != 0 ? std::string(": ") + std::strerror(error) : ""));
  }
  // httplib listened with a backlog of 5; a second listen() on the bound socket raises it.
  int fd = listening_socket_();
  if (fd < 0 || ::listen(fd, options_.listen_backlog) != 0) {
    log(LogLevel::kWarn, "http.backlog_unchanged", {{"error", std::strerror(errno)}});
  }
  return Status::ok();
}

Status HttpServer::serve() {
  serve_entered_ = true;
  if (stop_requested_) return Status::ok();
  bool ok = server_->listen_after_bind();
  serve_finished_ = true;
  if (!ok && !stop_requested_) return Status::io_error("the listening socket failed");
  return Status::ok();
}

void HttpServer::stop() {
  // httplib's stop() does nothing until its accept loop runs, so a stop that races with
  // serve() waits for the loop to start (or for serve() to see stop_requested_).
  stop_requested_ = true;
  while (serve_entered_ && !serve_finished_) {
    if (server_->is_running()) {
      server_->stop();
      close_idle_connections();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string HttpServer::connection_key(const std::string& address, int port) {
  return address + "|" + std::to_string(port);
}

// httplib 0.11 notices a stop only between requests, after its keep-alive wait (up to
// keep_alive_timeout_s) ends, so idle keep-alive connections would hold a shutdown that
// long. Their sockets are not exposed, so they are found among the process's descriptors:
// TCP sockets whose local port is ours. A connection in the middle of a request (between
// routing and the logger) is left alone to finish; the others are shut down, which wakes
// their workers at once.
void HttpServer::close_idle_connections() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_length = sizeof local;
    socklen_t peer_length = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) continue;
    char host[INET6_ADDRSTRLEN] = {};
    int local_port = 0;
    int peer_port = 0;
    if (local.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
      auto* in = reinterpret_cast<sockaddr_in*>(&peer);
      peer_port = ntohs(in->sin_port);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    } else if (local.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&peer);
      peer_port = ntohs(in6->sin6_port);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    } else {
      continue;
    }
    if (local_port != options_.port) continue;
    std::string key = connection_key(host, peer_port);
    std::lock_guard lock(busy_mutex_);
    bool busy = std::any_of(busy_.begin(), busy_.end(), [&](const auto& entry) { return entry.second == key; });
    if (!busy) ::shutdown(fd, SHUT_RDWR);
  }
}

}  // namespace kvs::server
