#include "watch_wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "json_writer.hpp"
#include "kvs/config.hpp"

namespace kvs::server {
namespace {

std::string_view type_name(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kPut: return "put";
    case WatchEvent::Type::kDelete: return "delete";
    case WatchEvent::Type::kResyncRequired: return "resync_required";
  }
  return "put";
}

// `document` on one line (see the header: a raw CR or LF in valid JSON is whitespace).
std::string one_line(std::string_view document) {
  std::string out(document);
  std::replace_if(out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

bool accepts_event_stream(std::string_view accept) {
  // A media range list; "text/event-stream" anywhere in it (with or without parameters) asks for
  // SSE. Media types are case-insensitive.
  std::string lower(accept);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("text/event-stream") != std::string::npos;
}

}  // namespace

Result<WatchRequest> parse_watch_request(const Target& target, std::string_view accept,
                                         std::string_view last_event_id) {
  WatchRequest request;
  if (const QueryParam* p = target.find("prefix")) request.prefix = p->value.value_or("");
  if (const QueryParam* p = target.find("since")) {
    if (!p->value || p->value->empty()) {
      return Status::invalid_argument("query parameter since needs a cursor (leave it out to watch from now on)");
    }
    request.since = *p->value;
  }
  auto values = query_flag(target, "values");
  if (!values.is_ok()) return values.status();
  request.values = *values;

  const bool sse = accepts_event_stream(accept);
  if (sse && !last_event_id.empty()) request.since = std::string(last_event_id);

  if (const QueryParam* p = target.find("wait")) {
    auto wait = parse_duration(p->value.value_or(""));
    if (!wait.is_ok() || *wait > kMaxWatchWait) {
      return Status::invalid_argument("query parameter wait must be a duration from 0 to 5m, such as 30s");
    }
    request.framing = WatchFraming::kLongPoll;
    request.wait = *wait;
  } else {
    request.framing = sse ? WatchFraming::kSse : WatchFraming::kNdjson;
  }
  if (const QueryParam* p = target.find("limit")) {
    if (request.framing != WatchFraming::kLongPoll) {
      return Status::invalid_argument("query parameter limit is for the long poll only (with wait)");
    }
    auto limit = parse_unsigned(p->value.value_or(""), "limit", 1, kMaxWatchLimit);
    if (!limit.is_ok()) return limit.status();
    request.limit = static_cast<std::size_t>(*limit);
  }
  return request;
}

std::string watch_event_json(const WatchEvent& event) {
  JsonWriter json;
  json.begin_object().key("type").string(type_name(event.type)).key("cursor").string(event.cursor);
  if (event.type != WatchEvent::Type::kResyncRequired) {
    json.key("path").string(event.path).key("uuid").string(event.uuid).key("timestamp").number(event.timestamp_ms);
    if (event.type == WatchEvent::Type::kPut && event.data) json.key("data").raw(one_line(*event.data));
  }
  json.end_object();
  return json.take();
}

std::string heartbeat_json(std::string_view cursor) {
  JsonWriter json;
  json.begin_object().key("type").string("heartbeat").key("cursor").string(cursor).end_object();
  return json.take();
}

std::string ndjson_line(std::string_view object) {
  std::string line;
  line.reserve(object.size() + 1);
  line.append(object).append(1, '\n');
  return line;
}

// An event: its fields one per line, ended by an empty line. The cursor is opaque but kvs's own
// (no CR or LF), and the object is one line (rendered above), so each stays one field. The id
// is what an EventSource sends back as Last-Event-ID when it reconnects.
std::string sse_event(std::string_view cursor, std::string_view object) {
  std::string event;
  event.reserve(cursor.size() + object.size() + 16);
  event.append("id: ").append(one_line(cursor)).append("\ndata: ").append(object).append("\n\n");
  return event;
}

std::string framed(WatchFraming framing, std::string_view cursor, std::string_view object) {
  return framing == WatchFraming::kSse ? sse_event(cursor, object) : ndjson_line(object);
}

std::string stream_head(WatchFraming framing) {
  std::string head = "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: ";
  head += framing == WatchFraming::kSse ? "text/event-stream" : "application/x-ndjson";
  head += "\r\nTransfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n\r\n";
  return head;
}

std::string long_poll_json(const std::vector<WatchEvent>& events, std::string_view cursor) {
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out += ',';
    out += watch_event_json(events[i]);
  }
  out += "],\"cursor\":";
  append_json_string(out, cursor);
  out += '}';
  return out;
}

LongPollCut cut_for_long_poll(const std::vector<WatchEvent>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].type != WatchEvent::Type::kResyncRequired) continue;
    return LongPollCut{i == 0 ? 1 : i, true};
  }
  return LongPollCut{events.size(), false};
}

}  // namespace kvs::server
