// kvs-server's stream loop (kvs-server/stream_loop.hpp) on its own, over socketpairs: the timer
// queue's order and grid, the chunk framing and its bound on pending output with a client that
// does not read, and the loop serving a stream end to end (head, a chunk per readiness, the
// final chunk when the source ends, a client hang-up freeing the source, stop() ending what is
// open).
// The same over TLS, with a real OpenSSL client on one end and, on the other, a session
// handshaken by the connection layer's ClientSocket and released as take_connection releases
// it: the framing and the clean end (final chunk, close_notify), a backlog many times the
// socket's buffers arriving intact through retried writes, a client that stops reading
// holding the output at the pending bound until the write timeout cuts it, and a hang-up or a
// close_notify freeing the stream.
// Not covered here: watches behind the sources and the connection handover (tests/integration/
// watch_test.cpp and watch_tls_test.cpp run them against a real server).

#include "stream_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "client_socket.hpp"
#include "support/temp_dir.hpp"
#include "support/tls_client.hpp"

namespace {

using namespace std::chrono_literals;
using kvs::server::ChunkedOutput;
using kvs::server::DeadlineQueue;
using kvs::server::StreamClock;
using kvs::server::StreamLoop;
using kvs::server::StreamConnection;
using kvs::server::StreamSource;

// A connected pair of non-blocking stream sockets: [0] the server's end, [1] the client's.
struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  }
  ~SocketPair() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  // Hands the server's end over (its new owner closes it).
  int release_server() { return std::exchange(fds[0], -1); }
};

// Reads from `fd` until `expected` bytes came or `timeout` passed; what came.
std::string read_bytes(int fd, std::size_t expected, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (got.size() < expected && std::chrono::steady_clock::now() < deadline) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, expected - got.size()), 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return got;
}

// True when the peer closed `fd`'s connection within `timeout` (after any bytes still unread).
bool closed_within(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN) return true;
  }
  return false;
}

// A source the test feeds: payloads pushed from the test thread, and what to answer when empty.
struct FakeState {
  std::mutex mutex;
  std::deque<std::string> payloads;
  std::size_t pulled_bytes = 0;  // payload bytes the loop took
  bool end = false;
  std::function<void()> ready;
  std::atomic<int> timers{0};
  std::promise<void> destroyed;
  std::promise<void> closed;
};

class FakeSource final : public StreamSource {
 public:
  explicit FakeSource(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  ~FakeSource() override { state_->destroyed.set_value(); }
  void attach(std::function<void()> ready) override {
    std::lock_guard lock(state_->mutex);
    state_->ready = std::move(ready);
  }
  Pull pull(std::string& out, StreamClock::time_point) override {
    std::lock_guard lock(state_->mutex);
    if (!state_->payloads.empty()) {
      out = std::move(state_->payloads.front());
      state_->payloads.pop_front();
      state_->pulled_bytes += out.size();
      return state_->payloads.empty() ? (state_->end ? Pull::kEnd : Pull::kIdle) : Pull::kMore;
    }
    return state_->end ? Pull::kEnd : Pull::kIdle;
  }
  bool on_timer(std::string&, StreamClock::time_point now, StreamClock::time_point& next) override {
    state_->timers.fetch_add(1);
    next = now + 1h;
    return true;
  }
  StreamClock::time_point first_timer(StreamClock::time_point now) override { return now + 1h; }

 private:
  std::shared_ptr<FakeState> state_;
};

void push(FakeState& state, std::string payload, bool end = false) {
  std::function<void()> ready;
  {
    std::lock_guard lock(state.mutex);
    state.payloads.push_back(std::move(payload));
    state.end = end;
    ready = state.ready;
  }
  REQUIRE(ready);
  ready();
}

bool adopt(StreamLoop& loop, SocketPair& pair, const std::shared_ptr<FakeState>& state, std::string head = "HEAD\r\n") {
  return loop.adopt(StreamConnection(pair.release_server()), std::move(head), std::make_unique<FakeSource>(state),
                    [state] { state->closed.set_value(); });
}

bool ready_within(std::future<void>& future, std::chrono::milliseconds timeout) {
  return future.wait_for(timeout) == std::future_status::ready;
}

// The server's TLS context, with a certificate made for this run. OpenSSL writes to its socket
// with write(2), which raises SIGPIPE on a closed connection: kvs-server ignores it (main), and
// so does this test process once it speaks TLS.
const kvs::server::TlsContext& server_tls() {
  static const bool ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
  REQUIRE(ignored);
  static const kvs::test::TempDir dir("kvs-stream-loop-tls");
  static const std::unique_ptr<kvs::server::TlsContext> context = [] {
    kvs::test::write_self_signed_certificate((dir / "cert.pem").string(), (dir / "key.pem").string());
    auto loaded = kvs::server::TlsContext::load((dir / "cert.pem").string(), (dir / "key.pem").string());
    REQUIRE(loaded.is_ok());
    return std::move(*loaded);
  }();
  return *context;
}

// A TLS connection over a socketpair: the client's end, and the server's end as the loop gets
// it from take_connection (handshaken by a ClientSocket, released onto a descriptor of its own).
struct TlsPair {
  std::unique_ptr<kvs::test::TlsClient> client;
  std::unique_ptr<StreamConnection> server;
};

TlsPair tls_pair() {
  SocketPair pair;
  const int server_fd = pair.release_server();
  TlsPair made;
  made.client = std::make_unique<kvs::test::TlsClient>(std::exchange(pair.fds[1], -1));
  const kvs::server::TlsContext& context = server_tls();
  auto server_side = std::async(std::launch::async, [server_fd, &context]() -> std::unique_ptr<StreamConnection> {
    kvs::server::ClientSocket socket(server_fd, &context);
    if (!socket.handshake(std::chrono::steady_clock::now() + 10s)) return nullptr;
    int own = ::fcntl(server_fd, F_DUPFD_CLOEXEC, 0);
    kvs::server::TlsSession session = socket.release_tls(own);
    if (!session) {
      ::close(own);
      return nullptr;
    }
    return std::make_unique<StreamConnection>(own, std::move(session));
  });
  REQUIRE(made.client->handshake(10s));
  made.server = server_side.get();
  REQUIRE(made.server);
  REQUIRE(made.server->is_tls());
  return made;
}

// Shrinks the server side's send buffer so that the socket refuses writes early and often:
// SSL_write must retry.
void shrink_send_buffer(TlsPair& pair) {
  int small = 4096;
  ::setsockopt(pair.server->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

bool adopt_tls(StreamLoop& loop, TlsPair& pair, const std::shared_ptr<FakeState>& state, std::string head) {
  return loop.adopt(std::move(*pair.server), std::move(head), std::make_unique<FakeSource>(state),
                    [state] { state->closed.set_value(); });
}

// Hands `state`'s source the payloads, with one readiness call.
void push_all(FakeState& state, const std::vector<std::string>& payloads, bool end) {
  std::function<void()> ready;
  {
    std::lock_guard lock(state.mutex);
    for (const auto& payload : payloads) state.payloads.push_back(payload);
    state.end = end;
    ready = state.ready;
  }
  REQUIRE(ready);
  ready();
}

}  // namespace

TEST_CASE("the deadline queue pops due entries earliest first, on a grid, and keeps later ones",
          "[server][stream_loop]") {
  DeadlineQueue queue;
  const auto base = DeadlineQueue::round_up(StreamClock::now());
  CHECK(DeadlineQueue::round_up(base) == base);
  CHECK(DeadlineQueue::round_up(base + 1ms) == base + kvs::server::kTimerGranularity);
  CHECK_FALSE(queue.next());

  queue.push(base + 300ms, 3);
  queue.push(base + 100ms, 1);
  queue.push(base + 150ms, 2);  // rounds up to base + 200ms
  queue.push(base + 5s, 4);
  REQUIRE(queue.next());
  CHECK(*queue.next() == base + 100ms);

  std::vector<std::uint64_t> due;
  queue.pop_due(base + 199ms, due);
  CHECK(due == std::vector<std::uint64_t>{1});
  queue.pop_due(base + 300ms, due);
  CHECK(due == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(queue.size() == 1);
  CHECK(*queue.next() == base + 5s);
}

TEST_CASE("chunked output frames each payload as an HTTP chunk and the end as a zero-length chunk",
          "[server][stream_loop]") {
  SocketPair pair;
  ChunkedOutput output;
  output.append_raw("HTTP/1.1 200 OK\r\n\r\n");
  output.append_chunk("{\"a\":1}\n");
  output.append_chunk("");  // nothing: an empty chunk would end the body
  output.append_chunk(std::string(26, 'x'));
  output.append_end();
  const std::string expected = "HTTP/1.1 200 OK\r\n\r\n8\r\n{\"a\":1}\n\r\n1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n";
  CHECK(output.pending() == expected.size());
  StreamConnection server(pair.release_server());
  bool progressed = false;
  CHECK(output.flush(server, progressed) == ChunkedOutput::Flush::kDrained);
  CHECK(progressed);
  CHECK(output.pending() == 0);
  CHECK(read_bytes(pair.fds[1], expected.size(), 5s) == expected);
}

TEST_CASE("chunked output to a client that does not read keeps only the unsent bytes, and says when it is full",
          "[server][stream_loop]") {
  SocketPair pair;
  int small = 4096;
  ::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(pair.fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  StreamConnection server(pair.release_server());
  ChunkedOutput output;
  const std::string payload(64 * 1024, 'p');
  std::size_t appended = 0;
  while (output.has_room()) {
    output.append_chunk(payload);
    appended += payload.size();
  }
  // Full: at least the bound, at most the bound plus the last payload and its framing.
  CHECK(output.pending() >= kvs::server::kMaxPendingBytes);
  CHECK(output.pending() < kvs::server::kMaxPendingBytes + payload.size() + 32);
  bool progressed = false;
  CHECK(output.flush(server, progressed) == ChunkedOutput::Flush::kBlocked);
  CHECK(progressed);  // the socket took what its buffers hold
  const std::size_t left = output.pending();
  CHECK(left > 0);
  CHECK(output.flush(server, progressed) == ChunkedOutput::Flush::kBlocked);
  CHECK_FALSE(progressed);
  CHECK(output.pending() == left);

  // The client reads everything: the output drains, and the bytes are the chunks in order.
  std::string received;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  ChunkedOutput::Flush state = ChunkedOutput::Flush::kBlocked;
  while (std::chrono::steady_clock::now() < deadline) {
    received += read_bytes(pair.fds[1], 1 << 20, 20ms);
    state = output.flush(server, progressed);
    if (state == ChunkedOutput::Flush::kDrained) break;
  }
  CHECK(state == ChunkedOutput::Flush::kDrained);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string more = read_bytes(pair.fds[1], 1 << 20, 50ms);
    if (more.empty()) break;
    received += more;
  }
  const std::string chunk = "10000\r\n" + payload + "\r\n";
  CHECK(received.size() == (appended / payload.size()) * chunk.size());
  CHECK(received.substr(0, chunk.size()) == chunk);
}

TEST_CASE("the stream loop writes the head, a chunk per readiness, and the final chunk when the source ends",
          "[server][stream_loop]") {
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  SocketPair pair;
  auto state = std::make_shared<FakeState>();
  auto destroyed = state->destroyed.get_future();
  auto closed = state->closed.get_future();
  {
    std::lock_guard lock(state->mutex);
    state->payloads.push_back("first\n");  // ready before any readiness call: pulled on adoption
  }
  REQUIRE(adopt(loop, pair, state));
  const std::string head_and_first = "HEAD\r\n6\r\nfirst\n\r\n";
  CHECK(read_bytes(pair.fds[1], head_and_first.size(), 5s) == head_and_first);
  CHECK(loop.open_streams() == 1);

  push(*state, "second\n");
  const std::string second = "7\r\nsecond\n\r\n";
  CHECK(read_bytes(pair.fds[1], second.size(), 5s) == second);

  push(*state, "last\n", true);
  const std::string last = "5\r\nlast\n\r\n0\r\n\r\n";
  CHECK(read_bytes(pair.fds[1], last.size(), 5s) == last);
  CHECK(closed_within(pair.fds[1], 5s));
  CHECK(ready_within(destroyed, 5s));
  CHECK(ready_within(closed, 5s));
  CHECK(loop.open_streams() == 0);
  CHECK(state->timers.load() == 0);  // its timer was an hour away
  loop.stop();
}

TEST_CASE("the stream loop drains a source's backlog of many batches with a single readiness call",
          "[server][stream_loop]") {
  // Over kMaxPendingBytes ready at once: the loop writes a part, finds the socket took it, and
  // must go on by itself, since a source that is not drained gets no further readiness call.
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  SocketPair pair;
  auto state = std::make_shared<FakeState>();
  REQUIRE(adopt(loop, pair, state, "H\r\n"));
  CHECK(read_bytes(pair.fds[1], 3, 5s) == "H\r\n");
  const std::string payload(64 * 1024, 'b');
  constexpr std::size_t kPayloads = 40;  // 2.5 MiB, ten times the pending bound
  std::function<void()> ready;
  {
    std::lock_guard lock(state->mutex);
    for (std::size_t i = 0; i < kPayloads; ++i) state->payloads.push_back(payload);
    ready = state->ready;
  }
  REQUIRE(ready);
  ready();
  const std::string chunk = "10000\r\n" + payload + "\r\n";
  const std::string received = read_bytes(pair.fds[1], kPayloads * chunk.size(), 20s);
  CHECK(received.size() == kPayloads * chunk.size());
  CHECK(received.substr(received.size() - chunk.size()) == chunk);
  loop.stop();
}

TEST_CASE("the stream loop frees a stream whose client hangs up, and stop() ends the others cleanly",
          "[server][stream_loop]") {
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  SocketPair gone_pair;
  SocketPair open_pair;
  auto gone = std::make_shared<FakeState>();
  auto open = std::make_shared<FakeState>();
  auto gone_destroyed = gone->destroyed.get_future();
  auto gone_closed = gone->closed.get_future();
  auto open_closed = open->closed.get_future();
  REQUIRE(adopt(loop, gone_pair, gone, "A\r\n"));
  REQUIRE(adopt(loop, open_pair, open, "B\r\n"));
  CHECK(read_bytes(gone_pair.fds[1], 3, 5s) == "A\r\n");
  CHECK(read_bytes(open_pair.fds[1], 3, 5s) == "B\r\n");

  ::close(std::exchange(gone_pair.fds[1], -1));  // the client goes away
  CHECK(ready_within(gone_destroyed, 5s));
  CHECK(ready_within(gone_closed, 5s));
  CHECK(loop.open_streams() == 1);

  loop.stop();
  CHECK(ready_within(open_closed, 1s));  // stop() returns after on_closed ran
  CHECK(read_bytes(open_pair.fds[1], 5, 5s) == "0\r\n\r\n");
  CHECK(closed_within(open_pair.fds[1], 5s));
  CHECK(loop.open_streams() == 0);

  // After stop, an adoption is refused: closed at once, on_closed run by the caller.
  SocketPair late_pair;
  auto late = std::make_shared<FakeState>();
  auto late_closed = late->closed.get_future();
  CHECK_FALSE(adopt(loop, late_pair, late));
  CHECK(ready_within(late_closed, 0ms));
  CHECK(closed_within(late_pair.fds[1], 5s));
}

TEST_CASE("over TLS the stream loop writes the head and the chunks, and ends with the final chunk and close_notify",
          "[server][stream_loop][tls]") {
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  TlsPair pair = tls_pair();
  auto state = std::make_shared<FakeState>();
  auto destroyed = state->destroyed.get_future();
  auto closed = state->closed.get_future();
  {
    std::lock_guard lock(state->mutex);
    state->payloads.push_back("first\n");
  }
  REQUIRE(adopt_tls(loop, pair, state, "HEAD\r\n"));
  auto& client = *pair.client;
  const std::string head_and_first = "HEAD\r\n6\r\nfirst\n\r\n";
  CHECK(client.read_until(head_and_first, 5s));
  CHECK(client.received() == head_and_first);

  push(*state, "second\n");
  CHECK(client.read_until("7\r\nsecond\n\r\n", 5s));
  push(*state, "last\n", true);
  CHECK(client.ends_within(5s));
  CHECK(client.received() == head_and_first + "7\r\nsecond\n\r\n5\r\nlast\n\r\n0\r\n\r\n");
  CHECK(client.got_close_notify());
  CHECK(ready_within(destroyed, 5s));
  CHECK(ready_within(closed, 5s));
  CHECK(loop.open_streams() == 0);
  loop.stop();
}

TEST_CASE("over TLS a backlog many times the socket's buffers arrives whole and in order through retried writes",
          "[server][stream_loop][tls]") {
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  TlsPair pair = tls_pair();
  shrink_send_buffer(pair);
  auto state = std::make_shared<FakeState>();
  REQUIRE(adopt_tls(loop, pair, state, "H\r\n"));
  REQUIRE(pair.client->read_until("H\r\n", 5s));

  std::vector<std::string> payloads;
  std::string expected = "H\r\n";
  for (int i = 0; i < 40; ++i) {  // 2.5 MiB, ten times the pending bound
    payloads.emplace_back(64 * 1024, static_cast<char>('a' + i % 26));
    expected += "10000\r\n" + payloads.back() + "\r\n";
  }
  expected += "0\r\n\r\n";
  push_all(*state, payloads, true);
  CHECK(pair.client->ends_within(30s));
  CHECK(pair.client->received().size() == expected.size());
  CHECK(pair.client->received() == expected);
  CHECK(pair.client->got_close_notify());
  loop.stop();
}

TEST_CASE("over TLS a client that stops reading holds the output at the pending bound until the write timeout cuts it",
          "[server][stream_loop][tls]") {
  StreamLoop loop(500ms);
  REQUIRE(loop.start().is_ok());
  TlsPair pair = tls_pair();
  shrink_send_buffer(pair);
  auto state = std::make_shared<FakeState>();
  auto destroyed = state->destroyed.get_future();
  auto closed = state->closed.get_future();
  REQUIRE(adopt_tls(loop, pair, state, "H\r\n"));

  // 4 MiB ready at once; the client reads none of it.
  const std::vector<std::string> payloads(64, std::string(64 * 1024, 'p'));
  push_all(*state, payloads, false);
  CHECK(ready_within(destroyed, 10s));  // cut: no byte went out for write_timeout
  CHECK(ready_within(closed, 5s));
  {
    std::lock_guard lock(state->mutex);
    INFO("pulled " << state->pulled_bytes << " bytes");
    // The loop stopped pulling at the bound: what it took is the bound, one payload past it,
    // and what the socket's small buffers held.
    CHECK(state->pulled_bytes <= kvs::server::kMaxPendingBytes + 2 * payloads.front().size());
    CHECK_FALSE(state->payloads.empty());
  }
  // The client finds the connection cut: no final chunk, no close_notify.
  CHECK(pair.client->ends_within(10s));
  CHECK_FALSE(pair.client->got_close_notify());
  CHECK(pair.client->received().find("0\r\n\r\n") == std::string::npos);
  CHECK(loop.open_streams() == 0);
  loop.stop();
}

TEST_CASE("over TLS a client that hangs up or sends close_notify frees its stream, and stop() ends the others cleanly",
          "[server][stream_loop][tls]") {
  StreamLoop loop(10s);
  REQUIRE(loop.start().is_ok());
  TlsPair hung_pair = tls_pair();
  TlsPair notify_pair = tls_pair();
  TlsPair open_pair = tls_pair();
  auto hung = std::make_shared<FakeState>();
  auto notify = std::make_shared<FakeState>();
  auto open = std::make_shared<FakeState>();
  auto hung_destroyed = hung->destroyed.get_future();
  auto notify_destroyed = notify->destroyed.get_future();
  auto open_closed = open->closed.get_future();
  REQUIRE(adopt_tls(loop, hung_pair, hung, "A\r\n"));
  REQUIRE(adopt_tls(loop, notify_pair, notify, "B\r\n"));
  REQUIRE(adopt_tls(loop, open_pair, open, "C\r\n"));
  CHECK(hung_pair.client->read_until("A\r\n", 5s));
  CHECK(notify_pair.client->read_until("B\r\n", 5s));
  CHECK(open_pair.client->read_until("C\r\n", 5s));
  CHECK(loop.open_streams() == 3);

  hung_pair.client->close();               // the socket closes: an end of stream
  notify_pair.client->send_close_notify();  // the session ends, the socket stays open
  CHECK(ready_within(hung_destroyed, 5s));
  CHECK(ready_within(notify_destroyed, 5s));
  CHECK(loop.open_streams() == 1);

  loop.stop();
  CHECK(ready_within(open_closed, 1s));
  CHECK(open_pair.client->ends_within(5s));
  CHECK(open_pair.client->received() == "C\r\n0\r\n\r\n");
  CHECK(open_pair.client->got_close_notify());
}
