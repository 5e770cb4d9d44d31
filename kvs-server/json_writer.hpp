#pragma once

// JsonWriter: builds a JSON text with correctly escaped strings. Documents stored in kvs are
// already validated JSON, so `raw` embeds them as they are, byte for byte.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvs::server {

// Appends `text` as a JSON string literal, quotes included. '"', '\\' and control characters
// (U+0000..U+001F, U+007F) are escaped; valid UTF-8 is copied; each byte that is not part of a
// valid UTF-8 sequence (stray, truncated, overlong, surrogate, above U+10FFFF) becomes U+FFFD,
// so the result is valid JSON whatever bytes `text` holds.
void append_json_string(std::string& out, std::string_view text);

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // Member name inside an object; the value follows.
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& number(std::int64_t value);
  JsonWriter& number(std::uint64_t value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // A JSON text that is known to be valid.
  JsonWriter& raw(std::string_view json);

  // Room for `bytes` of text, so that a large answer is not copied as it grows.
  void reserve(std::size_t bytes) { out_.reserve(bytes); }

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  // Begins or ends an object or array.
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace kvs::server
