// Fuzzes the PUT body parser (kvs-server/put_body.*): the plain form versus the envelope
// {"data": doc, "ttl": "1h"}. Properties:
//   - an envelope's data is a slice of the body, taken as sent, and its ttl is a duration that
//     parse_duration gives for that text (never negative);
//   - a body without both "data" and "ttl" in it is never an envelope;
//   - wrapping any body's text as {"data": <body>, "ttl": "5s"} is an envelope of 5 s whose data
//     is that text, whenever the body is a JSON value the splitter accepts.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "put_body.hpp"

using kvs::server::parse_put_body;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_put_body(body);
  if (parsed.is_ok()) {
    if (parsed->envelope) {
      KVS_FUZZ_CHECK(body.find(parsed->envelope_data) != std::string_view::npos);
      KVS_FUZZ_CHECK(parsed->ttl.has_value() && parsed->ttl->count() >= 0);
    } else {
      KVS_FUZZ_CHECK(!parsed->ttl.has_value() && parsed->envelope_data.empty());
    }
  }
  if (body.find("\"data\"") == std::string_view::npos || body.find("\"ttl\"") == std::string_view::npos) {
    KVS_FUZZ_CHECK(parsed.is_ok() && !parsed->envelope);
  }

  std::string wrapped = "{\"data\":" + std::string(body) + ",\"ttl\":\"5s\"}";
  auto envelope = parse_put_body(wrapped);
  if (envelope.is_ok() && envelope->envelope) {
    KVS_FUZZ_CHECK(envelope->ttl && envelope->ttl->count() == 5000);
    KVS_FUZZ_CHECK(wrapped.find(envelope->envelope_data) != std::string::npos);
  }
  return 0;
}
