#include "http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>

#include "json_writer.hpp"
#include "worker_pool.hpp"
#include "request_head.hpp"
#include "kvs/log.hpp"

namespace kvs::server {

namespace {

// Costly requests (add_costly_request_filter) one remote address runs at once, and how long one
// over that waits for a slot before it is answered 503 with Retry-After.
constexpr std::size_t kCostlyRequestsPerAddress = 1;
constexpr std::size_t kCostlyRequestsWaitingPerAddress = 8;
constexpr std::chrono::seconds kCostlyRequestWait{10};

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
// The socket of the request this worker thread is serving (client_hung_up), or -1.
thread_local int t_connection_fd = -1;
// The connection of the request this worker thread is serving, as take_connection() may take
// it over; null on a thread that serves no request.
struct Handover {
  ClientSocket* socket = nullptr;
  bool taken = false;    // from here httplib's writes are dropped
  bool tls = false;      // the socket speaks TLS: its session goes with the connection
  ConnectionLimiter* limiter = nullptr;  // where the connection counts, under its address
  const std::string* address = nullptr;
};
thread_local Handover* t_handover = nullptr;
// Set by dispatch() when the answer it wrote must be the connection's last (a refusal of an
// address under penalty); serve_connection() then closes the connection after writing it.
thread_local bool t_close_after_answer = false;

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
    case Code::kInsufficientStorage: return 507;
  }
  return 500;
}

void write_json(httplib::Response& response, int http_status, std::string body) {
  response.status = http_status;
  // Response::set_content takes a const reference and would copy the body (a _range page is
  // up to max_range_bytes): move it in and set the header as set_content does.
  response.body = std::move(body);
  response.headers.erase("Content-Type");
  response.set_header("Content-Type", "application/json");
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
  // A full store refuses every client write until space returns: the writer logs that once, not
  // per request.
  if (http >= 500 && http != 507) log(LogLevel::kError, "http.server_error", {{"error", status.to_string()}});
  write_json(response, http, json.take());
}

bool client_hung_up() {
  if (t_connection_fd < 0) return false;
  pollfd entry{t_connection_fd, POLLRDHUP, 0};
  if (::poll(&entry, 1, 0) <= 0) return false;
  return (entry.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string RequestContext::header(const std::string& name) const { return http.get_header_value(name); }

bool RequestContext::has_header(const std::string& name) const { return http.has_header(name); }

std::optional<TakenConnection> RequestContext::take_connection() const {
  Handover* handover = t_handover;
  if (handover == nullptr || handover->taken) return std::nullopt;
  // A descriptor of its own: the worker's ClientSocket closes the original as usual, which
  // leaves the socket open (no FIN) while this one refers to it.
  int fd = ::fcntl(handover->socket->fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  TlsSession tls;
  if (handover->tls) {
    // The session was established by the worker's handshake and has written nothing of this
    // request's answer, so it moves whole; the worker's socket never touches it again.
    tls = handover->socket->release_tls(fd);
    if (!tls) {
      ::close(fd);
      return std::nullopt;
    }
  }
  handover->taken = true;
  return TakenConnection{fd, std::move(tls),
                         [limiter = handover->limiter, address = *handover->address] { limiter->release(address); }};
}

// httplib's Server with its request processing opened up: process_request (protected) reads
// the head kvs has already validated from the stream it is given, routes, and writes the
// answer to the same stream.
class HttpServer::Router final : public httplib::Server {
 public:
  bool serve(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, {});
  }
  // httplib streams a content provider's answer (GET /admin/export) only while its own
  // listening socket is valid, its test for "shutting down". kvs accepts by itself, so it
  // lends httplib its socket while serving, and takes it back at stop so that streams end.
  void set_listening_socket(int fd) { svr_sock_ = fd; }
};

struct HttpServer::Connection {
  Connection(int fd, const TlsContext* tls) : socket(fd, tls) {}
  ClientSocket socket;
  std::atomic<bool> idle{false};  // waiting for (or reading) a request head
};

HttpServer::HttpServer(HttpOptions options)
    : options_(std::move(options)),
      router_(std::make_unique<Router>()),
      limiter_(options_.max_connections, options_.max_connections_per_client),
      costly_gate_(kCostlyRequestsPerAddress, kCostlyRequestsWaitingPerAddress) {
  if (!options_.tls_cert_file.empty()) {
    auto loaded = TlsContext::load(options_.tls_cert_file, options_.tls_key_file);
    if (loaded.is_ok()) {
      tls_ = std::move(*loaded);
    } else {
      tls_status_ = loaded.status();
    }
  }
  httplib::Server& s = *router_;

  // httplib only writes "Keep-Alive: timeout=" from this; the connection layer enforces it.
  s.set_keep_alive_max_count(std::numeric_limits<std::size_t>::max());
  s.set_keep_alive_timeout(std::max<std::time_t>(
      1, static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(options_.idle_timeout).count())));
  // The connection layer has already held the body to its route's cap.
  s.set_payload_max_length(std::max(options_.client_body_max_bytes, options_.peer_body_max_bytes));

  // A request without a body is answered here, before httplib's routing (which would answer
  // an unknown method 404 rather than dispatch()'s 405). Requests with a body go on to
  // routing, which reads it from the connection layer's buffer and then calls dispatch()
  // through the catch-all handlers below.
  s.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    t_request_started = std::chrono::steady_clock::now();
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
  // httplib calls the logger once the response is written.
  s.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
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

HttpServer::~HttpServer() {
  if (listen_fd_ >= 0) ::close(listen_fd_);  // bound but never served
}

void HttpServer::add_route(RouteInfo route) { routes_.push_back(std::move(route)); }

void HttpServer::add_interceptor(Interceptor interceptor) { interceptors_.push_back(std::move(interceptor)); }

void HttpServer::add_response_observer(ResponseObserver observer) { observers_.push_back(std::move(observer)); }

void HttpServer::add_costly_request_filter(std::function<bool(const RequestContext&)> costly) {
  costly_filters_.push_back(std::move(costly));
}

void HttpServer::add_refusal_observer(std::function<void(std::string_view reason)> observer) {
  refusal_observers_.push_back(std::move(observer));
}

void HttpServer::count_refusal(std::string_view reason) const {
  for (const auto& observer : refusal_observers_) observer(reason);
}

void HttpServer::count_refusal(int http_status) const {
  count_refusal(http_status == 431 ? "headers_too_large" : http_status == 413 ? "body_too_large" : "malformed");
}

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
    if (!interceptor(context, response)) continue;
    // A missing or bad token (401) or a request over the rate limit (429), refused before any
    // handler: counted toward the address's penalty (see RefusalPenalty). Once the address is
    // penalized, this answer is its connection's last.
    if (response.status == 401 || response.status == 429) {
      if (penalty_.record(request.remote_addr, RefusalPenalty::Kind::kDenied, std::chrono::steady_clock::now())) {
        response.set_header("Connection", "close");
        t_close_after_answer = true;
      }
    }
    return;
  }
  bool costly = std::any_of(costly_filters_.begin(), costly_filters_.end(),
                            [&](const auto& filter) { return filter(context); });
  if (costly) {
    // After authentication and rate limiting, so that only a caller who may run the request
    // waits for a slot.
    const std::string& address = request.remote_addr;
    if (!costly_gate_.enter(address, std::chrono::steady_clock::now() + kCostlyRequestWait)) {
      write_error(response, Status::unavailable("too many costly requests (a _range with values) from " + address +
                                                " at once; retry later"));
      return;
    }
    struct Leave {
      CostlyRequestGate& gate;
      const std::string& address;
      ~Leave() { gate.leave(address); }
    } leave{costly_gate_, address};
    match->handler(context, response);
    return;
  }
  match->handler(context, response);
}

namespace {

// One header line at most (SPEC section 2), line end included; httplib's own line limit.
constexpr std::size_t kMaxHeaderLineBytes = 8192;
// After a refusal, how long and how much of what the client still sends is read and dropped.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 1 << 20;
// The receive buffer of a connection held in the tarpit: what its client sends meanwhile is
// never read.
constexpr int kTarpitReceiveBuffer = 4096;

// What httplib reads of a request (the validated head and the body, from memory) and writes of
// its answer. Writes are gathered and sent together: httplib writes an answer's head and body
// separately, and two sends made two TCP segments, two wake-ups of the client and a syscall
// more per request. An answer larger than kGatherBytes (a stream of GET /admin/export) goes out
// in pieces of about that size; the connection loop flushes the rest once httplib is done.
class RequestStream final : public httplib::Stream {
 public:
  static constexpr std::size_t kGatherBytes = 16384;

  // `out` is the connection's buffer, empty, reused from request to request; `local` caches the
  // connection's local address and port (getsockname) across its requests.
  RequestStream(ClientSocket& socket, const std::string& request, const std::string& remote_address,
                int remote_port, std::chrono::milliseconds write_timeout, std::string& out,
                std::optional<std::pair<std::string, int>>& local)
      : socket_(socket), request_(request), remote_address_(remote_address), remote_port_(remote_port),
        write_timeout_(write_timeout), out_(out), local_(local) {}

  using httplib::Stream::write;
  bool is_readable() const override { return true; }   // the whole request is in memory
  bool is_writable() const override { return true; }   // each write waits, up to its deadline
  ssize_t read(char* ptr, size_t size) override {
    std::size_t n = std::min(size, request_.size() - offset_);
    std::memcpy(ptr, request_.data() + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    // Taken over: the taker writes the answer; httplib's is dropped.
    if (t_handover != nullptr && t_handover->taken) return static_cast<ssize_t>(size);
    if (out_.size() + size > kGatherBytes) {
      if (!flush()) return -1;
      if (size >= kGatherBytes) {
        if (!socket_.write_all(ptr, size, std::chrono::steady_clock::now() + write_timeout_)) return -1;
        return static_cast<ssize_t>(size);
      }
    }
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  // Sends what is gathered; false when the connection failed or the write deadline passed.
  bool flush() {
    if (out_.empty()) return true;
    const bool sent = socket_.write_all(out_.data(), out_.size(), std::chrono::steady_clock::now() + write_timeout_);
    out_.clear();
    return sent;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_address_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    if (!local_) local_ = local_address(socket_.fd());
    ip = local_->first;
    port = local_->second;
  }
  socket_t socket() const override { return socket_.fd(); }

 private:
  static std::pair<std::string, int> local_address(int fd) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return {"", 0};
    char host[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (local.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&local);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      port = ntohs(in->sin_port);
    } else if (local.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&local);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      port = ntohs(in6->sin6_port);
    }
    return {host, port};
  }

  ClientSocket& socket_;
  const std::string& request_;
  std::size_t offset_ = 0;
  const std::string& remote_address_;
  int remote_port_;
  std::chrono::milliseconds write_timeout_;
  std::string& out_;
  std::optional<std::pair<std::string, int>>& local_;
};

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

// The answer to a request the connection layer refuses, with Connection: close.
std::string refusal_answer(const HttpRefusal& refusal) {
  JsonWriter json;
  json.begin_object().key("error").string(refusal.message).key("code").string(refusal.code).end_object();
  std::string body = json.take();
  return "HTTP/1.1 " + std::to_string(refusal.status) + " " + std::string(reason_phrase(refusal.status)) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Closes an accepted socket with a reset (SO_LINGER 0): no FIN handshake and no TIME_WAIT on
// the server, and the client's next send or read fails at once instead of after a round trip.
void reset_close(int fd) {
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

std::pair<std::string, int> peer_address(const sockaddr_storage& peer) {
  char host[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return {host, ntohs(in->sin_port)};
  }
  if (peer.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return {host, ntohs(in6->sin6_port)};
  }
  return {"unknown", 0};
}

}  // namespace

Status HttpServer::bind() {
  if (!tls_status_.is_ok()) return tls_status_;
  std::string where = options_.bind_address + ":" + std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options_.port);
  if (int error = ::getaddrinfo(options_.bind_address.c_str(), port.c_str(), &hints, &found); error != 0) {
    return Status::io_error("cannot resolve " + where + ": " + ::gai_strerror(error));
  }
  int last_error = 0;
  for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    // SO_REUSEADDR but not SO_REUSEPORT, so that a second server on the same port fails to bind
    // instead of silently sharing it. Accepted sockets inherit TCP_NODELAY on Linux (Nagle's
    // algorithm against delayed ACKs would otherwise hold every keep-alive answer ~40 ms).
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, options_.listen_backlog) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = errno;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listen_fd_ >= 0) return Status::ok();
  if (last_error == EADDRINUSE) return Status::unavailable("address " + where + " is already in use");
  return Status::io_error("cannot listen on " + where + (last_error != 0 ? std::string(": ") + std::strerror(last_error) : ""));
}

Status HttpServer::serve() {
  if (listen_fd_ < 0) return Status::internal("serve() before a successful bind()");
  router_->set_listening_socket(listen_fd_);
  // Every admitted connection gets a worker at once (see the header), so the pool may grow to
  // the connection cap; the margin covers a connection that has released its count while its
  // worker has not yet gone back to the pool.
  WorkerPool pool(options_.min_threads, options_.max_connections + 16);
  bool failed = false;
  auto last_fd_warning = std::chrono::steady_clock::time_point{};
  Tarpit tarpit;  // penalized addresses' connections, held unread before their reset
  while (!stop_requested_) {
    for (int held : tarpit.release_due(std::chrono::steady_clock::now())) reset_close(held);
    // Wakes up to notice stop(), and when the tarpit's next hold is over.
    int wait_ms = 200;
    if (auto next = tarpit.next_release()) {
      auto until = std::chrono::ceil<std::chrono::milliseconds>(*next - std::chrono::steady_clock::now()).count();
      wait_ms = static_cast<int>(std::clamp<long long>(until, 0, wait_ms));
    }
    pollfd entry{listen_fd_, POLLIN, 0};
    if (::poll(&entry, 1, wait_ms) <= 0) continue;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_fd_warning > std::chrono::seconds(10)) {
          last_fd_warning = now;
          log(LogLevel::kWarn, "http.accept_failed", {{"error", std::strerror(error)}});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else if (error == EBADF || error == EINVAL || error == ENOTSOCK) {
        failed = true;
        break;
      }
      continue;
    }
    auto [address, port] = peer_address(peer);
    if (const auto now = std::chrono::steady_clock::now(); penalty_.penalized(address, now)) {
      // Before any thread, read or answer (see RefusalPenalty): held unread for a while, then
      // reset; at once when the tarpit is full.
      count_refusal("connection_cap");
      if (tarpit.hold(fd, now)) {
        int small = kTarpitReceiveBuffer;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      } else {
        reset_close(fd);
      }
      continue;
    }
    if (!limiter_.admit(address)) {
      count_refusal("connection_cap");  // first, so that a scrape after the close sees it
      ::close(fd);  // over max_connections or max_connections_per_client: closed at once
      continue;
    }
    pool.enqueue([this, fd, address = std::move(address), port = port] {
      if (!serve_connection(fd, address, port)) limiter_.release(address);
    });
  }
  router_->set_listening_socket(INVALID_SOCKET);  // streaming answers stop
  for (int held : tarpit.release_all()) reset_close(held);
  ::close(listen_fd_);
  listen_fd_ = -1;
  // Waits for every connection's worker: idle ones were closed by stop(), busy ones finish
  // their request and close.
  pool.shutdown();
  if (failed && !stop_requested_) return Status::io_error("the listening socket failed");
  return Status::ok();
}

void HttpServer::stop() {
  std::lock_guard lock(connections_mutex_);
  stop_requested_ = true;
  // Wakes every worker waiting for (or reading) a request head; a worker in the middle of a
  // request finishes it and then sees stop_requested_.
  for (Connection* connection : connections_) {
    if (connection->idle) ::shutdown(connection->socket.fd(), SHUT_RDWR);
  }
}

// Both sides store, then load the other's flag, all sequentially consistent: a worker going idle
// either sees stop_requested_ (and closes by itself) or is seen idle by stop() (and shut down).
bool HttpServer::set_idle(Connection& connection, bool idle) {
  connection.idle = idle;
  return !stop_requested_;
}

void HttpServer::refuse(ClientSocket& socket, const HttpRefusal& refusal, const std::string& address) {
  count_refusal(refusal.status);
  // Only refusals that made the server read (a head up to max_header_bytes, a body up to its
  // cap) count toward the address's penalty; see RefusalPenalty.
  const auto now = std::chrono::steady_clock::now();
  bool penalized = false;
  if (refusal.status == 431 || refusal.status == 413) {
    penalized = penalty_.record(address, RefusalPenalty::Kind::kRead, now);
  }
  if (log_enabled(LogLevel::kDebug)) {
    log(LogLevel::kDebug, "http.refused",
        {{"status", std::to_string(refusal.status)}, {"code", refusal.code}, {"remote", address},
         {"penalized", penalized ? "true" : "false"}});
  }
  std::string answer = refusal_answer(refusal);
  if (!socket.write_all(answer.data(), answer.size(), now + options_.write_timeout)) return;
  // The lingering close lets a client read the answer rather than a reset; a penalized address
  // has had its answers, and gets no more of the server's time.
  if (!penalized) socket.linger_close(kLingerTime, kLingerBytes);
}

bool HttpServer::serve_connection(int fd, const std::string& address, int port) {
  using Clock = std::chrono::steady_clock;
  Connection connection(fd, tls_.get());
  {
    std::lock_guard lock(connections_mutex_);
    connections_.insert(&connection);
  }
  const HeadLimits limits{options_.max_header_bytes, options_.max_headers, kMaxHeaderLineBytes};
  ClientSocket& socket = connection.socket;
  std::string pending;  // bytes read past the previous request (pipelining), then the next head
  char buffer[16384];
  bool taken = false;   // a handler took the connection over (RequestContext::take_connection)
  std::string answer;   // what httplib writes of an answer, gathered (RequestStream)
  std::optional<std::pair<std::string, int>> local;  // the local address, once httplib asks

  auto serve_requests = [&] {
    if (!socket.handshake(Clock::now() + options_.header_timeout)) return;
    for (;;) {
      if (!set_idle(connection, true)) return;
      if (pending.empty() && !socket.wait_readable(Clock::now() + options_.idle_timeout)) return;
      // One deadline for the whole head, from its first byte. The buffer stays within
      // max_header_bytes + 1: parse_request_head refuses anything longer.
      const auto head_deadline = Clock::now() + options_.header_timeout;
      HeadParse parse = parse_request_head(pending, limits);
      while (parse.state == HeadParse::State::kIncomplete) {
        std::size_t room = limits.max_header_bytes + 1 - std::min(pending.size(), limits.max_header_bytes);
        ssize_t got = socket.read(buffer, std::min(room, sizeof buffer), head_deadline);
        if (got <= 0) {  // closed, failed, or the head deadline passed
          if (Clock::now() >= head_deadline) count_refusal("header_timeout");
          return;
        }
        pending.append(buffer, static_cast<std::size_t>(got));
        parse = parse_request_head(pending, limits);
      }
      set_idle(connection, false);
      if (parse.state == HeadParse::State::kRefused) {
        return refuse(socket, parse.refusal, address);
      }
      pending.erase(0, parse.head_bytes);
      RequestHead& head = parse.head;

      const std::size_t cap = is_peer_target(head.target) ? options_.peer_body_max_bytes : options_.client_body_max_bytes;
      const HttpRefusal too_large{413, "too_large", "the request body is over " + std::to_string(cap) + " bytes"};
      constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      std::string request;
      if (head.framing == BodyFraming::kContentLength) {
        if (head.content_length > cap) {
          return refuse(socket, too_large, address);
        }
        auto length = static_cast<std::size_t>(head.content_length);
        request = serialize_head(head, length);
        if (head.expect_continue && pending.size() < length &&
            !socket.write_all(kContinue.data(), kContinue.size(), Clock::now() + options_.write_timeout)) {
          return;
        }
        std::size_t buffered = std::min(length, pending.size());
        request.append(pending, 0, buffered);
        pending.erase(0, buffered);
        std::size_t missing = length - buffered;
        while (missing > 0) {
          ssize_t got = socket.read(buffer, std::min(missing, sizeof buffer), Clock::now() + options_.read_timeout);
          if (got <= 0) return;
          request.append(buffer, static_cast<std::size_t>(got));
          missing -= static_cast<std::size_t>(got);
        }
      } else if (head.framing == BodyFraming::kChunked) {
        ChunkedDecoder decoder(cap, options_.max_header_bytes);
        if (head.expect_continue && pending.empty() &&
            !socket.write_all(kContinue.data(), kContinue.size(), Clock::now() + options_.write_timeout)) {
          return;
        }
        std::size_t consumed = 0;
        auto state = decoder.feed(pending, consumed);
        pending.erase(0, consumed);
        while (state == ChunkedDecoder::State::kNeedMore) {
          ssize_t got = socket.read(buffer, sizeof buffer, Clock::now() + options_.read_timeout);
          if (got <= 0) return;
          std::string_view fresh(buffer, static_cast<std::size_t>(got));
          state = decoder.feed(fresh, consumed);
          if (state == ChunkedDecoder::State::kDone) pending.assign(fresh.substr(consumed));
        }
        if (state == ChunkedDecoder::State::kTooLarge) {
          return refuse(socket, too_large, address);
        }
        if (state == ChunkedDecoder::State::kMalformed) {
          return refuse(socket, HttpRefusal{400, "invalid_argument", "malformed chunked body"}, address);
        }
        request = serialize_head(head, decoder.body().size());
        request.append(decoder.body());
      } else {
        request = serialize_head(head, 0);
      }

      RequestStream stream(socket, request, address, port, options_.write_timeout, answer, local);
      bool stopping = stop_requested_.load();
      bool connection_closed = false;
      t_connection_fd = socket.fd();
      t_close_after_answer = false;
      Handover handover{&socket, false, tls_ != nullptr, &limiter_, &address};
      t_handover = &handover;
      bool written = router_->serve(stream, stopping, connection_closed);
      t_handover = nullptr;
      t_connection_fd = -1;
      if (handover.taken) {
        taken = true;
        return;
      }
      if (!stream.flush()) return;
      if (!written || connection_closed || stopping || t_close_after_answer) return;
    }
  };
  serve_requests();
  std::lock_guard lock(connections_mutex_);
  connections_.erase(&connection);
  return taken;
}

}  // namespace kvs::server
