#pragma once

// What kvsctl prints, as pure functions of the server's answer: the JSON as the server sent it
// (the default), or `-o table` for people: aligned columns for lists, "key: value" lines for a
// single object, times in UTC. Also the message of a refusal, the merge of `ls` pages and the
// line splitting of a streamed answer.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

namespace kvsctl {

// Rows under a header, rendered with columns aligned by two spaces and no trailing blanks.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
std::string render_table(const Table& table);

// Milliseconds since the Unix epoch as "2026-12-05T11:21:48.123Z".
std::string format_time_ms(long long ms);

// What stdout gets for a successful buffered answer `body` to `invocation`: with json, the
// body and a newline (nothing for the empty body of a 204); with table, the command's
// rendering. A body that is not JSON is printed as it is.
std::string render_output(const Invocation& invocation, std::string_view body);

// The stderr line for a refusal: "kvsctl: <code> (HTTP <status>): <error>", from the SPEC
// error body {"error","code"}; a body of another shape is quoted (shortened) instead.
std::string refusal_message(long status, std::string_view body);

// The listing that `ls` prints: the pages of GET /kv/_range?delimiter=/ merged into one object
// shaped like a page (the first page's members, with "items" and "prefixes" concatenated and
// "next_start_key" null). One page is returned as it is. nullopt when a page is not such an
// object.
std::optional<std::string> merge_listing_pages(const std::vector<std::string>& pages);

// The next_start_key of a _range page; nullopt when it is null, absent or the body not JSON.
std::optional<std::string> next_start_key(std::string_view page);

// One line of the watch stream as printed: with json the line itself; with table
// "TYPE  PATH  CURSOR" (heartbeats skipped: nullopt).
std::optional<std::string> render_watch_line(OutputFormat format, std::string_view line);

// Splits a byte stream into lines as chunks arrive. A trailing "\r" is dropped (SSE-style
// line ends) and so are empty lines.
class LineSplitter {
 public:
  // The lines `chunk` completes, in order.
  std::vector<std::string> feed(std::string_view chunk);
  // What is left after the stream ended without a final newline, if anything.
  std::optional<std::string> finish();

 private:
  std::string pending_;
};

}  // namespace kvsctl
