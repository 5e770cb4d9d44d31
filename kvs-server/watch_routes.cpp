#include "watch_routes.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>

#include "auth_routes.hpp"
#include "kvs/log.hpp"
#include "stream_loop.hpp"
#include "watch_wire.hpp"

namespace kvs::server {
namespace {

using Clock = std::chrono::steady_clock;

// Events a stream takes from its watch per wake-up: one chunk on the wire.
constexpr std::size_t kStreamBatch = 256;

// Whether the caller may go on watching: its token, checked again at every wake-up (the
// interceptor checked it once, when the request came in). Node::authenticate touches no disk.
class CallerCheck {
 public:
  CallerCheck(Node& node, const RequestContext& context) : node_(node) {
    if (!node.auth_enabled() || context.caller.trusted) return;
    // The header is kept while the token, a view into it, is copied.
    const std::string authorization = context.header("Authorization");
    auto token = bearer_token(authorization);
    if (token.is_ok()) token_ = std::string(*token);
    checked_ = true;
  }

  bool still_valid() const { return !checked_ || node_.authenticate(token_).is_ok(); }
  // Whether there is a token to check again (auth is on and the caller is no trusted peer).
  bool needed() const { return checked_; }

 private:
  Node& node_;
  bool checked_ = false;
  std::string token_;
};

// What makes a wait end early: a gone client or a token that no longer authenticates.
bool should_stop(const CallerCheck& caller) { return client_hung_up() || !caller.still_valid(); }

// `batch` framed for the wire, appended to `out`.
void append_framed(WatchFraming framing, const std::vector<WatchEvent>& batch, std::string& out) {
  for (const auto& event : batch) out += framed(framing, event.cursor, watch_event_json(event));
}

// One open stream, served by the stream loop: the loop calls it on its thread when the watch's
// ready callback fired, and at its timer. Nothing here waits.
class WatchSource final : public StreamSource {
 public:
  WatchSource(std::unique_ptr<Watch> watch, WatchFraming framing, CallerCheck caller,
                  std::chrono::milliseconds heartbeat)
      : watch_(std::move(watch)), framing_(framing), caller_(std::move(caller)), heartbeat_(heartbeat) {}

  void attach(std::function<void()> ready) override { watch_->set_ready_callback(std::move(ready)); }

  // What is ready, up to a batch. The watch closed (the node is stopping) ends the stream with
  // its final chunk; a failed feed cuts it, and the client resumes from its last cursor.
  Pull pull(std::string& out, Clock::time_point now) override {
    batch_.clear();
    auto got = watch_->next(batch_, kStreamBatch, std::chrono::milliseconds(0));
    if (!got.is_ok()) {
      if (got.status().code() == Status::Code::kUnavailable) return Pull::kEnd;
      log(LogLevel::kError, "watch.failed", {{"error", got.status().to_string()}});
      return Pull::kCut;
    }
    append_framed(framing_, batch_, out);
    if (!batch_.empty()) last_sent_ = now;
    // Fewer than a batch: the watch is drained, and its callback fires for the next change.
    return *got >= kStreamBatch ? Pull::kMore : Pull::kIdle;
  }

  // The token, checked again at least every kWatchTokenRecheck, then a heartbeat after
  // watch_heartbeat of silence.
  bool on_timer(std::string& out, Clock::time_point now, Clock::time_point& next) override {
    if (!caller_.still_valid()) return false;
    if (now - last_sent_ >= heartbeat_) {
      std::string cursor = watch_->cursor();
      out += framed(framing_, cursor, heartbeat_json(cursor));
      last_sent_ = now;
    }
    next = last_sent_ + heartbeat_;
    if (caller_.needed()) next = std::min(next, now + kWatchTokenRecheck);
    return true;
  }

  Clock::time_point first_timer(Clock::time_point now) override {
    last_sent_ = now;
    return caller_.needed() ? std::min(now + heartbeat_, now + kWatchTokenRecheck) : now + heartbeat_;
  }

 private:
  std::unique_ptr<Watch> watch_;
  WatchFraming framing_;
  CallerCheck caller_;
  std::chrono::milliseconds heartbeat_;
  Clock::time_point last_sent_;
  std::vector<WatchEvent> batch_;
};

class WatchRoutes {
 public:
  WatchRoutes(Node& node, std::chrono::milliseconds heartbeat, StreamLoop* loop)
      : node_(node), heartbeat_(heartbeat), loop_(loop) {}

  void watch(RequestContext& context, httplib::Response& response) {
    auto request = parse_watch_request(context.target, context.header("Accept"), context.header("Last-Event-ID"));
    if (!request.is_ok()) return write_error(response, request.status());
    WatchOptions options;
    options.caller = context.caller;
    options.prefix = request->prefix;
    options.since = request->since;
    options.values = request->values;
    auto opened = node_.watch(options);  // kUnavailable (503) past max_watches
    if (!opened.is_ok()) return write_error(response, opened.status());
    CallerCheck caller(node_, context);
    if (request->framing == WatchFraming::kLongPoll) {
      return long_poll(*request, std::move(*opened), caller, response);
    }

    if (context.http.method == "HEAD") return head_only(request->framing, response);

    // The stream loop writes the head and everything after it; the worker returns to the pool
    // now. Bytes pipelined behind this request are dropped: the head says Connection: close.
    std::optional<TakenConnection> taken;
    if (loop_ != nullptr) taken = context.take_connection();
    if (!taken) {
      // The loop did not start, or no descriptor was left to take the connection with.
      return write_error(response, Status::unavailable("watch streams are not available now; retry later, or "
                                                       "long-poll with wait="));
    }
    response.status = 200;  // what the response observers count; httplib's answer is dropped
    loop_->adopt(StreamConnection(taken->fd, std::move(taken->tls)), stream_head(request->framing),
                 std::make_unique<WatchSource>(std::move(*opened), request->framing, caller, heartbeat_),
                 std::move(taken->release));
  }

 private:
  // A HEAD of a stream: the head a GET would get (its status too: the watch was opened, and is
  // closed again here), with no body, and the connection stays open for the next request. The
  // content provider only makes httplib write the stream's headers; it is never called for a
  // HEAD.
  static void head_only(WatchFraming framing, httplib::Response& response) {
    response.status = 200;
    response.set_header("Cache-Control", "no-cache");
    response.set_header("X-Accel-Buffering", "no");
    const char* type = framing == WatchFraming::kSse ? "text/event-stream" : "application/x-ndjson";
    response.set_chunked_content_provider(type, [](std::size_t, httplib::DataSink& sink) {
      sink.done();
      return true;
    });
  }

  // Waits up to `wait` for the first events, then answers them, up to `limit`. Wakes up every
  // kWatchWakeup to notice a gone client or a token that stopped working (either ends the wait).
  void long_poll(const WatchRequest& request, std::unique_ptr<Watch> watch, const CallerCheck& caller,
                 httplib::Response& response) {
    const auto deadline = Clock::now() + request.wait;
    std::vector<WatchEvent> events;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto got = watch->next(events, request.limit, std::clamp(left, std::chrono::milliseconds(0), kWatchWakeup));
      if (!got.is_ok()) {
        // Closed (the server is stopping): what came so far, which is nothing.
        if (got.status().code() != Status::Code::kUnavailable) return write_error(response, got.status());
        break;
      }
      if (!events.empty() || Clock::now() >= deadline || should_stop(caller)) break;
    }
    std::string cursor = watch->cursor();
    LongPollCut cut = cut_for_long_poll(events);
    if (cut.keep < events.size()) {
      // Events after a resync were taken from the watch but are not returned: the next poll
      // resumes after the last one returned.
      events.resize(cut.keep);
      cursor = events.back().cursor;
    }
    write_json(response, 200, long_poll_json(events, cursor));
  }

  Node& node_;
  std::chrono::milliseconds heartbeat_;
  StreamLoop* loop_;
};

}  // namespace

void register_watch_routes(HttpServer& server, Node& node, std::chrono::milliseconds heartbeat, StreamLoop* loop) {
  auto routes = std::make_shared<WatchRoutes>(node, heartbeat, loop);
  server.add_route({"kv_watch", "GET", "/kv/_watch", false, true,
                    [routes](RequestContext& c, httplib::Response& r) { routes->watch(c, r); }});
}

}  // namespace kvs::server
