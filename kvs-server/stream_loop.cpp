#include "stream_loop.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kvs/log.hpp"

namespace kvs::server {
namespace {

// The eventfd's tag in the epoll set; streams have ids from 1.
constexpr std::uint64_t kWakeTag = 0;
// Socket events taken per epoll_wait.
constexpr int kMaxEvents = 256;
// What the loop reads and drops at most per readable event (a client has nothing to send after
// its request; this only keeps a chatty one from costing more than a read per wake-up).
constexpr std::size_t kDiscardBytes = 4096;
// What a close reads and drops at most before it closes (see StreamConnection::close).
constexpr std::size_t kCloseDrainBytes = 64 * 1024;
// The longest epoll_wait sleeps with no timer due (a bound, not a tick: nothing is polled).
constexpr int kMaxSleepMs = 60'000;
// Pull-and-write rounds one stream gets per turn (each up to kMaxPendingBytes) before the
// others get theirs.
constexpr int kPumpRounds = 4;

}  // namespace

// ---- DeadlineQueue ------------------------------------------------------------------------------

StreamClock::time_point DeadlineQueue::round_up(StreamClock::time_point due) {
  const auto grid = std::chrono::duration_cast<StreamClock::duration>(kTimerGranularity);
  const auto since_epoch = due.time_since_epoch();
  const auto rounded = ((since_epoch + grid - StreamClock::duration(1)) / grid) * grid;
  return StreamClock::time_point(rounded);
}

void DeadlineQueue::push(StreamClock::time_point due, std::uint64_t id) { heap_.emplace(round_up(due), id); }

std::optional<StreamClock::time_point> DeadlineQueue::next() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.top().first;
}

void DeadlineQueue::pop_due(StreamClock::time_point now, std::vector<std::uint64_t>& out) {
  while (!heap_.empty() && heap_.top().first <= now) {
    out.push_back(heap_.top().second);
    heap_.pop();
  }
}

// ---- StreamConnection ---------------------------------------------------------------------------

StreamConnection::StreamConnection(int fd, TlsSession tls) : fd_(fd), tls_(std::move(tls)) {
  int flags = ::fcntl(fd_, F_GETFL, 0);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  // See the header: the output buffer moves between a write and its retry.
  if (tls_) SSL_set_mode(tls_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

StreamConnection::StreamConnection(StreamConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), tls_(std::move(other.tls_)) {}

StreamConnection::~StreamConnection() { close(false); }

StreamConnection::Write StreamConnection::write(const char* data, std::size_t size, std::size_t& wrote) {
  wrote = 0;
  if (tls_) {
    // The thread's OpenSSL error queue must be empty for SSL_get_error to be right, and this
    // thread serves every session: each failure clears what it left.
    int put = SSL_write(tls_.get(), data, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
    if (put > 0) {
      wrote = static_cast<std::size_t>(put);
      return Write::kWrote;
    }
    switch (SSL_get_error(tls_.get(), put)) {
      case SSL_ERROR_WANT_WRITE: return Write::kWantWritable;
      case SSL_ERROR_WANT_READ: return Write::kWantReadable;
      default:
        ERR_clear_error();
        return Write::kFailed;
    }
  }
  for (;;) {
    ssize_t put = ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) {
      wrote = static_cast<std::size_t>(put);
      return Write::kWrote;
    }
    if (put < 0 && errno == EINTR) continue;
    if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Write::kWantWritable;
    return Write::kFailed;
  }
}

StreamConnection::Input StreamConnection::discard_input() {
  char discard[kDiscardBytes];
  if (tls_) {
    // Through the session, which may find records of its own in what came (a key update).
    int got = SSL_read(tls_.get(), discard, sizeof discard);
    if (got > 0) return Input::kOpen;
    switch (SSL_get_error(tls_.get(), got)) {
      case SSL_ERROR_WANT_READ: return Input::kOpen;
      case SSL_ERROR_WANT_WRITE: return Input::kWantWritable;
      default:  // SSL_ERROR_ZERO_RETURN (close_notify), an end of stream, a reset, a bad record
        ERR_clear_error();
        return Input::kGone;
    }
  }
  ssize_t got = ::recv(fd_, discard, sizeof discard, MSG_DONTWAIT);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return Input::kGone;
  return Input::kOpen;
}

void StreamConnection::close(bool clean) {
  if (fd_ < 0) return;
  if (tls_ && clean) {
    // One try: close_notify goes if the socket takes it now; the client's is not awaited.
    if (SSL_shutdown(tls_.get()) < 0) ERR_clear_error();
  }
  tls_.reset();
  char scratch[16384];
  for (std::size_t dropped = 0; dropped < kCloseDrainBytes;) {
    ssize_t got = ::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT);
    if (got <= 0) break;
    dropped += static_cast<std::size_t>(got);
  }
  ::close(std::exchange(fd_, -1));
}

// ---- ChunkedOutput ------------------------------------------------------------------------------

void ChunkedOutput::append_chunk(std::string_view payload) {
  if (payload.empty()) return;
  // The chunk framing httplib writes for a chunked content provider: lower-case hex size.
  char size[20];
  int length = std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
  data_.append(size, static_cast<std::size_t>(length)).append(payload).append("\r\n");
}

void ChunkedOutput::append_raw(std::string_view bytes) { data_.append(bytes); }

void ChunkedOutput::append_end() { data_.append("0\r\n\r\n"); }

ChunkedOutput::Flush ChunkedOutput::flush(StreamConnection& connection, bool& progressed) {
  progressed = false;
  while (sent_ < data_.size()) {
    std::size_t wrote = 0;
    const auto step = connection.write(data_.data() + sent_, data_.size() - sent_, wrote);
    if (step == StreamConnection::Write::kWrote) {
      sent_ += wrote;
      progressed = true;
      continue;
    }
    if (step == StreamConnection::Write::kFailed) return Flush::kFailed;
    // Keep the unsent tail only: what went out is not held while the client is slow. The tail
    // moves to the front, which a TLS retry allows (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
    if (sent_ > 0) {
      data_.erase(0, sent_);
      sent_ = 0;
    }
    return step == StreamConnection::Write::kWantReadable ? Flush::kBlockedOnRead : Flush::kBlocked;
  }
  data_.clear();
  sent_ = 0;
  return Flush::kDrained;
}

// ---- StreamLoop ---------------------------------------------------------------------------------

struct StreamLoop::Stream {
  explicit Stream(StreamConnection taken) : connection(std::move(taken)) {}
  std::uint64_t id = 0;
  StreamConnection connection;
  std::unique_ptr<StreamSource> source;
  std::function<void()> on_closed;
  ChunkedOutput output;
  bool ready = true;         // the source may have payload: pull when the output has room
  bool ending = false;       // the final chunk is queued: close once it is written
  bool want_write = false;   // EPOLLOUT is in the stream's epoll entry
  bool write_waits = false;  // the output waits for the socket to be writable
  bool read_waits = false;   // a TLS read waits for the socket to be writable
  StreamClock::time_point source_timer;     // when the source's on_timer is due
  StreamClock::time_point last_progress;    // the last time a byte went out, or output was empty
  // When the write deadline was last put in the timer queue for (one reminder at a time).
  std::optional<StreamClock::time_point> write_deadline;
};

StreamLoop::StreamLoop(std::chrono::milliseconds write_timeout) : write_timeout_(write_timeout) {}

StreamLoop::~StreamLoop() {
  stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
}

Status StreamLoop::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::io_error(std::string("stream loop: epoll_create1: ") + std::strerror(errno));
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) return Status::io_error(std::string("stream loop: eventfd: ") + std::strerror(errno));
  epoll_event entry{};
  entry.events = EPOLLIN;
  entry.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &entry) != 0) {
    return Status::io_error(std::string("stream loop: epoll_ctl: ") + std::strerror(errno));
  }
  {
    std::lock_guard lock(mutex_);
    running_ = true;
  }
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void StreamLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
    if (!wake_pending_) {
      wake_pending_ = true;
      std::uint64_t one = 1;
      [[maybe_unused]] auto wrote = ::write(event_fd_, &one, sizeof one);
    }
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  running_ = false;
}

bool StreamLoop::adopt(StreamConnection connection, std::string head, std::unique_ptr<StreamSource> source,
                       std::function<void()> on_closed) {
  {
    std::lock_guard lock(mutex_);
    if (running_ && !stopping_) {
      ++open_;
      adoptions_.push_back(Adoption{std::move(connection), std::move(head), std::move(source), std::move(on_closed)});
      if (!wake_pending_) {
        wake_pending_ = true;
        std::uint64_t one = 1;
        [[maybe_unused]] auto wrote = ::write(event_fd_, &one, sizeof one);
      }
      return true;
    }
  }
  connection.close(false);
  source.reset();
  if (on_closed) on_closed();
  return false;
}

std::size_t StreamLoop::open_streams() const {
  std::lock_guard lock(mutex_);
  return open_;
}

void StreamLoop::post_ready(std::uint64_t id) {
  // Runs on a committing thread under its watch's lock: a push, and the eventfd write only for
  // the first post since the loop last looked.
  std::lock_guard lock(mutex_);
  ready_.push_back(id);
  if (!wake_pending_) {
    wake_pending_ = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto wrote = ::write(event_fd_, &one, sizeof one);
  }
}

void StreamLoop::run() {
  std::array<epoll_event, kMaxEvents> events{};
  std::vector<Adoption> adoptions;
  std::vector<std::uint64_t> ready;
  std::vector<std::uint64_t> due;
  for (;;) {
    int timeout_ms = kMaxSleepMs;
    if (auto next = timers_.next()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - StreamClock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, kMaxSleepMs));
    }
    int count = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, timeout_ms);
    if (count < 0 && errno != EINTR) {
      log(LogLevel::kError, "stream_loop.epoll_failed", {{"error", std::strerror(errno)}});
      count = 0;
    }
    for (int i = 0; i < count; ++i) {
      if (events[static_cast<std::size_t>(i)].data.u64 == kWakeTag) {
        std::uint64_t drained = 0;
        [[maybe_unused]] auto got = ::read(event_fd_, &drained, sizeof drained);
        continue;
      }
      on_socket(events[static_cast<std::size_t>(i)].data.u64, events[static_cast<std::size_t>(i)].events);
    }

    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      adoptions.swap(adoptions_);
      ready.swap(ready_);
      wake_pending_ = false;
      stopping = stopping_;
    }
    auto now = StreamClock::now();
    for (auto& adoption : adoptions) admit(std::move(adoption), now);
    adoptions.clear();
    // A burst of changes may post a stream many times: it is pumped once.
    for (std::uint64_t id : ready) {
      auto found = streams_.find(id);
      if (found != streams_.end()) found->second->ready = true;
    }
    for (std::uint64_t id : ready) {
      auto found = streams_.find(id);
      if (found != streams_.end() && found->second->ready && !found->second->ending) pump(*found->second, now);
    }
    ready.clear();
    due.clear();
    timers_.pop_due(now, due);
    for (std::uint64_t id : due) on_timer(id, now);

    if (stopping) {
      // SIGTERM's path: the node has closed its watches already, so most streams ended above;
      // the rest get their final chunk if the socket takes it now.
      std::vector<std::uint64_t> ids;
      ids.reserve(streams_.size());
      for (const auto& [id, stream] : streams_) ids.push_back(id);
      for (std::uint64_t id : ids) {
        Stream& stream = *streams_.at(id);
        if (!stream.ending) stream.output.append_end();
        bool progressed = false;
        const bool drained = stream.output.flush(stream.connection, progressed) == ChunkedOutput::Flush::kDrained;
        close_stream(id, drained);
      }
      return;
    }
  }
}

void StreamLoop::admit(Adoption adoption, StreamClock::time_point now) {
  auto stream = std::make_unique<Stream>(std::move(adoption.connection));
  {
    std::lock_guard lock(mutex_);
    stream->id = next_id_++;
  }
  stream->source = std::move(adoption.source);
  stream->on_closed = std::move(adoption.on_closed);
  stream->output.append_raw(adoption.head);
  stream->last_progress = now;
  Stream& added = *stream;
  streams_.emplace(added.id, std::move(stream));
  epoll_event entry{};
  entry.events = EPOLLIN | EPOLLRDHUP;
  entry.data.u64 = added.id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, added.connection.fd(), &entry) != 0) {
    log(LogLevel::kWarn, "stream_loop.add_failed", {{"error", std::strerror(errno)}});
    close_stream(added.id);
    return;
  }
  // The readiness function: posts this stream's id. It may outlive the stream (a post for a
  // stream gone is ignored), never the loop: the source that holds it is freed on this thread
  // before stop() returns.
  added.source->attach([this, id = added.id] { post_ready(id); });
  added.source_timer = added.source->first_timer(now);
  timers_.push(added.source_timer, added.id);
  // A watch may hold events at once (a replay after `since`, a resync): pull before any post.
  pump(added, now);
}

void StreamLoop::on_socket(std::uint64_t id, std::uint32_t events) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  Stream& stream = *found->second;
  if ((events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0) return close_stream(id);  // the client is gone
  // A TLS read that had to send first goes on once the socket takes bytes again.
  if ((events & EPOLLIN) != 0 || ((events & EPOLLOUT) != 0 && stream.read_waits)) {
    if (!read_input(stream)) return;
  }
  // Writes what waits, and pulls again if the room it made lets a ready source go on. A TLS
  // write may have waited for this read (kBlockedOnRead), so any pending output is retried.
  if ((events & EPOLLOUT) != 0 || stream.output.pending() > 0) pump(stream, StreamClock::now());
}

bool StreamLoop::read_input(Stream& stream) {
  switch (stream.connection.discard_input()) {
    case StreamConnection::Input::kGone:
      close_stream(stream.id);
      return false;
    case StreamConnection::Input::kWantWritable:
      stream.read_waits = true;
      break;
    case StreamConnection::Input::kOpen:
      stream.read_waits = false;
      break;
  }
  update_interest(stream);
  return true;
}

void StreamLoop::on_timer(std::uint64_t id, StreamClock::time_point now) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;  // a reminder for a stream already closed
  Stream& stream = *found->second;
  // A client that takes nothing for write_timeout is cut, as a worker's write deadline did.
  if (stream.write_deadline && now >= DeadlineQueue::round_up(*stream.write_deadline)) {
    stream.write_deadline.reset();
    if (stream.output.pending() > 0) {
      if (now - stream.last_progress >= write_timeout_) return close_stream(id);
      // Some bytes went since: the deadline moves to write_timeout after the last of them.
      stream.write_deadline = stream.last_progress + write_timeout_;
      timers_.push(*stream.write_deadline, id);
    }
  }
  if (stream.ending || now < DeadlineQueue::round_up(stream.source_timer)) return;  // not this one's due time
  std::string payload;
  StreamClock::time_point next = now;
  const bool go_on = stream.source->on_timer(payload, now, next);
  stream.output.append_chunk(payload);
  if (!go_on) {
    stream.output.append_end();
    stream.ending = true;
  } else {
    stream.source_timer = std::max(next, now + std::chrono::milliseconds(1));
    timers_.push(stream.source_timer, id);
  }
  pump(stream, now);
}

void StreamLoop::pump(Stream& stream, StreamClock::time_point now) {
  // A source with a backlog yields a batch per pull: pull while the output has room, write,
  // and go on while the socket takes it all. A ready source gets no further readiness call
  // (its watch is not drained), so stopping here with the output drained would strand it;
  // after kPumpRounds the stream posts itself instead, and the other streams get their turn.
  for (int round = 0;; ++round) {
    while (stream.ready && !stream.ending && stream.output.has_room()) {
      std::string payload;
      const StreamSource::Pull step = stream.source->pull(payload, now);
      stream.output.append_chunk(payload);
      if (step == StreamSource::Pull::kCut) return close_stream(stream.id);
      if (step == StreamSource::Pull::kIdle) stream.ready = false;
      if (step == StreamSource::Pull::kEnd) {
        stream.output.append_end();
        stream.ending = true;
      }
    }
    if (!flush(stream, now)) return;  // closed: the end was written, or the client is gone
    if (!stream.ready || stream.ending || stream.output.pending() > 0) return;  // EPOLLOUT or a post resumes it
    if (round + 1 >= kPumpRounds) return post_ready(stream.id);
  }
}

bool StreamLoop::flush(Stream& stream, StreamClock::time_point now) {
  const bool was_pending = stream.output.pending() > 0;
  bool progressed = false;
  const ChunkedOutput::Flush result = stream.output.flush(stream.connection, progressed);
  switch (result) {
    case ChunkedOutput::Flush::kFailed:
      close_stream(stream.id);
      return false;
    case ChunkedOutput::Flush::kDrained:
      stream.last_progress = now;
      if (stream.ending) {
        close_stream(stream.id, true);  // the final chunk is out: a clean end
        return false;
      }
      stream.write_waits = false;
      update_interest(stream);
      return true;
    case ChunkedOutput::Flush::kBlocked:
    case ChunkedOutput::Flush::kBlockedOnRead:
      if (progressed || !was_pending) stream.last_progress = now;
      // Waiting on a read needs no EPOLLOUT (EPOLLIN is always asked for): asking would wake
      // the loop at once, again and again, while the socket has room.
      stream.write_waits = result == ChunkedOutput::Flush::kBlocked;
      update_interest(stream);
      if (!stream.write_deadline) {
        // The write deadline: on_timer finds the output still stuck, or moves it on.
        stream.write_deadline = stream.last_progress + write_timeout_;
        timers_.push(*stream.write_deadline, stream.id);
      }
      return true;
  }
  return true;
}

void StreamLoop::update_interest(Stream& stream) {
  const bool want = stream.write_waits || stream.read_waits;
  if (stream.want_write == want) return;
  epoll_event entry{};
  entry.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
  entry.data.u64 = stream.id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, stream.connection.fd(), &entry) == 0) stream.want_write = want;
}

void StreamLoop::close_stream(std::uint64_t id, bool clean) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  std::unique_ptr<Stream> stream = std::move(found->second);
  streams_.erase(found);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, stream->connection.fd(), nullptr);
  stream->connection.close(clean);
  {
    std::lock_guard lock(mutex_);
    --open_;
  }
  // The source goes first (its watch, and with it the readiness function and the max_watches
  // slot), then the connection's own bookkeeping. Neither runs under mutex_: a committer may
  // be in the readiness function, waiting for it, while holding the watch's lock.
  stream->source.reset();
  if (stream->on_closed) stream->on_closed();
}

}  // namespace kvs::server
