// Fuzzes kvs-server's request head parser (kvs-server/request_head.*), under the default
// limits and under small ones so that every limit is reached. Properties:
//   - a complete head never reports more headers than max_headers, nor more head bytes than
//     max_header_bytes or than the input holds;
//   - a refusal is one of the documented statuses, with a code and a message;
//   - the parse is decided by the bytes seen: more input after a complete head changes nothing;
//   - serialize_head's output (what httplib is given) parses again, complete, to the same
//     method, target and version, with exactly one Content-Length when there is a body.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "request_head.hpp"

using kvs::server::BodyFraming;
using kvs::server::HeadLimits;
using kvs::server::HeadParse;
using kvs::server::parse_request_head;
using kvs::server::serialize_head;

namespace {

void check(std::string_view bytes, const HeadLimits& limits) {
  HeadParse parsed = parse_request_head(bytes, limits);
  if (parsed.state == HeadParse::State::kRefused) {
    int status = parsed.refusal.status;
    KVS_FUZZ_CHECK(status == 400 || status == 411 || status == 413 || status == 415 || status == 431 || status == 501);
    KVS_FUZZ_CHECK(!parsed.refusal.code.empty() && !parsed.refusal.message.empty());
    return;
  }
  if (parsed.state == HeadParse::State::kIncomplete) return;
  const auto& head = parsed.head;
  KVS_FUZZ_CHECK(head.headers.size() <= limits.max_headers);
  KVS_FUZZ_CHECK(parsed.head_bytes <= bytes.size());
  KVS_FUZZ_CHECK(head.version == "HTTP/1.1" || head.version == "HTTP/1.0");
  KVS_FUZZ_CHECK(!head.method.empty() && !head.target.empty());

  // Bytes after the head belong to the body or the next request: they change nothing.
  HeadParse again = parse_request_head(std::string(bytes.substr(0, parsed.head_bytes)) + "XYZ\r\n", limits);
  KVS_FUZZ_CHECK(again.state == HeadParse::State::kComplete && again.head_bytes == parsed.head_bytes);
  KVS_FUZZ_CHECK(again.head.headers == head.headers && again.head.target == head.target);

  // What httplib is given parses again to the same request (under roomier limits: the
  // re-serialised head may be longer, e.g. "Content-Length: 0" for an empty chunked body).
  std::size_t body_bytes = head.framing == BodyFraming::kContentLength ? static_cast<std::size_t>(head.content_length % 1000) : 7;
  std::string serialized = serialize_head(head, body_bytes);
  HeadLimits roomy{limits.max_header_bytes * 2 + 64, limits.max_headers + 1, limits.max_line_bytes + 64};
  HeadParse reparsed = parse_request_head(serialized, roomy);
  KVS_FUZZ_CHECK(reparsed.state == HeadParse::State::kComplete);
  KVS_FUZZ_CHECK(reparsed.head_bytes == serialized.size());
  KVS_FUZZ_CHECK(reparsed.head.method == head.method && reparsed.head.target == head.target &&
                 reparsed.head.version == head.version);
  if (head.framing != BodyFraming::kNone) {
    KVS_FUZZ_CHECK(reparsed.head.framing == BodyFraming::kContentLength);
    KVS_FUZZ_CHECK(reparsed.head.content_length == body_bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(bytes, HeadLimits{});
  check(bytes, HeadLimits{256, 4, 64});
  return 0;
}
