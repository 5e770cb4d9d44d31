#include "put_body.hpp"

#include "json_members.hpp"
#include "kvs/config.hpp"
#include "kvs/types.hpp"

namespace kvs::server {
Result<PutBody> parse_put_body(std::string_view body) {
  PutBody parsed;
  std::string_view text = trim(body);
  // Cheap test first: most bodies cannot be an envelope.
  if (text.empty() || text.front() != '{' || body.find("\"ttl\"") == std::string_view::npos ||
      body.find("\"data\"") == std::string_view::npos) {
    return parsed;
  }
  // Only a whole, valid JSON document can be an envelope: the member splitter alone may read
  // a malformed nested value's members as the outer object's. Anything else is the plain
  // form, which Node validates (and refuses).
  if (!validate_json(body).is_ok()) return parsed;
  auto members = split_object(body);
  if (!members.is_ok() || members->size() != 2) return parsed;
  const JsonMember* data = nullptr;
  const JsonMember* ttl = nullptr;
  for (const auto& member : *members) {
    if (member.key == "data") data = &member;
    if (member.key == "ttl") ttl = &member;
  }
  if (data == nullptr || ttl == nullptr) return parsed;
  parsed.envelope = true;
  auto ttl_text = decode_string(*ttl);
  if (!ttl_text.is_ok()) {
    return Status::invalid_argument("envelope member ttl must be a duration string such as \"30s\" or \"1h\"");
  }
  auto duration = parse_duration(*ttl_text);
  if (!duration.is_ok()) return duration.status().with_context("ttl");
  parsed.ttl = *duration;
  parsed.envelope_data = data->raw;  // validated by Node::put
  return parsed;
}

}  // namespace kvs::server
