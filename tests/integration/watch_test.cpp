// GET /kv/_watch (SPEC section 2, "Watch") against a real kvs-server: the ndjson stream (a put, a
// delete and an expiry), heartbeats, SSE framing and Last-Event-ID, the long poll (an answer as
// soon as events exist, an empty one when the wait ends, cursors that chain with no gap and no
// duplicate, bad parameters), resuming after a restart, resync_required for another node's
// cursor, permission filtering between two users, max_watches and a closed stream freeing its
// slot, the end of a stream when its token is revoked or expires and at once on SIGTERM, and the
// cursor of every _range answer (list, then watch from there), an answered watch counted in
// /metrics but left out of the latency histogram, and 600 open streams from several addresses
// held by far fewer server threads, with other clients served, every stream fed and every slot
// freed when they close. Over TLS: 300 streams the same way (the stream loop takes each over
// with its session), an SSE stream, a HEAD of a stream (the stream's head, and the connection
// serves the next request) and a stream request with another pipelined behind it (answered as
// a stream that ends the connection, the second left unanswered).
// Not covered here: the feed's own ordering, retention and buffer rules (libkvs unit tests), the
// stream loop's writes and bounds on their own (tests/unit/server/stream_loop_test.cpp), a
// watch across nodes (tests/cluster/watch_cluster_test.cpp) and kvsctl watch (kvsctl_test.cpp).
// Every wait is bounded; no assertion is about speed beyond "before the long poll's wait ended".

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/event_stream.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/tls_client.hpp"

namespace kvs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Short heartbeats keep the tests quick; the watch routes wake up every second regardless.
constexpr const char* kWatchYaml = "watch_heartbeat: 1s\n";

ServerConfig watch_config(bool auth = false, const std::string& more_yaml = "") {
  ServerConfig config;
  config.auth_enabled = auth;
  config.extra_yaml = std::string(kWatchYaml) + more_yaml;
  return config;
}

// `text` percent-encoded for a query string (cursors are opaque: they may hold any byte).
std::string encoded(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string type_of(const std::string& line) { return json_string(line, "/type").value_or(""); }
std::string path_of(const std::string& line) { return json_string(line, "/path").value_or(""); }

// The next line of `stream` that is not a heartbeat, or "" when none came within `timeout`.
std::string next_event(EventStream& stream, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto line = stream.next_line(left);
    if (!line) return "";
    if (type_of(*line) != "heartbeat") return *line;
  }
  return "";
}

// Opens a stream and waits for its head; the watch exists once the head came.
std::unique_ptr<EventStream> open_stream(const ServerProcess& server, const std::string& target,
                                         const Headers& headers = {}) {
  auto stream = std::make_unique<EventStream>(server.port(), target, headers);
  REQUIRE(stream->status(10s) == 200);
  return stream;
}

// The cursor of a _range answer.
std::string range_cursor(HttpClient& client, const std::string& query, const Headers& headers = {}) {
  auto listed = client.get("/kv/_range?" + query, headers);
  REQUIRE(listed.status == 200);
  auto cursor = json_string(listed.body, "/cursor");
  REQUIRE(cursor);
  REQUIRE_FALSE(cursor->empty());
  return *cursor;
}

// The paths of a long-poll answer's events, in order.
std::vector<std::string> event_paths(const std::string& body) {
  std::vector<std::string> paths;
  std::size_t count = json_size(body, "/events").value_or(0);
  for (std::size_t i = 0; i < count; ++i) paths.push_back(json_string(body, "/events/" + std::to_string(i) + "/path").value_or("?"));
  return paths;
}

void check_error(const HttpResponse& response, long status, const std::string& code) {
  INFO("body: " << response.body);
  CHECK(response.status == status);
  CHECK(json_string(response.body, "/code") == code);
  CHECK_FALSE(json_string(response.body, "/error").value_or("").empty());
}

std::string read_admin_token(const ServerProcess& server) {
  std::ifstream in(server.data_dir() + "/admin.token");
  std::string token;
  std::getline(in, token);
  REQUIRE_FALSE(token.empty());
  return token;
}

// A new user with `scopes` (a JSON array) and a token for it lasting `ttl`: the token, and its
// jti in `jti`.
std::string user_token(HttpClient& client, const std::string& admin, const std::string& nickname,
                       const std::string& scopes, const std::string& ttl = "1h", std::string* jti = nullptr) {
  auto created = client.request("POST", "/auth/users", "{\"nickname\":\"" + nickname + "\",\"scopes\":" + scopes + "}",
                                bearer(admin));
  REQUIRE(created.status == 201);
  auto uuid = json_string(created.body, "/uuid");
  REQUIRE(uuid);
  auto minted = client.request("POST", "/auth/tokens", "{\"user_uuid\":\"" + *uuid + "\",\"ttl\":\"" + ttl + "\"}",
                               bearer(admin));
  REQUIRE(minted.status == 201);
  if (jti) *jti = json_string(minted.body, "/jti").value_or("");
  auto token = json_string(minted.body, "/token");
  REQUIRE(token);
  return *token;
}

// The value of `series` (a metric's name and labels, as /metrics prints them), if present.
std::optional<double> metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

// The server's thread count (Threads: in /proc/<pid>/status), or -1.
long thread_count(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  }
  return -1;
}

// A bare GET /kv/_watch from a chosen loopback source address (EventStream always connects from
// 127.0.0.1, and one address may hold only max_connections_per_client connections). What comes
// back is only collected, not decoded: the test looks for a path in it.
class RawWatch {
 public:
  RawWatch(const std::string& source, std::uint16_t port, const std::string& target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, source.c_str(), &local.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    REQUIRE(::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr) == 1);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0);
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  }
  ~RawWatch() { close(); }
  RawWatch(const RawWatch&) = delete;
  RawWatch& operator=(const RawWatch&) = delete;

  int fd() const { return fd_; }
  const std::string& received() const { return received_; }
  // Reads what is there without waiting; false once the server closed the connection.
  bool read_available() {
    char buffer[4096];
    for (;;) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) {
        received_.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::string received_;
};

// Reads every stream (a RawWatch, or a TlsClient) until each one's bytes contain `text`, or
// `timeout`; how many do.
template <class Stream>
std::size_t wait_until_all_received(std::vector<std::unique_ptr<Stream>>& streams, const std::string& text,
                                    std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto count = [&] {
    std::size_t with = 0;
    for (const auto& stream : streams) with += stream->received().find(text) != std::string::npos ? 1 : 0;
    return with;
  };
  while (count() < streams.size() && Clock::now() < deadline) {
    std::vector<pollfd> entries;
    for (const auto& stream : streams) entries.push_back(pollfd{stream->fd(), POLLIN, 0});
    ::poll(entries.data(), entries.size(), 100);
    for (auto& stream : streams) stream->read_available();
  }
  return count();
}

// Opens `count` streams, made by `open(source)` from 127.0.0.2-4 in turn (one address may hold
// only max_connections_per_client connections), 50 at a time with each batch's heads awaited:
// the pool's workers, which it starts for a burst of connections and keeps a minute, stay few,
// so a thread count then measures what the open streams hold. Every watch is open on return.
template <class Stream, class Open>
std::vector<std::unique_ptr<Stream>> open_many(std::size_t count, Open open) {
  const std::vector<std::string> sources{"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  constexpr std::size_t kBatch = 50;
  std::vector<std::unique_ptr<Stream>> streams;
  for (std::size_t first = 0; first < count; first += kBatch) {
    std::vector<std::unique_ptr<Stream>> batch;
    for (std::size_t i = first; i < std::min(count, first + kBatch); ++i) batch.push_back(open(sources[i % sources.size()]));
    REQUIRE(wait_until_all_received(batch, "HTTP/1.1 200 OK\r\n", 30s) == batch.size());
    for (auto& stream : batch) streams.push_back(std::move(stream));
  }
  return streams;
}

// With `streams` open on `server` (prefix many/): their watches are counted, the server holds
// far fewer threads than streams, another client is served, one write reaches every stream,
// and closing them frees every watch.
template <class Stream>
void check_many_streams(const ServerProcess& server, HttpClient& client, std::vector<std::unique_ptr<Stream>>& streams) {
  const std::string open_series = "kvs_watches_open";
  CHECK(metric(client.get("/metrics").body, open_series) == static_cast<double>(streams.size()));
  const long threads = thread_count(server.pid());
  INFO("server threads with " << streams.size() << " streams open: " << threads);
  CHECK(threads > 0);
  CHECK(threads < static_cast<long>(streams.size() / 4));

  // (a) Another client is served as usual.
  CHECK(client.get("/health").status == 200);
  // (b) One write reaches every stream.
  REQUIRE(client.put("/kv/many/k", R"({"n":1})").status == 200);
  CHECK(wait_until_all_received(streams, "\"path\":\"many/k\"", 60s) == streams.size());

  // (c) Closing them frees every watch.
  for (auto& stream : streams) stream->close();
  std::optional<double> open;
  auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    open = metric(client.get("/metrics").body, open_series);
    if (open == 0.0) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(open == 0.0);
  CHECK(client.get("/kv/_watch?prefix=many/&wait=0").status == 200);
}

// A GET of `target` as the first bytes of a connection.
std::string get_request(const std::string& target, const std::string& more_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + more_headers + "\r\n";
}

}  // namespace

TEST_CASE("an ndjson watch streams a put, a delete and an expiry under its prefix", "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  auto stream = open_stream(server, "/kv/_watch?prefix=w/&values=true");
  CHECK(stream->header("Content-Type") == "application/x-ndjson");
  CHECK(stream->header("Transfer-Encoding") == "chunked");

  auto put = client.put("/kv/w/a", "{\"x\":\n  [1, 2]}");
  REQUIRE(put.status == 200);
  REQUIRE(client.put("/kv/other/b", "1").status == 200);  // outside the prefix
  REQUIRE(client.del("/kv/w/a").status == 204);
  REQUIRE(client.put("/kv/w/t?ttl=1s", "\"short\"").status == 200);

  std::string first = next_event(*stream);
  INFO(first);
  CHECK(type_of(first) == "put");
  CHECK(path_of(first) == "w/a");
  CHECK(json_string(first, "/uuid") == json_string(put.body, "/uuid"));
  CHECK(json_int(first, "/timestamp") == json_int(put.body, "/timestamp"));
  CHECK(json_minified(first, "/data") == "{\"x\":[1,2]}");  // the document, on one line
  std::string removed = next_event(*stream);
  INFO(removed);
  CHECK(type_of(removed) == "delete");
  CHECK(path_of(removed) == "w/a");
  CHECK_FALSE(json_has(removed, "/data"));
  std::string ttl_put = next_event(*stream);
  CHECK(type_of(ttl_put) == "put");
  CHECK(path_of(ttl_put) == "w/t");
  // SPEC: an expiry is a delete event within 5 s of expires_at (1 s from now); some slack.
  std::string expired = next_event(*stream, 15s);
  INFO(expired);
  CHECK(type_of(expired) == "delete");
  CHECK(path_of(expired) == "w/t");

  std::set<std::string> cursors;
  for (const auto& line : {first, removed, ttl_put, expired}) cursors.insert(json_string(line, "/cursor").value_or(""));
  CHECK(cursors.size() == 4);
  CHECK(cursors.count("") == 0);
}

TEST_CASE("a silent watch sends heartbeats with the cursor, and /kv/_watch is no key", "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  auto stream = open_stream(server, "/kv/_watch?prefix=quiet/");
  auto line = stream->next_line(10s);
  REQUIRE(line);
  CHECK(type_of(*line) == "heartbeat");
  CHECK_FALSE(json_string(*line, "/cursor").value_or("").empty());

  // An exact route: other methods are refused as on _range, never taken for a key.
  auto put = client.put("/kv/_watch", "1");
  CHECK(put.status == 405);
  CHECK(client.get("/kv/_watch?prefix=x&wait=0").status == 200);
}

TEST_CASE("an SSE watch frames each event with the cursor as id, and Last-Event-ID resumes after it",
          "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  auto stream = open_stream(server, "/kv/_watch?prefix=sse/", {{"Accept", "text/event-stream"}});
  CHECK(stream->header("Content-Type") == "text/event-stream");
  REQUIRE(client.put("/kv/sse/1", "1").status == 200);
  REQUIRE(client.put("/kv/sse/2", "2").status == 200);

  auto lines = stream->lines_until("sse/2", 10s);
  REQUIRE_FALSE(lines.empty());
  // Each event: "id: C", then "data: {...}" whose cursor is C, then an empty line.
  std::string first_id;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("data: ", 0) != 0) continue;
    REQUIRE(i > 0);
    REQUIRE(lines[i - 1].rfind("id: ", 0) == 0);
    std::string id = lines[i - 1].substr(4);
    std::string object = lines[i].substr(6);
    CHECK(json_string(object, "/cursor") == id);
    if (path_of(object) == "sse/1") first_id = id;
  }
  REQUIRE_FALSE(first_id.empty());
  const std::string& body = stream->body();
  auto at = body.find("id: " + first_id + "\n");
  REQUIRE(at != std::string::npos);
  auto data_end = body.find('\n', body.find("data: ", at));
  CHECK(body.compare(data_end, 2, "\n\n") == 0);
  stream->close();

  // An EventSource reconnecting sends its original URL (here without since) and Last-Event-ID.
  auto resumed = open_stream(server, "/kv/_watch?prefix=sse/",
                             {{"Accept", "text/event-stream"}, {"Last-Event-ID", first_id}});
  auto again = resumed->lines_until("\"sse/2\"", 10s);
  REQUIRE_FALSE(again.empty());
  for (const auto& line : again) CHECK(line.find("\"sse/1\"") == std::string::npos);
}

TEST_CASE("a long poll answers at once when events exist, empty when its wait ends, and chains by cursor",
          "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  client.set_timeout(60s);

  std::string start = range_cursor(client, "prefix=lp/");
  for (int i = 0; i < 5; ++i) REQUIRE(client.put("/kv/lp/" + std::to_string(i), std::to_string(i)).status == 200);

  // Events exist: the answer comes before the 30 s wait ends.
  auto began = Clock::now();
  auto first = client.get("/kv/_watch?prefix=lp/&since=" + encoded(start) + "&wait=30s&limit=2");
  CHECK(Clock::now() - began < 25s);
  REQUIRE(first.status == 200);
  CHECK(first.header("Content-Type") == "application/json");
  CHECK(event_paths(first.body) == std::vector<std::string>{"lp/0", "lp/1"});
  auto cursor = json_string(first.body, "/cursor");
  REQUIRE(cursor);
  CHECK(cursor == json_string(first.body, "/events/1/cursor"));

  // Chained: every event once, in order.
  std::vector<std::string> seen = event_paths(first.body);
  for (int round = 0; round < 5 && seen.size() < 5; ++round) {
    auto next = client.get("/kv/_watch?prefix=lp/&since=" + encoded(*cursor) + "&wait=5s&limit=2");
    REQUIRE(next.status == 200);
    for (const auto& path : event_paths(next.body)) seen.push_back(path);
    cursor = json_string(next.body, "/cursor");
    REQUIRE(cursor);
  }
  CHECK(seen == std::vector<std::string>{"lp/0", "lp/1", "lp/2", "lp/3", "lp/4"});

  // Nothing new: an empty answer when the wait ends, resuming from the same place.
  auto empty = client.get("/kv/_watch?prefix=lp/&since=" + encoded(*cursor) + "&wait=1s");
  REQUIRE(empty.status == 200);
  CHECK(json_size(empty.body, "/events") == 0u);
  auto resume = json_string(empty.body, "/cursor");
  REQUIRE(resume);

  // A waiting poll answers the first change.
  REQUIRE(client.put("/kv/lp/5", "5").status == 200);
  auto later = client.get("/kv/_watch?prefix=lp/&since=" + encoded(*resume) + "&wait=10s");
  REQUIRE(later.status == 200);
  CHECK(event_paths(later.body) == std::vector<std::string>{"lp/5"});
}

TEST_CASE("long-poll and stream parameters out of range are refused with 400", "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  check_error(client.get("/kv/_watch?wait=6m"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?wait=soon"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?wait=1s&limit=0"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?wait=1s&limit=10001"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?limit=5"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?values=maybe"), 400, "invalid_argument");
  check_error(client.get("/kv/_watch?since="), 400, "invalid_argument");
}

TEST_CASE("a watch resumes from its cursor after a server restart", "[integration][watch]") {
  ServerProcess server(watch_config(false, "node_id: watch-restart-node\n"));
  REQUIRE(server.start());
  std::string cursor;
  {
    HttpClient client(server.base_url());
    std::string start = range_cursor(client, "prefix=r/");
    REQUIRE(client.put("/kv/r/1", "1").status == 200);
    REQUIRE(client.put("/kv/r/2", "2").status == 200);
    auto first = client.get("/kv/_watch?prefix=r/&since=" + encoded(start) + "&wait=5s&limit=1");
    REQUIRE(event_paths(first.body) == std::vector<std::string>{"r/1"});
    cursor = json_string(first.body, "/cursor").value_or("");
  }
  REQUIRE(server.stop() == 0);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/r/3", "3").status == 200);

  auto stream = open_stream(server, "/kv/_watch?prefix=r/&since=" + encoded(cursor));
  std::string second = next_event(*stream);
  INFO(second);
  CHECK(type_of(second) == "put");
  CHECK(path_of(second) == "r/2");
  CHECK(path_of(next_event(*stream)) == "r/3");
}

TEST_CASE("another node's cursor gets resync_required first, then the live feed", "[integration][watch]") {
  ServerProcess other(watch_config());
  REQUIRE(other.start());
  std::string foreign;
  {
    HttpClient client(other.base_url());
    REQUIRE(client.put("/kv/f/x", "1").status == 200);
    foreign = range_cursor(client, "prefix=f/");
  }
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  auto stream = open_stream(server, "/kv/_watch?prefix=f/&since=" + encoded(foreign));
  std::string first = next_event(*stream);
  INFO(first);
  CHECK(type_of(first) == "resync_required");
  CHECK_FALSE(json_string(first, "/cursor").value_or("").empty());
  CHECK_FALSE(json_has(first, "/path"));
  REQUIRE(client.put("/kv/f/y", "2").status == 200);
  CHECK(path_of(next_event(*stream)) == "f/y");

  // The long poll: the resync alone, and its cursor to go on from.
  auto poll = client.get("/kv/_watch?prefix=f/&since=" + encoded(foreign) + "&wait=5s");
  REQUIRE(poll.status == 200);
  REQUIRE(json_size(poll.body, "/events") == 1u);
  CHECK(json_string(poll.body, "/events/0/type") == "resync_required");
  CHECK(json_string(poll.body, "/cursor") == json_string(poll.body, "/events/0/cursor"));
}

TEST_CASE("each watcher sees only the changes it may read", "[integration][watch][auth]") {
  ServerProcess server(watch_config(true));
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  std::string admin = read_admin_token(server);
  std::string alice = user_token(client, admin, "alice", R"(["read","write"])");
  std::string bob = user_token(client, admin, "bob", R"(["read","write"])");

  check_error(client.get("/kv/_watch?prefix=p/&wait=0"), 401, "unauthenticated");

  auto alice_stream = open_stream(server, "/kv/_watch?prefix=p/", bearer(alice));
  auto bob_stream = open_stream(server, "/kv/_watch?prefix=p/", bearer(bob));
  auto admin_stream = open_stream(server, "/kv/_watch?prefix=p/", bearer(admin));
  // Default permissions 0xF10: the owner reads, others do not.
  REQUIRE(client.put("/kv/p/alice1", "1", bearer(alice)).status == 200);
  REQUIRE(client.put("/kv/p/bob1", "1", bearer(bob)).status == 200);
  REQUIRE(client.put("/kv/p/alice2", "2", bearer(alice)).status == 200);
  REQUIRE(client.put("/kv/p/bob2", "2", bearer(bob)).status == 200);

  auto paths_until = [](EventStream& stream, const std::string& last) {
    std::vector<std::string> paths;
    for (const auto& line : stream.lines_until(last, 10s)) {
      if (type_of(line) != "heartbeat") paths.push_back(path_of(line));
    }
    return paths;
  };
  CHECK(paths_until(*alice_stream, "p/alice2") == std::vector<std::string>{"p/alice1", "p/alice2"});
  CHECK(paths_until(*bob_stream, "p/bob2") == std::vector<std::string>{"p/bob1", "p/bob2"});
  CHECK(paths_until(*admin_stream, "p/bob2") ==
        std::vector<std::string>{"p/alice1", "p/bob1", "p/alice2", "p/bob2"});
}

TEST_CASE("past max_watches a watch gets 503, and a closed stream frees its slot", "[integration][watch]") {
  ServerProcess server(watch_config(false, "max_watches: 2\n"));
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  auto one = open_stream(server, "/kv/_watch?prefix=m/");
  auto two = open_stream(server, "/kv/_watch?prefix=m/");
  check_error(client.get("/kv/_watch?prefix=m/&wait=1s"), 503, "unavailable");
  EventStream three(server.port(), "/kv/_watch?prefix=m/");
  CHECK(three.status(10s) == 503);

  // The server notices the closed connection at its next wake-up and releases the watch.
  one->close();
  bool reopened = false;
  auto deadline = Clock::now() + 15s;
  while (!reopened && Clock::now() < deadline) {
    auto poll = client.get("/kv/_watch?prefix=m/&wait=0");
    reopened = poll.status == 200;
    if (!reopened) std::this_thread::sleep_for(200ms);
  }
  CHECK(reopened);
  REQUIRE(client.put("/kv/m/k", "1").status == 200);
  CHECK(path_of(next_event(*two)) == "m/k");
}

TEST_CASE("a stream ends when its token is revoked or expires", "[integration][watch][auth]") {
  ServerProcess server(watch_config(true));
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  std::string admin = read_admin_token(server);
  std::string jti;
  std::string revoked = user_token(client, admin, "carol", R"(["read","write"])", "1h", &jti);
  REQUIRE_FALSE(jti.empty());
  std::string expiring = user_token(client, admin, "dave", R"(["read"])", "3s");

  auto stream = open_stream(server, "/kv/_watch?prefix=t/", bearer(revoked));
  auto short_lived = open_stream(server, "/kv/_watch?prefix=t/", bearer(expiring));
  REQUIRE(client.put("/kv/t/1", "1", bearer(revoked)).status == 200);
  CHECK(path_of(next_event(*stream)) == "t/1");

  REQUIRE(client.del("/auth/tokens/" + jti, bearer(admin)).status == 204);
  CHECK(stream->ends_within(10s));
  CHECK(stream->ended_cleanly());
  CHECK(short_lived->ends_within(15s));
  check_error(client.get("/kv/_watch?wait=0", bearer(revoked)), 401, "unauthenticated");
}

TEST_CASE("SIGTERM ends an open stream at once and the server exits cleanly", "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  auto stream = open_stream(server, "/kv/_watch");

  server.send_signal(SIGTERM);
  // Within one wake-up of the watch (a second), far below the 10 s heartbeat-free bound here.
  CHECK(stream->ends_within(5s));
  CHECK(stream->ended_cleanly());
  CHECK(server.wait_exit(20s) == 0);
}

TEST_CASE("every _range answer carries a cursor, and watching from it sees later writes only",
          "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/l/1", "1").status == 200);
  REQUIRE(client.put("/kv/l/2/x", "2").status == 200);

  for (const char* query : {"prefix=l/", "prefix=l/&delimiter=/", "prefix=none/", "start_key=a&end_key=b&limit=1",
                            "prefix=l/&values=true&limit=1"}) {
    INFO(query);
    auto listed = client.get(std::string("/kv/_range?") + query);
    REQUIRE(listed.status == 200);
    CHECK_FALSE(json_string(listed.body, "/cursor").value_or("").empty());
  }

  std::string cursor = range_cursor(client, "prefix=l/&delimiter=/");
  REQUIRE(client.put("/kv/l/3", "3").status == 200);
  auto poll = client.get("/kv/_watch?prefix=l/&since=" + encoded(cursor) + "&wait=10s");
  REQUIRE(poll.status == 200);
  CHECK(event_paths(poll.body) == std::vector<std::string>{"l/3"});

  auto stream = open_stream(server, "/kv/_watch?prefix=l/&since=" + encoded(cursor));
  CHECK(path_of(next_event(*stream)) == "l/3");
}

TEST_CASE("an answered watch is counted but not timed: a stream's lifetime is no latency", "[integration][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  auto stream = open_stream(server, "/kv/_watch?prefix=t/");
  REQUIRE(client.put("/kv/t/k", "1").status == 200);
  CHECK(path_of(next_event(*stream)) == "t/k");
  stream->close();
  REQUIRE(client.get("/kv/_watch?prefix=t/&wait=0").status == 200);  // a long poll
  REQUIRE(client.get("/kv/_watch?limit=5").status == 400);           // answered at once

  // The stream is counted when it ends: once the server noticed that its client left.
  const std::string answered = R"(kvs_http_requests_total{route="kv_watch",method="GET",status="200"})";
  std::string text;
  auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    text = client.get("/metrics").body;
    if (metric(text, answered).value_or(0) >= 2) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO(text);
  CHECK(metric(text, answered) == 2);
  CHECK(metric(text, R"(kvs_http_requests_total{route="kv_watch",method="GET",status="400"})") == 1);
  // Only the refused one was timed.
  CHECK(metric(text, R"(kvs_http_request_duration_seconds_count{route="kv_watch",method="GET"})") == 1);
}

TEST_CASE("600 open streams hold no thread each: other clients are served, every stream gets a write, and closing frees them",
          "[integration][watch]") {
  // 600 streams from three addresses (200 each, under max_connections_per_client's 256). On
  // its worker, each stream would hold a thread for its life; the server must hold far fewer.
  ServerProcess server(watch_config(false, "max_watches: 700\n"));
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  auto streams = open_many<RawWatch>(600, [&](const std::string& source) {
    return std::make_unique<RawWatch>(source, server.port(), "/kv/_watch?prefix=many/");
  });
  check_many_streams(server, client, streams);
}

TEST_CASE("300 TLS watch streams hold no thread each: other clients are served, every stream gets a write, and closing "
          "frees them",
          "[integration][watch][tls]") {
  // The connection layer hands each stream's TLS session over with its socket.
  ServerConfig config = watch_config(false, "max_watches: 400\n");
  config.tls = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  INFO("server threads before the streams: " << thread_count(server.pid()));
  auto streams = open_many<TlsClient>(300, [&](const std::string& source) {
    auto stream = std::make_unique<TlsClient>(source, server.port());
    REQUIRE(stream->send(get_request("/kv/_watch?prefix=many/")));
    return stream;
  });
  check_many_streams(server, client, streams);
}

TEST_CASE("over TLS an SSE stream frames its events, a HEAD gets the stream's head and keeps its connection, and a "
          "pipelined stream ends its connection",
          "[integration][watch][tls]") {
  ServerConfig config = watch_config();
  config.tls = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  TlsClient sse("127.0.0.1", server.port());
  REQUIRE(sse.send(get_request("/kv/_watch?prefix=sse/", "Accept: text/event-stream\r\n")));
  REQUIRE(sse.read_until("\r\n\r\n", 10s));
  CHECK(sse.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(sse.received().find("Content-Type: text/event-stream\r\n") != std::string::npos);
  CHECK(sse.received().find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  REQUIRE(client.put("/kv/sse/1", "1").status == 200);
  REQUIRE(sse.read_until("\"path\":\"sse/1\"", 10s));
  // One chunk: "id: <cursor>", then "data: {...}", then an empty line.
  const std::string& got = sse.received();
  const auto id = got.find("id: ");
  const auto data = got.find("\ndata: {");
  REQUIRE(id != std::string::npos);
  REQUIRE(data != std::string::npos);
  CHECK(id < data);
  CHECK(sse.read_until("}\n\n", 5s));

  // A HEAD: the stream's head, no body, and the connection serves the next request.
  TlsClient head("127.0.0.1", server.port());
  REQUIRE(head.send("HEAD /kv/_watch?prefix=sse/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(head.read_until("\r\n\r\n", 10s));
  const std::string head_answer = head.received();
  CHECK(head_answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head_answer.find("Content-Type: application/x-ndjson\r\n") != std::string::npos);
  REQUIRE(head.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(head.read_until("\"status\":\"ok\"", 10s));
  CHECK(head.received().compare(head_answer.size(), 17, "HTTP/1.1 200 OK\r\n") == 0);  // nothing between
  // The HEAD's watch is closed again: only the SSE stream's is open.
  CHECK(metric(client.get("/metrics").body, "kvs_watches_open") == 1.0);

  // A stream request with another pipelined behind it: the stream, which ends the connection,
  // and no answer to the second (the client sends it again elsewhere).
  TlsClient pipelined("127.0.0.1", server.port());
  REQUIRE(pipelined.send(get_request("/kv/_watch?prefix=sse/") + "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(pipelined.read_until("\r\n\r\n", 10s));
  CHECK(pipelined.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(pipelined.received().find("Connection: close\r\n") != std::string::npos);
  REQUIRE(client.put("/kv/sse/2", "2").status == 200);
  CHECK(pipelined.read_until("\"path\":\"sse/2\"", 10s));
  CHECK(pipelined.received().find("\"status\":\"ok\"") == std::string::npos);
  CHECK(metric(client.get("/metrics").body, "kvs_watches_open") == 2.0);
}

}  // namespace kvs::test
