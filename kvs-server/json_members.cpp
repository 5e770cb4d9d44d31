#include "json_members.hpp"

#include <cstdint>

#include <simdjson.h>

namespace kvs::server {

std::string_view trim(std::string_view text) {
  const char* kSpace = " \t\r\n";
  std::size_t start = text.find_first_not_of(kSpace);
  if (start == std::string_view::npos) return {};
  std::size_t end = text.find_last_not_of(kSpace);
  return text.substr(start, end - start + 1);
}

namespace {

Status bad(const std::string& why) { return Status::invalid_argument(why); }

// The offset just past the '}' that closes the object opening `text` (after whitespace), or
// npos. Strings are skipped with their escapes, so braces inside them do not count.
std::size_t object_end(std::string_view text) {
  std::size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || text[i] != '{') return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// Parses a scalar value's text with the DOM parser (which validates it).
Result<simdjson::dom::element> parse_scalar(const JsonMember& member, simdjson::dom::parser& parser) {
  simdjson::dom::element element;
  if (parser.parse(member.raw.data(), member.raw.size(), true).get(element) != simdjson::SUCCESS) {
    return bad("member " + member.key + " is not valid JSON");
  }
  return element;
}

}  // namespace

Result<std::vector<JsonMember>> split_object(std::string_view text) {
  simdjson::padded_string padded(text);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document document;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS || document.get_object().get(object) != simdjson::SUCCESS) {
    return bad("not a JSON object");
  }
  std::vector<JsonMember> members;
  for (auto field : object) {
    std::string_view key;
    if (field.error() != simdjson::SUCCESS || field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return bad("not a valid JSON object");
    }
    simdjson::ondemand::value value;
    simdjson::ondemand::json_type type;
    if (field.value().get(value) != simdjson::SUCCESS || value.type().get(type) != simdjson::SUCCESS) {
      return bad("member " + std::string(key) + " has no valid value");
    }
    std::string_view raw;
    simdjson::error_code error = simdjson::SUCCESS;
    if (type == simdjson::ondemand::json_type::object) {
      simdjson::ondemand::object inner;
      error = value.get_object().get(inner);
      if (!error) error = inner.raw_json().get(raw);
    } else if (type == simdjson::ondemand::json_type::array) {
      simdjson::ondemand::array inner;
      error = value.get_array().get(inner);
      if (!error) error = inner.raw_json().get(raw);
    } else {
      raw = value.raw_json_token();
    }
    if (error) return bad("member " + std::string(key) + " is not valid JSON");
    members.push_back({std::string(key), std::string(trim(raw))});
  }
  std::size_t end = object_end(text);
  if (end == std::string_view::npos || !trim(text.substr(end)).empty()) {
    return bad("unexpected text after the JSON object");
  }
  return members;
}

Result<std::string> decode_string(const JsonMember& member) {
  thread_local simdjson::dom::parser parser;
  auto element = parse_scalar(member, parser);
  if (!element.is_ok()) return element.status();
  std::string_view text;
  if (element->get_string().get(text) != simdjson::SUCCESS) return bad("member " + member.key + " must be a string");
  return std::string(text);
}

Result<std::int64_t> decode_int(const JsonMember& member) {
  thread_local simdjson::dom::parser parser;
  auto element = parse_scalar(member, parser);
  if (!element.is_ok()) return element.status();
  std::int64_t value = 0;
  if (element->get_int64().get(value) != simdjson::SUCCESS) return bad("member " + member.key + " must be an integer");
  return value;
}

Result<bool> decode_bool(const JsonMember& member) {
  thread_local simdjson::dom::parser parser;
  auto element = parse_scalar(member, parser);
  if (!element.is_ok()) return element.status();
  bool value = false;
  if (element->get_bool().get(value) != simdjson::SUCCESS) return bad("member " + member.key + " must be true or false");
  return value;
}

bool is_null(const JsonMember& member) { return member.raw == "null"; }

}  // namespace kvs::server
