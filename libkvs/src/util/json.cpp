#include <simdjson.h>

#include <string>
#include <string_view>

#include "kvs/node.hpp"

namespace kvs {

Status validate_json(std::string_view json) {
  // One parser per thread: simdjson parsers keep their buffers between documents, and a
  // parser must not be shared between threads.
  thread_local simdjson::dom::parser parser;
  if (json.empty()) return Status::invalid_argument("the body is empty; expected a JSON document");
  auto result = parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true);
  if (result.error() != simdjson::SUCCESS) {
    return Status::invalid_argument(std::string("invalid JSON: ") + simdjson::error_message(result.error()));
  }
  return Status::ok();
}

}  // namespace kvs
