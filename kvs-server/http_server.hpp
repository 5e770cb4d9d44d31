#pragma once

// HttpServer: kvs-server's HTTP layer. cpp-httplib 0.11 does the routing, the handlers and
// the writing of responses; kvs does the accepting and the reading, because httplib reads a
// request without bounds (a header line is buffered whole before its size check, the header
// count is unlimited, a chunked body is not held to the payload limit, the read timeout is per
// recv rather than a deadline for the head) and cannot be bounded from outside.
//
// How a connection is served (SPEC section 2, "Limits, hostile clients and storage"):
//  1. serve() runs the accept loop itself. A new connection over max_connections in all or
//     over max_connections_per_client from its remote address is closed at once
//     (ConnectionLimiter). An admitted one gets a worker thread for its whole life.
//  2. The worker waits up to idle_timeout for a request to begin, then reads the head into a
//     buffer that never holds more than max_header_bytes (plus one read), with one deadline,
//     header_timeout, for the whole head; at the deadline the connection is closed.
//     parse_request_head (request_head.hpp, a pure function) answers 431 headers_too_large as
//     soon as the bytes seen pass a limit, and 400/411/415/501/505 for bad framing.
//  3. The body is read only when its framing allows: Content-Length over the route's cap is a
//     413 before any of it is read; a chunked body is decoded as it arrives (ChunkedDecoder)
//     and refused with 413 as soon as a chunk would pass the cap. Peers' routes have a larger
//     cap than clients' (max_json_size + 1024).
//  4. httplib is handed a stream that yields only the re-serialised, validated head (one
//     Content-Length) and the decoded body, and writes to the socket with a write deadline;
//     Server::process_request (protected, reached through a subclass) routes and answers.
//  5. Refusals are written by kvs with Connection: close, followed by a lingering close (up to
//     1 s or 1 MiB read and dropped) so the client sees the answer rather than a reset.
//  6. A handler may take its connection over (RequestContext::take_connection) for an answer
//     that outlives the request: a watch stream, over plain TCP or TLS (the session moves with
//     the socket), is handed to the one stream loop thread (stream_loop.hpp), and the worker
//     returns to the pool at once. The connection keeps its place under the connection caps
//     until the stream ends, and ends with it: bytes of further requests pipelined behind the
//     taken one are dropped unanswered (the stream's head says Connection: close, so the client
//     knows to send them again on another connection).
//
// What an abusive address costs, and how it is kept small:
//  - Refusals an address can repeat at will count per address (RefusalPenalty,
//    connection_limits.hpp): the 4th that made the server read (431 heads, 413 bodies), or the
//    100th 401/429 answered by authentication or rate limiting, within 10 s puts the address
//    under a 5 s penalty. During it the accept loop takes its new connections before a worker,
//    a read or an answer, holds them unread for 1 s (up to 64 at a time; Tarpit) and resets
//    them; the refusals of its open connections are their last answers (Connection: close, no
//    lingering close). A flood of oversized heads or bodies then costs an accept and a close per
//    connection, and at most four reads of up to max_header_bytes (or a body's cap) plus their
//    lingering closes per 15 s; a flood of bad tokens, 100 answers per 15 s. A client told 429
//    with Retry-After that waits as told stays far below 100. Cheap refusals (400, 411, 415) do
//    not count. The penalty is not extended by further attempts, so a client behind a shared
//    address is served again within seconds. Closes for a penalty count as connection_cap
//    refusals.
//  - Costly requests (add_costly_request_filter; data routes mark `_range?values=true`, whose
//    answer may reach max_range_bytes) run one at a time per address (CostlyRequestGate; a
//    page cost ~75 ms of CPU on the bench, two at once took both its cores); up to eight more
//    wait in their worker, using no CPU, up to 10 s, then get 503 with Retry-After; beyond
//    those eight, the 503 comes at once. One address's pages thus take one worker's share of
//    the CPU, and max_range_bytes of memory while building, at a time; a client that pages one
//    request after another never waits.
//
// Workers: a connection holds its worker while idle too (that is the price of keeping
// httplib's blocking handlers), so the pool grows up to max_connections threads and never
// queues an admitted connection. An open watch stream holds none (step 6). One address holds at most max_connections_per_client
// workers, which leaves max_connections - max_connections_per_client connections, each with
// its worker, for every other address: slow or idle connections from one address cannot starve
// the others. An idle worker costs its stack's touched pages and a head buffer.
//
// Request flow after httplib: parse and strictly percent-decode the target -> find the route
// (404 unknown path, 405 known path with another method) -> interceptors in order
// (authentication, rate limiting, ...; each may answer) -> the handler. Every error body is
// {"error","code"}. All handlers run on worker threads, concurrently.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client_socket.hpp"
#include "connection_limits.hpp"
#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "url.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace kvs::server {

// Maps a Status code to its HTTP status: the one table (STYLE section 3).
int http_status(Status::Code code) noexcept;

// Writes `status` as the JSON error body with its HTTP status and extra headers
// (WWW-Authenticate for 401, Retry-After for 429/503).
void write_error(httplib::Response& response, const Status& status);

// Writes a JSON body with `http_status`.
void write_json(httplib::Response& response, int http_status, std::string body);

// Whether the client of the request this worker thread is serving has closed its end of the
// connection or reset it. For a handler or a content provider that waits long (a watch) and
// would otherwise learn of a gone client only when its next write fails. False on a thread
// that serves no request.
bool client_hung_up();

struct RouteInfo;
struct HttpRefusal;

// A connection a handler has taken over (RequestContext::take_connection).
struct TakenConnection {
  int fd = -1;                    // its own descriptor of the socket (non-blocking); the taker closes it
  TlsSession tls;                 // the established session on `fd`; null for plain TCP
  std::function<void()> release;  // gives back its place under max_connections(_per_client); once, after the close
};

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

  // Takes the connection over, for an answer that outlives its request (a watch stream): the
  // taker writes the whole answer, head included; what httplib writes for this request is
  // dropped, the connection layer never reads from the connection or closes it again, and the
  // worker returns to the pool when the handler does. The connection still counts toward
  // max_connections and max_connections_per_client until the taker calls `release`. A TLS
  // connection's session goes with it. Bytes of further requests already read (pipelining)
  // are dropped: the taker's answer must end the connection (Connection: close).
  // nullopt when it cannot be taken: taken already, or no descriptor or session to spare.
  std::optional<TakenConnection> take_connection() const;
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
  int listen_backlog{1024};
  std::size_t max_connections{4096};
  std::size_t max_connections_per_client{256};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
  std::size_t max_header_bytes{16384};
  std::size_t max_headers{100};
  std::size_t client_body_max_bytes{(1 << 20) + 1024};  // max_json_size + 1024
  std::size_t peer_body_max_bytes{2 << 20};              // /members/join, /members/gossip, /sync/
  // A body must keep arriving: each read waits at most this long. Writes likewise.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
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
  // Marks the requests that `costly` selects as costly (filters run after the interceptors, on
  // the worker thread; a request is costly when any selects it): one remote address runs one of
  // them at a time; up to eight more wait up to 10 s for a slot, others get 503 with Retry-After
  // at once. Requires: called before serve().
  void add_costly_request_filter(std::function<bool(const RequestContext&)> costly);
  // Called for every connection or request the connection layer refuses before routing, with
  // its reason: connection_cap (closed at accept: over a cap, or from an address under a
  // refusal penalty), headers_too_large (431), body_too_large
  // (413), header_timeout (closed), malformed (another refusal of the head or body framing).
  // Runs on the accept or worker thread. Requires: called before serve().
  void add_refusal_observer(std::function<void(std::string_view reason)> observer);

  // Binds the listening socket. kUnavailable when the address is in use, kIOError otherwise.
  Status bind();
  // Serves until stop(); returns after in-flight requests have finished. Requires: bind() ok.
  Status serve();
  // Stops accepting, closes idle connections and makes serve() return once in-flight requests
  // are done. Safe from any thread, but not from a signal handler.
  void stop();

  const HttpOptions& options() const noexcept { return options_; }

 private:
  class Router;
  struct Connection;

  void dispatch(const httplib::Request& request, httplib::Response& response);
  // Serves the connection's requests. True when a handler took the connection over: its place
  // under the connection caps is then released by the taker, not here.
  bool serve_connection(int fd, const std::string& address, int port);
  // Marks `connection` as waiting for a request (true) or serving one (false). Returns false
  // when the server is stopping and the connection should close instead.
  bool set_idle(Connection& connection, bool idle);
  // Writes `refusal` and closes: counts it, records a 431 or 413 toward the address's penalty,
  // and lingers unless the address is penalized.
  void refuse(ClientSocket& socket, const HttpRefusal& refusal, const std::string& address);
  // Tells the refusal observers; a refused head or body is counted by its HTTP status.
  void count_refusal(std::string_view reason) const;
  void count_refusal(int http_status) const;

  HttpOptions options_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<TlsContext> tls_;
  Status tls_status_;
  ConnectionLimiter limiter_;
  RefusalPenalty penalty_;
  CostlyRequestGate costly_gate_;
  std::vector<std::function<bool(const RequestContext&)>> costly_filters_;
  int listen_fd_ = -1;
  std::vector<RouteInfo> routes_;
  std::vector<Interceptor> interceptors_;
  std::vector<ResponseObserver> observers_;
  std::vector<std::function<void(std::string_view)>> refusal_observers_;
  // The open connections, so that stop() can close the idle ones at once (a connection in the
  // middle of a request finishes it). The set is guarded by connections_mutex_, taken when a
  // connection opens and closes; each connection's idle flag is its own atomic, so a request
  // takes no lock shared with the other connections (set_idle says how stop() still sees it).
  std::mutex connections_mutex_;
  std::unordered_set<Connection*> connections_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace kvs::server
