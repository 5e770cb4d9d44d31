#pragma once

// The body of PUT /kv/{path} (SPEC section 2, "Data: /kv/"): either the document itself, or the
// envelope form {"data": doc, "ttl": "1h"}, an object whose only members are "data" and "ttl".
// Pure: bytes in, the parsed form out; the data routes call it and a fuzzer can too.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/status.hpp"

namespace kvs::server {

struct PutBody {
  std::string envelope_data;  // the envelope's "data", byte for byte as sent (its slice of the body)
  bool envelope = false;
  std::optional<std::chrono::milliseconds> ttl;  // the envelope's "ttl"
};

// The form of `body`. Anything that is not an envelope is the plain form (envelope false; the
// document is then `body`, which Node::put validates). kInvalidArgument for an envelope whose
// "ttl" is not a string or not a duration (kvs::parse_duration). The envelope's "data" is not
// validated here either: Node::put does it.
Result<PutBody> parse_put_body(std::string_view body);

}  // namespace kvs::server
