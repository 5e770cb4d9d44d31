#pragma once

// The REST request each kvsctl command sends (SPEC section 2), built from a checked Invocation
// without I/O: the paths, query strings, headers and JSON bodies live here, and the unit
// tests read them back.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli.hpp"

namespace kvsctl {

// What the client does with a successful answer's body.
enum class BodyMode {
  kBuffered,  // kept whole, then rendered (most commands)
  kLines,     // printed line by line as it arrives (watch: ndjson)
  kRaw,       // copied to stdout as it arrives (export)
};

struct HttpRequest {
  std::string method;
  std::string target;  // path and query, percent-encoded: "/kv/users/john?ttl=30s"
  std::string body;    // sent when non-empty (with Content-Type: application/json)
  std::vector<std::pair<std::string, std::string>> headers;
  BodyMode mode = BodyMode::kBuffered;
};

// `text` with every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) percent-encoded;
// `keep_slash` leaves '/' as is (for a key in a path).
std::string percent_encode(std::string_view text, bool keep_slash = false);

// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

// A comma-separated list ("read,write") as a JSON array of strings; empty items are dropped,
// so "" is [].
std::string json_string_array(std::string_view comma_list);

// The request of a checked invocation. `document` is the document of `put` (the JSON operand,
// or stdin's contents when the operand is "-"); other commands ignore it. `ls` gets its first
// page; later pages come from ls_request.
HttpRequest build_request(const Invocation& invocation, std::string_view document = {});

// One page of the one-level listing under `prefix`: GET /kv/_range?prefix=P&delimiter=/,
// resuming at `start_key` (a previous page's next_start_key) when not empty.
HttpRequest ls_request(std::string_view prefix, std::string_view start_key);

}  // namespace kvsctl
