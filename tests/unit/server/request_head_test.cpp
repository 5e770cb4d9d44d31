// kvs-server's request head parser, chunked body decoder and connection counter (SPEC section 2,
// "Limits"): pure functions, tested on bytes alone. What a real server does with their answers
// (431, 413, closing) is covered by tests/integration/hostile_clients_test.cpp.

#include <string>

#include <catch2/catch.hpp>

#include "connection_limits.hpp"
#include "request_head.hpp"

namespace kvs::server {
namespace {

using State = HeadParse::State;
using namespace std::string_literals;

HeadParse parse(const std::string& bytes, HeadLimits limits = {}) { return parse_request_head(bytes, limits); }

void check_refused(const std::string& bytes, int status, const std::string& code, HeadLimits limits = {}) {
  INFO(bytes.substr(0, 200));
  auto result = parse(bytes, limits);
  REQUIRE(result.state == State::kRefused);
  CHECK(result.refusal.status == status);
  CHECK(result.refusal.code == code);
  CHECK_FALSE(result.refusal.message.empty());
}

}  // namespace

TEST_CASE("a complete head is parsed with its framing and the bytes it used", "[server][head]") {
  std::string bytes = "\r\nPUT /kv/a?ttl=1s HTTP/1.1\r\nHost: kvs\r\nContent-Length:  5 \r\nX-Empty:\r\n\r\nhello";
  auto result = parse(bytes);
  REQUIRE(result.state == State::kComplete);
  CHECK(result.head_bytes == bytes.size() - 5);
  CHECK(result.head.method == "PUT");
  CHECK(result.head.target == "/kv/a?ttl=1s");
  CHECK(result.head.version == "HTTP/1.1");
  CHECK(result.head.framing == BodyFraming::kContentLength);
  CHECK(result.head.content_length == 5);
  REQUIRE(result.head.find("host") != nullptr);
  CHECK(*result.head.find("HOST") == "kvs");
  REQUIRE(result.head.find("x-empty") != nullptr);
  CHECK(result.head.find("x-empty")->empty());

  auto chunked = parse("POST /sync/push HTTP/1.1\nTransfer-Encoding: Chunked\nExpect: 100-continue\n\n");
  REQUIRE(chunked.state == State::kComplete);
  CHECK(chunked.head.framing == BodyFraming::kChunked);
  CHECK(chunked.head.expect_continue);

  auto get = parse("GET /health HTTP/1.0\r\n\r\n");
  REQUIRE(get.state == State::kComplete);
  CHECK(get.head.framing == BodyFraming::kNone);
}

TEST_CASE("an unfinished head asks for more bytes until a limit is passed", "[server][head]") {
  CHECK(parse("").state == State::kIncomplete);
  CHECK(parse("GET /health HTT").state == State::kIncomplete);
  CHECK(parse("GET /health HTTP/1.1\r\nHost: kvs\r\n").state == State::kIncomplete);
  HeadLimits limits;
  limits.max_header_bytes = 1024;
  // An unfinished line over 8 KiB, or an unfinished head over max_header_bytes: refused before
  // the line or head ends, so the caller never buffers more.
  check_refused("GET /health HTTP/1.1\r\nX-A: " + std::string(8200, 'a'), 431, "headers_too_large");
  check_refused("GET /health HTTP/1.1\r\nX-A: " + std::string(1100, 'a'), 431, "headers_too_large", limits);
  check_refused(std::string(9000, 'G'), 431, "headers_too_large");
}

TEST_CASE("head limits: max_headers, max_header_bytes and one line over 8 KiB give 431", "[server][head]") {
  HeadLimits limits;
  limits.max_headers = 3;
  limits.max_header_bytes = 200;
  std::string three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n";
  CHECK(parse(three + "\r\n", limits).state == State::kComplete);
  check_refused(three + "D: 4\r\n\r\n", 431, "headers_too_large", limits);
  check_refused("GET / HTTP/1.1\r\nA: " + std::string(200, 'x') + "\r\n\r\n", 431, "headers_too_large", limits);
  check_refused("GET / HTTP/1.1\r\nA: " + std::string(8200, 'x') + "\r\n\r\n", 431, "headers_too_large");
  // 8192 bytes with the line end is still allowed.
  std::string line = "A: " + std::string(8192 - 5, 'x') + "\r\n";
  REQUIRE(line.size() == 8192);
  HeadLimits roomy;
  roomy.max_header_bytes = 65536;
  CHECK(parse("GET / HTTP/1.1\r\n" + line + "\r\n", roomy).state == State::kComplete);
}

TEST_CASE("malformed heads and ambiguous framing are refused", "[server][head]") {
  check_refused("GET /health\r\n\r\n", 400, "invalid_argument");
  check_refused("GET  /health HTTP/1.1\r\n\r\n", 400, "invalid_argument");
  check_refused("G(T /health HTTP/1.1\r\n\r\n", 400, "invalid_argument");
  check_refused("GET /he\x01lth HTTP/1.1\r\n\r\n", 400, "invalid_argument");
  check_refused("GET /health HTTP/2.0\r\n\r\n", 400, "invalid_argument");
  check_refused("GET /health HTTX/1.1\r\n\r\n", 400, "invalid_argument");
  check_refused("GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400, "invalid_argument");
  check_refused("GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400, "invalid_argument");
  check_refused("GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", 400, "invalid_argument");
  check_refused("GET / HTTP/1.1\r\nA: x\0y\r\n\r\n"s, 400, "invalid_argument");
  check_refused("GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: -3\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid_argument");
  check_refused("PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "not_implemented");
  check_refused("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Encoding: gzip\r\n\r\n", 415, "unsupported_media_type");
  check_refused("PUT /kv/a HTTP/1.1\r\nHost: kvs\r\n\r\n", 411, "length_required");
  check_refused("PUT /kv/a HTTP/1.1\r\nContent-Length: 2\r\nIf-Match:\r\n\r\n", 400, "invalid_argument");
  check_refused("DELETE /kv/a HTTP/1.1\r\nIf-Match:  \t \r\n\r\n", 400, "invalid_argument");
  // Two equal lengths are one.
  auto same = parse("PUT / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n");
  REQUIRE(same.state == State::kComplete);
  CHECK(same.head.content_length == 3);
}

TEST_CASE("the head httplib is given has one Content-Length and no framing or range headers", "[server][head]") {
  auto result = parse("PUT /kv/a HTTP/1.1\r\nHost: kvs\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
                      "Range: bytes=0-1,0-1\r\nX-KVS-Group: g\r\n\r\n");
  REQUIRE(result.state == State::kComplete);
  CHECK(serialize_head(result.head, 42) ==
        "PUT /kv/a HTTP/1.1\r\nHost: kvs\r\nX-KVS-Group: g\r\nContent-Length: 42\r\n\r\n");
  auto get = parse("GET /health HTTP/1.1\nHost: kvs\n\n");
  REQUIRE(get.state == State::kComplete);
  CHECK(serialize_head(get.head, 0) == "GET /health HTTP/1.1\r\nHost: kvs\r\n\r\n");
}

TEST_CASE("a chunked body is decoded across any split of its bytes", "[server][chunked]") {
  std::string wire = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, wire.size()}) {
    INFO("step " << step);
    ChunkedDecoder decoder(100, 100);
    ChunkedDecoder::State state = ChunkedDecoder::State::kNeedMore;
    std::size_t at = 0;
    std::size_t consumed = 0;
    while (at < wire.size() && state == ChunkedDecoder::State::kNeedMore) {
      std::string_view piece = std::string_view(wire).substr(at, step);
      state = decoder.feed(piece, consumed);
      at += consumed;
    }
    REQUIRE(state == ChunkedDecoder::State::kDone);
    CHECK(decoder.body() == "hello world");
    CHECK(wire.substr(at) == "NEXT");
  }
}

TEST_CASE("a chunked body over its cap is refused before the chunk's data is read", "[server][chunked]") {
  ChunkedDecoder decoder(10, 100);
  std::size_t consumed = 0;
  CHECK(decoder.feed("8\r\n12345678\r\n", consumed) == ChunkedDecoder::State::kNeedMore);
  // The next chunk's size alone decides.
  CHECK(decoder.feed("3\r\n", consumed) == ChunkedDecoder::State::kTooLarge);
  ChunkedDecoder huge(10, 100);
  CHECK(huge.feed("ffffffffffffff\r\n", consumed) == ChunkedDecoder::State::kTooLarge);
  CHECK(huge.body().empty());
}

TEST_CASE("malformed chunked framing is refused", "[server][chunked]") {
  std::size_t consumed = 0;
  for (const char* wire : {"x\r\n", "5\r\nhelloX\r\n", "-1\r\n", "1234567890abcdef1\r\n", "5 junk\r\n"}) {
    INFO(wire);
    ChunkedDecoder decoder(1000, 100);
    CHECK(decoder.feed(wire, consumed) == ChunkedDecoder::State::kMalformed);
  }
  ChunkedDecoder long_size(1000, 100);
  CHECK(long_size.feed("1;" + std::string(5000, 'e'), consumed) == ChunkedDecoder::State::kMalformed);
  ChunkedDecoder long_trailer(1000, 100);
  CHECK(long_trailer.feed("0\r\nT: " + std::string(200, 't'), consumed) == ChunkedDecoder::State::kMalformed);
}

TEST_CASE("trailer bytes count the same whether the trailer arrives whole or byte by byte", "[server][chunked]") {
  // 3 + 14 + 2 = 19 bytes after the size line's "0": exactly the trailer cap of 16 for the
  // trailer lines and their final empty line. Fed byte by byte, each piece of a line used to
  // count one more line end than it had (found by fuzz/chunked_fuzz.cpp).
  const std::string wire = "0\r\nX-T: 1234567\r\n\r\n";
  ChunkedDecoder whole(100, 16);
  std::size_t consumed = 0;
  REQUIRE(whole.feed(wire, consumed) == ChunkedDecoder::State::kDone);
  CHECK(consumed == wire.size());
  ChunkedDecoder trickled(100, 16);
  ChunkedDecoder::State state = ChunkedDecoder::State::kNeedMore;
  for (std::size_t at = 0; at < wire.size() && state == ChunkedDecoder::State::kNeedMore; ++at) {
    state = trickled.feed(std::string_view(wire).substr(at, 1), consumed);
  }
  CHECK(state == ChunkedDecoder::State::kDone);
  // One byte more is over the cap, either way.
  const std::string over = "0\r\nX-T: 12345678\r\n\r\n";
  ChunkedDecoder whole_over(100, 16);
  CHECK(whole_over.feed(over, consumed) == ChunkedDecoder::State::kMalformed);
}

TEST_CASE("peer targets get the peer body cap", "[server][head]") {
  CHECK(is_peer_target("/sync/push"));
  CHECK(is_peer_target("/members/join"));
  CHECK(is_peer_target("/members/gossip?x=1"));
  CHECK_FALSE(is_peer_target("/members/"));
  CHECK_FALSE(is_peer_target("/kv/sync/push"));
}

TEST_CASE("the connection counter caps connections in all and per address", "[server][connections]") {
  ConnectionLimiter limiter(3, 2);
  CHECK(limiter.admit("a"));
  CHECK(limiter.admit("a"));
  CHECK_FALSE(limiter.admit("a"));
  CHECK(limiter.admit("b"));
  CHECK_FALSE(limiter.admit("c"));  // 3 in all
  CHECK(limiter.open() == 3);
  limiter.release("a");
  CHECK(limiter.admit("c"));
  CHECK_FALSE(limiter.admit("a"));  // full again
  limiter.release("b");
  CHECK(limiter.admit("a"));
  CHECK(limiter.open() == 3);
}

}  // namespace kvs::server
