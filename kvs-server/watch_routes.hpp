#pragma once

// GET /kv/_watch, the change feed over REST (SPEC section 2, "Watch"): each request is one
// Node::watch, served as a stream (ndjson or server-sent events) or as one long poll. The wire
// form (query, event lines, the long-poll answer) is in watch_wire.hpp.
//
// Threading and lifetime: a stream holds its connection's worker thread for as long as it is
// open (the connection layer gives every connection its own worker, and max_watches is far
// below max_connections). The worker waits in Watch::next for at most kWatchWakeup at a time;
// at each wake-up it checks, in order:
//   1. the client is still there (client_hung_up): a client that closed its connection ends
//      its stream, and releases its watch, within one wake-up rather than at the next write;
//   2. the caller's token still authenticates (not expired, not revoked, user not deleted):
//      else the stream ends (the final chunk; a long poll answers what it has);
//   3. watch_heartbeat of silence has passed: a heartbeat line.
// Node::close_watches (kvs-server's SIGTERM path) makes every waiting next() return
// kUnavailable at once, and the stream ends with its final chunk.
// The connection layer's header and idle timeouts apply only between requests, so they never
// cut a stream; its write deadline applies to each write: a client that reads nothing for that
// long is cut off, and resumes with since=<last cursor> when it comes back.

#include <chrono>

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// The longest a watch waits without checking its client and its token.
inline constexpr std::chrono::milliseconds kWatchWakeup{1000};

// Registers GET /kv/_watch (an exact route, so that it never reaches /kv/{path}).
// `node` must outlive `server`; `heartbeat` is watch_heartbeat.
void register_watch_routes(HttpServer& server, Node& node, std::chrono::milliseconds heartbeat);

}  // namespace kvs::server
