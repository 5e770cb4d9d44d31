#pragma once

// RawConnection: one TCP connection to 127.0.0.1:port from a chosen loopback source address
// (any of 127.0.0.0/8, bound before connect), for sending hand-made HTTP bytes: what a hostile
// client sends, or what no HTTP library would. Closes on destruction. Used by the integration
// tests and by bench/hostile_bench; nothing here depends on Catch2.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace kvs::test {

class RawConnection {
 public:
  // Connects (blocking) from `source` to 127.0.0.1:`port`; throws std::runtime_error when the
  // socket cannot be made, bound or connected.
  RawConnection(const std::string& source, std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes`; false when the server has closed the connection.
  bool send(const std::string& bytes);

  // Reads one whole response (by its Content-Length), or what arrived until the server closed
  // or `timeout` passed.
  std::string read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // send, then read_response; "" when the send failed.
  std::string request(const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // True when the server closes the connection within `timeout` (end of stream or a reset);
  // bytes it sends first (an answer) are read and dropped.
  bool closed_within(std::chrono::milliseconds timeout);

  int fd() const { return fd_; }

  // Whether `out` holds a whole response: its head and Content-Length bytes of body.
  static bool complete(const std::string& out);

 private:
  int fd_ = -1;
};

// The body of a raw response (everything after the head), or "".
std::string raw_body(const std::string& response);

// A process's anonymous resident memory (RssAnon in /proc/<pid>/status) in KiB, or -1.
long rss_anon_kib(pid_t pid);

}  // namespace kvs::test
