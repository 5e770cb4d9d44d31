// http::PeerTransport against a tiny HTTP/1.1 peer on loopback (127.0.0.1 only) that checks
// request signatures and signs its answers as a kvs node does (auth/peer_hmac.hpp), or tampers
// with them: requests arrive whole and signed for their destination, connections are reused, a
// peer's id is learned from a signed 401, an answer that does not verify never reaches the
// caller (counted), and a refused, silent or overloaded peer costs a bounded time and never a
// thread forever; closing one lane fails its requests at once and leaves the other lanes
// serving. Not covered here: TLS (tests/cluster/tls_test.cpp runs real nodes over it).

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

#include "auth/peer_hmac.hpp"
#include "auth/secret.hpp"
#include "http/peer_transport.hpp"

namespace {

using kvs::auth::PeerSigner;
using kvs::http::PeerRequest;
using kvs::http::PeerResponse;
using kvs::http::PeerSecurity;
using kvs::http::PeerSecurityOptions;
using kvs::http::PeerTransport;
using kvs::http::PeerTransportOptions;
using Clock = std::chrono::steady_clock;

constexpr const char* kSecret = "peer-transport-test-secret-0123456789";
constexpr const char* kPeerId = "peer-1";

kvs::auth::Key peer_key(const char* secret = kSecret) { return kvs::auth::derive_keys(secret).peer_signing; }

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class Answers {
  kSigned,      // as a kvs node: 401 unless signed for kPeerId, every answer signed
  kTampered,    // signed, then a byte of the body changed on the way
  kUnsigned,    // no answer signature at all
  kOtherSecret, // signed under another cluster's secret
  kSilent,      // never answers
};

// A peer at 127.0.0.1:<port> whose node id is kPeerId. For a request signed for it, answers
// 200 with the body "<path>|<x-test header>|<body>". Serves connections one at a time; that
// is all the tests need.
class LoopbackServer {
 public:
  explicit LoopbackServer(Answers answers = Answers::kSigned)
      : answers_(answers), signer_(peer_key(answers == Answers::kOtherSecret ? "another cluster's secret, 32b+" : kSecret)) {
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
  int requests() const { return requests_.load(); }

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
          requests_ += 1;
          if (answers_ == Answers::kSilent) continue;
          std::string path = head.substr(head.find(' ') + 1);
          path = path.substr(0, path.find(' '));
          std::string header = header_of(head, "X-Test");
          std::string signature = header_of(head, "X-KVS-Peer-Signature");
          int status = 200;
          std::string answer = path + "|" + header + "|" + body;
          if (!signer_.verify(signature, "POST", path, body, kPeerId, wall_ms()).is_ok()) {
            status = 401;
            answer = R"({"error":"bad peer signature","code":"unauthenticated"})";
          }
          std::string mac = signer_.sign_answer(kvs::auth::peer_nonce_of(signature), status, kPeerId, answer);
          if (answers_ == Answers::kTampered) answer[0] = answer[0] == 'X' ? 'Y' : 'X';
          std::string response = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n";
          if (answers_ != Answers::kUnsigned) {
            response += std::string("X-KVS-Peer-Node: ") + kPeerId + "\r\nX-KVS-Peer-Answer: " + mac + "\r\n";
          }
          response += "Content-Length: " + std::to_string(answer.size()) + "\r\n\r\n" + answer;
          (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
        }
      }
      ::close(fd);
    }
  }

  static std::string header_of(const std::string& head, const std::string& name) {
    auto at = head.find(name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 2;
    return head.substr(at, head.find("\r\n", at) - at);
  }

  Answers answers_;
  PeerSigner signer_;
  std::atomic<int> requests_{0};
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

// The security of a caller in the same cluster as the LoopbackServer: signs with the cluster's
// key and a fresh nonce per request, verifies answers, counts rejections.
struct CallerSecurity {
  PeerSigner signer{peer_key()};
  std::atomic<std::uint64_t> nonces{0};
  std::atomic<int> rejected_hook{0};
  std::shared_ptr<PeerSecurity> security;

  CallerSecurity() {
    PeerSecurityOptions options;
    options.sign = [this](std::string_view target, std::string_view body, std::string_view destination) {
      std::string nonce = kvs::auth::make_peer_nonce(nonces++, 42);
      return kvs::http::PeerSignature{signer.sign("POST", target, body, destination, wall_ms(), nonce), nonce};
    };
    options.verify_answer = [this](std::string_view mac, std::string_view nonce, long status,
                                   std::string_view responder, std::string_view body) {
      return signer.verify_answer(mac, nonce, status, responder, body);
    };
    options.on_answer_rejected = [this] { rejected_hook += 1; };
    security = std::make_shared<PeerSecurity>(std::move(options));
  }
};

PeerRequest request_to(const std::string& address, std::string body = R"({"v":1})", std::string node_id = kPeerId) {
  return PeerRequest{address, std::move(node_id), "/members/gossip", std::move(body), {{"X-Test", "signed"}}};
}

kvs::Result<PeerResponse> post_and_wait(PeerTransport& transport, PeerRequest request) {
  std::promise<kvs::Result<PeerResponse>> promise;
  auto future = promise.get_future();
  REQUIRE(transport.post(std::move(request), [&](kvs::Result<PeerResponse> r) { promise.set_value(std::move(r)); }).is_ok());
  return future.get();
}

}  // namespace

TEST_CASE("a peer request is signed for its destination and its verified answer comes back", "[cluster][transport]") {
  LoopbackServer server;
  CallerSecurity caller;
  PeerTransportOptions options;
  options.workers = 1;
  {
    PeerTransport transport(options, caller.security);
    for (int i = 0; i < 3; ++i) {
      auto response = post_and_wait(transport, request_to(server.address(), "{\"n\":" + std::to_string(i) + "}"));
      REQUIRE(response.is_ok());
      CHECK(response->status == 200);
      CHECK(response->body == "/members/gossip|signed|{\"n\":" + std::to_string(i) + "}");
      CHECK(response->node_id == kPeerId);
    }
    CHECK(server.connections() == 1);  // keep-alive: one connection for all three
    CHECK(server.requests() == 3);     // each signed for the peer at once: no second try
    CHECK(transport.stats().completed == 3);
  }
  // (The test server serves one connection at a time: the worker's is closed by now.)
  PeerTransport transport(options, caller.security);
  auto direct = transport.post_now(request_to(server.address()));
  REQUIRE(direct.is_ok());
  CHECK(direct->status == 200);
  CHECK(caller.security->answers_rejected() == 0);
}

TEST_CASE("a request signed for another node gets a signed 401 that names the peer, which is learned",
          "[cluster][transport]") {
  LoopbackServer server;
  CallerSecurity caller;
  PeerTransport transport(PeerTransportOptions{}, caller.security);
  // A seed: its id is not known. The first try, signed for no node, is refused with a 401 the
  // caller can verify; the transport learns the id and sends once more.
  auto first = transport.post_now(request_to(server.address(), R"({"v":1})", ""));
  REQUIRE(first.is_ok());
  CHECK(first->status == 200);
  CHECK(server.requests() == 2);
  CHECK(caller.security->node_id_of(server.address()) == kPeerId);
  // From then on, signed for it at once.
  REQUIRE(transport.post_now(request_to(server.address(), R"({"v":2})", "")).is_ok());
  CHECK(server.requests() == 3);
  // A caller that names the wrong node (the peer came back under another id) is corrected too.
  auto stale = transport.post_now(request_to(server.address(), R"({"v":3})", "peer-0"));
  REQUIRE(stale.is_ok());
  CHECK(stale->status == 200);
  CHECK(server.requests() == 5);
  CHECK(caller.security->answers_rejected() == 0);
}

TEST_CASE("a tampered, unsigned or foreign answer is discarded and counted, never handed over",
          "[cluster][transport]") {
  for (Answers answers : {Answers::kTampered, Answers::kUnsigned, Answers::kOtherSecret}) {
    INFO("answers " << static_cast<int>(answers));
    LoopbackServer server(answers);
    CallerSecurity caller;
    {
      PeerTransport transport(PeerTransportOptions{}, caller.security);
      auto response = post_and_wait(transport, request_to(server.address(), R"({"v":1})"));
      REQUIRE_FALSE(response.is_ok());
      CHECK(response.status().code() == kvs::Status::Code::kUnauthenticated);
      CHECK(response.status().message().find("discarded") != std::string::npos);
      CHECK(caller.security->answers_rejected() == 1);
      CHECK(caller.rejected_hook.load() == 1);
      // A discarded answer teaches nothing either: the peer's id stays unknown.
      CHECK(caller.security->node_id_of(server.address()).empty());
    }
    // Synchronous calls are checked the same way (a new transport: the test server serves one
    // connection at a time, and the worker's is closed by now).
    PeerTransport transport(PeerTransportOptions{}, caller.security);
    auto direct = transport.post_now(request_to(server.address(), R"({"v":2})"));
    CHECK(direct.status().code() == kvs::Status::Code::kUnauthenticated);
    CHECK(caller.security->answers_rejected() == 2);
  }
}

TEST_CASE("a request to a closed port fails fast as unavailable", "[cluster][transport]") {
  CallerSecurity caller;
  PeerTransport transport(PeerTransportOptions{}, caller.security);
  auto started = Clock::now();
  auto response = post_and_wait(transport, request_to(closed_address()));
  REQUIRE_FALSE(response.is_ok());
  CHECK(response.status().code() == kvs::Status::Code::kUnavailable);
  CHECK(Clock::now() - started < std::chrono::seconds(2));
  CHECK(transport.stats().failed == 1);
}

TEST_CASE("a silent peer costs a worker no longer than the request timeout", "[cluster][transport]") {
  LoopbackServer silent(Answers::kSilent);
  CallerSecurity caller;
  PeerTransportOptions options;
  options.workers = 1;
  options.request_timeout = std::chrono::milliseconds(300);
  PeerTransport transport(options, caller.security);
  auto started = Clock::now();
  auto response = post_and_wait(transport, request_to(silent.address()));
  auto elapsed = Clock::now() - started;
  REQUIRE_FALSE(response.is_ok());
  CHECK(response.status().code() == kvs::Status::Code::kUnavailable);
  CHECK(elapsed >= std::chrono::milliseconds(250));
  CHECK(elapsed < std::chrono::seconds(3));
}

TEST_CASE("a full queue drops the request and says so", "[cluster][transport]") {
  LoopbackServer silent(Answers::kSilent);
  CallerSecurity caller;
  PeerTransportOptions options;
  options.workers = 1;
  options.queue_capacity = 2;
  options.request_timeout = std::chrono::milliseconds(500);
  std::atomic<int> callbacks{0};
  {
    PeerTransport transport(options, caller.security);
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

TEST_CASE("closing one lane fails its requests at once and leaves the other lanes serving", "[cluster][transport]") {
  LoopbackServer silent(Answers::kSilent);
  LoopbackServer server;
  CallerSecurity caller;
  PeerTransportOptions options;
  options.workers = 1;
  options.request_timeout = std::chrono::seconds(20);
  PeerTransport transport(options, caller.security);
  std::mutex mutex;
  std::vector<kvs::Status::Code> codes;
  for (int i = 0; i < 2; ++i) {  // one in flight, one queued behind it
    PeerRequest request = request_to(silent.address());
    request.lane = kvs::net::Lane::kPush;
    REQUIRE(transport.post(std::move(request), [&](kvs::Result<PeerResponse> answer) {
      std::lock_guard lock(mutex);
      codes.push_back(answer.status().code());
    }).is_ok());
  }
  auto started = Clock::now();
  transport.close(kvs::net::Lane::kPush);
  // The silent peer would have held the request for 20 s: closing aborted it.
  CHECK(Clock::now() - started < std::chrono::seconds(10));
  {
    std::lock_guard lock(mutex);
    REQUIRE(codes.size() == 2);  // every callback ran before close returned
    CHECK(codes[0] != kvs::Status::Code::kOk);
    CHECK(codes[1] != kvs::Status::Code::kOk);
  }
  PeerRequest refused = request_to(silent.address());
  refused.lane = kvs::net::Lane::kPush;
  CHECK(transport.post(std::move(refused), [](kvs::Result<PeerResponse>) {}).code() ==
        kvs::Status::Code::kUnavailable);
  CHECK(transport.stats(kvs::net::Lane::kPush).dropped >= 1);

  // The membership lane still serves, through the future-like handle too.
  auto answer = kvs::net::post_and_wait(transport, request_to(server.address()));
  REQUIRE(answer.is_ok());
  CHECK(answer->status == 200);
  CHECK(transport.stats(kvs::net::Lane::kMembership).completed == 1);
}
