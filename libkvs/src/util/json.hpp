#pragma once

// Checking client documents, below kvs::Node: kvs::validate_json (kvs/node.hpp) is this
// validate_json. Safe from any thread (each thread parses with its own parser).

#include <string_view>

#include "kvs/status.hpp"

namespace kvs::util {

// ok when `json` is exactly one complete JSON document (numbers beyond 64 bits included, which
// JSON allows); kInvalidArgument saying what is wrong otherwise.
Status validate_json(std::string_view json);

}  // namespace kvs::util
