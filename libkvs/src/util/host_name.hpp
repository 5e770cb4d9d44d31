#pragma once

// The machine's host name, the default node_id (SPEC "node_id"). Safe from any thread.

#include <string>

namespace kvs::util {

// gethostname(2), or "kvs-node" when that fails or gives an empty name.
std::string host_name();

}  // namespace kvs::util
