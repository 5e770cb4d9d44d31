#include "kvs/log.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "util/json_writer.hpp"

namespace kvs {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::mutex g_write_mutex;  // keeps lines whole when threads log at once

// The sink, when one is set. Readers copy the pointer under `g_sink_mutex` and call the sink
// outside it, so a slow sink blocks no other thread's logging and a sink may run while it is
// being replaced; the copy keeps the old sink alive until its call returns.
std::mutex g_sink_mutex;
std::shared_ptr<const LogSink> g_sink;  // guarded by g_sink_mutex
std::atomic<bool> g_has_sink{false};    // lets the common case (no sink) skip the mutex

constexpr std::string_view kNames[] = {"TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};
constexpr std::string_view kLowerNames[] = {"trace", "debug", "info", "warn", "error", "off"};

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }

// Quotes a value when it holds spaces, quotes, '=' or control bytes, so that a line stays
// parseable; control bytes are escaped (\n, \r, \t, else \xNN), so that a client-supplied
// value can neither break a line in two nor send terminal escape sequences to a console.
void append_value(std::string& out, std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" \"=") != std::string_view::npos ||
               std::any_of(value.begin(), value.end(), is_control);
  if (!quote) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (is_control(c)) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out.append(escape);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// "2026-11-26T23:40:01.123Z"
std::string utc_stamp(std::int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return stamp;
}

std::string text_line(const LogEvent& event) {
  std::string line;
  line.reserve(128);
  line.append(utc_stamp(event.time_ms)).push_back(' ');
  line.append(kNames[static_cast<int>(event.level)]).push_back(' ');
  line.append(event.message);
  for (const auto& [key, value] : event.fields) {
    line.push_back(' ');
    line.append(key).push_back('=');
    append_value(line, value);
  }
  line.push_back('\n');
  return line;
}

// One JSON object: ts, level, msg, then the fields in order. Every string goes through the one
// JSON string writer, so control bytes are escaped and invalid UTF-8 becomes U+FFFD. A field
// named like one of the first three is written with a leading '_' rather than twice.
std::string json_line(const LogEvent& event) {
  std::string line;
  line.reserve(160);
  line.append("{\"ts\":");
  util::append_json_string(line, utc_stamp(event.time_ms));
  line.append(",\"level\":");
  util::append_json_string(line, log_level_name(event.level));
  line.append(",\"msg\":");
  util::append_json_string(line, event.message);
  for (const auto& [key, value] : event.fields) {
    line.push_back(',');
    if (key == "ts" || key == "level" || key == "msg") {
      util::append_json_string(line, "_" + std::string(key));
    } else {
      util::append_json_string(line, key);
    }
    line.push_back(':');
    util::append_json_string(line, value);
  }
  line.append("}\n");
  return line;
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel log_level() noexcept { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

std::string_view log_level_name(LogLevel level) noexcept {
  auto index = static_cast<std::size_t>(level);
  return index < std::size(kLowerNames) ? kLowerNames[index] : "unknown";
}

bool log_enabled(LogLevel level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed) && level != LogLevel::kOff;
}

Result<LogLevel> parse_log_level(std::string_view name) {
  if (name == "trace") return LogLevel::kTrace;
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  if (name == "off") return LogLevel::kOff;
  return Status::invalid_argument("log level '" + std::string(name) +
                                  "': expected trace, debug, info, warn, error or off");
}

void set_log_format(LogFormat format) noexcept {
  g_format.store(static_cast<int>(format), std::memory_order_relaxed);
}

Result<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Status::invalid_argument("log format '" + std::string(name) + "': expected text or json");
}

void set_log_sink(LogSink sink) {
  std::shared_ptr<const LogSink> next;
  if (sink) next = std::make_shared<const LogSink>(std::move(sink));
  std::shared_ptr<const LogSink> previous;  // released outside the lock
  std::lock_guard lock(g_sink_mutex);
  previous = std::exchange(g_sink, next);
  g_has_sink.store(next != nullptr, std::memory_order_release);
}

void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  LogEvent record;
  record.level = level;
  record.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  record.message = event;
  record.fields = std::span<const LogField>(fields.begin(), fields.size());

  if (g_has_sink.load(std::memory_order_acquire)) {
    std::shared_ptr<const LogSink> sink;
    {
      std::lock_guard lock(g_sink_mutex);
      sink = g_sink;
    }
    if (sink) {
      try {
        (*sink)(record);
      } catch (...) {
        // A logger must not take its caller down: the event is lost, nothing else.
      }
      return;
    }
  }

  std::string line = static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)) == LogFormat::kJson
                         ? json_line(record)
                         : text_line(record);
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace kvs
