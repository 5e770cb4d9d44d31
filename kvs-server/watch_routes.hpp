#pragma once

// GET /kv/_watch, the change feed over REST (SPEC section 2, "Watch"): each request is one
// Node::watch, served as a stream (ndjson or server-sent events) or as one long poll. The wire
// form (query, event lines, the stream's head, the long-poll answer) is in watch_wire.hpp.
//
// Threading and lifetime. A stream over plain HTTP holds no thread: once the worker has parsed
// and authorized the request and opened the watch, it takes the connection over
// (RequestContext::take_connection), hands it to the StreamLoop (stream_loop.hpp) and returns
// to the pool. On the loop's thread the stream:
//   - takes up to kStreamBatch events each time its watch's ready callback fires (a change
//     after it was drained, or its close), and writes them without blocking;
//   - at its timer checks that the caller's token still authenticates (not expired, not
//     revoked, user not deleted; at least every kWatchTokenRecheck) and ends the stream when not,
//     then sends a heartbeat line after watch_heartbeat of silence;
//   - ends at once, releasing its watch and its max_watches slot, when the client hangs up.
// Node::close_watches (kvs-server's SIGTERM path) closes every watch, whose callback then ends
// its stream with the final chunk. A client that reads nothing for the write timeout is cut
// off, and resumes with since=<last cursor> when it comes back.
// A stream the connection layer cannot hand over (TLS, whose session stays with the worker's
// socket; a HEAD; a request with a further one pipelined behind it) and every long poll (bounded
// by its `wait`) stay on their worker, which waits in Watch::next for at most kWatchWakeup at
// a time and at each wake-up checks, in order: the client is still there (client_hung_up), the
// token still authenticates, a heartbeat is due.
// The connection layer's header and idle timeouts apply only between requests, so they never
// cut a stream.

#include <chrono>

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

class StreamLoop;

// The longest a watch on a worker waits without checking its client and its token.
inline constexpr std::chrono::milliseconds kWatchWakeup{1000};
// The longest a stream on the loop goes without checking its token again.
inline constexpr std::chrono::milliseconds kWatchTokenRecheck{2000};

// Registers GET /kv/_watch (an exact route, so that it never reaches /kv/{path}).
// `node` must outlive `server`; `heartbeat` is watch_heartbeat. `loop`, when not null, serves
// the streams that can be handed over; it must be running and be stopped before `node` goes.
void register_watch_routes(HttpServer& server, Node& node, std::chrono::milliseconds heartbeat,
                           StreamLoop* loop = nullptr);

}  // namespace kvs::server
