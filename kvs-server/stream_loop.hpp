#pragma once

// StreamLoop: one thread that serves every long-lived streaming answer (GET /kv/_watch streams)
// once its request has been read, authorized and answered with a head, so that an open stream
// holds no worker thread. Before it, each stream kept its connection's worker for its whole
// life, waking once a second: a thousand idle streams were a thousand threads and a thousand
// wake-ups a second.
//
// A worker takes the connection over (RequestContext::take_connection), builds the stream's
// StreamSource and calls adopt(), which queues it and returns at once. The loop thread then
// owns the connection (StreamConnection: the socket, non-blocking, and for TLS the session
// the worker's handshake established) and the source, and sleeps in epoll_wait on:
//  - the sockets: EPOLLRDHUP/EPOLLHUP/EPOLLERR, a read of 0, or a TLS client's close_notify is
//    a client gone; the stream ends at once (its source, and so its watch and max_watches
//    slot, is freed). What a client sends after its request is read and dropped (through the
//    session for TLS, which may need it: a key update). EPOLLOUT is asked for only while output
//    waits for the socket to take it, or while a TLS read has a record of its own to send.
//  - one eventfd: adopt(), stop() and the sources' readiness (the function given to attach(),
//    which a watch's committer calls) post into a queue under mutex_; the eventfd is written
//    only when that queue goes from empty to not empty, so a burst of changes that makes a
//    thousand streams ready costs one wake-up.
//  - one timer, a DeadlineQueue of (due, stream) entries rounded up to kTimerGranularity, so
//    that streams whose times are close share one wake-up: each source's own timer (heartbeats
//    and the token re-check) and the write deadline of a stream whose client stopped reading.
// For a ready stream the loop pulls payload from its source (StreamSource::pull; a watch takes
// up to a batch of events) while its pending output is under kMaxPendingBytes, frames each
// pull as one HTTP chunk and writes what the socket takes. A client that reads slowly makes the
// output reach the bound: the loop stops pulling (the watch's own watch_buffer bound then turns
// the backlog into resync_required, as for any slow consumer), and cuts the connection when no
// byte has gone out for write_timeout, as the worker's write deadline did. Pending output per
// stream is at most kMaxPendingBytes plus one pull.
//
// A stream ends cleanly (the terminating zero-length chunk, for TLS a close_notify if the
// socket takes it at once, then the close) when its source says so (the node closed its
// watches, the token stopped working) and on stop(); it is cut (closed without them) when the
// client is gone, its writes stall, or the source fails. Either way on_closed runs on the loop
// thread after the socket is closed.
//
// TLS, without blocking: SSL_write may ask to wait for the socket to be writable or, less
// often, readable (SSL_ERROR_WANT_WRITE / _READ); the loop waits for that event and writes
// again. The session is set to SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER:
// a retried write may come from another address (the pending output is compacted and grows),
// and it always starts with the same unsent bytes and is no shorter, which is what OpenSSL
// requires of a retry. The same bounds hold as for plain TCP: the pending bytes are counted
// before encryption, and a write that waits on a read counts toward write_timeout.
//
// Threading: adopt(), stop() and the readiness functions are safe from any thread; everything
// else, sources included, runs on the loop thread. Lock order: a source's readiness function
// runs under the watch's lock and takes mutex_; the loop never holds mutex_ while it calls a
// source or frees one.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client_socket.hpp"
#include "kvs/status.hpp"

namespace kvs::server {

using StreamClock = std::chrono::steady_clock;

// Output a stream may hold unsent before the loop stops pulling from its source.
inline constexpr std::size_t kMaxPendingBytes = 256 * 1024;
// Timer entries are rounded up to this grid, so that close deadlines share one wake-up.
inline constexpr std::chrono::milliseconds kTimerGranularity{100};

// What the loop asks of one stream. Every call is on the loop thread.
class StreamSource {
 public:
  enum class Pull {
    kMore,  // stopped at its batch bound: call again when the output has room
    kIdle,  // nothing more is ready: call again after the readiness function was called
    kEnd,   // the stream is over: end it cleanly after what was appended
    kCut,   // drop the connection without the final chunk (the source failed)
  };
  virtual ~StreamSource() = default;
  // Called once, before the first pull, with the function that marks this stream ready: safe
  // from any thread, quick, and harmless after the stream has ended.
  virtual void attach(std::function<void()> ready) = 0;
  // Appends the next payload to `out` (framed by the loop as one chunk when not empty).
  virtual Pull pull(std::string& out, StreamClock::time_point now) = 0;
  // The source's timer came (at the time it last asked for). May append to `out` (a heartbeat);
  // sets `next` to when it wants to be called again. False: end the stream cleanly.
  virtual bool on_timer(std::string& out, StreamClock::time_point now, StreamClock::time_point& next) = 0;
  // When the first on_timer is due (asked once, on adoption).
  virtual StreamClock::time_point first_timer(StreamClock::time_point now) = 0;
};

// A min-heap of (due, id) entries, with due times rounded up to kTimerGranularity. An entry is
// a reminder to look, not a promise: its owner checks on pop whether it still wants it, so
// rescheduling never searches the heap. Not thread-safe (the loop's own).
class DeadlineQueue {
 public:
  void push(StreamClock::time_point due, std::uint64_t id);
  // The earliest due time, if any.
  std::optional<StreamClock::time_point> next() const;
  // Removes the entries due at or before `now` and appends their ids to `out`, earliest first.
  void pop_due(StreamClock::time_point now, std::vector<std::uint64_t>& out);
  std::size_t size() const noexcept { return heap_.size(); }
  // `due` rounded up to the grid.
  static StreamClock::time_point round_up(StreamClock::time_point due);

 private:
  using Entry = std::pair<StreamClock::time_point, std::uint64_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

// One taken-over connection as the loop speaks to it: plain TCP, or TLS over an established
// session; no call blocks. Owns the descriptor and the session. Used by one thread at a time.
// Requires: SIGPIPE ignored (kvs-server's main does so), since OpenSSL writes with write(2).
class StreamConnection {
 public:
  enum class Write {
    kWrote,         // `wrote` bytes (> 0) went
    kWantWritable,  // nothing went: retry when the socket is writable
    kWantReadable,  // nothing went: retry when the socket is readable (TLS)
    kFailed,        // the client is gone or the session failed
  };
  enum class Input {
    kOpen,          // read what was there and dropped it
    kWantWritable,  // a TLS read must send a record first: read again when writable
    kGone,          // the client closed (end of stream, close_notify) or the connection failed
  };

  // Takes `fd` (a connected socket; made non-blocking here) and `tls` (null: plain TCP).
  explicit StreamConnection(int fd, TlsSession tls = nullptr);
  ~StreamConnection();  // close(false)
  StreamConnection(StreamConnection&& other) noexcept;
  StreamConnection& operator=(StreamConnection&&) = delete;
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // Writes from `data` (size > 0).
  Write write(const char* data, std::size_t size, std::size_t& wrote);
  // Reads and drops what the client sent, up to a bound per call.
  Input discard_input();
  // Closes the connection. `clean`: the answer ended as it should, so a TLS session sends its
  // close_notify first (once, if the socket takes it now; the client's is not awaited). Bytes
  // the client sent are read and dropped first (a bounded amount), so that the close is a FIN
  // after the last output rather than a reset that could overtake it. Idempotent.
  void close(bool clean);

  int fd() const noexcept { return fd_; }
  bool is_tls() const noexcept { return tls_ != nullptr; }

 private:
  int fd_;
  TlsSession tls_;
};

// The bytes a stream has framed but the socket has not yet taken, as HTTP/1.1 chunks.
class ChunkedOutput {
 public:
  // kBlocked: waits for the socket to be writable; kBlockedOnRead: for it to be readable (TLS).
  enum class Flush { kDrained, kBlocked, kBlockedOnRead, kFailed };
  // `payload` as one chunk: its size in lower-case hex, CRLF, the bytes, CRLF. Nothing for an
  // empty payload (a zero-length chunk would end the body).
  void append_chunk(std::string_view payload);
  // The raw bytes (the response head).
  void append_raw(std::string_view bytes);
  // The terminating zero-length chunk, with no trailers.
  void append_end();
  // Whether the loop may pull more: pending bytes under kMaxPendingBytes.
  bool has_room() const noexcept { return pending() < kMaxPendingBytes; }
  std::size_t pending() const noexcept { return data_.size() - sent_; }
  // Writes what `connection` takes: kDrained when nothing is left, kBlocked(OnRead) when it
  // takes no more for now, kFailed on an error (a reset client). `progressed`: a byte went.
  // While blocked, the unsent bytes stay at the front and are only appended to, so the retry a
  // TLS session requires is what the next flush writes.
  Flush flush(StreamConnection& connection, bool& progressed);

 private:
  std::string data_;
  std::size_t sent_ = 0;  // data_[0, sent_) is written
};

class StreamLoop {
 public:
  // `write_timeout`: how long a stream may have output pending without a byte going out.
  explicit StreamLoop(std::chrono::milliseconds write_timeout);
  ~StreamLoop();  // stop()
  StreamLoop(const StreamLoop&) = delete;
  StreamLoop& operator=(const StreamLoop&) = delete;

  // Creates the epoll set and the eventfd and starts the thread. kIOError when the kernel
  // refuses either.
  Status start();
  // Ends every open stream cleanly (its final chunk, if the socket takes it at once), runs
  // their on_closed, and joins the thread; later adoptions are closed at once. Idempotent.
  void stop();

  // Takes over `connection`, whose answer begins with `head` (written first), served from
  // `source`. `on_closed` runs once, on the loop thread, after the socket is closed. Returns at
  // once. False when the loop is not running: then the connection is closed and on_closed has
  // run, on this thread.
  bool adopt(StreamConnection connection, std::string head, std::unique_ptr<StreamSource> source,
             std::function<void()> on_closed);

  // Open streams (adopted and not yet closed), for tests and metrics.
  std::size_t open_streams() const;

 private:
  struct Stream;
  struct Adoption {
    StreamConnection connection;
    std::string head;
    std::unique_ptr<StreamSource> source;
    std::function<void()> on_closed;
  };

  void run();
  // Marks stream `id` ready (the readiness function given to its source).
  void post_ready(std::uint64_t id);
  // The loop thread's parts.
  void admit(Adoption adoption, StreamClock::time_point now);
  void on_socket(std::uint64_t id, std::uint32_t events);
  void on_timer(std::uint64_t id, StreamClock::time_point now);
  // Pulls while the stream is ready and its output has room, then writes; again while the
  // socket takes everything, for a few rounds. May close the stream.
  void pump(Stream& stream, StreamClock::time_point now);
  // Writes what the socket takes, and asks for EPOLLOUT (with a write deadline) when it does
  // not take all. False when the stream was closed (its end written, or a failed write).
  bool flush(Stream& stream, StreamClock::time_point now);
  // Reads and drops what the client sent; false when it is gone (the stream is then closed).
  bool read_input(Stream& stream);
  // `clean`: the stream ended with its final chunk (see StreamConnection::close).
  void close_stream(std::uint64_t id, bool clean = false);
  // Asks for EPOLLOUT while the output or a TLS read waits for the socket to be writable.
  void update_interest(Stream& stream);

  const std::chrono::milliseconds write_timeout_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::thread thread_;

  // What other threads post to the loop. Guarded by mutex_.
  mutable std::mutex mutex_;
  std::vector<Adoption> adoptions_;
  std::vector<std::uint64_t> ready_;
  bool wake_pending_ = false;  // the eventfd was written and the loop has not yet taken the posts
  bool running_ = false;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;  // 0 is the eventfd's tag
  std::size_t open_ = 0;

  // The loop thread's own.
  std::unordered_map<std::uint64_t, std::unique_ptr<Stream>> streams_;
  DeadlineQueue timers_;
};

}  // namespace kvs::server
