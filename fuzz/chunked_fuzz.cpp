// Fuzzes kvs-server's chunked body decoder (kvs-server/request_head.*). The first byte picks the
// body cap, the second how the rest is split into feeds; the rest is the body framing.
// Properties:
//   - the decoder never holds more than max_body_bytes of body, and consumes no more than it
//     was given;
//   - the result does not depend on how the bytes arrive: fed whole or in pieces, it ends in
//     the same state with the same body and the same end (bytes consumed);
//   - a decoded body re-encoded as one chunk decodes to itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "request_head.hpp"

using kvs::server::ChunkedDecoder;
using State = ChunkedDecoder::State;

namespace {

struct Outcome {
  State state = State::kNeedMore;
  std::size_t consumed = 0;
  std::string body;
};

// Feeds `bytes` in pieces of `piece` bytes (the whole at once when 0), as the connection layer
// does: the unconsumed rest of a feed is offered again with the next bytes.
Outcome decode(std::string_view bytes, std::size_t max_body, std::size_t piece) {
  ChunkedDecoder decoder(max_body, 256);
  Outcome outcome;
  std::string pending;
  std::size_t offered = 0;
  while (true) {
    std::size_t take = piece == 0 ? bytes.size() - offered : std::min(piece, bytes.size() - offered);
    pending.append(bytes.substr(offered, take));
    offered += take;
    std::size_t consumed = 0;
    outcome.state = decoder.feed(pending, consumed);
    KVS_FUZZ_CHECK(consumed <= pending.size());
    KVS_FUZZ_CHECK(decoder.body().size() <= max_body);
    outcome.consumed += consumed;
    pending.erase(0, consumed);
    if (outcome.state != State::kNeedMore || offered == bytes.size()) break;
  }
  outcome.body = decoder.body();
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_body = data[0] < 128 ? 64 : 65536;
  const std::size_t piece = 1 + data[1] % 17;
  std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);

  Outcome whole = decode(bytes, max_body, 0);
  Outcome pieces = decode(bytes, max_body, piece);
  KVS_FUZZ_CHECK(whole.state == pieces.state);
  if (whole.state == State::kDone) {
    KVS_FUZZ_CHECK(whole.body == pieces.body);
    KVS_FUZZ_CHECK(whole.consumed == pieces.consumed);
    KVS_FUZZ_CHECK(whole.consumed <= bytes.size());

    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", whole.body.size());
    std::string encoded = whole.body.empty() ? "0\r\n\r\n" : std::string(size_line) + whole.body + "\r\n0\r\n\r\n";
    Outcome round = decode(encoded, max_body, 0);
    KVS_FUZZ_CHECK(round.state == State::kDone && round.body == whole.body && round.consumed == encoded.size());
  }
  return 0;
}
