#pragma once

// Structured logging: one line per event on stderr, with level, UTC time, the event name and
// key=value fields:
//   2026-11-26T23:40:01.123Z INFO  server.listening address=127.0.0.1:8080
// The level is process-wide; messages below it cost one atomic load. Safe from any thread.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "kvs/export.hpp"
#include "kvs/status.hpp"

namespace kvs {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

using LogField = std::pair<std::string_view, std::string>;

KVS_EXPORT void set_log_level(LogLevel level) noexcept;
KVS_EXPORT LogLevel log_level() noexcept;
// "trace", "debug", "info", "warn", "error", "off"; kInvalidArgument otherwise.
KVS_EXPORT Result<LogLevel> parse_log_level(std::string_view name);
KVS_EXPORT bool log_enabled(LogLevel level) noexcept;
KVS_EXPORT void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace kvs
