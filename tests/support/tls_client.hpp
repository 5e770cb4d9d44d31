#pragma once

// TlsClient: one TLS client connection for tests (OpenSSL), from a chosen loopback source
// address to 127.0.0.1, or over a socket the test made (a socketpair, for a server side run in
// the same process). The server's certificate is not verified: the tests' certificates are
// self-signed. The socket is non-blocking and every wait has a deadline. What arrives is only
// collected, never decoded. Not thread-safe; no Catch2 here.
//
// write_self_signed_certificate() makes a certificate and key for an in-process TLS server.

#include <chrono>
#include <cstdint>
#include <string>

struct ssl_st;

namespace kvs::test {

class TlsClient {
 public:
  // Connects from `source` (any of 127.0.0.0/8) to 127.0.0.1:`port` and completes the
  // handshake within `timeout`; throws std::runtime_error when either fails.
  TlsClient(const std::string& source, std::uint16_t port,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Over the connected socket `fd` (taken: closed on destruction); call handshake() next.
  explicit TlsClient(int fd);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Completes the client's side of the handshake within `timeout`.
  bool handshake(std::chrono::milliseconds timeout);
  // Sends all of `bytes` within `timeout`; false when the connection failed or it timed out.
  bool send(const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads what has arrived without waiting; false once the connection ended (the server's
  // close_notify, an end of stream, or an error).
  bool read_available();
  // Reads until received() contains `text`; false when it does not within `timeout`.
  bool read_until(const std::string& text, std::chrono::milliseconds timeout);
  // Reads until the server ends the connection (what comes first is kept); false when it is
  // still open after `timeout`.
  bool ends_within(std::chrono::milliseconds timeout);
  // Whether the server ended the session with a close_notify (a clean TLS end).
  bool got_close_notify() const { return close_notify_; }
  // Sends close_notify (one try, without waiting for the server's); the socket stays open.
  void send_close_notify();
  // Closes the socket without a close_notify, as a client that hangs up.
  void close();

  const std::string& received() const { return received_; }
  int fd() const { return fd_; }

 private:
  // Waits until the socket is ready the way OpenSSL asked after `result`; false on an error or
  // when `deadline` passed.
  bool wait_for(int result, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  std::string received_;
  bool ended_ = false;
  bool close_notify_ = false;
};

// Writes a fresh self-signed certificate (EC P-256, CN and subjectAltName IP 127.0.0.1, valid a
// day) and its key as PEM files; throws std::runtime_error when OpenSSL fails.
void write_self_signed_certificate(const std::string& cert_path, const std::string& key_path);

}  // namespace kvs::test
