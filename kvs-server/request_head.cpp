#include "request_head.hpp"

#include <algorithm>
#include <cctype>

#include "kvs/cluster.hpp"

namespace kvs::server {
namespace {

// A chunk-size line with extensions; nothing legitimate comes near it.
constexpr std::size_t kMaxChunkSizeLine = 4096;

bool is_tchar(unsigned char c) {
  if (std::isalnum(c) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

HeadParse refuse(int status, std::string code, std::string message) {
  HeadParse parse;
  parse.state = HeadParse::State::kRefused;
  parse.refusal = HttpRefusal{status, std::move(code), std::move(message)};
  return parse;
}

HeadParse too_large(std::string message) { return refuse(431, "headers_too_large", std::move(message)); }
HeadParse malformed(std::string message) { return refuse(400, "invalid_argument", std::move(message)); }

// The request line: METHOD SP target SP HTTP/x.y, nothing else.
HeadParse parse_request_line(std::string_view line, RequestHead& head) {
  std::size_t first = line.find(' ');
  std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return malformed("malformed request line");
  }
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (!is_token(method)) return malformed("malformed request method");
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte < 0x7F;
      })) {
    return malformed("malformed request target");
  }
  // Other versions, HTTP/2 and /3 included, speak another framing: a 400 (a client error,
  // as for any malformed head) rather than 505.
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return malformed("only HTTP/1.0 and HTTP/1.1 are served");
  head.method = std::string(method);
  head.target = std::string(target);
  head.version = std::string(version);
  return HeadParse{};
}

// Decides the body framing from the header fields (RFC 9112 section 6.3, strictly: whatever a
// proxy in front of kvs could read differently is refused).
HeadParse check_framing(RequestHead& head) {
  bool has_length = false;
  bool has_coding = false;
  std::string coding;
  for (const auto& [name, value] : head.headers) {
    if (equals_ignoring_case(name, "Content-Length")) {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return malformed("malformed Content-Length");
      }
      std::uint64_t length = std::stoull(value);
      if (has_length && length != head.content_length) return malformed("two different Content-Length headers");
      has_length = true;
      head.content_length = length;
    } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
      if (has_coding) coding += ",";
      coding += value;
      has_coding = true;
    } else if (equals_ignoring_case(name, "If-Match")) {
      if (value.empty()) return malformed("the If-Match header is empty");
    } else if (equals_ignoring_case(name, "Content-Encoding")) {
      // httplib would inflate a compressed body after the length check: a small body could
      // grow without bound. Clients send documents as they are.
      if (!equals_ignoring_case(value, "identity")) {
        return refuse(415, "unsupported_media_type", "Content-Encoding is not supported; send the body uncompressed");
      }
    } else if (equals_ignoring_case(name, "Expect")) {
      head.expect_continue = equals_ignoring_case(value, "100-continue");
    }
  }
  if (has_length && has_coding) return malformed("Content-Length together with Transfer-Encoding");
  if (has_coding) {
    if (!equals_ignoring_case(trim_ows(coding), "chunked")) {
      return refuse(501, "not_implemented", "the only transfer coding served is chunked");
    }
    head.framing = BodyFraming::kChunked;
  } else if (has_length) {
    head.framing = BodyFraming::kContentLength;
  } else if (head.method == "PUT") {
    return refuse(411, "length_required", "a PUT needs Content-Length or chunked Transfer-Encoding");
  }
  return HeadParse{};
}

}  // namespace

const std::string* RequestHead::find(std::string_view name) const {
  for (const auto& header : headers) {
    if (equals_ignoring_case(header.first, name)) return &header.second;
  }
  return nullptr;
}

HeadParse parse_request_head(std::string_view bytes, const HeadLimits& limits) {
  RequestHead head;
  bool have_request_line = false;
  std::size_t pos = 0;
  for (;;) {
    std::size_t newline = bytes.find('\n', pos);
    if (newline == std::string_view::npos) {
      // The head has not ended: refuse as soon as what is buffered already passes a limit.
      if (bytes.size() - pos > limits.max_line_bytes) return too_large("a request header line is over 8 KiB");
      if (bytes.size() > limits.max_header_bytes) return too_large("the request head is over max_header_bytes");
      return HeadParse{};
    }
    std::size_t next = newline + 1;
    if (next - pos > limits.max_line_bytes) return too_large("a request header line is over 8 KiB");
    if (next > limits.max_header_bytes) return too_large("the request head is over max_header_bytes");
    std::string_view line = bytes.substr(pos, newline - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = next;
    if (std::any_of(line.begin(), line.end(), [](char c) {
          auto byte = static_cast<unsigned char>(c);
          return (byte < 0x20 && byte != '\t') || byte == 0x7F;
        })) {
      return malformed("control characters in the request head");
    }
    if (!have_request_line) {
      if (line.empty()) continue;  // empty lines before the request line are skipped
      HeadParse request_line = parse_request_line(line, head);
      if (request_line.state == HeadParse::State::kRefused) return request_line;
      have_request_line = true;
      continue;
    }
    if (line.empty()) break;  // the end of the head
    if (line.front() == ' ' || line.front() == '\t') return malformed("obsolete header line folding");
    if (head.headers.size() == limits.max_headers) return too_large("more than max_headers request headers");
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return malformed("malformed header line");
    head.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim_ows(line.substr(colon + 1))));
  }
  HeadParse framing = check_framing(head);
  if (framing.state == HeadParse::State::kRefused) return framing;
  HeadParse parse;
  parse.state = HeadParse::State::kComplete;
  parse.head_bytes = pos;
  parse.head = std::move(head);
  return parse;
}

std::string serialize_head(const RequestHead& head, std::size_t body_bytes) {
  std::string out;
  out.reserve(256);
  out.append(head.method).push_back(' ');
  out.append(head.target).push_back(' ');
  out.append(head.version).append("\r\n");
  for (const auto& [name, value] : head.headers) {
    if (equals_ignoring_case(name, "Content-Length") || equals_ignoring_case(name, "Transfer-Encoding") ||
        equals_ignoring_case(name, "Expect") || equals_ignoring_case(name, "Range") ||
        equals_ignoring_case(name, "If-Range") || equals_ignoring_case(name, "Content-Encoding")) {
      continue;
    }
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (head.framing != BodyFraming::kNone) out.append("Content-Length: ").append(std::to_string(body_bytes)).append("\r\n");
  out.append("\r\n");
  return out;
}

ChunkedDecoder::State ChunkedDecoder::line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  switch (phase_) {
    case Phase::kSize: {
      std::size_t end = 0;
      std::uint64_t size = 0;
      while (end < text.size() && std::isxdigit(static_cast<unsigned char>(text[end])) != 0) {
        if (end == 15) return State::kMalformed;  // past any size kvs could accept
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[end])));
        size = size * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        ++end;
      }
      if (end == 0) return State::kMalformed;
      std::string_view rest = trim_ows(text.substr(end));
      if (!rest.empty() && rest.front() != ';') return State::kMalformed;
      if (size == 0) {
        phase_ = Phase::kTrailer;
      } else {
        if (size > max_body_bytes_ - body_.size()) return State::kTooLarge;
        remaining_ = size;
        phase_ = Phase::kData;
      }
      return State::kNeedMore;
    }
    case Phase::kDataEnd:
      if (!text.empty()) return State::kMalformed;
      phase_ = Phase::kSize;
      return State::kNeedMore;
    case Phase::kTrailer:
      if (text.empty()) {
        phase_ = Phase::kDone;
        return State::kDone;
      }
      return State::kNeedMore;  // trailer fields are read and dropped
    case Phase::kData:
    case Phase::kDone:
      break;
  }
  return State::kMalformed;
}

ChunkedDecoder::State ChunkedDecoder::feed(std::string_view bytes, std::size_t& consumed) {
  consumed = 0;
  while (consumed < bytes.size()) {
    if (phase_ == Phase::kDone) return State::kDone;
    if (phase_ == Phase::kData) {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - consumed));
      body_.append(bytes.substr(consumed, take));
      consumed += take;
      remaining_ -= take;
      if (remaining_ == 0) phase_ = Phase::kDataEnd;
      continue;
    }
    std::size_t newline = bytes.find('\n', consumed);
    std::size_t end = newline == std::string_view::npos ? bytes.size() : newline;
    line_.append(bytes.substr(consumed, end - consumed));
    // Count the line end only once it has arrived: a trailer that comes in pieces must count the
    // same as one that comes whole.
    if (phase_ == Phase::kTrailer) trailer_bytes_ += end - consumed + (newline == std::string_view::npos ? 0 : 1);
    std::size_t cap = phase_ == Phase::kSize ? kMaxChunkSizeLine : phase_ == Phase::kDataEnd ? 2 : max_trailer_bytes_;
    if (line_.size() > cap || trailer_bytes_ > max_trailer_bytes_) return State::kMalformed;
    if (newline == std::string_view::npos) {
      consumed = bytes.size();
      return State::kNeedMore;
    }
    consumed = newline + 1;
    State state = line(line_);
    line_.clear();
    if (state != State::kNeedMore) return state;
  }
  return phase_ == Phase::kDone ? State::kDone : State::kNeedMore;
}

bool is_peer_target(std::string_view target) { return peer_protocol::is_peer_target(target); }

}  // namespace kvs::server
