// http::PeerTransport against a tiny HTTP/1.1 server on loopback (127.0.0.1 only): requests
// arrive whole, connections are reused, and a refused, silent or overloaded peer costs a bounded
// time and never a thread forever.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/peer_transport.hpp"

namespace {

using kvs::http::PeerRequest;
using kvs::http::PeerResponse;
using kvs::http::PeerTransport;
using kvs::http::PeerTransportOptions;
using Clock = std::chrono::steady_clock;

// Answers every request with 200 and a body "<path>|<x-test header>|<body>", or never answers
// (silent). Serves connections one at a time; that is all the tests need.
class LoopbackServer {
 public:
  explicit LoopbackServer(bool silent = false) : silent_(silent) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void serve() {
    while (wait_readable(listener_)) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      connections_ += 1;
      std::string buffer;
      while (wait_readable(fd)) {
        char chunk[4096];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        // Answer every complete request in the buffer (keep-alive).
        for (;;) {
          auto end = buffer.find("\r\n\r\n");
          if (end == std::string::npos) break;
          std::string head = buffer.substr(0, end);
          std::size_t length = 0;
          if (auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoul(head.substr(at + 16));
          if (buffer.size() < end + 4 + length) break;
          std::string body = buffer.substr(end + 4, length);
          buffer.erase(0, end + 4 + length);
          if (silent_) continue;
          std::string path = head.substr(head.find(' ') + 1);
          path = path.substr(0, path.find(' '));
          std::string header;
          if (auto at = head.find("X-Test: "); at != std::string::npos) header = head.substr(at + 8, head.find("\r\n", at) - at - 8);
          std::string answer = path + "|" + header + "|" + body;
          std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(answer.size()) + "\r\n\r\n" + answer;
          (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
        }
      }
      ::close(fd);
    }
  }

  bool silent_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// A loopback port with nothing listening on it.
std::string closed_address() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

PeerRequest request_to(const std::string& address, std::string body = R"({"v":1})") {
  return PeerRequest{address, "/members/gossip", std::move(body), {{"X-Test", "signed"}}};
}

kvs::Result<PeerResponse> post_and_wait(PeerTransport& transport, PeerRequest request) {
  std::promise<kvs::Result<PeerResponse>> promise;
  auto future = promise.get_future();
  REQUIRE(transport.post(std::move(request), [&](kvs::Result<PeerResponse> r) { promise.set_value(std::move(r)); }).is_ok());
  return future.get();
}

}  // namespace

TEST_CASE("a peer request carries path, headers and body and returns the answer", "[cluster][transport]") {
  LoopbackServer server;
  PeerTransportOptions options;
  options.workers = 1;
  {
    PeerTransport transport(options);
    for (int i = 0; i < 3; ++i) {
      auto response = post_and_wait(transport, request_to(server.address(), "{\"n\":" + std::to_string(i) + "}"));
      REQUIRE(response.is_ok());
      CHECK(response->status == 200);
      CHECK(response->body == "/members/gossip|signed|{\"n\":" + std::to_string(i) + "}");
    }
    CHECK(server.connections() == 1);  // keep-alive: one connection for all three
    CHECK(transport.stats().completed == 3);
  }
  // (The test server serves one connection at a time: the worker's is closed by now.)
  PeerTransport transport(options);
  auto direct = transport.post_now(request_to(server.address()));
  REQUIRE(direct.is_ok());
  CHECK(direct->status == 200);
}

TEST_CASE("a request to a closed port fails fast as unavailable", "[cluster][transport]") {
  PeerTransport transport;
  auto started = Clock::now();
  auto response = post_and_wait(transport, request_to(closed_address()));
  REQUIRE_FALSE(response.is_ok());
  CHECK(response.status().code() == kvs::Status::Code::kUnavailable);
  CHECK(Clock::now() - started < std::chrono::seconds(2));
  CHECK(transport.stats().failed == 1);
}

TEST_CASE("a silent peer costs a worker no longer than the request timeout", "[cluster][transport]") {
  LoopbackServer silent(/*silent=*/true);
  PeerTransportOptions options;
  options.workers = 1;
  options.request_timeout = std::chrono::milliseconds(300);
  PeerTransport transport(options);
  auto started = Clock::now();
  auto response = post_and_wait(transport, request_to(silent.address()));
  auto elapsed = Clock::now() - started;
  REQUIRE_FALSE(response.is_ok());
  CHECK(response.status().code() == kvs::Status::Code::kUnavailable);
  CHECK(elapsed >= std::chrono::milliseconds(250));
  CHECK(elapsed < std::chrono::seconds(3));
}

TEST_CASE("a full queue drops the request and says so", "[cluster][transport]") {
  LoopbackServer silent(/*silent=*/true);
  PeerTransportOptions options;
  options.workers = 1;
  options.queue_capacity = 2;
  options.request_timeout = std::chrono::milliseconds(500);
  std::atomic<int> callbacks{0};
  {
    PeerTransport transport(options);
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
      auto status = transport.post(request_to(silent.address()), [&](kvs::Result<PeerResponse>) { callbacks += 1; });
      if (status.is_ok()) {
        accepted += 1;
      } else {
        CHECK(status.code() == kvs::Status::Code::kUnavailable);
        refused += 1;
      }
    }
    // One may be in the worker's hands already, the queue holds two: the rest are refused.
    CHECK(accepted <= 3);
    CHECK(refused >= 7);
    CHECK(transport.stats().dropped >= 7);
    // The destructor cancels what is queued and waits for the one in flight (bounded by its timeout).
  }
  CHECK(callbacks.load() >= 2);
  CHECK(callbacks.load() <= 3);
}
