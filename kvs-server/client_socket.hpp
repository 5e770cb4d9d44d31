#pragma once

// ClientSocket: one accepted client connection, plain TCP or TLS, with every wait bounded by a
// deadline. The socket is non-blocking; each read and write waits in poll() no later than the
// deadline it is given, so a client that sends or reads slowly holds a worker only until then.
// TlsContext loads the certificate and key once; a ClientSocket made with it runs the TLS
// handshake under the same kind of deadline. A ClientSocket is used by one thread at a time;
// TlsContext is shared read-only by all.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "kvs/status.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace kvs::server {

using Deadline = std::chrono::steady_clock::time_point;

// An established TLS session, owned (SSL_free on destruction; no close_notify is sent).
struct TlsSessionFree {
  void operator()(ssl_st* ssl) const noexcept;
};
using TlsSession = std::unique_ptr<ssl_st, TlsSessionFree>;

class TlsContext {
 public:
  // kInvalidArgument naming tls_cert_file/tls_key_file when they cannot be loaded.
  static Result<std::unique_ptr<TlsContext>> load(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ssl_ctx_st* native() const noexcept { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

class ClientSocket {
 public:
  // Takes ownership of `fd` (made non-blocking here). `tls` null: plain TCP.
  ClientSocket(int fd, const TlsContext* tls);
  ~ClientSocket();
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  // TLS: completes the handshake by `deadline`. Plain: true at once.
  bool handshake(Deadline deadline);
  // Up to `size` bytes into `buffer`: the count (> 0), 0 when the peer closed, -1 on an error
  // or when `deadline` passed first.
  ssize_t read(char* buffer, std::size_t size, Deadline deadline);
  // Writes all of `data` by `deadline`; false otherwise.
  bool write_all(const char* data, std::size_t size, Deadline deadline);
  // Waits until a read would not block (bytes, end of stream or an error); false at `deadline`.
  bool wait_readable(Deadline deadline);
  // Refused requests: stops sending, then reads and drops what the client still sends, for
  // up to `linger` or `max_bytes`, so that the answer is not lost to a reset when the socket
  // closes with unread bytes (nginx's lingering close).
  void linger_close(std::chrono::milliseconds linger, std::size_t max_bytes);

  int fd() const noexcept { return fd_; }

  // Gives up the TLS session, rebound to `fd` (another descriptor of the same socket, which the
  // caller owns), for a connection taken over after its handshake; this ClientSocket must then
  // not be read or written. Null for plain TCP, or when the session cannot be rebound (it is
  // then kept here).
  TlsSession release_tls(int fd);

 private:
  // Waits for `events` (POLLIN/POLLOUT) until `deadline`.
  bool wait(short events, Deadline deadline);
  // After a TLS call failed with `error` (SSL_get_error): waits until the socket is ready the
  // way OpenSSL asks and returns true, so the call is retried; false when `deadline` passes
  // first or the error is anything but a want-read or want-write (its queue is then cleared).
  bool wait_for_tls(int error, Deadline deadline);

  int fd_;
  ssl_st* ssl_ = nullptr;
};

}  // namespace kvs::server
