#include "support/event_stream.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "support/raw_connection.hpp"

namespace kvs::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

}  // namespace

EventStream::EventStream(std::uint16_t port, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers)
    : connection_(std::make_unique<RawConnection>("127.0.0.1", port)) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  if (!connection_->send(request)) closed_ = true;
}

EventStream::~EventStream() = default;

void EventStream::close() {
  connection_.reset();
  closed_ = true;
}

bool EventStream::read_some(std::chrono::milliseconds timeout) {
  if (closed_ || !connection_) return false;
  pollfd waiting{connection_->fd(), POLLIN, 0};
  int ready = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
  if (ready < 0) return errno == EINTR;
  if (ready == 0) return true;
  char buffer[16384];
  ssize_t n = ::recv(connection_->fd(), buffer, sizeof buffer, 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<std::size_t>(n));
  decode();
  return true;
}

void EventStream::decode() {
  if (!head_done_) {
    auto end = raw_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    head_done_ = true;
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    auto space = status_line.find(' ');
    if (space != std::string::npos) status_ = std::atoi(status_line.c_str() + space + 1);
    std::size_t at = line_end == std::string::npos ? head.size() : line_end + 2;
    while (at < head.size()) {
      auto next = head.find("\r\n", at);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(at, next - at);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        headers_.emplace_back(lower(line.substr(0, colon)), value);
      }
      at = next + 2;
    }
    chunked_ = lower(header("Transfer-Encoding")).find("chunked") != std::string::npos;
    if (!chunked_) {
      std::string length = header("Content-Length");
      content_left_ = length.empty() ? 0 : std::stoul(length);
    }
  }
  if (clean_end_) return;
  if (!chunked_) {
    std::size_t take = std::min(*content_left_, raw_.size());
    body_.append(raw_, 0, take);
    raw_.erase(0, take);
    *content_left_ -= take;
    if (*content_left_ == 0) clean_end_ = true;
    return;
  }
  for (;;) {
    auto line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
    if (size == 0) {
      clean_end_ = true;
      return;
    }
    if (raw_.size() < line_end + 2 + size + 2) return;
    body_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
  }
}

int EventStream::status(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!head_done_ && Clock::now() < deadline) {
    if (!read_some(left_until(deadline))) break;
  }
  return status_;
}

std::string EventStream::header(const std::string& name) const {
  std::string wanted = lower(name);
  for (const auto& [key, value] : headers_) {
    if (key == wanted) return value;
  }
  return "";
}

std::optional<std::string> EventStream::next_line(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    for (;;) {
      auto newline = body_.find('\n', line_start_);
      if (newline == std::string::npos) break;
      std::string line = body_.substr(line_start_, newline - line_start_);
      line_start_ = newline + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) return line;
    }
    if (clean_end_ || Clock::now() >= deadline) return std::nullopt;
    if (!read_some(left_until(deadline))) return std::nullopt;
  }
}

std::vector<std::string> EventStream::lines_until(const std::string& text, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<std::string> lines;
  while (auto line = next_line(left_until(deadline))) {
    lines.push_back(*line);
    if (line->find(text) != std::string::npos) return lines;
  }
  return {};
}

bool EventStream::ends_within(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!clean_end_ && !closed_) {
    if (Clock::now() >= deadline) return false;
    read_some(left_until(deadline));
  }
  return true;
}

}  // namespace kvs::test
