#pragma once

// The part of HTTP/1.1 request parsing that kvs owns (SPEC section 2, "Limits"): the request
// head and the chunked body framing. Both are pure: bytes in, a parsed head, a decoded body or
// an error out, with no socket, clock or allocation beyond the result, so the connection layer
// calls them on whatever it has buffered and a fuzzer can call them directly.
//
// The connection layer hands cpp-httplib only what these functions accepted: the head
// re-serialised from RequestHead (one Content-Length, no Transfer-Encoding) and the decoded,
// length-capped body. httplib's own reader therefore never meets an unbounded line, an
// unbounded header count or a chunked body.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvs::server {

// Limits on a request head; see Config (max_header_bytes, max_headers) for the defaults.
struct HeadLimits {
  std::size_t max_header_bytes{16384};  // request line, headers and their line ends
  std::size_t max_headers{100};         // header lines
  std::size_t max_line_bytes{8192};     // any one line, with its line end
};

// An answer the connection layer writes itself, then closes the connection.
struct HttpRefusal {
  int status = 400;        // 400, 411, 413, 415, 431, 501
  std::string code;        // the {"code"} of the body: "invalid_argument", "headers_too_large", ...
  std::string message;     // the {"error"}; never echoes request bytes
};

enum class BodyFraming : std::uint8_t { kNone, kContentLength, kChunked };

struct RequestHead {
  std::string method;
  std::string target;
  std::string version;                                        // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;   // in order, values trimmed
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;                           // with kContentLength
  bool expect_continue = false;                               // Expect: 100-continue

  // The value of the first header named `name` (case-insensitive), or nullptr.
  const std::string* find(std::string_view name) const;
};

// What parse_request_head made of the bytes buffered so far.
struct HeadParse {
  enum class State : std::uint8_t { kIncomplete, kComplete, kRefused };
  State state = State::kIncomplete;
  std::size_t head_bytes = 0;   // kComplete: bytes of the head, its final empty line included
  RequestHead head;             // kComplete
  HttpRefusal refusal;          // kRefused
};

// Parses the head at the start of `bytes` (leading empty lines are skipped, as RFC 9112 allows).
// kIncomplete: the head has not ended and no limit is passed yet, so more bytes may be read;
// the caller never needs to buffer more than limits.max_header_bytes. kRefused: 431
// headers_too_large once the head, one line or the header count passes its limit (decided on
// the bytes seen so far, before the head ends); 400 for a malformed request line or header,
// obsolete line folding, two different Content-Length values, Content-Length together with
// Transfer-Encoding, an empty If-Match or an HTTP version other than 1.0 and 1.1; 411 for a PUT
// without framing; 415 for a Content-Encoding; 501 for a transfer coding other than chunked.
HeadParse parse_request_head(std::string_view bytes, const HeadLimits& limits);

// The head as httplib is given it: request line and headers with CRLF line ends, framing
// headers replaced by one Content-Length of `body_bytes` (none when there is no body), and
// the headers kvs does not serve dropped (Expect, which the connection layer has answered;
// Range, whose multi-range answers could multiply a response).
std::string serialize_head(const RequestHead& head, std::size_t body_bytes);

// Decodes a chunked body incrementally, holding at most `max_body_bytes` of data. Feed it the
// bytes that follow the head; it consumes what it can and reports how far it got.
class ChunkedDecoder {
 public:
  enum class State : std::uint8_t { kNeedMore, kDone, kTooLarge, kMalformed };

  ChunkedDecoder(std::size_t max_body_bytes, std::size_t max_trailer_bytes)
      : max_body_bytes_(max_body_bytes), max_trailer_bytes_(max_trailer_bytes) {}

  // Consumes from `bytes`, appending chunk data to body(). Returns the state and sets
  // `consumed` to the bytes used (with kDone, the rest belongs to the next request).
  // kTooLarge as soon as a chunk size would take the body past max_body_bytes, before its data
  // is read; kMalformed for bad syntax or an over-long size or trailer line.
  State feed(std::string_view bytes, std::size_t& consumed);

  std::string& body() noexcept { return body_; }

 private:
  enum class Phase : std::uint8_t { kSize, kData, kDataEnd, kTrailer, kDone };
  State line(std::string_view text);

  std::size_t max_body_bytes_;
  std::size_t max_trailer_bytes_;
  Phase phase_ = Phase::kSize;
  std::string line_;            // the partial size or trailer line
  std::uint64_t remaining_ = 0; // data bytes left in the current chunk
  std::size_t trailer_bytes_ = 0;
  std::string body_;
};

// The body cap of a request target: peers' routes (kvs::peer_protocol::kTargets) carry batches
// of versions, the others one document and its envelope.
bool is_peer_target(std::string_view target);

}  // namespace kvs::server
