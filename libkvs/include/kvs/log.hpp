#pragma once

// Structured logging. Every kvs log event has a level, a wall-clock time, an event name (the
// message: "server.listening") and key=value fields. By default each event is one line on
// stderr, in one of two formats (set_log_format; the config key log_format):
//   text  2026-11-26T23:40:01.123Z INFO  server.listening address=127.0.0.1:8080
//   json  {"ts":"2026-11-26T23:40:01.123Z","level":"info","msg":"server.listening","address":"127.0.0.1:8080"}
// An embedding application may route events into its own logger instead (set_log_sink): then
// kvs writes nothing to stderr. The level, the format and the sink are process-wide; messages
// below the level cost one atomic load. Every function is safe from any thread.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "kvs/export.hpp"
#include "kvs/status.hpp"

namespace kvs {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };
enum class LogFormat : int { kText = 0, kJson };

using LogField = std::pair<std::string_view, std::string>;

KVS_EXPORT void set_log_level(LogLevel level) noexcept;
KVS_EXPORT LogLevel log_level() noexcept;
// "trace", "debug", "info", "warn", "error", "off"; kInvalidArgument otherwise.
KVS_EXPORT Result<LogLevel> parse_log_level(std::string_view name);
// "trace", "debug", "info", "warn", "error" (for kOff: "off").
KVS_EXPORT std::string_view log_level_name(LogLevel level) noexcept;
KVS_EXPORT bool log_enabled(LogLevel level) noexcept;

// The format of the lines written to stderr (a sink receives events, not lines).
KVS_EXPORT void set_log_format(LogFormat format) noexcept;
// "text" or "json"; kInvalidArgument otherwise.
KVS_EXPORT Result<LogFormat> parse_log_format(std::string_view name);

// One log event, as a sink receives it. The views and the span are valid only during the
// sink's call: copy what you keep.
struct LogEvent {
  LogLevel level = LogLevel::kInfo;
  std::int64_t time_ms = 0;            // wall clock, ms since the Unix epoch
  std::string_view message;            // the event name: "node.opened", "server.listening"
  std::span<const LogField> fields;    // in the order kvs gave them; values are raw bytes
};

using LogSink = std::function<void(const LogEvent&)>;

// Sends every event at or above the log level to `sink` instead of stderr; an empty sink
// restores stderr. The sink may be called from any kvs thread, several at once, so it must be
// thread-safe; it must not throw (an exception is dropped) and must not call set_log_sink.
// Replacing a sink does not wait for calls in flight: they finish with the old sink (kvs keeps
// that std::function alive until they return), so whatever it refers to must outlive them.
KVS_EXPORT void set_log_sink(LogSink sink);

KVS_EXPORT void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace kvs
