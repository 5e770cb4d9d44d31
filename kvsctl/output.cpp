#include "output.hpp"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <utility>

#include <simdjson.h>

namespace kvsctl {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Display width in code points (UTF-8 continuation bytes do not count), so that columns holding
// non-ASCII keys still line up in a terminal.
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A string as shown in a cell: control characters (a tab or newline would break the columns)
// become "\xNN".
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

// Fields that hold milliseconds since the epoch (SPEC: every timestamp in the interface).
bool is_time_field(std::string_view name) {
  return name == "timestamp" || name == "last_seen" || name.ends_with("_timestamp") || name.ends_with("_at");
}

// A JSON value as one cell: strings bare, times in UTC, null as "-", an array of scalars
// comma-separated, anything else as compact JSON.
std::string cell(std::string_view field, element value) {
  switch (value.type()) {
    case element_type::STRING: return printable(value.get_string().value_unsafe());
    case element_type::NULL_VALUE: return "-";
    case element_type::BOOL: return value.get_bool().value_unsafe() ? "true" : "false";
    case element_type::INT64:
      if (is_time_field(field)) return format_time_ms(value.get_int64().value_unsafe());
      return std::to_string(value.get_int64().value_unsafe());
    case element_type::UINT64: return std::to_string(value.get_uint64().value_unsafe());
    case element_type::ARRAY: {
      std::string joined;
      simdjson::dom::array array = value.get_array().value_unsafe();
      for (element item : array) {
        if (item.is_array() || item.is_object()) return printable(simdjson::minify(value));
        if (!joined.empty()) joined += ',';
        joined += cell("", item);
      }
      return joined;
    }
    default: return printable(simdjson::minify(value));
  }
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// An array of objects as a table: the columns are the members in order of first appearance.
// Anything that is not an object is one row in a column "VALUE".
Table table_of(simdjson::dom::array array) {
  std::vector<std::string> columns;
  for (element item : array) {
    simdjson::dom::object object;
    if (item.get_object().get(object) != simdjson::SUCCESS) {
      if (std::find(columns.begin(), columns.end(), "value") == columns.end()) columns.emplace_back("value");
      continue;
    }
    for (auto field : object) {
      if (std::find(columns.begin(), columns.end(), field.key) == columns.end()) columns.emplace_back(field.key);
    }
  }
  Table table;
  for (const auto& column : columns) table.header.push_back(upper(column));
  for (element item : array) {
    std::vector<std::string> row;
    simdjson::dom::object object;
    bool is_object = item.get_object().get(object) == simdjson::SUCCESS;
    for (const auto& column : columns) {
      element value;
      if (is_object && object.at_key(column).get(value) == simdjson::SUCCESS) {
        row.push_back(cell(column, value));
      } else if (!is_object && column == "value") {
        row.push_back(cell("", item));
      } else {
        row.emplace_back("");
      }
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

// A single object as "key: value" lines, the values aligned.
std::string key_values(simdjson::dom::object object, const std::vector<std::string_view>& skip = {}) {
  std::size_t width = 0;
  for (auto field : object) {
    if (std::find(skip.begin(), skip.end(), field.key) == skip.end()) width = std::max(width, display_width(field.key));
  }
  std::string out;
  for (auto field : object) {
    if (std::find(skip.begin(), skip.end(), field.key) != skip.end()) continue;
    out += field.key;
    out += ':';
    out.append(width - display_width(field.key) + 1, ' ');
    out += cell(field.key, field.value);
    out += '\n';
  }
  return out;
}

// The `ls` table: sub-prefixes and keys together in key order, a prefix marked by its
// trailing '/'.
std::string ls_table(simdjson::dom::object page) {
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
  simdjson::dom::array prefixes;
  if (page["prefixes"].get_array().get(prefixes) == simdjson::SUCCESS) {
    for (element prefix : prefixes) {
      std::string path = cell("", prefix);
      entries.push_back({path, {path, "-", "-"}});
    }
  }
  simdjson::dom::array items;
  if (page["items"].get_array().get(items) == simdjson::SUCCESS) {
    for (element item : items) {
      element path, uuid, timestamp;
      std::vector<std::string> row;
      row.push_back(item["path"].get(path) == simdjson::SUCCESS ? cell("path", path) : "");
      row.push_back(item["uuid"].get(uuid) == simdjson::SUCCESS ? cell("uuid", uuid) : "");
      row.push_back(item["timestamp"].get(timestamp) == simdjson::SUCCESS ? cell("timestamp", timestamp) : "");
      entries.emplace_back(row.front(), std::move(row));
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Table table{{"PATH", "UUID", "TIMESTAMP"}, {}};
  for (auto& entry : entries) table.rows.push_back(std::move(entry.second));
  return render_table(table);
}

// The list member that a command's table shows, for answers that are objects.
std::string_view rows_member(const Invocation& invocation) {
  if (invocation.command == "range") return "items";
  if (invocation.command == "history") return "revisions";
  if (invocation.command == "audit" && invocation.action == "list") return "entries";
  return {};
}

std::string table_output(const Invocation& invocation, element root) {
  simdjson::dom::array array;
  if (root.get_array().get(array) == simdjson::SUCCESS) return render_table(table_of(array));
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return cell("", root) + "\n";
  if (invocation.command == "ls") return ls_table(object);
  std::string_view member = rows_member(invocation);
  simdjson::dom::array rows;
  if (!member.empty() && object[member].get_array().get(rows) == simdjson::SUCCESS) {
    // The table, then the object's other members (next_start_key, path, ...) as key: value.
    std::string out = render_table(table_of(rows));
    std::string rest = key_values(object, {member});
    if (!out.empty() && !rest.empty()) out += '\n';
    return out + rest;
  }
  return key_values(object);
}

}  // namespace

std::string render_table(const Table& table) {
  if (table.header.empty() && table.rows.empty()) return {};  // an empty list of objects
  std::vector<std::size_t> widths(table.header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - display_width(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(table.header);
  for (const auto& row : table.rows) emit(row);
  return out;
}

std::string format_time_ms(long long ms) {
  long long seconds = ms / 1000;
  long long millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  std::time_t time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  if (gmtime_r(&time, &utc) == nullptr) return std::to_string(ms);
  char text[96];  // room for any int the format could print
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

std::string render_output(const Invocation& invocation, std::string_view body) {
  if (body.empty()) return {};  // a 204: nothing to print in either format
  if (invocation.global.output == OutputFormat::kJson) {
    std::string out(body);
    if (out.back() != '\n') out += '\n';
    return out;
  }
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    std::string out(body);
    if (out.back() != '\n') out += '\n';
    return out;
  }
  return table_output(invocation, root);
}

std::string refusal_message(long status, std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::string_view code, error;
  if (parser.parse(body.data(), body.size()).get_object().get(object) == simdjson::SUCCESS &&
      object["code"].get_string().get(code) == simdjson::SUCCESS &&
      object["error"].get_string().get(error) == simdjson::SUCCESS) {
    return "kvsctl: " + printable(code) + " (HTTP " + std::to_string(status) + "): " + printable(error);
  }
  std::string_view shown = body.substr(0, 200);
  while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.remove_suffix(1);
  std::string message = "kvsctl: the server answered HTTP " + std::to_string(status);
  if (!shown.empty()) message += ": " + printable(shown);
  return message;
}

std::optional<std::string> merge_listing_pages(const std::vector<std::string>& pages) {
  if (pages.empty()) return std::nullopt;
  if (pages.size() == 1) return pages.front();
  // Every page is parsed and kept: the first for its members, each for its arrays.
  std::vector<simdjson::dom::parser> parsers(pages.size());
  std::vector<simdjson::dom::object> objects;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    simdjson::dom::object object;
    if (parsers[i].parse(pages[i].data(), pages[i].size()).get_object().get(object) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    objects.push_back(object);
  }
  auto concatenated = [&](std::string_view member) {
    std::string out = "[";
    for (auto& object : objects) {
      simdjson::dom::array array;
      if (object[member].get_array().get(array) != simdjson::SUCCESS) continue;
      for (element item : array) {
        if (out.size() > 1) out += ',';
        out += simdjson::minify(item);
      }
    }
    return out + "]";
  };
  std::string out = "{";
  for (auto field : objects.front()) {
    if (out.size() > 1) out += ',';
    // The member name as JSON (names in a page are plain, but quote them properly all the same).
    std::string name = "\"";
    for (char c : field.key) {
      if (c == '"' || c == '\\') name += '\\';
      name += c;
    }
    out += name + "\":";
    if (field.key == "items" || field.key == "prefixes") {
      out += concatenated(field.key);
    } else if (field.key == "next_start_key") {
      out += "null";
    } else {
      out += simdjson::minify(field.value);
    }
  }
  return out + "}";
}

std::optional<std::string> next_start_key(std::string_view page) {
  simdjson::dom::parser parser;
  std::string_view key;
  if (parser.parse(page.data(), page.size())["next_start_key"].get_string().get(key) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(key);
}

std::optional<std::string> render_watch_line(OutputFormat format, std::string_view line) {
  if (format == OutputFormat::kJson) return std::string(line);
  simdjson::dom::parser parser;
  simdjson::dom::object event;
  if (parser.parse(line.data(), line.size()).get_object().get(event) != simdjson::SUCCESS) return std::string(line);
  std::string_view type, path, cursor;
  if (event["type"].get_string().get(type) != simdjson::SUCCESS) return std::string(line);
  if (type == "heartbeat") return std::nullopt;
  if (event["path"].get_string().get(path) != simdjson::SUCCESS) path = {};
  if (event["cursor"].get_string().get(cursor) != simdjson::SUCCESS) cursor = {};
  std::string out = printable(type);
  if (out.size() < 7) out.resize(7, ' ');
  out += "  ";
  out += printable(path.empty() ? std::string_view("-") : path);
  out += "  ";
  out += printable(cursor);
  return out;
}

std::vector<std::string> LineSplitter::feed(std::string_view chunk) {
  std::vector<std::string> lines;
  pending_.append(chunk);
  std::size_t start = 0;
  for (std::size_t newline; (newline = pending_.find('\n', start)) != std::string::npos; start = newline + 1) {
    std::string line = pending_.substr(start, newline - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  pending_.erase(0, start);
  return lines;
}

std::optional<std::string> LineSplitter::finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  if (!rest.empty() && rest.back() == '\r') rest.pop_back();
  if (rest.empty()) return std::nullopt;
  return rest;
}

}  // namespace kvsctl
