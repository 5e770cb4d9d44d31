// kvs's logging (libkvs/src/util/log.cpp): the json line format and the embedder's log sink.
// Each test captures stderr (fd 2) into a file for its duration, and puts the process-wide
// level, format and sink back as it found them. Not covered: the text format's quoting (the
// integration tests read real server logs).

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "kvs/log.hpp"
#include "support/temp_dir.hpp"

namespace kvs::test {

// Sends fd 2 into a file while it lives; text() is what was written meanwhile. Restores the
// level, the format and the sink on destruction.
class CapturedStderr {
 public:
  CapturedStderr() : level_(log_level()) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::dup2(fd, 2) == 2);
    ::close(fd);
  }
  ~CapturedStderr() {
    restore();
    set_log_level(level_);
    set_log_format(LogFormat::kText);
    set_log_sink(nullptr);
  }
  std::string text() {
    restore();
    std::ifstream in(file_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  TempDir dir_{"kvs-log-test"};
  std::string file_ = (dir_ / "stderr").string();
  int saved_ = -1;
  LogLevel level_;
};

namespace {

// The string member `name` of a parsed log line; "<not a string>" when absent or of another type.
std::string string_member(simdjson::dom::element line, const char* name) {
  std::string_view value;
  if (line[name].get_string().get(value) != simdjson::SUCCESS) return "<not a string>";
  return std::string(value);
}

}  // namespace

TEST_CASE("log_format json writes one parseable object per event, with ts, level, msg and the fields", "[util][log]") {
  CapturedStderr captured;
  set_log_level(LogLevel::kInfo);
  set_log_format(LogFormat::kJson);
  log(LogLevel::kInfo, "server.listening", {{"address", "127.0.0.1:8080"}, {"node_id", "n1"}});
  // A hostile value: quotes, a line break, an escape byte, invalid UTF-8; and a field named
  // like a fixed member.
  log(LogLevel::kWarn, "auth.rejected", {{"user", "a\"b\nc\x1b[31m\xff"}, {"msg", "shadow"}});
  log(LogLevel::kDebug, "below.the.level", {});
  std::string text = captured.text();

  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 2);

  simdjson::dom::parser parser;
  simdjson::dom::element first;
  REQUIRE(parser.parse(lines[0]).get(first) == simdjson::SUCCESS);
  const std::string ts = string_member(first, "ts");
  CHECK(ts.size() == 24);  // 2026-11-26T23:40:01.123Z
  CHECK(ts.back() == 'Z');
  CHECK(string_member(first, "level") == "info");
  CHECK(string_member(first, "msg") == "server.listening");
  CHECK(string_member(first, "address") == "127.0.0.1:8080");
  CHECK(string_member(first, "node_id") == "n1");

  simdjson::dom::element second;
  REQUIRE(parser.parse(lines[1]).get(second) == simdjson::SUCCESS);
  CHECK(string_member(second, "level") == "warn");
  CHECK(string_member(second, "msg") == "auth.rejected");
  CHECK(string_member(second, "_msg") == "shadow");
  CHECK(string_member(second, "user") == "a\"b\nc\x1b[31m\xEF\xBF\xBD");  // invalid UTF-8 became U+FFFD
  CHECK(lines[1].find('\x1b') == std::string::npos);  // no raw escape byte reaches a console
}

TEST_CASE("a log sink receives kvs's events instead of stderr, above the level only", "[util][log]") {
  CapturedStderr captured;
  set_log_level(LogLevel::kInfo);
  struct Seen {
    LogLevel level;
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;
    std::int64_t time_ms;
  };
  std::mutex mutex;
  std::vector<Seen> seen;
  set_log_sink([&](const LogEvent& event) {
    Seen copy{event.level, std::string(event.message), {}, event.time_ms};
    for (const auto& [key, value] : event.fields) copy.fields.emplace_back(std::string(key), value);
    std::lock_guard lock(mutex);
    seen.push_back(std::move(copy));
  });
  log(LogLevel::kWarn, "peer.unreachable", {{"peer", "10.0.0.2:8080"}, {"error", "refused"}});
  log(LogLevel::kDebug, "below.the.level", {});
  // A sink that throws loses its event and nothing else.
  set_log_sink([](const LogEvent&) { throw std::runtime_error("sink failed"); });
  log(LogLevel::kError, "thrown.away", {});
  set_log_sink(nullptr);  // back to stderr
  log(LogLevel::kInfo, "after.the.sink", {});

  std::string text = captured.text();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].level == LogLevel::kWarn);
  CHECK(seen[0].message == "peer.unreachable");
  CHECK(seen[0].fields == std::vector<std::pair<std::string, std::string>>{{"peer", "10.0.0.2:8080"},
                                                                          {"error", "refused"}});
  CHECK(seen[0].time_ms > 1'600'000'000'000);  // wall clock, in ms
  CHECK(text.find("peer.unreachable") == std::string::npos);
  CHECK(text.find("thrown.away") == std::string::npos);
  CHECK(text.find("after.the.sink") != std::string::npos);
}

TEST_CASE("log_format and log level names parse; anything else is refused", "[util][log]") {
  CHECK(*parse_log_format("text") == LogFormat::kText);
  CHECK(*parse_log_format("json") == LogFormat::kJson);
  CHECK(parse_log_format("JSON").status().code() == Status::Code::kInvalidArgument);
  CHECK(parse_log_format("").status().code() == Status::Code::kInvalidArgument);
  CHECK(log_level_name(LogLevel::kWarn) == "warn");
  CHECK(*parse_log_level(log_level_name(LogLevel::kError)) == LogLevel::kError);
}

}  // namespace kvs::test
