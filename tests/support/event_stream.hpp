#pragma once

// EventStream: one GET whose answer streams (GET /kv/_watch), read as it arrives over a raw
// loopback connection, with a deadline on every wait: the head, then the body (chunked framing
// decoded, or Content-Length), split into lines. Closing it is what a client that goes away
// does, so tests can check that the server notices. Plain HTTP only; no Catch2 here.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kvs::test {

class RawConnection;

class EventStream {
 public:
  // Connects to 127.0.0.1:`port` and sends `GET target` with `headers`; throws
  // std::runtime_error when it cannot connect.
  EventStream(std::uint16_t port, const std::string& target,
              const std::vector<std::pair<std::string, std::string>>& headers = {});
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Waits up to `timeout` for the answer's head; its status, or 0 when none came.
  int status(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // A header of the answer (name in any case), or "" (also before the head came).
  std::string header(const std::string& name) const;

  // The next non-empty line of the body, waiting up to `timeout`; nullopt when none came in
  // time or the body ended.
  std::optional<std::string> next_line(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Lines until one contains `text` (that one included, last), waiting up to `timeout` in all;
  // empty when none did.
  std::vector<std::string> lines_until(const std::string& text, std::chrono::milliseconds timeout);
  // True when the body ends (the final chunk, or the server closes the connection) within
  // `timeout`; lines that come first are kept for next_line.
  bool ends_within(std::chrono::milliseconds timeout);
  // True once the final chunk came (a clean end, rather than a cut connection).
  bool ended_cleanly() const { return clean_end_; }

  // The decoded body so far (lines handed out included), e.g. to check SSE framing byte by byte.
  const std::string& body() const { return body_; }

  // Closes the connection, as a client that goes away.
  void close();

 private:
  // Reads what arrives within `timeout` (at most one recv); false once the connection closed.
  bool read_some(std::chrono::milliseconds timeout);
  // Moves complete framing from raw_ into body_.
  void decode();

  std::unique_ptr<RawConnection> connection_;
  std::string raw_;                  // undecoded bytes
  bool head_done_ = false;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;  // names lower-cased
  bool chunked_ = false;
  std::optional<std::size_t> content_left_;
  std::string body_;
  std::size_t line_start_ = 0;       // where the next unread line begins in body_
  bool closed_ = false;              // the connection ended
  bool clean_end_ = false;           // the body ended by its framing
};

}  // namespace kvs::test
