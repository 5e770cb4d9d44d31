#pragma once

// The wire form of GET /kv/_watch (SPEC section 2, "Watch"), as pure functions that the unit
// tests call directly: the request's query and headers read into a WatchRequest, and the
// feed's events rendered as ndjson lines, server-sent events and the long-poll answer.
// watch_routes.cpp does the waiting and the writing.
//
// Every event is one JSON object on one line: {"type","cursor"[,"path","uuid","timestamp"
// [,"data"]]}. A document is stored exactly as sent and may span lines; a raw CR or LF can only
// be insignificant whitespace in valid JSON (never inside a string), so rendering turns each
// into a space and the document stays byte for byte the same JSON value.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/status.hpp"
#include "kvs/watch.hpp"
#include "url.hpp"

namespace kvs::server {

// The long poll's bounds (SPEC): `wait` at most 5 minutes, `limit` 1..10000, default 100.
inline constexpr std::chrono::milliseconds kMaxWatchWait = std::chrono::minutes(5);
inline constexpr std::size_t kDefaultWatchLimit = 100;
inline constexpr std::size_t kMaxWatchLimit = 10000;

enum class WatchFraming {
  kNdjson,    // chunked application/x-ndjson, one object per line
  kSse,       // text/event-stream: "id: <cursor>" and "data: <object>" per event
  kLongPoll,  // one JSON answer {"events":[...],"cursor"}
};

struct WatchRequest {
  std::string prefix;
  // Where the feed resumes: Last-Event-ID (an SSE client reconnecting; it sends the URL it was
  // first given, whose `since` is older), else `since`; absent: from now on.
  std::optional<std::string> since;
  bool values = false;
  WatchFraming framing = WatchFraming::kNdjson;
  std::chrono::milliseconds wait{0};     // kLongPoll only
  std::size_t limit = kDefaultWatchLimit;  // kLongPoll only
};

// Reads the query (prefix, since, values, wait, limit) and the Accept and Last-Event-ID headers
// ("" when absent). `wait` makes the request a long poll, whatever Accept says; `limit` is
// only for a long poll. kInvalidArgument, naming the parameter, for a value out of its range or
// not of its kind.
Result<WatchRequest> parse_watch_request(const Target& target, std::string_view accept,
                                         std::string_view last_event_id);

// One event as its JSON object (no line end).
std::string watch_event_json(const WatchEvent& event);
// {"type":"heartbeat","cursor"}.
std::string heartbeat_json(std::string_view cursor);

// An object as one ndjson line, or as one server-sent event whose id is `cursor`.
std::string ndjson_line(std::string_view object);
std::string sse_event(std::string_view cursor, std::string_view object);
// The bytes for `object` in `framing` (kNdjson or kSse).
std::string framed(WatchFraming framing, std::string_view cursor, std::string_view object);

// The head of a stream's answer, written by the stream loop: status 200, the Content-Type of
// `framing` (kNdjson or kSse), Cache-Control: no-cache, X-Accel-Buffering: no (reverse proxies
// that buffer answers pass this one on as it comes), chunked Transfer-Encoding, and
// Connection: close (the connection ends with the stream). The headers in the order httplib
// writes them for a HEAD of the stream (by name, case-insensitively).
std::string stream_head(WatchFraming framing);

// The long poll's answer: {"events":[...],"cursor"}.
std::string long_poll_json(const std::vector<WatchEvent>& events, std::string_view cursor);

// What one long poll returns of the events a watch yielded, in order: up to the first
// kResyncRequired. A resync that comes first is returned alone (and the answer's cursor is its
// cursor); one that follows other events is left out, and the answer ends before it: the next
// poll, resuming after the last event returned, learns from the node whether it still can.
struct LongPollCut {
  std::size_t keep = 0;  // events[0, keep) are returned
  bool stop = false;     // a resync was met: answer now
};
LongPollCut cut_for_long_poll(const std::vector<WatchEvent>& events);

}  // namespace kvs::server
