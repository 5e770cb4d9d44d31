#pragma once

// GET /kv/_watch, the change feed over REST (SPEC section 2, "Watch"): each request is one
// Node::watch, served as a stream (ndjson or server-sent events) or as one long poll. The wire
// form (query, event lines, the stream's head, the long-poll answer) is in watch_wire.hpp.
//
// Threading and lifetime. A stream holds no thread: once the worker has parsed and authorized
// the request and opened the watch, it takes the connection over (RequestContext::
// take_connection; a TLS connection's session goes with it), hands it to the StreamLoop
// (stream_loop.hpp) and returns to the pool. On the loop's thread the stream:
//   - takes up to kStreamBatch events each time its watch's ready callback fires (a change
//     after it was drained, or its close), and writes them without blocking;
//   - at its timer checks that the caller's token still authenticates (not expired, not
//     revoked, user not deleted; at least every kWatchTokenRecheck) and ends the stream when not,
//     then sends a heartbeat line after watch_heartbeat of silence;
//   - ends at once, releasing its watch and its max_watches slot, when the client hangs up.
// Node::close_watches (kvs-server's SIGTERM path) closes every watch, whose callback then ends
// its stream with the final chunk. A client that reads nothing for the write timeout is cut
// off, and resumes with since=<last cursor> when it comes back. A stream's answer says
// Connection: close, and requests pipelined behind it are dropped unanswered (a client sends
// them again on another connection, as after any close). Without a running loop a stream is
// refused with 503 (long polls still work).
// A HEAD gets the stream's head at once, from its worker, and keeps its connection. A long poll
// (bounded by its `wait`) stays on its worker, which waits in Watch::next for at most
// kWatchWakeup at a time and at each wake-up checks that the client is still there
// (client_hung_up) and that the token still authenticates.
// The connection layer's header and idle timeouts apply only between requests, so they never
// cut a stream.

#include <chrono>

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

class StreamLoop;

// The longest a long poll waits without checking its client and its token.
inline constexpr std::chrono::milliseconds kWatchWakeup{1000};
// The longest a stream on the loop goes without checking its token again.
inline constexpr std::chrono::milliseconds kWatchTokenRecheck{2000};

// Registers GET /kv/_watch (an exact route, so that it never reaches /kv/{path}).
// `node` must outlive `server`; `heartbeat` is watch_heartbeat. `loop` serves the streams; it
// must be running and be stopped before `node` goes. Null: streams are refused with 503.
void register_watch_routes(HttpServer& server, Node& node, std::chrono::milliseconds heartbeat,
                           StreamLoop* loop = nullptr);

}  // namespace kvs::server
